"""Checking a card against the published Adaptive Cards 1.5 schema before it ships.

The schema is vendored in ``schemas/`` (see ``schemas/SOURCE.md``) and read as package data,
so the installed bot, the tests and ``spendwatch teams cards`` all check against the same file
without a network or a source checkout. The schema is strict (no unknown property anywhere),
which is what makes the check worth having; the one thing Teams adds that it does not know is
the card-level ``msteams`` object (``{"width": "Full"}``), so that key is set aside before
validating and nothing else is.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterable, Mapping
from functools import lru_cache
from importlib import resources
from typing import Any

from jsonschema import Draft6Validator
from jsonschema.exceptions import ValidationError, best_match

__all__ = ["CARD_SCHEMA_FILE", "TEAMS_ONLY_KEYS", "load_packaged_json", "validate_card"]

CARD_SCHEMA_FILE = "adaptive-card-1.5.0.json"
TEAMS_ONLY_KEYS = ("msteams",)


def load_packaged_json(name: str) -> Any:
    """A JSON file of ``bot/chat/teams/schemas``, read from the installed package."""
    text = resources.files("bot.chat.teams").joinpath("schemas", name).read_text("utf-8")
    return json.loads(text)


@lru_cache(maxsize=1)
def _validator() -> Draft6Validator:
    schema = load_packaged_json(CARD_SCHEMA_FILE)
    Draft6Validator.check_schema(schema)
    return Draft6Validator(schema)


def validate_card(card: Mapping[str, Any]) -> list[str]:
    """What in ``card`` the 1.5 schema refuses, one line each (``[]`` when it is valid).

    Each line starts with where (``body[3].items[0].type``) and says what is wrong; for the
    schema's "any of these element types" checks it names the closest match's complaint.
    """
    checked = {key: value for key, value in card.items() if key not in TEAMS_ONLY_KEYS}
    found = [leaf for error in _validator().iter_errors(checked) for leaf in _closest(error)]
    return [f"{_where(e.absolute_path) or 'the card'}: {e.message}"
            for e in sorted(found, key=lambda e: [str(p) for p in e.absolute_path])]


def _closest(error: ValidationError) -> list[ValidationError]:
    """The complaints that matter. For "any of these element types", those of the branch
    whose ``type`` matches the element (the others only say that the type is not theirs)."""
    if not error.context:
        return [error]
    branches: dict[object, list[ValidationError]] = defaultdict(list)
    for sub in error.context:
        branches[sub.relative_schema_path[0]].append(sub)
    own_type = [*error.absolute_path, "type"]
    fitting = [subs for subs in branches.values()
               if not any(list(sub.absolute_path) == own_type and sub.validator == "enum"
                          for sub in subs)]
    if len(fitting) == 1:
        return [leaf for sub in fitting[0] for leaf in _closest(sub)]
    found = best_match([sub for subs in (fitting or list(branches.values())) for sub in subs])
    return [error] if found is None else _closest(found)


def _where(path: Iterable[object]) -> str:
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text
