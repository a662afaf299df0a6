"""Every Slack listener, registered in one place (:func:`register`).

Each listener acknowledges first (Slack waits three seconds at most), then does the work:
domain calls in one short transaction (``bot.responses``), modals opened with the click's
``trigger_id``, and the alert message updated through the outbox (woken so it goes out now).
Errors a person caused are answered ephemerally with what to do; anything else is logged with
its traceback and answered with a short apology, never a stack trace.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from slack_bolt import Ack, App, Respond
from slack_sdk import WebClient

from bot.alerts import RunbookView
from bot.chat.ids import ActionId, BadPayload, CallbackId, StepMeta, parse_ref, parse_step_meta
from bot.chat.slack import modals
from bot.playbook import Playbook, StepError, next_step
from bot.responses import (
    ResponseError,
    acknowledge,
    escalate,
    load_alert_view,
    mark_expected,
    open_step,
    snooze,
    submit_step,
)
from bot.wiring import Services
from storage import chatops
from storage.db import session_scope

__all__ = ["SlackContext", "register"]

log = logging.getLogger(__name__)


@dataclass
class SlackContext:
    services: Services
    playbook: Playbook
    wake: Callable[[], None] = lambda: None  # tell the outbox there is something to send
    # playbook answers are read, changed and written back: two people saving steps at the
    # same moment must not overwrite each other (SQLite is one process; PostgreSQL replicas
    # also lock the row, see storage.chatops.get_playbook_run)
    playbook_lock: threading.Lock = field(default_factory=threading.Lock)


def register(app: App, ctx: SlackContext) -> None:
    """Wire every action, view and event listener to ``app``."""
    app.action(ActionId.ACKNOWLEDGE.value)(_simple(ctx, _acknowledge))
    app.action(ActionId.SNOOZE.value)(_simple(ctx, _snooze))
    app.action(ActionId.ESCALATE.value)(_simple(ctx, _escalate))
    app.action(ActionId.START_PLAYBOOK.value)(_opening(ctx, _start_playbook))
    app.action(ActionId.EXPECTED.value)(_opening(ctx, _expected_form))
    app.action(ActionId.VIEW_RUNBOOK.value)(_opening(ctx, _runbook))
    app.view(CallbackId.PLAYBOOK_STEP.value)(_step_submitted(ctx))
    app.view(CallbackId.EXPECTED_REASON.value)(_expected_submitted(ctx))


def _now() -> datetime:
    return datetime.now(UTC)


def _value(body: dict[str, Any]) -> str:
    action = (body.get("actions") or [{}])[0]
    selected = action.get("selected_option") or {}
    return str(selected.get("value") or action.get("value") or "")


def _message(body: dict[str, Any]) -> tuple[str, str | None]:
    container = body.get("container") or {}
    channel = (body.get("channel") or {}).get("id") or container.get("channel_id") or ""
    return str(channel), container.get("message_ts")


def _simple(ctx: SlackContext, work: Callable[..., None]) -> Callable[..., None]:
    """A button whose effect shows on the message itself (through the outbox)."""

    def listener(ack: Ack, body: dict[str, Any], respond: Respond) -> None:
        ack()
        user = body["user"]["id"]
        try:
            ref = parse_ref(_value(body))
            with session_scope(ctx.services.engine) as session:
                work(ctx, session, ref, user)
        except (ResponseError, BadPayload) as exc:
            respond(text=f":warning: {exc}", response_type="ephemeral", replace_original=False)
            return
        except Exception:
            log.exception("action %s failed", (body.get("actions") or [{}])[0].get("action_id"))
            respond(text=":warning: that did not work; it is logged. Please try again.",
                    response_type="ephemeral", replace_original=False)
            return
        ctx.wake()

    return listener


def _acknowledge(ctx: SlackContext, session: Any, ref: Any, user: str) -> None:
    acknowledge(db_session=session, settings=ctx.services.settings,
                anomaly_id=ref.anomaly_id, user=user, now=_now())


def _snooze(ctx: SlackContext, session: Any, ref: Any, user: str) -> None:
    snooze(db_session=session, settings=ctx.services.settings, anomaly_id=ref.anomaly_id,
           user=user, hours=int(ref.hours or 0), now=_now())


def _escalate(ctx: SlackContext, session: Any, ref: Any, user: str) -> None:
    escalate(db_session=session, settings=ctx.services.settings, anomaly_id=ref.anomaly_id,
             user=user, now=_now())


def _opening(ctx: SlackContext, work: Callable[..., Any]) -> Callable[..., None]:
    """A button that opens a modal: the trigger_id is valid for three seconds."""

    def listener(ack: Ack, body: dict[str, Any], client: WebClient, respond: Respond) -> None:
        ack()
        try:
            ref = parse_ref(_value(body))
            channel, ts = _message(body)
            with ctx.playbook_lock, session_scope(ctx.services.engine) as session:
                view = work(ctx, session, ref, body["user"]["id"], channel, ts)
            client.views_open(trigger_id=body["trigger_id"], view=view)
        except (ResponseError, BadPayload) as exc:
            respond(text=f":warning: {exc}", response_type="ephemeral", replace_original=False)
            return
        except Exception:
            log.exception("opening a form failed")
            respond(text=":warning: the form could not be opened; it is logged. Try again.",
                    response_type="ephemeral", replace_original=False)
            return
        ctx.wake()

    return listener


def _start_playbook(ctx: SlackContext, session: Any, ref: Any, user: str, channel: str,
                    ts: str | None) -> Any:
    started = open_step(db_session=session, settings=ctx.services.settings,
                        playbook=ctx.playbook, anomaly_id=ref.anomaly_id, user=user, now=_now())
    meta = StepMeta(anomaly_id=ref.anomaly_id, step_id=started.step.id, channel=channel,
                    message_ts=ts)
    return modals.step_modal(ctx.playbook, started.step, meta, state=started.state,
                             dynamic_options=started.options, position=started.position)


def _expected_form(ctx: SlackContext, session: Any, ref: Any, user: str, channel: str,
                   ts: str | None) -> Any:
    if not ctx.services.settings.routing.may_act(user, _owner(session, ref.anomaly_id)):
        raise ResponseError("only the owner's responders (or FinOps) may mark this expected")
    return modals.expected_modal(ref.anomaly_id, channel, ts)


def _runbook(ctx: SlackContext, session: Any, ref: Any, user: str, channel: str,
             ts: str | None) -> Any:
    view = load_alert_view(db_session=session, anomaly_id=ref.anomaly_id, playbook=None)
    entries = chatops.runbook_for(db_session=session, project=view.project,
                                  environment=view.environment)
    return modals.runbook_modal(
        f"{view.project} · {view.environment}",
        [RunbookView(e.created_at, e.author, e.root_cause, e.fix, e.prevention)
         for e in entries])


def _owner(session: Any, anomaly_id: int) -> str:
    anomaly = chatops.get_anomaly(db_session=session, anomaly_id=anomaly_id)
    if anomaly is None:
        raise ResponseError(f"anomaly {anomaly_id} does not exist (any more)")
    return anomaly.owner


def _step_submitted(ctx: SlackContext) -> Callable[..., None]:
    def listener(ack: Ack, body: dict[str, Any], view: dict[str, Any]) -> None:
        user = body["user"]["id"]
        try:
            meta = parse_step_meta(view.get("private_metadata"))
            step = ctx.playbook.step(meta.step_id)
            values = modals.read_step_values(step, view["state"]["values"])
            with ctx.playbook_lock, session_scope(ctx.services.engine) as session:
                state = submit_step(db_session=session, settings=ctx.services.settings,
                                    playbook=ctx.playbook, anomaly_id=meta.anomaly_id,
                                    step_id=step.id, values=values, user=user, now=_now())
                following = _next_view(ctx, session, meta, state, user)
        except StepError as exc:
            ack(response_action="errors", errors=modals.step_errors(step, exc.errors))
            return
        except (ResponseError, BadPayload, KeyError) as exc:
            first = next(iter(view["state"]["values"]), "note")
            ack(response_action="errors", errors={first: str(exc)[:300]})
            return
        if following is None:
            ack()
        else:
            ack(response_action="update", view=following)
        ctx.wake()

    return listener


def _next_view(ctx: SlackContext, session: Any, meta: StepMeta, state: Any,
               user: str) -> Any | None:
    """The next undone step's modal, so one person can walk on; None when all are done."""
    step = next_step(ctx.playbook, state)
    if step is None:
        return None
    started = open_step(db_session=session, settings=ctx.services.settings,
                        playbook=ctx.playbook, anomaly_id=meta.anomaly_id, user=user,
                        now=_now(), step_id=step.id)
    following = meta.model_copy(update={"step_id": step.id})
    return modals.step_modal(ctx.playbook, step, following, state=started.state,
                             dynamic_options=started.options, position=started.position)


def _expected_submitted(ctx: SlackContext) -> Callable[..., None]:
    def listener(ack: Ack, body: dict[str, Any], view: dict[str, Any]) -> None:
        user = body["user"]["id"]
        values = view["state"]["values"]
        try:
            meta = parse_step_meta(view.get("private_metadata"))
            reason = modals.read_expected_reason(values)
            with session_scope(ctx.services.engine) as session:
                mark_expected(db_session=session, settings=ctx.services.settings,
                              anomaly_id=meta.anomaly_id, user=user, reason=reason, now=_now())
        except (ResponseError, BadPayload) as exc:
            ack(response_action="errors", errors={next(iter(values), "reason"): str(exc)[:300]})
            return
        ack()
        ctx.wake()

    return listener
