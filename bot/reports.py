"""Cost lookups: totals for a period, broken down, against the previous period of equal length.

Pure functions over frames of hourly points; the CLI (and later ``/cost``) renders them.
Periods end at the newest hour with data ("as of"), not the wall clock: exports arrive hours
late, and a report of the last seven days should not count missing hours as savings.
The amount is EffectiveCost (amortised: commitment purchases spread over the usage they
cover, credits netted), the figure FinOps showback uses; ``metric="billed"`` shows invoices.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta

import pandas as pd

from bot.allocation import UNALLOCATED

__all__ = ["BREAKDOWNS", "CostSummary", "Period", "ReportError", "period_for", "summarise"]

BREAKDOWNS = {
    "project": "project",
    "service": "service_name",
    "environment": "environment",
    "owner": "owner",
    "region": "region",
    "category": "charge_category",
    "account": "sub_account_name",
}
_LAST = re.compile(r"^(\d{1,3})([dh])$")


class ReportError(ValueError):
    """A lookup the user asked for that cannot be answered as asked; says what is allowed."""


@dataclass(frozen=True)
class Period:
    label: str
    start: datetime
    end: datetime
    previous_start: datetime
    previous_end: datetime


def period_for(last: str, *, as_of: datetime) -> Period:
    """``7d``, ``30d``, ``24h`` or ``mtd``, ending at ``as_of`` (exclusive), and the one before."""
    end = pd.Timestamp(as_of).tz_convert("UTC").floor("h").to_pydatetime()
    text = last.strip().lower()
    if text == "mtd":
        start = end.replace(day=1, hour=0)
        if start == end:  # first hour of a month: report the whole previous month
            start = (pd.Timestamp(end) - pd.offsets.MonthBegin(1)).to_pydatetime()
        previous_start = (pd.Timestamp(start) - pd.offsets.MonthBegin(1)).to_pydatetime()
        previous_end = min(previous_start + (end - start), start)
        return Period("month to date", start, end, previous_start, previous_end)
    match = _LAST.match(text)
    if not match:
        raise ReportError(f"--last {last!r} is not a period; use 7d, 30d, 24h or mtd")
    amount, unit = int(match.group(1)), match.group(2)
    if amount == 0:
        raise ReportError("--last must be at least 1h or 1d")
    span = timedelta(days=amount) if unit == "d" else timedelta(hours=amount)
    noun = {"d": "day", "h": "hour"}[unit] + ("" if amount == 1 else "s")
    label = f"last {amount} {noun}"
    return Period(label, end - span, end, end - 2 * span, end - span)


@dataclass(frozen=True)
class CostSummary:
    period: Period
    by: str
    rows: pd.DataFrame  # key, cost, previous, change, change_pct, share
    total: float
    previous_total: float

    @property
    def change_pct(self) -> float | None:
        return _pct(self.total, self.previous_total)


def _pct(now: float, before: float) -> float | None:
    if abs(before) < 1e-9:
        return None
    return (now - before) / abs(before) * 100.0


def summarise(
    points: pd.DataFrame, *, period: Period, by: str, metric: str = "effective"
) -> CostSummary:
    """Totals per ``by`` value in ``period`` and the previous period, largest first."""
    if by not in BREAKDOWNS:
        raise ReportError(f"--by {by!r} is not a breakdown; use one of {', '.join(BREAKDOWNS)}")
    if metric not in ("effective", "billed"):
        raise ReportError(f"--metric {metric!r} is unknown; use effective or billed")
    column = BREAKDOWNS[by]
    value = f"{metric}_cost"
    hours = points["hour"] if not points.empty else pd.Series([], dtype="datetime64[ns, UTC]")
    now = points[(hours >= period.start) & (hours < period.end)]
    before = points[(hours >= period.previous_start) & (hours < period.previous_end)]
    current = now.groupby(column, observed=True)[value].sum()
    previous = before.groupby(column, observed=True)[value].sum()
    rows = pd.DataFrame({"cost": current, "previous": previous}).fillna(0.0)
    rows = rows[(rows["cost"].abs() > 0.005) | (rows["previous"].abs() > 0.005)]
    rows["change"] = rows["cost"] - rows["previous"]
    rows["change_pct"] = pd.Series(  # object dtype: None means "new", never NaN
        [_pct(c, p) for c, p in zip(rows["cost"], rows["previous"], strict=True)],
        index=rows.index, dtype=object,
    )
    total = float(rows["cost"].sum())
    rows["share"] = rows["cost"] / total * 100.0 if abs(total) > 1e-9 else 0.0
    rows = rows.sort_values("cost", ascending=False).rename_axis("key").reset_index()
    return CostSummary(period, by, rows, total, float(rows["previous"].sum()))


def unallocated_share(points: pd.DataFrame, *, period: Period) -> tuple[float, float, pd.DataFrame]:
    """(unallocated cost, total cost, unallocated cost by service and account) in ``period``."""
    now = points[(points["hour"] >= period.start) & (points["hour"] < period.end)]
    total = float(now["effective_cost"].sum())
    loose = now[now["project"] == UNALLOCATED]
    detail = (
        loose.groupby(["service_name", "sub_account_name"], observed=True)["effective_cost"]
        .sum()
        .sort_values(ascending=False)
        .rename("cost")
        .reset_index()
    )
    return float(loose["effective_cost"].sum()), total, detail
