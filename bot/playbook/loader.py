"""Read ``playbooks/*.yml`` and say exactly where a broken one is broken.

The people editing these files are platform teams, not Python developers, so every problem
names the file, the line, the key path (``steps[2].fields[0].kind``), the bad value and what to
write instead. Lines come from the YAML node tree: the file is composed once, every key path is
mapped to the line it starts on, and each pydantic error location is looked up in that map.
"""

from __future__ import annotations

import difflib
import typing
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError
from pydantic_core import ErrorDetails

from bot.playbook.base import ID_PATTERN, SchemaProblem, key_path
from bot.playbook.schema import FIELD_KINDS, REF_PATTERN, Playbook
from bot.yaml_limits import YamlTooLarge, compose

__all__ = ["PlaybookError", "Problem", "load_playbook", "load_playbooks"]

Loc = tuple[str | int, ...]

_EXAMPLE = "see playbooks/default.yml and docs/playbooks.md"
_LIMIT_WHY = {
    "title": "a step title becomes the modal title",
    "lever_title": "a lever is offered as a Slack option",
    "playbook_title": "Slack's limit for a header",
    "label": "Slack's limit for this text",
    "hint": "Slack's limit for a hint",
    "value": "Slack's limit for an option value",
    "placeholder": "Slack's limit for a placeholder",
    "options": "a Slack select menu holds at most 100 options",
    "fallback_options": "a Slack select menu holds at most 100 options",
    "items": "a Slack checkbox group holds at most 10 items",
    "max_length": "Slack text inputs accept at most 3000 characters",
    "reason_min_length": "Slack text inputs accept at most 3000 characters",
    "fields": "a modal this long is not filled in during an incident",
    "id": "ids become part of chat block ids",
}
_PATTERN_HELP = {
    ID_PATTERN: "use lower-case letters, digits and _, starting with a letter (e.g. root_cause)",
    REF_PATTERN: "write it as step_id.field_id (e.g. document.root_cause)",
}


@dataclass(frozen=True)
class Problem:
    """One thing wrong in one file, where it is, and what to do about it."""

    file: str
    line: int | None
    key: str
    message: str

    def __str__(self) -> str:
        where = f"{self.file}, line {self.line}" if self.line else self.file
        return f"{where}: {self.key}: {self.message}" if self.key else f"{where}: {self.message}"


class PlaybookError(Exception):
    """A playbook file is missing, not YAML, or not a valid playbook; lists every problem."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = sorted(problems, key=lambda p: (p.file, p.line or 0))
        lines = [str(p) for p in self.problems]
        files = sorted({p.file for p in self.problems})
        where = files[0] if len(files) == 1 else f"{len(files)} playbook files"
        text = lines[0] if len(lines) == 1 else (
            f"{len(lines)} problems in {where}:\n  " + "\n  ".join(lines))
        super().__init__(text)


def load_playbook(path: Path | str) -> Playbook:
    """Read and validate one playbook file; raise :class:`PlaybookError` if anything is wrong."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise PlaybookError([Problem(str(path), None, "", (
            f"the file does not exist; {_EXAMPLE}"))]) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise PlaybookError([Problem(str(path), None, "", (
            f"the file cannot be read ({exc}); save it as UTF-8 text"))]) from None
    return _parse(text, origin=str(path))


def load_playbooks(folder: Path | str) -> dict[str, Playbook]:
    """Every ``*.yml`` / ``*.yaml`` playbook in ``folder``, by name; all problems in one error."""
    folder = Path(folder)
    if not folder.is_dir():
        raise PlaybookError([Problem(str(folder), None, "", (
            f"the playbook folder does not exist; create it with at least one playbook "
            f"({_EXAMPLE})"))])
    files = sorted(p for p in folder.iterdir() if p.suffix in (".yml", ".yaml") and p.is_file())
    if not files:
        raise PlaybookError([Problem(str(folder), None, "", (
            "no playbook files (*.yml) in this folder; copy playbooks/default.yml here"))])
    found: dict[str, tuple[Path, Playbook]] = {}
    problems: list[Problem] = []
    for path in files:
        try:
            playbook = load_playbook(path)
        except PlaybookError as exc:
            problems += exc.problems
            continue
        if playbook.name in found:
            other = found[playbook.name][0]
            problems.append(Problem(str(path), _name_line(path), "name", (
                f"playbook name {playbook.name!r} is already used by {other}; "
                f"give each playbook its own name")))
            continue
        found[playbook.name] = (path, playbook)
    if problems:
        raise PlaybookError(problems)
    return {name: playbook for name, (_, playbook) in found.items()}


def _name_line(path: Path) -> int | None:
    node = yaml.compose(path.read_text(encoding="utf-8"), Loader=yaml.SafeLoader)
    if node is None:  # an empty file
        return None
    return _line_map(node)[0].get(("name",))


def _parse(text: str, *, origin: str) -> Playbook:
    node, data = _read_yaml(text, origin=origin)
    lines, duplicates = _line_map(node)
    if duplicates:
        raise PlaybookError([Problem(origin, line, _format(loc), message)
                             for loc, line, message in duplicates])
    if not isinstance(data, dict):
        raise PlaybookError([Problem(origin, lines.get((), 1), "", (
            f"the top level must be a mapping with name, title, steps and resolution, "
            f"got {_show(data)}; {_EXAMPLE}"))])
    try:
        return Playbook.model_validate(data)
    except ValidationError as exc:
        problems = [
            Problem(origin, _line_for(loc, lines), _format(loc), message)
            for loc, message in _explain_all(exc, data)
        ]
        raise PlaybookError(problems) from None


def _read_yaml(text: str, *, origin: str) -> tuple[yaml.Node, Any]:
    """The node tree (for line numbers) and the data, from one parse."""
    try:
        node, loader = compose(text)
    except YamlTooLarge as exc:
        raise PlaybookError([Problem(origin, None, "", f"cannot be read: {exc}")]) from None
    except yaml.MarkedYAMLError as exc:
        raise PlaybookError([_not_yaml(exc, origin)]) from None
    except yaml.reader.ReaderError as exc:  # a control character, before any parsing
        line = text.count("\n", 0, max(exc.position, 0)) + 1
        raise PlaybookError([Problem(origin, line, "", (
            f"not valid YAML: the control character {chr(exc.character)!r} is not allowed; "
            f"remove it, or put it in a double-quoted text as an escape"))]) from None
    try:
        data = loader.construct_document(node) if node is not None else None
    except yaml.MarkedYAMLError as exc:
        raise PlaybookError([_not_yaml(exc, origin)]) from None
    finally:
        loader.dispose()
    if node is None:
        raise PlaybookError([Problem(origin, 1, "", (
            f"the file is empty; a playbook needs name, title, steps and resolution "
            f"({_EXAMPLE})"))])
    return node, data


def _not_yaml(exc: yaml.MarkedYAMLError, origin: str) -> Problem:
    mark = exc.problem_mark or exc.context_mark
    line = mark.line + 1 if mark else None
    where = f" at column {mark.column + 1}" if mark else ""
    problem = exc.problem or str(exc)
    context = f" ({exc.context})" if exc.context else ""
    return Problem(origin, line, "", (
        f"not valid YAML{where}: {problem}{context}; check the indentation, and put "
        f"texts containing ': ', ', ' or '#' in quotes"))


def _line_map(node: yaml.Node) -> tuple[dict[Loc, int], list[tuple[Loc, int, str]]]:
    """Map each key path to the 1-based line it starts on; also report repeated keys."""
    lines: dict[Loc, int] = {(): node.start_mark.line + 1}
    duplicates: list[tuple[Loc, int, str]] = []
    stack: list[tuple[Loc, yaml.Node]] = [((), node)]
    while stack:
        path, current = stack.pop()
        if isinstance(current, yaml.MappingNode):
            for key_node, value_node in current.value:
                key = key_node.value if isinstance(key_node, yaml.ScalarNode) else str(key_node)
                child = (*path, key)
                line = key_node.start_mark.line + 1
                if child in lines:
                    duplicates.append((child, line, (
                        f"the key {key!r} appears twice in this mapping (first on line "
                        f"{lines[child]}); keep one")))
                    continue
                lines[child] = line
                stack.append((child, value_node))
        elif isinstance(current, yaml.SequenceNode):
            for index, item in enumerate(current.value):
                lines[(*path, index)] = item.start_mark.line + 1
                stack.append(((*path, index), item))
    return lines, sorted(duplicates, key=lambda d: d[1])


def _line_for(loc: Loc, lines: dict[Loc, int]) -> int | None:
    """The line of the deepest part of ``loc`` present in the file (a missing key's parent)."""
    for end in range(len(loc), -1, -1):
        if loc[:end] in lines:
            return lines[loc[:end]]
    return None


def _format(loc: Loc) -> str:
    return key_path(loc) or "(top level)"


def _show(value: Any) -> str:
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    if value is None:
        return "nothing"
    return repr(value)


def _explain_all(exc: ValidationError, data: dict[str, Any]) -> Iterator[tuple[Loc, str]]:
    for error in exc.errors():
        loc = _clean(error["loc"], data)
        problem = error.get("ctx", {}).get("error")
        if error["type"] == "value_error" and isinstance(problem, SchemaProblem):
            for relative, message in problem.problems:
                yield _clean((*loc, *relative), data), message
        else:
            yield _explain(error, loc, data)


def _clean(loc: Loc, data: Any) -> Loc:
    """Drop pydantic's union tags (``fields.0.text.max_length``) and parts inside plain text."""
    cleaned: list[str | int] = []
    current = data
    for part in loc:
        if _has(current, part):
            current = current[part]
        elif isinstance(current, dict) and part in FIELD_KINDS:
            continue
        elif not isinstance(current, dict | list):
            break
        else:
            cleaned.append(part)
            break
        cleaned.append(part)
    return tuple(cleaned)


def _has(container: Any, part: str | int) -> bool:
    if isinstance(container, dict):
        return part in container
    return isinstance(container, list) and isinstance(part, int) and part < len(container)


def _explain(error: ErrorDetails, loc: Loc, data: dict[str, Any]) -> tuple[Loc, str]:
    kind, ctx, value = error["type"], error.get("ctx", {}), error.get("input")
    if kind == "union_tag_invalid":
        return (*loc, "kind"), (
            f"unknown field kind {ctx.get('tag')!r}; use one of: {', '.join(FIELD_KINDS)}")
    if kind == "union_tag_not_found":
        return loc, f"this field has no kind; add `kind:` with one of: {', '.join(FIELD_KINDS)}"
    if kind == "extra_forbidden":
        return loc, _unknown_key(loc, value, data)
    if kind == "missing":
        return loc, f"required key {loc[-1]!r} is missing; add it ({_EXAMPLE})"
    return loc, _explain_value(kind, ctx, value, loc)


def _explain_value(kind: str, ctx: dict[str, Any], value: Any, loc: Loc) -> str:
    key = "playbook_title" if loc == ("title",) else str(loc[-1]) if loc else ""
    if loc[:1] == ("levers",) and key == "title":
        key = "lever_title"
    why = _LIMIT_WHY.get(key, "")
    why = f" ({why})" if why else ""
    if kind == "string_too_long":
        return (f"{value!r} is {len(value)} characters long; at most {ctx['max_length']} are "
                f"allowed{why}, shorten it")
    if kind == "too_long":
        return f"{len(value)} entries; at most {ctx['max_length']} are allowed{why}, remove some"
    if kind in ("string_too_short", "too_short"):
        return f"{_show(value)} is empty; fill it in"
    if kind == "string_pattern_mismatch":
        help_text = _PATTERN_HELP.get(ctx.get("pattern", ""), "")
        return f"{value!r} is not allowed here; {help_text}"
    if kind == "literal_error":
        return f"{value!r} is not allowed; use one of: {ctx.get('expected')}"
    if kind in ("less_than_equal", "greater_than_equal"):
        bound = f"at most {ctx['le']}" if "le" in ctx else f"at least {ctx['ge']}"
        return f"{value!r} is out of range; use a number {bound}{why}"
    if kind == "string_type":
        return f"expected text, got {_show(value)}; put the text in quotes"
    if kind == "bool_parsing":
        return f"expected true or false, got {_show(value)}"
    if kind == "list_type":
        return f"expected a list (lines starting with '- '), got {_show(value)}"
    if kind in ("model_type", "model_attributes_type", "dict_type"):
        quote = "; put plain text in quotes" if isinstance(value, bool | int | float) else ""
        return f"expected a mapping of keys, got {_show(value)}{quote}"
    return f"invalid value {_show(value)} ({kind.replace('_', ' ')}); {_EXAMPLE}"


def _unknown_key(loc: Loc, value: Any, data: dict[str, Any]) -> str:
    allowed = _allowed_keys(loc[:-1], data)
    key = str(loc[-1])
    close = difflib.get_close_matches(key, allowed, n=1)
    hint = f"did you mean {close[0]!r}? " if close else ""
    text = f"unknown key {key!r}; {hint}allowed here: {', '.join(allowed) or 'none'}"
    if value is None:
        text += "; if this is part of a text containing a comma, put that text in quotes"
    return text


def _child(data: Any, part: str | int) -> Any:
    """The value one step down ``loc`` in the data, or None where the data has no such step."""
    if isinstance(data, dict):
        return data[part]
    if isinstance(data, list) and isinstance(part, int):
        return data[part]
    return None


def _allowed_keys(loc: Loc, data: Any) -> list[str]:
    """The keys the model at ``loc`` accepts, following the data to pick a field kind."""
    candidates: list[type[BaseModel]] = [Playbook]
    current = data
    for part in loc:
        if isinstance(part, str):
            model = _pick(candidates, current)
            if model is None or part not in model.model_fields:
                return []
            candidates = list(_models_in(model.model_fields[part].annotation))
        current = _child(current, part)
    model = _pick(candidates, current)
    return sorted(model.model_fields) if model is not None else []


def _pick(candidates: list[type[BaseModel]], data: Any) -> type[BaseModel] | None:
    """The one candidate model, or among field kinds the one named by the data's ``kind``."""
    if len(candidates) == 1:
        return candidates[0]
    kind = data.get("kind") if isinstance(data, dict) else None
    for candidate in candidates:
        declared = candidate.model_fields.get("kind")
        if declared is not None and kind in typing.get_args(declared.annotation):
            return candidate
    return None


def _models_in(annotation: Any) -> Iterator[type[BaseModel]]:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        yield annotation
        return
    for arg in typing.get_args(annotation):
        yield from _models_in(arg)
