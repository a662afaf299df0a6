"""The scheduled jobs, in one table, and the outbox worker.

Jobs are plain functions of the services (testable without a scheduler):

* :func:`poll` ingests every configured source, judges the new hours and queues what people
  must see: a post of each open anomaly not yet posted on the platform (to the owner's
  channel), an in-place update while it grows, a thread reply when it resolves or flares
  again;
* :func:`check_escalations` reminds the owner in the thread when nobody acknowledged an alert
  after ``escalation.ack_minutes``, and posts to ``escalation.channel`` after
  ``escalation.escalate_minutes`` (snoozing pauses both).

:func:`build_scheduler` lists them with their triggers; the first poll runs at start.
With several replicas on one PostgreSQL store, each job runs on one replica at a time
(``storage.db.job_lock``, an advisory lock). The outbox is sent by :class:`DeliveryWorker`,
a thread woken by every action so a click shows on the message at once, and otherwise every
``schedule.deliver_seconds``; replicas share it safely (claims are leases, ``bot.outbox``).
"""

from __future__ import annotations

import logging
import threading
import time
from datetime import UTC, datetime, timedelta

from apscheduler.schedulers.background import BackgroundScheduler
from sqlmodel import Session

from bot.ingest import ingest_path
from bot.outbox import Deliverer
from bot.pipeline import PollResult, poll_store
from bot.responses import announce, notify, post_escalation
from bot.sources.focus import FocusFileError
from bot.wiring import Services
from storage import chatops
from storage.db import job_lock, session_scope

__all__ = ["DeliveryWorker", "build_scheduler", "check_escalations", "poll"]

log = logging.getLogger(__name__)


def poll(services: Services, *, platforms: tuple[str, ...], now: datetime | None = None
         ) -> PollResult:
    """One cycle: ingest the sources, detect, queue the news for each chat platform.

    Every open, alert-worthy anomaly is posted once per platform, whoever detected it
    (``spendwatch detect``, a run on another platform, a run that stopped before posting);
    one that opened in this poll is posted even if it also ended in it. One that ended
    before this poll is not posted late.
    """
    now = now or datetime.now(UTC)
    _ingest_sources(services)
    result = poll_store(engine=services.engine, settings=services.settings)
    with session_scope(services.engine) as session:
        for event in result.events:
            anomaly_id = event.incident.id
            if event.kind == "opened" and event.alert:  # before a "resolved" of this poll
                _post(session, services, anomaly_id, platforms, now)
            elif event.kind == "updated":
                notify(db_session=session, anomaly_id=anomaly_id, now=now)
            elif event.kind == "resolved":
                notify(db_session=session, anomaly_id=anomaly_id, now=now,
                       text="Spend is back to normal; the anomaly resolved itself.")
            elif event.kind == "reopened":
                _reopened(session, anomaly_id, now)
        for incident in result.open:
            if incident.alert_worthy:
                _post(session, services, incident.id, platforms, now)
    return result


def _post(session: Session, services: Services, anomaly_id: int, platforms: tuple[str, ...],
          now: datetime) -> None:
    for platform in platforms:
        if announce(db_session=session, settings=services.settings, anomaly_id=anomaly_id,
                    platform=platform, now=now):
            log.info("anomaly %d: its alert is queued for %s", anomaly_id, platform)


def _ingest_sources(services: Services) -> None:
    for index, source in enumerate(services.settings.sources):
        try:
            report = ingest_path(engine=services.engine, settings=services.settings,
                                 path=source.path, source_label=source.label,
                                 default_currency=source.currency)
            for failed in report.failed:
                log.warning("source %s: %s", source.label, failed.message)
            for held in report.held:  # stays held, and read again, until someone decides
                log.warning("source %s: %s", source.label, held.message)
        except FocusFileError as exc:  # e.g. the folder went away after the start-up check
            log.warning("source %s (sources.%d.path): %s; detection goes on with the store",
                        source.label, index, exc)
        except Exception:
            log.exception("source %s could not be ingested; detection goes on with the store",
                          source.label)


def _reopened(session: Session, anomaly_id: int, now: datetime) -> None:
    """A flare after people resolved it needs people again (the runbook entry stays)."""
    anomaly = chatops.get_anomaly(db_session=session, anomaly_id=anomaly_id)
    text = "Spend rose again soon after it had settled; same incident."
    if anomaly is not None and anomaly.response == "resolved":
        anomaly.response, anomaly.response_by, anomaly.response_at = "none", None, now
        anomaly.reminded_at = anomaly.escalated_at = None
        session.add(anomaly)
        text = "Spend rose again after this was resolved; it needs a look (same incident)."
    notify(db_session=session, anomaly_id=anomaly_id, now=now, text=text)


def check_escalations(services: Services, *, now: datetime | None = None) -> int:
    """Reminders and escalations due now; returns how many were queued."""
    now = now or datetime.now(UTC)
    escalation = services.settings.escalation
    channel = escalation.channel or services.settings.routing.default_channel
    queued = 0
    with session_scope(services.engine) as session:
        for anomaly in chatops.unacknowledged(db_session=session):
            alerts = list(chatops.alerts_of(db_session=session, anomaly_id=int(anomaly.id or 0)))
            if not alerts:
                continue
            if anomaly.snoozed_until and _aware(anomaly.snoozed_until) > now:
                continue
            since = max([_aware(a.created_at) for a in alerts]
                        + ([_aware(anomaly.snoozed_until)] if anomaly.snoozed_until else []))
            waited = now - since
            if anomaly.reminded_at is None and waited >= timedelta(minutes=escalation.ack_minutes):
                anomaly.reminded_at = now
                notify(db_session=session, anomaly_id=int(anomaly.id or 0), now=now,
                       text=f"Reminder for {anomaly.owner}: nobody has acknowledged this "
                            f"anomaly for {int(waited.total_seconds() // 60)} minutes.")
                queued += 1
            if anomaly.escalated_at is None and waited >= timedelta(
                    minutes=escalation.escalate_minutes):
                anomaly.escalated_at = now
                post_escalation(db_session=session, anomaly=anomaly, channel=channel, now=now,
                                reason=f"not acknowledged for "
                                       f"{int(waited.total_seconds() // 60)} minutes")
                notify(db_session=session, anomaly_id=int(anomaly.id or 0), now=now,
                       text="Escalated to the FinOps channel: not acknowledged in time.")
                queued += 1
            session.add(anomaly)
    return queued


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


class DeliveryWorker:
    """Sends the outbox in a thread; :meth:`wake` makes it look now."""

    def __init__(self, deliverer: Deliverer, *, interval: float, settle: float = 0.1) -> None:
        self.deliverer = deliverer
        self.interval = interval
        # after a wake, wait this long: the clicks of a busy moment land first, and their
        # updates of one alert collapse into one render instead of competing with them
        self.settle = settle
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="outbox", daemon=True)

    def start(self) -> DeliveryWorker:
        self._thread.start()
        return self

    def wake(self) -> None:
        self._wake.set()

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        self._wake.set()
        self._thread.join(timeout)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                while self.deliverer.run_once():
                    pass
            except Exception:
                log.exception("the outbox round failed; retrying in %.1f s", self.interval)
            if self._wake.wait(self.interval) and not self._stop.is_set():
                time.sleep(self.settle)
            self._wake.clear()


def build_scheduler(services: Services, *, platforms: tuple[str, ...],
                    worker: DeliveryWorker | None = None) -> BackgroundScheduler:
    """The job table. Jobs never overlap themselves (``max_instances=1``, coalesced)."""
    schedule = services.settings.schedule
    scheduler = BackgroundScheduler(timezone="UTC", job_defaults={
        "max_instances": 1, "coalesce": True, "misfire_grace_time": 300})

    def poll_and_send() -> None:
        with job_lock(services.engine, "poll") as mine:
            if not mine:
                log.info("another replica is polling; skipped")
                return
            poll(services, platforms=platforms)
        if worker is not None:
            worker.wake()

    def escalate_and_send() -> None:
        with job_lock(services.engine, "escalations") as mine:
            queued = check_escalations(services) if mine else 0
        if queued and worker is not None:
            worker.wake()

    scheduler.add_job(poll_and_send, "interval", minutes=schedule.poll_minutes, id="poll",
                      next_run_time=datetime.now(UTC))
    scheduler.add_job(escalate_and_send, "interval", minutes=schedule.escalation_check_minutes,
                      id="escalations")
    return scheduler
