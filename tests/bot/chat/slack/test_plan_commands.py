"""``/cost plan`` and ``/cost plans`` in Slack end to end: signed slash commands through the
real Bolt app, the answer read from the Slack API stub's ``response_url``, the store after."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlmodel import col, select

from bot.chat.ids import CallbackId
from bot.runner import Runtime
from bot.settings import Settings, parse_settings
from storage.db import make_engine, session_scope, upgrade
from storage.models import AuditLog, Plan
from tests.support.cost_points import put_points
from tests.support.slack_requests import (
    plain_text_value,
    post,
    sign,
    slash_command_body,
    static_select_value,
    view_submission_body,
)
from tests.support.slack_runtime import http_runtime
from tests.support.slack_stub import SlackApiStub

SECRET = "8f742231b10e8888abcd99yyyzzz85a5"
TOKEN = "xoxb-1234-5678-test"
FINOPS, SUPPORT, DATA = "C0FINOPS", "C0SUPPORT", "C0DATA"
FIN, DEV, ANALYST = "U0FIN", "U0DEV", "U0ANALYST"


def _store(tmp_path: Path) -> Settings:
    """support-agent/prod (team-support: anyone in its channel may act) and lab/dev
    (team-data: only U0ANALYST responds), with spend over the last two days."""
    settings = parse_settings({
        "database_url": f"sqlite:///{tmp_path / 'spendwatch.db'}",
        "quarantine_dir": str(tmp_path / "quarantine"),
        "routing": {"default_channel": FINOPS, "finops": [FIN],
                    "owners": {"team-support": SUPPORT, "team-data": DATA},
                    "responders": {"team-data": [ANALYST]}},
    })
    engine = make_engine(settings.database_url)
    upgrade(engine)
    newest = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) - timedelta(hours=1)
    hours = [newest - timedelta(hours=h) for h in range(48)]
    put_points(engine, [{"hour": h, "cost": 2.0, "project": "support-agent",
                         "owner": "team-support"} for h in hours]
               + [{"hour": h, "cost": 1.0, "project": "lab", "environment": "dev",
                   "owner": "team-data"} for h in hours])
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
    status, _, _ = post(f"http://127.0.0.1:{runtime.http_port}/slack/events", body,
                        sign(body, SECRET))
    assert status == 200
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        answers = stub.responses(response_url)
        if answers:
            return str(answers[-1]["text"])
        time.sleep(0.02)
    raise AssertionError(f"no answer to /cost {text}")


def stored(runtime: Runtime, kind: Any) -> list[Any]:
    with session_scope(runtime.services.engine) as session:
        rows = list(session.exec(select(kind).order_by(col(kind.id))).all())
        for row in rows:
            session.expunge(row)
        return rows


def until(days: int) -> str:
    return f"{datetime.now(UTC) + timedelta(days=days):%Y-%m-%d}"


def test_a_plan_is_declared_by_who_may_act_and_listed_with_its_envelope(runtime, stub):
    done = cost(runtime, stub, f"plan support-agent production $5k until {until(3)} nightly "
                f"backfill <!channel>", user=DEV, channel=SUPPORT)
    assert done.startswith("*Plan #1 added*: support-agent / prod, $5,000 above normal")
    assert "nightly backfill &lt;!channel&gt;" in done  # what people type cannot notify anyone
    [plan] = stored(runtime, Plan)
    assert (plan.project, plan.environment, plan.amount_usd, plan.created_by) == (
        "support-agent", "prod", 5000.0, DEV)
    assert plan.reason == "nightly backfill <!channel>"
    [entry] = stored(runtime, AuditLog)
    assert (entry.action, entry.actor, entry.subject_id) == ("plan.added", DEV, "1")

    listed = cost(runtime, stub, "plans", user=DEV, channel=SUPPORT)
    assert "*Plans in force* (1, newest first)" in listed
    assert "*#1* support-agent / prod · $0.00 of $5,000 used, $5,000.00 left · until " in listed
    assert "by U0DEV" in listed
    assert "No plans in force" in cost(runtime, stub, "plans", user=ANALYST, channel=DATA)


def test_a_workload_with_responders_is_planned_by_them_or_finops_only(runtime, stub):
    refused = cost(runtime, stub, f"plan lab dev 500 until {until(2)}", user=DEV, channel=DATA)
    assert refused.startswith(":warning: Sorry, only the responders of team-data")
    assert stored(runtime, Plan) == []
    assert "*Plan #1 added*" in cost(runtime, stub, f"plan lab * 500 until {until(2)}",
                                     user=ANALYST, channel=DATA)
    assert "*Plan #2 added*: support-agent / every environment" in cost(
        runtime, stub, f"plan support-agent * 1k until {until(2)}", user=FIN, channel=FINOPS)


@pytest.mark.parametrize(("text", "says"), [
    ("plan support-agent prod 5k", "Say until when the plan holds"),
    ("plan support-agent prod 0 until 2099-01-01", "An envelope must be more than 0"),
    ("plan support-agent prod 5k until friday", "'friday' is not a date"),
    ("plan support-agent prod 5k until 2020-01-01", "which has passed"),
    (f"plan support-agent prod 5k until {until(200)}", "at most 90 days"),
    ("plan lab dev 5k until 2099-01-01", "No project called 'lab'"),  # not seen from here
    ("plan support-agent staging 5k until 2099-01-01", "Or give * for every environment"),
])
def test_a_plan_that_cannot_be_gets_the_reason_and_nothing_is_stored(runtime, stub, text, says):
    answer = cost(runtime, stub, text, user=DEV, channel=SUPPORT)
    assert says in answer
    assert stored(runtime, Plan) == [] and stored(runtime, AuditLog) == []


def test_the_help_lists_the_plan_forms(runtime, stub):
    helped = cost(runtime, stub, "help", user=DEV, channel=SUPPORT)
    assert "`/cost plan &lt;project&gt; &lt;environment|*&gt; &lt;amount&gt; until " in helped
    assert "`/cost plans [all]`" in helped


@pytest.mark.parametrize(("typed", "block", "says"), [
    ({"plan_envelope": "lots"}, "plan_envelope", "'lots' is not an amount"),
    ({"plan_envelope": "0"}, "plan_envelope", "An envelope must be more than 0"),
    ({"plan_until": "2020-01-01"}, "plan_until", "which has passed"),
])
def test_a_bad_plan_in_the_expected_form_is_shown_under_its_box(runtime, typed, block, says):
    state = {"plan_envelope": "500", "plan_until": until(7), **typed}
    values = {"reason": {"reason": plain_text_value("The quarterly load test")},
              "plan_scope": {"plan_scope": static_select_value("workload")},
              "plan_envelope": {"plan_envelope": plain_text_value(state["plan_envelope"])},
              "plan_until": {"plan_until": {"type": "datepicker",
                                            "selected_date": state["plan_until"]}}}
    meta = '{"v": 1, "anomaly_id": 999999, "step_id": "expected", "channel": "C0SUPPORT"}'
    body = view_submission_body(callback_id=CallbackId.EXPECTED_REASON.value,
                                private_metadata=meta, values=values, user_id=DEV)
    status, _, text = post(f"http://127.0.0.1:{runtime.http_port}/slack/events", body,
                           sign(body, SECRET))
    answer = json.loads(text)
    assert status == 200 and answer["response_action"] == "errors"
    assert list(answer["errors"]) == [block]
    assert says in answer["errors"][block]
    assert stored(runtime, Plan) == []
