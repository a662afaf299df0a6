"""The changes recorded before an anomaly started: a note on its alert, and the choices of the
playbook's "what changed" step (``options_from: changes``).

Both read the same window: from ``changes.window_hours`` before the anomaly started to an
hour after its newest anomalous hour (a rollback made during the incident is also a change
worth seeing), on the anomaly's project, on its environment or on an environment nobody gave.
The note lists the newest ``changes.note_limit``; the step offers up to :data:`MAX_CHOICES`.

Note sources are called with the session and the anomaly only, so the window and limit come
from :func:`use_change_window`, which ``bot.wiring.build_services`` calls with the settings
(as ``use_currency`` sets the currency of every amount shown).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

from sqlmodel import Session

from bot.anomaly.views import AlertNote
from bot.changes.config import ChangeSettings
from bot.chat.text import when
from bot.playbook import Option
from bot.playbook.schema import MAX_OPTION_TEXT
from storage import queries
from storage.models import Anomaly, ChangeEvent
from storage.timeutil import as_utc

__all__ = ["MAX_CHOICES", "change_line", "change_options", "changes_before", "changes_note",
           "use_change_window"]

MAX_CHOICES = 20  # a longer list is not read during an incident
CHANGE_PREFIX = "change:"

_window = {"hours": ChangeSettings().window_hours, "limit": ChangeSettings().note_limit}


def use_change_window(settings: ChangeSettings) -> None:
    """How far back alerts look for changes, and how many the note lists."""
    _window.update(hours=settings.window_hours, limit=settings.note_limit)


def changes_before(session: Session, anomaly: Anomaly, *, limit: int) -> Sequence[ChangeEvent]:
    """The anomaly's changes in the window, newest first."""
    started = as_utc(anomaly.started_at)
    newest = as_utc(anomaly.resolved_at or anomaly.last_seen_at or anomaly.started_at)
    return queries.changes.changes_between(
        db_session=session, project=anomaly.project, environment=anomaly.environment,
        start=started - timedelta(hours=_window["hours"]),
        end=max(newest, started) + timedelta(hours=1), limit=limit)


def changes_note(session: Session, anomaly: Anomaly) -> AlertNote | None:
    """"What changed in the 24 hours before it started": one line per change."""
    found = changes_before(session, anomaly, limit=int(_window["limit"]))
    if not found:
        return None
    started = as_utc(anomaly.started_at)
    return AlertNote(heading=f"What changed in the {_hours(_window['hours'])} before it started",
                     lines=tuple(change_line(change, started=started) for change in found))


def change_line(change: ChangeEvent, *, started: datetime | None = None) -> str:
    """``deploy · api · Bump the model · by alice · Sep 1 08:10 UTC`` (plain text)."""
    parts = [change.kind]
    if change.service_name:
        parts.append(change.service_name)
    parts.append(_one_line(change.summary))
    if change.actor:
        parts.append(f"by {change.actor}")
    at = as_utc(change.at)
    stamp = when(at)
    if started is not None and at >= started:
        stamp += " (after it started)"
    parts.append(stamp)
    if change.url:
        parts.append(change.url)
    return " · ".join(parts)


def change_options(session: Session, anomaly: Anomaly) -> list[Option]:
    """The changes in the window as choices of a select (``options_from: changes``): the
    label says what and when, the value names the stored change."""
    options = []
    for change in changes_before(session, anomaly, limit=MAX_CHOICES):
        what = " · ".join(p for p in (change.kind, change.service_name,
                                      _one_line(change.summary)) if p)
        stamp = f" ({when(as_utc(change.at), zone=False)})"
        room = MAX_OPTION_TEXT - len(stamp)
        label = (what if len(what) <= room else what[: room - 1] + "…") + stamp
        options.append(Option(value=f"{CHANGE_PREFIX}{change.id}", label=label))
    return options


def _one_line(text: str) -> str:
    first = text.strip().splitlines()[0] if text.strip() else ""
    return first if len(first) <= 200 else first[:199] + "…"


def _hours(hours: float) -> str:
    whole = int(hours) if float(hours).is_integer() else hours
    return "hour" if whole == 1 else f"{whole} hours"
