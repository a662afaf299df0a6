"""Rolling hourly points up to daily ones: the SQL behind ``spendwatch db prune``.

A day is rolled up per (series, ingest run, billing period): its points become one point at
the day's 00:00 UTC with ``hours = 24`` and the day's sums. Keeping the ingest run and the
billing period in the key keeps every per-run total exact, so the re-delivery guard
(``bot.ingest.guard``), scope replacement and a window source's restatements work on rolled-up
days as on hourly ones; every reader sums ``hour >= start AND hour < end``, so a period that
holds the whole day counts it once, unchanged.

A day is rolled up by one ``INSERT ... SELECT`` and one ``DELETE`` in one transaction, both
bounded by the newest point id seen when it began: a point written meanwhile (a late
delivery) is neither summed nor deleted and waits for the next prune. Rolled-up points of a
day are summed again with the day's hourly ones, so a day that received late hourly points
is merged and a day with none left is not touched: running it twice changes nothing. On
PostgreSQL the transaction is REPEATABLE READ, so both statements see one snapshot; a
concurrent delete of the same points fails it, and nothing of that chunk is changed.

Every statement selects series first and a range of hours per series, so it walks the
``(series_id, hour)`` index rather than the table.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from sqlalchemy import (
    Date,
    Integer,
    String,
    cast,
    delete,
    func,
    insert,
    literal,
    select,
    type_coerce,
)
from sqlalchemy.engine import Connection
from sqlmodel import col

from storage.models import CostPoint, CostSeries

__all__ = [
    "count_points",
    "day_chunks",
    "days_to_roll_up",
    "groups_in",
    "midnight",
    "roll_up",
]

ROLLED_UP_HOURS = 24
_VALUES = ("billed_cost", "effective_cost", "usage_quantity", "line_items")


def _day_of_hour(connection: Connection) -> Any:
    """The day of ``cost_point.hour`` as a stored hour (its 00:00 UTC) in this dialect."""
    hour = col(CostPoint.hour)
    if connection.dialect.name == "postgresql":
        return func.timezone("UTC", func.date_trunc("day", func.timezone("UTC", hour)))
    # SQLite keeps UTC text 'YYYY-MM-DD HH:MM:SS.ffffff' (SQLAlchemy's DateTime format)
    return type_coerce(func.substr(hour, 1, 10), String) + literal(" 00:00:00.000000")


def _date_of_hour(connection: Connection) -> Any:
    hour = col(CostPoint.hour)
    if connection.dialect.name == "postgresql":
        return cast(func.timezone("UTC", hour), Date)
    return func.substr(hour, 1, 10)


def _all_series() -> Any:
    return col(CostPoint.series_id).in_(select(col(CostSeries.id)))


def days_to_roll_up(*, connection: Connection, before: datetime) -> list[date]:
    """The UTC days before ``before`` (a midnight) that still hold hourly points, oldest
    first."""
    statement = (
        select(_date_of_hour(connection).label("day"))
        .where(_all_series(), col(CostPoint.hour) < before, col(CostPoint.hours) == 1)
        .distinct()
    )
    days = {value if isinstance(value, date) else date.fromisoformat(str(value))
            for value in connection.execute(statement).scalars()}
    return sorted(days)


def day_chunks(days: Iterable[date], *, size: int) -> Iterator[tuple[date, date]]:
    """``[first, end)`` ranges of consecutive days, at most ``size`` days each."""
    if size < 1:
        raise ValueError("a chunk holds at least one day")
    first: date | None = None
    last: date | None = None
    for day in sorted(set(days)):
        if first is not None and last is not None and (
                day != last + timedelta(days=1) or (day - first).days >= size):
            yield first, last + timedelta(days=1)
            first = None
        if first is None:
            first = day
        last = day
    if first is not None and last is not None:
        yield first, last + timedelta(days=1)


def midnight(day: date) -> datetime:
    return datetime.combine(day, time(0), tzinfo=UTC)


def _grouped(connection: Connection, start: date, end: date, newest_id: int) -> Any:
    """The day's points of each (series, run, day, billing period), summed (a subquery first:
    PostgreSQL cannot match a GROUP BY to a SELECT holding bound parameters)."""
    points = (
        select(col(CostPoint.series_id), col(CostPoint.ingest_run_id),
               _day_of_hour(connection).label("day"), col(CostPoint.billing_period_start),
               *[getattr(CostPoint, name) for name in _VALUES])
        .where(_all_series(), col(CostPoint.hour) >= midnight(start),
               col(CostPoint.hour) < midnight(end), col(CostPoint.id) <= newest_id)
        .subquery()
    )
    keys = (points.c.series_id, points.c.ingest_run_id, points.c.day,
            points.c.billing_period_start)
    return (
        select(*keys, *[func.sum(points.c[name]).label(name) for name in _VALUES],
               literal(ROLLED_UP_HOURS, Integer).label("hours"))
        .group_by(*keys)
    )


def groups_in(*, connection: Connection, start: date, end: date) -> tuple[int, int]:
    """Points in ``[start, end)`` now, and how many remain once rolled up."""
    newest = _newest_id(connection)
    grouped = _grouped(connection, start, end, newest).subquery()
    after = connection.execute(select(func.count()).select_from(grouped)).scalar_one()
    before = connection.execute(
        select(func.count()).select_from(CostPoint).where(
            _all_series(), col(CostPoint.hour) >= midnight(start),
            col(CostPoint.hour) < midnight(end))).scalar_one()
    return int(before), int(after)


def roll_up(*, connection: Connection, start: date, end: date) -> tuple[int, int]:
    """Replace the points of the days ``[start, end)`` by one point per (series, run, day,
    billing period), in the caller's transaction; returns (points removed, points written)."""
    newest = _newest_id(connection)
    columns = ["series_id", "ingest_run_id", "hour", "billing_period_start", *_VALUES, "hours"]
    table = CostPoint.__table__  # type: ignore[attr-defined]
    # SQLAlchemy keeps an INSERT's row count only when asked to
    written = connection.execute(
        insert(table).from_select(columns, _grouped(connection, start, end, newest)),
        execution_options={"preserve_rowcount": True},
    ).rowcount or 0
    removed = connection.execute(
        delete(table).where(_all_series(), table.c.hour >= midnight(start),
                            table.c.hour < midnight(end), table.c.id <= newest)
    ).rowcount or 0
    return int(removed), int(written)


def count_points(*, connection: Connection) -> int:
    return int(connection.execute(select(func.count()).select_from(CostPoint)).scalar_one())


def _newest_id(connection: Connection) -> int:
    return int(connection.execute(select(func.max(CostPoint.id))).scalar() or 0)
