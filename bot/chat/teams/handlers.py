"""Every Teams handler, registered in one place (:func:`register`).

Handlers translate activities into calls on the anomaly desk
(:class:`bot.anomaly.desk.AnomalyDesk`), which decides who may act or see
(``bot.anomaly.access``) from the person's Entra ID object id (``from.aadObjectId``, listed in
``routing.responders`` beside Slack ids) and the conversation the activity came from. The
desk's work (short database transactions) runs on worker threads, never on the Teams loop.

* **Card actions** (``adaptiveCard/action`` invokes, :mod:`bot.chat.teams.verbs`) answer with
  the alert's card as the store has it after the action, so it refreshes in place for the
  clicker at once; the same change reaches everyone through the outbox's update, which is
  woken once no activity is being answered (at the latest :data:`WAKE_AT_LATEST` seconds
  after the change): the outbox's rendering and sending would otherwise take turns with the
  answers of a burst of clicks for the one interpreter lock, and every clicker is waiting on
  an answer while nobody waits on the broadcast a moment sooner. A form the
  playbook refuses comes back with each error under its input and what was typed kept. What
  a person may not do, or a click that changes nothing, is answered with a message instead,
  and the card stays as it was. An ``Action.Submit`` fallback (clients without Universal
  Actions) arrives as a message with a ``value`` and does the same, answered in text.
* **Messages**: ``cost ...`` (the same questions as Slack's ``/cost``, scoped to what the
  conversation may see) answered with a card; anything else gets the help.
* **Install, add and remove** (``installationUpdate``, ``conversationUpdate``) record the
  conversation and its ``serviceUrl``; every activity refreshes the address
  (:class:`bot.outbox.conversations.ConversationBook`).
"""

from __future__ import annotations

import asyncio
import logging
import re
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import partial
from typing import Any, Protocol

from microsoft_teams.api.activities.conversation.conversation_update import (
    ConversationUpdateActivity,
)
from microsoft_teams.api.activities.install_update.add import InstalledActivity
from microsoft_teams.api.activities.install_update.remove import UninstalledActivity
from microsoft_teams.api.activities.invoke.adaptive_card.action import AdaptiveCardInvokeActivity
from microsoft_teams.api.activities.message.message import MessageActivity, MessageActivityInput
from microsoft_teams.apps import ActivityContext, App

from bot import metrics
from bot.anomaly.desk import (
    AnomalyDesk,
    NotAllowed,
    NothingChanged,
    ResponseError,
    StepStarted,
)
from bot.anomaly.plans import PlanError
from bot.anomaly.plans_chat import expected_plan_from
from bot.anomaly.views import AlertView
from bot.chat.ratelimit import RateLimited, RateLimiter
from bot.chat.teams.cards import Panel, PanelKind, alert_card, plain, text_card
from bot.chat.teams.feedback_panel import not_an_anomaly_note
from bot.chat.teams.forms import expected_plan_inputs
from bot.chat.teams.sender import CARD_TYPE, card_attachment
from bot.chat.teams.verbs import (
    CardAction,
    CardActionError,
    Verb,
    expected_reason,
    parse_action,
    snooze_hours,
    step_values,
)
from bot.costs.command import Scope
from bot.costs.views import format_plain
from bot.errors import ACTION_FAILED, QUESTION_FAILED, USER_ERRORS, user_message
from bot.playbook import Playbook, StepError
from bot.playbook.library import PlaybookLibrary
from bot.wiring import Services

__all__ = ["CardActionHost", "TeamsContext", "answer_action", "answer_card_action",
           "answer_message", "register"]

log = logging.getLogger(__name__)

MESSAGE_TYPE = "application/vnd.microsoft.activity.message"
ERROR_TYPE = "application/vnd.microsoft.error"
# a form's save -> (its panel, the input its error shows under)
_PANEL_OF = {Verb.EXPECTED_SAVE: (PanelKind.EXPECTED, "reason"),
             Verb.SNOOZE_SAVE: (PanelKind.SNOOZE, "hours"),
             Verb.NOT_AN_ANOMALY_SAVE: (PanelKind.NOT_AN_ANOMALY, "note")}
_MENTION = re.compile(r"<at>.*?</at>", re.IGNORECASE | re.DOTALL)
WAKE_AT_LATEST = 1.0  # seconds a change waits for the answers in flight before the outbox


class AddressBook(Protocol):
    def is_known(self, conversation_id: str, service_url: str) -> bool: ...

    def remember(self, conversation_id: str, *, service_url: str, tenant_id: str | None = None,
                 kind: str | None = None, name: str | None = None, team_id: str | None = None,
                 installed: bool | None = None) -> None: ...


class Charts(Protocol):
    names: dict[str, str]

    def cached_chart(self, view: Any) -> str | None: ...


@dataclass
class TeamsContext:
    """What the handlers work with: the desk, the conversation book, the per-person limits,
    a way to wake the outbox, and the sender's charts (an answer never draws one).

    :meth:`changed` asks for the outbox; :meth:`answering` frames each activity, and the
    last one of a busy moment to be answered wakes the outbox for all of them."""

    services: Services
    playbook: Playbook | PlaybookLibrary
    book: AddressBook
    charts: Charts | None = None
    wake: Callable[[], None] = lambda: None
    actions: RateLimiter = field(init=False)
    commands: RateLimiter = field(init=False)
    _answering: int = field(init=False, default=0)
    _changed_at: float | None = field(init=False, default=None)  # monotonic, first unsent
    _guard: threading.Lock = field(init=False, default_factory=threading.Lock)

    @property
    def desk(self) -> AnomalyDesk:
        return self.services.desk(self.playbook)

    def __post_init__(self) -> None:
        limits = self.services.settings.limits
        self.actions = RateLimiter(limits.actions_per_minute)
        self.commands = RateLimiter(limits.commands_per_minute)

    def changed(self) -> None:
        """Something the outbox sends has changed: wake it now if nothing is being answered,
        else when the last answer in flight is given."""
        with self._guard:
            if self._changed_at is None:
                self._changed_at = time.monotonic()
            due = self._due()
        if due:
            self.wake()

    @contextmanager
    def answering(self) -> Iterator[None]:
        with self._guard:
            self._answering += 1
        try:
            yield
        finally:
            with self._guard:
                self._answering -= 1
                due = self._due()
            if due:
                self.wake()

    def _due(self) -> bool:
        """Under the guard: whether to wake the outbox now (and then it is no longer owed)."""
        if self._changed_at is None or (
                self._answering and time.monotonic() - self._changed_at < WAKE_AT_LATEST):
            return False
        self._changed_at = None
        return True


class CardActionHost(Protocol):
    """Where card actions can be answered without the SDK's turn (``TeamsBot``)."""

    card_actions: Callable[[AdaptiveCardInvokeActivity], Any] | None


def register(app: App, ctx: TeamsContext, host: CardActionHost | None = None) -> None:
    """Wire every Teams handler to ``app``; card actions to ``host``, when given, which
    answers them without the SDK's turn (:func:`answer_card_action`)."""

    @app.use
    async def every_activity(turn: ActivityContext[Any]) -> None:
        """Frames the answer (:meth:`TeamsContext.answering`) and records the address."""
        with ctx.answering():
            record = _learn(ctx, turn.activity)
            if record is not None:
                await asyncio.to_thread(record)
            await turn.next()

    @app.on_card_action
    async def on_card_action(turn: ActivityContext[AdaptiveCardInvokeActivity]) -> Any:
        activity = turn.activity
        value = activity.value.model_dump(mode="json", exclude_none=True)
        return await asyncio.to_thread(answer_action, ctx, value, user=_user(activity),
                                       channel=_base(activity.conversation.id))

    @app.on_message
    async def on_message(turn: ActivityContext[MessageActivity]) -> None:
        activity = turn.activity
        user, channel = _user(activity), _base(activity.conversation.id)
        if isinstance(activity.value, dict) and activity.value:  # an Action.Submit fallback
            started = time.perf_counter()
            answer = await asyncio.to_thread(answer_action, ctx, activity.value, user=user,
                                             channel=channel)
            text = (answer["value"] if answer["type"] == MESSAGE_TYPE
                    else answer["value"].get("message") if answer["type"] == ERROR_TYPE
                    else "Done: the alert card shows it in a moment.")
            await turn.send(MessageActivityInput(text=str(text), text_format="plain"))
            # a click all the same, though its body is a message's: the web layer's click
            # timer (bot.web) cannot tell it from typed text, so it is timed here
            metrics.click_answered("teams", time.perf_counter() - started)
            return
        card = await asyncio.to_thread(answer_message, ctx, activity.text or "", user=user,
                                       channel=channel)
        await turn.send(MessageActivityInput(attachments=[card_attachment(card)]))

    if host is not None:
        host.card_actions = partial(answer_card_action, ctx)

    @app.on_install_add
    async def on_install_add(turn: ActivityContext[InstalledActivity]) -> None:
        await asyncio.to_thread(_record_install, ctx, turn.activity, True)

    @app.on_install_remove
    async def on_install_remove(turn: ActivityContext[UninstalledActivity]) -> None:
        await asyncio.to_thread(_record_install, ctx, turn.activity, False)

    @app.on_conversation_update
    async def on_conversation_update(turn: ActivityContext[ConversationUpdateActivity]) -> None:
        activity = turn.activity
        bot_id = activity.recipient.id
        if any(m.id == bot_id for m in activity.members_added or []):
            await asyncio.to_thread(_record_install, ctx, activity, True)
        elif any(m.id == bot_id for m in activity.members_removed or []):
            await asyncio.to_thread(_record_install, ctx, activity, False)


def _learn(ctx: TeamsContext, activity: Any) -> Callable[[], None] | None:
    """Keeps the sender's display name (for the charts); the recording of the conversation's
    address still to do (a write: for a worker thread) when it is new or has moved."""
    conversation = getattr(activity, "conversation", None)
    sender = getattr(activity, "from_", None)
    name = getattr(sender, "name", None)
    if ctx.charts is not None and sender is not None and name:
        ctx.charts.names[_user(activity)] = str(name)[:100]
    if conversation is None or not activity.service_url or ctx.book.is_known(
            _base(conversation.id), activity.service_url):
        return None
    return partial(ctx.book.remember, _base(conversation.id), service_url=activity.service_url,
                   tenant_id=getattr(conversation, "tenant_id", None),
                   kind=getattr(conversation, "conversation_type", None))


# -- card actions -------------------------------------------------------------------------------


def answer_card_action(ctx: TeamsContext, activity: AdaptiveCardInvokeActivity
                       ) -> dict[str, Any]:
    """On a worker thread, the whole of a card action outside the SDK: what the SDK's turn
    would do for it (the address, the framing of :meth:`TeamsContext.answering`) and the
    answer (:func:`answer_action`)."""
    with ctx.answering():
        record = _learn(ctx, activity)
        if record is not None:
            record()
        value = activity.value.model_dump(mode="json", exclude_none=True)
        return answer_action(ctx, value, user=_user(activity),
                             channel=_base(activity.conversation.id))


def answer_action(ctx: TeamsContext, value: Any, *, user: str, channel: str) -> dict[str, Any]:
    """The invoke response to one card action: the refreshed card, or a message."""
    try:
        action = parse_action(value)
    except CardActionError as exc:
        log.warning("Teams: refused a card action: %s", exc)
        return {"statusCode": 400, "type": ERROR_TYPE,
                "value": {"code": "BadRequest", "message": f"{exc}"}}
    desk = ctx.desk
    panel: Panel | None = None
    errors: dict[str, str] | None = None
    state: tuple[AlertView, StepStarted | None] | None = None
    try:
        ctx.actions.check(user)
        panel, view_after, step_after = desk.on_card(action.anomaly_id, lambda acting: _act(
            acting, action, user=user, channel=channel))
        state = view_after, step_after
    except StepError as exc:
        errors = dict(exc.errors)
    except NothingChanged as exc:
        return _message(user_message(exc))
    except RateLimited as exc:
        return _message(user_message(exc))
    except (ValueError, ResponseError) as exc:
        refused = _refused(desk, action, exc)
        if isinstance(refused, dict):
            return refused
        panel, errors = refused
    except Exception as exc:
        if not isinstance(exc, USER_ERRORS):
            log.exception("a Teams card action failed")
        return _message(user_message(exc, otherwise=ACTION_FAILED))
    ctx.changed()
    try:
        # a refused form changed nothing: the card as the store has it, read on its own
        view, step = state or desk.card_state(action.anomaly_id)
        step = step if action.verb != Verb.BACK else None
    except Exception as exc:
        if not isinstance(exc, USER_ERRORS):
            log.exception("a Teams card could not be drawn")
        return _message(user_message(exc, otherwise=ACTION_FAILED))
    card = alert_card(view, step=step if panel is None else None,
                      chart_uri=ctx.charts.cached_chart(view) if ctx.charts else None,
                      errors=errors, panel=panel, inputs=action.inputs if errors else None)
    return {"statusCode": 200, "type": CARD_TYPE, "value": card}


def _refused(desk: AnomalyDesk, action: CardAction,
             exc: Exception) -> dict[str, Any] | tuple[Panel, dict[str, str]]:
    """What a refused action answers: a message, or, for a snooze or a reason the desk
    refused, its panel again with the error under the input."""
    if isinstance(exc, NotAllowed) or action.verb not in _PANEL_OF:
        if not isinstance(exc, USER_ERRORS):
            log.exception("a Teams card action failed")
        return _message(user_message(exc, otherwise=ACTION_FAILED))
    try:
        return _panel_again(desk, action, exc)
    except ResponseError as gone:  # no panel to draw: the anomaly does not exist
        return _message(user_message(gone))


def _panel_again(desk: AnomalyDesk, action: CardAction,
                 exc: Exception) -> tuple[Panel, dict[str, str]]:
    """The panel of a form the desk refused, the error under the input it is about."""
    kind, key = _PANEL_OF[action.verb]
    if isinstance(exc, PlanError) and exc.field:
        key = exc.field
    plan = desk.expected_defaults(action.anomaly_id) if kind is PanelKind.EXPECTED else None
    return Panel(kind, plan=plan), {key: user_message(exc)}


def _act(desk: AnomalyDesk, action: CardAction, *, user: str, channel: str) -> Panel | None:
    """Do what the click asks; the panel to open, if any. Errors go up to the caller."""
    anomaly = action.anomaly_id
    verb = action.verb
    if verb == Verb.ACK:
        desk.acknowledge(anomaly, user=user, channel=channel)
    elif verb == Verb.SNOOZE:
        desk.check_may_act(anomaly, user=user, channel=channel)
        return Panel(PanelKind.SNOOZE)
    elif verb == Verb.SNOOZE_SAVE:
        desk.snooze(anomaly, user=user, hours=snooze_hours(action.inputs), channel=channel)
    elif verb == Verb.EXPECTED:
        desk.check_may_mark_expected(anomaly, user=user, channel=channel)
        return Panel(PanelKind.EXPECTED, plan=desk.expected_defaults(anomaly))
    elif verb == Verb.EXPECTED_SAVE:
        typed = expected_plan_inputs(action.inputs)
        plan = None if typed is None else expected_plan_from(
            *typed, currency=desk.settings.currency.base)
        desk.mark_expected(anomaly, user=user, reason=expected_reason(action.inputs),
                           channel=channel, plan=plan)
    elif verb in (Verb.NOT_AN_ANOMALY, Verb.NOT_AN_ANOMALY_SAVE):
        return _not_an_anomaly(desk, action, user=user, channel=channel)
    elif verb == Verb.ESCALATE:
        desk.escalate(anomaly, user=user, channel=channel)
    elif verb == Verb.RUNBOOK:
        title, entries = desk.runbook(anomaly, user=user, channel=channel)
        return Panel(PanelKind.RUNBOOK, title=title, entries=tuple(entries))
    elif verb == Verb.STEP_OPEN:
        desk.open_step(anomaly, user=user, channel=channel)
    elif verb == Verb.STEP_SAVE:
        try:
            step = desk.playbook_for(anomaly).step(action.step_id or "")
        except KeyError:  # a card drawn from a playbook that has changed since
            raise ResponseError("This step is not in the playbook any more; open the alert "
                                "again to continue with the current one.") from None
        desk.save_step(anomaly, step_id=step.id, values=step_values(step, action.inputs),
                       user=user, channel=channel)
    return None


def _not_an_anomaly(desk: AnomalyDesk, action: CardAction, *, user: str,
                    channel: str) -> Panel | None:
    """Open the note panel, or save: the alert closes and its lines' spend becomes normal."""
    if action.verb == Verb.NOT_AN_ANOMALY:
        desk.check_may_say_not_an_anomaly(action.anomaly_id, user=user, channel=channel)
        return Panel(PanelKind.NOT_AN_ANOMALY)
    desk.not_an_anomaly(action.anomaly_id, user=user, note=not_an_anomaly_note(action.inputs),
                        channel=channel)
    return None


def _message(text: str) -> dict[str, Any]:
    return {"statusCode": 200, "type": MESSAGE_TYPE, "value": text}


# -- cost questions -----------------------------------------------------------------------------


def answer_message(ctx: TeamsContext, text: str, *, user: str, channel: str) -> dict[str, Any]:
    """The card answering a message to the bot: a ``cost`` question, or the help."""
    words = _MENTION.sub(" ", text).strip()
    question = words[len("cost"):].strip() if words.lower().startswith("cost") else "help"
    try:
        ctx.commands.check(user)
        owners = ctx.desk.channel_owners(channel=channel)
        scope = Scope.everything() if owners is None else Scope.of_owners(owners)
        answer = ctx.desk.cost(question, user=user, channel=channel)
        lines = format_plain(answer).replace("/cost ", "cost ").splitlines()
        if scope.owners == frozenset():
            lines.insert(0, "This conversation is not mapped to a team (routing.teams.owners), "
                            "so it sees no spend; ask in the FinOps conversation.")
    except Exception as exc:
        if not isinstance(exc, USER_ERRORS):
            log.exception("Teams cost question %r failed", question[:100])
        lines = [user_message(exc, otherwise=QUESTION_FAILED)]
    title = f"cost {question}".strip() if question != "help" else "cost help"
    return text_card(plain(title), lines)


# -- installs -----------------------------------------------------------------------------------


def _record_install(ctx: TeamsContext, activity: Any, installed: bool) -> None:
    data = getattr(activity, "channel_data", None)
    channel = getattr(data, "channel", None)
    team = getattr(data, "team", None)
    conversation = activity.conversation
    ctx.book.remember(_base(conversation.id), service_url=activity.service_url,
                      tenant_id=getattr(conversation, "tenant_id", None),
                      kind=getattr(conversation, "conversation_type", None),
                      name=getattr(channel, "name", None) or getattr(conversation, "name", None),
                      team_id=getattr(team, "id", None), installed=installed)
    log.info("Teams: the bot was %s conversation %s", "added to" if installed else
             "removed from", _base(conversation.id)[:80])


def _user(activity: Any) -> str:
    sender = activity.from_
    return str(getattr(sender, "aad_object_id", None) or sender.id)


def _base(conversation_id: str) -> str:
    """A channel thread's conversation id is its channel's plus ``;messageid=<root>``."""
    return conversation_id.partition(";messageid=")[0]
