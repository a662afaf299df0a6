"""The anomaly register of a month: one row per anomaly detected in it, with what people did.

A register is what an auditor or a board reads after the fact, so every cell comes from what
the store recorded, never from a guess:

- *detected* is when the detector opened the anomaly (``anomaly.detected_at``);
- *acknowledged* is the first time a person acted on it (acknowledged, snoozed, marked it
  expected, or worked its playbook), from the audit log; the response time when the audit
  log has nothing for it;
- *resolved* is when people closed it (the playbook finished, or the spend marked expected),
  else when the detector saw spend back to normal; an open anomaly has none;
- *what changed* is the answer of the playbook step that the playbook's ``resolution:``
  mapping names ``what_changed`` (and its note), read from the walk's answers, so an answer
  given before the walk ended counts; the runbook entry's copy of the answers, then its root
  cause, stand in when there is no walk;
- *resolution* is the runbook entry's fix (and prevention), or the reason given for
  expected spend, or what the detector saw.

Impact is the anomaly's spend over expected, in ``currency.base`` as the store keeps it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from pydantic import ValidationError
from sqlmodel import Session

from bot.anomaly.enums import AnomalyResponse, AnomalyStatus, AuditAction
from bot.anomaly.views import main_service
from bot.playbook import Playbook, PlaybookState
from bot.playbook.answers import from_records
from bot.playbook.engine import SelectAnswer
from bot.playbook.library import PlaybookLibrary
from storage.models import Anomaly, PlaybookRun, RunbookEntry
from storage.queries import register as register_q
from storage.timeutil import as_utc

__all__ = ["ACTED", "REGISTER_COLUMNS", "RegisterRow", "load_register", "register_rows"]

# what a person does when they take an anomaly on: the first of these is "acknowledged"
ACTED = (AuditAction.ACKNOWLEDGED, AuditAction.SNOOZED, AuditAction.EXPECTED,
         AuditAction.PLAYBOOK_STARTED, AuditAction.PLAYBOOK_STEP, AuditAction.STABILISED,
         AuditAction.RESOLVED)
CLOSED_BY_PEOPLE = (AuditAction.RESOLVED, AuditAction.EXPECTED)
REGISTER_COLUMNS = ("id", "workload", "owner", "kind", "detected", "acknowledged", "resolved",
                    "impact", "what_changed", "root_cause", "resolution")


@dataclass(frozen=True)
class RegisterRow:
    """One anomaly of the register; times are aware UTC, impact in ``currency.base``."""

    id: int
    project: str
    environment: str
    owner: str
    kind: str
    service: str
    detected: datetime
    acknowledged: datetime | None
    resolved: datetime | None
    impact: float
    what_changed: str
    root_cause: str
    resolution: str
    open: bool

    @property
    def workload(self) -> str:
        return f"{self.project}/{self.environment}"

    def record(self) -> dict[str, str | int | float]:
        """The row as the CSV holds it: ISO times (UTC), empty for none."""
        def iso(moment: datetime | None) -> str:
            return moment.isoformat() if moment else ""
        return {"id": self.id, "workload": self.workload, "owner": self.owner,
                "kind": self.kind, "detected": iso(self.detected),
                "acknowledged": iso(self.acknowledged), "resolved": iso(self.resolved),
                "impact": round(self.impact, 2), "what_changed": self.what_changed,
                "root_cause": self.root_cause, "resolution": self.resolution}


def load_register(*, db_session: Session, start: datetime, end: datetime,
                  playbook: Playbook | PlaybookLibrary | None) -> list[RegisterRow]:
    """The register of anomalies detected in ``[start, end)``, oldest first. ``playbook``:
    the configured library (or one playbook); each walk's own playbook says which answer is
    "what changed"."""
    anomalies = register_q.anomalies_detected(db_session=db_session, start=start, end=end)
    ids = [int(a.id) for a in anomalies if a.id is not None]
    runs = register_q.playbook_runs(db_session=db_session, anomaly_ids=ids)
    entries = register_q.runbook_entries(db_session=db_session, anomaly_ids=ids)
    actions = register_q.first_actions(db_session=db_session, anomaly_ids=ids,
                                       actions=[str(a) for a in ACTED])
    return register_rows(anomalies, runs=runs, entries=entries, actions=actions,
                         playbook=playbook)


def register_rows(anomalies: Sequence[Anomaly], *,
                  runs: Mapping[int, PlaybookRun], entries: Mapping[int, RunbookEntry],
                  actions: Mapping[int, Mapping[str, datetime]],
                  playbook: Playbook | PlaybookLibrary | None) -> list[RegisterRow]:
    """Register rows from what the store holds for each anomaly (pure: no queries)."""
    library = PlaybookLibrary.of(playbook) if playbook is not None else None
    rows = []
    for anomaly in anomalies:
        key = int(anomaly.id or 0)
        done = actions.get(key, {})
        entry = entries.get(key)
        run = runs.get(key)
        resolved = _resolved(anomaly, done, run, entry)
        rows.append(RegisterRow(
            id=key, project=anomaly.project, environment=anomaly.environment,
            owner=anomaly.owner, kind=anomaly.kind, service=main_service(anomaly),
            detected=as_utc(anomaly.detected_at), acknowledged=_acknowledged(anomaly, done),
            resolved=resolved, impact=float(anomaly.impact_usd),
            what_changed=_what_changed(run, entry, _walked(library, run)),
            root_cause=entry.root_cause if entry else "",
            resolution=_resolution(anomaly, entry, run),
            open=resolved is None,
        ))
    return rows


def _walked(library: PlaybookLibrary | None, run: PlaybookRun | None) -> Playbook | None:
    """The playbook a walk used (the default for one that was removed, or no walk)."""
    if library is None:
        return None
    if run is not None and run.playbook in library:
        return library[run.playbook]
    return library.default


def _acknowledged(anomaly: Anomaly, done: Mapping[str, datetime]) -> datetime | None:
    times = [done[a] for a in ACTED if a in done]
    if times:
        return min(times)
    if anomaly.response != AnomalyResponse.NONE and anomaly.response_at is not None:
        return as_utc(anomaly.response_at)
    return None


def _resolved(anomaly: Anomaly, done: Mapping[str, datetime], run: PlaybookRun | None,
              entry: RunbookEntry | None) -> datetime | None:
    """When people closed it, else when the detector saw spend back to normal."""
    if anomaly.response == AnomalyResponse.RESOLVED:
        for moment in (done.get(AuditAction.RESOLVED), run.completed_at if run else None,
                       entry.created_at if entry else None, anomaly.response_at):
            if moment is not None:
                return as_utc(moment)
    if anomaly.response == AnomalyResponse.EXPECTED:
        moment = done.get(AuditAction.EXPECTED) or anomaly.response_at
        if moment is not None:
            return as_utc(moment)
    if anomaly.status == AnomalyStatus.AUTO_RESOLVED and anomaly.resolved_at is not None:
        return as_utc(anomaly.resolved_at)
    return None


def _what_changed(run: PlaybookRun | None, entry: RunbookEntry | None,
                  playbook: Playbook | None) -> str:
    refs = ([r for r in (playbook.resolution.what_changed, playbook.resolution.what_changed_note)
             if r] if playbook else [])
    if run is not None and refs:
        text = _from_state(run, refs, playbook)
        if text:
            return text
    if entry is not None:
        steps = {ref.split(".")[0] for ref in refs} or {"what_changed"}
        try:
            answered = from_records(entry.answers)
        except (TypeError, ValueError):
            answered = []
        texts = [f.text for s in answered if s.step_id in steps for f in s.fields if f.text]
        if texts:
            return " — ".join(texts)
    return ""


def _from_state(run: PlaybookRun, refs: list[str], playbook: Playbook | None) -> str:
    try:
        state = PlaybookState.model_validate(run.answers)
    except ValidationError:
        return ""
    if playbook is not None and state.playbook != playbook.name:
        return ""
    texts = []
    for ref in refs:
        step_id, field_id = ref.split(".")
        record = state.steps.get(step_id)
        answer = record.values.get(field_id) if record else None
        if isinstance(answer, SelectAnswer):
            texts.append(answer.label)
        elif isinstance(answer, str) and answer.strip():
            texts.append(answer.strip())
    return " — ".join(texts)


def _resolution(anomaly: Anomaly, entry: RunbookEntry | None, run: PlaybookRun | None) -> str:
    if entry is not None:
        prevention = f"; prevention: {entry.prevention}" if entry.prevention else ""
        return f"{entry.fix}{prevention}"
    if anomaly.response == AnomalyResponse.EXPECTED:
        who = f" by {anomaly.response_by}" if anomaly.response_by else ""
        reason = f": {anomaly.response_note}" if anomaly.response_note else ""
        return f"Marked expected{who}{reason}"
    if anomaly.status == AnomalyStatus.AUTO_RESOLVED:
        return "Spend went back to normal on its own (no playbook filed)"
    if anomaly.response == AnomalyResponse.STABILISED:
        return "Open: spend stabilised, playbook not finished"
    if run is not None or anomaly.response == AnomalyResponse.INVESTIGATING:
        return "Open: playbook in progress"
    if anomaly.response == AnomalyResponse.ACKNOWLEDGED:
        return "Open: acknowledged"
    return "Open: no response yet"
