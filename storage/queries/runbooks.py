"""Playbook runs and runbook entries: what a walk answered, and what fixed it last time."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from sqlmodel import Session, col, select

from storage.models import (
    Anomaly,
    PlaybookRun,
    RunbookEntry,
)

__all__ = [
    "add_runbook_entry",
    "all_entries",
    "get_playbook_run",
    "recent_runbook",
    "runbook_for",
]


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


def all_entries(*, db_session: Session, project: str | None = None) -> Sequence[RunbookEntry]:
    """Every runbook entry (of ``project``), by workload, oldest first within each."""
    statement = select(RunbookEntry).order_by(
        col(RunbookEntry.project), col(RunbookEntry.environment),
        col(RunbookEntry.service_name), col(RunbookEntry.created_at), col(RunbookEntry.id))
    if project is not None:
        statement = statement.where(col(RunbookEntry.project) == project)
    return db_session.exec(statement).all()
