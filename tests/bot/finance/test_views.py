"""What ``/cost budget`` says about one budget, from its figures alone."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

from bot.costs.views import format_mrkdwn, format_plain
from bot.finance.budgets import Budget, BudgetStatus, Crossing
from bot.finance.burn import BurnRate
from bot.finance.chat import BudgetListAnswer

NOV = datetime(2026, 11, 1, tzinfo=UTC)
AT = NOV + timedelta(days=15)
BUDGET = Budget(project="search", environment="*", amount=10_000, start=NOV,
                end=NOV + timedelta(days=30), thresholds=(50, 80, 100), monthly=True)


def status(**changes: object) -> BudgetStatus:
    base = BudgetStatus(budget=BUDGET, as_of=AT, spent=5_500, last_24h=400, forecast=9_000,
                        forecast_low=8_000, forecast_high=10_500, burn=None, crossings=())
    return replace(base, **changes)


def shown(*statuses: BudgetStatus, total: int | None = None) -> str:
    return format_plain(BudgetListAnswer(statuses, total or len(statuses), (), 0))


def test_a_budget_says_spend_forecast_and_its_interval():
    text = shown(status())

    assert "• search · all environments · November 2026: $10,000.00" in text
    assert ("Spent $5,500.00 (55.0 %) · forecast $9,000.00 (90.0 %) at the period's end, "
            "80 % likely $8,000.00 to $10,500.00") in text
    assert "Crossed" not in text and "gone in" not in text  # it lasts the period


def test_thresholds_crossed_are_said_with_when_and_by_what():
    crossings = (Crossing(50, "forecast", NOV + timedelta(days=3), 1_500, 5_100),
                 Crossing(80, "forecast", NOV + timedelta(days=3), 1_500, 8_100),
                 Crossing(50, "actual", NOV + timedelta(days=14, hours=9), 5_000, 9_000),
                 Crossing(0, "burn", NOV + timedelta(days=14), 5_000, 9_000))

    text = shown(status(crossings=crossings))

    assert text.endswith("Crossed: 50 %, 80 % by the forecast (Nov 4 00:00 UTC); 50 % by "
                         "spend (Nov 15 09:00 UTC)")  # the pace has a sentence of its own


def test_a_pace_that_empties_the_budget_early_is_said_and_a_spent_one_is_used_up():
    early = status(burn=BurnRate(hours_left=1.4, runs_out_at=AT + timedelta(hours=1.4),
                                 hourly_rate=3_200))
    gone = status(spent=10_200, burn=BurnRate(hours_left=0, runs_out_at=AT, hourly_rate=10))
    soon = status(burn=BurnRate(hours_left=0.4, runs_out_at=AT, hourly_rate=10))

    assert ("At the last 24 hours' rate this budget is gone in 1 hour (Nov 16 01:24 UTC), "
            "before the period ends.") in shown(early)
    assert "This budget is used up." in shown(gone) and "gone in" not in shown(gone)
    assert "gone in less than an hour" in shown(soon)


def test_no_forecast_says_why_and_a_long_list_says_how_many_more():
    text = shown(status(forecast=None, forecast_low=None, forecast_high=None,
                        forecast_note="needs 14 days of history, has 3"), total=30)

    assert "Spent $5,500.00 (55.0 %) · no forecast yet (needs 14 days of history, has 3)" in text
    assert "…and 29 more" in text


def test_who_set_it_in_chat_is_escaped_in_slack():
    text = format_mrkdwn(BudgetListAnswer(
        (status(budget=replace(BUDGET, set_by="<!here>")),), 1, (), 0))

    assert "set in chat by &lt;!here&gt;" in text and "<!here>" not in text
