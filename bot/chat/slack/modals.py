"""Modals: one per playbook step, the "expected" reason, and the runbook; and reading them back.

A step modal has one input block per field, with ``block_id`` and ``action_id`` both the field
id, so ``view.state.values[field][field]`` holds each answer and an engine error keyed by field
id lands under the right input. A checklist with a ``reason_label`` gets a second block,
``<field>__reason``, for the one reason that covers the unticked items.

:func:`read_step_values` turns Slack's state values into exactly the raw values
:func:`bot.playbook.submit` reads (a string per user, select and text field; ``{"checked": [...],
"reason": ...}`` or a list per checklist), so validation lives in the engine, once.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from slack_sdk.models.blocks import (
    Block,
    CheckboxesElement,
    DatePickerElement,
    DividerBlock,
    HeaderBlock,
    InputBlock,
    InputInteractiveElement,
    PlainTextInputElement,
    PlainTextObject,
    StaticSelectElement,
    UserSelectElement,
)
from slack_sdk.models.blocks import Option as SlackOption
from slack_sdk.models.views import View

from bot.anomaly.desk import EXPECTED_MAX_CHARS, EXPECTED_MIN_CHARS
from bot.anomaly.plans import ExpectedPlan, ExpectedScope
from bot.anomaly.runbooks import Prefill
from bot.anomaly.views import RunbookView
from bot.chat.ids import CallbackId, StepMeta
from bot.chat.slack.blocks import (
    MAX_HEADER,
    MAX_VIEW_BLOCKS,
    clip,
    context,
    date_token,
    is_slack_id,
    mention,
    runbook_entry_text,
    safe,
    section,
)
from bot.chat.text import as_utc
from bot.playbook import (
    AnyField,
    ChecklistAnswer,
    ChecklistField,
    Playbook,
    PlaybookState,
    SelectAnswer,
    SelectField,
    Step,
    TextField,
    UserField,
)
from bot.playbook.schema import MAX_TEXT_LENGTH, DynamicOptions

__all__ = [
    "EXPECTED_BLOCK_ID",
    "EXPECTED_STEP_ID",
    "REASON_SUFFIX",
    "PLAN_BLOCK_IDS",
    "expected_modal",
    "read_expected_plan",
    "read_expected_reason",
    "read_step_values",
    "reason_block_id",
    "runbook_modal",
    "step_errors",
    "step_modal",
]

REASON_SUFFIX = "__reason"
EXPECTED_STEP_ID = "expected"
EXPECTED_BLOCK_ID = "reason"
# the plan that marking expected makes: block ids, and the PlanError.field each one answers
PLAN_BLOCK_IDS = {"scope": "plan_scope", "envelope": "plan_envelope", "until": "plan_until"}
MAX_VIEW_TITLE = 24
MAX_LABEL = 2000
MAX_ERROR = 2000

StateValues = Mapping[str, Mapping[str, Any]]


def reason_block_id(field_id: str) -> str:
    """The block (and action) id of a checklist's reason box."""
    return field_id + REASON_SUFFIX


# -- playbook steps ----------------------------------------------------------------------------


def step_modal(
    playbook: Playbook,
    step: Step,
    meta: StepMeta,
    *,
    state: PlaybookState | None = None,
    dynamic_options: DynamicOptions | None = None,
    position: tuple[int, int],
    defaults: Mapping[str, object] | None = None,
    prefill: Prefill | None = None,
) -> View:
    """The modal for one step, pre-filled with the step's last answers.

    ``position`` is (k, n), 1-based; the last step's button says "Finish". ``defaults`` maps a
    field id to a value used when the step has no answer yet (e.g. the owner from the tags for
    a user field; ignored there unless it is a Slack user id). ``prefill`` (an earlier
    incident's answers, used only while the step has none) fills the inputs and says where
    they come from. Pass the same ``dynamic_options`` to :func:`bot.playbook.submit` as here.
    """
    index, total = position
    previous: dict[str, object] = dict(defaults or {})
    record = state.steps.get(step.id) if state is not None else None
    if record is not None:
        previous.update({k: v for k, v in record.values.items() if v is not None})
    elif prefill is not None:
        previous.update(prefill.values)
    blocks: list[Block] = [context(f"Step {index} of {total} · {safe(playbook.title, MAX_HEADER)}")]
    if record is None and prefill is not None:
        blocks.append(context(f"📋 {safe(prefill.note)}"))
    if step.description:
        blocks.append(section(safe(step.description, 3000)))
    blocked = [playbook.step(r).title for r in step.requires
               if state is not None and r not in state.steps]
    if blocked:
        titles = ", ".join(f"“{safe(t)}”" for t in blocked)
        blocks.append(context(f"⚠️ Finish {titles} first: this step can be saved only after that."))
    for field in step.fields:
        blocks += _field_blocks(field, previous.get(field.id), dynamic_options)
    return View(
        type="modal", callback_id=CallbackId.PLAYBOOK_STEP.value,
        title=PlainTextObject(text=clip(step.title, MAX_VIEW_TITLE)),
        submit=PlainTextObject(text="Finish" if index >= total else "Save"),
        close=PlainTextObject(text="Cancel"),
        private_metadata=meta.model_dump_json(), blocks=blocks,
    )


def _field_blocks(field: AnyField, previous: object,
                  dynamic: DynamicOptions | None) -> list[Block]:
    if isinstance(field, ChecklistField):
        return _checklist_blocks(field, previous)
    element: InputInteractiveElement
    if isinstance(field, UserField):
        element = UserSelectElement(
            action_id=field.id, placeholder=field.placeholder or "Choose a person",
            initial_user=previous if isinstance(previous, str) and is_slack_id(previous) else None,
        )
    elif isinstance(field, SelectField):
        element = _select(field, previous, dynamic)
    else:
        element = _text_input(field, previous)
    return [_input(field.id, field.label, element, hint=field.hint,
                   optional=not field.is_required)]


def _input(block_id: str, label: str, element: InputInteractiveElement, *, hint: str | None,
           optional: bool) -> InputBlock:
    return InputBlock(
        block_id=block_id, label=PlainTextObject(text=clip(label, MAX_LABEL)), element=element,
        hint=PlainTextObject(text=clip(hint, MAX_LABEL)) if hint else None, optional=optional,
    )


def _select(field: SelectField, previous: object,
            dynamic: DynamicOptions | None) -> StaticSelectElement:
    offered = field.offered(dynamic)
    if not offered:
        raise ValueError(
            f"select {field.id!r} has nothing to offer: pass dynamic_options["
            f"{field.options_from!r}] or give it fallback_options in the playbook"
        )
    options = [SlackOption(text=PlainTextObject(text=o.label), value=o.value) for o in offered]
    chosen = previous.value if isinstance(previous, SelectAnswer) else previous
    initial = next((o for o in options if o.value == chosen), None)
    return StaticSelectElement(action_id=field.id, placeholder=field.placeholder or "Choose one",
                               options=options, initial_option=initial)


def _text_input(field: TextField, previous: object) -> PlainTextInputElement:
    return PlainTextInputElement(
        action_id=field.id, multiline=field.multiline, max_length=field.max_length,
        placeholder=field.placeholder or None,
        initial_value=clip(previous, field.max_length) if isinstance(previous, str) else None,
    )


def _checklist_blocks(field: ChecklistField, previous: object) -> list[Block]:
    """The checkboxes and, with a ``reason_label``, the reason box under them.

    With a reason the checkboxes are optional in Slack: nothing ticked plus a reason is a valid
    answer, and the engine (not Slack) decides.
    """
    options = [SlackOption(text=PlainTextObject(text=i.label), value=i.value)
               for i in field.items]
    if isinstance(previous, ChecklistAnswer):
        checked, reason = previous.checked, previous.reason
    else:
        checked = list(previous) if isinstance(previous, list | tuple) else []
        reason = None
    initial = [o for o in options if o.value in checked] or None
    boxes = CheckboxesElement(action_id=field.id, options=options, initial_options=initial)
    optional = not field.is_required or field.reason_label is not None
    blocks: list[Block] = [_input(field.id, field.label, boxes, hint=field.hint,
                                  optional=optional)]
    if field.reason_label:
        box = PlainTextInputElement(
            action_id=reason_block_id(field.id), multiline=True, max_length=MAX_TEXT_LENGTH,
            initial_value=clip(reason, MAX_TEXT_LENGTH) if reason else None,
        )
        hint = (f"Only needed when items are left unticked: at least "
                f"{field.reason_min_length} characters.")
        blocks.append(_input(reason_block_id(field.id), field.reason_label, box, hint=hint,
                             optional=True))
    return blocks


def _element(values: StateValues, block_id: str) -> Mapping[str, Any]:
    block = values.get(block_id) or {}
    return block.get(block_id) or next(iter(block.values()), {})


def read_step_values(step: Step, state_values: StateValues) -> dict[str, object]:
    """Slack's ``view.state.values`` as the raw values :func:`bot.playbook.submit` expects.

    Every field of the step is present; what was left empty is None (or ``[]`` for a
    checklist), and the engine says whether that is allowed.
    """
    values: dict[str, object] = {}
    for field in step.fields:
        element = _element(state_values, field.id)
        if isinstance(field, UserField):
            values[field.id] = element.get("selected_user")
        elif isinstance(field, SelectField):
            values[field.id] = (element.get("selected_option") or {}).get("value")
        elif isinstance(field, TextField):
            values[field.id] = element.get("value")
        else:
            values[field.id] = _read_checklist(field, element, state_values)
    return values


def _read_checklist(field: ChecklistField, element: Mapping[str, Any],
                    state_values: StateValues) -> object:
    checked = [str(o.get("value")) for o in element.get("selected_options") or []]
    if not field.reason_label:
        return checked
    reason = _element(state_values, reason_block_id(field.id)).get("value")
    return {"checked": checked, "reason": reason}


def step_errors(step: Step, errors: Mapping[str, str]) -> dict[str, str]:
    """The engine's ``StepError.errors`` keyed by block id, for ``response_action: errors``.

    A checklist's complaint about its reason goes under the reason box; a key that is no field
    of the step goes under the first field, so no message is lost.
    """
    shown: dict[str, str] = {}
    for field_id, message in errors.items():
        block = _error_block(step, field_id, message)
        text = f"{shown[block]} {message}" if block in shown else message
        shown[block] = clip(text, MAX_ERROR)
    return shown


def _error_block(step: Step, field_id: str, message: str) -> str:
    field = next((f for f in step.fields if f.id == field_id), step.fields[0])
    if isinstance(field, ChecklistField) and field.reason_label:
        about_reason = field.reason_label in message or "reason" in message.lower()
        if about_reason:
            return reason_block_id(field.id)
    return field.id


# -- expected ------------------------------------------------------------------------------------


def expected_modal(anomaly_id: int, channel: str, message_ts: str | None,
                   plan: ExpectedPlan | None = None) -> View:
    """Asks why the spend is expected; the reason closes the alert and is shown on it. With
    ``plan`` (the defaults offered), it also asks what the plan covers, its envelope and its
    end: the same spend then stays quiet within that envelope until then."""
    meta = StepMeta(anomaly_id=anomaly_id, step_id=EXPECTED_STEP_ID, channel=channel,
                    message_ts=message_ts)
    reason = PlainTextInputElement(
        action_id=EXPECTED_BLOCK_ID, multiline=True, min_length=EXPECTED_MIN_CHARS,
        max_length=EXPECTED_MAX_CHARS,
        placeholder="e.g. load test until Friday 18:00, approved by the data platform lead",
    )
    blocks: list[Block] = [
        section("The alert closes and shows your reason, so the next person knows why this "
                "spend is fine. If it goes on longer than planned, a new alert opens."),
        _input(EXPECTED_BLOCK_ID, "Why is this spend expected?", reason,
               hint="Say what it is and until when.", optional=False),
        *(_plan_inputs(plan) if plan is not None else []),
    ]
    return View(
        type="modal", callback_id=CallbackId.EXPECTED_REASON.value,
        title=PlainTextObject(text="Mark as expected"), submit=PlainTextObject(text="Save"),
        close=PlainTextObject(text="Cancel"), private_metadata=meta.model_dump_json(),
        blocks=blocks,
    )


def _plan_inputs(plan: ExpectedPlan) -> list[Block]:
    workload = SlackOption(text=PlainTextObject(text="This workload (every service)"),
                           value=ExpectedScope.WORKLOAD.value)
    options = [workload]
    if plan.service:
        options.append(SlackOption(text=PlainTextObject(text=clip(f"Only {plan.service}", 75)),
                                   value=ExpectedScope.SERVICE.value))
    scope = StaticSelectElement(action_id=PLAN_BLOCK_IDS["scope"], options=options,
                                initial_option=next((o for o in options
                                                     if o.value == plan.scope.value), workload))
    envelope = PlainTextInputElement(action_id=PLAN_BLOCK_IDS["envelope"], max_length=20,
                                     initial_value=f"{plan.envelope_usd:.0f}")
    until = DatePickerElement(action_id=PLAN_BLOCK_IDS["until"],
                              initial_date=f"{as_utc(plan.ends_at):%Y-%m-%d}")
    return [
        _input(PLAN_BLOCK_IDS["scope"], "Keep quiet about", scope, hint=None, optional=False),
        _input(PLAN_BLOCK_IDS["envelope"], "Envelope (spend above normal, in all)", envelope,
               hint="No alert while it stays within this, e.g. 500 or 2k; past it the alert "
                    "says by how much.", optional=False),
        _input(PLAN_BLOCK_IDS["until"], "Until (UTC, that day included)", until, hint=None,
               optional=False),
    ]


def read_expected_plan(state_values: StateValues) -> tuple[str, str, str] | None:
    """Scope, envelope and until date as typed in :func:`expected_modal`; None when the form
    asked for no plan."""
    if PLAN_BLOCK_IDS["envelope"] not in state_values:
        return None
    scope = _element(state_values, PLAN_BLOCK_IDS["scope"]).get("selected_option") or {}
    return (str(scope.get("value") or ""),
            str(_element(state_values, PLAN_BLOCK_IDS["envelope"]).get("value") or ""),
            str(_element(state_values, PLAN_BLOCK_IDS["until"]).get("selected_date") or ""))


def read_expected_reason(state_values: StateValues) -> str:
    """The reason typed in :func:`expected_modal`, stripped; ``""`` when it is missing."""
    return str(_element(state_values, EXPECTED_BLOCK_ID).get("value") or "").strip()


# -- runbook -------------------------------------------------------------------------------------


def runbook_modal(title: str, entries: Sequence[RunbookView]) -> View:
    """A workload's runbook, newest entry first; ``title`` names the workload.

    Read-only (no submit). At most 49 entries fit Slack's 100 blocks; older ones are counted.
    """
    newest = sorted(entries, key=lambda e: as_utc(e.created_at), reverse=True)
    blocks: list[Block] = [
        HeaderBlock(text=PlainTextObject(text=clip(f"📖 Runbook: {title}", MAX_HEADER),
                                         emoji=True)),
    ]
    if not newest:
        blocks.append(section(
            "No runbook entries yet. When someone finishes the playbook on an alert for this "
            "workload, the root cause, the fix and the prevention are saved here."
        ))
    room = (MAX_VIEW_BLOCKS - 2) // 2  # header, then divider + section per entry, then a note
    for entry in newest[:room]:
        heading = f"*{date_token(entry.created_at)}* · {mention(entry.author) or 'someone'}"
        blocks += [DividerBlock(), section(f"{heading}\n{runbook_entry_text(entry)}")]
    if len(newest) > room:
        blocks.append(context(f"{len(newest) - room} older entries are not shown."))
    return View(type="modal", callback_id=CallbackId.RUNBOOK_VIEW.value,
                title=PlainTextObject(text="Runbook"), close=PlainTextObject(text="Close"),
                blocks=blocks)
