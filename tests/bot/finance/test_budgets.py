"""Budgets: which apply, their figures on hand-checked series, and thresholds that alert once."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import col, select

from bot.finance.budgets import (
    Basis,
    BudgetNews,
    active_budgets,
    budget_statuses,
    evaluate_budgets,
    month_bounds,
    pilots_without_budget,
    set_budget,
)
from bot.settings import ConfigError, Settings, parse_settings
from storage.db import session_scope
from storage.models import AuditLog, BudgetCrossing
from tests.support.cost_points import put_points

NOV = datetime(2026, 11, 1, tzinfo=UTC)


def hourly(start: datetime, days: float, per_hour: float, **series: Any) -> list[dict[str, Any]]:
    return [{"hour": start + timedelta(hours=h), "cost": per_hour, **series}
            for h in range(int(days * 24))]


def with_budgets(settings: Settings, budgets: list[dict[str, Any]], **finance: Any) -> Settings:
    data = {"database_url": settings.database_url, "budgets": budgets, "finance": finance}
    return parse_settings(data)


def evaluate(engine: Engine, settings: Settings, now: datetime) -> list[BudgetNews]:
    with session_scope(engine) as session:
        return evaluate_budgets(db_session=session, settings=settings, now=now)


def stored(engine: Engine) -> set[tuple[str, float, float]]:
    with session_scope(engine) as session:
        return {(c.basis, c.threshold, c.amount)
                for c in session.exec(select(BudgetCrossing)).all()}


def test_thresholds_fire_once_per_period_and_a_raised_budget_rearms(
        engine: Engine, settings: Settings) -> None:
    settings = with_budgets(settings, [{"project": "web", "environment": "prod",
                                        "monthly": 1000}])
    # $2 an hour since October 1: $48 a day, the same every day
    put_points(engine, hourly(NOV - timedelta(days=31), 41, 2.0))  # to Nov 10 23:00
    news = evaluate(engine, settings, now=NOV + timedelta(days=12))  # data ends Nov 11 00:00
    [first] = news
    status = first.status
    assert status.as_of == NOV + timedelta(days=10)
    assert status.spent == pytest.approx(480.0)  # ten days of $48: 48 %
    # each of the 20 days left spends what its weekday spent last week: $48
    assert status.forecast == pytest.approx(480 + 20 * 48)
    assert (first.actual, first.forecast) == ((), (50, 80, 100))
    # $520 left at $2 an hour lasts 260 hours, before the 480 hours left in November
    assert first.burn and status.burn is not None
    assert status.burn.hours_left == pytest.approx(260.0)
    assert first.owner == "team-web"

    assert evaluate(engine, settings, now=NOV + timedelta(days=12)) == []  # nothing new

    put_points(engine, hourly(NOV + timedelta(days=10), 1, 2.0))  # Nov 11: $528, 52.8 %
    [second] = evaluate(engine, settings, now=NOV + timedelta(days=12))
    assert (second.actual, second.forecast, second.burn) == ((50,), (), False)

    with session_scope(engine) as session:
        raised = set_budget(db_session=session, settings=settings, project="web",
                            environment="prod", monthly=2000, actor="U0FINOPS",
                            now=NOV + timedelta(days=12))
    assert (raised.amount, raised.set_by) == (2000, "U0FINOPS")
    # 528 of 2000 is 26.4 %, the forecast 1440 is 72 %, and $1,472 lasts 736 hours: what the
    # new amount no longer reaches re-arms; the forecast's 50 % still holds
    assert evaluate(engine, settings, now=NOV + timedelta(days=12)) == []
    assert stored(engine) == {(Basis.FORECAST, 50, 1000)}

    put_points(engine, hourly(NOV + timedelta(days=11), 1, 45.0))  # Nov 12: $1,080
    [third] = evaluate(engine, settings, now=NOV + timedelta(days=13))
    assert third.status.spent == pytest.approx(1608.0)  # 80.4 % of 2000
    assert third.actual == (50, 80)
    assert third.forecast == (80, 100)
    assert third.burn  # $392 left at $45 an hour: under nine hours
    with session_scope(engine) as session:
        entries = session.exec(select(AuditLog).order_by(col(AuditLog.id))).all()
        actions = [entry.action for entry in entries]
    assert actions == ["budget.set", "budget.rearmed"]


def test_a_new_month_starts_with_every_threshold_armed(engine: Engine,
                                                       settings: Settings) -> None:
    settings = with_budgets(settings, [{"project": "web", "environment": "prod",
                                        "monthly": 100, "thresholds": [50]}])
    put_points(engine, hourly(NOV - timedelta(days=2), 2, 3.0))  # Oct 30-31: $144
    [october] = evaluate(engine, settings, now=NOV)
    assert october.actual == (50,) and october.status.budget.start == NOV - timedelta(days=31)
    put_points(engine, hourly(NOV, 1, 3.0))  # Nov 1: $72
    [november] = evaluate(engine, settings, now=NOV + timedelta(days=1))
    assert november.actual == (50,) and november.status.budget.start == NOV
    assert november.status.spent == pytest.approx(72.0)


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_statuses_read_as_of_the_newest_data(engine: Engine, settings: Settings) -> None:
    settings = with_budgets(settings, [
        {"project": "web", "monthly": 10_000},  # every environment
        {"project": "web", "environment": "prod", "amount": 50, "start": "2026-11-01",
         "end": "2026-11-03"},
        {"project": "web", "environment": "prod", "amount": 50, "start": "2026-10-01",
         "end": "2026-10-03"},  # over: not active
    ])
    put_points(engine, hourly(NOV, 2, 1.0) + hourly(NOV, 2, 1.0, environment="dev"))
    with session_scope(engine) as session:
        statuses = budget_statuses(db_session=session, settings=settings,
                                   now=NOV + timedelta(days=2, hours=5))
    assert [(s.budget.key, s.spent) for s in statuses] == [
        ("web/*/monthly", 96.0), ("web/prod/2026-11-01", 48.0)]
    custom = statuses[1]
    assert custom.budget.end == NOV + timedelta(days=3)
    assert custom.budget.period_label == "Nov 1 to Nov 3 2026"
    assert custom.percent_spent == pytest.approx(96.0)
    assert custom.as_of == NOV + timedelta(days=2)
    assert custom.forecast is not None and custom.forecast >= custom.spent


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_a_budget_set_in_chat_applies_without_config(engine: Engine, settings: Settings) -> None:
    with session_scope(engine) as session:
        budget = set_budget(db_session=session, settings=settings, project="lab",
                            environment="dev", monthly=300, actor="U1", now=NOV)
        again = active_budgets(db_session=session, settings=settings, now=NOV + timedelta(days=40))
    assert (budget.amount, budget.thresholds, budget.monthly) == (300, (50, 80, 100), True)
    assert [(b.key, b.start) for b in again] == [("lab/dev/monthly", datetime(2026, 12, 1,
                                                                              tzinfo=UTC))]


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_pilots_without_a_ceiling_are_reported(engine: Engine, settings: Settings) -> None:
    settings = with_budgets(settings, [{"project": "web", "monthly": 1000}],
                            pilot_projects=["agents"])
    put_points(engine, hourly(NOV, 1, 1.0, project="lab", environment="dev", phase="build")
               + hourly(NOV, 1, 1.0, project="web", environment="dev", phase="build")
               + hourly(NOV, 1, 2.0, project="agents", environment="prod", phase="run")
               + hourly(NOV, 1, 5.0, project="search", environment="prod", phase="run"))
    with session_scope(engine) as session:
        pilots = pilots_without_budget(db_session=session, settings=settings,
                                       now=NOV + timedelta(days=1))
    assert [(p.project, p.environments, p.spend_30d) for p in pilots] == [
        ("agents", ("prod",), 48.0), ("lab", ("dev",), 24.0)]


def test_month_bounds_wrap_the_year() -> None:
    assert month_bounds(datetime(2026, 12, 31, 23, tzinfo=UTC)) == (
        datetime(2026, 12, 1, tzinfo=UTC), datetime(2027, 1, 1, tzinfo=UTC))


@pytest.mark.parametrize(("budget", "says"), [
    ({"project": "p", "monthly": 10, "amount": 5}, "either monthly"),
    ({"project": "p"}, "either monthly"),
    ({"project": "p", "amount": 5, "start": "2026-11-01"}, "amount needs start"),
    ({"project": "p", "amount": 5, "start": "2026-11-05", "end": "2026-11-01"}, "before start"),
    ({"project": "p", "monthly": 10, "end": "2026-11-01"}, "not with monthly"),
    ({"project": "p", "monthly": 10, "thresholds": [80, 0]}, "above 0"),
    ({"project": "p", "monthly": -1}, "budgets.0.monthly"),
])
def test_a_wrong_budget_is_refused_with_its_key(budget: dict[str, Any], says: str) -> None:
    with pytest.raises(ConfigError, match=says):
        parse_settings({"budgets": [budget]})


def test_two_budgets_for_one_period_are_refused() -> None:
    with pytest.raises(ConfigError, match="two budgets are set for p/prod"):
        parse_settings({"budgets": [{"project": "p", "environment": "prod", "monthly": 1},
                                    {"project": "p", "environment": "prod", "monthly": 2}]})


def test_finance_posts_go_to_the_finance_channel_or_the_default() -> None:
    plain = parse_settings({"routing": {"default_channel": "C0FIN", "teams": {"default": "19:x"}}})
    assert (plain.finance_channel("slack"), plain.finance_channel("teams")) == ("C0FIN", "19:x")
    own = parse_settings({"finance": {"channel": "C0CFO", "digest": {"day": "Friday"}}})
    assert own.finance_channel("slack") == "C0CFO" and own.finance.digest.day == "friday"
