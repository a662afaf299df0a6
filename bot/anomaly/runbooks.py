"""Runbooks reused: entries edited with their history kept, "seen before" on a new alert, and
the answers of the last walk offered again.

Choices made here, and why:

* **One entry per incident; versions are for corrections.** A walk that ends files a new entry
  even when the workload already has one with the same service and root cause. The count of
  "seen before" is then a count of incidents, the export lists each incident with who handled
  it and when, and an entry's versions only ever hold corrections of the same incident, never
  a second incident's text folded in. Editing an entry (:func:`edit_entry`) keeps the text it
  replaced as a :class:`~storage.models.RunbookRevision`, bumps ``version`` and stamps who and
  when; the newest text is what the next alert shows.
* **Who may edit**: whoever may act on the workload the entry was filed for (its incident's
  owner, :func:`bot.anomaly.access.check_may_act`); an entry without an incident only FinOps,
  or anyone when no responders are configured. Every edit is audited (``runbook.edited``).
* **"Seen before N times"** counts the earlier incidents on the same workload (project,
  environment, main service) that have a runbook entry: incidents that someone walked to a
  resolution. Incidents nobody documented (closed as expected, or back to normal on their own)
  are not counted, because the note's promise is "this was solved before, here is how".
* **Pre-fill** takes the answers of the newest earlier walk on the workload that ended in a
  runbook entry, preferring a walk of the same playbook, and fits them to the step as it is
  offered now (:func:`bot.playbook.prefill.fit_answers`). Nothing is stored: the form shows
  them, says where they come from, and the responder submits or changes them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime

from sqlmodel import Session

from bot.anomaly.access import NotAllowed, NothingChanged, ResponseError, check_may_act
from bot.anomaly.enums import AuditAction
from bot.anomaly.views import AlertNote, RevisionView, RunbookView, main_service, runbook_view
from bot.outbox.enums import Operation
from bot.playbook import Option, Playbook, PlaybookState, Step
from bot.playbook.engine import Answer
from bot.playbook.prefill import fit_answers
from bot.settings import Settings
from storage import queries
from storage.models import Anomaly, PlaybookRun, RunbookEntry, RunbookRevision
from storage.timeutil import as_utc

__all__ = [
    "MAX_ENTRY_TEXT",
    "EntryHistory",
    "Prefill",
    "edit_entry",
    "entry_history",
    "prefill_for",
    "earlier_text",
    "runbook_views",
    "seen_before_note",
    "version_text",
]

MAX_ENTRY_TEXT = 5000
SUMMARY_CHARS = 58  # each of cause and fix in the one-line summary (a note heading is 150)
_PARTS = {"root_cause": "root cause", "fix": "fix", "prevention": "prevention"}


@dataclass(frozen=True)
class Prefill:
    """An earlier walk's answers for one step, fitted to the step as offered now."""

    anomaly_id: int  # the earlier incident
    on: datetime  # when its walk ended (its runbook entry was filed)
    values: dict[str, Answer]  # field id -> the answer to show

    @property
    def note(self) -> str:
        return (f"Pre-filled from incident #{self.anomaly_id}, {as_utc(self.on):%Y-%m-%d}: "
                f"confirm or change each answer; nothing is saved until you submit.")


@dataclass(frozen=True)
class EntryHistory:
    """An entry as it reads now (with its earlier versions), and the workload it is filed for."""

    entry_id: int
    workload: tuple[str, str, str]  # project, environment, service
    anomaly_id: int | None
    view: RunbookView


# -- editing ---------------------------------------------------------------------------------


def edit_entry(*, db_session: Session, settings: Settings, entry_id: int, user: str,
               now: datetime, root_cause: str | None = None, fix: str | None = None,
               prevention: str | None = None, channel: str | None = None) -> RunbookEntry:
    """Replace parts of an entry's text; the text it had is kept as a revision.

    Raises :class:`ResponseError` (an unknown entry, nothing to change, an empty root cause or
    fix, a text too long), :class:`NotAllowed`, or :class:`NothingChanged` when the new text
    is what the entry already says.
    """
    if not user or not user.strip():
        raise ResponseError("say who is editing (--by NAME): the runbook shows it")
    entry = queries.runbooks.get_entry(db_session=db_session, entry_id=entry_id,
                                       for_update=True)
    if entry is None:
        raise ResponseError(f"runbook entry {entry_id} does not exist; the entry numbers are "
                            f"in `spendwatch runbook export` and `spendwatch runbook history`")
    _check_may_edit(db_session, settings, entry, user.strip(), channel)
    given = {"root_cause": root_cause, "fix": fix, "prevention": prevention}
    changes = {name: _checked(name, text) for name, text in given.items() if text is not None}
    if not changes:
        raise ResponseError("say what to change: --root-cause, --fix and/or --prevention")
    changes = {name: text for name, text in changes.items() if getattr(entry, name) != text}
    if not changes:
        raise NothingChanged(f"runbook entry {entry_id} already says that (v{entry.version}); "
                             f"nothing changed.")
    queries.runbooks.add_revision(db_session=db_session, revision=RunbookRevision(
        entry_id=entry_id, version=entry.version or 1, root_cause=entry.root_cause,
        fix=entry.fix, prevention=entry.prevention, author=entry.updated_by or entry.author,
        written_at=entry.updated_at or entry.created_at))
    for name, text in changes.items():
        setattr(entry, name, text)
    entry.version = (entry.version or 1) + 1
    entry.updated_by, entry.updated_at = user.strip(), now
    db_session.add(entry)
    queries.audit.add_audit(db_session=db_session, actor=user.strip(),
                            action=AuditAction.RUNBOOK_EDITED, subject_type="runbook_entry",
                            subject_id=str(entry_id),
                            detail={"version": entry.version, "changed": sorted(changes),
                                    "anomaly_id": entry.anomaly_id})
    if entry.anomaly_id is not None:  # its alert shows the entry: redraw it
        for alert in queries.outbox.alerts_of(db_session=db_session,
                                              anomaly_id=entry.anomaly_id):
            queries.outbox.enqueue(db_session=db_session, platform=alert.platform,
                                   channel=alert.channel, operation=Operation.UPDATE,
                                   alert_id=alert.id, now=now)
    return entry


def _check_may_edit(db_session: Session, settings: Settings, entry: RunbookEntry, user: str,
                    channel: str | None) -> None:
    anomaly = (queries.anomalies.get_anomaly(db_session=db_session, anomaly_id=entry.anomaly_id)
               if entry.anomaly_id is not None else None)
    if anomaly is not None:
        check_may_act(settings.routing, user=user, owner=anomaly.owner, channel=channel)
        return
    routing = settings.routing
    if routing.responders and user not in routing.finops:
        raise NotAllowed(f"Sorry, runbook entry {entry.id} belongs to no incident, so only "
                         f"FinOps (routing.finops) may edit it.")


def _checked(name: str, text: str) -> str:
    text = text.strip()
    label = _PARTS[name]
    if not text and name != "prevention":
        raise ResponseError(f"the {label} cannot be empty; write what it is (or leave "
                            f"--{label.replace(' ', '-')} out to keep it)")
    if len(text) > MAX_ENTRY_TEXT:
        raise ResponseError(f"the {label} is {len(text):,} characters; the limit is "
                            f"{MAX_ENTRY_TEXT:,}. Please shorten it.")
    return text


# -- reading -----------------------------------------------------------------------------------


def runbook_views(*, db_session: Session, entries: list[RunbookEntry]) -> list[RunbookView]:
    """The entries as people read them, each with its earlier versions (one query)."""
    revisions = queries.runbooks.revisions_of(
        db_session=db_session, entry_ids=[e.id for e in entries if e.id is not None])
    return [runbook_view(e, revisions.get(e.id or 0, [])) for e in entries]


def entry_history(*, db_session: Session, entry_id: int) -> EntryHistory:
    """An entry now and every version before, newest first."""
    entry = queries.runbooks.get_entry(db_session=db_session, entry_id=entry_id)
    if entry is None:
        raise ResponseError(f"runbook entry {entry_id} does not exist; the entry numbers are "
                            f"in `spendwatch runbook export`")
    view = runbook_views(db_session=db_session, entries=[entry])[0]
    return EntryHistory(entry_id, (entry.project, entry.environment, entry.service_name),
                        entry.anomaly_id, view)


def version_text(view: RunbookView) -> str | None:
    """``v3 · edited by priya on 2026-11-21`` (plain text; the renderer escapes it), or None
    for an entry never edited."""
    if view.version <= 1 or not view.updated_by or view.updated_at is None:
        return None
    return f"v{view.version} · edited by {view.updated_by} on {as_utc(view.updated_at):%Y-%m-%d}"


def earlier_text(old: RevisionView) -> str:
    """One earlier version on one line: ``v2 (priya, 2026-11-20): cause → fix``."""
    return (f"v{old.version} ({old.author}, {as_utc(old.written_at):%Y-%m-%d}): "
            f"{_summary(old.root_cause)} → {_summary(old.fix)}")


# -- seen before -------------------------------------------------------------------------------


def seen_before_note(session: Session, anomaly: Anomaly) -> AlertNote | None:
    """"Seen before N times; last: cause → fix" when earlier incidents on the workload were
    walked to a runbook entry (a note source, :data:`bot.anomaly.notes.NOTE_SOURCES`)."""
    rows = queries.runbooks.earlier_incident_entries(
        db_session=session, project=anomaly.project, environment=anomaly.environment,
        service_name=main_service(anomaly), started_before=anomaly.started_at,
        exclude_anomaly_id=anomaly.id)
    if not rows:
        return None
    count = len({int(incident.id or 0) for _, incident in rows})
    entry, incident = rows[0]
    times = "1 time" if count == 1 else f"{count} times"
    edited = (f"; entry v{entry.version}, edited by {entry.updated_by}"
              if (entry.version or 1) > 1 and entry.updated_by else "")
    return AlertNote(
        heading=f"Seen before {times}; last: {_summary(entry.root_cause)} → "
                f"{_summary(entry.fix)}",
        lines=(f"Incident #{incident.id} on {as_utc(incident.started_at):%Y-%m-%d}, resolved by "
               f"{entry.author}{edited}",))


# what a finished walk appends to the root cause and the fix (``walk._with``): the summary
# keeps the responder's own words
_EXTRAS = re.compile(r"\s\((?:changed|lever|what was done): .*\)$")


def _summary(text: str) -> str:
    flat = _EXTRAS.sub("", " ".join(text.split())) or " ".join(text.split())
    return flat if len(flat) <= SUMMARY_CHARS else flat[:SUMMARY_CHARS - 1].rstrip() + "…"


# -- pre-fill ----------------------------------------------------------------------------------


def prefill_for(*, db_session: Session, anomaly: Anomaly, playbook: Playbook, step: Step,
                state: PlaybookState, options: dict[str, list[Option]]) -> Prefill | None:
    """The last walk's answers to ``step``, when this walk has not answered it yet."""
    if step.id in state.steps:
        return None
    found = _previous_walk(db_session, anomaly, playbook)
    if found is None:
        return None
    earlier, run, entry = found
    try:
        record = PlaybookState.model_validate(run.answers).steps.get(step.id)
    except ValueError:  # a walk stored in a shape this version cannot read
        return None
    if record is None:
        return None
    values = fit_answers(step, record.values, options)
    if not values:
        return None
    return Prefill(int(earlier.id or 0), entry.created_at, values)


def _previous_walk(db_session: Session, anomaly: Anomaly, playbook: Playbook
                   ) -> tuple[Anomaly, PlaybookRun, RunbookEntry] | None:
    """The newest earlier walk on the workload that ended in an entry, the same playbook's
    first."""
    rows = queries.runbooks.earlier_incident_entries(
        db_session=db_session, project=anomaly.project, environment=anomaly.environment,
        service_name=main_service(anomaly), started_before=anomaly.started_at,
        exclude_anomaly_id=anomaly.id)
    walks = []
    for entry, earlier in rows:
        run = queries.runbooks.get_playbook_run(db_session=db_session,
                                                anomaly_id=int(earlier.id or 0))
        if run is not None and run.answers:
            walks.append((earlier, run, entry))
    same = [walk for walk in walks if walk[1].playbook == playbook.name]
    return next(iter(same or walks), None)
