"""The reads behind the weekly finance digest (``bot.finance.digest``), and its once-a-week mark.

Spend is summed in the database, per project and per day bucket, in one statement over the
``(series_id, hour)`` index, so a digest costs the same whatever the store's size. Anomalies,
the audit log and playbook runs are read for the two weeks only; the digest does the rest.

A digest is sent once per week whatever the number of replicas or restarts: its key
(``digest:2026-W48``) is the primary key of a ``detector_state`` row written in the same
transaction as its outbox messages, so the second attempt finds the row and queues nothing.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from datetime import datetime
from typing import Any, NamedTuple

from sqlalchemy import and_, case, func, or_
from sqlalchemy import select as sql_select
from sqlalchemy.engine import Connection
from sqlmodel import Session, col, select

from storage.models import Anomaly, AuditLog, CostPoint, CostSeries, DetectorState, PlaybookRun
from storage.timeutil import stored_utc

__all__ = ["DayProjectSpend", "anomalies_between", "claim_digest", "digest_sent",
           "first_actions", "playbook_runs_between", "spend_by_project_and_day"]


class DayProjectSpend(NamedTuple):
    """Spend of one project in one bucket (``edges[bucket]`` to ``edges[bucket + 1]``)."""

    project: str
    bucket: int
    cost: float


def spend_by_project_and_day(*, connection: Connection, edges: Sequence[datetime]
                             ) -> list[DayProjectSpend]:
    """EffectiveCost of every charge per project and bucket ``[edges[i], edges[i + 1])``.

    A project with no point in a bucket has no row for it. The bucket is a ``CASE`` over the
    edges (as ``queries.costs.daily_totals``), so no dialect's date functions are needed.
    """
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
        .where(and_(col(CostPoint.hour) >= edges[0], col(CostPoint.hour) < edges[-1]))
        .subquery()
    )
    statement = (sql_select(points.c.project, points.c.bucket, func.sum(points.c.cost))
                 .group_by(points.c.project, points.c.bucket))
    return [DayProjectSpend(str(project), int(index), float(total or 0.0))
            for project, index, total in connection.execute(statement) if index is not None]


def anomalies_between(*, db_session: Session, start: datetime, end: datetime,
                      resolving_actions: Collection[str]) -> Sequence[Anomaly]:
    """Anomalies detected in ``[start, end)``, or detected before ``end`` and resolved in it
    (by the detector, or by people: an audit entry of ``resolving_actions`` in the window)."""
    audited = select(col(AuditLog.subject_id)).where(
        col(AuditLog.subject_type) == "anomaly",
        col(AuditLog.action).in_(sorted(resolving_actions)),
        col(AuditLog.at) >= start, col(AuditLog.at) < end)
    closed_by_people = sorted({int(s) for s in db_session.exec(audited).all() if s.isdigit()})
    statement = (
        select(Anomaly)
        .where(col(Anomaly.detected_at) < end,
               or_(col(Anomaly.detected_at) >= start,
                   and_(col(Anomaly.resolved_at) >= start, col(Anomaly.resolved_at) < end),
                   col(Anomaly.id).in_(closed_by_people)))
        .order_by(col(Anomaly.detected_at), col(Anomaly.id))
    )
    return db_session.exec(statement).all()


def first_actions(*, db_session: Session, anomaly_ids: Collection[int],
                  actions: Collection[str]) -> dict[int, dict[str, datetime]]:
    """For each anomaly, the first time each of ``actions`` was taken on it (audit log)."""
    if not anomaly_ids:
        return {}
    db_session.flush()
    statement = (
        sql_select(col(AuditLog.subject_id), col(AuditLog.action), func.min(col(AuditLog.at)))
        .where(col(AuditLog.subject_type) == "anomaly",
               col(AuditLog.subject_id).in_(sorted(str(i) for i in anomaly_ids)),
               col(AuditLog.action).in_(sorted(actions)))
        .group_by(col(AuditLog.subject_id), col(AuditLog.action))
    )
    out: dict[int, dict[str, datetime]] = {}
    for subject, action, first in db_session.connection().execute(statement):
        moment = stored_utc(first)
        if moment is not None:
            out.setdefault(int(subject), {})[str(action)] = moment
    return out


def playbook_runs_between(*, db_session: Session, start: datetime, end: datetime
                          ) -> Sequence[PlaybookRun]:
    """Playbook runs that were open at some moment of ``[start, end)``: an answer given in
    the window belongs to one of them."""
    statement = (
        select(PlaybookRun)
        .where(col(PlaybookRun.started_at) < end,
               or_(col(PlaybookRun.completed_at).is_(None),
                   col(PlaybookRun.completed_at) >= start))
        .order_by(col(PlaybookRun.id))
    )
    return db_session.exec(statement).all()


def digest_sent(*, db_session: Session, key: str) -> dict[str, Any] | None:
    """What was recorded when the digest ``key`` was queued, or None if it never was."""
    row = db_session.get(DetectorState, key)
    return dict(row.value) if row is not None else None


def claim_digest(*, db_session: Session, key: str, value: dict[str, Any], now: datetime
                 ) -> bool:
    """Mark the digest ``key`` as queued, in the caller's transaction; False if it already was.

    The row's primary key is the guard: were two replicas to get here at once (the job runs
    under a lock, so only without it), the second insert fails on it and its transaction, with
    its outbox rows, is rolled back. (No savepoint: SQLite's driver would commit it.)
    """
    if db_session.get(DetectorState, key) is not None:
        return False
    db_session.add(DetectorState(name=key, value=value, updated_at=now))
    db_session.flush()
    return True
