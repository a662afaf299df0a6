"""``/cost budget`` in Slack end to end: signed slash commands through the real Bolt app, the
answer read from the Slack API stub's ``response_url``, the store checked after."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlmodel import col, select

from bot.runner import Runtime
from bot.settings import Settings, parse_settings
from storage.db import make_engine, session_scope, upgrade
from storage.models import AuditLog, BudgetChange
from tests.support.cost_points import put_points
from tests.support.slack_requests import post, sign, slash_command_body
from tests.support.slack_runtime import http_runtime
from tests.support.slack_stub import SlackApiStub

SECRET = "8f742231b10e8888abcd99yyyzzz85a5"
TOKEN = "xoxb-1234-5678-test"
FINOPS, SUPPORT, DATA = "C0FINOPS", "C0SUPPORT", "C0DATA"
FIN, DEV = "U0FIN", "U0DEV"


def _store(tmp_path: Path) -> Settings:
    """support-agent/prod (team-support, budgeted at $5,000 a month) and lab/dev (team-data,
    in the build phase, no budget), $2 and $1 an hour over the last ten days."""
    settings = parse_settings({
        "database_url": f"sqlite:///{tmp_path / 'spendwatch.db'}",
        "quarantine_dir": str(tmp_path / "quarantine"),
        "routing": {"default_channel": FINOPS, "finops": [FIN],
                    "owners": {"team-support": SUPPORT, "team-data": DATA}},
        "budgets": [{"project": "support-agent", "environment": "prod", "monthly": 5000}],
    })
    engine = make_engine(settings.database_url)
    upgrade(engine)
    newest = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) - timedelta(hours=1)
    hours = [newest - timedelta(hours=h) for h in range(240)]
    put_points(engine, [{"hour": h, "cost": 2.0, "project": "support-agent",
                         "owner": "team-support"} for h in hours]
               + [{"hour": h, "cost": 1.0, "project": "lab", "environment": "dev",
                   "owner": "team-data", "phase": "build"} for h in hours])
    engine.dispose()
    return settings


@pytest.fixture
def stub() -> Iterator[SlackApiStub]:
    with SlackApiStub(ts_base=int(time.time())) as stub:
        yield stub


@pytest.fixture
def runtime(tmp_path: Path, stub: SlackApiStub) -> Iterator[Runtime]:
    with http_runtime(_store(tmp_path), stub, token=TOKEN, secret=SECRET) as running:
        yield running


def cost(runtime: Runtime, stub: SlackApiStub, text: str, *, user: str, channel: str) -> str:
    """Type ``/cost TEXT``; the ephemeral answer Slack shows."""
    response_url = stub.new_response_url()
    body = slash_command_body(text=text, user_id=user, channel_id=channel,
                              response_url=response_url)
    url = f"http://127.0.0.1:{runtime.http_port}/slack/events"
    status, _, _ = post(url, body, sign(body, SECRET))
    assert status == 200
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        answers = stub.responses(response_url)
        if answers:
            assert answers[-1]["response_type"] == "ephemeral"
            return str(answers[-1]["text"])
        time.sleep(0.02)
    raise AssertionError(f"no answer to /cost {text}")


def stored(runtime: Runtime, kind: Any) -> list[Any]:
    with session_scope(runtime.services.engine) as session:
        rows = list(session.exec(select(kind).order_by(col(kind.id))).all())
        for row in rows:
            session.expunge(row)
        return rows


def test_budgets_are_listed_per_channel_and_set_by_finops_only(runtime, stub):
    everything = cost(runtime, stub, "budget", user=DEV, channel=FINOPS)
    support = cost(runtime, stub, "budget", user=DEV, channel=SUPPORT)
    hidden = cost(runtime, stub, "budget support-agent", user=DEV, channel=DATA)

    assert "*support-agent · prod*" in everything and "*$5,000.00*" in everything
    assert "Pilots without a ceiling" in everything and "*lab* (build; dev)" in everything
    assert "*support-agent · prod*" in support and "*lab*" not in support
    assert "No project called 'support-agent'" in hidden and "projects you can see: lab" in hidden

    refused = cost(runtime, stub, "budget set support-agent prod 25k", user=DEV, channel=FINOPS)
    assert refused.startswith(":warning: Sorry, only FinOps")
    assert stored(runtime, BudgetChange) == [] and stored(runtime, AuditLog) == []

    done = cost(runtime, stub, "budget set support-agent production $25k", user=FIN,
                channel=FINOPS)
    assert "*Budget set*: *support-agent · prod*, *$25,000.00* a month" in done
    assert "($5,000.00 → $25,000.00)" in done and "Thresholds above that spend" in done
    [change] = stored(runtime, BudgetChange)
    assert (change.project, change.environment, change.monthly, change.set_by) == (
        "support-agent", "prod", 25000, FIN)
    [entry] = stored(runtime, AuditLog)
    assert (entry.action, entry.actor) == ("budget.set", FIN)

    listed = cost(runtime, stub, "budget support-agent", user=DEV, channel=SUPPORT)
    assert "*$25,000.00* · set in chat by U0FIN" in listed


def test_a_bad_amount_or_a_typed_mention_gets_the_problem_escaped_and_the_usage(runtime, stub):
    garbage = cost(runtime, stub, "budget set support-agent prod 25 k", user=FIN,
                   channel=FINOPS)
    negative = cost(runtime, stub, "budget set support-agent prod -1", user=FIN,
                    channel=FINOPS)
    mention = cost(runtime, stub, "budget set <!channel> prod 1k", user=FIN, channel=FINOPS)

    assert garbage.startswith("Give the project, the environment (* for all of them)")
    assert negative.startswith("A budget must be more than 0, not '-1'")
    assert "`/cost budget set &lt;project&gt; &lt;environment|*&gt; &lt;amount&gt;`" in negative
    assert "No project called '&lt;!channel&gt;'" in mention and "<!channel>" not in mention
    assert stored(runtime, BudgetChange) == []
