"""The outbox on its own: pacing, rate limits, retries, collapsing updates, ordering.

The chat platform is a recording sender that can be told to fail; the outbox, the store and the
rendering are the real ones. (Over real HTTP with slack_sdk, see tests/bot/chat/slack.)
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import UTC, datetime

import pytest
from sqlmodel import Session, select

from bot.anomaly.service import load_alert_view, notify
from bot.anomaly.views import AlertView
from bot.chat.port import DeliveryError, Notice
from bot.outbox.deliverer import Deliverer
from storage.models import Alert, Anomaly, OutboxMessage
from storage.queries import outbox as outbox_q

NOW = datetime(2026, 11, 28, 12, tzinfo=UTC)


@dataclass
class RecordingSender:
    platform: str = "slack"
    sent: list[tuple[float, str, str, str]] = field(default_factory=list)  # (t, op, channel, x)
    failures: list[DeliveryError] = field(default_factory=list)
    refs: int = 0

    def _maybe_fail(self) -> None:
        if self.failures:
            raise self.failures.pop(0)

    def _ref(self) -> str:
        self.refs += 1
        return f"ts-{self.refs}"

    def post_alert(self, channel: str, view: AlertView, *, key: str) -> str:
        self._maybe_fail()
        self.sent.append((time.monotonic(), "post", channel, view.response))
        return self._ref()

    def update_alert(self, channel: str, ref: str, view: AlertView) -> None:
        self._maybe_fail()
        self.sent.append((time.monotonic(), "update", channel, view.response))

    def reply(self, channel: str, ref: str, notice: Notice, *, key: str) -> str:
        self._maybe_fail()
        self.sent.append((time.monotonic(), "reply", channel, notice.text))
        return self._ref()

    def post_notice(self, channel: str, notice: Notice, *, key: str,
                    link: tuple[str, str] | None = None) -> str:
        self._maybe_fail()
        self.sent.append((time.monotonic(), "notice", channel, notice.text))
        return self._ref()

    def upload_chart(self, channel: str, ref: str, png: bytes, *, title: str,
                     key: str) -> None:
        self.sent.append((time.monotonic(), "chart", channel, f"{title} in {ref}"))

    def find_sent(self, channel: str, key: str, *, since: datetime,
                  thread: str | None = None) -> str | None:
        return None


def anomaly(engine, number: int = 1, owner: str = "team-ai") -> int:
    with Session(engine) as session:
        row = Anomaly(project=f"p{number}", environment="prod", owner=owner, phase="run",
                      kind="spike", started_at=NOW, detected_at=NOW, last_seen_at=NOW,
                      expected_cost=10, actual_cost=30, impact_usd=20, evidence={})
        session.add(row)
        session.commit()
        return int(row.id)


def alert_with_post(engine, anomaly_id: int, channel: str = "C1") -> int:
    with Session(engine) as session:
        alert = outbox_q.create_alert(db_session=session, anomaly_id=anomaly_id,
                                      platform="slack", channel=channel, now=NOW)
        outbox_q.enqueue(db_session=session, platform="slack", channel=channel,
                         operation="post", alert_id=alert.id, now=NOW)
        session.commit()
        return int(alert.id)


def deliverer(engine, sender: RecordingSender, interval: float = 0.0) -> Deliverer:
    return Deliverer(engine=engine, sender=sender, min_interval=interval,
                     render=lambda session, alert: load_alert_view(
                         db_session=session, anomaly_id=alert.anomaly_id, playbook=None))


def statuses(engine) -> list[str]:
    with Session(engine) as session:
        return [m.status for m in session.exec(select(OutboxMessage).order_by(
            OutboxMessage.id)).all()]


def test_messages_to_one_channel_are_paced_and_other_channels_are_not_held_up(engine):
    sender = RecordingSender()
    first, second = anomaly(engine, 1), anomaly(engine, 2)
    alert_with_post(engine, first, "C1")
    alert_with_post(engine, second, "C2")
    with Session(engine) as session:
        for n in range(3):
            notify(db_session=session, anomaly_id=first, now=NOW, text=f"step {n}")
        session.commit()
    deliverer(engine, sender, interval=0.25).drain(timeout=10, poll=0.01)
    c1 = [t for t, _, channel, _ in sender.sent if channel == "C1"]
    gaps = [b - a for a, b in zip(c1, c1[1:], strict=False)]
    assert len(c1) >= 4 and min(gaps) >= 0.24
    c2 = [t for t, _, channel, _ in sender.sent if channel == "C2"]
    assert c2[0] - c1[0] < 0.2, "the other channel's post went out in the same round"
    assert set(statuses(engine)) == {"sent"}


def test_a_rate_limit_pauses_the_channel_for_retry_after_and_sends_once(engine):
    sender = RecordingSender(failures=[DeliveryError("rate limited", retry_after=0.5)])
    alert_with_post(engine, anomaly(engine))
    started = time.monotonic()
    deliverer(engine, sender).drain(timeout=10, poll=0.01)
    posts = [t for t, op, _, _ in sender.sent if op == "post"]
    assert len(posts) == 1 and posts[0] - started >= 0.5
    assert statuses(engine) == ["sent"]


def test_updates_wait_for_the_post_and_queued_updates_collapse_into_one(engine):
    sender = RecordingSender(failures=[DeliveryError("Slack answered 500", uncertain=True)])
    first = anomaly(engine)
    alert_id = alert_with_post(engine, first)
    with Session(engine) as session:
        for _ in range(4):
            notify(db_session=session, anomaly_id=first, now=NOW)
        session.commit()
    outbox = deliverer(engine, sender)
    outbox.run_once()  # the post fails (500): nothing else may go out before it
    assert sender.sent == []
    with Session(engine) as session:  # retry now rather than after the backoff
        for message in session.exec(select(OutboxMessage)).all():
            message.next_attempt_at = NOW
            session.add(message)
        session.commit()
    outbox.drain(timeout=10, poll=0.01)
    assert [op for _, op, _, _ in sender.sent] == ["post"], "the post already shows the state"
    with Session(engine) as session:
        assert session.get(Alert, alert_id).message_ref == "ts-1"
    assert set(statuses(engine)) == {"sent"}


def test_a_permanent_error_sets_the_message_aside_with_its_reason(engine, caplog):
    sender = RecordingSender(failures=[DeliveryError("channel_not_found", permanent=True)])
    first = anomaly(engine)
    alert_with_post(engine, first, "C404")
    with Session(engine) as session:
        notify(db_session=session, anomaly_id=first, now=NOW, text="acknowledged")
        session.commit()
    deliverer(engine, sender).drain(timeout=5, poll=0.01)
    with Session(engine) as session:
        messages = session.exec(select(OutboxMessage).order_by(OutboxMessage.id)).all()
    assert [m.status for m in messages] == ["dead", "dead", "dead"]
    assert "channel_not_found" in messages[0].last_error
    assert "could not be posted" in messages[1].last_error
    assert sender.sent == []
    assert any("set aside" in r.message for r in caplog.records)


@pytest.mark.parametrize("failures", [3])
def test_retries_back_off_and_then_succeed(engine, failures):
    sender = RecordingSender(failures=[DeliveryError("no answer", uncertain=True)
                                       for _ in range(failures)])
    alert_with_post(engine, anomaly(engine))
    outbox = deliverer(engine, sender)
    for _ in range(failures + 1):
        outbox.run_once()
        with Session(engine) as session:
            message = session.exec(select(OutboxMessage)).one()
            if message.status == "sent":
                break
            assert message.next_attempt_at > datetime.now(UTC), "it waits before retrying"
            message.next_attempt_at = NOW
            session.add(message)
            session.commit()
    assert statuses(engine) == ["sent"]
    assert len([1 for _, op, _, _ in sender.sent if op == "post"]) == 1


def test_a_message_that_cannot_be_rendered_is_retried_then_set_aside(engine, caplog):
    alert_with_post(engine, anomaly(engine))

    def broken(session, alert):
        raise KeyError("contributors")

    outbox = Deliverer(engine=engine, sender=RecordingSender(), render=broken, max_attempts=2,
                       min_interval=0)
    for _ in range(3):
        outbox.run_once()
        with Session(engine) as session:
            for message in session.exec(select(OutboxMessage)).all():
                message.next_attempt_at = NOW
                session.add(message)
            session.commit()
    with Session(engine) as session:
        message = session.exec(select(OutboxMessage)).one()
    assert message.status == "dead" and "KeyError" in message.last_error
    assert any("could not be built" in r.message for r in caplog.records)


def test_two_replicas_sending_one_outbox_send_each_message_once(engine, database_url):
    from concurrent.futures import ThreadPoolExecutor

    from storage.db import make_engine

    for number in range(6):
        first = anomaly(engine, number)
        alert_with_post(engine, first, f"C{number}")
        with Session(engine) as session:
            for step in range(3):
                notify(db_session=session, anomaly_id=first, now=NOW, text=f"step {step}")
            session.commit()
    sender = RecordingSender()
    replicas = [deliverer(make_engine(database_url), sender) for _ in range(2)]
    with ThreadPoolExecutor(max_workers=2) as pool:
        list(pool.map(lambda outbox: outbox.drain(timeout=20, poll=0.01), replicas))
    posts = [channel for _, op, channel, _ in sender.sent if op == "post"]
    replies = [(channel, text) for _, op, channel, text in sender.sent if op == "reply"]
    assert sorted(posts) == [f"C{n}" for n in range(6)]
    assert len(replies) == len(set(replies)) == 18
    assert set(statuses(engine)) == {"sent"}


def notice_with_chart(engine, channel: str = "C0FINANCE") -> tuple[int, int]:
    with Session(engine) as session:
        notice = outbox_q.enqueue(db_session=session, platform="slack", channel=channel,
                                  operation="notice", now=NOW, payload={"text": "digest"})
        chart = outbox_q.enqueue(db_session=session, platform="slack", channel=channel,
                                 operation="chart", now=NOW,
                                 payload={"after_message": notice.id, "week": "W48"})
        session.commit()
        return int(notice.id), int(chart.id)


def drawn_from_payload(session, message):
    return b"\x89PNG", f"chart of {message.payload['week']}"


def test_a_chart_hangs_off_its_notice_and_waits_until_it_is_sent(engine):
    sender = RecordingSender(failures=[DeliveryError("Slack answered 500", uncertain=True)])
    notice_with_chart(engine)
    outbox = Deliverer(engine=engine, sender=sender, min_interval=0,
                       notice_chart=drawn_from_payload, render=lambda session, alert: None)
    outbox.run_once()  # the notice fails: its chart may not go out before it
    assert sender.sent == []
    with Session(engine) as session:
        chart = session.exec(select(OutboxMessage).where(OutboxMessage.operation == "chart")
                             ).one()
        assert chart.attempts == 0, "waiting for its notice is not an attempt"
        for message in session.exec(select(OutboxMessage)).all():
            message.next_attempt_at = NOW
            session.add(message)
        session.commit()
    outbox.drain(timeout=10, poll=0.01)
    assert [(op, text) for _, op, _, text in sender.sent] == [
        ("notice", "digest"), ("chart", "chart of W48 in ts-1")]
    assert statuses(engine) == ["sent", "sent"]


def test_a_chart_whose_notice_was_set_aside_is_set_aside_too(engine):
    sender = RecordingSender(failures=[DeliveryError("channel_not_found", permanent=True)])
    notice_with_chart(engine, "C404")
    Deliverer(engine=engine, sender=sender, min_interval=0, notice_chart=drawn_from_payload,
              render=lambda session, alert: None).drain(timeout=5, poll=0.01)
    with Session(engine) as session:
        messages = session.exec(select(OutboxMessage).order_by(OutboxMessage.id)).all()
    assert [m.status for m in messages] == ["dead", "dead"]
    assert "was not sent" in messages[1].last_error
    assert sender.sent == []
