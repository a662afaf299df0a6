"""Anomalies: the detector's incidents and what people did about them."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from functools import cache
from typing import Any

from sqlalchemy import bindparam, func
from sqlalchemy import select as sa_select
from sqlmodel import Session, col, select

from bot.anomaly.enums import AnomalyResponse, AnomalyStatus
from storage.models import Anomaly

__all__ = [
    "active_anomalies",
    "anomalies_by_status",
    "get_anomaly",
    "max_anomaly_id",
    "save_anomaly",
    "unacknowledged",
]


# the columns the detector owns; what people did (response, snooze, ...) is never overwritten
DETECTOR_COLUMNS = ("project", "environment", "owner", "phase", "kind", "status", "started_at",
                    "detected_at", "last_seen_at", "resolved_at", "expected_cost", "actual_cost",
                    "impact_usd", "peak_hourly_usd", "evidence")


def active_anomalies(*, db_session: Session, resolved_since: datetime) -> Sequence[Anomaly]:
    """Open anomalies, and those resolved recently enough to be re-opened."""
    statement = sa_select(Anomaly).where(
        (col(Anomaly.status) == AnomalyStatus.OPEN) | (col(Anomaly.resolved_at) >= resolved_since)
    ).order_by(col(Anomaly.id))
    return db_session.scalars(statement).all()


def save_anomaly(*, db_session: Session, anomaly: Anomaly) -> Anomaly:
    """Insert, or update the detector's columns by id (the lifecycle numbers incidents)."""
    stored = db_session.get(Anomaly, anomaly.id) if anomaly.id is not None else None
    if stored is None:
        db_session.add(anomaly)
        db_session.flush()
        return anomaly
    for column in DETECTOR_COLUMNS:
        setattr(stored, column, getattr(anomaly, column))
    db_session.add(stored)
    db_session.flush()
    return stored


def max_anomaly_id(*, db_session: Session) -> int:
    return int(db_session.scalar(sa_select(func.max(Anomaly.id))) or 0)


def get_anomaly(*, db_session: Session, anomaly_id: int,
                for_update: bool = False) -> Anomaly | None:
    """``for_update`` locks the row on PostgreSQL, so two clicks at once apply one after the
    other and the second sees what the first did."""
    if for_update:
        return db_session.exec(_locked_statement(), params={"anomaly_id": anomaly_id}).first()
    return db_session.get(Anomaly, anomaly_id)


@cache
def _locked_statement() -> Any:
    """Built once (every click locks its anomaly): the row read again, even when the session
    holds it, and locked."""
    return (select(Anomaly).where(col(Anomaly.id) == bindparam("anomaly_id"))
            .with_for_update().execution_options(populate_existing=True))


def anomalies_by_status(
    *, db_session: Session, owners: set[str] | None = None, open_only: bool = True,
    limit: int = 50,
) -> Sequence[Anomaly]:
    """Newest first; ``owners`` None means every owner."""
    statement = select(Anomaly)
    if open_only:
        statement = statement.where(Anomaly.status == AnomalyStatus.OPEN).where(
            col(Anomaly.response).not_in((AnomalyResponse.RESOLVED, AnomalyResponse.EXPECTED,
                                          AnomalyResponse.NOT_AN_ANOMALY)))
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
