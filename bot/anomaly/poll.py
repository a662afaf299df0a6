"""The detection pass over the store: what the scheduler runs each poll, and `spendwatch detect`.

Loads the last ``days`` of usage spend per line from the store, builds the spend matrix and
runs the same engine and lifecycle as ``replay``. Incidents and the last hour judged are kept
in the store (``anomaly``, ``detector_state``), so each poll judges only the hours that are new
since the previous one, continues open incidents instead of opening them again, and re-opens
recently resolved ones. The very first poll (or one after a gap longer than the history
loaded) is a first run over history: only incidents still going on are alert-worthy.

Whoever runs the pass (``detect``, or a poll of ``run``) keeps the same incidents; posting
them is the chat side's business (``bot.anomaly.alerting.queue_news`` posts every open, alert-worthy
incident once per platform, whoever detected it).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta

import pandas as pd
from sqlalchemy.engine import Engine
from sqlmodel import Session

from bot.anomaly.enums import AnomalyKind, AnomalyStatus
from bot.anomaly.feedback import mark_judged_with, normal_floors
from bot.anomaly.lifecycle import HOUR, Incident, Lifecycle, LifecycleEvent, catch_up
from bot.detection.engine import SpendMatrix, detect_hour, thresholds_for_matrix
from bot.detection.findings import Contributor
from bot.settings import Settings
from storage import queries
from storage.db import session_scope
from storage.models import Anomaly, LineFeedback
from storage.queries import feedback as feedback_queries

__all__ = ["NewsHook", "PollResult", "poll_store"]

COLUMNS = ("project", "environment", "service_name", "region", "sku_id", "owner", "phase",
           "charge_category", "usage_unit")
STATE = "detector"


@dataclass
class PollResult:
    events: list[LifecycleEvent]
    open: list[Incident]  # every incident going on after this poll
    judged_hours: int


NewsHook = Callable[[Session, PollResult], None]
"""What to queue for people about a pass, in the pass's own transaction."""


def poll_store(*, engine: Engine, settings: Settings, days: int = 28,
               news: NewsHook | None = None) -> PollResult:
    """Judge the hours that arrived since the last poll; persist incidents; return the news.

    ``news`` runs in the transaction that stores the pass (``bot.scheduler`` queues the
    alerts there): a pass is stored with its news or not at all, so a process that dies in
    between leaves hours to judge again, never an incident nobody was told about.
    """
    matrix = _load_matrix(engine, days)
    if matrix is None:
        result = PollResult([], [], 0)
        if news is not None:
            with session_scope(engine) as session:
                news(session, result)
        return result
    feedback = _load_feedback(engine)
    floors = normal_floors(feedback)
    detection = settings.detection
    end = matrix.hour(matrix.hours - 1) + HOUR
    window = pd.Timedelta(hours=detection.reopen_within_hours + detection.quiet_hours_to_resolve)
    with session_scope(engine) as session:
        state = queries.state.get_state(db_session=session, name=STATE)
        stored = queries.anomalies.active_anomalies(db_session=session,
                                                    resolved_since=(end - window).to_pydatetime())
        incidents = [_incident(row) for row in stored]
        first_id = queries.anomalies.max_anomaly_id(db_session=session) + 1
    lifecycle = Lifecycle(quiet_hours=detection.quiet_hours_to_resolve,
                          reopen_hours=detection.reopen_within_hours, first_id=first_id)
    lifecycle.restore(incidents)
    thresholds = thresholds_for_matrix(matrix, detection.thresholds)
    warmup = int(timedelta(days=detection.warmup_days) / timedelta(hours=1))
    last = pd.Timestamp(state["last_hour"]) if state else None
    if last is None or last < matrix.start:
        events = catch_up(matrix, lifecycle, first_index=0, thresholds_for=thresholds,
                          warmup_hours=warmup, normal_floors=floors)
        judged = matrix.hours
    else:
        events, judged = [], 0
        for index in range(matrix.index_of(last) + 1, matrix.hours):
            findings = detect_hour(matrix, index, thresholds, warmup_hours=warmup,
                                   normal_floors=floors)
            events += lifecycle.apply(findings, now=matrix.hour(index) + HOUR)
            judged += 1
    touched = {id(e.incident): e.incident for e in events}
    mark_judged_with(touched.values(), feedback)
    result = PollResult(events, list(lifecycle.open.values()), judged)
    with session_scope(engine) as session:
        for incident in touched.values():
            queries.anomalies.save_anomaly(db_session=session, anomaly=_row(incident))
        queries.state.set_state(db_session=session, name=STATE,
                                value={"last_hour": matrix.hour(matrix.hours - 1).isoformat()})
        if news is not None:
            news(session, result)
    return result


def _load_matrix(engine: Engine, days: int) -> SpendMatrix | None:
    with engine.connect() as connection:
        _, newest = queries.points.data_range(connection=connection)
        if newest is None:
            return None
        end = pd.Timestamp(newest) + HOUR
        start = end - pd.Timedelta(days=days)
        points = queries.points.load_points(connection=connection, start=start.to_pydatetime(),
                                            end=end.to_pydatetime(), columns=COLUMNS,
                                            quantities=True)
    usage = points[points["charge_category"] == "Usage"].rename(columns={
        "effective_cost": "cost", "usage_quantity": "quantity", "usage_unit": "unit"})
    if usage.empty:
        return None
    return SpendMatrix.from_points(usage, start=start, end=end)


def _load_feedback(engine: Engine) -> list[LineFeedback]:
    """The line feedback in effect now (``bot.anomaly.feedback``)."""
    with engine.connect() as connection:
        return feedback_queries.load_active(connection=connection)


def _row(incident: Incident) -> Anomaly:
    return Anomaly(
        id=incident.id, project=incident.project, environment=incident.environment,
        owner=incident.owner, phase=incident.phase, kind=incident.kind, status=incident.status,
        started_at=incident.started_at.to_pydatetime(),
        detected_at=incident.detected_at.to_pydatetime(),
        last_seen_at=incident.last_elevated_at.to_pydatetime(),
        resolved_at=incident.resolved_at.to_pydatetime() if incident.resolved_at else None,
        expected_cost=incident.expected_cost, actual_cost=incident.actual_cost,
        impact_usd=incident.impact_usd, peak_hourly_usd=incident.peak_hourly_usd,
        evidence={
            **{k: v for k, v in incident.evidence.items() if isinstance(v, str | int | float)},
            "elevated_hours": incident.elevated_hours,
            "alert_worthy": incident.alert_worthy,
            "contributors": [
                dataclasses.asdict(c) for c in incident.contributors
            ],
        },
    )


def _incident(row: Anomaly) -> Incident:
    evidence = dict(row.evidence or {})
    contributors = [Contributor(**c) for c in evidence.pop("contributors", [])]
    elevated = int(evidence.pop("elevated_hours", 1))
    legacy = evidence.pop("announced", True)  # the flag's name in rows written before
    alert_worthy = bool(evidence.pop("alert_worthy", legacy))
    stamp = pd.Timestamp
    incident = Incident(
        id=int(row.id or 0), project=row.project, environment=row.environment, owner=row.owner,
        phase=row.phase, kind=AnomalyKind(row.kind), started_at=stamp(row.started_at),
        detected_at=stamp(row.detected_at), last_elevated_at=stamp(row.last_seen_at),
        expected_cost=row.expected_cost, actual_cost=row.actual_cost,
        impact_usd=row.impact_usd, peak_hourly_usd=row.peak_hourly_usd,
        elevated_hours=elevated, status=AnomalyStatus(row.status),
        resolved_at=stamp(row.resolved_at) if row.resolved_at else None,
        contributors=contributors, evidence=evidence,
    )
    incident.alert_worthy = alert_worthy
    return incident
