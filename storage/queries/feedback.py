"""Line feedback: "not an anomaly" said about one line of spend, active until undone."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from functools import cache
from typing import Any

from sqlalchemy import bindparam
from sqlalchemy.engine import Connection
from sqlmodel import Session, col, select

from storage.models import Anomaly, LineFeedback

__all__ = ["active_feedback", "add_feedback", "feedback_of_anomaly", "get_feedback",
           "load_active", "owner_of"]


def add_feedback(*, db_session: Session, rows: Iterable[LineFeedback]) -> list[LineFeedback]:
    added = list(rows)
    db_session.add_all(added)
    db_session.flush()
    return added


def get_feedback(*, db_session: Session, feedback_id: int,
                 for_update: bool = False) -> LineFeedback | None:
    if for_update:
        return db_session.get(LineFeedback, feedback_id, with_for_update=True,
                              populate_existing=True)
    return db_session.get(LineFeedback, feedback_id)


def owner_of(*, db_session: Session, feedback: LineFeedback) -> str | None:
    """The owner of the anomaly the feedback was given on (None when it has none)."""
    if feedback.anomaly_id is None:
        return None
    anomaly = db_session.get(Anomaly, feedback.anomaly_id)
    return anomaly.owner if anomaly is not None else None


def feedback_of_anomaly(*, db_session: Session, anomaly_id: int) -> Sequence[LineFeedback]:
    """Every row the anomaly's "not an anomaly" recorded (undone ones too), oldest first."""
    return db_session.exec(_of_anomaly_statement(), params={"anomaly_id": anomaly_id}).all()


@cache
def _of_anomaly_statement() -> Any:
    """Built once: every alert card reads it (see ``storage.queries.runbooks``)."""
    return (select(LineFeedback).where(LineFeedback.anomaly_id == bindparam("anomaly_id"))
            .order_by(col(LineFeedback.id)))


def active_feedback(*, db_session: Session, owners: Iterable[str] | None = None
                    ) -> Sequence[LineFeedback]:
    """Feedback not undone, oldest first; only on anomalies of ``owners`` when given."""
    statement = select(LineFeedback).where(col(LineFeedback.undone_at).is_(None))
    if owners is not None:
        statement = statement.join(Anomaly, col(Anomaly.id) == col(LineFeedback.anomaly_id)
                                   ).where(col(Anomaly.owner).in_(sorted(owners)))
    return db_session.exec(statement.order_by(col(LineFeedback.id))).all()


def load_active(*, connection: Connection) -> list[LineFeedback]:
    """Active feedback read on a plain connection (the detection pass)."""
    with Session(bind=connection) as session:
        return list(active_feedback(db_session=session))
