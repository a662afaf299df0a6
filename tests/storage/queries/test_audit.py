"""The audit log on both databases: each entry says who, what, on which subject, and when."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlmodel import Session, select

from storage.db import session_scope
from storage.models import AuditLog
from storage.queries import audit


def test_an_entry_is_written_in_the_callers_transaction_with_its_detail(engine):
    before = datetime.now(UTC)
    with session_scope(engine) as session:
        audit.add_audit(db_session=session, actor="U0ALICE", action="acknowledged",
                        subject_type="anomaly", subject_id="7", detail={"channel": "C0X"})
        audit.add_audit(db_session=session, actor="U0BOB", action="snoozed",
                        subject_type="anomaly", subject_id="7")
    with Session(engine) as session:
        rows = session.exec(select(AuditLog).order_by(AuditLog.id)).all()
    assert [(r.actor, r.action, r.subject_type, r.subject_id, r.detail) for r in rows] == [
        ("U0ALICE", "acknowledged", "anomaly", "7", {"channel": "C0X"}),
        ("U0BOB", "snoozed", "anomaly", "7", {}),
    ]
    at = rows[0].at if rows[0].at.tzinfo else rows[0].at.replace(tzinfo=UTC)
    assert at >= before


def test_a_rolled_back_transaction_leaves_no_entry(engine):
    try:
        with session_scope(engine) as session:
            audit.add_audit(db_session=session, actor="U0ALICE", action="expected",
                            subject_type="anomaly", subject_id="1")
            raise RuntimeError("the action failed after writing its audit row")
    except RuntimeError:
        pass
    with Session(engine) as session:
        assert session.exec(select(AuditLog)).all() == []
