"""Scheduled jobs as plain functions: what a flare after a resolution does."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlmodel import Session, select

from bot.scheduler import _reopened
from storage import chatops
from storage.models import Anomaly, OutboxMessage

NOW = datetime(2026, 11, 28, 12, tzinfo=UTC)


def test_a_flare_after_people_resolved_it_asks_for_people_again(engine):
    with Session(engine) as session:
        anomaly = Anomaly(project="p", environment="prod", owner="team-ai", phase="run",
                          kind="spike", started_at=NOW, detected_at=NOW, last_seen_at=NOW,
                          response="resolved", response_by="U1", evidence={})
        session.add(anomaly)
        session.flush()
        chatops.create_alert(db_session=session, anomaly_id=anomaly.id, platform="slack",
                             channel="C1", now=NOW)
        _reopened(session, int(anomaly.id), NOW)
        session.commit()
        stored = session.get(Anomaly, anomaly.id)
        assert stored.response == "none" and stored.response_by is None
        replies = [m.payload["text"] for m in session.exec(select(OutboxMessage)).all()
                   if m.operation == "reply"]
    assert replies == ["Spend rose again after this was resolved; it needs a look "
                       "(same incident)."]
