"""What a click on a Teams alert card sends back, read in one place.

Every button on the card is an ``Action.Execute`` whose ``verb`` is a :class:`Verb` and whose
``data`` is :func:`action_data`: a version, the verb again and the anomaly (and step). Teams
merges the card's inputs into that data and sends it as an ``adaptiveCard/action`` invoke whose
``value`` is ``{"action": {"type": "Action.Execute", "verb": ..., "data": {...}}, "trigger":
...}``. A client that only knows ``Action.Submit`` runs the fallback instead, which carries the
same data and arrives as a message whose ``value`` is the data merged with the inputs, with no
``action`` wrapper: that is why the verb travels in the data too. :func:`parse_action` reads
both into one :class:`CardAction`; anything else is a :class:`CardActionError` saying what was
wrong, never a crash.

Input ids carry a prefix per kind (``f.`` a field, ``t.`` a checklist item's toggle, ``r.`` a
checklist's reason) so they cannot collide with the data keys or with each other.
:func:`step_values` turns them into exactly the raw values :func:`bot.playbook.submit` reads,
as ``read_step_values`` does for Slack's modals, so validation stays in the engine.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from bot.chat.ids import SNOOZE_HOURS
from bot.playbook import ChecklistField, SelectField, Step, TextField, UserField

__all__ = [
    "DATA_VERSION",
    "EXPECTED_INPUT",
    "SNOOZE_INPUT",
    "CardAction",
    "CardActionError",
    "Verb",
    "action_data",
    "expected_reason",
    "field_input_id",
    "parse_action",
    "reason_input_id",
    "snooze_hours",
    "step_values",
    "toggle_input_id",
]

DATA_VERSION = 1
SNOOZE_INPUT = "snooze_hours"
EXPECTED_INPUT = "expected_reason"
# what the card itself puts in an action's data; every other key is an input
_DATA_KEYS = frozenset({"v", "verb", "anomaly_id", "step_id"})
_TOGGLE_VALUES = {"true": True, "false": False}


class Verb(StrEnum):
    ACK = "ack"
    SNOOZE = "snooze"  # open the snooze panel
    SNOOZE_SAVE = "snooze_save"
    EXPECTED = "expected"  # open the "why is this expected?" panel
    EXPECTED_SAVE = "expected_save"
    NOT_AN_ANOMALY = "not_an_anomaly"  # open the "why is this normal?" panel (a note, optional)
    NOT_AN_ANOMALY_SAVE = "not_an_anomaly_save"
    ESCALATE = "escalate"
    RUNBOOK = "runbook"  # open the workload's runbook panel
    BACK = "back"  # close a panel or the step form
    STEP_OPEN = "step_open"  # start or continue the playbook
    STEP_SAVE = "step_save"


class CardActionError(ValueError):
    """A card action this version cannot read; the message says what was wrong."""


class CardAction(BaseModel):
    """One click: which verb, on which anomaly (and step), with the card's inputs."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    verb: Verb
    anomaly_id: int = Field(ge=1)
    step_id: str | None = Field(default=None, max_length=64)
    inputs: dict[str, Any] = Field(default_factory=dict)


class _Data(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)

    v: Literal[1] = 1
    anomaly_id: int = Field(ge=1)
    step_id: str | None = Field(default=None, max_length=64)


def field_input_id(field_id: str) -> str:
    return f"f.{field_id}"


def toggle_input_id(field_id: str, item_value: str) -> str:
    return f"t.{field_id}.{item_value}"


def reason_input_id(field_id: str) -> str:
    return f"r.{field_id}"


def action_data(verb: Verb, anomaly_id: int, *, step_id: str | None = None) -> dict[str, Any]:
    """The ``data`` of a card action (and of its ``Action.Submit`` fallback)."""
    data: dict[str, Any] = {"v": DATA_VERSION, "verb": verb.value, "anomaly_id": anomaly_id}
    if step_id is not None:
        data["step_id"] = step_id
    return data


def parse_action(value: Mapping[str, Any]) -> CardAction:
    """An ``adaptiveCard/action`` invoke's ``value``, or an ``Action.Submit`` message's."""
    if not isinstance(value, Mapping):
        raise CardActionError(
            f"a card action's value must be a JSON object, not {type(value).__name__}")
    if "action" in value:
        data, verb = _from_invoke(value["action"])
    else:
        data, verb = value, value.get("verb")
        if verb is None:
            raise CardActionError(
                "this submission names no verb: it did not come from a spendwatch card "
                "button; use the buttons on the alert card")
    return _action(verb, data)


def _from_invoke(action: object) -> tuple[Mapping[str, Any], object]:
    if not isinstance(action, Mapping):
        raise CardActionError("the invoke's value.action must be a JSON object")
    kind = action.get("type")
    if kind != "Action.Execute":
        raise CardActionError(f"expected an Action.Execute in value.action.type, got {kind!r}")
    data = action.get("data")
    if data is None:
        data = {}
    if not isinstance(data, Mapping):
        raise CardActionError("value.action.data must be a JSON object; this card is not ours")
    return data, action.get("verb")


def _action(verb: object, data: Mapping[str, Any]) -> CardAction:
    try:
        kind = Verb(verb) if isinstance(verb, str) else None
    except ValueError:
        kind = None
    if kind is None:
        known = ", ".join(v.value for v in Verb)
        raise CardActionError(f"unknown card verb {verb!r}; this version knows {known}. "
                              "An old card may need refreshing: open the alert again")
    try:
        parsed = _Data.model_validate(dict(data))
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc'])) or 'data'}: {e['msg']}"
                             for e in exc.errors())
        raise CardActionError(f"the card's data cannot be read ({problems}); "
                              "refresh the card and try again") from None
    if kind is Verb.STEP_SAVE and not parsed.step_id:
        raise CardActionError("saving a playbook step needs its step_id in the card's data")
    inputs = {key: val for key, val in data.items() if key not in _DATA_KEYS}
    return CardAction(verb=kind, anomaly_id=parsed.anomaly_id, step_id=parsed.step_id,
                      inputs=inputs)


# -- inputs as the domain reads them ----------------------------------------------------------


def step_values(step: Step, inputs: Mapping[str, Any]) -> dict[str, object]:
    """The card's inputs as the raw values :func:`bot.playbook.submit` expects.

    Every field of the step is present; what was left empty is None (a checklist: nothing
    ticked), and the engine says whether that is allowed.
    """
    values: dict[str, object] = {}
    for field in step.fields:
        if isinstance(field, UserField | SelectField | TextField):
            values[field.id] = _text(inputs, field_input_id(field.id))
        elif isinstance(field, ChecklistField):
            values[field.id] = _checklist(field, inputs)
    return values


def _text(inputs: Mapping[str, Any], key: str) -> object:
    raw = inputs.get(key)
    if raw is None or (isinstance(raw, str) and raw == ""):
        return None
    return raw  # not a string: the engine refuses it by name ("Expected text")


def _checklist(field: ChecklistField, inputs: Mapping[str, Any]) -> object:
    checked = [item.value for item in field.items
               if _toggled(inputs, toggle_input_id(field.id, item.value))]
    if not field.reason_label:
        return checked
    return {"checked": checked, "reason": _text(inputs, reason_input_id(field.id))}


def _toggled(inputs: Mapping[str, Any], key: str) -> bool:
    raw = inputs.get(key)
    if raw is None or isinstance(raw, bool):
        return bool(raw)
    if isinstance(raw, str) and raw.lower() in _TOGGLE_VALUES:
        return _TOGGLE_VALUES[raw.lower()]
    raise CardActionError(f"the toggle {key!r} sent {raw!r}; a toggle sends \"true\" or \"false\"")


def snooze_hours(inputs: Mapping[str, Any]) -> int:
    """The hours picked in the snooze panel: one of ``SNOOZE_HOURS``."""
    raw = inputs.get(SNOOZE_INPUT)
    allowed = ", ".join(map(str, SNOOZE_HOURS))
    if raw is None or raw == "":
        raise CardActionError(f"pick how long to snooze: {allowed} hours")
    try:
        hours = int(str(raw).strip())
    except ValueError:
        raise CardActionError(f"snooze for {allowed} hours, not {raw!r}") from None
    if hours not in SNOOZE_HOURS:
        raise CardActionError(f"snooze for {allowed} hours, not {hours}")
    return hours


def expected_reason(inputs: Mapping[str, Any]) -> str:
    """The reason typed in the expected panel, stripped; ``""`` when it is missing (the
    domain says how long it must be)."""
    raw = inputs.get(EXPECTED_INPUT)
    if raw is None:
        return ""
    if not isinstance(raw, str):
        raise CardActionError("the reason must be text")
    return raw.strip()
