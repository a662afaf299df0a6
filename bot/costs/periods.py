"""Periods of a cost question: ``7d``, ``30d``, ``mtd`` or a ``--start``/``--end`` window, and
the period of equal length before it, for ``spendwatch costs`` and ``/cost`` alike.

Pure functions. Periods given as ``--last`` end at the newest hour with data ("as of"), not the
wall clock: exports arrive hours late, and a report of the last seven days should not count
missing hours as savings. ``bot.costs.service`` sums spend over them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta

import pandas as pd

from storage.timeutil import as_utc

__all__ = ["Period", "ReportError", "choose_period", "parse_moment", "period_between",
           "period_for"]

DEFAULT_LAST = "7d"
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
    """``7d``, ``30d``, ``24h`` or ``mtd``, ending at ``as_of`` (exclusive; naive is UTC), and
    the one before."""
    end = as_utc(as_of).replace(minute=0, second=0, microsecond=0)
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
    value = as_utc(value)
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
        return period_for(last or DEFAULT_LAST, as_of=as_of or data_end)
    if last is not None:
        raise ReportError("--last and --start cannot be combined; give --last alone, "
                          "or --start with an optional --end")
    if as_of is not None:
        raise ReportError("--as-of goes with --last; with --start, give --end instead")
    first = parse_moment(start, option="--start")
    return period_between(first, parse_moment(end, option="--end") if end else data_end)
