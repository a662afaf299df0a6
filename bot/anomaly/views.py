"""What an alert says, as a neutral view: built from the stored anomaly and what people did.

Chat adapters render :class:`AlertView` (Block Kit, console text); they never read the store.
The view is rebuilt from the store every time a message is sent or updated, so the message
always shows the anomaly as it is now, whatever happened in between.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from bot.anomaly.enums import AnomalyResponse, AnomalyStatus
from bot.anomaly.levers import Lever, levers_for_services
from bot.playbook import AnsweredStep, Playbook, PlaybookState, StepProgress, progress
from bot.playbook.answers import from_records
from storage.models import Anomaly, RunbookEntry, RunbookRevision

__all__ = [
    "CLOSING",
    "AlertNote",
    "AlertView",
    "ContributorView",
    "RESPONSES",
    "RevisionView",
    "RunbookView",
    "build_alert_view",
    "main_service",
    "runbook_view",
]

# what people did about an anomaly, in the order it usually happens
RESPONSES = (AnomalyResponse.NONE, AnomalyResponse.ACKNOWLEDGED, AnomalyResponse.INVESTIGATING,
             AnomalyResponse.STABILISED, AnomalyResponse.EXPECTED, AnomalyResponse.RESOLVED,
             AnomalyResponse.NOT_AN_ANOMALY)
# responses that close an alert: nothing more for anyone to do
CLOSING = (AnomalyResponse.RESOLVED, AnomalyResponse.EXPECTED, AnomalyResponse.NOT_AN_ANOMALY)


@dataclass(frozen=True)
class ContributorView:
    service: str
    region: str
    sku: str
    impact_usd: float
    expected: float
    actual: float


@dataclass(frozen=True)
class RevisionView:
    """An earlier version of a runbook entry: what it said, who wrote it, when."""

    version: int
    author: str
    written_at: datetime
    root_cause: str
    fix: str
    prevention: str


@dataclass(frozen=True)
class RunbookView:
    created_at: datetime
    author: str
    root_cause: str
    fix: str
    prevention: str
    # every answer of the walk that wrote the entry (none for entries from before they were kept)
    answers: tuple[AnsweredStep, ...] = ()
    entry_id: int | None = None
    version: int = 1
    updated_by: str | None = None
    updated_at: datetime | None = None
    # the versions it replaced, newest first (loaded where the runbook itself is shown)
    earlier: tuple[RevisionView, ...] = ()


@dataclass(frozen=True)
class AlertNote:
    """Something the store knows that bears on the alert, as plain text (adapters escape it):
    a heading and its lines, e.g. "What changed before it started" and one line per deploy."""

    heading: str
    lines: tuple[str, ...] = ()


@dataclass(frozen=True)
class AlertView:
    anomaly_id: int
    project: str
    environment: str
    owner: str
    phase: str
    kind: str
    # as stored (plain text): the detector's AnomalyStatus, people's AnomalyResponse (RESPONSES)
    status: str
    response: str
    response_by: str | None
    response_note: str | None
    started_at: datetime
    detected_at: datetime
    last_seen_at: datetime
    resolved_at: datetime | None
    expected_hourly: float
    actual_hourly: float
    impact_usd: float
    projected_daily_usd: float
    peak_hourly_usd: float
    baseline: str
    snoozed_until: datetime | None
    escalated: bool
    contributors: list[ContributorView] = field(default_factory=list)
    levers: list[Lever] = field(default_factory=list)
    last_fix: RunbookView | None = None
    # the entry this anomaly's own playbook wrote, once it has (a resolved card shows it)
    filed: RunbookView | None = None
    runbook_entries: int = 0
    playbook: list[StepProgress] = field(default_factory=list)
    # the person the playbook's owner step made responsible (``resolution.owner``), once named
    responsible: str | None = None
    # (source, end of its newest hour of data) for each source: "data as of"
    data_as_of: tuple[tuple[str, datetime], ...] = ()
    # a short burst the detector reported once it was over: when it ended, what it cost
    burst_ended_at: datetime | None = None
    burst_cost_usd: float | None = None
    # what else the store knows about this workload (plans, feedback, changes), in order
    notes: tuple[AlertNote, ...] = ()

    @property
    def percent_over(self) -> float | None:
        if self.expected_hourly <= 0:
            return None
        return (self.actual_hourly - self.expected_hourly) / self.expected_hourly * 100

    @property
    def closed(self) -> bool:
        """Nothing more to do: resolved by people, expected, not an anomaly, or back to
        normal before anyone engaged (a team in the middle of the playbook can still finish
        it)."""
        if self.response in CLOSING:
            return True
        return self.status != AnomalyStatus.OPEN and self.response == AnomalyResponse.NONE

    @property
    def title(self) -> str:
        return f"{self.project} · {self.environment}"


def runbook_view(entry: RunbookEntry,
                 revisions: Sequence[RunbookRevision] = ()) -> RunbookView:
    """The entry as people read it; ``revisions`` are its earlier versions, newest first."""
    earlier = tuple(RevisionView(r.version, r.author, r.written_at, r.root_cause, r.fix,
                                 r.prevention) for r in revisions)
    return RunbookView(entry.created_at, entry.author, entry.root_cause, entry.fix,
                       entry.prevention, tuple(from_records(entry.answers)), entry_id=entry.id,
                       version=entry.version or 1, updated_by=entry.updated_by,
                       updated_at=entry.updated_at, earlier=earlier)


def main_service(anomaly: Anomaly) -> str:
    """The service a runbook entry is filed under: the top contributor's."""
    contributors = (anomaly.evidence or {}).get("contributors") or []
    return str(contributors[0]["service"]) if contributors else ""


def build_alert_view(
    anomaly: Anomaly,
    *,
    runbook: list[RunbookEntry],
    playbook: Playbook | None = None,
    state: PlaybookState | None = None,
    data_as_of: tuple[tuple[str, datetime], ...] = (),
    levers: list[Lever] | None = None,
    notes: tuple[AlertNote, ...] = (),
) -> AlertView:
    """The alert as it should read now; ``runbook`` is the workload's entries, newest first;
    ``levers`` are the playbook's (default: the usual ones for the top contributors)."""
    evidence = dict(anomaly.evidence or {})
    burst = _burst(evidence)
    contributors = [
        ContributorView(
            service=str(c.get("service", "")), region=str(c.get("region", "")),
            sku=str(c.get("sku", "")), impact_usd=float(c.get("impact_usd", 0.0)),
            expected=float(c.get("expected", 0.0)), actual=float(c.get("actual", 0.0)),
        )
        for c in evidence.get("contributors") or []
    ]
    steps, responsible = [], None
    if playbook is not None and state is not None:
        steps = progress(playbook, state)
        responsible = _responsible(playbook, state)
    # what fixed it last time: an earlier incident's entry, not the one this one just wrote
    last = next((e for e in runbook if e.anomaly_id != anomaly.id), None)
    filed = next((e for e in runbook if e.anomaly_id == anomaly.id), None)
    return AlertView(
        anomaly_id=int(anomaly.id or 0), project=anomaly.project,
        environment=anomaly.environment, owner=anomaly.owner, phase=anomaly.phase,
        kind=anomaly.kind, status=anomaly.status, response=anomaly.response,
        response_by=anomaly.response_by, response_note=anomaly.response_note,
        started_at=anomaly.started_at, detected_at=anomaly.detected_at,
        last_seen_at=anomaly.last_seen_at, resolved_at=anomaly.resolved_at,
        expected_hourly=anomaly.expected_cost, actual_hourly=anomaly.actual_cost,
        impact_usd=anomaly.impact_usd,
        # a burst that is over will not continue for a day
        projected_daily_usd=0.0 if burst else max(
            anomaly.actual_cost - anomaly.expected_cost, 0.0) * 24,
        peak_hourly_usd=anomaly.peak_hourly_usd, baseline=str(evidence.get("baseline", "")),
        snoozed_until=anomaly.snoozed_until, escalated=anomaly.escalated_at is not None,
        contributors=contributors,
        levers=levers if levers is not None else levers_for_services(
            [(c.service, "") for c in contributors[:3]]),
        last_fix=runbook_view(last) if last else None,
        filed=runbook_view(filed) if filed else None,
        runbook_entries=len(runbook),
        playbook=steps,
        responsible=responsible,
        data_as_of=data_as_of,
        notes=notes,
        **burst,
    )


def _burst(evidence: dict[str, object]) -> dict[str, Any]:
    """The burst's end and cost, as the lifecycle stored them (ISO text, dollars)."""
    ended, cost = evidence.get("burst_ended_at"), evidence.get("burst_cost_usd")
    if not isinstance(ended, str) or not isinstance(cost, int | float):
        return {}
    return {"burst_ended_at": datetime.fromisoformat(ended.replace("Z", "+00:00")),
            "burst_cost_usd": float(cost)}


def _responsible(playbook: Playbook, state: PlaybookState) -> str | None:
    """The answer the playbook maps to ``resolution.owner`` (the owner step's person)."""
    ref = playbook.resolution.owner
    if ref is None:
        return None
    step_id, field_id = ref.split(".")
    record = state.steps.get(step_id)
    answer = record.values.get(field_id) if record else None
    return answer if isinstance(answer, str) and answer else None
