"""The outbox lease follows ``schedule.lease_seconds``: how long a crashed send holds a message."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlmodel import Session

from bot.anomaly.views import AlertView
from bot.settings import Settings
from bot.wiring import Services
from storage.models import OutboxMessage
from storage.timeutil import as_utc
from tests.bot.outbox.test_deliverer import RecordingSender, alert_with_post, anomaly


class LeaseReadingSender(RecordingSender):
    """Reads, while it sends, until when the message is leased to it."""

    leased_until: datetime | None = None

    def __init__(self, engine) -> None:
        super().__init__()
        self.engine = engine

    def post_alert(self, channel: str, view: AlertView, *, key: str) -> str:
        with Session(self.engine) as session:
            message = session.get(OutboxMessage, int(key.removeprefix("sw-outbox-")))
            assert message is not None
            self.leased_until = as_utc(message.next_attempt_at)
        return super().post_alert(channel, view, key=key)


def test_a_message_being_sent_is_leased_for_the_configured_seconds(engine, settings: Settings):
    configured = settings.model_copy(update={"schedule": settings.schedule.model_copy(
        update={"lease_seconds": 7.0})})
    sender = LeaseReadingSender(engine)
    deliverer = Services(settings=configured, engine=engine).deliverer(
        sender, playbook=None, min_interval=0.0)  # type: ignore[arg-type]
    alert_with_post(engine, anomaly(engine))

    before = datetime.now(UTC)
    assert deliverer.run_once() == 1
    after = datetime.now(UTC)

    assert sender.leased_until is not None
    assert before + timedelta(seconds=7) <= sender.leased_until <= after + timedelta(seconds=7)
