"""The neutral interface between the bot and a chat platform.

The outbox (``bot.outbox.deliverer``) sends every message through a :class:`ChatSender`; adapters
(Slack, console) implement it. An adapter turns :class:`bot.anomaly.views.AlertView` into its own
format and reports failures as :class:`DeliveryError`, saying whether a retry may help, after
how long, and whether the message may have arrived anyway (so the outbox checks before it
sends again: nothing is lost and nothing is sent twice).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from bot.anomaly.views import AlertView
from bot.chat.enums import Platform

__all__ = ["ChatSender", "ChatUnavailable", "DeliveryError", "Notice"]


class ChatUnavailable(Exception):
    """The platform refused the bot's credentials or could not be reached when it started; the
    message names which setting and what to do."""


class DeliveryError(Exception):
    """A send that failed.

    ``retry_after``: seconds the platform asked us to wait (HTTP 429). ``uncertain``: the
    request may have been carried out (server error, dropped connection). ``permanent``:
    retrying cannot help (unknown channel, malformed message); the message is set aside.
    """

    def __init__(self, message: str, *, retry_after: float | None = None,
                 uncertain: bool = False, permanent: bool = False) -> None:
        super().__init__(message)
        self.retry_after = retry_after
        self.uncertain = uncertain
        self.permanent = permanent


@dataclass(frozen=True)
class Notice:
    """A short text: a thread reply about an action, a reminder, an escalation post.

    ``text`` is plain text (adapters escape it); ``actor`` is the chat user who acted, shown as
    a mention where the platform has them.
    """

    text: str
    actor: str | None = None


class ChatSender(Protocol):
    platform: Platform

    def post_alert(self, channel: str, view: AlertView, *, key: str) -> str:
        """Post a new alert message; returns its reference (Slack: the message ts)."""
        ...

    def update_alert(self, channel: str, ref: str, view: AlertView) -> None: ...

    def reply(self, channel: str, ref: str, notice: Notice, *, key: str) -> str: ...

    def post_notice(self, channel: str, notice: Notice, *, key: str,
                    link: tuple[str, str] | None = None) -> str:
        """A message of its own in ``channel``; ``link`` = (channel, ref) of the alert."""
        ...

    def upload_chart(self, channel: str, ref: str, png: bytes, *, title: str,
                     key: str) -> None: ...

    def find_sent(self, channel: str, key: str, *, since: datetime,
                  thread: str | None = None) -> str | None:
        """The reference of a message (or chart) sent earlier with ``key``, if it did arrive."""
        ...
