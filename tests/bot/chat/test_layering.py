"""The chat layer stays thin: adapters call the anomaly desk, never the store or the rules.

Every module under ``bot/chat`` is parsed (not imported) and refused if it imports the store
(``storage``, ``sqlmodel``, ``sqlalchemy``), the domain's session-taking services or its
access rules, or calls ``session_scope``: sessions and permissions belong to
``bot.anomaly.desk`` and what it calls. ``storage.timeutil`` (the one "naive means UTC" rule)
is the exception: a pure function, no session and no table.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

CHAT = Path(__file__).resolve().parents[3] / "bot" / "chat"
FORBIDDEN = ("storage", "sqlmodel", "sqlalchemy", "bot.anomaly.access", "bot.anomaly.service")
# pure helpers that live low so every layer can share them: no session, no table
ALLOWED = ("storage.timeutil",)


def _forbidden(module: str) -> bool:
    if any(module == name or module.startswith(f"{name}.") for name in ALLOWED):
        return False
    return any(module == name or module.startswith(f"{name}.") for name in FORBIDDEN)


def problems(source: str) -> list[str]:
    """What in ``source`` reaches past the desk, one line each."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found += [f"line {node.lineno}: import {a.name}" for a in node.names
                      if _forbidden(a.name)]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            if _forbidden(node.module):
                found.append(f"line {node.lineno}: from {node.module} import ...")
            found += [f"line {node.lineno}: from {node.module} import {a.name}"
                      for a in node.names if _forbidden(f"{node.module}.{a.name}")]
        elif isinstance(node, ast.Call):
            called = node.func.attr if isinstance(node.func, ast.Attribute) else getattr(
                node.func, "id", None)
            if called == "session_scope":
                found.append(f"line {node.lineno}: calls session_scope")
    return found


MODULES = sorted(CHAT.rglob("*.py"))


def test_the_chat_package_is_where_it_is_looked_for():
    assert {"port.py", "listeners.py", "commands.py", "walk.py"} <= {m.name for m in MODULES}


@pytest.mark.parametrize("module", MODULES, ids=lambda m: str(m.relative_to(CHAT)))
def test_no_chat_module_opens_a_session_or_decides_permissions(module):
    assert problems(module.read_text(encoding="utf-8")) == []


@pytest.mark.parametrize("source", [
    "import storage.chatops",
    "from storage import chatops",
    "from sqlmodel import Session",
    "import sqlalchemy as sa",
    "from bot.anomaly.access import may_act",
    "from bot.anomaly import access",
    "from bot.anomaly import service as responses",
    "with session_scope(engine) as s:\n    pass",
    "with db.session_scope(engine) as s:\n    pass",
])
def test_the_check_sees_each_way_around_the_desk(source):
    assert problems(source)


def test_the_check_lets_the_desk_and_views_through():
    assert problems("from bot.anomaly.desk import AnomalyDesk\n"
                    "from bot.anomaly.views import AlertView\nimport storagebox\n") == []
