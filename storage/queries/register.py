"""The SQL behind the anomaly register and the board report: a month's anomalies with what
people did about them, and the month's spend per project per day and per service.

Each function is one query whatever the number of anomalies (``IN`` lists, grouped), so a
register of a busy month costs four round trips. Spend is summed in the database per series
first and per project second, as ``storage.queries.costs`` does, so a month of hourly points
comes back as a few rows per project.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from datetime import datetime

from sqlalchemy import case, func
from sqlalchemy import select as sql_select
from sqlalchemy.engine import Connection
from sqlmodel import Session, col, select

from storage.models import Anomaly, AuditLog, CostPoint, CostSeries, PlaybookRun, RunbookEntry
from storage.timeutil import stored_utc

__all__ = [
    "anomalies_detected",
    "daily_project_spend",
    "first_actions",
    "playbook_runs",
    "project_service_spend",
    "runbook_entries",
]


def anomalies_detected(*, db_session: Session, start: datetime, end: datetime
                       ) -> Sequence[Anomaly]:
    """Anomalies detected in ``[start, end)``, oldest first."""
    statement = (select(Anomaly)
                 .where(col(Anomaly.detected_at) >= start, col(Anomaly.detected_at) < end)
                 .order_by(col(Anomaly.detected_at), col(Anomaly.id)))
    return db_session.exec(statement).all()


def playbook_runs(*, db_session: Session, anomaly_ids: Collection[int]
                  ) -> dict[int, PlaybookRun]:
    """The newest playbook run of each anomaly that has one."""
    if not anomaly_ids:
        return {}
    statement = (select(PlaybookRun)
                 .where(col(PlaybookRun.anomaly_id).in_(sorted(anomaly_ids)))
                 .order_by(col(PlaybookRun.id)))
    runs: dict[int, PlaybookRun] = {}
    for run in db_session.exec(statement).all():
        runs[run.anomaly_id] = run  # later ids replace earlier ones
    return runs


def runbook_entries(*, db_session: Session, anomaly_ids: Collection[int]
                    ) -> dict[int, RunbookEntry]:
    """The newest runbook entry written for each anomaly that has one."""
    if not anomaly_ids:
        return {}
    statement = (select(RunbookEntry)
                 .where(col(RunbookEntry.anomaly_id).in_(sorted(anomaly_ids)))
                 .order_by(col(RunbookEntry.created_at), col(RunbookEntry.id)))
    entries: dict[int, RunbookEntry] = {}
    for entry in db_session.exec(statement).all():
        if entry.anomaly_id is not None:
            entries[entry.anomaly_id] = entry
    return entries


def first_actions(*, db_session: Session, anomaly_ids: Collection[int],
                  actions: Collection[str]) -> dict[int, dict[str, datetime]]:
    """For each anomaly, the first time each of ``actions`` appears in its audit log."""
    if not anomaly_ids or not actions:
        return {}
    statement = (
        select(col(AuditLog.subject_id), col(AuditLog.action), func.min(AuditLog.at))
        .where(col(AuditLog.subject_type) == "anomaly",
               col(AuditLog.subject_id).in_(sorted(str(i) for i in anomaly_ids)),
               col(AuditLog.action).in_(sorted(actions)))
        .group_by(col(AuditLog.subject_id), col(AuditLog.action))
    )
    found: dict[int, dict[str, datetime]] = {}
    for subject, action, at in db_session.exec(statement).all():
        moment = stored_utc(at)
        if moment is not None:
            found.setdefault(int(subject), {})[str(action)] = moment
    return found


def daily_project_spend(*, connection: Connection, edges: Sequence[datetime]
                        ) -> list[tuple[str, int, float]]:
    """(project, bucket, spend) for each project and ``[edges[i], edges[i + 1])`` with spend;
    EffectiveCost, every charge category."""
    if len(edges) < 2:
        return []
    bucket = case(
        *[(col(CostPoint.hour) < edge, index) for index, edge in enumerate(edges[1:])],
        else_=None,
    )
    points = (
        sql_select(col(CostSeries.project).label("project"), bucket.label("bucket"),
               col(CostPoint.effective_cost).label("cost"))
        .select_from(CostSeries)
        .join(CostPoint, col(CostPoint.series_id) == col(CostSeries.id))
        .where(col(CostPoint.hour) >= edges[0], col(CostPoint.hour) < edges[-1])
        .subquery()
    )
    statement = (sql_select(points.c.project, points.c.bucket, func.sum(points.c.cost))
                 .group_by(points.c.project, points.c.bucket))
    return [(str(project or ""), int(index), float(total or 0.0))
            for project, index, total in connection.execute(statement) if index is not None]


def project_service_spend(*, connection: Connection, start: datetime, end: datetime
                          ) -> list[tuple[str, str, str, float]]:
    """(project, environment, service, spend) in ``[start, end)``, EffectiveCost."""
    statement = (
        sql_select(col(CostSeries.project), col(CostSeries.environment),
               col(CostSeries.service_name), func.sum(CostPoint.effective_cost))
        .join(CostPoint, col(CostPoint.series_id) == col(CostSeries.id))
        .where(col(CostPoint.hour) >= start, col(CostPoint.hour) < end)
        .group_by(col(CostSeries.project), col(CostSeries.environment),
                  col(CostSeries.service_name))
    )
    return [(str(p or ""), str(e or ""), str(s or ""), float(c or 0.0))
            for p, e, s, c in connection.execute(statement)]
