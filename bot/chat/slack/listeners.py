"""Every Slack listener, registered in one place (:func:`register`).

Each listener acknowledges first (Slack waits three seconds at most), then does the work:
domain calls in one short transaction (``bot.anomaly.service``), modals opened with the click's
``trigger_id``, and the alert message updated through the outbox (woken so it goes out now).
Who may act or see is decided by the domain (``bot.anomaly.access``, through
``bot.anomaly.service``), from
the user and the channel the click came from. A repeated click that changes nothing is
answered with what the state already is. Each user has a budget of actions a minute
(``limits.actions_per_minute``, :class:`bot.chat.ratelimit.RateLimiter`); beyond it the click is
acknowledged, does nothing, and is answered "try again in N s". Errors a person caused are
answered ephemerally with what to do; anything else is logged with its traceback and answered
with a short apology, never a stack trace.
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

from bot.anomaly.service import (
    NothingChanged,
    ResponseError,
    acknowledge,
    check_may_mark_expected,
    escalate,
    load_runbook,
    mark_expected,
    open_step,
    snooze,
    submit_step,
)
from bot.chat.ids import ActionId, BadPayload, CallbackId, StepMeta, parse_ref, parse_step_meta
from bot.chat.ratelimit import RateLimiter
from bot.chat.slack import modals
from bot.chat.slack.blocks import escape
from bot.playbook import Playbook, StepError, next_step
from bot.wiring import Services
from storage.db import session_scope

__all__ = ["SlackContext", "register", "slow_down"]

log = logging.getLogger(__name__)


@dataclass
class SlackContext:
    services: Services
    playbook: Playbook
    wake: Callable[[], None] = lambda: None  # tell the outbox there is something to send
    # an anomaly and its playbook answers are read, changed and written back: two clicks at
    # the same moment must apply one after the other (SQLite is one process; PostgreSQL
    # replicas also lock the rows, see storage.chatops)
    playbook_lock: threading.Lock = field(default_factory=threading.Lock)
    actions: RateLimiter = field(init=False)
    commands: RateLimiter = field(init=False)

    def __post_init__(self) -> None:
        limits = self.services.settings.limits
        self.actions = RateLimiter(limits.actions_per_minute)
        self.commands = RateLimiter(limits.commands_per_minute)


def slow_down(seconds: int) -> str:
    return (f"You are going a little fast: please try again in {seconds} s "
            f"(a limit per person keeps the bot responsive for everyone).")


def _say(respond: Respond, exc: Exception) -> None:
    icon = ":information_source:" if isinstance(exc, NothingChanged) else ":warning:"
    respond(text=f"{icon} {escape(str(exc))}", response_type="ephemeral",
            replace_original=False)


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
        wait = ctx.actions.take(user)
        if wait:
            respond(text=slow_down(wait), response_type="ephemeral", replace_original=False)
            return
        try:
            ref = parse_ref(_value(body))
            channel, _ = _message(body)
            with ctx.playbook_lock, session_scope(ctx.services.engine) as session:
                work(ctx, session, ref, user, channel)
        except (ResponseError, BadPayload) as exc:
            _say(respond, exc)
            return
        except Exception:
            log.exception("action %s failed", (body.get("actions") or [{}])[0].get("action_id"))
            respond(text=":warning: that did not work; it is logged. Please try again.",
                    response_type="ephemeral", replace_original=False)
            return
        ctx.wake()

    return listener


def _acknowledge(ctx: SlackContext, session: Any, ref: Any, user: str, channel: str) -> None:
    acknowledge(db_session=session, settings=ctx.services.settings,
                anomaly_id=ref.anomaly_id, user=user, now=_now(), channel=channel)


def _snooze(ctx: SlackContext, session: Any, ref: Any, user: str, channel: str) -> None:
    snooze(db_session=session, settings=ctx.services.settings, anomaly_id=ref.anomaly_id,
           user=user, hours=int(ref.hours or 0), now=_now(), channel=channel)


def _escalate(ctx: SlackContext, session: Any, ref: Any, user: str, channel: str) -> None:
    escalate(db_session=session, settings=ctx.services.settings, anomaly_id=ref.anomaly_id,
             user=user, now=_now(), channel=channel)


def _opening(ctx: SlackContext, work: Callable[..., Any]) -> Callable[..., None]:
    """A button that opens a modal: the trigger_id is valid for three seconds."""

    def listener(ack: Ack, body: dict[str, Any], client: WebClient, respond: Respond) -> None:
        ack()
        wait = ctx.actions.take(body["user"]["id"])
        if wait:
            respond(text=slow_down(wait), response_type="ephemeral", replace_original=False)
            return
        try:
            ref = parse_ref(_value(body))
            channel, ts = _message(body)
            with ctx.playbook_lock, session_scope(ctx.services.engine) as session:
                view = work(ctx, session, ref, body["user"]["id"], channel, ts)
            client.views_open(trigger_id=body["trigger_id"], view=view)
        except (ResponseError, BadPayload) as exc:
            _say(respond, exc)
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
                        playbook=ctx.playbook, anomaly_id=ref.anomaly_id, user=user, now=_now(),
                        channel=channel)
    meta = StepMeta(anomaly_id=ref.anomaly_id, step_id=started.step.id, channel=channel,
                    message_ts=ts)
    return modals.step_modal(ctx.playbook, started.step, meta, state=started.state,
                             dynamic_options=started.options, position=started.position)


def _expected_form(ctx: SlackContext, session: Any, ref: Any, user: str, channel: str,
                   ts: str | None) -> Any:
    check_may_mark_expected(db_session=session, settings=ctx.services.settings,
                            anomaly_id=ref.anomaly_id, user=user, channel=channel)
    return modals.expected_modal(ref.anomaly_id, channel, ts)


def _runbook(ctx: SlackContext, session: Any, ref: Any, user: str, channel: str,
             ts: str | None) -> Any:
    title, entries = load_runbook(db_session=session, settings=ctx.services.settings,
                                  anomaly_id=ref.anomaly_id, user=user, channel=channel)
    return modals.runbook_modal(title, entries)


def _refuse_form(ctx: SlackContext, ack: Ack, user: str, view: dict[str, Any]) -> bool:
    """Over the user's budget: the form stays open and says when to try again."""
    wait = ctx.actions.take(user)
    if wait:
        first = next(iter(view["state"]["values"]), "note")
        ack(response_action="errors", errors={first: slow_down(wait)})
    return bool(wait)


def _step_submitted(ctx: SlackContext) -> Callable[..., None]:
    def listener(ack: Ack, body: dict[str, Any], view: dict[str, Any]) -> None:
        user = body["user"]["id"]
        if _refuse_form(ctx, ack, user, view):
            return
        try:
            meta = parse_step_meta(view.get("private_metadata"))
            step = ctx.playbook.step(meta.step_id)
            values = modals.read_step_values(step, view["state"]["values"])
            with ctx.playbook_lock, session_scope(ctx.services.engine) as session:
                state = submit_step(db_session=session, settings=ctx.services.settings,
                                    playbook=ctx.playbook, anomaly_id=meta.anomaly_id,
                                    step_id=step.id, values=values, user=user, now=_now(),
                                    channel=meta.channel)
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
                        now=_now(), step_id=step.id, channel=meta.channel)
    following = meta.model_copy(update={"step_id": step.id})
    return modals.step_modal(ctx.playbook, step, following, state=started.state,
                             dynamic_options=started.options, position=started.position)


def _expected_submitted(ctx: SlackContext) -> Callable[..., None]:
    def listener(ack: Ack, body: dict[str, Any], view: dict[str, Any]) -> None:
        user = body["user"]["id"]
        values = view["state"]["values"]
        if _refuse_form(ctx, ack, user, view):
            return
        try:
            meta = parse_step_meta(view.get("private_metadata"))
            reason = modals.read_expected_reason(values)
            with ctx.playbook_lock, session_scope(ctx.services.engine) as session:
                mark_expected(db_session=session, settings=ctx.services.settings,
                              anomaly_id=meta.anomaly_id, user=user, reason=reason, now=_now(),
                              channel=meta.channel)
        except NothingChanged:
            ack()  # saved before (a double submit or a replay): the form just closes
            return
        except (ResponseError, BadPayload) as exc:
            ack(response_action="errors", errors={next(iter(values), "reason"): str(exc)[:300]})
            return
        ack()
        ctx.wake()

    return listener
