"""Read every configured source once: the ingest half of the scheduler's poll.

FOCUS exports are read as deliveries (``bot.ingest.service``), the other sources by window
(``bot.ingest.window``). Each source stands alone: one that fails is logged with what to fix,
recorded in ``source_state`` and backed off, and the others go on. ``spendwatch sources``
shows the state this leaves.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy.engine import Engine

from bot.ingest.enums import FileStatus
from bot.ingest.report import IngestReport
from bot.ingest.service import ingest_source
from bot.ingest.sources.base import redact
from bot.ingest.sources.config import FocusSourceSettings, SourceSettings
from bot.ingest.sources.focus import FocusFileError
from bot.ingest.sources.registry import window_source
from bot.ingest.window import WindowReport, backoff, ingest_window
from bot.settings import Settings
from storage import queries
from storage.db import session_scope

__all__ = ["SourceOutcome", "read_source", "read_sources"]

log = logging.getLogger(__name__)


@dataclass
class SourceOutcome:
    """What one source's read did, whichever kind it is."""

    label: str
    kind: str
    ok: bool
    report: IngestReport | WindowReport | None = None
    skipped: str | None = None
    message: str | None = None

    @property
    def rows_kept(self) -> int:
        if isinstance(self.report, WindowReport):
            return self.report.rows_kept
        if isinstance(self.report, IngestReport):
            return sum(f.rows_kept for f in self.report.files if f.status == FileStatus.INGESTED)
        return 0


def read_sources(*, engine: Engine, settings: Settings, now: datetime | None = None,
                 respect_backoff: bool = True, only: str | None = None) -> list[SourceOutcome]:
    """Read each source (or only the one labelled ``only``) once; never raises for a source."""
    now = now or datetime.now(UTC)
    outcomes = []
    for index, source in enumerate(settings.sources):
        if only is not None and source.label != only:
            continue
        outcomes.append(read_source(engine=engine, settings=settings, source=source, now=now,
                                    respect_backoff=respect_backoff, index=index))
    return outcomes


def read_source(*, engine: Engine, settings: Settings, source: SourceSettings, now: datetime,
                respect_backoff: bool = True, index: int = 0) -> SourceOutcome:
    """Read one source (``index``: its place under ``sources:``, for messages)."""
    if isinstance(source, FocusSourceSettings):
        return _read_focus(engine, settings, source, now, index)
    try:
        reader = window_source(source)
    except Exception as exc:  # e.g. a driver that is not installed, a key that is not set
        message = redact(f"{source.label}: cannot be set up: {exc}")
        log.warning("%s", message)
        _record_failure(engine, settings, source.label, source.type, message, now)
        return SourceOutcome(source.label, source.type, ok=False, message=message)
    report = ingest_window(engine=engine, settings=settings, source_settings=source,
                           source=reader, now=now, respect_backoff=respect_backoff)
    return SourceOutcome(source.label, source.type, ok=report.ok, report=report,
                         skipped=report.skipped, message=report.message)


def _read_focus(engine: Engine, settings: Settings, source: FocusSourceSettings,
                now: datetime, index: int) -> SourceOutcome:
    label = source.label
    try:
        report = ingest_source(engine=engine, settings=settings, source=source)
    except FocusFileError as exc:  # e.g. the folder went away after the start-up check
        log.warning("source %s (sources.%d.path): %s; detection goes on with the store",
                    label, index, exc)
        _record_failure(engine, settings, label, source.type, str(exc), now)
        return SourceOutcome(label, source.type, ok=False, message=str(exc))
    except Exception as exc:
        log.exception("source %s could not be ingested; detection goes on with the store",
                      label)
        message = redact(f"{type(exc).__name__}: {exc}".splitlines()[0])
        _record_failure(engine, settings, label, source.type, message, now)
        return SourceOutcome(label, source.type, ok=False, message=message)
    for failed in report.failed:
        log.warning("source %s: %s", label, failed.message)
    for held in report.held:  # stays held, and read again, until someone decides
        log.warning("source %s: %s", label, held.message)
    _record_focus(engine, label, source.type, report, now)
    problems = [f.message for f in report.failed if f.message] + [h.message for h in report.held]
    return SourceOutcome(label, source.type, ok=report.ok, report=report,
                         message="; ".join(problems) or None)


def _record_focus(engine: Engine, label: str, kind: str, report: IngestReport,
                  now: datetime) -> None:
    read = [f for f in report.files if f.status == FileStatus.INGESTED and f.run_id is not None]
    with session_scope(engine) as session:
        state = queries.sources.get_state(db_session=session, name=label)
        newest = state.newest_hour if state else None
        if read or newest is None:
            connection = session.connection()
            runs = queries.sources.current_run_ids(connection=connection, source=label)
            newest = queries.sources.newest_hour(connection=connection, run_ids=runs) or newest
        rows = sum(f.rows_kept for f in read)
        fields: dict[str, object] = {"last_attempt_at": now, "newest_hour": newest,
                                     "rows_last": rows,
                                     "rows_total": (state.rows_total if state else 0) + rows,
                                     "points_last": sum(f.points_written for f in read)}
        if report.ok:
            fields.update(last_success_at=now, failures=0, retry_at=None)
        else:
            problems = [f.message for f in report.failed if f.message]
            problems += [h.message for h in report.held]
            fields.update(last_error="; ".join(problems)[:2000], last_error_at=now,
                          failures=(state.failures if state else 0) + 1)
        queries.sources.save_state(db_session=session, name=label, kind=kind, **fields)


def _record_failure(engine: Engine, settings: Settings, label: str, kind: str, message: str,
                    now: datetime) -> None:
    with session_scope(engine) as session:
        state = queries.sources.get_state(db_session=session, name=label)
        failures = (state.failures if state else 0) + 1
        wait = backoff(failures, poll=timedelta(minutes=settings.schedule.poll_minutes))
        queries.sources.save_state(db_session=session, name=label, kind=kind,
                                   last_attempt_at=now, last_error=message, last_error_at=now,
                                   failures=failures, retry_at=now + wait)
