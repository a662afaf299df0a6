"""Named detector state: what the detection pass keeps between polls."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlmodel import Session

from storage.models import DetectorState

__all__ = [
    "get_state",
    "set_state",
]


def get_state(*, db_session: Session, name: str) -> dict[str, Any] | None:
    row = db_session.get(DetectorState, name)
    return dict(row.value) if row is not None else None


def set_state(*, db_session: Session, name: str, value: dict[str, Any]) -> None:
    row = db_session.get(DetectorState, name) or DetectorState(name=name, updated_at=_now())
    row.value = value
    row.updated_at = _now()
    db_session.add(row)


def _now() -> datetime:
    return datetime.now(UTC)
