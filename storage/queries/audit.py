"""The audit log: who did what to which anomaly, and when."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlmodel import Session

from storage.models import AuditLog

__all__ = [
    "add_audit",
]


def add_audit(
    *, db_session: Session, actor: str, action: str, subject_type: str, subject_id: str,
    detail: dict[str, Any] | None = None,
) -> AuditLog:
    entry = AuditLog(
        at=datetime.now(UTC),
        actor=actor,
        action=action,
        subject_type=subject_type,
        subject_id=subject_id,
        detail=detail or {},
    )
    db_session.add(entry)
    return entry
