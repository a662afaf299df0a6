"""The SQL behind the anomaly register and the board report: a month's anomalies with what
people did about them, and the month's spend per project per day and per service.

Each function is one query whatever the number of anomalies (``IN`` lists, grouped), so a
register of a busy month costs four round trips. Spend is summed in the database per series
and day, so a month of hourly points comes back as one row per line of spend.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from datetime import datetime

from sqlalchemy import func
from sqlalchemy import select as sql_select
from sqlalchemy.engine import Connection
from sqlmodel import Session, col, select

from storage.models import Anomaly, AuditLog, CostPoint, CostSeries, PlaybookRun, RunbookEntry
from storage.timeutil import stored_utc

__all__ = [
    "anomalies_detected",
    "daily_series_spend",
    "first_actions",
    "playbook_runs",
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


def daily_series_spend(*, connection: Connection, edges: Sequence[datetime]
                       ) -> list[tuple[str, str, str, list[float]]]:
    """(project, environment, service, spend per bucket) of each series with a point in
    ``[edges[0], edges[-1])``; bucket ``i`` is ``[edges[i], edges[i + 1])``, EffectiveCost.

    One scalar subquery per bucket and series, each a range of the ``(series_id, hour)``
    index: on SQLite five times faster than grouping the month's points by a ``CASE`` bucket,
    which sorts every point of the month in a temporary b-tree.
    """
    if len(edges) < 2:
        return []
    buckets = [
        sql_select(func.sum(CostPoint.effective_cost))
        .where(col(CostPoint.series_id) == col(CostSeries.id), col(CostPoint.hour) >= low,
               col(CostPoint.hour) < high)
        .correlate(CostSeries).scalar_subquery().label(f"b{index}")
        for index, (low, high) in enumerate(zip(edges, edges[1:], strict=False))
    ]
    statement = sql_select(col(CostSeries.project), col(CostSeries.environment),
                           col(CostSeries.service_name), *buckets)
    out = []
    for project, environment, service, *sums in connection.execute(statement):
        if any(value is not None for value in sums):
            out.append((str(project or ""), str(environment or ""), str(service or ""),
                        [float(value or 0.0) for value in sums]))
    return out
