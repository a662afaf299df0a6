"""Every id that travels between the bot and a chat platform, and what rides along with it.

Action and callback ids are enum members, never loose strings, so a renamed button cannot
silently stop working; a test checks the ones the manifest must declare. What travels in a
button ``value`` or a modal's ``private_metadata`` is a small versioned pydantic model, parsed
back in one place (:func:`parse_ref`, :func:`parse_step_meta`): a click on a message posted by
an older version still parses, and a tampered value is refused with a clear error.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError

__all__ = [
    "ActionId",
    "AlertRef",
    "BadPayload",
    "CallbackId",
    "CommandName",
    "EventName",
    "SNOOZE_HOURS",
    "StepMeta",
    "parse_ref",
    "parse_step_meta",
]


class ActionId(StrEnum):
    ACKNOWLEDGE = "alert.acknowledge"
    START_PLAYBOOK = "alert.start_playbook"
    SNOOZE = "alert.snooze"
    EXPECTED = "alert.expected"
    ESCALATE = "alert.escalate"
    VIEW_RUNBOOK = "alert.view_runbook"
    NOT_AN_ANOMALY = "alert.not_an_anomaly"


class CallbackId(StrEnum):
    PLAYBOOK_STEP = "playbook.step"
    EXPECTED_REASON = "alert.expected_reason"
    RUNBOOK_VIEW = "alert.runbook_view"
    NOT_AN_ANOMALY_NOTE = "alert.not_an_anomaly_note"


class CommandName(StrEnum):
    COST = "/cost"


class EventName(StrEnum):
    APP_HOME_OPENED = "app_home_opened"


SNOOZE_HOURS = (1, 4, 24)


class BadPayload(ValueError):
    """A button value or modal metadata that this version cannot read."""


class _Payload(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class AlertRef(_Payload):
    """Button value: which anomaly (and, for snooze, for how long)."""

    v: Literal[1] = 1
    anomaly_id: int = Field(ge=1)
    hours: int | None = None


class StepMeta(_Payload):
    """Modal private_metadata: which anomaly and step, and the message to update."""

    v: Literal[1] = 1
    anomaly_id: int = Field(ge=1)
    step_id: str = Field(max_length=64)
    channel: str = Field(max_length=100)
    message_ts: str | None = Field(default=None, max_length=40)


_P = TypeVar("_P", bound=_Payload)


def parse_ref(raw: str | None) -> AlertRef:
    return _parse(AlertRef, raw)


def parse_step_meta(raw: str | None) -> StepMeta:
    return _parse(StepMeta, raw)


def _parse(model: type[_P], raw: str | None) -> _P:
    try:
        return model.model_validate_json(raw or "")
    except ValidationError as exc:
        raise BadPayload(
            f"this button or form comes from a message this version cannot read "
            f"({exc.error_count()} problem(s) in {model.__name__}); use /cost anomalies "
            f"to find the current alert"
        ) from None
