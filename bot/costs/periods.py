"""Cost lookups: totals for a period, broken down, against the previous period of equal length.

Pure functions over frames of hourly points; the CLI renders them. Periods given as ``--last``
end at the newest hour with data ("as of"), not the wall clock: exports arrive hours late, and
a report of the last seven days should not count missing hours as savings. The amount is
EffectiveCost (amortised: commitment purchases spread over the usage they cover, credits
netted), the figure FinOps showback uses; ``metric="billed"`` shows invoices.

A summary's total is every point of the period, whatever the breakdown: the rows are usage per
key, and charges other than usage (credits, purchases, tax, adjustments) are rows of their own,
so a credit never looks like a change in usage and rows plus other charges add up to the total.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import pandas as pd

from bot.ingest.allocation import UNALLOCATED

__all__ = [
    "BREAKDOWNS", "DUST", "METRICS", "USAGE", "CostSummary", "Cut", "Period", "ReportError",
    "choose_period", "cut", "parse_moment", "percent_change", "period_between", "period_for",
    "summarise", "unallocated",
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
DEFAULT_LAST = "7d"
DUST = 0.005  # below half a cent in both periods: nothing a reader can see
_LAST = re.compile(r"^(\d{1,3})([dh])$")
_COLUMNS = ["key", "cost", "previous", "change", "change_pct"]


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


def parse_moment(text: str, *, option: str) -> datetime:
    """An ISO 8601 date or time on the hour, in UTC (a time without an offset is UTC)."""
    try:
        value = datetime.fromisoformat(text.strip())
    except ValueError:
        raise ReportError(f"{option} {text!r} is not an ISO 8601 date or time; "
                          "use e.g. 2024-09-01 or 2024-09-01T06:00Z") from None
    value = value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    if (value.minute, value.second, value.microsecond) != (0, 0, 0):
        raise ReportError(f"{option} {text!r} is not on the hour; spend is hourly, so give a "
                          f"whole hour such as {value:%Y-%m-%dT%H}:00Z")
    return value


def period_between(start: datetime, end: datetime) -> Period:
    """``[start, end)``, and the period of the same length just before it."""
    if end <= start:
        raise ReportError(f"--end {end:%Y-%m-%d %H:%M} must be after --start "
                          f"{start:%Y-%m-%d %H:%M} (UTC; --end is exclusive)")
    span = end - start
    days, hours = divmod(int(span.total_seconds() // 3600), 24)
    label = (f"{days} day{'s' * (days != 1)}" if not hours
             else f"{days * 24 + hours} hour{'s' * (days * 24 + hours != 1)}")
    return Period(label, start, end, start - span, start)


def choose_period(
    *, last: str | None, start: str | None, end: str | None, as_of: datetime | None,
    data_end: datetime,
) -> Period:
    """The period the options ask for: ``--last`` (default 7d) or ``--start``/``--end``.

    ``data_end`` is just after the newest hour with data; it ends a period given no end.
    """
    if start is None:
        if end is not None:
            raise ReportError("--end needs --start (or use --last with --as-of)")
        moment = as_of.replace(tzinfo=as_of.tzinfo or UTC) if as_of else data_end
        return period_for(last or DEFAULT_LAST, as_of=moment)
    if last is not None:
        raise ReportError("--last and --start cannot be combined; give --last alone, "
                          "or --start with an optional --end")
    if as_of is not None:
        raise ReportError("--as-of goes with --last; with --start, give --end instead")
    first = parse_moment(start, option="--start")
    return period_between(first, parse_moment(end, option="--end") if end else data_end)


@dataclass(frozen=True)
class CostSummary:
    """Spend of a period against the one before, per ``by`` value.

    ``rows`` is usage per key (key, cost, previous, change, change_pct, share of usage),
    largest first; ``other`` is every other charge category per key (charge_category, key,
    cost, previous, change, change_pct), the largest amount in either period first. ``total`` and
    ``previous_total`` sum every point of each period: rows plus other always add up to them.
    """

    period: Period
    by: str
    rows: pd.DataFrame
    total: float
    previous_total: float
    metric: str = "effective"
    other: pd.DataFrame = field(default_factory=lambda: _empty(["charge_category"]))

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


def _empty(extra: list[str]) -> pd.DataFrame:
    return pd.DataFrame(columns=[*extra, *_COLUMNS])


def _between(points: pd.DataFrame, start: datetime, end: datetime) -> pd.DataFrame:
    if points.empty:
        return points
    return points[(points["hour"] >= start) & (points["hour"] < end)]


def _compare(now: pd.DataFrame, before: pd.DataFrame, keys: list[str],
             value: str) -> pd.DataFrame:
    """Both periods' sums per ``keys``; every key seen in either period is a row."""
    def total(frame: pd.DataFrame) -> pd.Series:
        return frame.groupby(keys, observed=True, dropna=False)[value].sum()

    if now.empty and before.empty:
        return pd.DataFrame(columns=[*keys, "cost", "previous", "change", "change_pct"])
    rows = pd.DataFrame({"cost": total(now), "previous": total(before)}).fillna(0.0)
    rows["change"] = rows["cost"] - rows["previous"]
    rows["change_pct"] = pd.Series(  # object dtype: None means "new", never NaN
        [percent_change(c, p) for c, p in zip(rows["cost"], rows["previous"], strict=True)],
        index=rows.index, dtype=object,
    )
    return rows.rename_axis(keys).reset_index()


def summarise(
    points: pd.DataFrame, *, period: Period, by: str, metric: str = "effective"
) -> CostSummary:
    """Usage per ``by`` value in ``period`` and the previous period, largest first; the other
    charge categories apart; totals over every point."""
    if by not in BREAKDOWNS:
        raise ReportError(f"--by {by!r} is not a breakdown; use one of {', '.join(BREAKDOWNS)}")
    if metric not in METRICS:
        raise ReportError(f"--metric {metric!r} is unknown; use effective or billed")
    column, value = BREAKDOWNS[by], f"{metric}_cost"
    now = _between(points, period.start, period.end)
    before = _between(points, period.previous_start, period.previous_end)
    usage_now, usage_before = (f["charge_category"] == USAGE for f in (now, before))
    rows = _compare(now[usage_now], before[usage_before], [column], value)
    rows = rows.rename(columns={column: "key"})
    rows["key"] = rows["key"].astype(str)
    rows = rows.sort_values(["cost", "previous", "key"], ascending=[False, False, True])
    usage = float(rows["cost"].sum())
    rows["share"] = rows["cost"] / usage * 100.0 if abs(usage) > 1e-9 else 0.0
    keys = list(dict.fromkeys(["charge_category", column]))  # by category: one key
    other = _compare(now[~usage_now], before[~usage_before], keys, value)
    if column != "charge_category":
        other = other.rename(columns={column: "key"})
    else:  # by category: the category is the key
        other["key"] = other["charge_category"]
    other["key"] = other["key"].astype(str)
    size = pd.concat([other["cost"].abs(), other["previous"].abs()], axis=1).max(axis=1)
    other = other.assign(size=size).sort_values(["size", "key"], ascending=[False, True])
    other = other.drop(columns="size")
    return CostSummary(period, by, rows.reset_index(drop=True), float(now[value].sum()),
                       float(before[value].sum()), metric, other.reset_index(drop=True))


def unallocated(
    points: pd.DataFrame, *, period: Period, by: str = "service", metric: str = "effective"
) -> tuple[CostSummary, float]:
    """The summary of spend with no project, and the total of all spend in ``period``."""
    loose = summarise(points[points["project"] == UNALLOCATED], period=period, by=by,
                      metric=metric)
    return loose, float(_between(points, period.start, period.end)[f"{metric}_cost"].sum())


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
    visible = (rows["cost"].abs() >= DUST) | (rows["previous"].abs() >= DUST)
    shown = rows[visible].head(limit)
    rest = rows.drop(index=shown.index)
    return Cut(shown, len(rest), float(rest["cost"].sum()), float(rest["previous"].sum()))
