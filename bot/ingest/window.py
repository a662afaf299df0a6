"""Read a window source (a provider API, a warehouse) into hourly points, incrementally.

Each read covers ``[start, end)``: ``end`` is the end of the current hour; ``start`` is
``backfill_days`` back on the first read, and afterwards the watermark less ``overlap_hours``
(late and restated data), or the first hour the last read called provisional if that is
earlier, floored to a UTC midnight so daily rows are always read whole. The read is the
source's whole truth from ``start`` on: in one transaction its earlier points from that hour
on are deleted and the new ones written, so restated hours replace, never add, and a read that
fails part-way leaves nothing of itself. The state (watermark, freshness, errors, backoff) is
kept in ``source_state``.

Rows go through the same parsing, validation, quarantine, allocation and aggregation as FOCUS
files (``bot.ingest.sources.focus_parse``, ``bot.ingest.writer``).
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
from sqlalchemy.engine import Connection, Engine
from sqlmodel import Session

from bot.ingest.allocation import Allocator
from bot.ingest.enums import FileStatus
from bot.ingest.report import FileReport
from bot.ingest.sources.base import ReadStats, SourceError, Window, WindowSource, redact
from bot.ingest.sources.config import WindowSourceSettings
from bot.ingest.sources.focus_parse import (
    FocusFileError,
    ParsedChunk,
    canonical_frame,
    check_columns,
    parse_frame,
    resolve_columns,
)
from bot.ingest.writer import PointWriter
from bot.settings import Settings
from storage import queries
from storage.db import session_scope
from storage.models import SourceState

__all__ = ["WindowReport", "backoff", "ingest_window", "plan_window"]

logger = logging.getLogger(__name__)

HOUR = timedelta(hours=1)
MAX_BACKOFF = timedelta(hours=6)


@dataclass
class WindowReport:
    """What one read of a window source did."""

    source: str
    kind: str
    ok: bool
    window: Window | None = None
    skipped: str | None = None  # why it was not read now (backing off after failures)
    rows_read: int = 0
    rows_kept: int = 0
    rows_rejected: int = 0
    outside_window: int = 0
    points_written: int = 0
    points_replaced: int = 0
    requests: int = 0
    paid_requests: int = 0
    newest_hour: datetime | None = None
    provisional_from: datetime | None = None
    message: str | None = None
    notes: list[str] = field(default_factory=list)
    warnings: dict[str, int] = field(default_factory=dict)
    rejected_reasons: dict[str, int] = field(default_factory=dict)
    quarantine_path: str | None = None


def floor_hour(moment: datetime) -> datetime:
    return moment.astimezone(UTC).replace(minute=0, second=0, microsecond=0)


def floor_day(moment: datetime) -> datetime:
    return floor_hour(moment).replace(hour=0)


def plan_window(*, state: SourceState | None, source: WindowSourceSettings,
                now: datetime) -> Window:
    """The window the next read of ``source`` covers (see the module docstring)."""
    end = floor_hour(now) + HOUR
    if state is None or state.watermark is None:
        start = now - timedelta(days=source.backfill_days)
    else:
        start = _utc(state.watermark) - timedelta(hours=source.overlap_hours)
        if state.provisional_from is not None:
            start = min(start, _utc(state.provisional_from))
    start = min(floor_day(start), floor_day(now))
    return Window(start=start, end=end, now=now)


def backoff(failures: int, *, poll: timedelta) -> timedelta:
    """How long the scheduler leaves a failing source alone: the poll interval, doubled with
    each failure in a row after the first, up to six hours."""
    return min(poll * (2 ** max(failures - 1, 0)), max(MAX_BACKOFF, poll))


def ingest_window(*, engine: Engine, settings: Settings, source_settings: WindowSourceSettings,
                  source: WindowSource, now: datetime | None = None,
                  respect_backoff: bool = True) -> WindowReport:
    """Read ``source`` once, from where it stands; never raises for a failed read."""
    now = (now or datetime.now(UTC)).astimezone(UTC)
    label, kind = source_settings.label, source_settings.type
    with session_scope(engine) as session:
        state = queries.sources.get_state(db_session=session, name=label)
        retry_at = _utc(state.retry_at) if state and state.retry_at else None
        failures = state.failures if state else 0
        window = plan_window(state=state, source=source_settings, now=now)
    if respect_backoff and retry_at is not None and retry_at > now:
        return WindowReport(source=label, kind=kind, ok=False, window=window,
                            skipped=f"failed {failures} time(s) in a row; next try at "
                                    f"{retry_at:%Y-%m-%d %H:%M} UTC")
    report = WindowReport(source=label, kind=kind, ok=False, window=window)
    stats = ReadStats()
    try:
        with engine.begin() as connection, _closing(source):
            _read_into(connection, settings, source_settings, source, window, stats, report)
    except (SourceError, FocusFileError) as exc:
        _failed(engine, report, failures, settings, now, str(exc))
        return report
    except Exception as exc:  # one source's failure must not stop the others
        logger.exception("source %s: reading failed", label)
        _failed(engine, report, failures, settings, now,
                f"{label}: {type(exc).__name__}: {exc}".splitlines()[0])
        return report
    report.ok = True
    report.requests, report.paid_requests = stats.requests, stats.paid_requests
    report.provisional_from = stats.provisional_from
    report.notes = list(stats.notes)
    newest = stats.newest_hour or report.newest_hour
    report.newest_hour = newest
    with session_scope(engine) as session:
        total = state.rows_total if state else 0
        paid = state.paid_requests_total if state else 0
        queries.sources.save_state(
            db_session=session, name=label, kind=kind, watermark=window.end,
            provisional_from=stats.provisional_from,
            newest_hour=newest or (state.newest_hour if state else None),
            last_attempt_at=now, last_success_at=now, failures=0, retry_at=None,
            rows_last=report.rows_kept, rows_total=total + report.rows_kept,
            points_last=report.points_written, requests_last=stats.requests,
            paid_requests_total=paid + stats.paid_requests)
    # a source that bills its requests logs them itself, failed reads included
    for note in stats.notes:
        logger.warning("source %s: %s", label, note)
    return report


def _read_into(connection: Connection, settings: Settings, source_settings: WindowSourceSettings,
               source: WindowSource, window: Window, stats: ReadStats,
               report: WindowReport) -> None:
    label = source_settings.label
    with _session(connection) as session:
        run = queries.runs.create_ingest_run(
            db_session=session, delivery_id=_delivery_id(label, window), source=label,
            file_path=f"{window.start:%Y-%m-%dT%H:%MZ}..{window.end:%Y-%m-%dT%H:%MZ}",
            checksum="", fingerprint=_delivery_id(label, window), file_size=0)
        run.window_start = window.start
        session.flush()
        assert run.id is not None
        run_id = run.id
    report.points_replaced = queries.sources.replace_window(
        connection=connection, source=label, start=window.start, keep_run=run_id,
        now=window.now)
    file_report = FileReport(path=label, status=FileStatus.INGESTED, run_id=run_id)
    writer = PointWriter(settings=settings, allocator=Allocator(settings.allocation),
                         report=file_report, file=Path(_safe_name(label)), run_id=run_id,
                         connection=connection)
    newest: pd.Timestamp | None = None
    currency = getattr(source_settings, "currency", None)
    try:
        offset = 0
        for table in source.read(window, stats):
            chunk, outside, top = _parse(table, label, window, offset, currency)
            offset += table.num_rows
            report.outside_window += outside
            if top is not None and (newest is None or top > newest):
                newest = top
            writer.add(chunk)
        writer.flush()
    finally:
        writer.close()
    fields = writer.run_fields()
    if report.outside_window:
        warnings = dict(fields.get("warnings") or {})  # type: ignore[call-overload]
        warnings["rows before the window's start: ignored (the source returned them although "
                 "they were not asked for)"] = report.outside_window
        fields["warnings"] = warnings
    with _session(connection) as session:
        queries.runs.finish_ingest_run(db_session=session, run_id=run_id, **fields)
    report.rows_read = file_report.rows_read
    report.rows_kept = file_report.rows_kept
    report.rows_rejected = file_report.rows_rejected
    report.points_written = file_report.points_written
    report.warnings = {**file_report.warnings, **file_report.notes}
    report.rejected_reasons = dict(file_report.rejected_reasons)
    report.quarantine_path = file_report.quarantine_path
    report.newest_hour = newest.to_pydatetime() if newest is not None else None


def _parse(table: pa.Table, label: str, window: Window, offset: int, currency: str | None
           ) -> tuple[ParsedChunk, int, pd.Timestamp | None]:
    """One table of a read -> a parsed chunk; rows starting before the window are dropped."""
    names = table.schema.names
    defaults = {"currency": currency.strip().upper()} if currency else {}
    check_columns(label, names, defaults, delivery=False)
    frame = canonical_frame(table, resolve_columns(names), defaults=defaults)
    chunk = parse_frame(frame, row_numbers=np.arange(offset + 1, offset + 1 + table.num_rows))
    items = chunk.items
    outside = 0
    newest = None
    if not items.empty:
        early = (items["start"] < pd.Timestamp(window.start)).to_numpy()
        outside = int(early.sum())
        if outside:
            chunk.items = items.loc[~early]
        if not chunk.items.empty:
            newest = chunk.items["start"].max().floor("h")
    return chunk, outside, newest


def _failed(engine: Engine, report: WindowReport, failures: int, settings: Settings,
            now: datetime, message: str) -> None:
    message = redact(message)
    report.ok = False
    report.message = message
    failures += 1
    wait = backoff(failures, poll=timedelta(minutes=settings.schedule.poll_minutes))
    minutes = int(wait.total_seconds() // 60)
    after = f"{minutes // 60} h" if minutes % 60 == 0 else f"{minutes} min"
    logger.warning("source %s: %s (failure %d in a row; the scheduler tries again in %s; "
                   "the other sources go on)", report.source, message, failures, after)
    with session_scope(engine) as session:
        queries.sources.save_state(
            db_session=session, name=report.source, kind=report.kind, last_attempt_at=now,
            last_error=message, last_error_at=now, failures=failures, retry_at=now + wait)


@contextmanager
def _closing(source: WindowSource) -> Iterator[None]:
    """Release what a reader holds (a warehouse engine, an HTTP client) once it is read."""
    try:
        yield
    finally:
        close = getattr(source, "close", None)
        if callable(close):
            close()


@contextmanager
def _session(connection: Connection) -> Iterator[Session]:
    with Session(bind=connection, expire_on_commit=False) as session:
        yield session
        session.commit()


def _delivery_id(label: str, window: Window) -> str:
    digest = hashlib.sha256(f"{label}|{window.start.isoformat()}|{window.now.isoformat()}"
                            .encode()).hexdigest()
    return digest[:36]


def _safe_name(label: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in label) or "source"


def _utc(moment: datetime) -> datetime:
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
