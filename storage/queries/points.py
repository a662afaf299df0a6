"""Cost series and their hourly points: written by ingest, read by detection and reports."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, datetime
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import delete, func, insert, select, update
from sqlalchemy.engine import Connection
from sqlalchemy.sql.selectable import ScalarSelect
from sqlmodel import col

from bot.ingest.enums import RunStatus
from storage.models import (
    SERIES_COLUMNS,
    CostPoint,
    CostSeries,
    IngestRun,
)
from storage.timeutil import stored_utc

__all__ = [
    "data_range",
    "delete_scope_points",
    "insert_points",
    "load_points",
    "other_runs_stored",
    "replace_scopes",
    "resolve_series",
    "scope_totals_by_run",
]


POINT_VALUE_COLUMNS = ("billed_cost", "effective_cost", "usage_quantity", "line_items")


INSERT_BATCH = 20_000  # rows handed to the driver at once: bounds memory on big files
# rows per SQLite INSERT: 8 values each stays under 999, the fewest values older SQLite
# builds allow in one statement
ROWS_PER_INSERT = 100


def resolve_series(
    *, connection: Connection, series: pd.DataFrame, cache: dict[tuple[str, ...], int]
) -> np.ndarray:
    """Ids of the series in ``series`` (one row per distinct line), creating the new ones."""
    keys = [tuple(str(v) for v in row) for row in series[list(SERIES_COLUMNS)].itertuples(
        index=False, name=None)]
    missing = [k for k in dict.fromkeys(keys) if k not in cache]
    if missing:
        table = CostSeries.__table__  # type: ignore[attr-defined]
        columns = [table.c[c] for c in SERIES_COLUMNS]
        if not cache:
            for row in connection.execute(select(table.c.id, *columns)):
                cache[tuple(row[1:])] = row[0]
            missing = [k for k in missing if k not in cache]
        if missing:
            connection.execute(
                insert(table), [dict(zip(SERIES_COLUMNS, k, strict=True)) for k in missing]
            )
            wanted = {
                c: sorted({k[i] for k in missing}) for i, c in enumerate(SERIES_COLUMNS[:3])
            }
            statement = select(table.c.id, *columns).where(
                *[table.c[c].in_(values) for c, values in wanted.items()]
            )
            for row in connection.execute(statement):
                cache[tuple(row[1:])] = row[0]
    return np.array([cache[k] for k in keys], dtype=np.int64)


def replace_scopes(
    *, connection: Connection, delivery_id: str, scopes: Iterable[tuple[str, datetime]]
) -> int:
    """Delete points of these (billing account, billing period) scopes from earlier deliveries.

    A re-delivered export is a snapshot of its billing period: it replaces, never adds.
    """
    earlier = select(col(IngestRun.id)).where(col(IngestRun.delivery_id) != delivery_id)
    removed = 0
    for account, period in scopes:
        scope = (
            *_scope(account, period),
            col(CostPoint.ingest_run_id).in_(earlier),
        )
        runs = connection.execute(
            select(col(CostPoint.ingest_run_id)).where(*scope).distinct()
        ).scalars().all()
        if not runs:
            continue
        result = connection.execute(delete(CostPoint).where(*scope))
        removed += result.rowcount or 0
        connection.execute(
            update(IngestRun)
            .where(col(IngestRun.id).in_(runs), col(IngestRun.superseded_at).is_(None))
            .values(superseded_at=datetime.now(UTC))
        )
    return removed


def other_runs_stored(*, connection: Connection, run_ids: Iterable[int]) -> bool:
    """Whether any run but these may hold points (a run that succeeded or was held back)."""
    statement = select(col(IngestRun.id)).where(
        col(IngestRun.id).notin_(list(run_ids)),
        col(IngestRun.status).in_((RunStatus.SUCCEEDED, RunStatus.HELD)),
    ).limit(1)
    return connection.execute(statement).first() is not None


def scope_totals_by_run(
    *, connection: Connection, account: str, period: datetime, exclude_runs: Iterable[int] = ()
) -> dict[int, tuple[int, float]]:
    """Line items and effective cost of one (billing account, billing period), by ingest run
    (but ``exclude_runs``)."""
    statement = (
        select(col(CostPoint.ingest_run_id), func.sum(CostPoint.line_items),
               func.sum(CostPoint.effective_cost))
        .where(*_scope(account, period),
               col(CostPoint.ingest_run_id).notin_(list(exclude_runs)))
        .group_by(col(CostPoint.ingest_run_id))
    )
    return {int(run): (int(rows or 0), float(spend or 0.0))
            for run, rows, spend in connection.execute(statement)}


def delete_scope_points(
    *, connection: Connection, account: str, period: datetime, run_ids: Iterable[int]
) -> int:
    """Delete the points these runs wrote for one (billing account, billing period)."""
    result = connection.execute(delete(CostPoint).where(
        *_scope(account, period),
        col(CostPoint.ingest_run_id).in_(list(run_ids)),
    ))
    return result.rowcount or 0


def insert_points(*, connection: Connection, run_id: int, points: pd.DataFrame) -> int:
    """Bulk-load hourly points (``series_id``, ``hour``, ``billing_period_start``, values).

    The one place that speaks a dialect: ORM-style inserts run at a few thousand rows a
    second, so SQLite gets plain DB-API statements and PostgreSQL a ``COPY``. Times are
    written as UTC text in the exact form SQLAlchemy's UTC datetime type reads back.

    SQLite gets :data:`ROWS_PER_INSERT` rows per ``INSERT`` (one ``VALUES`` list each): the
    driver's cost is per statement run as much as per value bound, and one statement per
    row took 1.7 times as long.
    """
    if points.empty:
        return 0
    columns = ["ingest_run_id", "series_id", "hour", "billing_period_start",
               *POINT_VALUE_COLUMNS]
    postgres = connection.dialect.name == "postgresql"
    points = points.sort_values(["series_id", "hour"], kind="stable")
    raw = connection.connection.driver_connection
    assert raw is not None, "a checked-out connection has a driver connection"
    for start in range(0, len(points), INSERT_BATCH):
        batch = points.iloc[start:start + INSERT_BATCH]
        if postgres:
            statement = f"COPY cost_point ({', '.join(columns)}) FROM STDIN"
            with raw.cursor() as cursor, cursor.copy(statement) as copy:
                for row in _point_rows(batch, run_id, postgres=True):
                    copy.write_row(row)
        else:
            _insert_sqlite(raw, columns, _point_columns(batch, run_id, postgres=False))
    return len(points)


def _insert_sqlite(raw: Any, columns: list[str], data: list[list[Any]]) -> None:
    """Insert rows given as columns, :data:`ROWS_PER_INSERT` to a statement."""
    width, count = len(columns), len(data[0])
    values = [None] * (width * count)
    for index, column in enumerate(data):  # row after row, as the statement binds them
        values[index::width] = column
    row = f"({', '.join('?' for _ in columns)})"
    head = f"INSERT INTO cost_point ({', '.join(columns)}) VALUES "
    full = count - count % ROWS_PER_INSERT
    size = width * ROWS_PER_INSERT
    cursor = raw.cursor()
    try:
        if full:
            cursor.executemany(head + ", ".join([row] * ROWS_PER_INSERT),
                               [values[i:i + size] for i in range(0, width * full, size)])
        if full < count:
            cursor.execute(head + ", ".join([row] * (count - full)), values[width * full:])
    finally:
        cursor.close()


def load_points(
    *,
    connection: Connection,
    start: datetime | None = None,
    end: datetime | None = None,
    project: str | None = None,
    environment: str | None = None,
    columns: Sequence[str] = ("project", "environment", "owner", "service_name", "region",
                              "charge_category", "sub_account_name"),
    quantities: bool = False,
) -> pd.DataFrame:
    """Hourly spend summed over the given series columns, as a frame (hour as aware UTC);
    with ``quantities``, the units consumed too (``usage_quantity``).

    A day rolled up by retention comes back as a step: its total spread evenly over its 24
    hours, so a chart of old days shows the day's level rather than a spike at midnight.
    """
    group = [getattr(CostSeries, c) for c in columns]
    series = select(col(CostSeries.id))
    if project is not None:
        series = series.where(col(CostSeries.project) == project)
    if environment is not None:
        series = series.where(col(CostSeries.environment) == environment)
    # series first, then a range of hours per series: the (series_id, hour) index answers it
    statement = (
        select(
            col(CostPoint.hour),
            *group,
            func.sum(CostPoint.billed_cost).label("billed_cost"),
            func.sum(CostPoint.effective_cost).label("effective_cost"),
            *([func.sum(CostPoint.usage_quantity).label("usage_quantity")] if quantities
              else []),
        )
        .join(CostSeries, col(CostSeries.id) == col(CostPoint.series_id))
        .where(col(CostPoint.series_id).in_(series))
        .group_by(col(CostPoint.hour), col(CostPoint.hours), *group)
    )
    if start is not None:
        statement = statement.where(col(CostPoint.hour) >= start)
    if end is not None:
        statement = statement.where(col(CostPoint.hour) < end)
    statement = statement.add_columns(col(CostPoint.hours))
    # plain tuples: pandas probes each Row for namedtuple fields, ten times slower than the read
    rows = [tuple(row) for row in connection.execute(statement).all()]
    values = ["billed_cost", "effective_cost", *(["usage_quantity"] if quantities else [])]
    frame = pd.DataFrame(rows, columns=["hour", *columns, *values, "hours"])
    if not frame.empty:
        frame["hour"] = pd.to_datetime(frame["hour"], utc=True)
    spread = frame["hours"] > 1
    if spread.any():
        frame = pd.concat([frame[~spread], _as_hours(frame[spread], values)], ignore_index=True)
        frame = frame.groupby(["hour", *columns], as_index=False, sort=False)[values].sum()
    return frame.drop(columns="hours", errors="ignore")


def _as_hours(points: pd.DataFrame, values: list[str]) -> pd.DataFrame:
    """Points that stand for several hours, as that many hourly points sharing the values."""
    hours = points["hours"].to_numpy()
    out = points.loc[points.index.repeat(hours)].copy()
    offsets = np.concatenate([np.arange(n) for n in hours])
    out["hour"] = out["hour"] + pd.to_timedelta(offsets, unit="h")
    out[values] = out[values].div(out["hours"], axis=0)
    return out.drop(columns="hours")


def data_range(*, connection: Connection) -> tuple[datetime | None, datetime | None]:
    """First and last hour with any point (per-series index look-ups, no table scan)."""
    def per_series_hour(aggregate: Callable[[Any], Any]) -> ScalarSelect[Any]:
        return (
            select(aggregate(CostPoint.hour))
            .where(col(CostPoint.series_id) == col(CostSeries.id))
            .correlate(CostSeries)
            .scalar_subquery()
        )

    per_series = (
        select(per_series_hour(func.min).label("first"), per_series_hour(func.max).label("last"))
        .select_from(CostSeries)
        .subquery()
    )
    row = connection.execute(
        select(func.min(per_series.c.first), func.max(per_series.c.last))
    ).one()
    return stored_utc(row[0]), stored_utc(row[1])


def _scope(account: str, period: datetime) -> tuple[Any, ...]:
    """The points of a file delivery's (billing account, billing period); window reads of
    other sources are never part of it, whatever account they carry."""
    in_account = select(col(CostSeries.id)).where(col(CostSeries.billing_account_id) == account)
    from_files = select(col(IngestRun.id)).where(col(IngestRun.window_start).is_(None))
    return (col(CostPoint.series_id).in_(in_account),
            col(CostPoint.billing_period_start) == period,
            col(CostPoint.ingest_run_id).in_(from_files))


def _point_rows(points: pd.DataFrame, run_id: int, *, postgres: bool) -> list[tuple]:
    return list(zip(*_point_columns(points, run_id, postgres=postgres), strict=True))


def _point_columns(points: pd.DataFrame, run_id: int, *, postgres: bool) -> list[list[Any]]:
    data = [
        [run_id] * len(points),
        np.asarray(points["series_id"], dtype=np.int64).tolist(),
        _utc_text(points["hour"], postgres=postgres),
        _utc_text(points["billing_period_start"], postgres=postgres),
    ]
    for column in POINT_VALUE_COLUMNS:
        kind = int if column == "line_items" else float
        data.append(np.asarray(points[column], dtype=kind).tolist())
    return data


def _utc_text(values: pd.Series, *, postgres: bool) -> list[str]:
    codes, uniques = pd.factorize(values)
    stamps = pd.DatetimeIndex(uniques)
    stamps = stamps.tz_convert("UTC") if stamps.tz is not None else stamps
    text = stamps.strftime("%Y-%m-%d %H:%M:%S+00" if postgres else "%Y-%m-%d %H:%M:%S.%f")
    return np.asarray(text, dtype=object)[codes].tolist()
