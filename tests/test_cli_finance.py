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
