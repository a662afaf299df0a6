"""Plans (planned spend), and the anomalies and owners a plan is judged against."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy.engine import Connection
from sqlmodel import Session, col, select

from storage.models import Anomaly, CostSeries, Plan
from storage.timeutil import as_utc

__all__ = ["add_plan", "anomalies_under", "get_plan", "list_plans", "plans_at",
           "project_known", "workload_owners"]


def add_plan(*, db_session: Session, plan: Plan) -> Plan:
    db_session.add(plan)
    db_session.flush()
    return plan


def get_plan(*, db_session: Session, plan_id: int) -> Plan | None:
    return db_session.get(Plan, plan_id)


def list_plans(*, db_session: Session, active_at: datetime | None = None,
               project: str | None = None) -> Sequence[Plan]:
    """Plans by id; with ``active_at``, only those not removed and not yet ended then."""
    statement = select(Plan).order_by(col(Plan.id))
    if project is not None:
        statement = statement.where(col(Plan.project) == project)
    plans = db_session.exec(statement).all()
    if active_at is None:
        return plans
    return [p for p in plans if p.removed_at is None and as_utc(p.ends_at) > as_utc(active_at)]


def plans_at(*, db_session: Session, project: str) -> Sequence[Plan]:
    """Every plan of a project that was never removed, whatever its dates."""
    statement = (select(Plan).where(col(Plan.project) == project,
                                    col(Plan.removed_at).is_(None))
                 .order_by(col(Plan.id)))
    return db_session.exec(statement).all()


def anomalies_under(*, db_session: Session, project: str,
                    since: datetime) -> Sequence[Anomaly]:
    """The project's anomalies that started at or after ``since`` (a plan's start)."""
    statement = select(Anomaly).where(col(Anomaly.project) == project,
                                      col(Anomaly.started_at) >= since)
    return db_session.exec(statement).all()


def workload_owners(*, connection: Connection, project: str,
                    environment: str | None = None) -> set[str]:
    """The owners of the project's lines of spend (of one environment, when given)."""
    statement = select(col(CostSeries.owner)).where(col(CostSeries.project) == project)
    if environment is not None:
        statement = statement.where(col(CostSeries.environment) == environment)
    return {str(owner) for (owner,) in connection.execute(statement.distinct())}


def project_known(*, db_session: Session, project: str) -> bool:
    """Whether the store has ever seen spend or an anomaly of the project."""
    seen = db_session.exec(select(CostSeries.id).where(col(CostSeries.project) == project)
                           .limit(1)).first()
    if seen is not None:
        return True
    return db_session.exec(select(Anomaly.id).where(col(Anomaly.project) == project)
                           .limit(1)).first() is not None
