"""Playbook files as a platform team meets them: the shipped one loads, broken ones say where."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from bot.playbook import ChecklistField, PlaybookError, SelectField, load_playbook, load_playbooks

REPO = Path(__file__).resolve().parents[3]
DEFAULT = REPO / "playbooks" / "default.yml"
DOCS = REPO / "docs" / "playbooks.md"

# Line numbers in the cases below count from here: line 1 is `name: mini`.
MINIMAL = """\
name: mini
title: Mini playbook
steps:
  - id: fix
    title: Fix it
    fields:
      - id: what
        kind: text
        label: What was done
  - id: check
    title: Check
    fields:
      - id: done
        kind: checklist
        label: Checks
        items: [a, b]
resolution:
  root_cause: fix.what
  fix: fix.what
  prevention: fix.what
"""


def write(folder: Path, text: str, name: str = "broken.yml") -> Path:
    path = folder / name
    path.write_text(text, encoding="utf-8")
    return path


def error_text(path: Path) -> str:
    with pytest.raises(PlaybookError) as caught:
        load_playbook(path)
    return str(caught.value)


def test_the_shipped_playbook_loads_with_the_five_steps_in_order() -> None:
    playbook = load_playbook(DEFAULT)

    assert playbook.name == "default"
    assert [s.id for s in playbook.steps] == [
        "owner", "what_changed", "stabilise", "review", "document"]
    assert [s.id for s in playbook.steps if s.stabilises] == ["review"]
    assert playbook.step("document").requires == ["review"]
    lever = playbook.step("stabilise").field("lever")
    assert isinstance(lever, SelectField) and lever.options_from == "levers"
    assert [o.value for o in lever.options] == ["other"]
    checks = playbook.step("review").field("checks")
    assert isinstance(checks, ChecklistField) and checks.reason_label
    assert playbook.resolution.root_cause == "document.root_cause"


def test_the_minimal_example_of_these_tests_is_valid(tmp_path: Path) -> None:
    assert load_playbook(write(tmp_path, MINIMAL)).name == "mini"


def test_a_folder_loads_every_playbook_by_name(tmp_path: Path) -> None:
    write(tmp_path, DEFAULT.read_text(encoding="utf-8"), "default.yml")
    write(tmp_path, MINIMAL, "mini.yaml")
    write(tmp_path, "not a playbook", "README.md")

    assert sorted(load_playbooks(tmp_path)) == ["default", "mini"]
    assert sorted(load_playbooks(REPO / "playbooks")) == [
        "data_movement", "default", "gpu_training", "llm_tokens", "logging"]


TOO_MANY_OPTIONS = "[" + ", ".join(f"o{i}" for i in range(101)) + "]"
ELEVEN_ITEMS = "[" + ", ".join(f"i{i}" for i in range(11)) + "]"

# (case, text to replace in MINIMAL, replacement, line, key path, what the message must say)
CASES = [
    ("yaml syntax", "title: Fix it", "title: Fix: it", 5, None,
     ["not valid YAML at column 15", "mapping values are not allowed here", "quotes"]),
    ("unknown key", "    title: Check", "    titel: Check", 11, "steps[1].titel",
     ["unknown key 'titel'", "did you mean 'title'?", "allowed here: description, fields"]),
    ("missing key", "        label: What was done\n", "", 7, "steps[0].fields[0].label",
     ["required key 'label' is missing"]),
    ("duplicate step id", "  - id: check", "  - id: fix", 10, "steps[1].id",
     ["duplicate step id 'fix' (already used by steps[0])"]),
    ("duplicate field id", "      - id: done", "      - id: what\n        kind: text\n"
     "        label: Again\n      - id: what", 16, "steps[1].fields[1].id",
     ["duplicate field id 'what' (already used by fields[0])"]),
    ("unknown field kind", "kind: text", "kind: dropdown", 8, "steps[0].fields[0].kind",
     ["unknown field kind 'dropdown'", "use one of: checklist, select, text, user"]),
    ("step title too long", "title: Fix it", "title: Fix it before the bill arrives", 5,
     "steps[0].title", ["'Fix it before the bill arrives' is 30 characters long",
                        "at most 24", "modal title"]),
    ("option text too long", "items: [a, b]", "items: [a, " + "b" * 80 + "]", 16,
     "steps[1].fields[0].items[1]", ["is 80 characters long", "at most 75"]),
    ("too many checklist items", "items: [a, b]", f"items: {ELEVEN_ITEMS}", 16,
     "steps[1].fields[0].items", ["11 entries", "at most 10", "checkbox group"]),
    ("too many options", "kind: checklist\n        label: Checks\n        items: [a, b]",
     f"kind: select\n        label: Pick\n        options: {TOO_MANY_OPTIONS}", 16,
     "steps[1].fields[0].options", ["101 entries", "at most 100", "select menu"]),
    ("text too long for slack", "label: What was done", "label: What was done\n"
     "        max_length: 5000", 10, "steps[0].fields[0].max_length",
     ["5000 is out of range", "at most 3000"]),
    ("bad id", "  - id: check", "  - id: Check step", 10, "steps[1].id",
     ["'Check step' is not allowed here", "lower-case letters, digits and _"]),
    ("resolution names no step", "  fix: fix.what", "  fix: repair.what", 19,
     "resolution.fix", ["'repair.what' names no step 'repair'", "steps are: fix, check"]),
    ("resolution names no field", "  prevention: fix.what", "  prevention: fix.how", 20,
     "resolution.prevention", ["'fix.how' names no field 'how'", "its fields are: what"]),
    ("resolution not step.field", "  root_cause: fix.what", "  root_cause: what", 18,
     "resolution.root_cause", ["'what' is not allowed here", "step_id.field_id"]),
    ("unknown option source", "kind: checklist\n        label: Checks\n        items: [a, b]",
     "kind: select\n        label: Pick\n        options_from: lever", 16,
     "steps[1].fields[0].options_from", ["'lever' is not allowed", "'levers'"]),
    ("requires a later step", "    title: Fix it", "    title: Fix it\n    requires: [check]",
     6, "steps[0].requires[0]", ["'check' is not a step listed before 'fix'"]),
    ("required_if names no select", "label: What was done", "label: What was done\n"
     "        required_if: {field: what, one_of: [x]}", 10,
     "steps[0].fields[0].required_if.field", ["'what' is not a select field of step 'fix'"]),
    ("required and required_if", "label: What was done", "label: What was done\n"
     "        required: true\n        required_if: {field: what, one_of: [x]}", 10,
     "steps[0].fields[0].required", ["contradict each other", "remove `required: true`"]),
    ("fallback without options_from", "kind: checklist\n        label: Checks\n"
     "        items: [a, b]", "kind: select\n        label: Pick\n        options: [a]\n"
     "        fallback_options: [b]", 17, "steps[1].fields[0].fallback_options",
     ["only apply with `options_from`", "move them to `options`"]),
    ("id too long", "  - id: check", "  - id: " + "c" * 65, 10, "steps[1].id",
     ["is 65 characters long", "at most 64", "chat block ids"]),
    ("playbook title too long", "title: Mini playbook", "title: " + "M" * 151, 2, "title",
     ["is 151 characters long", "at most 150", "header"]),
    ("duplicate yaml key", "    title: Check", "    title: Check\n    title: Check again", 12,
     "steps[1].title", ["the key 'title' appears twice", "first on line 11"]),
    ("comma in a flow mapping", "items: [a, b]", "items: [{value: a, label: Yes, done}]", 16,
     "steps[1].fields[0].items[0].done", ["unknown key 'done'", "put that text in quotes"]),
]


@pytest.mark.parametrize(
    ("old", "new", "line", "key", "fragments"),
    [pytest.param(*case[1:], id=case[0]) for case in CASES],
)
def test_a_broken_playbook_names_file_line_key_and_what_to_do(
    tmp_path: Path, old: str, new: str, line: int, key: str | None, fragments: list[str]
) -> None:
    assert old in MINIMAL
    path = write(tmp_path, MINIMAL.replace(old, new, 1))

    message = error_text(path)

    where = f"{path}, line {line}: " + (f"{key}: " if key else "")
    assert where in message
    for fragment in fragments:
        assert fragment in message


@pytest.mark.parametrize("text", ["", "\n\n", "# only a comment\n"])
def test_an_empty_file_says_what_a_playbook_needs(tmp_path: Path, text: str) -> None:
    path = write(tmp_path, text)

    assert error_text(path) == (
        f"{path}, line 1: the file is empty; a playbook needs name, title, steps and resolution "
        f"(see playbooks/default.yml and docs/playbooks.md)"
    )


def test_a_list_at_the_top_level_is_refused(tmp_path: Path) -> None:
    message = error_text(write(tmp_path, "- id: owner\n"))

    assert "line 1: the top level must be a mapping with name, title, steps" in message


def test_every_problem_of_a_file_is_listed_in_file_order(tmp_path: Path) -> None:
    text = MINIMAL.replace("kind: text", "kind: dropdown").replace("    title: Check", "    x: 1")
    path = write(tmp_path, text)

    lines = error_text(path).splitlines()

    assert lines[0] == f"3 problems in {path}:"
    assert lines[1].startswith(f"  {path}, line 8: steps[0].fields[0].kind: unknown field kind")
    assert lines[2].startswith(f"  {path}, line 10: steps[1].title: required key 'title'")
    assert lines[3].startswith(f"  {path}, line 11: steps[1].x: unknown key 'x'")


def test_a_missing_file_says_so(tmp_path: Path) -> None:
    assert "does not exist" in error_text(tmp_path / "nope.yml")


def test_two_playbooks_with_one_name_are_refused(tmp_path: Path) -> None:
    write(tmp_path, MINIMAL, "a.yml")
    second = write(tmp_path, MINIMAL, "b.yml")

    with pytest.raises(PlaybookError) as caught:
        load_playbooks(tmp_path)

    assert str(caught.value) == (
        f"{second}, line 1: name: playbook name 'mini' is already used by {tmp_path / 'a.yml'}; "
        f"give each playbook its own name"
    )


def test_a_folder_reports_the_broken_file_among_good_ones(tmp_path: Path) -> None:
    write(tmp_path, MINIMAL, "good.yml")
    broken = write(tmp_path, MINIMAL.replace("name: mini", "name: other").replace(
        "kind: text", "kind: dropdown"), "other.yml")

    with pytest.raises(PlaybookError) as caught:
        load_playbooks(tmp_path)

    assert str(caught.value).startswith(f"{broken}, line 8: steps[0].fields[0].kind: ")


@pytest.mark.parametrize("make", [lambda p: p / "missing", lambda p: p])
def test_a_missing_or_empty_folder_says_what_to_do(tmp_path: Path, make) -> None:
    with pytest.raises(PlaybookError) as caught:
        load_playbooks(make(tmp_path))

    assert "playbooks/default.yml" in str(caught.value)


def test_the_yaml_snippets_in_the_docs_are_copied_from_the_shipped_playbook() -> None:
    snippets = re.findall(r"```yaml\n(.*?)```", DOCS.read_text(encoding="utf-8"), re.S)

    assert len(snippets) >= 5
    shipped = [p.read_text(encoding="utf-8") for p in (REPO / "playbooks").glob("*.yml")]
    for snippet in snippets:
        assert any(snippet in text for text in shipped), snippet


def test_the_error_shown_in_the_docs_is_the_one_a_user_gets(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    shown = re.search(r"```text\n(.*?)\n```", DOCS.read_text(encoding="utf-8"), re.S)
    assert shown is not None
    (tmp_path / "playbooks").mkdir()
    text = DEFAULT.read_text(encoding="utf-8").replace(
        "title: Review before re-enable\n", "title: Review before re-enabling\n")
    write(tmp_path / "playbooks", text, "default.yml")
    monkeypatch.chdir(tmp_path)

    assert error_text(Path("playbooks/default.yml")) == shown.group(1)
