"""A slow send keeps its claim: a second replica does not take it and send it again.

Two deliverers (two replicas) share one store, real SQLite or PostgreSQL. The first one's send
is held well past the lease; the second one keeps looking for due messages all that time.
"""

from __future__ import annotations

import threading
import time
from datetime import timedelta

from sqlmodel import Session, select

from bot.anomaly.service import load_alert_view
from bot.anomaly.views import AlertView
from bot.outbox.deliverer import Deliverer
from bot.outbox.lease import LeaseKeeper
from storage.models import OutboxMessage
from storage.queries import outbox as outbox_q
from tests.bot.outbox.test_deliverer import RecordingSender, alert_with_post, anomaly, statuses

LEASE = timedelta(seconds=1.5)


class HeldSender(RecordingSender):
    """Posts only once the test lets it (a platform that is slow to answer)."""

    def __init__(self) -> None:
        super().__init__()
        self.arrived = threading.Event()
        self.release = threading.Event()

    def post_alert(self, channel: str, view: AlertView, *, key: str) -> str:
        self.arrived.set()
        assert self.release.wait(30)
        return super().post_alert(channel, view, key=key)


def replica(engine, sender: RecordingSender) -> Deliverer:
    return Deliverer(engine=engine, sender=sender, min_interval=0.0, lease=LEASE,
                     render=lambda session, alert: load_alert_view(
                         db_session=session, anomaly_id=alert.anomaly_id, playbook=None))


def test_a_send_slower_than_its_lease_is_not_taken_by_another_replica(engine):
    alert_with_post(engine, anomaly(engine))
    slow, other = HeldSender(), RecordingSender()
    first = threading.Thread(target=replica(engine, slow).run_once)
    first.start()
    try:
        assert slow.arrived.wait(30)
        second = replica(engine, other)
        looked_until = time.monotonic() + 2.5 * LEASE.total_seconds()
        while time.monotonic() < looked_until:
            assert second.run_once() == 0
            time.sleep(0.05)
    finally:
        slow.release.set()
        first.join(30)

    assert [op for _, op, _, _ in slow.sent] == ["post"]
    assert other.sent == []
    assert statuses(engine) == ["sent"]


def test_a_claim_taken_over_is_not_taken_back(engine):
    """Once the lease ran out and another replica claimed the message, renewals stop."""
    alert_with_post(engine, anomaly(engine))
    with Session(engine) as session:
        message = session.exec(select(OutboxMessage)).one()
        assert message.id is not None
        message_id, attempts = message.id, message.attempts
        assert outbox_q.lease(db_session=session, message_id=message_id, attempts=attempts,
                              now=message.next_attempt_at, until=message.next_attempt_at)
        # the claim lapsed and another replica claimed it: one more attempt counted
        assert outbox_q.lease(db_session=session, message_id=message_id,
                              attempts=attempts + 1, now=message.next_attempt_at,
                              until=message.next_attempt_at + LEASE)
        session.commit()
    with LeaseKeeper(engine, message_id=message_id, attempts=attempts + 1,
                     lease=timedelta(seconds=0.3)) as keeper:
        time.sleep(0.5)
    assert keeper.lost and keeper.renewals == 0
    with Session(engine) as session:
        message = session.get(OutboxMessage, message_id)
        assert message is not None and message.attempts == attempts + 2
