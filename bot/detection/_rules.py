"""Thresholds and the verdict on one hour of many series.

A series' hour is *anomalous* when all of these hold, so that each guards against one way of
crying wolf:

* relative: actual is at least the line's *margin* above expected (see below);
* dollars: the excess is at least ``min_hourly_usd`` and, if it went on for a day, at least
  ``min_daily_usd`` (tiny-dollar blips never page anyone);
* unusual: the excess is at least ``z`` robust standard deviations of that hour's usual spread
  (bursty lines have a wide spread), and the hour is above the highest value seen at that hour
  in the window (bursts that happen every week are normal life).

How far it stands out from the series' own ordinary excursions (``excursion``: a line that
jumps 2x now and then) grades it: *confirming* at ``excursion_confirm`` times that, *strong*
at ``excursion_strong`` times (and ``strong_z`` deviations, ``strong_relative`` over expected).
The lifecycle opens an incident on one strong hour, two confirming hours in a row, or
``SUSTAINED_HOURS`` anomalous hours out of the last ``SUSTAINED_WINDOW``: real incidents last,
noise does not, and the bigger the jump the less waiting it needs. A burst too short for any of
these opens one when it is over (with ``burst_alerts``, on in the ``balanced`` and
``sensitive`` profiles), if its excess over its hours came to ``min_burst_usd``, it lasted
``burst_min_hours`` anomalous hours (two in ``balanced``: single sharp hours are common on
busy lines) and each hour stood out ``burst_standout`` times the line's ordinary excursions:
a sharp two-hour mistake that cost $80 is news even though it has ended. The price per unit
of lines with quantities is judged apart (``bot.detection.unit_cost``).
It is *elevated* (an open incident goes on) when it is still half its margin over expected by
``min_hourly_usd / 2``: hysteresis, so an incident does not flap around one threshold.

The margin scales with the line's size and steadiness. ``relative`` is the margin of a small or
erratic line; a big, steady one gets a narrower margin, because +40 % on $60 an hour is $576 a
day and on such a line +40 % is no accident::

    size       = min(1, expected / relative_size_usd)        # 1 from relative_size_usd per hour
    steadiness = clip(1 - spread / expected / relative, 0, 1)  # 1 for a flat line
    margin     = relative * (1 - relative_shrink * size * steadiness)

With the defaults (0.5, $50/h, 0.5) a steady $60/h line's margin is about 0.3, a $10/h line's
about 0.46, a $1/h line's 0.5; ``relative_shrink = 0`` turns the rule off. The spread's floor
(``sigma_floor_relative``) narrows in the same proportion, so the z test does not undo it.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

from bot.detection._baseline import Baseline

__all__ = ["SUSTAINED_HOURS", "SUSTAINED_WINDOW", "HourVerdict", "Thresholds", "judge"]

# the opening rule for moderate, lasting shifts (used by the lifecycle and SeasonalDetector)
SUSTAINED_HOURS = 4
SUSTAINED_WINDOW = 5


@dataclass(frozen=True, slots=True)
class Thresholds:
    relative: float = 0.5
    relative_size_usd: float = 50.0  # expected dollars per hour from which a line counts as big
    relative_shrink: float = 0.5  # the most the margin narrows, for a big and steady line
    min_hourly_usd: float = 2.0
    min_daily_usd: float = 25.0
    burst_alerts: bool = False  # open an incident for a short burst once it is over, if ...
    min_burst_usd: float = 25.0  # ... it cost this much over expected
    burst_standout: float = 3.0  # ... and stood out this much in each of its hours
    burst_min_hours: int = 1  # ... and lasted at least this many anomalous hours
    # cost per consumed unit (``bot.detection.unit_cost``): a line whose price per unit rose
    # this share over its usual price, for this many hours in a row, is anomalous
    unit_cost_alerts: bool = True
    unit_cost_relative: float = 0.2
    unit_cost_hours: int = 3
    unit_cost_spread_floor: float = 0.02  # the usual unit price wobbles at least this share
    z: float = 4.0
    strong_z: float = 8.0
    strong_relative: float = 1.0
    new_spend_hourly_usd: float = 2.0
    peak_margin: float = 0.1
    excursion_floor: float = 0.5
    excursion_confirm: float = 3.0
    excursion_strong: float = 8.0
    # floors that keep tiny numbers from looking huge; with the dollar ones at 0 (and the
    # dollar minimums above at 0) a detector judges cents as it judges thousands
    sigma_floor_relative: float = 0.1  # the spread never counts as less than this share ...
    sigma_floor_usd: float = 0.05  # ... of expected, or these dollars per hour
    expected_floor_usd: float = 0.05  # relative excess is measured against at least this

    def __post_init__(self) -> None:
        negative = [name for name in self.__dataclass_fields__ if getattr(self, name) < 0]
        if negative:
            raise ValueError(f"thresholds cannot be negative: {', '.join(negative)}; use 0 to "
                             "switch a floor or minimum off")
        short = [name for name in ("unit_cost_hours", "burst_min_hours") if getattr(self, name) < 1]
        if short:
            raise ValueError(f"{', '.join(short)} must be at least 1 hour")
        if self.relative_shrink > 1:
            raise ValueError(f"relative_shrink is {self.relative_shrink}; it is the share the "
                             "margin may narrow by, between 0 (never) and 1")


@dataclass(frozen=True, slots=True)
class HourVerdict:
    actual: np.ndarray
    expected: np.ndarray
    excess: np.ndarray
    z: np.ndarray
    anomalous: np.ndarray
    confirming: np.ndarray
    strong: np.ndarray
    elevated: np.ndarray
    new_spend: np.ndarray
    standout: np.ndarray  # relative excess / the series' ordinary excursion


class ThresholdRows(list[Thresholds]):
    """One :class:`Thresholds` per series, whose columns are built once: detection judges the
    same series hour after hour, and building a column from the objects costs more than the
    arithmetic done with it. The columns are read-only."""

    def __init__(self, rows: Iterable[Thresholds] = ()) -> None:
        super().__init__(rows)
        self._columns: dict[tuple[str, str], np.ndarray] = {}

    def column(self, name: str, dtype: str = "float") -> np.ndarray:
        found = self._columns.get((name, dtype))
        if found is None:
            found = np.array([getattr(t, name) for t in self], dtype=dtype)
            found.setflags(write=False)
            self._columns[name, dtype] = found
        return found

    def take(self, rows: np.ndarray) -> ThresholdRows:
        return ThresholdRows(self[int(r)] for r in rows)


def threshold_column(thresholds: list[Thresholds], name: str,
                     dtype: str = "float") -> np.ndarray:
    """Field ``name`` of each series' thresholds, as an array (read-only: it may be shared)."""
    if isinstance(thresholds, ThresholdRows):
        return thresholds.column(name, dtype)
    return np.array([getattr(t, name) for t in thresholds], dtype=dtype)


_column = threshold_column


def _ratio(top: np.ndarray, bottom: np.ndarray) -> np.ndarray:
    """``top / bottom`` where a zero ``bottom`` (floors set to 0 on a zero line) makes any rise
    infinitely large and no change zero, instead of numpy's warnings and NaNs."""
    with np.errstate(divide="ignore", invalid="ignore"):
        out = top / bottom
    return np.where(bottom > 0, out, np.where(top > 0, np.inf, np.where(top < 0, -np.inf, 0.0)))


def _narrowing(expected: np.ndarray, spread: np.ndarray, relative: np.ndarray,
               size_usd: np.ndarray, shrink: np.ndarray) -> np.ndarray:
    """The factor (1 - shrink .. 1) the relative margin is multiplied by (module docstring)."""
    level = np.maximum(expected, 0.0)
    size = np.clip(_ratio(level, size_usd), 0.0, 1.0)
    steadiness = np.clip(1.0 - _ratio(spread, level * relative), 0.0, 1.0)
    return 1.0 - shrink * size * steadiness


def judge(
    actual: np.ndarray,
    baseline: Baseline,
    thresholds: list[Thresholds],
    *,
    can_be_new: np.ndarray,
    min_history_hours: int = 7 * 24,
    new_within_hours: int = 24,
) -> HourVerdict:
    """Verdict per series; ``thresholds`` holds one entry per series (by environment/phase).

    ``can_be_new`` marks series that first appeared well after the data begins (a line seen
    from the first hour of a store is not "new", it is history we have not seen).
    """
    relative = _column(thresholds, "relative")
    min_hourly = _column(thresholds, "min_hourly_usd")
    min_daily = _column(thresholds, "min_daily_usd")
    z_min = _column(thresholds, "z")
    strong_z = _column(thresholds, "strong_z")
    strong_relative = _column(thresholds, "strong_relative")
    new_min = _column(thresholds, "new_spend_hourly_usd")
    margin = _column(thresholds, "peak_margin")
    excursion_floor = _column(thresholds, "excursion_floor")
    confirm_at = _column(thresholds, "excursion_confirm")
    strong_at = _column(thresholds, "excursion_strong")

    expected = baseline.expected
    excess = actual - expected
    narrowing = _narrowing(expected, baseline.sigma, relative,
                           _column(thresholds, "relative_size_usd"),
                           _column(thresholds, "relative_shrink"))
    relative = relative * narrowing
    # a perfectly flat history must not turn a 3 % wobble into a 50-sigma event
    floor = np.maximum(
        _column(thresholds, "sigma_floor_relative") * narrowing * np.abs(expected),
        _column(thresholds, "sigma_floor_usd"))
    sigma = np.maximum(baseline.sigma, floor)
    z = _ratio(excess, sigma)
    established = baseline.history_hours >= min_history_hours
    dollars = (excess >= min_hourly) & (excess * 24 >= min_daily)
    relative_ok = excess >= relative * np.maximum(expected, 0.0)
    unusual = (z >= z_min) & (actual > baseline.usual_peak * (1 + margin))
    anomalous = established & dollars & relative_ok & unusual
    relative_excess = _ratio(excess, np.maximum(expected, _column(thresholds,
                                                                  "expected_floor_usd")))
    ordinary = np.fmax(np.nan_to_num(baseline.excursion, nan=np.inf), excursion_floor)
    standout = relative_excess / ordinary
    confirming = anomalous & (standout >= confirm_at)
    strong = (
        anomalous
        & (standout >= strong_at)
        & (z >= strong_z)
        & (excess >= strong_relative * np.maximum(expected, 0))
    )
    elevated = established & (excess >= relative / 2 * np.maximum(expected, 0)) & (
        excess >= min_hourly / 2
    )
    # spend that did not exist a day ago: there is no baseline to be unusual against
    young = can_be_new & (baseline.history_hours < new_within_hours)
    new_spend = young & (actual >= np.maximum(new_min, min_daily / 24))
    return HourVerdict(
        actual=actual,
        expected=expected,
        excess=excess,
        z=z,
        anomalous=anomalous | new_spend,
        confirming=confirming | new_spend,
        strong=strong | new_spend,
        elevated=elevated | (can_be_new & ~established & (actual >= new_min / 2)),
        new_spend=new_spend,
        standout=standout,
    )
