"""States are StrEnum members, never string literals, outside the ``enums`` modules.

Every state of the system (an anomaly's status, kind and response, an outbox operation, an
ingest run's status ...) is a member of a ``StrEnum`` in its domain package's ``enums`` module.
A literal such as ``anomaly.response = "acknowledged"`` elsewhere would compile and run, and
silently drift from the enum the day a value is renamed. This test reads ``bot/`` and
``storage/`` (but the ``enums`` modules and the Alembic migrations, which must keep the values
they were written with) with :mod:`ast` and fails on a string constant equal to a member's value
in one of the places a state is used:

* a comparison with something named like a state (``x.status == "open"``,
  ``operation in ("post", "update")``, ``col(Anomaly.status).in_(("held",))``);
* an assignment to a state attribute or field (``anomaly.response = ...``,
  ``status: str = "open"``, ``status: str = Field(default="pending")``), or a dictionary entry
  under a state key (``{"status": "succeeded"}``), or a parameter's default;
* a keyword argument named like a state (``enqueue(operation="post")``).

Text shown to people ("Please update ...") and Block Kit strings are in none of these places,
so they are not states, whatever words they contain.
"""

from __future__ import annotations

import ast
import importlib
import inspect
from enum import StrEnum
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SCANNED = ("bot", "storage")
MIGRATIONS = ROOT / "storage" / "migrations" / "versions"

# the names a state goes by: ``status``, ``response``, ... and ``*_status``, ``*_kind`` ...
STATE_NAMES = frozenset({"status", "response", "operation", "kind", "state", "platform",
                         "outcome"})
# SQLAlchemy's comparisons written as method calls: ``col(Run.status).in_(("held",))``
COMPARING_METHODS = frozenset({"in_", "not_in", "notin_", "is_", "is_not", "isnot"})


def enums_modules() -> list[Path]:
    return sorted(p for top in SCANNED for p in (ROOT / top).rglob("enums.py"))


def state_values() -> dict[str, str]:
    """Every member value of every StrEnum of the enums modules -> ``Enum.MEMBER`` (the
    members that have it, when several enums share a value)."""
    values: dict[str, str] = {}
    for path in enums_modules():
        module = importlib.import_module(".".join(path.relative_to(ROOT).with_suffix("").parts))
        for name, enum in vars(module).items():
            if inspect.isclass(enum) and issubclass(enum, StrEnum) and enum is not StrEnum:
                for member in enum:
                    known = values.get(member.value)
                    values[member.value] = (f"{known} or " if known else "") + \
                        f"{name}.{member.name}"
    return values


def scanned_files() -> list[Path]:
    skip = set(enums_modules())
    return sorted(p for top in SCANNED for p in (ROOT / top).rglob("*.py")
                  if p not in skip and MIGRATIONS not in p.parents)


def _is_state_name(name: str) -> bool:
    return name in STATE_NAMES or any(name.endswith(f"_{n}") for n in STATE_NAMES)


def _names_state(node: ast.AST) -> bool:
    """``status``, ``x.status``, ``row["status"]``, ``col(Anomaly.status)``."""
    if isinstance(node, ast.Name):
        return _is_state_name(node.id)
    if isinstance(node, ast.Attribute):
        return _is_state_name(node.attr)
    if isinstance(node, ast.Subscript):
        key = node.slice
        return isinstance(key, ast.Constant) and isinstance(key.value, str) and \
            _is_state_name(key.value)
    if isinstance(node, ast.Call):  # a wrapper such as col(...), str(...)
        return any(_names_state(arg) for arg in node.args)
    return False


def _literals(node: ast.AST | None) -> list[ast.Constant]:
    """The string constants of ``"x"``, ``("x", "y")``, ``["x"]``, ``{"x"}``,
    ``frozenset({"x"})``."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return [node]
    if isinstance(node, ast.Tuple | ast.List | ast.Set):
        return [c for element in node.elts for c in _literals(element)]
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and \
            node.func.id in ("frozenset", "set", "tuple", "list") and len(node.args) == 1:
        return _literals(node.args[0])
    return []


def _target_names_state(target: ast.AST) -> bool:
    return isinstance(target, ast.Name | ast.Attribute | ast.Subscript) and _names_state(target)


class _Finder(ast.NodeVisitor):
    def __init__(self, values: dict[str, str]) -> None:
        self.values = values
        self.found: list[tuple[int, str, str]] = []  # (line, literal, where)

    def _flag(self, nodes: list[ast.Constant], where: str) -> None:
        for node in nodes:
            if node.value in self.values:
                self.found.append((node.lineno, node.value, where))

    # -- comparisons
    def visit_Compare(self, node: ast.Compare) -> None:
        operands = [node.left, *node.comparators]
        if any(_names_state(o) for o in operands):
            for operand in operands:
                self._flag(_literals(operand), "compared with a state")
        self.generic_visit(node)

    def visit_Match(self, node: ast.Match) -> None:
        if _names_state(node.subject):
            for case in node.cases:
                for sub in ast.walk(case.pattern):
                    if isinstance(sub, ast.MatchValue):
                        self._flag(_literals(sub.value), "matched against a state")
        self.generic_visit(node)

    def visit_Call(self, node: ast.Call) -> None:
        if isinstance(node.func, ast.Attribute) and node.func.attr in COMPARING_METHODS and \
                _names_state(node.func.value):
            for arg in node.args:
                self._flag(_literals(arg), "compared with a state")
        for keyword in node.keywords:
            if keyword.arg is not None and _is_state_name(keyword.arg):
                self._flag(_literals(keyword.value), f"passed as {keyword.arg}=")
        self.generic_visit(node)

    # -- assignments
    def _assigned(self, target: ast.AST, value: ast.AST | None) -> None:
        if value is None:
            return
        if isinstance(target, ast.Tuple | ast.List) and isinstance(value, ast.Tuple | ast.List) \
                and len(target.elts) == len(value.elts):
            for t, v in zip(target.elts, value.elts, strict=True):
                self._assigned(t, v)
            return
        if not _target_names_state(target):
            return
        self._flag(_literals(value), "assigned to a state")
        if isinstance(value, ast.Call):  # status: str = Field(default="pending", ...)
            for keyword in value.keywords:
                if keyword.arg == "default":
                    self._flag(_literals(keyword.value), "a state's default")

    def visit_Assign(self, node: ast.Assign) -> None:
        for target in node.targets:
            self._assigned(target, node.value)
        self.generic_visit(node)

    def visit_AnnAssign(self, node: ast.AnnAssign) -> None:
        self._assigned(node.target, node.value)
        self.generic_visit(node)

    def visit_AugAssign(self, node: ast.AugAssign) -> None:
        self._assigned(node.target, node.value)
        self.generic_visit(node)

    def visit_Dict(self, node: ast.Dict) -> None:
        for key, value in zip(node.keys, node.values, strict=True):
            if isinstance(key, ast.Constant) and isinstance(key.value, str) and \
                    _is_state_name(key.value):
                self._flag(_literals(value), f"stored under {key.value!r}")
        self.generic_visit(node)

    def _arguments(self, args: ast.arguments) -> None:
        positional = [*args.posonlyargs, *args.args]
        defaults: list[tuple[ast.arg, ast.expr | None]] = [
            *zip(positional[len(positional) - len(args.defaults):], args.defaults, strict=True),
            *zip(args.kwonlyargs, args.kw_defaults, strict=True),
        ]
        for arg, default in defaults:
            if default is not None and _is_state_name(arg.arg):
                self._flag(_literals(default), f"the default of {arg.arg}")

    def visit_FunctionDef(self, node: ast.FunctionDef) -> None:
        self._arguments(node.args)
        self.generic_visit(node)

    def visit_AsyncFunctionDef(self, node: ast.AsyncFunctionDef) -> None:
        self._arguments(node.args)
        self.generic_visit(node)

    def visit_Lambda(self, node: ast.Lambda) -> None:
        self._arguments(node.args)
        self.generic_visit(node)


def find_state_literals(source: str, filename: str, values: dict[str, str]) -> list[str]:
    """``file:line: "value" <where>; use Enum.MEMBER`` for each state literal in ``source``."""
    finder = _Finder(values)
    finder.visit(ast.parse(source, filename=filename))
    return [f"{filename}:{line}: {value!r} {where}; use {values[value]}"
            for line, value, where in sorted(set(finder.found))]


VALUES = state_values()


def test_the_enums_modules_are_found() -> None:
    found = {p.relative_to(ROOT).as_posix() for p in enums_modules()}
    assert {"bot/anomaly/enums.py", "bot/outbox/enums.py", "bot/ingest/enums.py",
            "bot/playbook/enums.py", "bot/chat/enums.py"} <= found
    assert {"open", "acknowledged", "opened", "post", "pending", "held"} <= set(VALUES)


def test_no_state_literals_outside_the_enums_modules() -> None:
    problems = [problem for path in scanned_files()
                for problem in find_state_literals(path.read_text(encoding="utf-8"),
                                                   path.relative_to(ROOT).as_posix(), VALUES)]
    assert not problems, "state literals; use the enum members:\n" + "\n".join(problems)


@pytest.mark.parametrize("source", [
    'anomaly.response = "acknowledged"',
    'anomaly.response, anomaly.response_by = "none", None',
    'if anomaly.status == "open":\n    pass',
    'if "open" != incident.status:\n    pass',
    'done = event.kind in ("opened", "reopened")',
    'ok = f.status not in {"failed", "held"}',
    'query = select(Anomaly).where(col(Anomaly.status) == "open")',
    'query = col(IngestRun.status).in_(("succeeded", "held"))',
    'chatops.enqueue(db_session=s, operation="post", now=now)',
    'report = FileReport(path=p, status="duplicate")',
    'run_fields = {"status": "succeeded", "rows": 3}',
    'class Row:\n    status: str = "pending"',
    'class Row:\n    status: str = Field(default="pending", max_length=20)',
    'def finish(*, status="failed"):\n    pass',
    'match message.operation:\n    case "chart":\n        pass',
    'if row["status"] == "dead":\n    pass',
])
def test_the_check_finds_a_state_literal(source: str) -> None:
    problems = find_state_literals(source, "example.py", VALUES)
    assert problems and all(p.startswith("example.py:") for p in problems), source


@pytest.mark.parametrize("source", [
    'text = "Please update the alert; it was acknowledged and resolved"',
    'notify(text="Spend is back to normal; the anomaly resolved itself.")',
    'ack(response_action="update", view=following)',
    'block = {"type": "section", "text": "Marked expected"}',
    'axes.plot(x, y, label="expected")',
    'if line.tag_style == "none":\n    pass',
    'anomaly.response = AnomalyResponse.ACKNOWLEDGED',
    'if anomaly.status == AnomalyStatus.OPEN:\n    pass',
    'expected = verdicts["expected"]',
    'kind = "unheard-of"',
])
def test_the_check_leaves_other_strings_alone(source: str) -> None:
    assert find_state_literals(source, "example.py", VALUES) == []


def test_a_problem_names_file_line_and_member() -> None:
    source = 'x = 1\nanomaly.response = "acknowledged"\n'
    assert find_state_literals(source, "bot/x.py", VALUES) == [
        "bot/x.py:2: 'acknowledged' assigned to a state; use AnomalyResponse.ACKNOWLEDGED"
        " or AuditAction.ACKNOWLEDGED"]
