"""Ingest runs: one per file of a delivery, with what it read, kept and refused."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select
from sqlmodel import Session, col

from bot.ingest.enums import RunStatus
from storage.models import IngestRun

__all__ = [
    "adopt_run",
    "create_ingest_run",
    "current_run_for_fingerprint",
    "finish_ingest_run",
    "list_ingest_runs",
]


def create_ingest_run(
    *, db_session: Session, delivery_id: str, source: str, file_path: str, checksum: str,
    fingerprint: str, file_size: int,
) -> IngestRun:
    run = IngestRun(
        delivery_id=delivery_id,
        source=source,
        file_path=file_path,
        checksum=checksum,
        fingerprint=fingerprint,
        file_size=file_size,
        started_at=datetime.now(UTC),
    )
    db_session.add(run)
    db_session.flush()
    return run


def finish_ingest_run(*, db_session: Session, run_id: int, **fields: Any) -> IngestRun:
    run = db_session.get(IngestRun, run_id)
    if run is None:
        raise LookupError(f"ingest run {run_id} does not exist")
    for key, value in fields.items():
        setattr(run, key, value)
    run.finished_at = datetime.now(UTC)
    db_session.add(run)
    return run


def current_run_for_fingerprint(*, db_session: Session, fingerprint: str) -> IngestRun | None:
    """The newest succeeded run with this fingerprint whose points are all still current."""
    statement = (
        select(IngestRun)
        .where(
            col(IngestRun.fingerprint) == fingerprint,
            col(IngestRun.status) == RunStatus.SUCCEEDED,
            col(IngestRun.superseded_at).is_(None),
        )
        .order_by(col(IngestRun.id).desc())
        .limit(1)
    )
    return db_session.scalars(statement).first()


def adopt_run(*, db_session: Session, run_id: int, delivery_id: str) -> None:
    """Make an earlier, still current run part of this delivery."""
    run = db_session.get(IngestRun, run_id)
    if run is not None:
        run.delivery_id = delivery_id
        db_session.add(run)


def list_ingest_runs(*, db_session: Session, limit: int = 20) -> Sequence[IngestRun]:
    statement = select(IngestRun).order_by(col(IngestRun.id).desc()).limit(limit)
    return db_session.scalars(statement).all()
