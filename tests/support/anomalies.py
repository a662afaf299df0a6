"""Anomalies in a real store, and what people's actions left behind (audit rows, the outbox)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from bot.settings import EscalationSettings, RoutingSettings, Settings
from storage.db import session_scope
from storage.models import Anomaly, AuditLog, OutboxMessage
from storage.queries import outbox as outbox_q

REPO = Path(__file__).resolve().parent.parent.parent
PLAYBOOKS = REPO / "playbooks"

NOW = datetime(2026, 9, 1, 9, 0, tzinfo=UTC)
FINOPS, SUPPORT, DATA, ESCALATE = "C0FINOPS", "C0SUPPORT", "C0DATA", "C0ESCALATE"
# team-support has no responders (anyone in its channel may act); team-data lists U0DATA
ROUTING = RoutingSettings(default_channel=FINOPS,
                          owners={"team-support": SUPPORT, "team-data": DATA},
                          responders={"team-data": ["U0DATA"]}, finops=["U0FIN"])
CLOUDWATCH = {"contributors": [{"service": "AmazonCloudWatch", "region": "us-east-1",
                                "sku": "", "impact_usd": 18.0, "expected": 2.0,
                                "actual": 20.0}],
              "baseline": "same hour, last 3 weeks"}


def with_routing(settings: Settings, **escalation: object) -> Settings:
    """``settings`` with two teams, FinOps, an escalation channel and the shipped playbooks."""
    return settings.model_copy(update={
        "routing": ROUTING, "playbooks_dir": PLAYBOOKS,
        "escalation": EscalationSettings(**{"channel": ESCALATE, **escalation})})


def add_anomaly(engine: Engine, *, owner: str = "team-support", project: str = "support-agent",
                platforms: tuple[str, ...] = ("slack",), channel: str | None = None,
                at: datetime = NOW, **fields: object) -> int:
    """An open anomaly, with an alert on each of ``platforms`` created at ``at``."""
    with session_scope(engine) as session:
        row = Anomaly(**{
            "project": project, "environment": "prod", "owner": owner, "phase": "run",
            "kind": "spike", "started_at": at, "detected_at": at, "last_seen_at": at,
            "expected_cost": 2.0, "actual_cost": 20.0, "impact_usd": 18.0,
            "peak_hourly_usd": 22.0, "evidence": CLOUDWATCH, **fields})
        session.add(row)
        session.flush()
        for platform in platforms:
            outbox_q.create_alert(db_session=session, anomaly_id=int(row.id), platform=platform,
                                  channel=channel or ROUTING.channel_for(owner), now=at)
        return int(row.id)


def get_anomaly(engine: Engine, anomaly_id: int) -> Anomaly:
    with Session(engine) as session:
        return session.get(Anomaly, anomaly_id)


def audit(engine: Engine) -> list[tuple[str, str]]:
    """(actor, action) of every audit row, oldest first."""
    with Session(engine) as session:
        rows = session.exec(select(AuditLog).order_by(col(AuditLog.id))).all()
        return [(a.actor, a.action) for a in rows]


def outbox(engine: Engine, operation: str | None = None) -> list[OutboxMessage]:
    with Session(engine) as session:
        statement = select(OutboxMessage).order_by(col(OutboxMessage.id))
        if operation is not None:
            statement = statement.where(OutboxMessage.operation == operation)
        return list(session.exec(statement).all())


def aware(moment: datetime | None) -> datetime | None:
    """SQLite hands back naive datetimes; every time stored is UTC."""
    if moment is None or moment.tzinfo:
        return moment
    return moment.replace(tzinfo=UTC)
