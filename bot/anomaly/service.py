"""What people do about an anomaly: acknowledge, snooze, expected, escalate (the playbook walk
is :mod:`bot.anomaly.walk`).

Domain services, keyword-only with the session first; no chat SDK. Each action checks who may
act (:mod:`bot.anomaly.access`; ``channel`` is where the request was made, None for the local
console),
changes the anomaly, writes the audit log, and queues an update of the alert message and a
thread reply in the outbox, all in the caller's transaction: the message can never say
something the store does not. Errors a person can cause are :class:`ResponseError` with the
text to show them.

An action applies once. One that would change nothing raises :class:`NothingChanged` (no audit
row, no reply, no post), so a repeated click or a replayed request is harmless:

* **acknowledge** an anomaly already acknowledged (or further along): nothing changes;
* **snooze** for a period ending at most ``SNOOZE_TOLERANCE`` (five minutes, Slack's replay
  window) after the current snooze ends: nothing changes (a longer snooze extends it);
* **expected** on an anomaly already marked expected: the first reason stays;
* **escalate** an anomaly already escalated (by a person or by the reminder job): no second
  post in the escalation channel;
* a **playbook step** saved again with the same answers: nothing is recorded (different
  answers replace the earlier ones).

Form limits are checked here too, as Slack's forms check them: the expected reason is
``EXPECTED_MIN_CHARS`` to ``EXPECTED_MAX_CHARS`` characters, and playbook answers are held
to the playbook's field limits by :func:`bot.playbook.submit`.
"""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlmodel import Session

from bot import metrics
from bot.anomaly.access import (
    NotAllowed,
    NothingChanged,
    ResponseError,
    check_may_act,
    check_may_see,
)
from bot.anomaly.choice import lever_options, levers_of, playbook_of, rebase
from bot.anomaly.enums import AnomalyResponse, AuditAction
from bot.anomaly.notes import alert_notes
from bot.anomaly.plans import ExpectedPlan, plan_expected
from bot.anomaly.runbooks import runbook_views
from bot.anomaly.views import AlertView, RunbookView, build_alert_view, main_service
from bot.chat.ids import SNOOZE_HOURS
from bot.chat.text import money, when
from bot.outbox.enums import Operation
from bot.playbook import Playbook, PlaybookState, load_playbooks
from bot.playbook.library import PlaybookLibrary
from bot.settings import Settings
from storage import queries
from storage.models import Anomaly, PlaybookRun
from storage.timeutil import as_utc

__all__ = [
    "EXPECTED_MAX_CHARS",
    "EXPECTED_MIN_CHARS",
    "NotAllowed",
    "NothingChanged",
    "ResponseError",
    "acknowledge",
    "check_expected_reason",
    "check_may_mark_expected",
    "announce",
    "default_playbook",
    "escalate",
    "lever_options",
    "load_alert_view",
    "load_anomaly",
    "load_library",
    "load_runbook",
    "mark_expected",
    "notify",
    "playbooks_folder",
    "snooze",
]

SHIPPED_PLAYBOOKS = Path(__file__).resolve().parents[2] / "playbooks"
EXPECTED_MIN_CHARS = 5
EXPECTED_MAX_CHARS = 500  # shown in full on the alert
SOURCE_SEEN_WITHIN = timedelta(days=7)
SNOOZE_TOLERANCE = timedelta(minutes=5)  # a snooze extending the current one less: unchanged


def playbooks_folder(settings: Settings) -> Path:
    """The configured folder, else ``$SPENDWATCH_PLAYBOOKS`` (the container image sets it),
    else the source tree's."""
    return Path(settings.playbooks_dir or os.environ.get("SPENDWATCH_PLAYBOOKS")
                or SHIPPED_PLAYBOOKS)


def load_library(settings: Settings) -> PlaybookLibrary:
    """Every playbook of the folder (a broken one raises PlaybookError, naming them all)."""
    return PlaybookLibrary(load_playbooks(playbooks_folder(settings)))


def default_playbook(settings: Settings) -> Playbook:
    """The ``default`` playbook (or the only one without a match rule) from the folder."""
    return load_library(settings).default


def load_alert_view(*, db_session: Session, anomaly_id: int,
                    playbook: Playbook | PlaybookLibrary | None) -> AlertView:
    """The alert as the store has it, with the progress and levers of the anomaly's playbook
    (its walk's once started, else the one its match rules choose)."""
    return _view_and_run(db_session, anomaly_id, playbook)[0]


def _view_and_run(session: Session, anomaly_id: int,
                  playbooks: Playbook | PlaybookLibrary | None,
                  ) -> tuple[AlertView, Anomaly, PlaybookRun | None, PlaybookState | None,
                             Playbook | None]:
    anomaly = _anomaly(session, anomaly_id)
    runbook = list(queries.runbooks.runbook_for(db_session=session, project=anomaly.project,
                                                environment=anomaly.environment,
                                                service_name=main_service(anomaly) or None))
    run = queries.runbooks.get_playbook_run(db_session=session, anomaly_id=anomaly_id)
    library = PlaybookLibrary.of(playbooks) if playbooks is not None else None
    playbook = (playbook_of(db_session=session, library=library, anomaly=anomaly, run=run)
                if library is not None else None)
    state = PlaybookState.model_validate(run.answers) if run and run.answers else None
    if state is not None and playbook is not None:
        state = rebase(state, playbook)
    view = build_alert_view(anomaly, runbook=runbook, playbook=playbook, state=state,
                            data_as_of=data_as_of(db_session=session),
                            levers=levers_of(anomaly, playbook),
                            notes=alert_notes(session, anomaly))
    return view, anomaly, run, state, playbook


def data_as_of(*, db_session: Session, now: datetime | None = None
               ) -> tuple[tuple[str, datetime], ...]:
    """(source, end of its newest hour) for the sources read in the last week (a source
    removed from the config stops being read, and drops out of this after a week)."""
    since = (now or datetime.now(UTC)) - SOURCE_SEEN_WITHIN
    out = []
    for state in queries.sources.list_states(db_session=db_session):
        if state.newest_hour is None or state.last_attempt_at is None:
            continue
        if as_utc(state.last_attempt_at) < since:
            continue
        out.append((state.name, as_utc(state.newest_hour) + timedelta(hours=1)))
    return tuple(out)


def load_anomaly(*, db_session: Session, anomaly_id: int) -> Anomaly:
    """The anomaly; a ResponseError saying what to do when it does not exist (any more)."""
    return _anomaly(db_session, anomaly_id)


def announce(*, db_session: Session, settings: Settings, anomaly_id: int, platform: str,
             now: datetime, platforms: tuple[str, ...] = ()) -> bool:
    """Queue the first post of an anomaly (and its chart) to the owner's channel, once per
    platform; False when it was queued for ``platform`` before, or when the owner lives on
    another of the running ``platforms`` and not on this one (``routing.channel_for``)."""
    anomaly = _anomaly(db_session, anomaly_id)
    if queries.outbox.alert_for(db_session=db_session, anomaly_id=anomaly_id, platform=platform):
        return False
    channel = settings.routing.channel_for(anomaly.owner, platform, platforms)
    if channel is None:
        return False
    alert = queries.outbox.create_alert(db_session=db_session, anomaly_id=anomaly_id,
                                        platform=platform, channel=channel, now=now)
    for operation in (Operation.POST, Operation.CHART):
        queries.outbox.enqueue(db_session=db_session, platform=platform, channel=channel,
                               operation=operation, alert_id=alert.id, now=now)
    return True


def notify(*, db_session: Session, anomaly_id: int, now: datetime, text: str | None = None,
           actor: str | None = None) -> None:
    """Queue an in-place update of every alert of the anomaly, and a thread reply if ``text``."""
    messages: list[dict[str, Any]] = []
    for alert_id, platform, channel in queries.outbox.alert_addresses(db_session=db_session,
                                                                      anomaly_id=anomaly_id):
        address = {"platform": platform, "channel": channel, "alert_id": alert_id}
        messages.append({**address, "operation": Operation.UPDATE})
        if text:
            messages.append({**address, "operation": Operation.REPLY,
                             "payload": {"text": text, "actor": actor}})
    queries.outbox.queue(db_session=db_session, messages=messages, now=now)


def load_runbook(*, db_session: Session, settings: Settings, anomaly_id: int, user: str,
                 channel: str | None = None) -> tuple[str, list[RunbookView]]:
    """The runbook of the anomaly's workload (title, entries), for someone who may see it."""
    anomaly = _anomaly(db_session, anomaly_id)
    check_may_see(settings.routing, user=user, owner=anomaly.owner, channel=channel)
    entries = queries.runbooks.runbook_for(db_session=db_session, project=anomaly.project,
                                           environment=anomaly.environment)
    return (f"{anomaly.project} · {anomaly.environment}",
            runbook_views(db_session=db_session, entries=list(entries)))


def acknowledge(*, db_session: Session, settings: Settings, anomaly_id: int, user: str,
                now: datetime, channel: str | None = None) -> Anomaly:
    anomaly = _for_action(db_session, settings, anomaly_id, user, channel)
    if anomaly.response != AnomalyResponse.NONE:
        raise NothingChanged(f"This anomaly is already {anomaly.response} by "
                             f"{anomaly.response_by or 'someone'}; nothing changed.")
    _respond(anomaly, AnomalyResponse.ACKNOWLEDGED, user, now)
    anomaly.snoozed_until = None
    metrics.acknowledged(db_session=db_session, anomaly_id=anomaly_id, now=now)
    return _record(db_session, anomaly, user, now, AuditAction.ACKNOWLEDGED,
                   "acknowledged this anomaly")


def snooze(*, db_session: Session, settings: Settings, anomaly_id: int, user: str, hours: int,
           now: datetime, channel: str | None = None) -> Anomaly:
    if hours not in SNOOZE_HOURS:
        raise ResponseError(f"snooze for {', '.join(map(str, SNOOZE_HOURS))} hours, not {hours}")
    anomaly = _for_action(db_session, settings, anomaly_id, user, channel)
    until = now + timedelta(hours=hours)
    current = as_utc(anomaly.snoozed_until) if anomaly.snoozed_until else None
    if current is not None and current + SNOOZE_TOLERANCE >= until:
        raise NothingChanged(f"Reminders are already snoozed until "
                             f"{current:%Y-%m-%d %H:%M} UTC; nothing changed.")
    anomaly.snoozed_until = until
    return _record(db_session, anomaly, user, now, AuditAction.SNOOZED,
                   f"snoozed reminders for {hours} h", {"hours": hours})


def check_expected_reason(reason: str) -> str:
    """The reason, stripped, if it is within the form's limits; else a ResponseError."""
    reason = reason.strip()
    if len(reason) < EXPECTED_MIN_CHARS:
        raise ResponseError("say in a few words why this spend is expected (e.g. a load test)")
    if len(reason) > EXPECTED_MAX_CHARS:
        raise ResponseError(f"The reason is {len(reason):,} characters; the limit is "
                            f"{EXPECTED_MAX_CHARS}. Please shorten it.")
    return reason


def check_may_mark_expected(*, db_session: Session, settings: Settings, anomaly_id: int,
                            user: str, channel: str | None = None) -> None:
    """Before the reason is asked for: ``user`` may act, and the spend is not expected yet."""
    anomaly = _for_action(db_session, settings, anomaly_id, user, channel)
    if anomaly.response == AnomalyResponse.EXPECTED:
        raise NothingChanged(f"This spend is already marked expected by "
                             f"{anomaly.response_by or 'someone'}; nothing changed.")


def mark_expected(*, db_session: Session, settings: Settings, anomaly_id: int, user: str,
                  reason: str, now: datetime, channel: str | None = None,
                  plan: ExpectedPlan | None = None) -> Anomaly:
    """Close the alert as expected; with ``plan``, the same spend on the workload stays quiet
    within that envelope until then (``bot.anomaly.plans``)."""
    reason = check_expected_reason(reason)
    anomaly = _for_action(db_session, settings, anomaly_id, user, channel)
    if anomaly.response == AnomalyResponse.EXPECTED:
        raise NothingChanged(f"This spend is already marked expected by "
                             f"{anomaly.response_by or 'someone'}; nothing changed.")
    detail: dict[str, object] = {"reason": reason}
    text = f"marked this spend as expected: {reason}"
    if plan is not None:
        made = plan_expected(db_session=db_session, anomaly=anomaly, plan=plan, reason=reason,
                             actor=user, now=now)
        detail["plan_id"] = made.id
        text += (f" (plan #{made.id}: up to {money(made.amount_usd, decimals=0)} above normal "
                 f"until {when(made.ends_at)})")
    _respond(anomaly, AnomalyResponse.EXPECTED, user, now, note=reason)
    return _record(db_session, anomaly, user, now, AuditAction.EXPECTED, text, detail)


def escalate(*, db_session: Session, settings: Settings, anomaly_id: int, user: str,
             now: datetime, channel: str | None = None) -> Anomaly:
    anomaly = _for_action(db_session, settings, anomaly_id, user, channel)
    target = settings.escalation.channel or settings.routing.default_channel
    if anomaly.escalated_at is not None:
        raise NothingChanged(f"This anomaly was already escalated "
                             f"({as_utc(anomaly.escalated_at):%Y-%m-%d %H:%M} UTC); "
                             f"nothing changed.")
    anomaly.escalated_at = now
    _record(db_session, anomaly, user, now, AuditAction.ESCALATED,
            f"escalated to the FinOps channel ({target})")
    post_escalation(db_session=db_session, settings=settings, anomaly=anomaly, now=now,
                    reason=f"escalated by {user}")
    return anomaly


def post_escalation(*, db_session: Session, settings: Settings, anomaly: Anomaly, now: datetime,
                    reason: str) -> None:
    """A post in the escalation channel of each platform the anomaly was alerted on."""
    for alert in queries.outbox.alerts_of(db_session=db_session, anomaly_id=int(anomaly.id or 0)):
        channel = settings.routing.escalation_for(alert.platform, settings.escalation.channel)
        if channel is None:
            continue  # no escalation conversation on this platform: the thread reply says it
        queries.outbox.enqueue(db_session=db_session, platform=alert.platform, channel=channel,
                               operation=Operation.NOTICE, alert_id=alert.id, now=now,
                               payload={"text": f"Escalated spend anomaly on {anomaly.project} · "
                                                f"{anomaly.environment} (owner {anomaly.owner}): "
                                                f"{reason}",
                                        "link_alert": True})


def _anomaly(db_session: Session, anomaly_id: int, *, for_update: bool = False) -> Anomaly:
    anomaly = queries.anomalies.get_anomaly(db_session=db_session, anomaly_id=anomaly_id,
                                            for_update=for_update)
    if anomaly is None:
        raise ResponseError(f"anomaly {anomaly_id} does not exist (any more); "
                            f"use /cost anomalies to see the open ones")
    return anomaly


def _for_action(db_session: Session, settings: Settings, anomaly_id: int, user: str,
                channel: str | None) -> Anomaly:
    """The anomaly, locked for this transaction, once ``user`` may act on it."""
    anomaly = _anomaly(db_session, anomaly_id, for_update=True)
    check_may_act(settings.routing, user=user, owner=anomaly.owner, channel=channel)
    if anomaly.response == AnomalyResponse.RESOLVED:
        raise ResponseError("this anomaly is already resolved; its runbook entry is saved")
    return anomaly


def _respond(anomaly: Anomaly, response: AnomalyResponse, user: str, now: datetime,
             note: str | None = None) -> None:
    anomaly.response = response
    anomaly.response_by = user
    anomaly.response_at = now
    if note is not None:
        anomaly.response_note = note


def _record(db_session: Session, anomaly: Anomaly, user: str, now: datetime,
            action: AuditAction,
            text: str, detail: dict | None = None) -> Anomaly:
    db_session.add(anomaly)
    queries.audit.add_audit(db_session=db_session, actor=user, action=action,
                            subject_type="anomaly", subject_id=str(anomaly.id), detail=detail)
    notify(db_session=db_session, anomaly_id=int(anomaly.id or 0), now=now, text=text,
           actor=user)
    return anomaly
