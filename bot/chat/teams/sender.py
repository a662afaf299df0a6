"""Sending to Teams for the outbox: an alert is one Adaptive Card, posted once, then updated.

:class:`TeamsSender` is the outbox's :class:`~bot.chat.port.ChatSender` for Teams. Each call
runs the SDK's ``App.send`` on the Teams loop (:meth:`bot.chat.teams.app.TeamsBot.call`),
addressed to the conversation's ``serviceUrl`` as last recorded
(:class:`bot.outbox.conversations.ConversationBook`).

* **The card is the whole alert.** It is drawn from the store at send time
  (:func:`bot.chat.teams.cards.alert_card`), with the walk's current step when one is in
  progress, and its chart inside as a compact image: Teams shows images, not uploads, in a
  card, so ``upload_chart`` has nothing left to do once the card carries it. Updates are a
  PUT of the same activity id: the card changes in place and is never posted again.
* **Replies** go into the alert's thread in a channel (``<conversation>;messageid=<id>``); a
  chat has no threads, so they follow the card there. Text is sent with ``textFormat: plain``:
  what people typed cannot become a link or a mention.
* **Failures** become :class:`~bot.chat.port.DeliveryError`: 429 with its ``Retry-After``
  (the SDK retries nothing), 5xx and dropped connections as retryable, and a conversation the
  bot is not in (403, 404) as permanent, with what to do.
* **No lookup by key.** Teams offers no way to find a message the bot sent by a key of its
  own, so :meth:`find_sent` finds nothing and a failed post is sent again. A 429 is never
  carried out; a 5xx or a connection dropped after Teams took the post may have been, and
  then the card shows twice. Slack, which can be searched, has no such gap (docs/teams.md).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from concurrent.futures import TimeoutError as FutureTimeout
from datetime import datetime
from typing import Any, Protocol

import httpx
from microsoft_teams.api.activities.message.message import MessageActivityInput
from microsoft_teams.api.models.attachment.attachment import Attachment

from bot.anomaly.desk import StepStarted
from bot.anomaly.views import AlertView
from bot.chat.enums import Platform
from bot.chat.port import DeliveryError, Notice
from bot.chat.teams.app import TeamsBot
from bot.chat.teams.cards import alert_card, compact_chart_uri, plain

__all__ = ["CARD_TYPE", "TeamsSender", "card_attachment"]

log = logging.getLogger(__name__)

CARD_TYPE = "application/vnd.microsoft.card.adaptive"


class AddressBook(Protocol):
    """What the sender needs of :class:`bot.outbox.conversations.ConversationBook`."""

    def service_url(self, conversation_id: str) -> str | None: ...

    def kind(self, conversation_id: str) -> str | None: ...


class TeamsSender:
    platform = Platform.TEAMS

    def __init__(self, bot: TeamsBot, *, book: AddressBook,
                 step_for: Callable[[int], StepStarted | None],
                 chart_for: Callable[[int], bytes | None], timeout: float = 30.0) -> None:
        self.bot = bot
        self.book = book
        self.step_for = step_for
        self.chart_for = chart_for
        self.timeout = timeout
        self._charts: dict[tuple[int, datetime], str | None] = {}
        # Entra ID object id -> display name, as activities from Teams carry them
        self.names: dict[str, str] = {}

    # -- the alert card -----------------------------------------------------------------------

    def card(self, view: AlertView) -> dict[str, Any]:
        """The alert's card as the store has it now: the one posted, updated and answered."""
        return alert_card(view, step=self.step_for(view.anomaly_id),
                          chart_uri=self._chart(view))

    def _chart(self, view: AlertView) -> str | None:
        key = (view.anomaly_id, view.last_seen_at)
        if key not in self._charts:
            png = self.chart_for(view.anomaly_id)
            self._charts = {k: v for k, v in self._charts.items() if k[0] != view.anomaly_id}
            self._charts[key] = compact_chart_uri(png) if png else None
        return self._charts[key]

    def cached_chart(self, view: AlertView) -> str | None:
        """The chart already drawn for this view, or None (an answer must not wait on it)."""
        return self._charts.get((view.anomaly_id, view.last_seen_at))

    def post_alert(self, channel: str, view: AlertView, *, key: str) -> str:
        return self._send(channel, _card_activity(self.card(view), view))

    def update_alert(self, channel: str, ref: str, view: AlertView) -> None:
        activity = _card_activity(self.card(view), view)
        activity.id = ref
        self._send(channel, activity)

    # -- text -----------------------------------------------------------------------------------

    def reply(self, channel: str, ref: str, notice: Notice, *, key: str) -> str:
        threaded = self.book.kind(channel) == "channel"
        target = f"{channel};messageid={ref}" if threaded else channel
        return self._send(target, self._text(notice), address=channel)

    def post_notice(self, channel: str, notice: Notice, *, key: str,
                    link: tuple[str, str] | None = None) -> str:
        return self._send(channel, self._text(notice))

    def _text(self, notice: Notice) -> MessageActivityInput:
        """Plain text (nothing typed becomes a link or a mention), led by who acted: their
        Teams name when they have acted in Teams since the bot started, else their id."""
        who = self.names.get(notice.actor, notice.actor) if notice.actor else None
        text = f"{who} · {notice.text}" if who else notice.text
        return MessageActivityInput(text=text[:4000], text_format="plain")

    def upload_chart(self, channel: str, ref: str, png: bytes, *, title: str,
                     key: str) -> None:
        return None  # the card carries its chart (see the module docstring)

    def find_sent(self, channel: str, key: str, *, since: datetime,
                  thread: str | None = None) -> str | None:
        return None  # Teams cannot look a message up by a key of ours

    # -- the wire -------------------------------------------------------------------------------

    def _send(self, conversation: str, activity: MessageActivityInput, *,
              address: str | None = None) -> str:
        service_url = self.book.service_url(address or conversation)
        if service_url is None:
            raise DeliveryError(
                f"the bot has not been added to Teams conversation {conversation[:80]} (or "
                f"has not heard from it yet); add the app to that team, channel or chat, or "
                f"correct routing.teams", retry_after=300.0)
        try:
            sent = self.bot.call(self.bot.app.send(conversation, activity,
                                                   service_url=service_url),
                                 timeout=self.timeout)
        except httpx.HTTPStatusError as exc:
            raise _delivery_error(exc, conversation) from None
        except (httpx.TransportError, FutureTimeout) as exc:
            raise DeliveryError(f"Teams could not be reached ({type(exc).__name__})",
                                uncertain=True) from None
        return str(sent.id)


def card_attachment(card: dict[str, Any]) -> Attachment:
    return Attachment(content_type=CARD_TYPE, content=card)


def _card_activity(card: dict[str, Any], view: AlertView) -> MessageActivityInput:
    activity = MessageActivityInput(summary=plain(f"Spend anomaly: {view.title}")[:200])
    activity.attachments = [card_attachment(card)]
    return activity


def _delivery_error(exc: httpx.HTTPStatusError, conversation: str) -> DeliveryError:
    status = exc.response.status_code
    detail = exc.response.text[:300]
    if status == 429:
        retry = exc.response.headers.get("Retry-After")
        try:
            wait = float(retry) if retry is not None else 5.0
        except ValueError:
            wait = 5.0
        return DeliveryError(f"Teams rate-limited the bot (429); retrying in {wait:g} s",
                             retry_after=wait)
    if status >= 500:
        return DeliveryError(f"Teams answered {status}: {detail}")
    if status in (403, 404):
        return DeliveryError(
            f"Teams refused the message ({status}: {detail}); the bot is not in conversation "
            f"{conversation[:80]} any more, or the id is wrong: add the app there again or "
            f"correct routing.teams", permanent=True)
    if status == 401:
        return DeliveryError("Teams refused the bot's token (401); check TEAMS_CLIENT_ID, "
                             "TEAMS_CLIENT_SECRET and TEAMS_TENANT_ID")
    return DeliveryError(f"Teams refused the message ({status}: {detail})", permanent=True)
