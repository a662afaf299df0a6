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
from collections.abc import Iterable, Iterator, Mapping
from functools import lru_cache
from importlib import resources
from typing import Any

from jsonschema import Draft6Validator, validators
from jsonschema.exceptions import ValidationError, best_match

__all__ = ["CARD_SCHEMA_FILE", "TEAMS_ONLY_KEYS", "load_packaged_json", "validate_card"]

CARD_SCHEMA_FILE = "adaptive-card-1.5.0.json"
TEAMS_ONLY_KEYS = ("msteams",)


def load_packaged_json(name: str) -> Any:
    """A JSON file of ``bot/chat/teams/schemas``, read from the installed package."""
    text = resources.files("bot.chat.teams").joinpath("schemas", name).read_text("utf-8")
    return json.loads(text)


_ANY_OF = Draft6Validator.VALIDATORS["anyOf"]


def _any_of(validator: Any, branches: list[Any], instance: Any,
            schema: Mapping[str, Any]) -> Iterator[ValidationError]:
    """``anyOf``, going straight to the element's own definition when the branches are the
    schema's "one of these element types" lists: each branch requires ``type`` and refers to
    the definition of that name, whose ``type`` allows only that name, so no other branch can
    match. The result is the same; the check is about twenty times faster and the complaints
    are the element's own."""
    kind = instance.get("type") if isinstance(instance, dict) else None
    if isinstance(kind, str):
        wanted = f"#/definitions/{kind}"
        for index, branch in enumerate(branches):
            if _element_ref(branch) == wanted:
                yield from validator.descend(instance, branch, schema_path=index)
                return
    yield from _ANY_OF(validator, branches, instance, schema)


def _element_ref(branch: Any) -> str | None:
    if not isinstance(branch, dict) or branch.get("required") != ["type"]:
        return None
    all_of = branch.get("allOf")
    if isinstance(all_of, list) and len(all_of) == 1 and isinstance(all_of[0], dict):
        ref = all_of[0].get("$ref")
        return ref if isinstance(ref, str) else None
    return None


@lru_cache(maxsize=1)
def _validator() -> Any:
    schema = load_packaged_json(CARD_SCHEMA_FILE)
    Draft6Validator.check_schema(schema)
    checker = validators.extend(Draft6Validator, {"anyOf": _any_of})
    return checker(schema)


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
    whose ``type`` matches the element, or a list of the known types when none does; for a
    value that may also be null, the complaint about the value."""
    if not error.context:
        return [error]
    branches: dict[object, list[ValidationError]] = defaultdict(list)
    for sub in error.context:
        branches[sub.relative_schema_path[0]].append(sub)
    own_type = [*error.absolute_path, "type"]
    mismatched = [sub for subs in branches.values() for sub in subs
                  if list(sub.absolute_path) == own_type and sub.validator == "enum"]
    fitting = [subs for subs in branches.values() if not any(sub in mismatched for sub in subs)]
    if len(fitting) == 1:
        return [leaf for sub in fitting[0] for leaf in _closest(sub)]
    if not fitting and mismatched:
        known = sorted({str(v) for sub in mismatched
                        if isinstance(sub.validator_value, list) for v in sub.validator_value})
        return [ValidationError(f"{mismatched[0].instance!r} is not a type allowed here; "
                                f"use one of {', '.join(known)}", path=own_type)]
    candidates = [sub for subs in (fitting or list(branches.values())) for sub in subs]
    not_null = [sub for sub in candidates
                if not (sub.validator == "type" and sub.validator_value == "null")]
    found = best_match(not_null or candidates)
    return [error] if found is None else _closest(found)


def _where(path: Iterable[object]) -> str:
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text
