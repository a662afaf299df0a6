"""The "Not an anomaly" panel on a Teams alert card: an optional note, then save.

Opened by the card's *Not an anomaly* action (:class:`~bot.chat.teams.verbs.Verb`); saving
closes the alert and records its lines' spend as normal (``bot.anomaly.feedback``). The note
is optional and held to the domain's limit, which still decides.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from bot.anomaly.feedback import NOTE_MAX_CHARS
from bot.anomaly.views import AlertView
from bot.chat.teams.elements import (
    Json,
    action_set,
    attention,
    clip,
    execute,
    form,
    heading,
    text_block,
)
from bot.chat.teams.verbs import CardActionError, Verb

__all__ = ["NOTE_INPUT", "not_an_anomaly_note", "not_an_anomaly_panel"]

NOTE_INPUT = "not_an_anomaly_note"


def not_an_anomaly_panel(view: AlertView, errors: Mapping[str, str],
                         typed: Mapping[str, Any], *, back: Json) -> Json:
    note = typed.get(NOTE_INPUT)
    field: Json = {
        "type": "Input.Text", "id": NOTE_INPUT, "label": "Why is this normal? (optional)",
        "isMultiline": True, "maxLength": NOTE_MAX_CHARS,
        "placeholder": "e.g. the nightly batch moved to this hour",
    }
    if isinstance(note, str) and note:
        field["value"] = clip(note, NOTE_MAX_CHARS)
    items: list[Json] = [
        heading("🙅 Not an anomaly"),
        text_block("The alert closes, and the spend of each line it was about counts as normal "
                   "for that line: the same rise will not alert again, a bigger one will. The "
                   "next alert on this workload says so; 'cost feedback undo ID' undoes it.",
                   isSubtle=True, spacing="None"),
        field,
    ]
    if "note" in errors:
        items.append(attention(errors["note"]))
    items.append(action_set([
        execute("Not an anomaly", Verb.NOT_AN_ANOMALY_SAVE, view.anomaly_id, style="positive"),
        back,
    ]))
    return form(items)


def not_an_anomaly_note(inputs: Mapping[str, Any]) -> str:
    """The note typed in the panel, stripped; ``""`` when left empty."""
    raw = inputs.get(NOTE_INPUT)
    if raw is None:
        return ""
    if not isinstance(raw, str):
        raise CardActionError("the note must be text")
    return raw.strip()
