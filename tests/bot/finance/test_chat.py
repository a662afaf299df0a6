"""``/cost budget``: parsed strictly, answered within the channel's scope, set by FinOps only."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import col, select

from bot.anomaly.access import NotAllowed, NothingChanged
from bot.costs.command import CostCommandError, HelpAnswer, Scope
from bot.costs.views import format_mrkdwn, format_plain
from bot.finance.budgets import evaluate_budgets
from bot.finance.chat import (
    SET_USAGE,
    BudgetListAnswer,
    BudgetListQuery,
    BudgetSetAnswer,
    BudgetSetQuery,
    asks_budget,
    parse,
    parse_amount,
    respond,
)
from bot.settings import Settings, parse_settings
from storage.db import session_scope
from storage.models import AuditLog, BudgetChange
from tests.support.cost_points import put_points

NOV = datetime(2026, 11, 1, tzinfo=UTC)
NOW = NOV + timedelta(days=12)  # the data ends Nov 11 00:00: figures are as of then
FINOPS = "U0FINOPS"
sqlite_only = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)


def hourly(start: datetime, days: float, per_hour: float, **series: Any) -> list[dict[str, Any]]:
    return [{"hour": start + timedelta(hours=h), "cost": per_hour, **series}
            for h in range(int(days * 24))]


def configured(settings: Settings, budgets: list[dict[str, Any]] | None = None) -> Settings:
    return parse_settings({
        "database_url": settings.database_url, "routing": {"finops": [FINOPS]},
        "budgets": [{"project": "web", "environment": "prod", "monthly": 1000}]
        if budgets is None else budgets})


@pytest.fixture
def store(engine: Engine) -> Engine:
    """web/prod ($2 an hour since October, budgeted), lab/dev (a pilot in the build phase,
    no budget) and search/prod (running, no budget), each with its own owner."""
    put_points(engine, hourly(NOV - timedelta(days=31), 41, 2.0)  # web, to Nov 10 23:00
               + hourly(NOV, 10, 1.0, project="lab", environment="dev", owner="team-lab",
                        phase="build")
               + hourly(NOV, 10, 0.5, project="search", owner="team-search"))
    return engine


def ask(engine: Engine, settings: Settings, text: str, *, scope: Scope | None = None,
        user: str = FINOPS, now: datetime = NOW) -> Any:
    with session_scope(engine) as session:
        return respond(text, db_session=session, settings=settings,
                       scope=scope or Scope.everything(), user=user, now=now)


def audit(engine: Engine) -> list[AuditLog]:
    with session_scope(engine) as session:
        rows = session.exec(select(AuditLog).order_by(col(AuditLog.id))).all()
        for row in rows:
            session.expunge(row)
        return list(rows)


# -- parsing ------------------------------------------------------------------------------------


@pytest.mark.parametrize(("typed", "amount"), [
    ("25000", 25000.0), ("25,000", 25000.0), ("25k", 25000.0), ("$25k", 25000.0),
    ("$25K", 25000.0), ("1,250.50", 1250.5), ("1.5m", 1_500_000.0), ("0.5k", 500.0),
    ("99.999", 100.0),
])
def test_amounts_read_as_people_type_them(typed, amount):
    assert parse_amount(typed) == pytest.approx(amount)


@pytest.mark.parametrize(("typed", "says"), [
    ("0", "more than 0"), ("0k", "more than 0"), ("$0.00", "more than 0"),
    ("-500", "more than 0"), ("$-5k", "more than 0"),
    ("nan", "'nan' is not an amount"), ("inf", "not an amount"), ("1e6", "not an amount"),
    ("2,50,000", "not an amount"), ("25,00", "not an amount"), ("25kk", "not an amount"),
    ("lots", "not an amount"), ("$", "not an amount"), ("25k$", "not an amount"),
    ("€25k", "Amounts are in USD, not €"), ("9" * 20, "more than any budget"),
])
def test_a_bad_amount_says_what_was_wrong_and_what_to_type(typed, says):
    with pytest.raises(CostCommandError) as raised:
        parse_amount(typed)
    assert says in str(raised.value) and "25k" in str(raised.value)


def test_the_store_currency_symbol_is_the_one_accepted():
    assert parse_amount("€25k", currency="EUR") == 25000
    with pytest.raises(CostCommandError, match="in EUR, not \\$"):
        parse_amount("$25k", currency="EUR")


@pytest.mark.parametrize(("words", "query"), [
    ([], BudgetListQuery()),
    (["search"], BudgetListQuery("search")),
    (["set", "search", "prod", "25k"], BudgetSetQuery("search", "prod", 25000.0)),
    (["SET", "search", "*", "$1,000"], BudgetSetQuery("search", "*", 1000.0)),
])
def test_budget_words_parse_into_queries(words, query):
    assert parse(words) == query


@pytest.mark.parametrize(("words", "says"), [
    (["set"], "Give the project, the environment"),
    (["set", "search", "prod"], "Give the project, the environment"),
    (["set", "search", "prod", "25k", "now"], "Give the project, the environment"),
    (["set", "search", "25k"], "Name the environment before the amount"),
    (["search", "prod"], "Name one project, or none"),
])
def test_budget_words_in_the_wrong_shape_get_the_usage(words, says):
    with pytest.raises(CostCommandError) as raised:
        parse(words)
    assert says in str(raised.value)


def test_only_budget_texts_are_budget_questions():
    assert asks_budget("budget") and asks_budget("Budgets web") and asks_budget(" budget set")
    assert not asks_budget("") and not asks_budget("budgetbot") and not asks_budget("top")


# -- reading ------------------------------------------------------------------------------------


@sqlite_only
def test_the_finops_channel_sees_each_budget_with_its_figures_and_the_pilots(store, settings):
    settings = configured(settings)
    with session_scope(store) as session:
        evaluate_budgets(db_session=session, settings=settings, now=NOW)

    found = ask(store, settings, "budget")

    assert isinstance(found, BudgetListAnswer)
    [web] = found.statuses
    assert (web.budget.label, web.budget.amount) == ("web · prod", 1000)
    assert web.spent == pytest.approx(480.0) and web.forecast == pytest.approx(1440.0)
    assert [p.project for p in found.pilots] == ["lab"]
    text = format_plain(found)
    assert "web · prod · November 2026: $1,000.00" in text
    assert "Spent $480.00 (48.0 %) · forecast $1,440.00 (144.0 %) at the period's end" in text
    # $520 left at $2 an hour: 260 hours, before November's 480 hours left
    assert "At the last 24 hours' rate this budget is gone in 260 hours (Nov 21 20:00 UTC)" \
        in text
    assert "Crossed: 50 %, 80 %, 100 % by the forecast (Nov 11 00:00 UTC)\n" in text
    assert "Pilots without a ceiling" in text and "lab (build; dev): $240.00 in 30 days" in text
    assert "search" not in text  # running, not a pilot, no budget


@sqlite_only
def test_an_owner_channel_sees_only_its_projects_and_others_read_as_missing(store, settings):
    settings = configured(settings)
    lab_channel = Scope.of_owners({"team-lab"})

    found = ask(store, settings, "budget", scope=lab_channel)
    hidden = ask(store, settings, "budget web", scope=lab_channel)
    missing = ask(store, settings, "budget qqqq", scope=lab_channel)

    assert isinstance(found, BudgetListAnswer) and found.statuses == ()
    assert [p.project for p in found.pilots] == ["lab"]
    assert "web" not in format_plain(found)
    assert isinstance(hidden, HelpAnswer) and isinstance(missing, HelpAnswer)
    assert hidden.problem == (missing.problem or "").replace("'qqqq'", "'web'")
    assert "projects you can see: lab." in (hidden.problem or "")
    web_channel = ask(store, settings, "budget", scope=Scope.of_owners({"team-web"}))
    assert [s.budget.project for s in web_channel.statuses] == ["web"]
    assert web_channel.pilots == ()  # lab is not theirs


@sqlite_only
def test_one_project_is_found_by_a_near_name(store, settings):
    settings = configured(settings)
    exact = ask(store, settings, "budget WEB")
    typo = ask(store, settings, "budget wbe")

    assert isinstance(exact, BudgetListAnswer) and exact.project == "web"
    assert [s.budget.project for s in exact.statuses] == ["web"] and exact.pilots == ()
    assert isinstance(typo, HelpAnswer) and "did you mean 'web'" in (typo.problem or "")


@sqlite_only
def test_nothing_configured_says_how_to_set_a_budget(store, settings):
    settings = configured(settings, budgets=[])

    text = format_plain(ask(store, settings, "budget"))

    assert "No budget yet. FinOps sets one with " + SET_USAGE in text
    assert "under budgets: in the config" in text
    assert "lab (build; dev)" in text  # the pilot is still reported


# -- setting ------------------------------------------------------------------------------------


def test_a_finops_user_sets_a_budget_audited_and_told_old_and_new(store, settings):
    settings = configured(settings)

    done = ask(store, settings, "budget set web production $2k")  # an alias of prod

    assert isinstance(done, BudgetSetAnswer)
    assert (done.budget.project, done.budget.environment, done.budget.amount) == (
        "web", "prod", 2000)
    assert done.previous == 1000 and done.spent == pytest.approx(480.0)
    assert done.above == (50, 80, 100) and done.below == ()
    [entry] = audit(store)
    assert (entry.action, entry.actor, entry.subject_id) == ("budget.set", FINOPS,
                                                             "web/prod/monthly")
    assert entry.detail == {"monthly": 2000, "previous": 1000}
    text = format_plain(done)
    assert "Budget set: web · prod, $2,000.00 a month ($1,000.00 → $2,000.00)" in text
    assert "$480.00 spent so far (24.0 % of the new amount)" in text
    assert "Thresholds above that spend (50 %, 80 %, 100 %) alert" in text
    listed = ask(store, settings, "budget web", now=NOW + timedelta(minutes=1))
    assert listed.statuses[0].budget.amount == 2000
    assert "set in chat by U0FINOPS" in format_plain(listed)

    with pytest.raises(NothingChanged, match="already \\$2,000.00"):
        ask(store, settings, "budget set web prod 2,000", now=NOW + timedelta(minutes=2))
    assert len(audit(store)) == 1


@sqlite_only
def test_every_environment_and_a_lowered_budget_say_what_is_already_past(store, settings):
    settings = configured(settings)

    done = ask(store, settings, "budget set lab * 300")

    assert isinstance(done, BudgetSetAnswer)
    assert (done.budget.environment, done.previous) == ("*", None)
    assert done.below == (50, 80) and done.above == (100,)  # $240 of $300
    text = format_plain(done)
    assert "lab · all environments, $300.00 a month (none before)" in text
    assert "Already past: 50 %, 80 %." in text
    assert "lab" not in [p.project for p in ask(store, settings, "budget").pilots]


@sqlite_only
def test_someone_outside_finops_is_refused_and_nothing_is_stored(store, settings):
    settings = configured(settings)

    with pytest.raises(NotAllowed) as refused:
        ask(store, settings, "budget set web prod 5k", user="U0DEV")
    with pytest.raises(NotAllowed):  # refused before the words are even read
        ask(store, settings, "budget set whatever", user="U0DEV")

    assert "only FinOps (the people in routing.finops) may set budgets" in str(refused.value)
    assert audit(store) == []
    with session_scope(store) as session:
        assert session.exec(select(BudgetChange)).all() == []
    nobody = configured(settings).model_copy(update={
        "routing": settings.routing.model_copy(update={"finops": []})})
    with pytest.raises(NotAllowed, match="routing.finops lists no one"):
        ask(store, nobody, "budget set web prod 5k")


@sqlite_only
@pytest.mark.parametrize(("text", "says"), [
    ("budget set wbe prod 5k", "No project called 'wbe' — did you mean 'web'?"),
    ("budget set web prdo 5k", "No environment called 'prdo' in web — did you mean 'prod'?"),
    ("budget set web staging 5k", "environments you can see in web: prod. Or give * for "
                                  "every environment of web."),
    ("budget set web prod -5k", "A budget must be more than 0, not '-5k'"),
    ("budget set web prod nan", "'nan' is not an amount"),
    ("budget set web prod 0", "A budget must be more than 0"),
])
def test_a_mistake_in_set_gets_the_problem_and_the_usage(store, settings, text, says):
    settings = configured(settings)

    found = ask(store, settings, text)

    assert isinstance(found, HelpAnswer) and says in (found.problem or "")
    assert SET_USAGE in format_plain(found)  # the help lists the budget forms
    assert audit(store) == []


@sqlite_only
def test_a_project_outside_the_channel_cannot_be_set_from_there(store, settings):
    settings = configured(settings)

    found = ask(store, settings, "budget set web prod 5k", scope=Scope.of_owners({"team-lab"}))

    assert isinstance(found, HelpAnswer) and "No project called 'web'" in (found.problem or "")
    assert audit(store) == []


@sqlite_only
def test_names_from_tags_cannot_ping_a_slack_channel(engine, settings):
    settings = configured(settings, budgets=[{"project": "<!channel>", "monthly": 10}])
    put_points(engine, hourly(NOV, 2, 1.0, project="<!channel>", environment="<@U1>",
                              phase="build"))

    text = format_mrkdwn(ask(engine, settings, "budget", now=NOV + timedelta(days=3)))

    assert "&lt;!channel&gt; · all environments" in text
    assert "<!channel>" not in text and "<@U1>" not in text
    later = NOV + timedelta(days=3)
    done = format_mrkdwn(ask(engine, settings, "budget set <!channel> * 20", now=later))
    typed = format_mrkdwn(ask(engine, settings, "budget set <!here> * 20", now=later))
    assert "*Budget set*: *&lt;!channel&gt; · all environments*" in done and "<!" not in done
    assert "No project called '&lt;!here&gt;'" in typed and "<!here>" not in typed
    assert "`/cost budget set &lt;project&gt; &lt;environment|*&gt; &lt;amount&gt;`" in typed


@sqlite_only
def test_a_budget_on_a_project_without_spend_shows_in_the_finops_channel_only(store, settings):
    settings = configured(settings, budgets=[
        {"project": "launch", "monthly": 800},
        {"project": "web", "environment": "prod", "monthly": 1000}])

    finops = ask(store, settings, "budget")
    owners = ask(store, settings, "budget", scope=Scope.of_owners({"team-web"}))
    asked = ask(store, settings, "budget launch")

    assert [s.budget.project for s in finops.statuses] == ["web", "launch"]  # nearest first
    assert [s.budget.project for s in owners.statuses] == ["web"]
    assert "Spent $0.00 (0.0 %)" in format_plain(asked)


@sqlite_only
def test_a_budget_set_before_the_months_first_data_reads_nothing_spent(store, settings):
    settings = configured(settings)
    december = datetime(2026, 12, 1, 0, 30, tzinfo=UTC)  # the newest data is from November

    done = ask(store, settings, "budget set web prod 3k", now=december)

    assert isinstance(done, BudgetSetAnswer) and done.spent == 0
    assert done.budget.period_label == "December 2026" and done.above == (50, 80, 100)
