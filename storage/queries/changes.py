"""Change events: deploys, releases and config changes on a workload, stored once each."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from functools import cache
from typing import Any

from sqlalchemy import bindparam, or_
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from storage.models import ChangeEvent, CostSeries

__all__ = ["add_change", "changes_between", "get_change", "project_known"]


def add_change(*, db_session: Session, event: ChangeEvent) -> tuple[ChangeEvent, bool]:
    """Store ``event`` unless one with its source and external id is stored; returns the
    stored row and whether it is new. A race with another writer of the same event ends
    with one row and False here."""
    existing = _find(db_session, event.source, event.external_id)
    if existing is not None:
        return existing, False
    try:
        with db_session.begin_nested():
            db_session.add(event)
    except IntegrityError:
        existing = _find(db_session, event.source, event.external_id)
        if existing is None:
            raise
        return existing, False
    return event, True


def _find(db_session: Session, source: str, external_id: str) -> ChangeEvent | None:
    return db_session.exec(select(ChangeEvent).where(
        ChangeEvent.source == source, ChangeEvent.external_id == external_id)).first()


def get_change(*, db_session: Session, change_id: int) -> ChangeEvent | None:
    return db_session.get(ChangeEvent, change_id)


def changes_between(*, db_session: Session, project: str, environment: str, start: datetime,
                    end: datetime, limit: int = 20) -> Sequence[ChangeEvent]:
    """Changes of ``project`` at ``start`` to ``end`` (inclusive) on ``environment`` or on an
    environment not known (""), newest first."""
    return db_session.exec(_between_statement(), params={
        "project": project, "environment": environment, "start": start, "end": end,
        "limit": limit}).all()


@cache
def _between_statement() -> Any:
    """Built once: every alert card reads its changes (see ``storage.queries.runbooks``)."""
    return (
        select(ChangeEvent)
        .where(ChangeEvent.project == bindparam("project"),
               or_(col(ChangeEvent.environment) == bindparam("environment"),
                   col(ChangeEvent.environment) == ""),
               col(ChangeEvent.at) >= bindparam("start"), col(ChangeEvent.at) <= bindparam("end"))
        .order_by(col(ChangeEvent.at).desc(), col(ChangeEvent.id).desc())
        .limit(bindparam("limit")))


def project_known(*, db_session: Session, project: str) -> bool:
    """Whether any spend line of ``project`` is stored (a change on a project the bot has
    never seen spend for is kept, but its sender is told)."""
    return db_session.exec(select(CostSeries.id).where(CostSeries.project == project)
                           .limit(1)).first() is not None
