"""The pieces every Teams card is made of, and the one rule for text on them.

Escaping: a ``TextBlock`` (and a fact) renders a markdown subset, so text that came from tags,
YAML or people goes through :func:`plain`, which backslash-escapes every character markdown
reads and the list markers at a line's start: a note holding ``[click](https://evil)`` or a
project called ``**URGENT**`` prints as those characters. Teams turns ``<at>…</at>`` into a
mention only with a matching ``msteams.entities`` entry, which the bot never sends, and ``<``
is escaped anyway. Input labels, choice titles, toggle titles and button titles are plain text
in the schema and are only clipped (:func:`clip`).

Every button is an ``Action.Execute`` with an ``Action.Submit`` fallback carrying the same data
(:func:`execute`): Teams asks for that with cards of version 1.5.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from bot.anomaly.views import RunbookView
from bot.chat.teams.verbs import Verb, action_data

__all__ = [
    "ELLIPSIS", "Json", "action_set", "attention", "clip", "entry_parts", "execute", "form",
    "heading", "one_line", "plain", "text_block", "who",
]

Json = dict[str, Any]

# how much of each text a card shows
NAME_CHARS = 80
NOTE_CHARS = 500
LINE_CHARS = 300
RUNBOOK_PART_CHARS = 800
TITLE_CHARS = 150
LABEL_CHARS = 300
ERROR_CHARS = 500
ELLIPSIS = "…"

# what markdown reads anywhere in a line, and what it reads at a line's start
_MARKDOWN = re.compile(r"([\\`*_\[\]()<>#~])")
_LINE_START = re.compile(r"^(\s*)([-+=]|(\d+)\.)", re.MULTILINE)


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


def one_line(text: str | None, limit: int = NAME_CHARS) -> str:
    """One line of user text: whitespace (newlines too) collapsed, then :func:`plain`."""
    return plain(" ".join((text or "").split()), limit)


def text_block(text: str, **style: Any) -> Json:
    return {"type": "TextBlock", "text": text, "wrap": True, **style}


def attention(message: str) -> Json:
    return text_block(plain(message, ERROR_CHARS), color="Attention", size="Small", spacing="None")


def heading(text: str) -> Json:
    return text_block(text, weight="Bolder", spacing="Medium")


def who(user: str | None) -> str:
    return one_line(user) or "someone"


def entry_parts(entry: RunbookView) -> list[Json]:
    parts = (("Root cause", entry.root_cause), ("Fix", entry.fix),
             ("Prevention", entry.prevention))
    return [text_block(f"**{name}:** {plain(text.strip(), RUNBOOK_PART_CHARS)}", spacing="None")
            for name, text in parts if text and text.strip()]


def execute(title: str, verb: Verb, anomaly_id: int, *, step_id: str | None = None,
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


def action_set(actions: Iterable[Json]) -> Json:
    return {"type": "ActionSet", "actions": list(actions)}


def form(items: list[Json]) -> Json:
    return {"type": "Container", "style": "emphasis", "separator": True, "spacing": "Large",
            "items": items}
