"""The "Not an anomaly" form in Slack: an optional note, then the alert closes.

Opened by the alert's *Not an anomaly* button; its submission records the lines' spend as
normal (``bot.anomaly.feedback``). The metadata is the same versioned :class:`StepMeta` the
other alert forms carry, so the channel the click came from decides who may act.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from slack_sdk.models.blocks import Block, InputBlock, PlainTextInputElement, PlainTextObject
from slack_sdk.models.views import View

from bot.anomaly.feedback import NOTE_MAX_CHARS
from bot.chat.ids import CallbackId, StepMeta
from bot.chat.slack.blocks import section

__all__ = ["NOTE_BLOCK_ID", "STEP_ID", "not_an_anomaly_modal", "read_note"]

STEP_ID = "not-an-anomaly"
NOTE_BLOCK_ID = "note"


def not_an_anomaly_modal(anomaly_id: int, channel: str, message_ts: str | None) -> View:
    """Asks for an optional note; saving closes the alert and widens normal for its lines."""
    meta = StepMeta(anomaly_id=anomaly_id, step_id=STEP_ID, channel=channel,
                    message_ts=message_ts)
    note = PlainTextInputElement(action_id=NOTE_BLOCK_ID, multiline=True,
                                 max_length=NOTE_MAX_CHARS,
                                 placeholder="e.g. the nightly batch moved to this hour")
    blocks: list[Block] = [
        section("The alert closes, and the spend of each line it was about counts as normal "
                "for that line: the same rise will not alert again, a bigger one will. The "
                "next alert on this workload says so, and `/cost feedback undo ID` undoes it."),
        InputBlock(block_id=NOTE_BLOCK_ID, label=PlainTextObject(text="Why is this normal?"),
                   element=note, optional=True,
                   hint=PlainTextObject(text="Optional; shown with the feedback.")),
    ]
    return View(type="modal", callback_id=CallbackId.NOT_AN_ANOMALY_NOTE.value,
                title=PlainTextObject(text="Not an anomaly"), submit=PlainTextObject(text="Save"),
                close=PlainTextObject(text="Cancel"), private_metadata=meta.model_dump_json(),
                blocks=blocks)


def read_note(state_values: Mapping[str, Mapping[str, Any]]) -> str:
    """The note typed in :func:`not_an_anomaly_modal`, stripped; ``""`` when left empty."""
    block = state_values.get(NOTE_BLOCK_ID) or {}
    element: Mapping[str, Any] = block.get(NOTE_BLOCK_ID) or next(iter(block.values()), {})
    return str(element.get("value") or "").strip()
