"""Query functions for the chat side: alerts, the outbox, playbook runs, runbooks, audit.

Keyword-only, session first, no business rules (those live in ``bot.anomaly.service`` and
``bot.outbox.deliverer``).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime

from sqlalchemy import func, update
from sqlmodel import Session, col, select

from bot.anomaly.enums import AnomalyResponse, AnomalyStatus
from bot.outbox.enums import AlertStatus, MessageStatus, Operation
from storage.models import (
    Alert,
    Anomaly,
    OutboxMessage,
    PlaybookRun,
    RunbookEntry,
)

__all__ = [
    "add_runbook_entry",
    "alert_for",
    "alerts_of",
    "anomalies_by_status",
    "claim_due",
    "count_pending",
    "create_alert",
    "enqueue",
    "get_anomaly",
    "get_playbook_run",
    "lease",
    "pending_for_alert",
    "recent_runbook",
    "runbook_for",
    "unacknowledged",
]


def get_anomaly(*, db_session: Session, anomaly_id: int,
                for_update: bool = False) -> Anomaly | None:
    """``for_update`` locks the row on PostgreSQL, so two clicks at once apply one after the
    other and the second sees what the first did."""
    if for_update:
        return db_session.get(Anomaly, anomaly_id, with_for_update=True, populate_existing=True)
    return db_session.get(Anomaly, anomaly_id)


def anomalies_by_status(
    *, db_session: Session, owners: set[str] | None = None, open_only: bool = True,
    limit: int = 50,
) -> Sequence[Anomaly]:
    """Newest first; ``owners`` None means every owner."""
    statement = select(Anomaly)
    if open_only:
        statement = statement.where(Anomaly.status == AnomalyStatus.OPEN).where(
            col(Anomaly.response).not_in((AnomalyResponse.RESOLVED, AnomalyResponse.EXPECTED)))
    if owners is not None:
        statement = statement.where(col(Anomaly.owner).in_(sorted(owners)))
    return db_session.exec(
        statement.order_by(col(Anomaly.detected_at).desc(), col(Anomaly.id).desc()).limit(limit)
    ).all()


def unacknowledged(*, db_session: Session) -> Sequence[Anomaly]:
    """Open anomalies nobody has responded to yet (candidates for reminders)."""
    statement = select(Anomaly).where(Anomaly.status == AnomalyStatus.OPEN,
                                   Anomaly.response == AnomalyResponse.NONE)
    return db_session.exec(statement.order_by(col(Anomaly.id))).all()


def alert_for(*, db_session: Session, anomaly_id: int, platform: str) -> Alert | None:
    statement = select(Alert).where(Alert.anomaly_id == anomaly_id, Alert.platform == platform)
    return db_session.exec(statement).first()


def alerts_of(*, db_session: Session, anomaly_id: int) -> Sequence[Alert]:
    """The anomaly's alert on every platform it was posted to."""
    statement = select(Alert).where(Alert.anomaly_id == anomaly_id).order_by(col(Alert.id))
    return db_session.exec(statement).all()


def create_alert(
    *, db_session: Session, anomaly_id: int, platform: str, channel: str, now: datetime
) -> Alert:
    alert = Alert(anomaly_id=anomaly_id, platform=platform, channel=channel,
                  status=AlertStatus.PENDING, created_at=now, updated_at=now)
    db_session.add(alert)
    db_session.flush()
    return alert


def enqueue(
    *, db_session: Session, platform: str, channel: str, operation: Operation, now: datetime,
    alert_id: int | None = None, payload: dict | None = None,
) -> OutboxMessage:
    message = OutboxMessage(
        platform=platform, channel=channel, operation=operation, alert_id=alert_id,
        payload=payload or {}, next_attempt_at=now, created_at=now,
    )
    db_session.add(message)
    db_session.flush()
    return message


def claim_due(
    *, db_session: Session, platform: str, now: datetime, limit: int = 100
) -> Sequence[OutboxMessage]:
    """Pending messages due by ``now``, oldest first; on PostgreSQL rows another replica is
    sending are skipped (``FOR UPDATE SKIP LOCKED``; SQLite has one writer anyway)."""
    statement = (
        select(OutboxMessage)
        .where(OutboxMessage.platform == platform, OutboxMessage.status == MessageStatus.PENDING,
               OutboxMessage.next_attempt_at <= now)
        .order_by(col(OutboxMessage.id))
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    return db_session.exec(statement).all()


def count_pending(*, db_session: Session, platform: str) -> int:
    """Messages not sent yet (due or not), without claiming any."""
    statement = select(func.count()).select_from(OutboxMessage).where(
        OutboxMessage.platform == platform, OutboxMessage.status == MessageStatus.PENDING)
    return int(db_session.exec(statement).one())


def lease(*, db_session: Session, message_id: int, attempts: int, now: datetime,
          until: datetime) -> bool:
    """Claim a pending message that is due (count the attempt, not due for others until
    ``until``); False when someone else claimed it first: its attempts moved on, or it is
    leased (not due) right now."""
    table = OutboxMessage.__table__  # type: ignore[attr-defined]
    result = db_session.connection().execute(
        update(table)
        .where(table.c.id == message_id, table.c.status == MessageStatus.PENDING,
               table.c.attempts == attempts, table.c.next_attempt_at <= now)
        .values(attempts=attempts + 1, next_attempt_at=until)
    )
    db_session.expire_all()
    return result.rowcount == 1


def pending_for_alert(
    *, db_session: Session, alert_id: int, operation: Operation, before_id: int | None = None
) -> Sequence[OutboxMessage]:
    statement = select(OutboxMessage).where(
        OutboxMessage.alert_id == alert_id, OutboxMessage.operation == operation,
        OutboxMessage.status == MessageStatus.PENDING)
    if before_id is not None:
        statement = statement.where(col(OutboxMessage.id) < before_id)
    return db_session.exec(statement.order_by(col(OutboxMessage.id))).all()


def get_playbook_run(*, db_session: Session, anomaly_id: int,
                     for_update: bool = False) -> PlaybookRun | None:
    """The anomaly's playbook run; ``for_update`` locks it (two people saving steps at once
    must not overwrite each other's answers) on PostgreSQL."""
    statement = select(PlaybookRun).where(PlaybookRun.anomaly_id == anomaly_id)
    statement = statement.order_by(col(PlaybookRun.id).desc())
    if for_update:
        statement = statement.with_for_update()
    return db_session.exec(statement).first()


def runbook_for(
    *, db_session: Session, project: str, environment: str | None = None,
    service_name: str | None = None, limit: int = 20,
) -> Sequence[RunbookEntry]:
    """A workload's runbook, newest first."""
    statement = select(RunbookEntry).where(RunbookEntry.project == project)
    if environment is not None:
        statement = statement.where(RunbookEntry.environment == environment)
    if service_name is not None:
        statement = statement.where(RunbookEntry.service_name == service_name)
    statement = statement.order_by(col(RunbookEntry.created_at).desc(),
                                   col(RunbookEntry.id).desc())
    return db_session.exec(statement.limit(limit)).all()


def recent_runbook(
    *, db_session: Session, projects: Iterable[str] | None = None,
    owners: set[str] | None = None, limit: int = 10,
) -> Sequence[RunbookEntry]:
    """Newest entries; ``owners`` keeps those written for those owners' anomalies."""
    statement = select(RunbookEntry)
    if projects is not None:
        statement = statement.where(col(RunbookEntry.project).in_(sorted(set(projects))))
    if owners is not None:
        statement = statement.join(Anomaly, col(Anomaly.id) == col(RunbookEntry.anomaly_id)
                                   ).where(col(Anomaly.owner).in_(sorted(owners)))
    statement = statement.order_by(col(RunbookEntry.created_at).desc(),
                                   col(RunbookEntry.id).desc())
    return db_session.exec(statement.limit(limit)).all()


def add_runbook_entry(*, db_session: Session, entry: RunbookEntry) -> RunbookEntry:
    db_session.add(entry)
    db_session.flush()
    return entry

