"""The alert and outbox queries, each against a real SQLite store and a real PostgreSQL."""

from __future__ import annotations

from datetime import timedelta

from sqlmodel import Session, select

from storage.db import session_scope
from storage.models import OutboxMessage
from storage.queries import outbox
from storage.timeutil import as_utc
from tests.support.anomalies import NOW, add_anomaly


def ids(rows) -> list[int]:
    return [int(row.id) for row in rows]


def test_alerts_one_per_platform(engine):
    anomaly_id = add_anomaly(engine, platforms=("slack", "console"))
    other = add_anomaly(engine, platforms=("slack",))
    with Session(engine) as session:
        slack = outbox.alert_for(db_session=session, anomaly_id=anomaly_id, platform="slack")
        assert (slack.channel, slack.status) == ("C0SUPPORT", "pending")
        assert outbox.alert_for(db_session=session, anomaly_id=other,
                                platform="console") is None
        assert [a.platform for a in outbox.alerts_of(db_session=session,
                                                     anomaly_id=anomaly_id)] == [
           "slack", "console"]


def queue(engine, *messages: tuple[str, str, timedelta]) -> list[int]:
    """(platform, operation, due in) -> the new messages' ids."""
    anomaly_id = add_anomaly(engine, platforms=("slack",))
    with session_scope(engine) as session:
        alert = outbox.alert_for(db_session=session, anomaly_id=anomaly_id, platform="slack")
        return [int(outbox.enqueue(db_session=session, platform=platform, channel="C0X",
                                   operation=operation, now=NOW + due, alert_id=alert.id,
                                   payload={"n": n}).id)
               for n, (platform, operation, due) in enumerate(messages)]


def test_the_due_messages_of_a_platform_are_claimed_oldest_first(engine):
    now = timedelta(0)
    first, later, _console, second, sent = queue(
        engine, ("slack", "post", now), ("slack", "update", timedelta(minutes=5)),
        ("console", "post", now), ("slack", "reply", now), ("slack", "reply", now))
    with session_scope(engine) as session:
        done = session.get(OutboxMessage, sent)
        done.status = "sent"
        session.add(done)
    with session_scope(engine) as session:
        assert ids(outbox.claim_due(db_session=session, platform="slack", now=NOW)) == [
            first, second]
        assert ids(outbox.claim_due(db_session=session, platform="slack", now=NOW,
                                    limit=1)) == [first]
        assert ids(outbox.claim_due(db_session=session, platform="slack",
                                    now=NOW + timedelta(minutes=5))) == [first, later, second]
        # not due yet still counts as not sent; a sent one does not
        assert outbox.count_pending(db_session=session, platform="slack") == 3
        assert outbox.count_pending(db_session=session, platform="console") == 1
        assert outbox.count_pending(db_session=session, platform="teams") == 0


def test_a_message_is_leased_by_one_sender_only(engine):
    (message,) = queue(engine, ("slack", "post", timedelta(0)))
    until = NOW + timedelta(seconds=30)
    with session_scope(engine) as session:
        assert outbox.lease(db_session=session, message_id=message, attempts=0, now=NOW,
                            until=until)
    with session_scope(engine) as session:
        # another sender that read attempts=0 before: too late
        assert not outbox.lease(db_session=session, message_id=message, attempts=0, now=NOW,
                                until=until)
        # the lease holds until it runs out
        assert not outbox.lease(db_session=session, message_id=message, attempts=1, now=NOW,
                                until=until)
        assert outbox.claim_due(db_session=session, platform="slack", now=NOW) == []
    with session_scope(engine) as session:
        assert outbox.lease(db_session=session, message_id=message, attempts=1, now=until,
                            until=until + timedelta(seconds=30))
        assert session.get(OutboxMessage, message).attempts == 2


def test_pending_messages_of_an_alert_by_operation(engine):
    now = timedelta(0)
    first, reply, second, third = queue(engine, ("slack", "update", now),
                                        ("slack", "reply", now), ("slack", "update", now),
                                        ("slack", "update", now))
    with Session(engine) as session:
        alert_id = session.get(OutboxMessage, first).alert_id
        assert ids(outbox.pending_for_alert(db_session=session, alert_id=alert_id,
                                            operation="update")) == [first, second, third]
        assert ids(outbox.pending_for_alert(db_session=session, alert_id=alert_id,
                                            operation="update", before_id=third)) == [
           first, second]
        assert ids(outbox.pending_for_alert(db_session=session, alert_id=alert_id,
                                            operation="reply")) == [reply]




def test_an_action_queues_an_update_and_a_reply_for_each_platform_in_one_go(engine):
    """``notify`` (an acknowledgement, a step): every alert of the anomaly gets its card
    updated and the reply in its thread, due now, pending, with the reply's text and actor."""
    from bot.anomaly.service import notify

    anomaly_id = add_anomaly(engine, platforms=("slack", "teams"))
    other = add_anomaly(engine, platforms=("slack",))
    with session_scope(engine) as session:
        addresses = outbox.alert_addresses(db_session=session, anomaly_id=anomaly_id)
        assert [(p, c) for _, p, c in addresses] == [
            (a.platform, a.channel) for a in outbox.alerts_of(db_session=session,
                                                             anomaly_id=anomaly_id)]
        notify(db_session=session, anomaly_id=anomaly_id, now=NOW, text="acknowledged",
               actor="U1")
    with Session(engine) as session:
        rows = session.exec(select(OutboxMessage).order_by(OutboxMessage.id)).all()
        queued = [(m.alert_id, m.platform, m.channel, m.operation, m.payload, m.status,
                   m.attempts) for m in rows]
        assert all(as_utc(m.next_attempt_at) == NOW for m in rows)
    alert_ids = [alert_id for alert_id, _, _ in addresses]
    assert queued == [
        (alert_ids[0], "slack", addresses[0][2], "update", {}, "pending", 0),
        (alert_ids[0], "slack", addresses[0][2], "reply",
         {"text": "acknowledged", "actor": "U1"}, "pending", 0),
        (alert_ids[1], "teams", addresses[1][2], "update", {}, "pending", 0),
        (alert_ids[1], "teams", addresses[1][2], "reply",
         {"text": "acknowledged", "actor": "U1"}, "pending", 0),
    ]
    with session_scope(engine) as session:  # an anomaly with no text: updates only
        notify(db_session=session, anomaly_id=other, now=NOW)
        assert outbox.count_pending(db_session=session, platform="slack") == 3
