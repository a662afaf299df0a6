"""Alerts and the outbox: each anomaly's message per platform, and the messages to send."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, func, insert, update
from sqlalchemy import select as core_select
from sqlmodel import Session, col, select

from bot.outbox.enums import AlertStatus, MessageStatus, Operation
from storage.models import (
    Alert,
    OutboxMessage,
)

__all__ = [
    "alert_addresses",
    "alert_for",
    "alerts_of",
    "claim_due",
    "count_pending",
    "create_alert",
    "enqueue",
    "lease",
    "pending_for_alert",
    "queue",
    "renew",
]


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


def queue(*, db_session: Session, messages: Sequence[Mapping[str, Any]],
          now: datetime) -> None:
    """Queue messages (``platform``, ``channel``, ``operation``, ``alert_id``, ``payload``)
    due ``now`` in one statement, without building ORM objects: for an action's card updates
    and replies, which nothing reads back before they are sent, on a path (a click) where
    each object flushed on its own cost more than the rest of the statement."""
    if not messages:
        return
    table = OutboxMessage.__table__  # type: ignore[attr-defined]
    db_session.connection().execute(insert(table), [
        {"platform": m["platform"], "channel": m["channel"], "operation": m["operation"],
         "alert_id": m.get("alert_id"), "payload": dict(m.get("payload") or {}),
         "status": MessageStatus.PENDING, "attempts": 0, "next_attempt_at": now,
         "created_at": now}
        for m in messages])


def alert_addresses(*, db_session: Session, anomaly_id: int) -> list[tuple[int, str, str]]:
    """(alert id, platform, channel) of the anomaly's alert on every platform, oldest first."""
    rows = db_session.connection().execute(_ALERT_ADDRESSES, {"anomaly_id": anomaly_id})
    return [(int(row[0] or 0), str(row[1]), str(row[2])) for row in rows]


_ALERT_ADDRESSES = (
    core_select(col(Alert.id), col(Alert.platform), col(Alert.channel))
    .where(col(Alert.anomaly_id) == bindparam("anomaly_id"))
    .order_by(col(Alert.id))
)


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


def renew(*, db_session: Session, message_id: int, attempts: int, until: datetime) -> bool:
    """Extend a claim to ``until`` while it is still the one with ``attempts`` and pending;
    False when it is not (it was sent, set aside, or claimed again by someone else)."""
    table = OutboxMessage.__table__  # type: ignore[attr-defined]
    result = db_session.connection().execute(
        update(table)
        .where(table.c.id == message_id, table.c.status == MessageStatus.PENDING,
               table.c.attempts == attempts)
        .values(next_attempt_at=until)
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
