"""The scheduled jobs, in one table.

Jobs are plain functions of the services (testable without a scheduler):

* :func:`poll` ingests every configured source, runs the detection pass and queues what
  people must see (``bot.anomaly.alerting.queue_news``), in the transaction that stores the
  pass;
* :func:`check_budgets` (after each poll) queues the thresholds budgets passed for the first
  time this period and budgets that run out early (``bot.finance.alerting``);
* :func:`check_escalations` queues the reminders and escalations that are due
  (``bot.anomaly.alerting.queue_escalations``);
* :func:`send_digest` queues the weekly finance digest (``bot.finance.digest_send``) on
  ``finance.digest.day`` at ``hour`` UTC, once per week;
* :func:`poll_changes` records the deployments and releases of the repositories under
  ``changes.github`` every ``changes.poll_minutes`` (``bot.changes.github``);
* :func:`prune_points` rolls hourly points older than ``retention.hourly_days`` up to daily
  ones, daily at ``retention.hour`` UTC, when retention is on (``bot.retention.prune``).

:func:`build_scheduler` lists them with their triggers; the first poll runs at start. Each
job is timed into ``spendwatch_job_duration_seconds{job=<its id>}`` (``bot.metrics``); a poll
counts its outcome, each source's read and the anomalies it opened.
With several replicas on one PostgreSQL store, each job runs on one replica at a time
(``storage.db.job_lock``, an advisory lock). The outbox is sent by
``bot.outbox.worker.DeliveryWorker``, which each job wakes when it queued something.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime

from apscheduler.schedulers.background import BackgroundScheduler

from bot import metrics
from bot.anomaly.alerting import queue_escalations, queue_news
from bot.anomaly.poll import PollResult, poll_store
from bot.anomaly.service import default_playbook
from bot.changes.github import GithubPoll, poll_github
from bot.finance.alerting import check_budgets as queue_budgets
from bot.finance.digest_send import Queued, last_digest_hour, queue_digest
from bot.ingest.poll import read_sources
from bot.outbox.worker import DeliveryWorker
from bot.retention.prune import PruneResult, prune
from bot.wiring import Services
from storage import queries
from storage.db import job_lock, session_scope

__all__ = ["build_scheduler", "check_budgets", "check_escalations", "poll", "poll_changes",
           "prune_points", "send_digest"]

log = logging.getLogger(__name__)


def poll(services: Services, *, platforms: tuple[str, ...], now: datetime | None = None
         ) -> PollResult:
    """One cycle: ingest the sources, detect, queue the news for each chat platform."""
    now = now or datetime.now(UTC)
    _ingest_sources(services)
    result = poll_store(engine=services.engine, settings=services.settings,
                        news=lambda session, result: queue_news(
                            db_session=session, settings=services.settings, result=result,
                            platforms=platforms, now=now))
    metrics.anomalies_opened(result.events)
    check_budgets(services, platforms=platforms, now=now)
    return result


def check_budgets(services: Services, *, platforms: tuple[str, ...],
                  now: datetime | None = None) -> int:
    """Budget news after a poll; returns how many messages were queued. A failure here is
    logged and leaves the anomalies' news, already committed, to be sent."""
    if not services.settings.budgets and not _chat_budgets(services):
        return 0
    try:
        with session_scope(services.engine) as session:
            return queue_budgets(db_session=session, settings=services.settings,
                                 platforms=platforms, now=now or datetime.now(UTC))
    except Exception:
        log.exception("budgets could not be evaluated; the next poll tries again")
        return 0


def _chat_budgets(services: Services) -> bool:
    with session_scope(services.engine) as session:
        return bool(queries.budgets.changes(db_session=session))


def _ingest_sources(services: Services) -> None:
    for outcome in read_sources(engine=services.engine, settings=services.settings):
        metrics.source_read(outcome)


def check_escalations(services: Services, *, now: datetime | None = None) -> int:
    """Reminders and escalations due now; returns how many were queued."""
    with session_scope(services.engine) as session:
        return queue_escalations(db_session=session, settings=services.settings,
                                 now=now or datetime.now(UTC))


def send_digest(services: Services, *, platforms: tuple[str, ...],
                now: datetime | None = None) -> Queued:
    """Queue the digest of the week ending at the newest digest hour (at or before ``now``)
    to each platform's finance channel, unless it was queued before."""
    now = now or datetime.now(UTC)
    settings = services.settings
    what_changed = default_playbook(settings).resolution.what_changed
    with session_scope(services.engine) as session:
        return queue_digest(db_session=session, settings=settings, platforms=platforms,
                            week_ending=last_digest_hour(settings, now), now=now,
                            what_changed=what_changed)


def poll_changes(services: Services) -> GithubPoll:
    """Read the configured GitHub repositories once. A failure is logged, never raised: the
    other jobs go on, and the next poll tries again."""
    settings = services.settings
    try:
        return poll_github(engine=services.engine, settings=settings.changes,
                           allocation=settings.allocation)
    except Exception:
        log.exception("GitHub changes could not be recorded; the next poll tries again")
        return GithubPoll(problems={"*": "unexpected failure; see the log"})


def _poll_changes_once(services: Services) -> None:
    with job_lock(services.engine, "changes") as mine:
        if mine:
            poll_changes(services)


def prune_points(services: Services, *, now: datetime | None = None) -> PruneResult | None:
    """Roll up the hourly points past the retention age (None: retention is off). Under the
    ``prune`` lock inside ``prune``; a failure is logged and the next day tries again."""
    settings = services.settings
    if settings.retention.hourly_days is None:
        return None
    try:
        result = prune(engine=services.engine, older_than_days=settings.retention.hourly_days,
                       actor="scheduler", now=now,
                       overlaps_hours=settings.window_overlaps_hours())
    except Exception:
        log.exception("hourly points could not be rolled up; the next prune tries again")
        return None
    log.info("retention: %s", result.summary())
    return result


def _add_housekeeping(scheduler: BackgroundScheduler, services: Services) -> None:
    """The jobs that need no chat: recording changes, rolling up old points."""
    changes = services.settings.changes
    if changes.github:
        scheduler.add_job(_poll_changes_once, "interval", args=[services],
                          minutes=changes.poll_minutes, id="changes",
                          next_run_time=datetime.now(UTC))
    retention = services.settings.retention
    if retention.enabled:
        scheduler.add_job(prune_points, "cron", args=[services], hour=retention.hour, minute=30,
                          id="prune")


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
            with metrics.poll_outcome():
                poll(services, platforms=platforms)
        if worker is not None:
            worker.wake()

    def escalate_and_send() -> None:
        with job_lock(services.engine, "escalations") as mine:
            queued = check_escalations(services) if mine else 0
        if queued and worker is not None:
            worker.wake()

    def digest_and_send() -> None:
        with job_lock(services.engine, "digest") as mine:
            if not mine:
                log.info("another replica is sending the digest; skipped")
                return
            queued = send_digest(services, platforms=platforms)
        if queued.platforms and worker is not None:
            worker.wake()

    scheduler.add_job(poll_and_send, "interval", minutes=schedule.poll_minutes, id="poll",
                      next_run_time=datetime.now(UTC))
    scheduler.add_job(escalate_and_send, "interval", minutes=schedule.escalation_check_minutes,
                      id="escalations")
    _add_housekeeping(scheduler, services)
    digest = services.settings.finance.digest
    if digest.enabled:
        scheduler.add_job(digest_and_send, "cron", day_of_week=digest.day[:3],
                          hour=digest.hour, minute=0, id="digest")
    for job in scheduler.get_jobs():
        job.modify(func=metrics.timed(job.id, job.func))
    return scheduler
