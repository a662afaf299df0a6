"""`spendwatch showback` on a small real SQLite store filled by `spendwatch ingest` from FOCUS
rows whose splits are checked by hand."""

from __future__ import annotations

import csv
import io
import json
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner, Result

from bot import cli
from tests.support.focus_files import write_focus_csv

SHARED_ACCOUNT = "999999999999"
OCTOBER_10 = datetime(2026, 10, 10, 10, tzinfo=UTC)
NOVEMBER_2 = datetime(2026, 11, 2, 10, tzinfo=UTC)
SHOWBACK = {"shared": [
    # 10.00 on the platform account, tagged support-agent: shared, 70/30 by direct spend
    {"name": "platform-k8s", "match": {"sub_account_id": [SHARED_ACCOUNT]}},
    # 1.01 of monitoring, evenly: 0.505 each, the odd cent to the first named (search)
    {"name": "observability", "match": {"service_name": ["AmazonCloudWatch"]}, "split": "even"},
    # 0.99 of data transfer, fixed 60/40: 59.4 and 39.6 cents, the odd cent to search
    {"name": "transfer", "match": {"service_name": ["AWS Data Transfer"]}, "split": "fixed",
     "percentages": {"support-agent": 60, "search": 40}},
]}


def _row(cost: str, *, project: str | None, hour: datetime = OCTOBER_10,
         account: str = "111111111111", service: str = "Amazon Bedrock") -> dict[str, Any]:
    """One hour of spend in its month's billing period."""
    tags = None if project is None else json.dumps(
        {"project": project, "environment": "prod", "owner": f"team-{project}"})
    month = hour.replace(day=1, hour=0)
    following = (month + timedelta(days=32)).replace(day=1)
    return {"ChargePeriodStart": f"{hour:%Y-%m-%dT%H:%M:%SZ}",
            "ChargePeriodEnd": f"{hour + timedelta(hours=1):%Y-%m-%dT%H:%M:%SZ}",
            "BillingPeriodStart": f"{month:%Y-%m-%dT%H:%M:%SZ}",
            "BillingPeriodEnd": f"{following:%Y-%m-%dT%H:%M:%SZ}",
            "BilledCost": cost, "EffectiveCost": cost, "SubAccountId": account,
            "ServiceName": service, "Tags": tags}


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    tmp = tmp_path_factory.mktemp("showback")
    source = write_focus_csv(tmp / "october.csv", [
        _row("70.00", project="support-agent"),
        _row("30.00", project="search"),
        _row("5.00", project=None),
        _row("10.00", project="support-agent", account=SHARED_ACCOUNT),
        _row("1.01", project="search", service="AmazonCloudWatch"),
        _row("0.99", project=None, service="AWS Data Transfer"),
        _row("500.00", project="search", hour=NOVEMBER_2),  # another month
    ])
    config = tmp / "spendwatch.yml"
    config.write_text(json.dumps({"database_url": f"sqlite:///{tmp / 'sw.db'}",
                                  "quarantine_dir": str(tmp / "quarantine"),
                                  "showback": SHOWBACK}))
    result = CliRunner().invoke(cli.app, ["ingest", str(source), "--config", str(config)],
                                catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return config


def run(config: Path, *args: str) -> Result:
    result = CliRunner().invoke(cli.app, ["showback", "--config", str(config), *args],
                                env={"COLUMNS": "220"}, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result


def test_json_has_hand_checked_splits(store: Path) -> None:
    data = json.loads(run(store, "--period", "2026-10", "--format", "json").stdout)
    projects = {p["project"]: p for p in data["projects"]}
    assert projects["support-agent"] == {
        "project": "support-agent", "direct": 70.0,
        "shared": {"platform-k8s": 7.0, "observability": 0.5, "transfer": 0.59},
        "shared_total": 8.09, "total": 78.09}
    assert projects["search"] == {
        "project": "search", "direct": 30.0,
        "shared": {"platform-k8s": 3.0, "observability": 0.51, "transfer": 0.4},
        "shared_total": 3.91, "total": 33.91}
    assert projects["unallocated"]["direct"] == 5.0
    assert projects["unallocated"]["shared_total"] == 0.0
    assert data["totals"] == {"direct": 105.0, "shared": 12.0, "total": 117.0}
    assert [(p["name"], p["split"], p["total"]) for p in data["pools"]] == [
        ("platform-k8s", "proportional", 10.0), ("observability", "even", 1.01),
        ("transfer", "fixed", 0.99)]
    assert data["notes"] == []
    assert (data["period"], data["metric"], data["currency"]) == ("2026-10", "effective", "USD")


def test_the_table_shows_direct_and_shared_side_by_side_with_totals(store: Path) -> None:
    out = run(store, "--period", "2026-10").stdout
    rows = {cells[0]: cells[1:] for cells in (
        [c.strip() for c in line.strip().strip("│").split("│")]
        for line in out.splitlines() if line.startswith("│"))}
    assert rows["support-agent"] == ["$70.00", "$7.00", "$0.50", "$0.59", "$8.09", "$78.09"]
    assert rows["total"] == ["$105.00", "$10.00", "$1.01", "$0.99", "$12.00", "$117.00"]
    assert "platform-k8s (proportional)" in out


def test_csv_rows_add_up_to_the_json_totals(store: Path) -> None:
    out = run(store, "--period", "2026-10", "--format", "csv").stdout
    rows = list(csv.DictReader(io.StringIO(out)))
    assert [r["project"] for r in rows] == ["support-agent", "search", "unallocated"]
    assert rows[0]["shared:transfer"] == "0.59"
    assert round(sum(float(r["total"]) for r in rows), 2) == 117.0


def test_default_period_is_the_newest_month(store: Path) -> None:
    data = json.loads(run(store, "--format", "json").stdout)
    assert data["period"] == "2026-11"
    assert data["totals"] == {"direct": 500.0, "shared": 0.0, "total": 500.0}
    assert [p["project"] for p in data["projects"]] == ["search"]  # nothing to show for others
    assert data["notes"] == []


def run_main(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
             *args: str) -> tuple[int, str]:
    monkeypatch.setattr(sys, "argv", ["spendwatch", *args])
    with pytest.raises(SystemExit) as exited:
        cli.main()
    return int(exited.value.code or 0), capsys.readouterr().err


def test_bad_period_and_bad_config_are_explained(
        store: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    code, err = run_main(monkeypatch, capsys, "showback", "-c", str(store), "--period", "10/26")
    assert code == 2 and "give it as YYYY-MM" in err
    broken = tmp_path / "broken.yml"
    broken.write_text(json.dumps({"showback": {"shared": [
        {"name": "k8s", "match": {"sub_account_id": ["1"]}, "split": "fixed",
         "percentages": {"a": 50, "b": 40}}]}}))
    code, err = run_main(monkeypatch, capsys, "showback", "-c", str(broken))
    assert code == 2
    assert "showback.shared.0" in err and "add up to 90, not 100" in err


# --- spendwatch budgets -----------------------------------------------------------------------

NOV = datetime(2026, 11, 1, tzinfo=UTC)
BUDGETS = [
    {"project": "web", "environment": "prod", "monthly": 1000},
    {"project": "web", "monthly": 4000, "thresholds": [10]},
    {"project": "web", "environment": "prod", "amount": 50, "start": "2026-11-01",
     "end": "2026-11-03"},  # over by November 11: not shown
]


def _budget_store(tmp: Path, *, evaluated: bool) -> Path:
    """$2 an hour on web/prod from October 1 to November 10 23:00 ($48 a day), a pilot with
    $1 an hour for November 9 and 10, and (if ``evaluated``) what the budget job recorded on
    November 12."""
    from bot.finance.budgets import evaluate_budgets
    from bot.settings import parse_settings
    from bot.wiring import build_services
    from storage.db import session_scope
    from tests.support.cost_points import put_points

    data = {"database_url": f"sqlite:///{tmp / 'sw.db'}", "quarantine_dir": str(tmp / "q"),
            "budgets": BUDGETS}
    config = tmp / "spendwatch.yml"
    config.write_text(json.dumps(data))
    settings = parse_settings(data)
    services = build_services(settings)
    try:
        put_points(services.engine, [{"hour": NOV - timedelta(days=31) + timedelta(hours=h),
                                      "cost": 2.0} for h in range(41 * 24)])
        put_points(services.engine, [
            {"hour": NOV + timedelta(days=8, hours=h), "cost": 1.0, "project": "lab",
             "environment": "dev", "owner": "team-lab", "phase": "build"} for h in range(48)])
        if evaluated:
            with session_scope(services.engine) as session:
                evaluate_budgets(db_session=session, settings=settings,
                                 now=NOV + timedelta(days=12))
    finally:
        services.close()
    return config


@pytest.fixture(scope="module")
def budget_store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _budget_store(tmp_path_factory.mktemp("budgets"), evaluated=True)


def budgets(config: Path, *args: str) -> Result:
    result = CliRunner().invoke(cli.app, ["budgets", "--config", str(config), *args],
                                env={"COLUMNS": "220"}, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result


def test_budgets_json_has_the_figures_and_the_recorded_crossings(budget_store: Path) -> None:
    data = json.loads(budgets(budget_store, "--format", "json",
                              "--at", "2026-11-13T00:00:00Z").stdout)
    assert (data["as_of"], data["currency"]) == ("2026-11-11T00:00:00Z", "USD")
    prod, every = data["budgets"]
    assert prod == {
        "project": "web", "environment": "prod",
        "period": {"start": "2026-11-01T00:00:00Z", "end": "2026-12-01T00:00:00Z",
                   "monthly": True},
        "amount": 1000.0, "set_by": None, "as_of": "2026-11-11T00:00:00Z",
        "spent": 480.0, "percent_spent": 48.0,  # ten days of $48
        # each of the 20 days left spends what its weekday spent last week: $48
        "forecast": {"value": 1440.0, "low": 1440.0, "high": 1440.0},
        "forecast_note": None,
        # $520 left at $2 an hour: 260 hours
        "burn": {"hours_left": 260.0, "runs_out_at": "2026-11-21T20:00:00Z"},
        "thresholds": [50.0, 80.0, 100.0],
        "crossed": [{"threshold": t, "basis": basis, "crossed_at": "2026-11-11T00:00:00Z"}
                    for t, basis in [(0.0, "burn"), (50.0, "forecast"), (80.0, "forecast"),
                                     (100.0, "forecast")]],
    }
    assert (every["environment"], every["spent"], every["thresholds"]) == ("*", 480.0, [10.0])
    # $3,520 left at $2 an hour outlasts November: no burn
    assert sorted((c["threshold"], c["basis"]) for c in every["crossed"]) == [
        (10.0, "actual"), (10.0, "forecast")]
    assert data["pilots_without_budget"] == [
        {"project": "lab", "environments": ["dev"], "phase": "build", "spend_30d": 48.0}]


def test_budgets_at_a_moment_before_the_data_ends_reads_as_of_then(budget_store: Path) -> None:
    data = json.loads(budgets(budget_store, "--format", "json",
                              "--at", "2026-11-02T05:00:00+00:00").stdout)
    assert data["as_of"] == "2026-11-02T05:00:00Z"
    spent = {(b["environment"], b["period"]["monthly"]): b["spent"] for b in data["budgets"]}
    # 29 hours of $2; the custom period of November 1 to 3 applies now
    assert spent == {("prod", True): 58.0, ("*", True): 58.0, ("prod", False): 58.0}


def test_the_table_shows_each_budget_and_what_crossed(budget_store: Path) -> None:
    out = budgets(budget_store, "--at", "2026-11-13").stdout
    rows = {cells[0]: cells[1:] for cells in (
        [c.strip() for c in line.strip().strip("│").split("│")]
        for line in out.splitlines() if line.startswith("│"))}
    period, amount, spent, forecast, runs_out, crossed = rows["web · prod"]
    assert (period, amount, spent) == ("November 2026", "$1,000.00", "$480.00 (48 %)")
    assert (forecast, runs_out) == ("$1,440.00", "2026-11-21T20:00:00Z")  # no spread
    assert crossed == "runs out early, 50 % forecast, 80 % forecast, 100 % forecast"
    assert "web · all environments" in rows
    assert "pilot without a budget: lab (dev, phase build), $48.00 in 30 days" in out
    assert "no threshold has been recorded" not in out


def test_before_any_evaluation_the_table_says_nothing_is_recorded(tmp_path: Path) -> None:
    config = _budget_store(tmp_path, evaluated=False)
    out = budgets(config, "--at", "2026-11-13").stdout
    assert "no threshold has been recorded as crossed yet" in out
    data = json.loads(budgets(config, "--format", "json", "--at", "2026-11-13").stdout)
    assert [b["crossed"] for b in data["budgets"]] == [[], []]
    assert data["budgets"][0]["spent"] == 480.0


def test_without_budgets_it_says_how_to_configure_one(tmp_path: Path) -> None:
    config = tmp_path / "spendwatch.yml"
    config.write_text(json.dumps({"database_url": f"sqlite:///{tmp_path / 'sw.db'}"}))
    out = budgets(config).stdout
    assert "no budgets are configured: add one under budgets: in the config" in out
    assert json.loads(budgets(config, "--format", "json").stdout)["budgets"] == []
    config.write_text(json.dumps({"database_url": f"sqlite:///{tmp_path / 'sw.db'}",
                                  "budgets": [{"project": "web", "amount": 50,
                                               "start": "2026-10-01", "end": "2026-10-03"}]}))
    out = budgets(config, "--at", "2026-11-13").stdout
    assert "no budget applies at 2026-11-13T00:00:00Z" in out


def test_bad_budgets_options_are_explained(
        budget_store: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    code, err = run_main(monkeypatch, capsys, "budgets", "-c", str(budget_store),
                         "--at", "next tuesday")
    assert code == 2 and "--at 'next tuesday' is not a moment" in err and "ISO 8601" in err
    code, err = run_main(monkeypatch, capsys, "budgets", "-c", str(budget_store),
                         "--format", "csv")
    assert code == 2 and "--format 'csv' is unknown; use table or json" in err
