"""Budget alerts: what they say, and that each reaches the owner and finance once, over Slack."""

from __future__ import annotations

import time
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bot.finance.alerting import budget_text
from bot.finance.budgets import Budget, BudgetNews, BudgetStatus
from bot.finance.burn import BurnRate
from bot.runner import Mode, Runtime
from bot.scheduler import poll
from bot.settings import parse_settings
from bot.wiring import build_services
from tests.support.cost_points import put_points
from tests.support.slack_stub import SlackApiStub

NOV = datetime(2026, 11, 1, tzinfo=UTC)
BOT, SECRET = "xoxb-1-2-budgets", "s3cr3t-signing"


def news(**changes: object) -> BudgetNews:
    budget = Budget(project="support-agent", environment="prod", amount=25_000, start=NOV,
                    end=NOV + timedelta(days=30), thresholds=(50, 80, 100), monthly=True)
    status = BudgetStatus(
        budget=budget, as_of=NOV + timedelta(days=20, hours=14), spent=20_500, last_24h=1_200,
        forecast=31_000, forecast_low=29_000, forecast_high=33_500,
        burn=BurnRate(hours_left=90, runs_out_at=NOV + timedelta(days=24, hours=8),
                      hourly_rate=50),
        crossings=())
    fields = {"status": status, "actual": (80,), "forecast": (100,), "burn": True,
              "owner": "team-support", **changes}
    return BudgetNews(**fields)  # type: ignore[arg-type]


def test_the_alert_says_what_was_passed_the_figures_and_what_to_do() -> None:
    assert budget_text(news()).splitlines() == [
        "Budget support-agent · prod (November 2026, $25,000.00): spend passed 80 %; the "
        "forecast passed 100 %; it runs out before the period ends.",
        "Spent $20,500.00 (82.0 %) as of Nov 21 14:00 UTC.",
        "Forecast for the period: $31,000.00 (124.0 %; 80 % interval $29,000.00 to "
        "$33,500.00).",
        "At the last 24 hours' rate ($50.00 an hour) this budget is gone in 90 hours, by "
        "Nov 25 08:00 UTC.",
        "Owner: team-support. See `/cost support-agent prod mtd`; FinOps can change it with "
        "`/cost budget set support-agent prod AMOUNT`.",
    ]


def test_several_thresholds_at_once_read_as_one_sentence() -> None:
    first = budget_text(news(actual=(50, 80, 100), forecast=(), burn=False)).splitlines()[0]
    assert first.endswith(": spend passed 50 %, 80 % and 100 %.")


def test_a_spent_budget_says_so_without_a_countdown() -> None:
    spent = news(burn=True, forecast=())
    status = spent.status
    gone = BurnRate(hours_left=0, runs_out_at=status.as_of, hourly_rate=50)
    lines = budget_text(news(status=replace(status, spent=26_000, burn=gone), forecast=())
                        ).splitlines()
    assert lines[0].endswith("spend passed 80 %; it is spent.")
    assert not any("gone in" in line for line in lines)


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_a_crossing_reaches_the_owner_and_finance_once(database_url: str,
                                                       tmp_path: Path) -> None:
    settings = parse_settings({
        "database_url": database_url,
        "routing": {"default_channel": "C0FINOPS", "owners": {"team-web": "C0WEB"}},
        "finance": {"channel": "C0FINANCE"},
        "schedule": {"channel_pace_seconds": 0.01},
        "budgets": [{"project": "web", "environment": "prod", "monthly": 100}],
    })
    services = build_services(settings)
    # $3 an hour for two days: $144 of a $100 budget
    put_points(services.engine, [{"hour": NOV + timedelta(hours=h), "cost": 3.0}
                                 for h in range(48)])
    now = NOV + timedelta(days=2)
    with SlackApiStub(ts_base=int(time.time())) as stub:
        mode = Mode("http", bot_token=BOT, signing_secret=SECRET, api_url=stub.base_url)
        runtime = Runtime(services, mode, port=0, host="127.0.0.1", schedule=False).start()
        try:
            poll(services, platforms=("slack",), now=now)
            runtime.deliverer.drain(timeout=30)
            poll(services, platforms=("slack",), now=now + timedelta(hours=1))
            runtime.deliverer.drain(timeout=30)
        finally:
            runtime.stop()
            services.close()
    posts = [c for c in stub.calls_to("chat.postMessage")
             if c.ok and c.params["text"].startswith("Budget")]  # new spend is an anomaly too
    assert sorted(c.params["channel"] for c in posts) == ["C0FINANCE", "C0WEB"]
    for post in posts:
        assert post.params["text"].startswith(
            "Budget web · prod (November 2026, $100.00): spend passed 50 %, 80 % and 100 %;")
        assert "Spent $144.00 (144.0 %)" in post.params["text"]
