"""Playbook runs, runbook entries and their earlier versions: what a walk answered, what fixed
it last time, and what an entry said before someone edited it.

The reads every alert card makes (the walk, the workload's entries, earlier incidents) are
built once, with bound parameters (``_statement`` functions): building a statement costs more
interpreter time than SQLite takes to run it, and a card is drawn on every click."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from functools import cache
from typing import Any

from sqlalchemy import bindparam
from sqlmodel import Session, col, select

from storage.models import (
    Anomaly,
    PlaybookRun,
    RunbookEntry,
    RunbookRevision,
)

__all__ = [
    "add_revision",
    "add_runbook_entry",
    "all_entries",
    "earlier_incident_entries",
    "get_entry",
    "get_playbook_run",
    "recent_runbook",
    "revisions_of",
    "runbook_for",
]


def get_playbook_run(*, db_session: Session, anomaly_id: int,
                     for_update: bool = False) -> PlaybookRun | None:
    """The anomaly's playbook run; ``for_update`` locks it (two people saving steps at once
    must not overwrite each other's answers) on PostgreSQL."""
    return db_session.exec(_run_statement(for_update), params={"anomaly_id": anomaly_id}
                           ).first()


@cache
def _run_statement(for_update: bool) -> Any:
    statement = select(PlaybookRun).where(PlaybookRun.anomaly_id == bindparam("anomaly_id"))
    statement = statement.order_by(col(PlaybookRun.id).desc())
    return statement.with_for_update() if for_update else statement


def runbook_for(
    *, db_session: Session, project: str, environment: str | None = None,
    service_name: str | None = None, limit: int = 20,
) -> Sequence[RunbookEntry]:
    """A workload's runbook, newest first."""
    statement = _runbook_statement(environment is not None, service_name is not None)
    return db_session.exec(statement, params={
        "project": project, "environment": environment, "service_name": service_name,
        "limit": limit}).all()


@cache
def _runbook_statement(by_environment: bool, by_service: bool) -> Any:
    statement = select(RunbookEntry).where(RunbookEntry.project == bindparam("project"))
    if by_environment:
        statement = statement.where(RunbookEntry.environment == bindparam("environment"))
    if by_service:
        statement = statement.where(RunbookEntry.service_name == bindparam("service_name"))
    statement = statement.order_by(col(RunbookEntry.created_at).desc(),
                                   col(RunbookEntry.id).desc())
    return statement.limit(bindparam("limit"))


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


def get_entry(*, db_session: Session, entry_id: int,
              for_update: bool = False) -> RunbookEntry | None:
    """One entry; ``for_update`` locks it (two edits at once must not lose a version)."""
    statement = select(RunbookEntry).where(RunbookEntry.id == entry_id)
    if for_update:
        statement = statement.with_for_update()
    return db_session.exec(statement).first()


def add_revision(*, db_session: Session, revision: RunbookRevision) -> RunbookRevision:
    db_session.add(revision)
    db_session.flush()
    return revision


def revisions_of(*, db_session: Session,
                 entry_ids: Iterable[int]) -> dict[int, list[RunbookRevision]]:
    """The earlier versions of each entry, newest first (entries never edited are absent)."""
    ids = sorted(set(entry_ids))
    if not ids:
        return {}
    statement = select(RunbookRevision).where(col(RunbookRevision.entry_id).in_(ids)).order_by(
        col(RunbookRevision.entry_id), col(RunbookRevision.version).desc())
    found: dict[int, list[RunbookRevision]] = {}
    for revision in db_session.exec(statement).all():
        found.setdefault(revision.entry_id, []).append(revision)
    return found


def earlier_incident_entries(
    *, db_session: Session, project: str, environment: str, service_name: str,
    started_before: datetime, exclude_anomaly_id: int | None = None,
) -> Sequence[tuple[RunbookEntry, Anomaly]]:
    """The entries filed for incidents on a workload that started before ``started_before``,
    each with its incident, newest incident first."""
    rows = db_session.exec(_earlier_statement(exclude_anomaly_id is not None), params={
        "project": project, "environment": environment, "service_name": service_name,
        "started_before": started_before, "exclude": exclude_anomaly_id}).all()
    return [(entry, anomaly) for entry, anomaly in rows]


@cache
def _earlier_statement(excluding: bool) -> Any:
    statement = (
        select(RunbookEntry, Anomaly)
        .join(Anomaly, col(Anomaly.id) == col(RunbookEntry.anomaly_id))
        .where(RunbookEntry.project == bindparam("project"),
               RunbookEntry.environment == bindparam("environment"),
               RunbookEntry.service_name == bindparam("service_name"),
               col(Anomaly.started_at) < bindparam("started_before"))
        .order_by(col(Anomaly.started_at).desc(), col(RunbookEntry.created_at).desc(),
                  col(RunbookEntry.id).desc())
    )
    return statement.where(col(Anomaly.id) != bindparam("exclude")) if excluding else statement
