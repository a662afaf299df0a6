"""What people must see after a detection pass, and when nobody answers: posts, updates, escalation.

* :func:`queue_news` turns a pass's events into outbox messages: a post of each open,
  alert-worthy anomaly not yet posted on a platform (to the owner's channel), an in-place update
  while it grows, a thread reply when it resolves or flares again. An anomaly inside a plan's
  envelope (``bot.anomaly.plans``) is not posted; once it goes past the envelope it is, and
  its alert says by how much;
* :func:`queue_escalations` reminds the owner in the thread when nobody acknowledged an alert
  after ``escalation.ack_minutes``, and posts to ``escalation.channel`` after
  ``escalation.escalate_minutes`` (snoozing pauses both).

Both write in the caller's transaction; the scheduler's jobs (``bot.scheduler``) call them.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from sqlmodel import Session

from bot.anomaly.enums import AnomalyResponse, EventKind
from bot.anomaly.plans import apply_plans
from bot.anomaly.poll import PollResult
from bot.anomaly.service import announce, notify, post_escalation
from bot.settings import Settings
from storage import queries
from storage.timeutil import as_utc

__all__ = ["queue_escalations", "queue_news", "reopen"]

log = logging.getLogger(__name__)


def queue_news(*, db_session: Session, settings: Settings, result: PollResult,
               platforms: tuple[str, ...], now: datetime) -> None:
    """Queue what a detection pass means for people, on each chat platform.

    Every open, alert-worthy anomaly is posted once per platform, whoever detected it
    (``spendwatch detect``, a run on another platform, a run that stopped before posting);
    one that opened in this pass is posted even if it also ended in it. One that ended
    before this pass is not posted late. One a plan covers is not posted while it stays
    inside the plan's envelope.
    """
    planned = apply_plans(db_session=db_session, now=now, anomaly_ids=[
        *(e.incident.id for e in result.events), *(i.id for i in result.open)])
    for event in result.events:
        anomaly_id = event.incident.id
        if event.kind == EventKind.OPENED and event.alert:  # before a "resolved" of this pass
            if anomaly_id not in planned:
                _post(db_session, settings, anomaly_id, platforms, now)
        elif event.kind == EventKind.UPDATED:
            notify(db_session=db_session, anomaly_id=anomaly_id, now=now)
        elif event.kind == EventKind.RESOLVED:
            notify(db_session=db_session, anomaly_id=anomaly_id, now=now,
                   text="Spend is back to normal; the anomaly resolved itself.")
        elif event.kind == EventKind.REOPENED:
            reopen(db_session=db_session, anomaly_id=anomaly_id, now=now)
    for incident in result.open:
        if incident.alert_worthy and incident.id not in planned:
            _post(db_session, settings, incident.id, platforms, now)


def _post(session: Session, settings: Settings, anomaly_id: int, platforms: tuple[str, ...],
          now: datetime) -> None:
    for platform in platforms:
        if announce(db_session=session, settings=settings, anomaly_id=anomaly_id,
                    platform=platform, platforms=platforms, now=now):
            log.info("anomaly %d: its alert is queued for %s", anomaly_id, platform)


def reopen(*, db_session: Session, anomaly_id: int, now: datetime) -> None:
    """A flare after people resolved it needs people again (the runbook entry stays)."""
    anomaly = queries.anomalies.get_anomaly(db_session=db_session, anomaly_id=anomaly_id)
    text = "Spend rose again soon after it had settled; same incident."
    if anomaly is not None and anomaly.response == AnomalyResponse.RESOLVED:
        anomaly.response, anomaly.response_by, anomaly.response_at = AnomalyResponse.NONE, None, now
        anomaly.reminded_at = anomaly.escalated_at = None
        db_session.add(anomaly)
        text = "Spend rose again after this was resolved; it needs a look (same incident)."
    notify(db_session=db_session, anomaly_id=anomaly_id, now=now, text=text)


def queue_escalations(*, db_session: Session, settings: Settings, now: datetime) -> int:
    """Reminders and escalations due now; returns how many were queued."""
    escalation = settings.escalation
    queued = 0
    for anomaly in queries.anomalies.unacknowledged(db_session=db_session):
        anomaly_id = int(anomaly.id or 0)
        alerts = list(queries.outbox.alerts_of(db_session=db_session, anomaly_id=anomaly_id))
        if not alerts:
            continue
        if anomaly.snoozed_until and as_utc(anomaly.snoozed_until) > now:
            continue
        since = max([as_utc(a.created_at) for a in alerts]
                    + ([as_utc(anomaly.snoozed_until)] if anomaly.snoozed_until else []))
        waited = now - since
        minutes = int(waited.total_seconds() // 60)
        if anomaly.reminded_at is None and waited >= timedelta(minutes=escalation.ack_minutes):
            anomaly.reminded_at = now
            notify(db_session=db_session, anomaly_id=anomaly_id, now=now,
                   text=f"Reminder for {anomaly.owner}: nobody has acknowledged this "
                        f"anomaly for {minutes} minutes.")
            queued += 1
        if anomaly.escalated_at is None and waited >= timedelta(
                minutes=escalation.escalate_minutes):
            anomaly.escalated_at = now
            post_escalation(db_session=db_session, settings=settings, anomaly=anomaly, now=now,
                            reason=f"not acknowledged for {minutes} minutes")
            notify(db_session=db_session, anomaly_id=anomaly_id, now=now,
                   text="Escalated to the FinOps channel: not acknowledged in time.")
            queued += 1
        db_session.add(anomaly)
    return queued
