"""The chat platforms: one adapter package each (``bot.chat.slack``, ``bot.chat.console``).

The platform is a chat concept: each :class:`~bot.chat.port.ChatSender` names the platform it
speaks for, and the outbox and the alerts merely record that name (``alert.platform``,
``outbox.platform``, plain text columns), so the names live with the chat adapters rather than
with the outbox. A member's value must never change; add a member for a new adapter.
"""

from __future__ import annotations

from enum import StrEnum

__all__ = ["Platform"]


class Platform(StrEnum):
    """The chat platform an alert is posted to and a message is sent on."""

    SLACK = "slack"  # Slack, in Socket Mode or over HTTP (``bot.chat.slack``)
    TEAMS = "teams"  # Microsoft Teams, over HTTP on /api/messages (``bot.chat.teams``)
    CONSOLE = "console"  # the terminal of ``spendwatch run`` without Slack tokens
