"""Spend for a period against the one before: one answer for ``spendwatch costs`` and ``/cost``.

Why the database sums: the question used to be answered twice, by the CLI over a pandas frame
of every hourly point of both periods, and by ``/cost`` in SQL, and the two could disagree (a
credit netted into a service's spend in chat but listed apart in the CLI; two look-ups of the
newest hour). The frame also grew with the store: a 30-day report of a large store read
millions of points into memory. The SQL path (``storage.queries.costs.spend_compared``) sums per
series and period over the ``(series_id, hour)`` index and returns one row per key and charge
category, so an answer costs the same whatever the store's size. Everything a report adds to
those sums (breakdowns, the charges other than usage apart, the order, the cut, the totals) is
done here over those few rows, for the CLI table, JSON and CSV and for ``/cost`` alike.

Periods (``bot.costs.periods``) end at the newest hour with data ("as of"), not the wall clock:
exports arrive hours late, and a report of the last seven days should not count missing hours
as savings. The amount is EffectiveCost (amortised: commitment purchases spread over the usage
they cover, credits netted), the figure FinOps showback uses; ``metric="billed"`` shows
invoices. Amounts are in the base currency, to which ingestion converts every line.

A summary's total is every charge of the period, whatever the breakdown: the rows are usage
per key, and charges other than usage (credits, purchases, tax, adjustments) are rows of their
own, so a credit never looks like a change in usage and rows plus other charges add up to the
total.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy.engine import Connection

from bot.costs.periods import Period, ReportError
from bot.ingest.allocation import UNALLOCATED
from storage import queries

__all__ = [
    "BREAKDOWNS", "DUST", "METRICS", "USAGE", "CostSummary", "Cut", "cut", "data_end",
    "percent_change", "summarise", "unallocated", "visible",
]

BREAKDOWNS = {
    "project": "project",
    "service": "service_name",
    "environment": "environment",
    "owner": "owner",
    "region": "region",
    "category": "charge_category",
    "account": "sub_account_name",
}
METRICS = ("effective", "billed")
USAGE = "Usage"  # the FOCUS ChargeCategory of usage; the others are one-time charges
DUST = 0.005  # below half a cent in both periods: nothing a reader can see
_AMOUNTS = ["cost", "previous", "change", "change_pct"]


@dataclass(frozen=True)
class CostSummary:
    """Spend of a period against the one before, per ``by`` value.

    ``rows`` is usage per key (key, cost, previous, change, change_pct, share of usage),
    largest first; ``other`` is every other charge category per key (charge_category, key,
    cost, previous, change, change_pct), the largest amount in either period first. ``total`` and
    ``previous_total`` sum every charge of each period: rows plus other always add up to them.
    """

    period: Period
    by: str
    rows: pd.DataFrame
    total: float
    previous_total: float
    metric: str = "effective"
    other: pd.DataFrame = field(
        default_factory=lambda: pd.DataFrame(columns=["charge_category", "key", *_AMOUNTS]))

    @property
    def change_pct(self) -> float | None:
        return percent_change(self.total, self.previous_total)

    @property
    def usage_total(self) -> float:
        return float(self.rows["cost"].sum())

    @property
    def usage_previous(self) -> float:
        return float(self.rows["previous"].sum())

    @property
    def other_total(self) -> float:
        return float(self.other["cost"].sum())

    @property
    def other_previous(self) -> float:
        return float(self.other["previous"].sum())

    @property
    def biggest_mover(self) -> pd.Series | None:
        """The usage row that changed most in dollars, None without a previous period."""
        if self.rows.empty or abs(self.usage_previous) < DUST:
            return None
        return self.rows.iloc[self.rows["change"].abs().argmax()]


def percent_change(now: float, before: float) -> float | None:
    """The change in percent of ``before``; None when there was (next to) nothing before."""
    if abs(before) < DUST:
        return None
    return (now - before) / abs(before) * 100.0


def data_end(connection: Connection) -> datetime | None:
    """Just after the newest hour with data (where a period given no end ends); None if empty."""
    newest = queries.costs.newest_hour(connection=connection)
    return None if newest is None else newest + timedelta(hours=1)


def _frame(rows: Sequence[queries.costs.SpendRow], *, usage: bool) -> pd.DataFrame:
    """Usage rows (key, amounts, share of usage) or other charges (charge_category, key,
    amounts), built column by column: a frame per answer must cost well under a millisecond."""
    costs = np.array([r.cost for r in rows], dtype=float)
    previous = np.array([r.previous for r in rows], dtype=float)
    columns: dict[str, Any] = {} if usage else {
        "charge_category": [r.charge_category for r in rows]}
    columns |= {
        "key": [r.key for r in rows], "cost": costs, "previous": previous,
        "change": costs - previous,
        # object dtype: None means "new", never NaN
        "change_pct": np.array([percent_change(r.cost, r.previous) for r in rows], dtype=object),
    }
    if usage:
        total = float(costs.sum())
        columns["share"] = costs / total * 100.0 if abs(total) > 1e-9 else np.zeros(len(rows))
    return pd.DataFrame(columns)


def summarise(
    connection: Connection, *, period: Period, by: str, metric: str = "effective",
    project: str | None = None, environment: str | None = None,
    owners: Collection[str] | None = None,
) -> CostSummary:
    """Usage per ``by`` value in ``period`` and the one before, largest first; the other charge
    categories apart; totals over every charge. ``owners`` limits it to those owners' spend."""
    if by not in BREAKDOWNS:
        raise ReportError(f"--by {by!r} is not a breakdown; use one of {', '.join(BREAKDOWNS)}")
    if metric not in METRICS:
        raise ReportError(f"--metric {metric!r} is unknown; use effective or billed")
    found = queries.costs.spend_compared(
        connection=connection, by=BREAKDOWNS[by], metric=f"{metric}_cost", project=project,
        environment=environment, owners=owners, start=period.start, end=period.end,
        previous_start=period.previous_start, previous_end=period.previous_end)
    usage = sorted((r for r in found if r.charge_category == USAGE),
                   key=lambda r: (-r.cost, -r.previous, r.key))
    other = sorted((r for r in found if r.charge_category != USAGE),
                   key=lambda r: (-max(abs(r.cost), abs(r.previous)), r.key))
    return CostSummary(period, by, _frame(usage, usage=True), sum(r.cost for r in found),
                       sum(r.previous for r in found), metric, _frame(other, usage=False))


def unallocated(
    connection: Connection, *, period: Period, by: str = "service", metric: str = "effective",
    environment: str | None = None, owners: Collection[str] | None = None,
) -> tuple[CostSummary, float]:
    """The summary of spend with no project, and the total of all spend in ``period``."""
    loose = summarise(connection, period=period, by=by, metric=metric, project=UNALLOCATED,
                      environment=environment, owners=owners)
    everything = summarise(connection, period=period, by="category", metric=metric,
                           environment=environment, owners=owners)
    return loose, everything.total


def visible(rows: pd.DataFrame) -> pd.DataFrame:
    """The rows worth a line: not dust in both periods."""
    return rows[(rows["cost"].abs() >= DUST) | (rows["previous"].abs() >= DUST)]


@dataclass(frozen=True)
class Cut:
    """The rows a list shows, and how many are left out and what they add up to."""

    shown: pd.DataFrame
    hidden: int
    hidden_cost: float
    hidden_previous: float


def cut(rows: pd.DataFrame, *, limit: int) -> Cut:
    """The first ``limit`` rows worth a line (not dust in both periods); the rest summed."""
    if limit < 1:
        raise ReportError(f"--top {limit} shows nothing; give 1 or more rows")
    shown = visible(rows).head(limit)
    rest = rows.drop(index=shown.index)
    return Cut(shown, len(rest), float(rest["cost"].sum()), float(rest["previous"].sum()))
