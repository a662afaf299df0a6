"""Unit cost: what one consumed unit (1k tokens, a GPU-hour, a GB) costs on a line, per hour.

Spend is price times usage. When spend rises because more was used, the spend rules see it
and the usage rose with it; when the same usage costs more (the provider's price went up, a
prompt cache was turned off, traffic moved to a pricier tier), only the price per unit tells
the two apart. A line with quantities (FOCUS ``ConsumedQuantity``) is judged on its price per
unit, hour by hour, on the finest lines (a SKU of a service line), where one price applies.

A line's unit cost is anomalous at hour ``i`` when, for each of the last ``unit_cost_hours``
hours (prices change and stay; a one-hour wobble of the mix does not):

* the line had usage (lines without a quantity are skipped);
* its unit cost was at least ``unit_cost_relative`` over its usual unit cost (the median of the
  hourly unit costs over the week before those hours) and ``z`` robust deviations of that
  week's spread, which never counts as less than ``unit_cost_spread_floor`` of the usual cost
  (a line whose mix of SKUs moves the price about is judged against that);

and the price change alone, at the current usage, costs at least ``min_hourly_usd`` an hour
and ``min_daily_usd`` a day. Falls are not news here: a commitment that starts covering a line
lowers its unit cost.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from bot.detection._baseline import DAY, WEEK, _nanquantile, _Quiet, baseline_at
from bot.detection._rules import Thresholds, threshold_column

__all__ = ["UnitCostVerdict", "judge_unit_cost"]

MAD_TO_SIGMA = 1.4826


@dataclass(frozen=True)
class UnitCostVerdict:
    """Lines of the matrix whose unit cost is anomalous at one hour, with the figures."""

    rows: np.ndarray  # line rows of the matrix
    before: np.ndarray  # usual unit cost (dollars per unit)
    after: np.ndarray  # unit cost over the anomalous hours (their spend / their usage)
    usage_change: np.ndarray  # this hour's usage against its seasonal expectation, as a share
    excess_usd: np.ndarray  # what the higher price costs this hour at this hour's usage
    since: np.ndarray  # the first of the anomalous hours (column index)

    @classmethod
    def none(cls) -> UnitCostVerdict:
        empty = np.zeros(0)
        return cls(np.zeros(0, dtype=np.intp), empty, empty, empty, empty,
                   np.zeros(0, dtype=np.intp))


def judge_unit_cost(values: np.ndarray, quantities: np.ndarray | None, index: int,
                    thresholds: list[Thresholds]) -> UnitCostVerdict:
    """The lines (rows of ``values``: spend, lines x hours) whose price per unit rose at
    column ``index``; ``thresholds`` holds one entry per line."""
    hours = threshold_column(thresholds, "unit_cost_hours", "intp")
    if quantities is None or not len(hours):
        return UnitCostVerdict.none()
    longest = int(hours.max())
    if index - longest - DAY < 0:
        return UnitCostVerdict.none()
    on = threshold_column(thresholds, "unit_cost_alerts", "bool")
    relative = threshold_column(thresholds, "unit_cost_relative")
    recent = _unit(values[:, index - longest + 1:index + 1],
                   quantities[:, index - longest + 1:index + 1])
    # the last ``hours`` columns of ``recent`` are the line's stretch
    in_stretch = np.arange(longest)[None, :] >= (longest - hours)[:, None]
    # cheap first look: every hour of the stretch priced at least ``relative`` over the
    # cheapest hour of the day before it began (a price that rose within the last day)
    day = slice(index - longest - DAY + 1, index - longest + 1)
    with _Quiet():
        cheapest = np.nanmin(_unit(values[:, day], quantities[:, day]), axis=1)
    risen = np.where(in_stretch, recent >= (1 + relative[:, None]) * np.nan_to_num(
        cheapest, nan=0.0)[:, None], True)
    candidates = np.flatnonzero(on & np.all(risen & (np.isfinite(recent) | ~in_stretch), axis=1))
    if not len(candidates):
        return UnitCostVerdict.none()
    return _judge(values, quantities, index, candidates, hours[candidates],
                  [thresholds[int(r)] for r in candidates])


def _judge(values: np.ndarray, quantities: np.ndarray, index: int, rows: np.ndarray,
           hours: np.ndarray, thresholds: list[Thresholds]) -> UnitCostVerdict:
    first = index - hours + 1  # first hour of each line's stretch
    usual, spread = _usual(values[rows], quantities[rows], first)
    relative = threshold_column(thresholds, "unit_cost_relative")
    floor = threshold_column(thresholds, "unit_cost_spread_floor") * usual
    sigma = np.fmax(spread, floor)
    stretch = index + 1 - np.arange(int(hours.max()), 0, -1)
    units = _unit(values[rows][:, stretch], quantities[rows][:, stretch])
    in_stretch = stretch[None, :] >= first[:, None]
    with np.errstate(invalid="ignore"):
        high = (units >= usual[:, None] * (1 + relative[:, None])) & (
            units - usual[:, None] >= threshold_column(thresholds, "z")[:, None] * sigma[:, None])
    every = np.all(np.where(in_stretch, high, True), axis=1) & (usual > 0)
    spend = np.where(in_stretch, values[rows][:, stretch], 0.0).sum(axis=1)
    used = np.where(in_stretch, quantities[rows][:, stretch], 0.0).sum(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        after = np.where(used > 0, spend / used, np.nan)
    now = quantities[rows, index]
    excess = now * (values[rows, index] / np.where(now > 0, now, np.nan) - usual)
    excess = np.nan_to_num(excess, nan=0.0)
    dollars = (excess >= threshold_column(thresholds, "min_hourly_usd")) & (
        excess * 24 >= threshold_column(thresholds, "min_daily_usd"))
    keep = every & dollars
    if not keep.any():
        return UnitCostVerdict.none()
    change = _usage_change(quantities, index, rows[keep])
    return UnitCostVerdict(rows=rows[keep], before=usual[keep], after=after[keep],
                           usage_change=change, excess_usd=excess[keep], since=first[keep])


def _unit(spend: np.ndarray, used: np.ndarray) -> np.ndarray:
    """Spend per unit; NaN where nothing was used."""
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(used > 0, spend / used, np.nan)


def _usual(spend: np.ndarray, used: np.ndarray, first: np.ndarray) -> tuple[np.ndarray,
                                                                            np.ndarray]:
    """Median hourly unit cost over the week before each line's stretch, and its spread."""
    offsets = np.arange(WEEK, 0, -1)
    columns = first[:, None] - offsets[None, :]
    valid = columns >= 0
    columns = np.clip(columns, 0, None)
    rows = np.arange(len(first))[:, None]
    window = np.where(valid, _unit(spend[rows, columns], used[rows, columns]), np.nan)
    with _Quiet():
        usual = _nanquantile(window, 0.5, axis=1)
        spread = MAD_TO_SIGMA * _nanquantile(np.abs(window - usual[:, None]), 0.5, axis=1)
    # fewer than a day of priced hours is no history to judge a price against
    enough = np.sum(~np.isnan(window), axis=1) >= DAY
    return np.where(enough, usual, np.nan), np.nan_to_num(spread, nan=0.0)


def _usage_change(quantities: np.ndarray, index: int, rows: np.ndarray) -> np.ndarray:
    """This hour's usage against the seasonal expectation of the line's usage."""
    used = quantities[rows]
    first_seen = np.argmax(used > 0, axis=1)
    expected = baseline_at(used, index, first_seen, floor_usd=0.0).expected
    with np.errstate(divide="ignore", invalid="ignore"):
        change = np.where(expected > 0, used[:, index] / expected - 1.0, np.nan)
    return change
