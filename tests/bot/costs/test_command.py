"""``/cost``: the grammar, answers from a small store on both databases, scope, rendering."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.engine import Engine
from sqlmodel import Session

from bot.costs.command import (
    AnomaliesAnswer,
    AnomaliesQuery,
    CostCommandError,
    DaySpend,
    HelpAnswer,
    HelpQuery,
    ProjectCostAnswer,
    ProjectCostQuery,
    RunbookAnswer,
    RunbookQuery,
    Scope,
    SpendLine,
    TopAnswer,
    TopQuery,
    parse,
    respond,
)
from bot.costs.periods import period_for
from bot.costs.views import format_mrkdwn, format_plain, sparkline
from bot.ingest.service import ingest_path
from bot.settings import Settings
from storage.models import Anomaly, CostPoint, RunbookEntry
from tests.support.focus_files import write_focus_csv

APRIL = datetime(2025, 4, 1, tzinfo=UTC)  # the store holds April 1 to 14; newest hour 14 23:00
EVERYTHING = Scope.everything()
WEB_TEAM = Scope.of_owners({"team-web"})

# --- parse ------------------------------------------------------------------------------------


@pytest.mark.parametrize(("text", "query"), [
    ("web", ProjectCostQuery("web")),
    ("  web   prod  ", ProjectCostQuery("web", "prod")),
    ("web 30d", ProjectCostQuery("web", None, "30d")),
    ("web prod MTD", ProjectCostQuery("web", "prod", "mtd")),
    ("web 30d prod", ProjectCostQuery("web", "prod", "30d")),
    ("<!channel>", ProjectCostQuery("<!channel>")),
    ("top", TopQuery(5, "7d")),
    ("TOP 10", TopQuery(10, "7d")),
    ("top 30d", TopQuery(5, "30d")),
    ("top 25 mtd", TopQuery(25, "mtd")),
    ("top mtd 3", TopQuery(3, "mtd")),
    ("anomalies", AnomaliesQuery()),
    ("Anomalies", AnomaliesQuery()),
    ("runbook web", RunbookQuery("web")),
    ("help", HelpQuery()),
    ("help me please", HelpQuery()),
])
def test_parse(text: str, query: object) -> None:
    assert parse(text) == query


@pytest.mark.parametrize(("text", "message"), [
    ("", "Nothing to look up"),
    ("   ", "Nothing to look up"),
    ("web prod 30d extra", "Too many words"),
    ("web 9y", "'9y' is not a period: use 7d, 30d or mtd"),
    ("web prod 14d", "'14d' is not a period"),
    ("web 7d 30d", "'30d' is one word too many"),
    ("web prod dev", "'dev' is one word too many"),
    ("7d", "'7d' is a period, not a project"),
    ("9y", "'9y' is not a period"),
    ("top 0", "1 to 25 projects"),
    ("top 26", "try `/cost top 25`"),
    ("top ten", "'ten' is neither a number of projects nor a period"),
    ("top 5 5", "'5' is neither"),
    ("top 3 ytd", "'ytd' is not a period"),
    ("top 5 7d 30d", "Too many words"),
    ("anomalies now", "takes no other words (got 'now')"),
    ("runbook", "`/cost runbook <project>`"),
    ("runbook web api", "Name one project"),
    ("x" * 100 + " 9y", "'9y' is not a period"),
])
def test_parse_refuses_with_what_to_do(text: str, message: str) -> None:
    with pytest.raises(CostCommandError) as info:
        parse(text)
    assert message in str(info.value)


def test_a_long_word_is_clipped_in_the_message() -> None:
    with pytest.raises(CostCommandError) as info:
        parse("top " + "z" * 500)
    assert len(str(info.value)) < 150


# --- a small store ----------------------------------------------------------------------------


def _daily(day: int, cost: float, *, project: str = "support-agent", environment: str = "prod",
           owner: str = "team-support", service: str = "Amazon Bedrock") -> dict[str, str]:
    start = APRIL + timedelta(days=day)
    return {
        "ChargePeriodStart": f"{start:%Y-%m-%dT%H:%M:%SZ}",
        "ChargePeriodEnd": f"{start + timedelta(days=1):%Y-%m-%dT%H:%M:%SZ}",
        "BilledCost": str(cost), "EffectiveCost": str(cost), "ServiceName": service,
        "Tags": json.dumps({"project": project, "environment": environment, "owner": owner}),
    }


def _rows() -> list[dict[str, str]]:
    rows = [_daily(d, 10.0 if d < 7 else 20.0) for d in range(14)]  # 70 before, 140 now
    rows += [_daily(d, 5.0, service="Amazon EC2") for d in range(14)]  # 35 and 35
    rows += [_daily(10, 7.0, service="Amazon S3"), _daily(3, 3.0, service="AmazonCloudWatch"),
             _daily(12, 2.0, service="Amazon SageMaker")]
    rows += [_daily(d, 1.0, service="AWS Data Transfer") for d in range(7, 14)]
    rows += [_daily(d, 1.0, environment="dev") for d in range(14)]
    rows += [_daily(d, 100.0, project="web", owner="team-web", service="Amazon EC2")
             for d in range(14)]
    rows.append(_daily(13, 4.0, project="<!channel>", owner="team-web"))
    return rows


@pytest.fixture
def store(engine: Engine, settings: Settings, tmp_path: Path) -> Engine:
    report = ingest_path(engine=engine, settings=settings,
                         path=write_focus_csv(tmp_path / "april.csv", _rows()))
    assert not report.failed
    with Session(engine) as session:
        for n, (project, owner, status) in enumerate([
            ("support-agent", "team-support", "open"), ("web", "team-web", "acknowledged"),
            ("web", "team-web", "resolved"), ("support-agent", "team-support", "expected"),
            ("web", "team-web", "open"),
        ]):
            started = APRIL + timedelta(days=10, hours=n)
            session.add(Anomaly(project=project, environment="prod", owner=owner, phase="run",
                                kind="spike", status=status, started_at=started,
                                detected_at=started + timedelta(hours=1),
                                last_seen_at=started + timedelta(hours=2),
                                impact_usd=100.0 + n, peak_hourly_usd=10.0))
        for n, project in enumerate(["support-agent", "web", "support-agent"]):
            session.add(RunbookEntry(project=project, environment="prod",
                                     service_name="Amazon Bedrock", root_cause=f"cause {n}",
                                     fix="capped retries", prevention="alert on retries",
                                     author="ana", created_at=APRIL + timedelta(days=n)))
        session.commit()
    return engine


def ask(engine: Engine, text: str, scope: Scope = EVERYTHING, **options: object) -> object:
    return respond(text, connection_or_engine=engine, scope=scope, **options)


# --- answers ----------------------------------------------------------------------------------


def test_project_cost_last_7_days(store: Engine) -> None:
    answer = ask(store, "support-agent prod")
    assert isinstance(answer, ProjectCostAnswer)
    assert (answer.project, answer.environment) == ("support-agent", "prod")
    assert answer.period == period_for("7d", as_of=APRIL + timedelta(days=14))
    assert answer.total.cost == pytest.approx(191.0)
    assert answer.total.previous == pytest.approx(108.0)
    assert [(s.name, round(s.cost, 2), round(s.previous, 2)) for s in answer.services] == [
        ("Amazon Bedrock", 140.0, 70.0), ("Amazon EC2", 35.0, 35.0),
        ("AWS Data Transfer", 7.0, 0.0), ("Amazon S3", 7.0, 0.0), ("Amazon SageMaker", 2.0, 0.0),
    ]
    assert answer.more_services == 1  # AmazonCloudWatch: nothing now, $3 before
    assert answer.services[0].change_pct == pytest.approx(100.0)
    assert answer.services[2].change_pct is None


def test_project_cost_days_cover_the_period(store: Engine) -> None:
    answer = ask(store, "support-agent")
    assert isinstance(answer, ProjectCostAnswer) and answer.environment is None
    assert [d.start for d in answer.days] == [APRIL + timedelta(days=d) for d in range(7, 14)]
    assert [round(d.cost, 2) for d in answer.days] == [27.0, 27.0, 27.0, 34.0, 27.0, 29.0, 27.0]
    assert answer.total.cost == pytest.approx(198.0)


@pytest.mark.parametrize(("text", "label", "previous"), [
    ("support-agent 30d", "last 30 days", 0.0),
    ("support-agent mtd", "month to date", 0.0),
])
def test_project_cost_longer_periods(store: Engine, text: str, label: str,
                                     previous: float) -> None:
    answer = ask(store, text)
    assert isinstance(answer, ProjectCostAnswer)
    assert answer.period.label == label
    assert answer.total.cost == pytest.approx(313.0)
    assert answer.total.previous == pytest.approx(previous)
    assert answer.total.change_pct is None
    assert sum(d.cost for d in answer.days) == pytest.approx(313.0)


def test_month_to_date_ending_mid_day_starts_with_a_short_day(store: Engine) -> None:
    answer = ask(store, "support-agent mtd", as_of=APRIL + timedelta(days=13, hours=12))
    assert isinstance(answer, ProjectCostAnswer)
    assert len(answer.days) == 14
    assert answer.days[0].end - answer.days[0].start == timedelta(hours=12)
    assert all(d.end - d.start == timedelta(days=1) for d in answer.days[1:])


def test_names_match_without_case(store: Engine) -> None:
    answer = ask(store, "SUPPORT-AGENT PROD")
    assert isinstance(answer, ProjectCostAnswer)
    assert (answer.project, answer.environment) == ("support-agent", "prod")


def test_the_environment_names_tags_use_find_the_canonical_one(store: Engine) -> None:
    aliases = Settings().allocation.environment_aliases
    answer = ask(store, "support-agent Production 30d", environment_aliases=aliases)
    assert isinstance(answer, ProjectCostAnswer)
    assert answer.environment == "prod"
    unknown = ask(store, "support-agent production")  # without the aliases: a clear miss
    assert isinstance(unknown, HelpAnswer) and "production" in (unknown.problem or "")


def test_top_projects(store: Engine) -> None:
    answer = ask(store, "top 2")
    assert isinstance(answer, TopAnswer)
    assert [p.name for p in answer.projects] == ["web", "support-agent"]
    assert answer.projects[0].cost == pytest.approx(700.0)
    assert answer.total.cost == pytest.approx(700.0 + 198.0 + 4.0)
    assert answer.project_count == 3


def test_top_n_totals_every_visible_project_not_only_those_listed(
    engine: Engine, settings: Settings, tmp_path: Path,
) -> None:
    rows = [_daily(d, 100.0, project="web", owner="team-web") for d in range(14)]
    rows += [_daily(d, 20.0, project="api", owner="team-web") for d in range(14)]
    rows += [_daily(10, 0.004, project=f"pennies-{n}", owner="team-web") for n in range(4)]
    rows.append(_daily(11, -0.003, project="refund", owner="team-web"))
    ingest_path(engine=engine, settings=settings,
                path=write_focus_csv(tmp_path / "april.csv", rows))
    answer = ask(engine, "top 1")
    assert isinstance(answer, TopAnswer)
    with engine.connect() as connection:
        stored = connection.execute(
            select(func.sum(CostPoint.effective_cost)).where(
                CostPoint.hour >= answer.period.start, CostPoint.hour < answer.period.end)
        ).scalar()
    assert stored == pytest.approx(840.013)
    assert answer.total.cost == pytest.approx(stored)
    assert [p.name for p in answer.projects] == ["web"]
    assert answer.project_count == 7
    assert format_plain(answer).splitlines()[0].endswith(
        ": $840.01 across 7 projects, +0.0% vs. the period before")


def test_open_anomalies_newest_first(store: Engine) -> None:
    answer = ask(store, "anomalies")
    assert isinstance(answer, AnomaliesAnswer)
    assert [(a.project, a.status) for a in answer.anomalies] == [
        ("web", "open"), ("web", "acknowledged"), ("support-agent", "open")]
    assert answer.total == 3
    assert answer.anomalies[0].impact_usd == pytest.approx(104.0)


def test_runbook_newest_first(store: Engine) -> None:
    answer = ask(store, "runbook support-agent")
    assert isinstance(answer, RunbookAnswer)
    assert [e.root_cause for e in answer.entries] == ["cause 2", "cause 0"]
    assert "Cause: cause 2" in format_plain(answer)


def test_an_engine_or_an_open_connection(store: Engine) -> None:
    with store.connect() as connection:
        assert ask(connection, "web") == ask(store, "web")


# --- what is not understood -------------------------------------------------------------------


@pytest.mark.parametrize(("text", "first_line"), [
    ("", "Nothing to look up"),
    ("web prod 30d extra", "Too many words"),
    ("web 9y", "'9y' is not a period"),
    ("suport-agent", "No project called 'suport-agent' — did you mean 'support-agent'? "
                     "Projects you can see: <!channel>, support-agent, web."),
    ("foo", "No project called 'foo' — projects you can see: <!channel>, support-agent, web."),
    ("web prd", "No environment called 'prd' in web — did you mean 'prod'?"),
    ("runbook nope", "No project called 'nope'"),
])
def test_garbage_gets_the_help_with_the_problem_first(store: Engine, text: str,
                                                      first_line: str) -> None:
    answer = ask(store, text)
    assert isinstance(answer, HelpAnswer)
    plain = format_plain(answer)
    assert plain.splitlines()[0].startswith(first_line)
    assert "/cost top [n] [7d|30d|mtd]" in plain


def test_an_empty_store_says_so(engine: Engine) -> None:
    answer = ask(engine, "top")
    assert isinstance(answer, HelpAnswer)
    assert "no cost data yet" in (answer.problem or "")
    assert isinstance(ask(engine, "anomalies"), AnomaliesAnswer)


# --- scope ------------------------------------------------------------------------------------


def test_a_hidden_project_reads_like_an_unknown_one(store: Engine) -> None:
    hidden = ask(store, "support-agent", WEB_TEAM)
    unknown = ask(store, "no-such-thing", WEB_TEAM)
    assert isinstance(hidden, HelpAnswer) and isinstance(unknown, HelpAnswer)
    assert (format_mrkdwn(hidden).replace("support-agent", "X")
            == format_mrkdwn(unknown).replace("no-such-thing", "X"))
    assert "support-agent" not in format_plain(unknown)
    assert isinstance(ask(store, "runbook support-agent", WEB_TEAM), HelpAnswer)


def test_top_and_anomalies_list_only_visible_projects(store: Engine) -> None:
    top = ask(store, "top 25 30d", WEB_TEAM)
    anomalies = ask(store, "anomalies", WEB_TEAM)
    assert isinstance(top, TopAnswer) and isinstance(anomalies, AnomaliesAnswer)
    assert [p.name for p in top.projects] == ["web", "<!channel>"]
    assert top.total.cost == pytest.approx(1404.0)
    assert {a.project for a in anomalies.anomalies} == {"web"}
    for text in (format_plain(top), format_plain(anomalies)):
        assert "support-agent" not in text


def test_a_scope_without_owners_sees_nothing(store: Engine) -> None:
    answer = ask(store, "web", Scope.of_owners([]))
    assert isinstance(answer, HelpAnswer)
    assert "there are no projects you can see yet" in (answer.problem or "")


# --- rendering --------------------------------------------------------------------------------


def test_a_project_called_channel_cannot_notify_anyone(store: Engine) -> None:
    answer = ask(store, "<!channel>")
    assert isinstance(answer, ProjectCostAnswer) and answer.project == "<!channel>"
    for text in (format_mrkdwn(answer), format_mrkdwn(ask(store, "top")),
                 format_mrkdwn(ask(store, "<!channel> <@U123>"))):
        assert "<" not in text and ">" not in text
    assert "*&lt;!channel&gt;* · last 7 days" in format_mrkdwn(answer)
    assert format_plain(answer).startswith("<!channel> · last 7 days")


@pytest.mark.parametrize(("values", "line"), [
    ([], ""),
    ([1, 2, 3, 4, 5, 6, 7, 8], "▁▂▃▄▅▆▇█"),
    ([8, 1], "█▁"),
    ([5, 5, 5], "▄▄▄"),
    ([0, 0], "▁▁"),
    ([-10, 0, 10], "▁▅█"),
])
def test_sparkline(values: list[float], line: str) -> None:
    assert sparkline(values) == line


def _answer() -> ProjectCostAnswer:
    period = period_for("7d", as_of=APRIL + timedelta(days=14))
    days = tuple(DaySpend(period.start + timedelta(days=d), period.start + timedelta(days=d + 1),
                          cost) for d, cost in enumerate([10, 20, 30, 40, 50, 60, 70]))
    return ProjectCostAnswer(
        "support-agent", "prod", period, SpendLine("support-agent", 280.0, 200.0),
        (SpendLine("Amazon Bedrock", 1234.56, 1000.0), SpendLine("Amazon S3", 5.0, 0.0)), 2, days,
    )


def test_project_answer_in_mrkdwn() -> None:
    assert format_mrkdwn(_answer()) == "\n".join([
        "*support-agent / prod* · last 7 days (Apr 8 00:00 – Apr 15 00:00 UTC)",
        "*$280.00* spent, +40.0% (+$80.00) vs. the period before ($200.00)",
        "Daily: `▁▂▃▅▆▇█` from $10.00 to $70.00 a day",
        "*Top services*",
        "• Amazon Bedrock: $1,234.56 (+23.5%)",
        "• Amazon S3: $5.00 (new)",
        "• …and 2 more",
    ])


def test_project_answer_in_plain_text() -> None:
    assert format_plain(_answer()).splitlines()[:3] == [
        "support-agent / prod · last 7 days (Apr 8 00:00 – Apr 15 00:00 UTC)",
        "$280.00 spent, +40.0% (+$80.00) vs. the period before ($200.00)",
        "Daily: ▁▂▃▅▆▇█ from $10.00 to $70.00 a day",
    ]


def test_no_spend_and_empty_lists_say_so() -> None:
    period = period_for("7d", as_of=APRIL)
    quiet = ProjectCostAnswer("p", None, period, SpendLine("p", 0.0, 0.0), (), 0, ())
    assert format_plain(quiet).splitlines()[1] == "No spend in this period or in the one before."
    assert format_plain(AnomaliesAnswer((), 0)).startswith("No open anomalies")
    assert format_plain(RunbookAnswer("p", (), 0)).startswith("No runbook entries for p yet")
    assert format_plain(TopAnswer(period, 5, (), SpendLine("all", 0.0, 0.0), 0)).endswith(
        "No spend in this period in the projects you can see.")


def test_long_names_are_clipped() -> None:
    period = period_for("7d", as_of=APRIL)
    name = "p" * 300
    answer = ProjectCostAnswer(name, None, period, SpendLine(name, 1.0, 1.0), (), 0, ())
    first = format_mrkdwn(answer).splitlines()[0]
    assert "p" * 79 + "…" in first and "p" * 81 not in first
