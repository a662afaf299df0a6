"""Budget lines of a replay: thresholds crossed at hours computed by hand, once each, in the
JSON lines beside the anomalies, and the same figures the store-backed budgets read."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from bot.anomaly.replay import load_usage_points, replay
from bot.finance.budgets import budget_statuses
from bot.finance.replay import BudgetReplay
from bot.ingest.service import ingest_path
from bot.settings import Settings, parse_settings
from bot.wiring import build_services
from storage.db import session_scope
from tests.bot.test_cli import spendwatch
from tests.support.focus_files import write_focus_csv

NOV = datetime(2026, 11, 1, tzinfo=UTC)


def row(cost: float, *, start: datetime, hours: int = 1, project: str = "support-agent",
        environment: str = "prod", service: str = "Amazon Bedrock") -> dict[str, Any]:
    """A Usage row charging ``cost`` over ``hours`` from ``start`` (visible when it ends)."""
    month = start.replace(day=1, hour=0)
    following = (month + timedelta(days=32)).replace(day=1)
    tags = json.dumps({"project": project, "environment": environment,
                       "owner": f"team-{project}"})
    return {"ChargePeriodStart": f"{start:%Y-%m-%dT%H:%M:%SZ}",
            "ChargePeriodEnd": f"{start + timedelta(hours=hours):%Y-%m-%dT%H:%M:%SZ}",
            "BillingPeriodStart": f"{month:%Y-%m-%dT%H:%M:%SZ}",
            "BillingPeriodEnd": f"{following:%Y-%m-%dT%H:%M:%SZ}",
            "BilledCost": f"{cost:.2f}", "EffectiveCost": f"{cost:.2f}",
            "ServiceName": service, "Tags": tags}


def with_budgets(budgets: list[dict[str, Any]], **extra: Any) -> Settings:
    return parse_settings({"budgets": budgets, **extra})


@pytest.fixture
def two_days(tmp_path: Path) -> Path:
    """$10 an hour on support-agent prod for Nov 1 and 2, $1,000 once on staging at Nov 1
    05:00, and one daily row of $600 on lab dev for Nov 1 (visible at midnight)."""
    rows = [row(10, start=NOV + timedelta(hours=h)) for h in range(48)]
    rows.append(row(1000, start=NOV + timedelta(hours=5), environment="staging"))
    rows.append(row(600, start=NOV, hours=24, project="lab", environment="dev"))
    return write_focus_csv(tmp_path / "export.csv", rows)


def lines(result_lines: list[dict[str, object]]) -> list[tuple[object, ...]]:
    return [(line["budget"], line["basis"], line["threshold"], line["crossed_at"])
            for line in result_lines]


def test_thresholds_cross_at_the_hours_computed_by_hand(two_days: Path) -> None:
    settings = with_budgets([
        {"project": "support-agent", "environment": "prod", "monthly": 1000,
         "thresholds": [25, 40]},
        {"project": "support-agent", "monthly": 2000, "thresholds": [50]},
        {"project": "support-agent", "environment": "prod", "amount": 100,
         "start": "2026-11-02", "end": "2026-11-02", "thresholds": [100]},
        {"project": "lab", "environment": "dev", "monthly": 1000, "thresholds": [50]},
    ])
    result = replay(two_days, settings)
    assert lines(result.budget_alerts) == [
        # prod and staging: $60 by 06:00, then the $1,000 row: over $1,000 of $2,000
        ("support-agent/*/monthly", "actual", 50, "2026-11-01T06:00:00Z"),
        # Nov 2 00:00, the first poll with a day of history: $240 a day (run rate, with one
        # day known) for the 29 days left, on top of Nov 1's $240: $7,200 of $1,000
        ("support-agent/prod/monthly", "forecast", 25, "2026-11-02T00:00:00Z"),
        ("support-agent/prod/monthly", "forecast", 40, "2026-11-02T00:00:00Z"),
        ("support-agent/*/monthly", "forecast", 50, "2026-11-02T00:00:00Z"),
        # the daily row becomes visible at midnight: $600 of $1,000 at once
        ("lab/dev/monthly", "actual", 50, "2026-11-02T00:00:00Z"),
        ("lab/dev/monthly", "forecast", 50, "2026-11-02T00:00:00Z"),
        # $250 (25 %) after the 25th hour, $400 (40 %) after the 40th
        ("support-agent/prod/monthly", "actual", 25, "2026-11-02T01:00:00Z"),
        # the one-day budget applies from the poll after its first hour; the day before
        # spent $240, so the forecast for the day passes $100 at once
        ("support-agent/prod/2026-11-02", "forecast", 100, "2026-11-02T01:00:00Z"),
        # $100 of the one-day budget after its 10th hour
        ("support-agent/prod/2026-11-02", "actual", 100, "2026-11-02T10:00:00Z"),
        ("support-agent/prod/monthly", "actual", 40, "2026-11-02T16:00:00Z"),
    ]
    first = result.budget_alerts[0]
    assert first == {
        "type": "budget", "project": "support-agent", "environment": "*", "threshold": 50.0,
        "basis": "actual", "crossed_at": "2026-11-01T06:00:00Z",
        "budget": "support-agent/*/monthly", "period_start": "2026-11-01T00:00:00Z",
        "period_end": "2026-12-01T00:00:00Z", "amount": 2000.0, "spent": 1060.0,
        "forecast": None}  # no day before Nov 1 to forecast from
    assert list(first)[:6] == ["type", "project", "environment", "threshold", "basis",
                               "crossed_at"]


def test_a_daily_row_counts_from_the_poll_after_its_day_ends(two_days: Path) -> None:
    settings = with_budgets([{"project": "lab", "environment": "dev", "monthly": 1000,
                              "thresholds": [50]}])
    before = replay(two_days, settings, end=pd.Timestamp("2026-11-01T23:00:00Z"))
    assert before.budget_alerts == []
    at_midnight = replay(two_days, settings, end=pd.Timestamp("2026-11-02T00:00:00Z"))
    assert [(line["basis"], line["crossed_at"], line["spent"])
            for line in at_midnight.budget_alerts] == [
        ("actual", "2026-11-02T00:00:00Z", 600.0), ("forecast", "2026-11-02T00:00:00Z", 600.0)]


def test_no_budgets_in_the_config_means_no_budget_lines(two_days: Path) -> None:
    result = replay(two_days, Settings())
    assert result.budget_alerts == []
    assert all(alert["type"] == "anomaly" for alert in result.alerts)


def _varied(tmp_path: Path) -> Path:
    """Three weeks across a month end: prod spend by weekday and hour, a dev line, and daily
    rows that arrive when their day ends."""
    start = NOV - timedelta(days=12)
    rows = []
    for h in range(21 * 24):
        moment = start + timedelta(hours=h)
        rows.append(row(2 + moment.weekday() + (moment.hour % 5) * 0.5, start=moment))
        rows.append(row(1 + (h % 7) * 0.25, start=moment, environment="dev",
                        service="Amazon EC2"))
    for day in range(21):
        rows.append(row(30 + 3 * (day % 4), start=start + timedelta(days=day), hours=24,
                        service="Amazon S3"))
    return write_focus_csv(tmp_path / "varied" / "export.csv", rows)


def test_the_last_poll_reads_what_the_store_backed_budgets_read(tmp_path: Path) -> None:
    """The replay's spend and forecast agree with budget_statuses on a store of the same rows."""
    source = _varied(tmp_path)
    budgets = [{"project": "support-agent", "environment": "prod", "monthly": 2000},
               {"project": "support-agent", "monthly": 3000}]
    settings = with_budgets(budgets, database_url=f"sqlite:///{tmp_path / 'sw.db'}",
                            quarantine_dir=str(tmp_path / "quarantine"))
    points, _ = load_usage_points(source.parent, settings)
    points["hour"] = pd.to_datetime(points["hour"], utc=True)
    points["visible_at"] = pd.to_datetime(points["visible_at"], utc=True)
    last_poll = NOV + timedelta(days=9)  # every row visible, daily ones included
    polls = pd.date_range(points["hour"].min() + pd.Timedelta(hours=1), last_poll, freq="h")
    budget_replay = BudgetReplay(points, settings, all_forecasts=True)
    news = [line for now in polls for line in budget_replay.poll(now)]
    # forecasts only while they can be news: the same lines, fewer forecasts
    frugal = BudgetReplay(points, settings)
    assert [line for now in polls for line in frugal.poll(now)] == news
    assert {(line["basis"], line["threshold"]) for line in news} >= {
        ("actual", 50), ("forecast", 50), ("forecast", 100)}
    assert 0 < frugal.forecasts < budget_replay.forecasts

    services = build_services(settings)
    try:
        ingest_path(engine=services.engine, settings=settings, path=source.parent)
        with session_scope(services.engine) as session:
            statuses = budget_statuses(db_session=session, settings=settings, now=last_poll)
    finally:
        services.close()
    assert len(statuses) == 2
    for status in statuses:
        seen = budget_replay.figures[status.budget.key]
        assert seen.at == status.as_of == last_poll
        assert seen.spent == pytest.approx(status.spent)
        assert status.forecast is not None and status.forecast > status.spent
        assert seen.forecast == pytest.approx(status.forecast)
    assert budget_replay.forecasts <= 2 * 22  # once per budget and day, not once per poll


@pytest.fixture(scope="module")
def replayed(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """`spendwatch replay` of one alert (a daily SageMaker row far above anything before) and
    September's budget (the default thresholds: 50, 80 and 100 %): the source and the lines."""
    tmp = tmp_path_factory.mktemp("replayed")
    rows = [row(10, start=datetime(2026, 9, 1, tzinfo=UTC) + timedelta(hours=h),
                project="p", service="Amazon EC2") for h in range(28 * 24)]
    rows.append(row(4800, start=datetime(2026, 9, 28, tzinfo=UTC), hours=24, project="p",
                    service="Amazon SageMaker"))
    source = write_focus_csv(tmp / "export.csv", rows)
    config = tmp / "spendwatch.yml"
    config.write_text(json.dumps({"budgets": [{"project": "p", "environment": "prod",
                                               "monthly": 5000}]}))
    out = tmp / "alerts.jsonl"
    result = spendwatch("replay", "--source", str(source), "--out", str(out), "--config",
                        str(config), cwd=tmp)
    assert result.returncode == 0, result.stderr
    assert "1 alert(s) and 6 budget threshold(s) crossed" in result.stdout
    return source, out


def test_the_replay_file_has_both_kinds_of_line(replayed: tuple[Path, Path]) -> None:
    source, out = replayed
    written = [json.loads(line) for line in out.read_text().splitlines()]
    assert [(w["type"], w.get("basis"), w.get("threshold"),
             w.get("crossed_at", w.get("detected_at"))) for w in written] == [
        # Sep 2 00:00: $240 known, $240 a day for 29 more days: $7,200 of $5,000
        ("budget", "forecast", 50, "2026-09-02T00:00:00Z"),
        ("budget", "forecast", 80, "2026-09-02T00:00:00Z"),
        ("budget", "forecast", 100, "2026-09-02T00:00:00Z"),
        ("budget", "actual", 50, "2026-09-11T10:00:00Z"),  # $2,500 after 250 hours
        ("budget", "actual", 80, "2026-09-17T16:00:00Z"),  # $4,000 after 400 hours
        ("budget", "actual", 100, "2026-09-21T20:00:00Z"),  # $5,000 after 500 hours
        ("anomaly", None, None, "2026-09-29T00:00:00Z"),
    ]
    anomaly = written[-1]
    assert list(anomaly)[0] == "type"
    assert anomaly["top_contributors"][0]["service"] == "Amazon SageMaker"
    without_type = {k: v for k, v in anomaly.items() if k != "type"}
    [alone] = replay(source, Settings()).alerts
    assert without_type == {k: v for k, v in alone.items() if k != "type"}


@pytest.mark.shared
def test_the_scorer_counts_budget_lines_neither_as_hits_nor_as_false_alerts(
        replayed: tuple[Path, Path], shared_dir: Path, tmp_path: Path) -> None:
    _, out = replayed
    labels = tmp_path / "labels.json"
    labels.write_text(json.dumps({
        "events": [{"project": "p", "environment": "prod", "service": "Amazon SageMaker",
                    "kind": "new-service", "start": "2026-09-28T00:00:00Z",
                    "end": "2026-09-29T00:00:00Z"}],
        "traps": [], "series": [["p", "prod", "Amazon EC2"]], "hours": 28 * 24}))
    scored = subprocess.run(
        [sys.executable, str(shared_dir / "tools" / "score_alerts.py"), str(labels), str(out)],
        capture_output=True, text=True, check=True)
    score = json.loads(scored.stdout)
    assert (score["detected"], score["alerts"], score["false_alerts"]) == (1, 1, 0)
