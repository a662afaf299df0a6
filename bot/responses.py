"""What people do about an anomaly: acknowledge, snooze, expected, escalate, the playbook walk.

Domain services, keyword-only with the session first; no chat SDK. Each action checks who may
act (``routing.may_act``), changes the anomaly, writes the audit log, and queues an update of
the alert message and a thread reply in the outbox, all in the caller's transaction: the
message can never say something the store does not. Errors a person can cause are
:class:`ResponseError` with the text to show them.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from sqlmodel import Session

from bot.alerts import AlertView, build_alert_view, main_service
from bot.chat.ids import SNOOZE_HOURS
from bot.levers import levers_for_services
from bot.playbook import (
    Option,
    Playbook,
    PlaybookState,
    Step,
    answered_steps,
    load_playbooks,
    next_step,
    resolution,
    start,
    submit,
)
from bot.playbook.answers import to_records
from bot.settings import Settings
from storage import chatops
from storage import repositories as repo
from storage.models import Anomaly, PlaybookRun, RunbookEntry

__all__ = [
    "NotAllowed",
    "ResponseError",
    "StepStarted",
    "acknowledge",
    "announce",
    "default_playbook",
    "escalate",
    "lever_options",
    "load_alert_view",
    "mark_expected",
    "notify",
    "open_step",
    "snooze",
    "submit_step",
]

SHIPPED_PLAYBOOKS = Path(__file__).resolve().parent.parent / "playbooks"


class ResponseError(Exception):
    """Something a person asked for that cannot be done; the message says why and what to do."""


class NotAllowed(ResponseError):
    pass


def default_playbook(settings: Settings) -> Playbook:
    """The ``default`` playbook (or the only one) from the configured folder, else
    ``$SPENDWATCH_PLAYBOOKS`` (the container image sets it), else the source tree's."""
    folder = settings.playbooks_dir or os.environ.get("SPENDWATCH_PLAYBOOKS") or SHIPPED_PLAYBOOKS
    playbooks = load_playbooks(folder)
    if "default" in playbooks:
        return playbooks["default"]
    return next(iter(playbooks.values()))


def load_alert_view(*, db_session: Session, anomaly_id: int,
                    playbook: Playbook | None) -> AlertView:
    anomaly = _anomaly(db_session, anomaly_id)
    runbook = list(chatops.runbook_for(db_session=db_session, project=anomaly.project,
                                       environment=anomaly.environment,
                                       service_name=main_service(anomaly) or None))
    run = chatops.get_playbook_run(db_session=db_session, anomaly_id=anomaly_id)
    state = PlaybookState.model_validate(run.answers) if run and run.answers else None
    return build_alert_view(anomaly, runbook=runbook, playbook=playbook, state=state)


def announce(*, db_session: Session, settings: Settings, anomaly_id: int, platform: str,
             now: datetime) -> bool:
    """Queue the first post of an anomaly (and its chart) to the owner's channel, once per
    platform; False when it was queued for ``platform`` before."""
    anomaly = _anomaly(db_session, anomaly_id)
    if chatops.alert_for(db_session=db_session, anomaly_id=anomaly_id, platform=platform):
        return False
    channel = settings.routing.channel_for(anomaly.owner)
    alert = chatops.create_alert(db_session=db_session, anomaly_id=anomaly_id,
                                 platform=platform, channel=channel, now=now)
    for operation in ("post", "chart"):
        chatops.enqueue(db_session=db_session, platform=platform, channel=channel,
                        operation=operation, alert_id=alert.id, now=now)
    return True


def notify(*, db_session: Session, anomaly_id: int, now: datetime, text: str | None = None,
           actor: str | None = None) -> None:
    """Queue an in-place update of every alert of the anomaly, and a thread reply if ``text``."""
    for alert in chatops.alerts_of(db_session=db_session, anomaly_id=anomaly_id):
        chatops.enqueue(db_session=db_session, platform=alert.platform, channel=alert.channel,
                        operation="update", alert_id=alert.id, now=now)
        if text:
            chatops.enqueue(db_session=db_session, platform=alert.platform, channel=alert.channel,
                            operation="reply", alert_id=alert.id, now=now,
                            payload={"text": text, "actor": actor})


def acknowledge(*, db_session: Session, settings: Settings, anomaly_id: int, user: str,
                now: datetime) -> Anomaly:
    anomaly = _for_action(db_session, settings, anomaly_id, user)
    if anomaly.response != "none":
        raise ResponseError(f"already {anomaly.response} by {anomaly.response_by or 'someone'}")
    _respond(anomaly, "acknowledged", user, now)
    anomaly.snoozed_until = None
    return _record(db_session, anomaly, user, now, "acknowledged", "acknowledged this anomaly")


def snooze(*, db_session: Session, settings: Settings, anomaly_id: int, user: str, hours: int,
           now: datetime) -> Anomaly:
    if hours not in SNOOZE_HOURS:
        raise ResponseError(f"snooze for {', '.join(map(str, SNOOZE_HOURS))} hours, not {hours}")
    anomaly = _for_action(db_session, settings, anomaly_id, user)
    anomaly.snoozed_until = now + timedelta(hours=hours)
    return _record(db_session, anomaly, user, now, "snoozed",
                   f"snoozed reminders for {hours} h", {"hours": hours})


def mark_expected(*, db_session: Session, settings: Settings, anomaly_id: int, user: str,
                  reason: str, now: datetime) -> Anomaly:
    reason = reason.strip()
    if len(reason) < 5:
        raise ResponseError("say in a few words why this spend is expected (e.g. a load test)")
    anomaly = _for_action(db_session, settings, anomaly_id, user)
    _respond(anomaly, "expected", user, now, note=reason[:2000])
    return _record(db_session, anomaly, user, now, "expected",
                   f"marked this spend as expected: {reason}", {"reason": reason})


def escalate(*, db_session: Session, settings: Settings, anomaly_id: int, user: str,
             now: datetime) -> Anomaly:
    anomaly = _for_action(db_session, settings, anomaly_id, user)
    channel = settings.escalation.channel or settings.routing.default_channel
    anomaly.escalated_at = now
    _record(db_session, anomaly, user, now, "escalated", f"escalated to the FinOps channel "
                                                          f"({channel})")
    post_escalation(db_session=db_session, anomaly=anomaly, channel=channel, now=now,
                    reason=f"escalated by {user}")
    return anomaly


def post_escalation(*, db_session: Session, anomaly: Anomaly, channel: str, now: datetime,
                    reason: str) -> None:
    for alert in chatops.alerts_of(db_session=db_session, anomaly_id=int(anomaly.id or 0)):
        chatops.enqueue(db_session=db_session, platform=alert.platform, channel=channel,
                        operation="notice", alert_id=alert.id, now=now,
                        payload={"text": f"Escalated spend anomaly on {anomaly.project} · "
                                         f"{anomaly.environment} (owner {anomaly.owner}): "
                                         f"{reason}",
                                 "link_alert": True})


@dataclass(frozen=True)
class StepStarted:
    anomaly: Anomaly
    step: Step
    position: tuple[int, int]  # (k, n): step k of n
    state: PlaybookState
    options: dict[str, list[Option]]


def lever_options(anomaly: Anomaly) -> dict[str, list[Option]]:
    """The levers offered in the stabilise step, from the anomaly's top contributors."""
    contributors = (anomaly.evidence or {}).get("contributors") or []
    levers = levers_for_services([(str(c.get("service", "")), "") for c in contributors[:3]])
    return {"levers": [Option(value=lever.id, label=lever.title) for lever in levers]}


def open_step(*, db_session: Session, settings: Settings, playbook: Playbook, anomaly_id: int,
              user: str, now: datetime, step_id: str | None = None) -> StepStarted:
    """Start the playbook (first click) or continue it: the step to show next."""
    anomaly = _for_action(db_session, settings, anomaly_id, user)
    run = chatops.get_playbook_run(db_session=db_session, anomaly_id=anomaly_id)
    if run is None:
        state = start(playbook, by=user, at=now)
        run = PlaybookRun(anomaly_id=anomaly_id, playbook=playbook.name,
                          current_step=playbook.steps[0].id, answers=state.model_dump(mode="json"),
                          started_by=user, started_at=now)
        db_session.add(run)
        if anomaly.response in ("none", "acknowledged"):
            _respond(anomaly, "investigating", user, now)
        _record(db_session, anomaly, user, now, "playbook_started", "started the playbook")
    state = PlaybookState.model_validate(run.answers)
    step = playbook.step(step_id) if step_id else next_step(playbook, state)
    if step is None:
        raise ResponseError("the playbook is complete; see View runbook for what was recorded")
    ids = [s.id for s in playbook.steps]
    return StepStarted(anomaly, step, (ids.index(step.id) + 1, len(ids)), state,
                       lever_options(anomaly))


def submit_step(*, db_session: Session, settings: Settings, playbook: Playbook,
                anomaly_id: int, step_id: str, values: dict[str, object], user: str,
                now: datetime) -> PlaybookState:
    """Store one step's answers (raises the engine's StepError for the form to show)."""
    anomaly = _for_action(db_session, settings, anomaly_id, user)
    run = chatops.get_playbook_run(db_session=db_session, anomaly_id=anomaly_id,
                                   for_update=True)
    if run is None:
        raise ResponseError("start the playbook from the alert first")
    state = PlaybookState.model_validate(run.answers)
    new = submit(playbook, state, step_id, values, by=user, at=now,
                 dynamic_options=lever_options(anomaly))
    run.answers = new.model_dump(mode="json")
    following = next_step(playbook, new)
    run.current_step = following.id if following else step_id
    title = playbook.step(step_id).title
    if new.completed is not None and state.completed is None:
        run.completed_at = now
        _finish(db_session, playbook, anomaly, new, user, now)
    elif new.stabilised is not None and state.stabilised is None:
        _respond(anomaly, "stabilised", user, now)
        _record(db_session, anomaly, user, now, "stabilised",
                f"completed “{title}”: spend is stabilised")
    else:
        _record(db_session, anomaly, user, now, "playbook_step", f"completed “{title}”",
                {"step": step_id})
    db_session.add(run)
    return new


def _finish(db_session: Session, playbook: Playbook, anomaly: Anomaly, state: PlaybookState,
            user: str, now: datetime) -> None:
    """File the runbook entry: the summary, and every answer of every step beside it."""
    done = resolution(playbook, state)
    entry = RunbookEntry(
        project=anomaly.project, environment=anomaly.environment,
        service_name=main_service(anomaly), anomaly_id=anomaly.id,
        root_cause=_with(done.root_cause, ("changed", done.what_changed)),
        fix=_with(done.fix, ("lever", done.lever), ("what was done", done.action_taken)),
        prevention=done.prevention, author=user, created_at=now,
        answers=to_records(answered_steps(playbook, state)),
    )
    chatops.add_runbook_entry(db_session=db_session, entry=entry)
    _respond(anomaly, "resolved", user, now, note=done.root_cause[:2000])
    _record(db_session, anomaly, user, now, "resolved",
            "finished the playbook; the resolution is now in the workload's runbook",
            {"runbook_entry": entry.id})


def _with(text: str, *extras: tuple[str, str | None]) -> str:
    """``text (label: extra; label: extra)``, leaving out the extras nobody gave."""
    given = "; ".join(f"{label}: {extra}" for label, extra in extras if extra)
    return f"{text} ({given})" if given else text


def _anomaly(db_session: Session, anomaly_id: int) -> Anomaly:
    anomaly = chatops.get_anomaly(db_session=db_session, anomaly_id=anomaly_id)
    if anomaly is None:
        raise ResponseError(f"anomaly {anomaly_id} does not exist (any more); "
                            f"use /cost anomalies to see the open ones")
    return anomaly


def _for_action(db_session: Session, settings: Settings, anomaly_id: int,
                user: str) -> Anomaly:
    anomaly = _anomaly(db_session, anomaly_id)
    if not settings.routing.may_act(user, anomaly.owner):
        raise NotAllowed(f"only responders of {anomaly.owner} (or FinOps) may act on this "
                         f"anomaly; ask them, or ask an admin to add you to "
                         f"routing.responders.{anomaly.owner}")
    if anomaly.response == "resolved":
        raise ResponseError("this anomaly is already resolved; its runbook entry is saved")
    return anomaly


def _respond(anomaly: Anomaly, response: str, user: str, now: datetime,
             note: str | None = None) -> None:
    anomaly.response = response
    anomaly.response_by = user
    anomaly.response_at = now
    if note is not None:
        anomaly.response_note = note


def _record(db_session: Session, anomaly: Anomaly, user: str, now: datetime, action: str,
            text: str, detail: dict | None = None) -> Anomaly:
    db_session.add(anomaly)
    repo.add_audit(db_session=db_session, actor=user, action=action, subject_type="anomaly",
                   subject_id=str(anomaly.id), detail=detail)
    notify(db_session=db_session, anomaly_id=int(anomaly.id or 0), now=now, text=text,
           actor=user)
    return anomaly
