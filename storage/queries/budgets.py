"""Budgets set in chat, the thresholds crossed, and the spend and owners a budget is read from."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

import pandas as pd
from sqlalchemy import delete, func
from sqlalchemy.engine import Connection
from sqlmodel import Session, col, select

from storage.models import BudgetChange, BudgetCrossing, CostPoint, CostSeries
from storage.timeutil import as_utc

__all__ = ["add_change", "add_crossing", "changes", "crossings", "delete_crossings",
           "latest_changes", "owner_spend", "phases_spend", "project_spend",
           "recent_spend"]


def add_change(*, db_session: Session, project: str, environment: str, monthly: float,
               set_by: str, now: datetime) -> BudgetChange:
    change = BudgetChange(project=project, environment=environment, monthly=monthly,
                          set_by=set_by, set_at=now)
    db_session.add(change)
    db_session.flush()
    return change


def changes(*, db_session: Session, project: str | None = None) -> Sequence[BudgetChange]:
    """Every budget set in chat, oldest first (the history)."""
    statement = select(BudgetChange).order_by(col(BudgetChange.set_at), col(BudgetChange.id))
    if project is not None:
        statement = statement.where(col(BudgetChange.project) == project)
    return db_session.exec(statement).all()


def latest_changes(*, db_session: Session, until: datetime
                   ) -> dict[tuple[str, str], BudgetChange]:
    """The newest budget set in chat per (project, environment), up to ``until``."""
    latest: dict[tuple[str, str], BudgetChange] = {}
    for change in changes(db_session=db_session):
        if as_utc(change.set_at) <= until:
            latest[(change.project, change.environment)] = change
    return latest


def crossings(*, db_session: Session, budget: str | None = None,
              period_start: datetime | None = None) -> Sequence[BudgetCrossing]:
    statement = select(BudgetCrossing).order_by(col(BudgetCrossing.crossed_at),
                                                col(BudgetCrossing.threshold))
    if budget is not None:
        statement = statement.where(col(BudgetCrossing.budget) == budget)
    if period_start is not None:
        statement = statement.where(col(BudgetCrossing.period_start) == period_start)
    return db_session.exec(statement).all()


def add_crossing(*, db_session: Session, crossing: BudgetCrossing) -> None:
    db_session.add(crossing)
    db_session.flush()


def delete_crossings(*, db_session: Session, ids: Iterable[int]) -> None:
    wanted = list(ids)
    if wanted:
        db_session.execute(delete(BudgetCrossing).where(col(BudgetCrossing.id).in_(wanted)))


def owner_spend(*, connection: Connection, project: str, environment: str | None,
                start: datetime, end: datetime) -> list[tuple[str, float]]:
    """Spend per owner of a project's lines in [start, end), largest first."""
    statement = (
        select(col(CostSeries.owner), func.sum(CostPoint.effective_cost))
        .join(CostPoint, col(CostPoint.series_id) == col(CostSeries.id))
        .where(col(CostSeries.project) == project, col(CostPoint.hour) >= start,
               col(CostPoint.hour) < end)
        .group_by(col(CostSeries.owner))
    )
    if environment is not None:
        statement = statement.where(col(CostSeries.environment) == environment)
    rows = [(str(owner), float(total or 0)) for owner, total in connection.execute(statement)]
    return sorted(rows, key=lambda row: (-row[1], row[0]))


def project_spend(*, connection: Connection, projects: Sequence[str], start: datetime,
                  end: datetime) -> pd.DataFrame:
    """EffectiveCost per UTC day (``hour`` is the day's midnight) and (project, environment)
    of ``projects`` in [start, end), summed in the database: a budget needs days, and a
    row per hour is twenty-four times the rows to fetch. The day is the one dialect-specific
    expression (SQLite keeps UTC text, PostgreSQL ``timestamptz``)."""
    if connection.dialect.name == "sqlite":
        day: Any = func.substr(CostPoint.hour, 1, 10)
    else:
        day = func.date_trunc("day", func.timezone("UTC", CostPoint.hour))
    series = select(col(CostSeries.id)).where(col(CostSeries.project).in_(list(projects)))
    points = (
        select(day.label("day"), col(CostSeries.project).label("project"),
               col(CostSeries.environment).label("environment"),
               col(CostPoint.effective_cost).label("cost"))
        .join(CostSeries, col(CostSeries.id) == col(CostPoint.series_id))
        .where(col(CostPoint.series_id).in_(series), col(CostPoint.hour) >= start,
               col(CostPoint.hour) < end)
        .subquery()
    )
    statement = (select(points.c.day, points.c.project, points.c.environment,
                        func.sum(points.c.cost))
                 .group_by(points.c.day, points.c.project, points.c.environment))
    rows = [tuple(row) for row in connection.execute(statement)]
    frame = pd.DataFrame(rows, columns=["hour", "project", "environment", "effective_cost"])
    frame["hour"] = pd.to_datetime(frame["hour"], utc=True)
    frame["effective_cost"] = frame["effective_cost"].astype(float)
    return frame


def recent_spend(*, connection: Connection, projects: Sequence[str], start: datetime,
                 end: datetime) -> pd.DataFrame:
    """Hourly EffectiveCost per (project, environment) of ``projects`` in [start, end)."""
    series = select(col(CostSeries.id)).where(col(CostSeries.project).in_(list(projects)))
    statement = (
        select(col(CostPoint.hour), col(CostSeries.project), col(CostSeries.environment),
               func.sum(CostPoint.effective_cost))
        .join(CostSeries, col(CostSeries.id) == col(CostPoint.series_id))
        .where(col(CostPoint.series_id).in_(series), col(CostPoint.hour) >= start,
               col(CostPoint.hour) < end)
        .group_by(col(CostPoint.hour), col(CostSeries.project), col(CostSeries.environment))
    )
    rows = [tuple(row) for row in connection.execute(statement)]
    frame = pd.DataFrame(rows, columns=["hour", "project", "environment", "effective_cost"])
    frame["hour"] = pd.to_datetime(frame["hour"], utc=True)
    frame["effective_cost"] = frame["effective_cost"].astype(float)
    return frame


def phases_spend(*, connection: Connection, start: datetime, end: datetime
                 ) -> list[tuple[str, str, str, float]]:
    """(project, environment, phase, spend) of every line with spend in [start, end)."""
    statement = (
        select(col(CostSeries.project), col(CostSeries.environment), col(CostSeries.phase),
               func.sum(CostPoint.effective_cost))
        .join(CostPoint, col(CostPoint.series_id) == col(CostSeries.id))
        .where(col(CostPoint.hour) >= start, col(CostPoint.hour) < end)
        .group_by(col(CostSeries.project), col(CostSeries.environment), col(CostSeries.phase))
    )
    return [(str(p), str(e), str(ph), float(total or 0))
            for p, e, ph, total in connection.execute(statement)]
