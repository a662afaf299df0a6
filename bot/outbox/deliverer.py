"""The durable outbox: every chat message is stored first, then sent, retried and paced.

Why: a restart, a Slack outage or a rate limit must lose nothing and send nothing twice.

* Messages are rows of ``outbox`` written in the same transaction as the change they report
  (``bot.anomaly.service``). The deliverer sends them oldest first.
* **Alerts are rendered when sent**, from the store as it is then: several pending updates of
  one alert collapse into one ``chat.update`` showing the latest state.
* **Pacing**: at most one message per channel every ``min_interval`` seconds (Slack allows
  about one per second per channel); a 429 pauses that channel for its ``Retry-After``.
* **Retries**: with backoff (2, 4, 8 ... s, at most 5 min) up to ``max_attempts``; a permanent
  error (unknown channel, malformed message) sets the message aside as ``dead`` with the error.
* **Claims**: a message is claimed by counting the attempt and leasing it (a minute by default,
  ``schedule.lease_seconds``) in one conditional ``UPDATE`` (committed before the request
  leaves), so two replicas never send the same row. While the send is in flight the lease is
  extended (``bot.outbox.lease``); once a crashed send's lease ends, another replica (or the
  same one restarted) looks the message up and sends it.
* **No duplicates**: a post that was
  attempted before (a crash, a server error or a dropped connection after the request left)
  is looked up on the platform by its key (``ChatSender.find_sent``) before it is sent again.
* Replies, updates and charts wait until their alert's message exists. A chart may hang off
  a notice instead (``payload.after_message``: the notice's outbox id, e.g. the weekly
  digest's): it waits until that notice is sent, goes into its thread, and is drawn by the
  ``notice_chart`` function the deliverer is given.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from sqlalchemy.engine import Engine
from sqlmodel import Session

from bot import metrics
from bot.anomaly.views import AlertView
from bot.chat.port import ChatSender, DeliveryError, Notice
from bot.outbox.enums import AlertStatus, DeliveryOutcome, MessageStatus, Operation
from bot.outbox.lease import LeaseKeeper
from storage import queries
from storage.db import session_scope
from storage.models import Alert, OutboxMessage

__all__ = ["Deliverer"]

log = logging.getLogger(__name__)

ChartRenderer = Callable[[Session, Alert], tuple[bytes, str] | None]
ViewRenderer = Callable[[Session, Alert], AlertView]
NoticeChartRenderer = Callable[[Session, OutboxMessage], tuple[bytes, str] | None]
NEEDS_MESSAGE = (Operation.UPDATE, Operation.REPLY, Operation.CHART)
# a claimed message is not due for others this long (another replica, or after a crash)
LEASE = timedelta(seconds=60)
NOT_IDEMPOTENT = (Operation.POST, Operation.REPLY, Operation.NOTICE, Operation.CHART)


class _Defer(Exception):
    """Not sendable yet (its alert has no message); try again later without counting."""


class Deliverer:
    def __init__(self, *, engine: Engine, sender: ChatSender, render: ViewRenderer,
                 chart: ChartRenderer | None = None,
                 notice_chart: NoticeChartRenderer | None = None, min_interval: float = 1.0,
                 max_attempts: int = 12, lease: timedelta = LEASE,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.engine = engine
        self.sender = sender
        self.render = render
        self.chart = chart
        self.notice_chart = notice_chart
        self.min_interval = min_interval
        self.max_attempts = max_attempts
        self.lease = lease
        self.clock = clock
        self._free_at: dict[str, float] = {}  # channel -> monotonic time it may send again
        self._lock = threading.Lock()  # one round at a time in this process
        self._covered: dict[int, int] = {}  # message id -> newest update id its render covers

    def run_once(self) -> int:
        """Send at most one due message per channel that is free; returns how many were sent."""
        with self._lock:
            return self._round()

    def _round(self) -> int:
        now = datetime.now(UTC)
        with session_scope(self.engine) as session:
            due = [(m.id, m.channel) for m in queries.outbox.claim_due(
                db_session=session, platform=self.sender.platform, now=now)]
        busy: set[str] = set()
        sent = 0
        for message_id, channel in due:
            if channel in busy or self._free_at.get(channel, 0.0) > self.clock():
                continue
            outcome = self._deliver(int(message_id or 0))
            if outcome != DeliveryOutcome.DEFERRED:
                busy.add(channel)
                self._free_at[channel] = max(self._free_at.get(channel, 0.0),
                                             self.clock() + self.min_interval)
            sent += outcome == DeliveryOutcome.SENT
        return sent

    def drain(self, *, timeout: float = 30.0, poll: float = 0.05) -> int:
        """Deliver until nothing is pending or ``timeout`` passes (tests, the demo, shutdown)."""
        deadline = self.clock() + timeout
        total = 0
        while self.clock() < deadline:
            total += self.run_once()
            if not self.pending():
                break
            time.sleep(poll)
        return total

    def pending(self) -> int:
        with session_scope(self.engine) as session:
            return queries.outbox.count_pending(db_session=session, platform=self.sender.platform)

    def _deliver(self, message_id: int) -> DeliveryOutcome:
        with session_scope(self.engine) as session:
            message = session.get(OutboxMessage, message_id)
            if message is None or message.status != MessageStatus.PENDING:
                return DeliveryOutcome.SKIPPED
            alert = session.get(Alert, message.alert_id) if message.alert_id else None
            try:
                self._check_ready(message, alert, _parent(session, message))
            except _Defer:
                return DeliveryOutcome.DEFERRED
            except DeliveryError as exc:
                _dead(message, str(exc))
                return DeliveryOutcome.DEAD
            attempts = message.attempts
            now = datetime.now(UTC)
            if not queries.outbox.lease(db_session=session, message_id=message_id,
                                        attempts=attempts, now=now,
                                        until=now + self.lease):
                return DeliveryOutcome.SKIPPED  # another replica took it
        try:
            with LeaseKeeper(self.engine, message_id=message_id, attempts=attempts + 1,
                             lease=self.lease):
                ref = self._send(message_id, retried=attempts > 0)
        except DeliveryError as exc:
            self._failed(message_id, exc)
            return DeliveryOutcome.FAILED
        except Exception as exc:  # a bug (rendering, an adapter): counted like any failure
            log.exception("outbox message %s could not be built or sent", message_id)
            self._failed(message_id, DeliveryError(f"{type(exc).__name__}: {exc}"))
            return DeliveryOutcome.FAILED
        self._succeeded(message_id, ref)
        return DeliveryOutcome.SENT

    def _check_ready(self, message: OutboxMessage, alert: Alert | None,
                     parent: OutboxMessage | None) -> None:
        if "after_message" in message.payload:
            if parent is None or parent.status == MessageStatus.DEAD:
                raise DeliveryError("the message it belongs to was not sent", permanent=True)
            if parent.status != MessageStatus.SENT or parent.result_ref is None:
                raise _Defer()
            return
        if message.operation in NEEDS_MESSAGE or message.payload.get("link_alert"):
            if alert is None:
                raise DeliveryError("its alert no longer exists", permanent=True)
            if alert.status == AlertStatus.DEAD:
                raise DeliveryError("its alert message could not be posted", permanent=True)
            if alert.message_ref is None:
                raise _Defer()

    def _send(self, message_id: int, *, retried: bool) -> str | None:
        with session_scope(self.engine) as session:
            message = session.get(OutboxMessage, message_id)
            assert message is not None
            alert = session.get(Alert, message.alert_id) if message.alert_id else None
            parent = _parent(session, message)
            key = f"sw-outbox-{message.id}"
            operation, channel = message.operation, message.channel
            if retried and operation in NOT_IDEMPOTENT:
                in_thread = operation in (Operation.REPLY, Operation.CHART)
                thread = alert.message_ref if in_thread and alert else None
                if parent is not None:
                    thread = parent.result_ref
                found = self.sender.find_sent(channel, key, since=message.created_at,
                                              thread=thread)
                if found:
                    log.info("outbox %s had arrived before a failure; not sent again", key)
                    return found
            if operation in (Operation.POST, Operation.UPDATE) and alert is not None:
                # every update queued before this render is shown by it
                assert alert.id is not None  # read from the database
                waiting = queries.outbox.pending_for_alert(db_session=session, alert_id=alert.id,
                                                           operation=Operation.UPDATE)
                self._covered[message_id] = max((int(m.id or 0) for m in waiting), default=0)
            if operation == Operation.POST:
                assert alert is not None
                return self.sender.post_alert(channel, self.render(session, alert), key=key)
            if operation == Operation.UPDATE:
                assert alert is not None and alert.message_ref is not None
                self.sender.update_alert(channel, alert.message_ref, self.render(session, alert))
                return alert.message_ref
            notice = Notice(text=str(message.payload.get("text", "")),
                            actor=message.payload.get("actor"))
            if operation == Operation.REPLY:
                assert alert is not None and alert.message_ref is not None
                return self.sender.reply(channel, alert.message_ref, notice, key=key)
            if operation == Operation.NOTICE:
                link = (alert.channel, alert.message_ref) if alert and alert.message_ref else None
                return self.sender.post_notice(channel, notice, key=key, link=link)
            if operation == Operation.CHART:
                self._chart(session, message, alert, parent, key=key)
                return None
            raise DeliveryError(f"unknown outbox operation {operation!r}", permanent=True)

    def _chart(self, session: Session, message: OutboxMessage, alert: Alert | None,
               parent: OutboxMessage | None, *, key: str) -> None:
        """Upload the chart into its notice's thread, or else into its alert's."""
        if parent is not None:
            assert parent.result_ref is not None
            thread = parent.result_ref
            drawn = self.notice_chart(session, message) if self.notice_chart else None
        else:
            assert alert is not None and alert.message_ref is not None
            thread = alert.message_ref
            drawn = self.chart(session, alert) if self.chart else None
        if drawn is not None:
            self.sender.upload_chart(message.channel, thread, drawn[0], title=drawn[1], key=key)

    def _succeeded(self, message_id: int, ref: str | None) -> None:
        now = datetime.now(UTC)
        with session_scope(self.engine) as session:
            message = session.get(OutboxMessage, message_id)
            assert message is not None
            message.status, message.sent_at, message.result_ref = MessageStatus.SENT, now, ref
            session.add(message)
            metrics.message_sent(message)
            if message.alert_id is None:
                return
            if message.operation == Operation.POST:
                alert = session.get(Alert, message.alert_id)
                assert alert is not None
                alert.message_ref, alert.status, alert.updated_at = ref, AlertStatus.POSTED, now
                session.add(alert)
            covered = self._covered.pop(message_id, 0)
            if message.operation in (Operation.POST, Operation.UPDATE) and covered:
                # the message now shows what those updates were queued for
                for older in queries.outbox.pending_for_alert(db_session=session,
                                                              alert_id=message.alert_id,
                                                              operation=Operation.UPDATE,
                                                              before_id=covered + 1):
                    older.status, older.sent_at = MessageStatus.SENT, now
                    older.result_ref = "covered"
                    session.add(older)

    def _failed(self, message_id: int, error: DeliveryError) -> None:
        now = datetime.now(UTC)
        with session_scope(self.engine) as session:
            message = session.get(OutboxMessage, message_id)
            assert message is not None
            if error.permanent or message.attempts >= self.max_attempts:
                log.error("outbox %s to %s set aside after %d attempt(s): %s", message.id,
                          message.channel, message.attempts, error)
                _dead(message, str(error))
                if message.operation == Operation.POST and message.alert_id:
                    alert = session.get(Alert, message.alert_id)
                    if alert is not None:
                        alert.status = AlertStatus.DEAD
                        session.add(alert)
            else:
                wait = error.retry_after if error.retry_after is not None else min(
                    2.0 ** message.attempts, 300.0)
                message.next_attempt_at = now + timedelta(seconds=wait)
                message.last_error = str(error)[:2000]
                log.warning("outbox %s to %s failed (attempt %d), retrying in %.0f s: %s",
                            message.id, message.channel, message.attempts, wait, error)
                metrics.message_failed(message)
                if error.retry_after is not None:
                    self._free_at[message.channel] = self.clock() + error.retry_after
            session.add(message)


def _parent(session: Session, message: OutboxMessage) -> OutboxMessage | None:
    """The message this one hangs off (``payload.after_message``), if any."""
    parent_id = message.payload.get("after_message")
    return session.get(OutboxMessage, int(parent_id)) if parent_id is not None else None


def _dead(message: OutboxMessage, error: str) -> None:
    message.status = MessageStatus.DEAD
    message.last_error = error[:2000]
    metrics.message_dead(message)
