"""Named detector state on both databases: what one poll leaves for the next."""

from __future__ import annotations

from sqlmodel import Session, select

from storage.db import session_scope
from storage.models import DetectorState
from storage.queries import state


def test_state_is_none_until_set_then_reads_back_and_is_replaced(engine):
    with session_scope(engine) as session:
        assert state.get_state(db_session=session, name="detector") is None
        state.set_state(db_session=session, name="detector",
                        value={"last_hour": "2026-09-01T09:00:00+00:00"})
    with session_scope(engine) as session:
        assert state.get_state(db_session=session, name="detector") == {
            "last_hour": "2026-09-01T09:00:00+00:00"}
        first = session.get(DetectorState, "detector").updated_at
        state.set_state(db_session=session, name="detector", value={"last_hour": None})
    with Session(engine) as session:
        assert state.get_state(db_session=session, name="detector") == {"last_hour": None}
        assert state.get_state(db_session=session, name="other") is None
        row = session.get(DetectorState, "detector")
        assert row.updated_at >= first
        assert len(session.exec(select(DetectorState)).all()) == 1, "one row per name, in place"


def test_a_read_value_is_a_copy_changing_it_changes_nothing_stored(engine):
    with session_scope(engine) as session:
        state.set_state(db_session=session, name="detector", value={"n": 1})
    with session_scope(engine) as session:
        value = state.get_state(db_session=session, name="detector")
        value["n"] = 2
    with Session(engine) as session:
        assert state.get_state(db_session=session, name="detector") == {"n": 1}
