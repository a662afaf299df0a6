"""``cost budget`` by message in Teams, over real HTTP with tokens the bot checks: FinOps (by
Entra ID object id) sets a budget, someone else is refused, both answered with a card."""

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
from storage.models import BudgetChange
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
    settings = parse_settings({
        "database_url": f"sqlite:///{tmp_path / 'spendwatch.db'}",
        "quarantine_dir": str(tmp_path / "quarantine"),
        "routing": {"finops": [FIN], "teams": {"default": FINOPS}},
        "budgets": [{"project": "search", "monthly": 3000}],
    })
    engine = make_engine(settings.database_url)
    upgrade(engine)
    newest = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) - timedelta(hours=1)
    put_points(engine, [{"hour": newest - timedelta(hours=h), "cost": 1.5, "project": "search"}
                        for h in range(72)])
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


def test_budgets_are_read_and_set_by_message(runtime, stub):
    assert post(runtime, stub, bot_added(stub, FINOPS)).status_code == 200

    listed = ask(runtime, stub, "cost budget", DEV)
    refused = ask(runtime, stub, "cost budget set search * 10k", DEV)
    done = ask(runtime, stub, "cost budget set search * 10k", FIN)

    assert "search · all environments" in listed and "$3,000.00" in listed
    assert "only FinOps (the people in routing.finops) may set budgets" in refused
    assert "Budget set: search · all environments, $10,000.00 a month" in done
    assert "$3,000.00 → $10,000.00" in done
    with session_scope(runtime.services.engine) as session:
        [change] = session.exec(select(BudgetChange)).all()
        assert (change.monthly, change.set_by) == (10000, FIN)
