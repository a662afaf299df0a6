"""What opens on the alert card: the playbook step being walked, or one panel.

A step's form has one input per field, with ids from :mod:`bot.chat.teams.verbs` so that
:func:`~bot.chat.teams.verbs.step_values` reads them back: a select is a compact
``Input.ChoiceSet``, a checklist one ``Input.Toggle`` per item (and the reason box when the
playbook has a ``reason_label``), a text an ``Input.Text``, a person an ``Input.Text`` for a
name or an email (Teams has no people picker in plain Adaptive Cards 1.5). Inputs are filled
from what was typed (a refused form), else from the saved answers, else from an earlier
incident's answers (``StepStarted.prefill``, with a line saying which incident); each error
sits under the input it concerns, in attention colour. Client-side checks (``isRequired``,
``maxLength``, ``regex``) mirror the engine's and the domain's limits; the engine still decides.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from bot.anomaly.desk import EXPECTED_MAX_CHARS, EXPECTED_MIN_CHARS, StepStarted
from bot.anomaly.plans import ExpectedPlan, ExpectedScope
from bot.anomaly.runbooks import earlier_text, version_text
from bot.anomaly.views import AlertView, RunbookView
from bot.chat.ids import SNOOZE_HOURS
from bot.chat.teams.elements import (
    LABEL_CHARS,
    TITLE_CHARS,
    Json,
    action_set,
    attention,
    clip,
    entry_parts,
    execute,
    form,
    heading,
    one_line,
    plain,
    text_block,
    who,
)
from bot.chat.teams.feedback_panel import not_an_anomaly_panel
from bot.chat.teams.verbs import (
    EXPECTED_INPUT,
    SNOOZE_INPUT,
    Verb,
    field_input_id,
    reason_input_id,
    toggle_input_id,
)
from bot.chat.text import as_utc, when
from bot.playbook import (
    AnyField,
    ChecklistAnswer,
    ChecklistField,
    SelectAnswer,
    SelectField,
    TextField,
    UserField,
)
from bot.playbook.schema import MAX_TEXT_LENGTH

__all__ = ["MAX_RUNBOOK_ENTRIES", "PLAN_INPUTS", "Panel", "PanelKind", "expected_plan_inputs",
           "panel_form", "step_form"]

MAX_RUNBOOK_ENTRIES = 5
# the expected panel's plan inputs, by the PlanError.field each one answers
PLAN_INPUTS = {"scope": "plan_scope", "envelope": "plan_envelope", "until": "plan_until"}


class PanelKind(StrEnum):
    SNOOZE = "snooze"
    EXPECTED = "expected"
    RUNBOOK = "runbook"
    NOT_AN_ANOMALY = "not-an-anomaly"


@dataclass(frozen=True)
class Panel:
    """What opens under the alert: the snooze choice, the expected reason, or the workload's
    runbook (``title`` names the workload, ``entries`` newest first)."""

    kind: PanelKind
    title: str = ""
    entries: tuple[RunbookView, ...] = ()
    plan: ExpectedPlan | None = None  # the expected panel's plan, as offered


# -- panels -------------------------------------------------------------------------------------


def panel_form(view: AlertView, panel: Panel, errors: Mapping[str, str],
               typed: Mapping[str, Any]) -> Json:
    """The open panel, with its own buttons (confirm, and Back to close it)."""
    if panel.kind is PanelKind.SNOOZE:
        return _snooze_panel(view, errors, typed)
    if panel.kind is PanelKind.EXPECTED:
        return _expected_panel(view, errors, typed, panel.plan)
    if panel.kind is PanelKind.NOT_AN_ANOMALY:
        return not_an_anomaly_panel(view, errors, typed, back=_back(view))
    return _runbook_panel(view, panel)


def _back(view: AlertView, title: str = "Back") -> Json:
    return execute(title, Verb.BACK, view.anomaly_id, with_inputs=False)


def _snooze_panel(view: AlertView, errors: Mapping[str, str], typed: Mapping[str, Any]) -> Json:
    chosen = str(typed.get(SNOOZE_INPUT) or SNOOZE_HOURS[0])
    choices = [{"title": f"{h} hour{'s' if h != 1 else ''}", "value": str(h)}
               for h in SNOOZE_HOURS]
    items: list[Json] = [
        heading("💤 Snooze reminders"),
        text_block("Reminders and escalation pause for this long; the alert stays open and still "
                   "updates if spend grows.", isSubtle=True, spacing="None"),
        {"type": "Input.ChoiceSet", "id": SNOOZE_INPUT, "label": "For how long?",
         "style": "compact", "isRequired": True, "errorMessage": "Pick how long to snooze.",
         "choices": choices, "value": chosen if chosen in {c["value"] for c in choices}
         else choices[0]["value"]},
    ]
    if "hours" in errors:
        items.append(attention(errors["hours"]))
    items.append(action_set([
        execute("Snooze", Verb.SNOOZE_SAVE, view.anomaly_id, style="positive"),
        _back(view),
    ]))
    return form(items)


def _expected_panel(view: AlertView, errors: Mapping[str, str],
                    typed: Mapping[str, Any], plan: ExpectedPlan | None = None) -> Json:
    reason = typed.get(EXPECTED_INPUT)
    field: Json = {
        "type": "Input.Text", "id": EXPECTED_INPUT, "label": "Why is this spend expected?",
        "isMultiline": True, "isRequired": True, "maxLength": EXPECTED_MAX_CHARS,
        "regex": f"^[\\s\\S]{{{EXPECTED_MIN_CHARS},{EXPECTED_MAX_CHARS}}}$",
        "errorMessage": f"Say in {EXPECTED_MIN_CHARS} to {EXPECTED_MAX_CHARS} characters why "
                        "this spend is expected.",
        "placeholder": "e.g. load test until Friday 18:00, approved by the data platform lead",
    }
    if isinstance(reason, str) and reason:
        field["value"] = clip(reason, EXPECTED_MAX_CHARS)
    items: list[Json] = [
        heading("🗓️ Mark as expected"),
        text_block("The alert closes and shows your reason, so the next person knows why this "
                   "spend is fine. If it goes on longer than planned, a new alert opens.",
                   isSubtle=True, spacing="None"),
        field,
    ]
    if "reason" in errors:
        items.append(attention(errors["reason"]))
    items.append(text_block("Say what it is and until when.", isSubtle=True, size="Small",
                            spacing="None"))
    if plan is not None:
        items += _plan_inputs(plan, errors, typed)
    items.append(action_set([
        execute("Mark as expected", Verb.EXPECTED_SAVE, view.anomaly_id, style="positive"),
        _back(view),
    ]))
    return form(items)


def _plan_inputs(plan: ExpectedPlan, errors: Mapping[str, str],
                 typed: Mapping[str, Any]) -> list[Json]:
    """Scope, envelope and end of the plan that marking expected makes, typed values kept."""
    choices = [{"title": "This workload (every service)", "value": ExpectedScope.WORKLOAD.value}]
    if plan.service:
        choices.append({"title": one_line(f"Only {plan.service}", TITLE_CHARS),
                        "value": ExpectedScope.SERVICE.value})
    scope = str(typed.get(PLAN_INPUTS["scope"]) or plan.scope.value)
    items: list[Json] = [
        {"type": "Input.ChoiceSet", "id": PLAN_INPUTS["scope"], "label": "Keep quiet about",
         "style": "compact", "isRequired": True, "choices": choices,
         "errorMessage": "Choose what the plan covers.",
         "value": scope if scope in {c["value"] for c in choices} else choices[0]["value"]},
        {"type": "Input.Text", "id": PLAN_INPUTS["envelope"],
         "label": "Envelope (spend above normal, in all)", "isRequired": True, "maxLength": 20,
         "errorMessage": "Give the envelope, e.g. 500 or 2k.",
         "value": clip(str(typed.get(PLAN_INPUTS["envelope"]) or f"{plan.envelope_usd:.0f}"),
                       20)},
        {"type": "Input.Date", "id": PLAN_INPUTS["until"],
         "label": "Until (UTC, that day included)", "isRequired": True,
         "errorMessage": "Pick the last day of the plan.",
         "value": clip(str(typed.get(PLAN_INPUTS["until"])
                           or f"{as_utc(plan.ends_at):%Y-%m-%d}"), 10)},
    ]
    for field in ("scope", "envelope", "until"):
        if field in errors:
            items.append(attention(errors[field]))
    items.append(text_block("No alert while the workload stays within the envelope until then; "
                            "past it the alert says by how much.", isSubtle=True, size="Small",
                            spacing="None"))
    return items


def expected_plan_inputs(inputs: Mapping[str, Any]) -> tuple[str, str, str] | None:
    """Scope, envelope and until date from the expected panel; None when it asked for none."""
    if PLAN_INPUTS["envelope"] not in inputs:
        return None
    scope, envelope, until = (str(inputs.get(PLAN_INPUTS[k]) or "").strip()
                              for k in ("scope", "envelope", "until"))
    return scope, envelope, until


def _runbook_panel(view: AlertView, panel: Panel) -> Json:
    title = one_line(panel.title or view.title, TITLE_CHARS)
    items: list[Json] = [heading(f"📖 Runbook: {title}")]
    newest = sorted(panel.entries, key=lambda e: as_utc(e.created_at), reverse=True)
    if not newest:
        items.append(text_block(
            "No runbook entries yet. When someone finishes the playbook on an alert for this "
            "workload, the root cause, the fix and the prevention are saved here.",
            isSubtle=True))
    for entry in newest[:MAX_RUNBOOK_ENTRIES]:
        items.append(text_block(f"**{when(entry.created_at)}** · {who(entry.author)}",
                                separator=True))
        items += entry_parts(entry)
        version = version_text(entry)
        if version:
            items.append(text_block(plain(version, 200), isSubtle=True, spacing="None"))
        items += [text_block(f"• earlier {plain(earlier_text(old), 300)}", isSubtle=True,
                             size="Small", spacing="None") for old in entry.earlier[:3]]
    hidden = len(newest) - MAX_RUNBOOK_ENTRIES
    if hidden > 0:
        items.append(text_block(f"{hidden} older {'entry is' if hidden == 1 else 'entries are'} "
                                "not shown.", isSubtle=True))
    items.append(action_set([_back(view, "Close runbook")]))
    return form(items)


# -- the playbook step --------------------------------------------------------------------------


def step_form(view: AlertView, started: StepStarted, errors: Mapping[str, str],
              typed: Mapping[str, Any]) -> Json:
    """The step's heading (Step k of n), its help, one input per field, and Save (Finish on
    the last step)."""
    step = started.step
    index, total = started.position
    items: list[Json] = [heading(f"Step {index} of {total}: {one_line(step.title, 50)}")]
    if step.description:
        items.append(text_block(plain(step.description, 3000), isSubtle=True, spacing="None"))
    titles = {p.step_id: p.title for p in view.playbook}
    blocked = [titles.get(r, r) for r in step.requires if r not in started.state.steps]
    if blocked:
        names = ", ".join(f"“{one_line(title, 50)}”" for title in blocked)
        items.append(text_block(f"⚠️ Finish {names} first: this step can be saved only after that.",
                                color="Warning"))
    record = started.state.steps.get(step.id)
    saved: Mapping[str, object] = record.values if record is not None else {}
    if record is None and started.prefill is not None:
        saved = started.prefill.values
        items.append(text_block(f"📋 {plain(started.prefill.note, 300)}", isSubtle=True,
                                spacing="Small"))
    slots = _error_slots(step.fields, errors)
    for field in step.fields:
        items += _field_items(field, saved.get(field.id), typed, slots, started)
    last = index >= total
    items.append(action_set([
        execute("Finish" if last else "Save", Verb.STEP_SAVE, view.anomaly_id,
                step_id=step.id, style="positive"),
        _back(view, "Close"),
    ]))
    return form(items)


def _error_slots(fields: Sequence[AnyField], errors: Mapping[str, str]) -> dict[str, str]:
    """Each error under the input it concerns: a checklist's complaint about its reason under
    the reason box, a key that is no field of the step under the first field."""
    slots: dict[str, str] = {}
    for field_id, message in errors.items():
        field = next((f for f in fields if f.id == field_id), fields[0])
        slot = field_input_id(field.id)
        if isinstance(field, ChecklistField) and field.reason_label and (
                field.reason_label in message or "reason" in message.lower()):
            slot = reason_input_id(field.id)
        slots[slot] = f"{slots[slot]} {message}" if slot in slots else message
    return slots


def _field_items(field: AnyField, saved: object, typed: Mapping[str, Any],
                 slots: Mapping[str, str], started: StepStarted) -> list[Json]:
    if isinstance(field, ChecklistField):
        return _checklist_items(field, saved, typed, slots)
    key = field_input_id(field.id)
    previous = typed[key] if key in typed else _saved_text(saved)
    element: Json
    if isinstance(field, SelectField):
        offered = field.offered(started.options)
        element = {"type": "Input.ChoiceSet", "style": "compact",
                   "choices": [{"title": clip(o.label, 75), "value": o.value} for o in offered]}
        if field.placeholder:
            element["placeholder"] = clip(field.placeholder, 150)
        if isinstance(previous, str) and previous in {o.value for o in offered}:
            element["value"] = previous
    else:
        element = _text_input(field, previous)
    element.update(id=key, label=clip(field.label, LABEL_CHARS))
    if field.is_required:
        element.update(isRequired=True, errorMessage=clip(f"Required: {field.label}", 150))
    items = [element]
    if key in slots:
        items.append(attention(slots[key]))
    if field.hint:
        items.append(text_block(plain(field.hint, LABEL_CHARS), isSubtle=True, size="Small",
                                spacing="None"))
    return items


def _saved_text(saved: object) -> object:
    return saved.value if isinstance(saved, SelectAnswer) else saved


def _text_input(field: UserField | TextField, previous: object) -> Json:
    element: Json = {"type": "Input.Text"}
    if isinstance(field, TextField):
        element.update(isMultiline=field.multiline, maxLength=field.max_length)
        limit = field.max_length
    else:
        element["maxLength"] = limit = 200
    placeholder = field.placeholder or ("A name or an email address"
                                        if isinstance(field, UserField) else None)
    if placeholder:
        element["placeholder"] = clip(placeholder, 150)
    if isinstance(previous, str) and previous:
        element["value"] = clip(previous, limit)
    return element


def _checklist_items(field: ChecklistField, saved: object, typed: Mapping[str, Any],
                     slots: Mapping[str, str]) -> list[Json]:
    """A label, one toggle per item and, with a ``reason_label``, the reason box under them.

    Toggles are never required on the card: unticked items plus a reason can be a valid
    answer, and the engine (not the client) decides.
    """
    ticked = set(saved.checked) if isinstance(saved, ChecklistAnswer) else (
        set(saved) if isinstance(saved, list | tuple) else set())
    items: list[Json] = [text_block(plain(field.label, LABEL_CHARS), weight="Bolder")]
    for item in field.items:
        key = toggle_input_id(field.id, item.value)
        on = str(typed[key]).lower() == "true" if key in typed else item.value in ticked
        items.append({"type": "Input.Toggle", "id": key, "title": clip(item.label, 75),
                      "value": "true" if on else "false", "valueOn": "true",
                      "valueOff": "false", "wrap": True, "spacing": "None"})
    box = field_input_id(field.id)
    if box in slots:
        items.append(attention(slots[box]))
    if field.reason_label:
        key = reason_input_id(field.id)
        reason = typed.get(key) if key in typed else (
            saved.reason if isinstance(saved, ChecklistAnswer) else None)
        element: Json = {"type": "Input.Text", "id": key, "isMultiline": True,
                         "maxLength": MAX_TEXT_LENGTH,
                         "label": clip(field.reason_label, LABEL_CHARS)}
        if isinstance(reason, str) and reason:
            element["value"] = clip(reason, MAX_TEXT_LENGTH)
        items.append(element)
        if key in slots:
            items.append(attention(slots[key]))
        items.append(text_block(f"Only needed when items are left unticked: at least "
                                f"{field.reason_min_length} characters.", isSubtle=True,
                                size="Small", spacing="None"))
    if field.hint:
        items.append(text_block(plain(field.hint, LABEL_CHARS), isSubtle=True, size="Small",
                                spacing="None"))
    return items
