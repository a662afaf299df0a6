"""Every Slack listener, registered in one place (:func:`register`).

Listeners translate Slack's payloads into calls on the anomaly desk
(:class:`bot.anomaly.desk.AnomalyDesk`) and render what it returns; the desk opens the
transaction and the domain decides who may act or see (``bot.anomaly.access``), from the user
and the channel the click came from. Each listener acknowledges first (Slack waits three
seconds at most), then does the work: modals opened with the click's ``trigger_id``, and the
alert message updated through the outbox (woken so it goes out now). A repeated click that
changes nothing is answered with what the state already is. Each user has a budget of actions
a minute (``limits.actions_per_minute``) and of ``/cost`` questions
(``limits.commands_per_minute``, :class:`bot.chat.ratelimit.RateLimiter`); beyond it the request
is acknowledged, does nothing, and is answered "try again in N s". What people read about an
error comes from :func:`bot.errors.user_message`: errors a person caused are answered
ephemerally with what to do; anything else is logged with its traceback and answered with a
short apology, never a stack trace.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from slack_bolt import Ack, App, Respond
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot.anomaly.desk import AnomalyDesk, NothingChanged
from bot.anomaly.plans import PlanError
from bot.anomaly.plans_chat import expected_plan_from
from bot.chat.ids import (
    ActionId,
    AlertRef,
    BadPayload,
    CallbackId,
    CommandName,
    EventName,
    StepMeta,
    parse_ref,
    parse_step_meta,
)
from bot.chat.ratelimit import RateLimited, RateLimiter
from bot.chat.slack import feedback_modal, modals
from bot.chat.slack.blocks import escape
from bot.chat.slack.home import home_view
from bot.costs.command import Scope
from bot.costs.views import format_mrkdwn
from bot.errors import ACTION_FAILED, FORM_FAILED, QUESTION_FAILED, USER_ERRORS, user_message
from bot.playbook import Playbook, Step, StepError
from bot.playbook.library import PlaybookLibrary
from bot.wiring import Services

__all__ = ["SlackContext", "register"]

log = logging.getLogger(__name__)


@dataclass
class SlackContext:
    """What the listeners work with: the desk (from ``services`` and ``playbook``), the
    per-user limits, and a way to wake the outbox."""

    services: Services
    playbook: Playbook | PlaybookLibrary
    wake: Callable[[], None] = lambda: None  # tell the outbox there is something to send
    actions: RateLimiter = field(init=False)
    commands: RateLimiter = field(init=False)

    @property
    def desk(self) -> AnomalyDesk:
        """A desk on the services' settings as they are now (tests change them live)."""
        return self.services.desk(self.playbook)

    def __post_init__(self) -> None:
        limits = self.services.settings.limits
        self.actions = RateLimiter(limits.actions_per_minute)
        self.commands = RateLimiter(limits.commands_per_minute)


def register(app: App, ctx: SlackContext) -> None:
    """Wire every action, view, command and event listener to ``app``."""
    app.action(ActionId.ACKNOWLEDGE.value)(_simple(ctx, _acknowledge))
    app.action(ActionId.SNOOZE.value)(_simple(ctx, _snooze))
    app.action(ActionId.ESCALATE.value)(_simple(ctx, _escalate))
    app.action(ActionId.START_PLAYBOOK.value)(_opening(ctx, _start_playbook))
    app.action(ActionId.EXPECTED.value)(_opening(ctx, _expected_form))
    app.action(ActionId.VIEW_RUNBOOK.value)(_opening(ctx, _runbook))
    app.action(ActionId.NOT_AN_ANOMALY.value)(_opening(ctx, _not_an_anomaly_form))
    app.view(CallbackId.PLAYBOOK_STEP.value)(_step_submitted(ctx))
    app.view(CallbackId.EXPECTED_REASON.value)(_expected_submitted(ctx))
    app.view(CallbackId.NOT_AN_ANOMALY_NOTE.value)(_not_an_anomaly_submitted(ctx))
    app.command(CommandName.COST.value)(_cost(ctx))
    app.event(EventName.APP_HOME_OPENED.value)(_home(ctx))


def _say(respond: Respond, exc: Exception, *, otherwise: str = ACTION_FAILED) -> None:
    """Answer the clicker alone; a bug (not one of USER_ERRORS) is logged first."""
    if not isinstance(exc, USER_ERRORS):
        log.exception("a Slack action failed", exc_info=exc)
    text = escape(user_message(exc, otherwise=otherwise))
    if isinstance(exc, NothingChanged):
        text = f":information_source: {text}"
    elif not isinstance(exc, RateLimited):
        text = f":warning: {text}"
    respond(text=text, response_type="ephemeral", replace_original=False)


def _value(body: dict[str, Any]) -> str:
    action = (body.get("actions") or [{}])[0]
    selected = action.get("selected_option") or {}
    return str(selected.get("value") or action.get("value") or "")


def _message(body: dict[str, Any]) -> tuple[str, str | None]:
    container = body.get("container") or {}
    channel = (body.get("channel") or {}).get("id") or container.get("channel_id") or ""
    return str(channel), container.get("message_ts")


# -- buttons ------------------------------------------------------------------------------------


def _simple(ctx: SlackContext, work: Callable[[AnomalyDesk, AlertRef, str, str], None]
            ) -> Callable[..., None]:
    """A button whose effect shows on the message itself (through the outbox)."""

    def listener(ack: Ack, body: dict[str, Any], respond: Respond) -> None:
        ack()
        user = body["user"]["id"]
        try:
            ctx.actions.check(user)
            channel, _ = _message(body)
            work(ctx.desk, parse_ref(_value(body)), user, channel)
        except Exception as exc:
            _say(respond, exc)
            return
        ctx.wake()

    return listener


def _acknowledge(desk: AnomalyDesk, ref: AlertRef, user: str, channel: str) -> None:
    desk.acknowledge(ref.anomaly_id, user=user, channel=channel)


def _snooze(desk: AnomalyDesk, ref: AlertRef, user: str, channel: str) -> None:
    desk.snooze(ref.anomaly_id, user=user, hours=int(ref.hours or 0), channel=channel)


def _escalate(desk: AnomalyDesk, ref: AlertRef, user: str, channel: str) -> None:
    desk.escalate(ref.anomaly_id, user=user, channel=channel)


def _opening(ctx: SlackContext,
             work: Callable[[AnomalyDesk, AlertRef, str, str, str | None], Any]
             ) -> Callable[..., None]:
    """A button that opens a modal: the trigger_id is valid for three seconds."""

    def listener(ack: Ack, body: dict[str, Any], client: WebClient, respond: Respond) -> None:
        ack()
        user = body["user"]["id"]
        try:
            ctx.actions.check(user)
            channel, ts = _message(body)
            view = work(ctx.desk, parse_ref(_value(body)), user, channel, ts)
            client.views_open(trigger_id=body["trigger_id"], view=view)
        except Exception as exc:
            _say(respond, exc, otherwise=FORM_FAILED)
            return
        ctx.wake()

    return listener


def _start_playbook(desk: AnomalyDesk, ref: AlertRef, user: str, channel: str,
                    ts: str | None) -> Any:
    started = desk.open_step(ref.anomaly_id, user=user, channel=channel)
    meta = StepMeta(anomaly_id=ref.anomaly_id, step_id=started.step.id, channel=channel,
                    message_ts=ts)
    return modals.step_modal(started.playbook or desk.playbook, started.step, meta,
                             state=started.state,
                             dynamic_options=started.options, position=started.position,
                             prefill=started.prefill)


def _expected_form(desk: AnomalyDesk, ref: AlertRef, user: str, channel: str,
                   ts: str | None) -> Any:
    desk.check_may_mark_expected(ref.anomaly_id, user=user, channel=channel)
    return modals.expected_modal(ref.anomaly_id, channel, ts,
                                 plan=desk.expected_defaults(ref.anomaly_id))


def _not_an_anomaly_form(desk: AnomalyDesk, ref: AlertRef, user: str, channel: str,
                         ts: str | None) -> Any:
    desk.check_may_say_not_an_anomaly(ref.anomaly_id, user=user, channel=channel)
    return feedback_modal.not_an_anomaly_modal(ref.anomaly_id, channel, ts)


def _runbook(desk: AnomalyDesk, ref: AlertRef, user: str, channel: str,
             ts: str | None) -> Any:
    title, entries = desk.runbook(ref.anomaly_id, user=user, channel=channel)
    return modals.runbook_modal(title, entries)


# -- forms --------------------------------------------------------------------------------------


def _refuse(ack: Ack, view: dict[str, Any], exc: Exception) -> None:
    """The form stays open and says what is wrong under its first box."""
    first = next(iter(view["state"]["values"]), "note")
    ack(response_action="errors", errors={first: user_message(exc)[:300]})


def _step_of(playbook: Playbook, step_id: str) -> Step:
    try:
        return playbook.step(step_id)
    except KeyError as exc:  # a form from a playbook that has changed since
        raise BadPayload(str(exc.args[0])) from None


def _step_submitted(ctx: SlackContext) -> Callable[..., None]:
    def listener(ack: Ack, body: dict[str, Any], view: dict[str, Any]) -> None:
        user = body["user"]["id"]
        try:
            ctx.actions.check(user)
            meta = parse_step_meta(view.get("private_metadata"))
            step = _step_of(ctx.desk.playbook_for(meta.anomaly_id), meta.step_id)
            values = modals.read_step_values(step, view["state"]["values"])
            saved = ctx.desk.save_step(meta.anomaly_id, step_id=step.id, values=values,
                                       user=user, channel=meta.channel)
        except StepError as exc:
            ack(response_action="errors", errors=modals.step_errors(step, exc.errors))
            return
        except USER_ERRORS as exc:
            _refuse(ack, view, exc)
            return
        if saved.following is None:
            ack()
        else:  # the next undone step, so one person can walk on
            started = saved.following
            following = meta.model_copy(update={"step_id": started.step.id})
            ack(response_action="update", view=modals.step_modal(
                started.playbook or ctx.desk.playbook, started.step, following,
                state=started.state,
                dynamic_options=started.options, position=started.position,
                prefill=started.prefill))
        ctx.wake()

    return listener


def _expected_submitted(ctx: SlackContext) -> Callable[..., None]:
    def listener(ack: Ack, body: dict[str, Any], view: dict[str, Any]) -> None:
        user = body["user"]["id"]
        try:
            ctx.actions.check(user)
            meta = parse_step_meta(view.get("private_metadata"))
            reason = modals.read_expected_reason(view["state"]["values"])
            typed = modals.read_expected_plan(view["state"]["values"])
            plan = None if typed is None else expected_plan_from(
                *typed, currency=ctx.desk.settings.currency.base)
            ctx.desk.mark_expected(meta.anomaly_id, user=user, reason=reason,
                                   channel=meta.channel, plan=plan)
        except NothingChanged:
            ack()  # saved before (a double submit or a replay): the form just closes
            return
        except PlanError as exc:
            block = modals.PLAN_BLOCK_IDS.get(exc.field or "", modals.EXPECTED_BLOCK_ID)
            ack(response_action="errors", errors={block: user_message(exc)[:300]})
            return
        except USER_ERRORS as exc:
            _refuse(ack, view, exc)
            return
        ack()
        ctx.wake()

    return listener


def _not_an_anomaly_submitted(ctx: SlackContext) -> Callable[..., None]:
    def listener(ack: Ack, body: dict[str, Any], view: dict[str, Any]) -> None:
        user = body["user"]["id"]
        try:
            ctx.actions.check(user)
            meta = parse_step_meta(view.get("private_metadata"))
            note = feedback_modal.read_note(view["state"]["values"])
            ctx.desk.not_an_anomaly(meta.anomaly_id, user=user, note=note,
                                    channel=meta.channel)
        except NothingChanged:
            ack()  # said before (a double submit or a replay): the form just closes
            return
        except USER_ERRORS as exc:
            _refuse(ack, view, exc)
            return
        ack()
        ctx.wake()

    return listener


# -- /cost and App Home -------------------------------------------------------------------------


def _cost(ctx: SlackContext) -> Callable[..., None]:
    def listener(ack: Ack, command: dict[str, Any], respond: Respond) -> None:
        ack()  # within Slack's 3 seconds; the answer follows on the response_url
        try:
            ctx.commands.check(command.get("user_id", ""))
        except RateLimited as exc:
            respond(text=user_message(exc), response_type="ephemeral")
            return
        owners = ctx.desk.channel_owners(channel=command.get("channel_id", ""))
        scope = Scope.everything() if owners is None else Scope.of_owners(owners)
        try:
            answer = ctx.desk.cost(command.get("text", ""), user=command.get("user_id", ""),
                                   channel=command.get("channel_id", ""))
            text = format_mrkdwn(answer)
        except Exception as exc:
            if not isinstance(exc, USER_ERRORS):  # a question it cannot parse is no bug
                log.exception("/cost %r failed", command.get("text", "")[:100])
            text = f":warning: {escape(user_message(exc, otherwise=QUESTION_FAILED))}"
        if scope.owners == frozenset():
            text = ("_This channel is not mapped to a team (routing.owners), so it sees no "
                    "spend; ask in the FinOps channel._\n") + text
        respond(text=text[:39_000], response_type="ephemeral")

    return listener


def _home(ctx: SlackContext) -> Callable[..., None]:
    def listener(event: dict[str, Any], client: WebClient) -> None:
        user = event.get("user", "")
        home = ctx.desk.home(user=user)
        try:
            client.views_publish(user_id=user,
                                 view=home_view(home.open_alerts, home.resolutions))
        except SlackApiError as exc:  # drawn again the next time the tab is opened
            log.warning("App Home for %s was not published: Slack answered %s", user[:32],
                        exc.response.get("error", "an error"))

    return listener
