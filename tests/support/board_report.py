"""A small store for the board report, built by hand: two months of daily spend on two
projects and a shared account, budgets, and October's anomalies in every state a register
must show (resolved through the playbook, marked expected, back to normal on its own, open),
with one anomaly either side of October that must stay out."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy.engine import Engine

from bot.playbook import answered_steps, load_playbook, start, submit
from bot.playbook.answers import to_records
from bot.settings import Settings
from storage.db import session_scope
from storage.models import Anomaly, AuditLog, PlaybookRun, RunbookEntry
from tests.support.anomalies import PLAYBOOKS
from tests.support.cost_points import put_points

PLAYBOOK = load_playbook(PLAYBOOKS / "default.yml")
SHARED_ACCOUNT = "999"
SCRIPT = "<script>alert('owned')</script>"
WHAT_CHANGED_NOTE = f"summariser switched to the large model {SCRIPT}"
EXPECTED_NOTE = "planned reindex | approved by finance"
BUDGETS = [
    {"project": "support-agent", "monthly": 1000},  # every environment
    {"project": "search", "environment": "prod", "monthly": 2000},
]
SHOWBACK = {"shared": [{"name": "platform-k8s", "match": {"sub_account_id": [SHARED_ACCOUNT]}}]}
# October: support-agent 40/day prod + 5/day staging (1,395), search 50/day (1,550),
# the shared account 10/day (310, split 1395:1550); September: 30, 0, 50 and 10 a day
OCTOBER_TOTAL = 31 * (40 + 5 + 50 + 10)
SEPTEMBER_TOTAL = 30 * (30 + 50 + 10)


def at(day: int, hour: int = 0, month: int = 10) -> datetime:
    return datetime(2026, month, day, hour, tzinfo=UTC)


def report_settings(settings: Settings) -> Settings:
    """``settings`` with the budgets, the shared pool and the shipped playbooks."""
    return Settings.model_validate({**settings.model_dump(), "budgets": BUDGETS,
                                    "showback": SHOWBACK, "playbooks_dir": PLAYBOOKS})


def fill_spend(engine: Engine) -> None:
    rows: list[dict[str, Any]] = []
    day = at(1, 12, month=9)
    while day < at(1, 12, month=11):
        october = day.month == 10
        rows += [
            {"hour": day, "cost": 40.0 if october else 30.0, "project": "support-agent",
             "owner": "team-support", "service_name": "Amazon Bedrock"},
            {"hour": day, "cost": 50.0, "project": "search", "owner": "team-search",
             "service_name": "Amazon OpenSearch Service"},
            {"hour": day, "cost": 10.0, "project": "support-agent", "owner": "team-support",
             "sub_account_id": SHARED_ACCOUNT, "service_name": "Amazon EKS"},
        ]
        if october:
            rows.append({"hour": day, "cost": 5.0, "project": "support-agent",
                         "environment": "staging", "owner": "team-support",
                         "service_name": "Amazon Bedrock"})
        day += timedelta(days=1)
    put_points(engine, rows)


def _anomaly(project: str, environment: str, detected: datetime, impact: float,
             **fields: Any) -> Anomaly:
    return Anomaly(**{
        "project": project, "environment": environment, "owner": f"team-{project}",
        "phase": "run", "kind": "spike", "started_at": detected - timedelta(hours=2),
        "detected_at": detected, "last_seen_at": detected + timedelta(hours=3),
        "expected_cost": 10.0, "actual_cost": 10.0 + impact, "impact_usd": impact,
        "peak_hourly_usd": 30.0,
        "evidence": {"contributors": [{"service": "Amazon Bedrock", "region": "us-east-1",
                                       "sku": "", "impact_usd": impact}]}, **fields})


def _walk(anomaly_id: int) -> tuple[PlaybookRun, RunbookEntry]:
    """The whole default playbook, answered on Oct 5 and 6."""
    state = start(PLAYBOOK, by="U0ALICE", at=at(5, 10))
    answers = [
        ("owner", {"owner": "U0ALICE"}, at(5, 10)),
        ("what_changed", {"change": "model", "note": WHAT_CHANGED_NOTE}, at(5, 11)),
        ("stabilise", {"lever": "cap_tokens", "action": "max_tokens 4096 -> 1024"}, at(5, 12)),
        ("review", {"checks": [i.value for i in PLAYBOOK.step("review").fields[0].items]},
         at(6, 9)),
        ("document", {"root_cause": "a deploy pointed the summariser at the large model",
                      "fix": "pinned the small model", "prevention": "a cost test in CI"},
         at(6, 10)),
    ]
    for step, values, moment in answers:
        state = submit(PLAYBOOK, state, step, values, by="U0ALICE", at=moment)
    run = PlaybookRun(anomaly_id=anomaly_id, playbook=PLAYBOOK.name, current_step="document",
                      answers=state.model_dump(mode="json"), started_by="U0ALICE",
                      started_at=at(5, 10), completed_at=at(6, 10))
    entry = RunbookEntry(
        project="support-agent", environment="prod", service_name="Amazon Bedrock",
        anomaly_id=anomaly_id, root_cause="a deploy pointed the summariser at the large model",
        fix="pinned the small model (lever: Cap max_tokens or output length)",
        prevention="a cost test in CI", author="U0ALICE", created_at=at(6, 10),
        answers=to_records(answered_steps(PLAYBOOK, state)))
    return run, entry


def fill_anomalies(engine: Engine) -> dict[str, int]:
    """October's anomalies (and two outside it); their ids by name."""
    with session_scope(engine) as session:
        made = {
            "resolved": _anomaly("support-agent", "prod", at(5, 9), 420.0,
                                 response="resolved", response_by="U0ALICE",
                                 response_at=at(6, 10)),
            "expected": _anomaly("search", "prod", at(12, 3), 180.5, response="expected",
                                 response_by="U0BOB", response_at=at(12, 8),
                                 response_note=EXPECTED_NOTE),
            "auto": _anomaly("support-agent", "staging", at(20, 14), 35.25,
                             status="auto-resolved", resolved_at=at(21, 2)),
            "open": _anomaly("search", "prod", at(28, 22), 99.0),
            "september": _anomaly("search", "prod", at(30, 23, month=9), 77.0),
            "november": _anomaly("search", "prod", at(1, 0, month=11), 66.0),
        }
        for row in made.values():
            session.add(row)
        session.flush()
        ids = {name: int(row.id or 0) for name, row in made.items()}
        run, entry = _walk(ids["resolved"])
        session.add(run)
        session.add(entry)
        for name, action, moment in [("resolved", "acknowledged", at(5, 9, ) + timedelta(
                minutes=20)), ("resolved", "playbook_started", at(5, 10)),
                ("resolved", "resolved", at(6, 10)), ("expected", "expected", at(12, 8))]:
            session.add(AuditLog(at=moment, actor="U0ALICE", action=action,
                                 subject_type="anomaly", subject_id=str(ids[name])))
    return ids


def fill_store(engine: Engine) -> dict[str, int]:
    fill_spend(engine)
    return fill_anomalies(engine)
