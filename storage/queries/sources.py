"""Source state (one row per configured source) and the points a window read replaces."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from functools import cache
from typing import Any

from sqlalchemy import delete, func, select, update
from sqlalchemy.engine import Connection
from sqlmodel import Session, col

from bot.ingest.enums import RunStatus
from storage.models import CostPoint, IngestRun, SourceState
from storage.timeutil import stored_utc

__all__ = [
    "get_state",
    "list_states",
    "newest_hour",
    "current_run_ids",
    "replace_window",
    "save_state",
]


def get_state(*, db_session: Session, name: str) -> SourceState | None:
    return db_session.get(SourceState, name)


def list_states(*, db_session: Session) -> Sequence[SourceState]:
    return db_session.scalars(_states_statement()).all()


@cache
def _states_statement() -> Any:
    """Built once: every alert card reads the sources' state ("data as of")."""
    return select(SourceState).order_by(col(SourceState.name))


def save_state(*, db_session: Session, name: str, kind: str, **fields: Any) -> SourceState:
    """Create or update the state of source ``name`` with ``fields``."""
    state = db_session.get(SourceState, name)
    if state is None:
        state = SourceState(name=name, kind=kind)
        db_session.add(state)
    state.kind = kind
    for key, value in fields.items():
        setattr(state, key, value)
    db_session.flush()
    return state


def replace_window(*, connection: Connection, source: str, start: datetime,
                   keep_run: int, now: datetime) -> int:
    """Delete the points of ``source``'s earlier reads from hour ``start`` on; returns how many.

    A window read is the whole truth for its source from its start on: restated hours replace
    what was stored, and hours the provider no longer reports are gone.
    """
    runs = select(col(IngestRun.id)).where(col(IngestRun.source) == source,
                                           col(IngestRun.id) != keep_run)
    result = connection.execute(delete(CostPoint).where(
        col(CostPoint.ingest_run_id).in_(runs), col(CostPoint.hour) >= start))
    connection.execute(
        update(IngestRun)
        .where(col(IngestRun.source) == source, col(IngestRun.id) != keep_run,
               col(IngestRun.window_start).is_not(None), col(IngestRun.superseded_at).is_(None),
               col(IngestRun.window_start) >= start)
        .values(superseded_at=now)
    )
    return result.rowcount or 0


def newest_hour(*, connection: Connection, run_ids: Sequence[int]) -> datetime | None:
    """The newest hour with points written by these runs."""
    if not run_ids:
        return None
    value = connection.execute(
        select(func.max(CostPoint.hour)).where(col(CostPoint.ingest_run_id).in_(list(run_ids)))
    ).scalar()
    return stored_utc(value)


def current_run_ids(*, connection: Connection, source: str) -> list[int]:
    """The runs of ``source`` whose points may still be stored."""
    ids = connection.execute(select(col(IngestRun.id)).where(
        col(IngestRun.source) == source,
        col(IngestRun.status).in_((RunStatus.SUCCEEDED, RunStatus.HELD)))).scalars()
    return [int(i) for i in ids if i is not None]
