"""The states of the outbox: what a stored message does, where it is, and its alert's message.

``outbox.operation``, ``outbox.status`` and ``alert.status`` are plain text columns holding
these values as they read here, so a member's value must never change; add a member instead.
"""

from __future__ import annotations

from enum import StrEnum

__all__ = ["AlertStatus", "DeliveryOutcome", "MessageStatus", "Operation"]


class Operation(StrEnum):
    """What an outbox message does on the chat platform (``outbox.operation``)."""

    POST = "post"  # post the alert message itself (once per anomaly and platform)
    UPDATE = "update"  # re-render the alert message in place from the store as it is now
    REPLY = "reply"  # a reply in the alert's thread (an action, a reminder, news)
    CHART = "chart"  # upload a chart into the thread of its alert, or of a notice (a digest)
    NOTICE = "notice"  # a message of its own in another channel (an escalation)


class MessageStatus(StrEnum):
    """Where an outbox message is (``outbox.status``)."""

    PENDING = "pending"  # not sent yet: due at ``next_attempt_at`` (retries wait there too)
    SENT = "sent"  # arrived, or an update shown by a later render ("covered")
    DEAD = "dead"  # set aside for good: a permanent error or too many attempts


class AlertStatus(StrEnum):
    """Whether the alert message of an anomaly exists on its platform (``alert.status``)."""

    PENDING = "pending"  # its post is queued; replies, updates and charts wait for it
    POSTED = "posted"  # the message exists; ``message_ref`` says which one
    DEAD = "dead"  # the post could not be made; what needs the message is set aside too


class DeliveryOutcome(StrEnum):
    """What one attempt to deliver a message came to (the deliverer's, never stored)."""

    SENT = "sent"  # it arrived
    DEFERRED = "deferred"  # its alert has no message yet: try later, the attempt not counted
    SKIPPED = "skipped"  # no longer pending, or another replica claimed it first
    DEAD = "dead"  # set aside before sending (its alert is gone or dead)
    FAILED = "failed"  # the send failed: retried later, or set aside after the last attempt
