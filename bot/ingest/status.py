"""Where each source stands, as ``spendwatch sources`` and the alerts show it.

A source's *lag* is how far its newest hour of data is behind now: the end of that hour to
``now``. Alerts say "data as of" the newest hour of each source, so a responder knows whether
a quiet line is really quiet or its data has not arrived yet.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta

from rich.console import Console
from rich.markup import escape
from rich.table import Table
from sqlmodel import Session

from bot.ingest.enums import FileStatus
from bot.ingest.poll import SourceOutcome
from bot.ingest.window import WindowReport
from bot.settings import Settings
from storage import queries
from storage.models import SourceState
from storage.timeutil import as_utc

__all__ = ["SourceStatus", "freshness", "print_outcomes", "print_status", "source_status",
           "status_json"]

HOUR = timedelta(hours=1)


@dataclass(frozen=True)
class SourceStatus:
    label: str
    kind: str
    configured: bool  # False: state of a source no longer in the config
    last_success_at: datetime | None = None
    last_attempt_at: datetime | None = None
    newest_hour: datetime | None = None
    lag_hours: float | None = None
    rows_last: int = 0
    rows_total: int = 0
    failures: int = 0
    last_error: str | None = None
    last_error_at: datetime | None = None
    retry_at: datetime | None = None
    provisional_from: datetime | None = None
    paid_requests_total: int = 0

    @property
    def healthy(self) -> bool:
        return self.configured and self.failures == 0 and self.last_success_at is not None


def source_status(*, db_session: Session, settings: Settings, now: datetime | None = None
                  ) -> list[SourceStatus]:
    """Every configured source (in config order), then any state left by removed ones."""
    now = now or datetime.now(UTC)
    states = {s.name: s for s in queries.sources.list_states(db_session=db_session)}
    out = []
    for source in settings.sources:
        state = states.pop(source.label, None)
        out.append(_status(source.label, source.type, True, state, now))
    for name, state in sorted(states.items()):
        out.append(_status(name, state.kind, False, state, now))
    return out


def _status(label: str, kind: str, configured: bool, state: SourceState | None,
            now: datetime) -> SourceStatus:
    if state is None:
        return SourceStatus(label=label, kind=kind, configured=configured)

    def utc(value: datetime | None) -> datetime | None:
        return as_utc(value) if value is not None else None

    newest = utc(state.newest_hour)
    lag = (now - (newest + HOUR)).total_seconds() / 3600 if newest else None
    return SourceStatus(
        label=label, kind=kind, configured=configured,
        last_success_at=utc(state.last_success_at), last_attempt_at=utc(state.last_attempt_at),
        newest_hour=newest, lag_hours=round(max(lag, 0.0), 2) if lag is not None else None,
        rows_last=state.rows_last, rows_total=state.rows_total, failures=state.failures,
        last_error=state.last_error, last_error_at=utc(state.last_error_at),
        retry_at=utc(state.retry_at), provisional_from=utc(state.provisional_from),
        paid_requests_total=state.paid_requests_total)


def freshness(statuses: Sequence[SourceStatus]) -> list[tuple[str, datetime]]:
    """(source, end of its newest hour) for each configured source with data: "data as of"."""
    return [(s.label, s.newest_hour + HOUR) for s in statuses
            if s.configured and s.newest_hour is not None]


def _when(moment: datetime | None) -> str:
    return f"{moment:%Y-%m-%d %H:%M}" if moment else "never"


def _lag(hours: float | None) -> str:
    if hours is None:
        return "-"
    if hours < 48:
        return f"{hours:.1f} h"
    return f"{hours / 24:.1f} d"


def print_status(console: Console, statuses: Sequence[SourceStatus]) -> None:
    table = Table(title="Sources (times in UTC)", title_justify="left")
    for column in ("source", "type", "status", "last success", "rows last / total",
                   "data as of", "lag"):
        table.add_column(column, justify="right" if column.startswith(("rows", "lag"))
                         else "left")
    for s in statuses:
        if not s.configured:
            status = "not in the config"
        elif s.failures:
            status = f"failing ({s.failures}×)"
        else:
            status = "ok" if s.last_success_at else "not read yet"
        style = "red" if s.failures else ("dim" if not s.configured else "")
        table.add_row(escape(s.label), s.kind, status, _when(s.last_success_at),
                      f"{s.rows_last:,} / {s.rows_total:,}",
                      _when(s.newest_hour + HOUR) if s.newest_hour else "-", _lag(s.lag_hours),
                      style=style)
    console.print(table)
    if not statuses:
        console.print("No sources configured: add them under sources: in the config.")
    for s in statuses:
        if s.failures:
            retry = f"; next try {_when(s.retry_at)}" if s.retry_at else ""
            console.print(f"[red]{escape(s.label)}[/red]: last error at "
                          f"{_when(s.last_error_at)}: {escape(s.last_error or '')}{retry}",
                          soft_wrap=True, highlight=False)


def status_json(statuses: Sequence[SourceStatus]) -> str:
    def plain(s: SourceStatus) -> dict[str, object]:
        data = asdict(s)
        for key, value in data.items():
            if isinstance(value, datetime):
                data[key] = value.isoformat()
        data["healthy"] = s.healthy
        return data

    return json.dumps([plain(s) for s in statuses], indent=2)


def print_outcomes(console: Console, outcomes: Sequence[SourceOutcome]) -> None:
    """One line per source read by ``spendwatch ingest`` without a path."""
    table = Table(title="Ingest (every configured source)", title_justify="left")
    for column in ("source", "type", "result", "window (UTC)", "rows kept", "rejected",
                   "points", "replaced", "requests"):
        table.add_column(column, justify="right" if column in (
            "rows kept", "rejected", "points", "replaced", "requests") else "left")
    for o in outcomes:
        report = o.report
        result = "ok" if o.ok else ("skipped" if o.skipped else "failed")
        if isinstance(report, WindowReport):
            window = (f"{report.window.start:%m-%d %H:%M} to {report.window.end:%m-%d %H:%M}"
                      if report.window else "")
            table.add_row(escape(o.label), o.kind, result, window, f"{report.rows_kept:,}",
                          f"{report.rows_rejected:,}", f"{report.points_written:,}",
                          f"{report.points_replaced:,}",
                          f"{report.requests}" + (f" ({report.paid_requests} paid)"
                                                  if report.paid_requests else ""),
                          style="" if o.ok else "red")
        else:
            files = report.files if report is not None else []
            kept = sum(f.rows_kept for f in files if f.status == FileStatus.INGESTED)
            table.add_row(escape(o.label), o.kind, result, f"{len(files)} file(s)",
                          f"{kept:,}", f"{sum(f.rows_rejected for f in files):,}",
                          f"{sum(f.points_written for f in files):,}",
                          f"{sum(f.points_replaced for f in files):,}", "-",
                          style="" if o.ok else "red")
    console.print(table)
    for o in outcomes:
        if o.message or o.skipped:
            console.print(f"[{'yellow' if o.skipped else 'red'}]{escape(o.label)}: "
                          f"{escape(o.skipped or o.message or '')}[/]", soft_wrap=True)
        if isinstance(o.report, WindowReport):
            for note in o.report.notes:
                console.print(f"[yellow]{escape(o.label)}: {escape(note)}[/yellow]",
                              soft_wrap=True)
            for reason, count in o.report.rejected_reasons.items():
                console.print(f"{escape(o.label)}: {count:,} row(s) refused: {escape(reason)}"
                              + (f" (see {escape(o.report.quarantine_path)})"
                                 if o.report.quarantine_path else ""), soft_wrap=True)
            if o.report.outside_window:
                console.print(f"{escape(o.label)}: {o.report.outside_window:,} row(s) before "
                              f"the window's start ignored; check the source's query or "
                              f"filter", soft_wrap=True)
