"""A store built by hand for the weekly digest, whose every figure is worked out below.

The week ends Monday 2026-11-30 09:00 UTC: this week is [Nov 23 09:00, Nov 30 09:00), the week
before [Nov 16 09:00, Nov 23 09:00); each "day" runs 09:00 to 09:00.

Spend (EffectiveCost per hour):

=============  ================================  ================================
project        week before                       this week
=============  ================================  ================================
web (prod)     $2/h x 168 h = $336               $3/h x 168 h = $504
api (prod)     $1/h x 168 h = $168               $1/h x 72 h (3 days) = $72
unallocated    $0.50/h x 168 h = $84             $1/h x 168 h = $168
=============  ================================  ================================

plus $100 of api at Nov 16 08:00 and $10 of web at Nov 30 09:00: each just outside the two
weeks, counted in neither. Totals: $744 this week, $588 before.

Anomalies (detected / started / last seen, impact):

- A1 web: detected Nov 24 12:00, 10:00 to 19:00 (10 h), $200. Playbook started Nov 24 12:30,
  playbook resolved Nov 25 12:00.
- A2 api: detected Nov 27 23:00, 22:00 to Nov 28 02:00 (5 h), $50. Acknowledged Nov 28 01:00;
  the detector resolved it at Nov 28 08:00 (auto-resolved).
- A3 web: detected Nov 20 10:00 (the week before), $80. Acknowledged Nov 20 11:00, marked
  expected Nov 23 10:00 (this week).
- A4 web: detected Nov 29 06:00, 05:00 to 06:00 (2 h), $30. Acknowledged Nov 29 10:00.
- A5 api: detected Nov 30 10:00, after the week: in nothing.
- A6 api: detected Nov 1, auto-resolved Nov 2: in nothing.

"What changed" answers: A1 logging (Nov 24 13:00), A2 logging (Nov 28 03:00), A3 traffic
(Nov 21, the week before), A4 traffic (Nov 29 07:00), A6 model (Nov 29 08:00).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy.engine import Engine

from bot.playbook.engine import PlaybookState, SelectAnswer, Stamp, StepRecord
from storage.db import session_scope
from storage.models import Anomaly, AuditLog, PlaybookRun
from tests.support.cost_points import put_points

WEEK_ENDING = datetime(2026, 11, 30, 9, tzinfo=UTC)
WEEK_START = WEEK_ENDING - timedelta(days=7)
BEFORE = WEEK_START - timedelta(days=7)
LABELS = {"logging": "Logging (verbosity, retention, ingestion)",
          "traffic": "Traffic (more users, a retry loop, a crawler)",
          "model": "Model (new model, version or SKU)"}


def at(day: int, hour: int) -> datetime:
    return datetime(2026, 11, day, hour, tzinfo=UTC)


def _hours(start: datetime, count: int, cost: float, project: str) -> list[dict[str, Any]]:
    environment = "unallocated" if project == "unallocated" else "prod"
    return [{"hour": start + timedelta(hours=h), "cost": cost, "project": project,
             "environment": environment} for h in range(count)]


def put_spend(engine: Engine) -> None:
    put_points(engine, [
        *_hours(BEFORE, 168, 2.0, "web"), *_hours(WEEK_START, 168, 3.0, "web"),
        *_hours(BEFORE, 168, 1.0, "api"), *_hours(WEEK_START, 72, 1.0, "api"),
        *_hours(BEFORE, 168, 0.5, "unallocated"), *_hours(WEEK_START, 168, 1.0, "unallocated"),
        {"hour": BEFORE - timedelta(hours=1), "cost": 100.0, "project": "api"},
        {"hour": WEEK_ENDING, "cost": 10.0, "project": "web"},
    ])


def _anomaly(project: str, *, detected: datetime, started: datetime, last_seen: datetime,
             impact: float, resolved: datetime | None = None) -> Anomaly:
    return Anomaly(project=project, environment="prod", owner=f"team-{project}", phase="run",
                   kind="spike", started_at=started, detected_at=detected,
                   last_seen_at=last_seen, impact_usd=impact, evidence={},
                   status="auto-resolved" if resolved else "open", resolved_at=resolved)


def _what_changed(anomaly_id: int, answer: str, moment: datetime) -> PlaybookRun:
    state = PlaybookState(
        playbook="default", started=Stamp(by="U1", at=moment - timedelta(minutes=5)),
        steps={"what_changed": StepRecord(by="U1", at=moment, values={
            "change": SelectAnswer(value=answer, label=LABELS[answer]), "note": None})})
    return PlaybookRun(anomaly_id=anomaly_id, playbook="default", current_step="stabilise",
                       answers=state.model_dump(mode="json"), started_by="U1",
                       started_at=moment - timedelta(minutes=5))


def put_anomalies(engine: Engine) -> dict[str, int]:
    rows = {
        "A1": _anomaly("web", detected=at(24, 12), started=at(24, 10), last_seen=at(24, 19),
                       impact=200.0),
        "A2": _anomaly("api", detected=at(27, 23), started=at(27, 22), last_seen=at(28, 2),
                       impact=50.0, resolved=at(28, 8)),
        "A3": _anomaly("web", detected=at(20, 10), started=at(20, 9), last_seen=at(20, 12),
                       impact=80.0),
        "A4": _anomaly("web", detected=at(29, 6), started=at(29, 5), last_seen=at(29, 6),
                       impact=30.0),
        "A5": _anomaly("api", detected=at(30, 10), started=at(30, 9), last_seen=at(30, 10),
                       impact=40.0),
        "A6": _anomaly("api", detected=at(1, 10), started=at(1, 9), last_seen=at(1, 12),
                       impact=60.0, resolved=at(2, 10)),
    }
    acts = [("A1", "playbook_started", at(24, 12) + timedelta(minutes=30)),
            ("A1", "resolved", at(25, 12)), ("A2", "acknowledged", at(28, 1)),
            ("A3", "acknowledged", at(20, 11)), ("A3", "expected", at(23, 10)),
            ("A4", "acknowledged", at(29, 10)), ("A4", "acknowledged", at(29, 11)),
            ("A5", "acknowledged", at(30, 11))]
    answers = [("A1", "logging", at(24, 13)), ("A2", "logging", at(28, 3)),
               ("A3", "traffic", at(21, 9)), ("A4", "traffic", at(29, 7)),
               ("A6", "model", at(29, 8))]
    with session_scope(engine) as session:
        session.add_all(rows.values())
        session.flush()
        ids = {name: int(row.id or 0) for name, row in rows.items()}
        session.add_all(AuditLog(at=moment, actor="U1", action=action, subject_type="anomaly",
                                 subject_id=str(ids[name])) for name, action, moment in acts)
        session.add_all(_what_changed(ids[name], answer, moment)
                        for name, answer, moment in answers)
    return ids


def build_store(engine: Engine) -> dict[str, int]:
    """The whole store above; returns the anomalies' ids by name."""
    put_spend(engine)
    return put_anomalies(engine)
