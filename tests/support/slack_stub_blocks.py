"""Block Kit limits as Slack's servers enforce them, for the local Web API stub.

Raw block dicts are never checked by slack_sdk (only ``slack_sdk.models`` objects are, in
``to_dict()``), so a message or modal built by hand reaches Slack unchecked and is refused there
with ``invalid_blocks`` / ``invalid_arguments``. The stub applies the same limits so that an
end-to-end test fails the way production would. Problems are reported in Slack's own format:
``[ERROR] <what> [json-pointer:<where>]``.
"""

from __future__ import annotations

from typing import Any

MESSAGE_MAX_BLOCKS = 50
VIEW_MAX_BLOCKS = 100

_SECTION_TEXT_MAX = 3000
_FIELDS_MAX = 10
_FIELD_TEXT_MAX = 2000
_HEADER_TEXT_MAX = 150
_ACTIONS_ELEMENTS_MAX = 25
_BUTTON_TEXT_MAX = 75
_BUTTON_VALUE_MAX = 2000
_ID_MAX = 255
_VIEW_TEXT_MAX = 24
_PRIVATE_METADATA_MAX = 3000


def _error(what: str, pointer: str) -> str:
    return f"[ERROR] {what} [json-pointer:{pointer}]"


def _too_long(value: Any, limit: int, pointer: str) -> list[str]:
    """One problem when ``value`` is a string longer than ``limit`` characters."""
    if isinstance(value, str) and len(value) > limit:
        return [_error(f"must be less than {limit + 1} characters", pointer)]
    return []


def _text_of(obj: Any) -> Any:
    """The ``text`` string of a text object (``{"type": ..., "text": ...}``), or None."""
    return obj.get("text") if isinstance(obj, dict) else None


def _element_problems(element: Any, pointer: str) -> list[str]:
    """Limits of an interactive element: a button's text and value, any action_id."""
    if not isinstance(element, dict):
        return [_error("must be an object", pointer)]
    problems = _too_long(element.get("action_id"), _ID_MAX, f"{pointer}/action_id")
    if element.get("type") == "button":
        problems += _too_long(_text_of(element.get("text")), _BUTTON_TEXT_MAX,
                              f"{pointer}/text/text")
        problems += _too_long(element.get("value"), _BUTTON_VALUE_MAX, f"{pointer}/value")
    return problems


def _section_problems(block: dict[str, Any], pointer: str) -> list[str]:
    problems = _too_long(_text_of(block.get("text")), _SECTION_TEXT_MAX, f"{pointer}/text/text")
    fields = block.get("fields") or []
    if len(fields) > _FIELDS_MAX:
        problems.append(_error(f"no more than {_FIELDS_MAX} items allowed", f"{pointer}/fields"))
    for index, field in enumerate(fields):
        problems += _too_long(_text_of(field), _FIELD_TEXT_MAX, f"{pointer}/fields/{index}/text")
    if "accessory" in block:
        problems += _element_problems(block["accessory"], f"{pointer}/accessory")
    return problems


def _actions_problems(block: dict[str, Any], pointer: str) -> list[str]:
    elements = block.get("elements") or []
    problems = []
    if len(elements) > _ACTIONS_ELEMENTS_MAX:
        problems.append(
            _error(f"no more than {_ACTIONS_ELEMENTS_MAX} items allowed", f"{pointer}/elements")
        )
    for index, element in enumerate(elements):
        problems += _element_problems(element, f"{pointer}/elements/{index}")
    return problems


def _block_problems(block: Any, pointer: str) -> list[str]:
    """The limits of one block, by its type."""
    if not isinstance(block, dict) or not isinstance(block.get("type"), str):
        return [_error("missing required field: type", pointer)]
    problems = _too_long(block.get("block_id"), _ID_MAX, f"{pointer}/block_id")
    kind = block["type"]
    if kind == "section":
        problems += _section_problems(block, pointer)
    elif kind == "header":
        problems += _too_long(_text_of(block.get("text")), _HEADER_TEXT_MAX,
                              f"{pointer}/text/text")
    elif kind == "actions":
        problems += _actions_problems(block, pointer)
    elif kind == "input" and "element" in block:
        problems += _element_problems(block["element"], f"{pointer}/element")
    return problems


def blocks_problems(blocks: Any, *, max_blocks: int, pointer: str = "/blocks") -> list[str]:
    """Every limit ``blocks`` breaks; empty when Slack would accept them.

    ``max_blocks`` is 50 for messages and 100 for modals and the Home tab.
    """
    if not isinstance(blocks, list):
        return [_error("must be an array", pointer)]
    problems = []
    if len(blocks) > max_blocks:
        problems.append(_error(f"no more than {max_blocks} items allowed", pointer))
    seen_ids: set[str] = set()
    for index, block in enumerate(blocks):
        problems += _block_problems(block, f"{pointer}/{index}")
        block_id = block.get("block_id") if isinstance(block, dict) else None
        if block_id is not None and block_id in seen_ids:
            problems.append(_error("duplicate block_id", f"{pointer}/{index}/block_id"))
        if block_id is not None:
            seen_ids.add(block_id)
    return problems


def view_problems(view: Any, *, kinds: tuple[str, ...]) -> list[str]:
    """Every limit a modal or Home tab ``view`` breaks; ``kinds`` are the allowed view types."""
    if not isinstance(view, dict):
        return [_error("must be an object", "/view")]
    problems = []
    if view.get("type") not in kinds:
        problems.append(_error(f"must be one of {', '.join(kinds)}", "/view/type"))
    if view.get("type") == "modal" and not _text_of(view.get("title")):
        problems.append(_error("missing required field: title", "/view/title"))
    for key in ("title", "submit", "close"):
        problems += _too_long(_text_of(view.get(key)), _VIEW_TEXT_MAX, f"/view/{key}/text")
    problems += _too_long(view.get("private_metadata"), _PRIVATE_METADATA_MAX,
                          "/view/private_metadata")
    problems += _too_long(view.get("callback_id"), _ID_MAX, "/view/callback_id")
    problems += blocks_problems(view.get("blocks", []), max_blocks=VIEW_MAX_BLOCKS,
                                pointer="/view/blocks")
    return problems
