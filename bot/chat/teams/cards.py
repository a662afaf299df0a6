"""The alert in Teams: one Adaptive Card 1.5, updated in place, drawn from the store each time.

:func:`alert_card` is a pure function of the :class:`~bot.anomaly.views.AlertView` and of what
is open on the card: the playbook step being walked (its form inline), or one panel (snooze,
"why is this expected?", the workload's runbook). Errors from the playbook engine (field id ->
message) or from the expected reason (``"reason"``) are shown under the input they concern,
and the inputs keep what was typed (``inputs``), so a refused form reads as Slack's does.

Escaping: a ``TextBlock`` (and a fact) renders a markdown subset, so text that came from tags,
YAML or people goes through :func:`plain`, which backslash-escapes every character markdown
reads and the list markers at a line's start: a note holding ``[click](https://evil)`` or a
project called ``**URGENT**`` prints as those characters. Teams turns ``<at>…</at>`` into a
mention only with a matching ``msteams.entities`` entry, which the bot never sends, and ``<``
is escaped anyway. Input labels, choice titles, toggle titles and button titles are plain text
in the schema and are only clipped.

Size: a Teams bot message must stay under Microsoft's limit ("The bot message size limit is
40 KB ... encoded as UTF-16", learn.microsoft.com/microsoftteams/platform/bots/how-to/
format-your-bot-messages; bots that sent larger cards report 413 ``MessageSizeTooBig``, and
older guidance and field reports put the card payload at 28 KB). Every text is clipped and the
chart is re-encoded by :func:`compact_chart_uri` to fit ``CHART_MAX_BYTES``, so the whole card
stays under ``CARD_BUDGET_BYTES`` (28 KB) whatever people typed.
"""

from __future__ import annotations

import base64
import io
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from bot.anomaly.desk import EXPECTED_MAX_CHARS, EXPECTED_MIN_CHARS, StepStarted
from bot.anomaly.enums import AnomalyResponse, AnomalyStatus
from bot.anomaly.views import AlertView, ContributorView, RunbookView
from bot.chat.ids import SNOOZE_HOURS
from bot.chat.teams.verbs import (
    EXPECTED_INPUT,
    SNOOZE_INPUT,
    Verb,
    action_data,
    field_input_id,
    reason_input_id,
    toggle_input_id,
)
from bot.chat.text import as_utc, money, signed, when
from bot.playbook import (
    AnyField,
    ChecklistAnswer,
    ChecklistField,
    SelectAnswer,
    SelectField,
    StepProgress,
    TextField,
    UserField,
)
from bot.playbook.schema import MAX_TEXT_LENGTH

__all__ = [
    "CARD_BUDGET_BYTES",
    "CARD_SCHEMA_URL",
    "CARD_VERSION",
    "CHART_MAX_BYTES",
    "Panel",
    "PanelKind",
    "alert_card",
    "compact_chart_uri",
    "plain",
    "text_card",
]

CARD_SCHEMA_URL = "http://adaptivecards.io/schemas/adaptive-card.json"
CARD_VERSION = "1.5"
CARD_BUDGET_BYTES = 28_000
CHART_MAX_BYTES = 16_000  # base64 makes it ~21 KB, leaving room for the rest of the card

# how much of each text a card shows
NAME_CHARS = 80
NOTE_CHARS = 500
LINE_CHARS = 300
RUNBOOK_PART_CHARS = 800
TITLE_CHARS = 150
LABEL_CHARS = 300
ERROR_CHARS = 500
MAX_CONTRIBUTORS = 5
MAX_LEVERS = 4
MAX_RUNBOOK_ENTRIES = 5
MAX_TEXT_LINES = 60
ELLIPSIS = "…"

# what markdown reads anywhere in a line, and what it reads at a line's start
_MARKDOWN = re.compile(r"([\\`*_\[\]()<>#~])")
_LINE_START = re.compile(r"^(\s*)([-+=]|(\d+)\.)", re.MULTILINE)

_RESPONSES: dict[str, str] = {
    AnomalyResponse.NONE: "Not acknowledged yet",
    AnomalyResponse.ACKNOWLEDGED: "👀 Acknowledged by {who}",
    AnomalyResponse.INVESTIGATING: "🔎 Investigating: {who}",
    AnomalyResponse.STABILISED: "🩹 Stabilised by {who}",
    AnomalyResponse.EXPECTED: "🗓️ Marked expected by {who}",
    AnomalyResponse.RESOLVED: "✅ Resolved by {who}",
}

Json = dict[str, Any]


class PanelKind(StrEnum):
    SNOOZE = "snooze"
    EXPECTED = "expected"
    RUNBOOK = "runbook"


@dataclass(frozen=True)
class Panel:
    """What opens under the alert: the snooze choice, the expected reason, or the workload's
    runbook (``title`` names the workload, ``entries`` newest first)."""

    kind: PanelKind
    title: str = ""
    entries: tuple[RunbookView, ...] = ()


# -- text ---------------------------------------------------------------------------------------


def clip(text: str, limit: int) -> str:
    """At most ``limit`` characters, ending in an ellipsis when cut."""
    return text if len(text) <= limit else text[: limit - 1] + ELLIPSIS


def plain(text: str | None, limit: int = NAME_CHARS) -> str:
    """``text`` as a TextBlock shows it literally: markdown neutralised, cut to ``limit``.

    The cut comes first, so an escape is never split from its character.
    """
    cut = clip(text or "", limit)
    escaped = _MARKDOWN.sub(r"\\\1", cut)
    return _LINE_START.sub(_escape_marker, escaped)


def _escape_marker(match: re.Match[str]) -> str:
    indent, marker, number = match.group(1), match.group(2), match.group(3)
    return f"{indent}{number}\\." if number is not None else f"{indent}\\{marker}"


def _line(text: str | None, limit: int = NAME_CHARS) -> str:
    """One line of user text: whitespace (newlines too) collapsed, then :func:`plain`."""
    return plain(" ".join((text or "").split()), limit)


def _text(text: str, **style: Any) -> Json:
    return {"type": "TextBlock", "text": text, "wrap": True, **style}


def _attention(message: str) -> Json:
    return _text(plain(message, ERROR_CHARS), color="Attention", size="Small", spacing="None")


# -- the alert ----------------------------------------------------------------------------------


def alert_card(
    view: AlertView,
    *,
    step: StepStarted | None = None,
    chart_uri: str | None = None,
    errors: Mapping[str, str] | None = None,
    panel: Panel | None = None,
    inputs: Mapping[str, Any] | None = None,
) -> Json:
    """The alert card as it should read now.

    ``step`` shows that playbook step's form inline; ``panel`` opens a panel; ``errors`` and
    ``inputs`` (what was typed, from the refused action) refill a form that was refused. A
    closed alert keeps only "View runbook": forms and other panels are not drawn on it.
    """
    errors = errors or {}
    typed = inputs or {}
    if view.closed:
        step = None
        panel = panel if panel is not None and panel.kind is PanelKind.RUNBOOK else None
    body: list[Json | None] = [
        _header(view),
        _status(view),
        _facts(view),
        _measure(view),
        _chart(view, chart_uri),
        *_contributors(view),
        *_levers(view),
        *_runbook_entry("What fixed it last time", view.last_fix),
        *_runbook_entry("Runbook entry filed", view.filed if view.closed else None),
        *_progress(view),
    ]
    if step is not None:
        body.append(_step_form(view, step, errors, typed))
    elif panel is not None:
        body.append(_panel(view, panel, errors, typed))
    card = _card([b for b in body if b is not None], fallback=_fallback(view))
    if step is None and panel is None:
        card["actions"] = _actions(view)
    return card


def _card(body: list[Json], *, fallback: str) -> Json:
    return {
        "$schema": CARD_SCHEMA_URL,
        "type": "AdaptiveCard",
        "version": CARD_VERSION,
        "msteams": {"width": "Full"},
        "fallbackText": fallback,
        "body": body,
    }


def _fallback(view: AlertView) -> str:
    what = f"{clip(view.project, 60)} {clip(view.environment, 40)}"
    if view.response == AnomalyResponse.EXPECTED:
        return f"Expected: {what} spend, {money(view.impact_usd)} above the baseline"
    if view.closed:
        return f"Resolved: {what} spend anomaly, {money(view.impact_usd)} over expected in all"
    return f"Spend anomaly: {what} {signed(view.impact_usd)} since {when(view.started_at)}"


def _header(view: AlertView) -> Json:
    if view.response == AnomalyResponse.EXPECTED:
        prefix, color = "🗓️ Expected: ", "Default"
    elif view.closed:
        prefix, color = "✅ Resolved: ", "Good"
    else:
        prefix, color = "💸 Spend anomaly: ", "Attention"
    title = f"{_line(view.project, 60)} · {_line(view.environment, 40)}"
    return _text(prefix + title, size="Large", weight="Bolder", color=color)


def _who(user: str | None) -> str:
    return _line(user) or "someone"


def _status(view: AlertView) -> Json:
    parts = [f"Detected {when(view.detected_at)}"]
    template = _RESPONSES.get(view.response)
    if template is None:
        parts.append(f"Response: {_line(view.response)}")
    elif view.response != AnomalyResponse.NONE:
        parts.append(template.format(who=_who(view.response_by)))
    else:
        parts.append(template)
    if view.response_note:
        note = _line(view.response_note, NOTE_CHARS)
        parts.append(f"Reason: {note}" if view.response == AnomalyResponse.EXPECTED
                     else f"“{note}”")
    if view.snoozed_until is not None and not view.closed:
        parts.append(f"💤 Snoozed until {when(view.snoozed_until)}")
    if view.escalated:
        parts.append("🚨 Escalated")
    if view.status == AnomalyStatus.AUTO_RESOLVED:
        back = f" {when(view.resolved_at)}" if view.resolved_at else ""
        parts.append(f"Back to normal: auto-resolved{back}")
    elif view.status != AnomalyStatus.OPEN:
        parts.append(f"Status: {_line(view.status)}")
    return _text(" · ".join(parts), isSubtle=True, spacing="Small")


def _facts(view: AlertView) -> Json:
    percent = view.percent_over
    hourly = f"{money(view.actual_hourly)}/h vs {money(view.expected_hourly)}/h expected"
    over = f"{percent:+,.0f}% ({hourly})" if percent is not None else f"New spend ({hourly})"
    facts = [
        ("Over expected so far", money(view.impact_usd)),
        ("Per day if it continues", money(view.projected_daily_usd)),
        ("Over expected per hour", over),
        ("Peak", f"{money(view.peak_hourly_usd)}/h"),
        ("Since", when(view.started_at)),
        ("Owner", _line(view.owner) or "not set"),
        ("Phase", _line(view.phase) or "not set"),
    ]
    if view.responsible:
        facts.append(("Responsible", _line(view.responsible)))
    # amounts are the bot's own text (digits, a currency, "<" before $0.01): nothing to escape
    return {"type": "FactSet", "facts": [{"title": name, "value": value} for name, value in facts]}


def _measure(view: AlertView) -> Json:
    parts = []
    if view.baseline:
        parts.append(f"Expected = {_line(view.baseline, 200)}")
    if view.kind:
        parts.append(f"Kind: {_line(view.kind, 50)}")
    if view.data_as_of:
        parts.append("Data as of " + ", ".join(
            f"{when(moment)} ({_line(source, 60)})" for source, moment in view.data_as_of))
    return _text(" · ".join(parts) or "Data as of: no source read yet", isSubtle=True,
                 size="Small", spacing="Small")


def _chart(view: AlertView, chart_uri: str | None) -> Json | None:
    if not chart_uri:
        return None
    if not chart_uri.startswith("data:image/png;base64,"):
        raise ValueError("chart_uri must be a data:image/png;base64 URI "
                         "(make one with compact_chart_uri)")
    return {"type": "Image", "url": chart_uri, "size": "Stretch",
            "altText": clip(f"{view.project} {view.environment}: hourly spend, actual vs "
                            "expected", TITLE_CHARS)}


def _heading(text: str) -> Json:
    return _text(text, weight="Bolder", spacing="Medium")


def _contributors(view: AlertView) -> list[Json]:
    if not view.contributors:
        return []
    shown = view.contributors[:MAX_CONTRIBUTORS]
    blocks = [_heading("Top contributors")]
    blocks += [_text(_contributor_line(c), spacing="None") for c in shown]
    hidden = len(view.contributors) - len(shown)
    if hidden > 0:
        blocks.append(_text(f"and {hidden} more", isSubtle=True, spacing="None"))
    return blocks


def _contributor_line(c: ContributorView) -> str:
    where = " · ".join(_line(part) for part in (c.service, c.region, c.sku) if part)
    return (f"• {where or 'unnamed service'}: **{signed(c.impact_usd)}/h** "
            f"({money(c.actual)}/h vs {money(c.expected)}/h expected)")


def _levers(view: AlertView) -> list[Json]:
    if not view.levers or view.closed:  # advice on cutting spend that is over is noise
        return []
    blocks = [_heading("Suggested levers")]
    blocks += [_text(f"• **{_line(lever.title, 75)}** — {_line(lever.detail, 400)}",
                     spacing="None") for lever in view.levers[:MAX_LEVERS]]
    return blocks


def _runbook_entry(heading: str, entry: RunbookView | None) -> list[Json]:
    if entry is None:
        return []
    by = _who(entry.author)
    return [_heading(f"{heading} ({when(entry.created_at)}, {by})"), *_entry_parts(entry)]


def _entry_parts(entry: RunbookView) -> list[Json]:
    parts = (("Root cause", entry.root_cause), ("Fix", entry.fix),
             ("Prevention", entry.prevention))
    return [_text(f"**{name}:** {plain(text.strip(), RUNBOOK_PART_CHARS)}", spacing="None")
            for name, text in parts if text and text.strip()]


def _progress(view: AlertView) -> list[Json]:
    if not view.playbook:
        return []
    done = sum(step.done for step in view.playbook)
    blocks = [_heading(f"Playbook ({done}/{len(view.playbook)} done)")]
    blocks += [_text(_step_line(step), spacing="None") for step in view.playbook]
    return blocks


def _step_line(step: StepProgress) -> str:
    if not step.done:
        return f"◻ {_line(step.title, 50)}"
    by = _line(step.by)
    return f"✓ {_line(step.title, 50)}" + (f" — {by}" if by else "")


# -- actions ------------------------------------------------------------------------------------


def _execute(title: str, verb: Verb, anomaly_id: int, *, step_id: str | None = None,
             style: str | None = None, with_inputs: bool = True) -> Json:
    """An ``Action.Execute`` and, for clients without it, an ``Action.Submit`` with the same
    data. Buttons that send no form (Back, the alert's own buttons) skip input validation."""
    data = action_data(verb, anomaly_id, step_id=step_id)
    fallback: Json = {"type": "Action.Submit", "title": clip(title, 75), "data": data}
    action: Json = {"type": "Action.Execute", "title": clip(title, 75), "verb": verb.value,
                    "data": data, "fallback": fallback}
    if not with_inputs:
        action["associatedInputs"] = fallback["associatedInputs"] = "none"
    if style is not None:
        action["style"] = fallback["style"] = style
    return action


def _actions(view: AlertView) -> list[Json]:
    """Closed alerts keep only "View runbook", so nobody acknowledges, snoozes or cuts spend
    that is already over."""
    anomaly = view.anomaly_id
    actions: list[Json] = []
    if not view.closed:
        if view.response == AnomalyResponse.NONE:
            actions.append(_execute("Acknowledge", Verb.ACK, anomaly, style="positive",
                                    with_inputs=False))
        label = _playbook_label(view)
        if label is not None:
            actions.append(_execute(label, Verb.STEP_OPEN, anomaly, with_inputs=False))
        actions.append(_execute("💤 Snooze", Verb.SNOOZE, anomaly, with_inputs=False))
        actions.append(_execute("Expected", Verb.EXPECTED, anomaly, with_inputs=False))
        if not view.escalated:
            actions.append(_execute("Escalate", Verb.ESCALATE, anomaly, style="destructive",
                                    with_inputs=False))
    actions.append(_execute("View runbook", Verb.RUNBOOK, anomaly, with_inputs=False))
    return actions


def _playbook_label(view: AlertView) -> str | None:
    if not view.playbook:
        return "Start playbook"
    done = sum(step.done for step in view.playbook)
    if done >= len(view.playbook):
        return None
    return f"Continue playbook ({done}/{len(view.playbook)})"


def _action_set(actions: Iterable[Json]) -> Json:
    return {"type": "ActionSet", "actions": list(actions)}


def _form(items: list[Json]) -> Json:
    return {"type": "Container", "style": "emphasis", "separator": True, "spacing": "Large",
            "items": items}


# -- panels -------------------------------------------------------------------------------------


def _panel(view: AlertView, panel: Panel, errors: Mapping[str, str],
           typed: Mapping[str, Any]) -> Json:
    if panel.kind is PanelKind.SNOOZE:
        return _snooze_panel(view, errors, typed)
    if panel.kind is PanelKind.EXPECTED:
        return _expected_panel(view, errors, typed)
    return _runbook_panel(view, panel)


def _back(view: AlertView, title: str = "Back") -> Json:
    return _execute(title, Verb.BACK, view.anomaly_id, with_inputs=False)


def _snooze_panel(view: AlertView, errors: Mapping[str, str], typed: Mapping[str, Any]) -> Json:
    chosen = str(typed.get(SNOOZE_INPUT) or SNOOZE_HOURS[0])
    choices = [{"title": f"{h} hour{'s' if h != 1 else ''}", "value": str(h)}
               for h in SNOOZE_HOURS]
    items: list[Json] = [
        _heading("💤 Snooze reminders"),
        _text("Reminders and escalation pause for this long; the alert stays open and still "
              "updates if spend grows.", isSubtle=True, spacing="None"),
        {"type": "Input.ChoiceSet", "id": SNOOZE_INPUT, "label": "For how long?",
         "style": "compact", "isRequired": True, "errorMessage": "Pick how long to snooze.",
         "choices": choices, "value": chosen if chosen in {c["value"] for c in choices}
         else choices[0]["value"]},
    ]
    if "hours" in errors:
        items.append(_attention(errors["hours"]))
    items.append(_action_set([
        _execute("Snooze", Verb.SNOOZE_SAVE, view.anomaly_id, style="positive"),
        _back(view),
    ]))
    return _form(items)


def _expected_panel(view: AlertView, errors: Mapping[str, str],
                    typed: Mapping[str, Any]) -> Json:
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
        _heading("🗓️ Mark as expected"),
        _text("The alert closes and shows your reason, so the next person knows why this "
              "spend is fine. If it goes on longer than planned, a new alert opens.",
              isSubtle=True, spacing="None"),
        field,
    ]
    if "reason" in errors:
        items.append(_attention(errors["reason"]))
    items.append(_text("Say what it is and until when.", isSubtle=True, size="Small",
                       spacing="None"))
    items.append(_action_set([
        _execute("Mark as expected", Verb.EXPECTED_SAVE, view.anomaly_id, style="positive"),
        _back(view),
    ]))
    return _form(items)


def _runbook_panel(view: AlertView, panel: Panel) -> Json:
    title = _line(panel.title or view.title, TITLE_CHARS)
    items: list[Json] = [_heading(f"📖 Runbook: {title}")]
    newest = sorted(panel.entries, key=lambda e: as_utc(e.created_at), reverse=True)
    if not newest:
        items.append(_text(
            "No runbook entries yet. When someone finishes the playbook on an alert for this "
            "workload, the root cause, the fix and the prevention are saved here.",
            isSubtle=True))
    for entry in newest[:MAX_RUNBOOK_ENTRIES]:
        items.append(_text(f"**{when(entry.created_at)}** · {_who(entry.author)}",
                           separator=True))
        items += _entry_parts(entry)
    hidden = len(newest) - MAX_RUNBOOK_ENTRIES
    if hidden > 0:
        items.append(_text(f"{hidden} older {'entry is' if hidden == 1 else 'entries are'} "
                           "not shown.", isSubtle=True))
    items.append(_action_set([_back(view, "Close runbook")]))
    return _form(items)


# -- the playbook step --------------------------------------------------------------------------


def _step_form(view: AlertView, started: StepStarted, errors: Mapping[str, str],
               typed: Mapping[str, Any]) -> Json:
    step = started.step
    index, total = started.position
    items: list[Json] = [_heading(f"Step {index} of {total}: {_line(step.title, 50)}")]
    if step.description:
        items.append(_text(plain(step.description, 3000), isSubtle=True, spacing="None"))
    titles = {p.step_id: p.title for p in view.playbook}
    blocked = [titles.get(r, r) for r in step.requires if r not in started.state.steps]
    if blocked:
        names = ", ".join(f"“{_line(title, 50)}”" for title in blocked)
        items.append(_text(f"⚠️ Finish {names} first: this step can be saved only after that.",
                           color="Warning"))
    record = started.state.steps.get(step.id)
    saved: Mapping[str, object] = record.values if record is not None else {}
    slots = _error_slots(step.fields, errors)
    for field in step.fields:
        items += _field_items(field, saved.get(field.id), typed, slots, started)
    last = index >= total
    items.append(_action_set([
        _execute("Finish" if last else "Save", Verb.STEP_SAVE, view.anomaly_id,
                 step_id=step.id, style="positive"),
        _back(view, "Close"),
    ]))
    return _form(items)


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
        items.append(_attention(slots[key]))
    if field.hint:
        items.append(_text(plain(field.hint, LABEL_CHARS), isSubtle=True, size="Small",
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
    items: list[Json] = [_text(plain(field.label, LABEL_CHARS), weight="Bolder")]
    for item in field.items:
        key = toggle_input_id(field.id, item.value)
        on = str(typed[key]).lower() == "true" if key in typed else item.value in ticked
        items.append({"type": "Input.Toggle", "id": key, "title": clip(item.label, 75),
                      "value": "true" if on else "false", "valueOn": "true",
                      "valueOff": "false", "wrap": True, "spacing": "None"})
    box = field_input_id(field.id)
    if box in slots:
        items.append(_attention(slots[box]))
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
            items.append(_attention(slots[key]))
        items.append(_text(f"Only needed when items are left unticked: at least "
                           f"{field.reason_min_length} characters.", isSubtle=True,
                           size="Small", spacing="None"))
    if field.hint:
        items.append(_text(plain(field.hint, LABEL_CHARS), isSubtle=True, size="Small",
                           spacing="None"))
    return items


# -- other cards --------------------------------------------------------------------------------


def text_card(title: str, lines: Sequence[str]) -> Json:
    """A card of plain lines (a cost answer, the help), in a monospace font.

    Spaces become no-break spaces so columns stay aligned, and every line is escaped like user
    text; past ``MAX_TEXT_LINES`` the rest is counted, not shown.
    """
    if not title.strip():
        raise ValueError("a text card needs a title")
    shown = list(lines[:MAX_TEXT_LINES])
    body: list[Json] = [_text(_line(title, TITLE_CHARS), size="Medium", weight="Bolder")]
    body += [_text(plain(line.rstrip(), LINE_CHARS).replace(" ", "\u00a0") or "\u00a0",
                   fontType="Monospace", spacing="None") for line in shown]
    if len(lines) > len(shown):
        body.append(_text(f"{len(lines) - len(shown)} more lines are not shown.",
                          isSubtle=True))
    return _card(body, fallback=clip(title, TITLE_CHARS))


# -- the chart ----------------------------------------------------------------------------------


def compact_chart_uri(png: bytes, *, max_bytes: int = 20_000) -> str | None:
    """The chart as a ``data:image/png;base64,...`` URI of at most ``max_bytes`` PNG bytes.

    The alert chart is a 1000x450 PNG of a few flat colours, so a palette of 64 (then fewer)
    colours loses little a reader sees; the width steps down until it fits (a smaller width
    is tried after fewer colours, since scaling adds in-between colours). None when even the
    smallest try does not fit (the card then goes without the chart) or ``png`` is not an
    image. The alert card passes ``CHART_MAX_BYTES``.
    """
    from PIL import Image, UnidentifiedImageError

    try:
        image = Image.open(io.BytesIO(png))
        image.load()
    except (UnidentifiedImageError, OSError):
        return None
    if len(png) <= max_bytes and image.format == "PNG":
        return _data_uri(png)
    rgb = image.convert("RGB")
    for width in (rgb.width, 800, 640, 520, 400):
        if width > rgb.width:
            continue
        height = max(1, round(rgb.height * width / rgb.width))
        scaled = rgb if width == rgb.width else rgb.resize((width, height),
                                                           Image.Resampling.LANCZOS)
        for colours in (64, 32, 16, 8):
            out = io.BytesIO()
            scaled.quantize(colors=colours).save(out, format="PNG", optimize=True)
            if out.tell() <= max_bytes:
                return _data_uri(out.getvalue())
    return None


def _data_uri(png: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")
