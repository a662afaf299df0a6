"""``cost plan`` and ``cost plans`` by message in Teams, over real HTTP with tokens the bot
checks, answered with a card; the plan is in the store after."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlmodel import select

from bot.chat.teams.schema import validate_card
from bot.runner import Runtime
from bot.settings import Settings, parse_settings
from storage.db import make_engine, session_scope, upgrade
from storage.models import Plan
from tests.support.cost_points import put_points
from tests.support.slack_runtime import until
from tests.support.teams_requests import bot_added, message, post, teams_runtime
from tests.support.teams_stub import TeamsStub

FINOPS = "19:f1e2d3c4b5a60718293a4b5c6d7e8f91@thread.tacv2"
FIN, DEV = "aad-fin-0001", "aad-dev-0002"


@pytest.fixture
def stub() -> Iterator[TeamsStub]:
    from tests.support.teams_requests import APP_ID

    with TeamsStub(client_id=APP_ID) as stub:
        yield stub


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    """search/prod belongs to team-search, whose only responder is FIN's colleague DEV."""
    settings = parse_settings({
        "database_url": f"sqlite:///{tmp_path / 'spendwatch.db'}",
        "quarantine_dir": str(tmp_path / "quarantine"),
        "routing": {"finops": [FIN], "teams": {"default": FINOPS},
                    "responders": {"team-search": [DEV]}},
    })
    engine = make_engine(settings.database_url)
    upgrade(engine)
    newest = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) - timedelta(hours=1)
    put_points(engine, [{"hour": newest - timedelta(hours=h), "cost": 1.5, "project": "search",
                         "owner": "team-search"} for h in range(24)])
    engine.dispose()
    return settings


@pytest.fixture
def runtime(settings: Settings, stub: TeamsStub) -> Iterator[Runtime]:
    with teams_runtime(settings, stub) as running:
        yield running


def ask(runtime: Runtime, stub: TeamsStub, text: str, user: str) -> str:
    """Send a message; what the card the bot answers with says, line by line."""
    before = len(stub.in_conversation(FINOPS))
    answer = post(runtime, stub, message(stub, FINOPS, f"<at>spendwatch</at> {text}", user=user))
    assert answer.status_code == 200, answer.text
    until(lambda: len(stub.in_conversation(FINOPS)) > before)
    card: dict[str, Any] | None = stub.in_conversation(FINOPS)[-1].card
    assert card is not None
    assert validate_card({k: v for k, v in card.items() if k != "msteams"}) == []
    shown = "\n".join(block.get("text", "") for block in card["body"])
    return re.sub(r"\\(.)", r"\1", shown.replace("\u00a0", " "))  # as read: no escapes


def test_plans_are_declared_and_listed_by_message(runtime, stub):
    assert post(runtime, stub, bot_added(stub, FINOPS)).status_code == 200
    ends = f"{datetime.now(UTC) + timedelta(days=2):%Y-%m-%d}"

    refused = ask(runtime, stub, f"cost plan search prod 2k until {ends} reindex", "aad-other")
    done = ask(runtime, stub, f"cost plan search prod 2k until {ends} reindex", DEV)
    listed = ask(runtime, stub, "cost plans", FIN)
    helped = ask(runtime, stub, "cost help", FIN)

    assert "only the responders of team-search" in refused
    assert "Plan #1 added: search / prod, $2,000 above normal" in done
    assert "#1 search / prod · $0.00 of $2,000 used, $2,000.00 left" in listed
    assert "reindex" in listed
    assert "cost plan <project> <environment|*> <amount> until <date> [reason]" in helped
    with session_scope(runtime.services.engine) as session:
        [plan] = session.exec(select(Plan)).all()
        assert (plan.amount_usd, plan.created_by, plan.reason) == (2000, DEV, "reindex")
