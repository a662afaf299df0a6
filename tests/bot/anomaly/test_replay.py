"""replay: the contract evaluations use, on the labelled development set and on a small file."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.bot.test_cli import spendwatch


@pytest.mark.shared
def test_replay_of_the_development_set_meets_the_bar(shared_dir, tmp_path):
    out = tmp_path / "alerts.jsonl"
    result = spendwatch("replay", "--source",
                        str(shared_dir / "data" / "scenarios" / "dev-costs.csv.gz"),
                        "--out", str(out), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    scored = subprocess.run(
        [sys.executable, str(shared_dir / "tools" / "score_alerts.py"),
         str(shared_dir / "data" / "scenarios" / "dev-labels.json"), str(out)],
        capture_output=True, text=True, check=True,
    )
    score = json.loads(scored.stdout)
    assert score["detected"] == 7
    assert score["false_alerts"] <= 2
    assert score["ttd_median_h"] <= 2
    assert score["root_cause_ok"] >= 6
    alert = json.loads(out.read_text().splitlines()[0])
    assert {"alert_id", "project", "environment", "owner", "kind", "started_at", "detected_at",
            "expected_cost", "actual_cost", "impact_usd", "top_contributors"} <= set(alert)
    assert alert["detected_at"].endswith("Z")


def test_replay_sees_only_rows_whose_charge_period_has_ended(tmp_path):
    """A daily row is invisible to the polls of its own day."""
    header = ("BillingAccountId,BillingCurrency,ChargePeriodStart,ChargePeriodEnd,ChargeCategory,"
              "BilledCost,EffectiveCost,ServiceName,Tags\n")
    tags = '"{""project"":""p"",""environment"":""prod""}"'
    lines = [header]
    for day in range(1, 29):
        for hour in range(24):
            start = f"2026-09-{day:02d}T{hour:02d}:00:00Z"
            end = f"2026-09-{day:02d}T{hour:02d}:59:59Z" if hour < 23 else (
                f"2026-09-{day + 1:02d}T00:00:00Z" if day < 28 else "2026-09-29T00:00:00Z")
            lines.append(f"a,USD,{start},{end},Usage,10,10,Amazon EC2,{tags}\n")
    # the last day also carries a huge daily row for a service that never existed before
    lines.append(f"a,USD,2026-09-28T00:00:00Z,2026-09-29T00:00:00Z,Usage,4800,4800,"
                 f"Amazon SageMaker,{tags}\n")
    source = tmp_path / "export.csv"
    source.write_text("".join(lines))
    out = tmp_path / "alerts.jsonl"

    before = spendwatch("replay", "--source", str(source), "--out", str(out),
                        "--to", "2026-09-28T23:00:00Z", cwd=tmp_path)
    assert before.returncode == 0, before.stderr
    assert out.read_text() == ""  # the daily row ends at midnight: not visible yet

    after = spendwatch("replay", "--source", str(source), "--out", str(out), cwd=tmp_path)
    assert after.returncode == 0, after.stderr
    alerts = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(alerts) == 1
    assert alerts[0]["detected_at"] == "2026-09-29T00:00:00Z"
    assert alerts[0]["top_contributors"][0]["service"] == "Amazon SageMaker"


def test_an_alert_line_carries_the_kind_its_incident_has_in_the_store(tmp_path):
    """One incident, one kind label: replay's line, the store, `detect` and the chat agree."""
    from bot.anomaly.poll import poll_store
    from bot.anomaly.replay import replay
    from bot.demodata import write_demo_data
    from bot.ingest.service import ingest_path
    from bot.settings import Settings
    from bot.wiring import build_services

    data = tmp_path / "data"
    write_demo_data(data, days=14)
    settings = Settings(database_url=f"sqlite:///{tmp_path / 'sw.db'}",
                        quarantine_dir=tmp_path / "quarantine")
    services = build_services(settings)
    try:
        ingest_path(engine=services.engine, settings=settings, path=data)
        going_on = poll_store(engine=services.engine, settings=settings).open
    finally:
        services.close()

    lines = {(a["project"], a["environment"], a["started_at"]): a["kind"]
             for a in replay(data, settings).alerts}
    assert any(i.kind == "level-shift" for i in going_on)  # grew from a spike while it lasted
    for incident in going_on:
        alert = incident.to_alert()
        assert lines[(alert["project"], alert["environment"], alert["started_at"])] == \
            incident.kind


def _small_export(tmp_path: Path) -> Path:
    header = ("BillingAccountId,BillingCurrency,ChargePeriodStart,ChargePeriodEnd,ChargeCategory,"
              "BilledCost,EffectiveCost,ServiceName,Tags\n")
    rows = [f"a,USD,2026-09-01T{hour:02d}:00:00Z,2026-09-01T{hour:02d}:59:59Z,Usage,10,10,"
            f"Amazon EC2,\n" for hour in range(24)]
    source = tmp_path / "export.csv"
    source.write_text(header + "".join(rows))
    return source


def assert_one_line(result: subprocess.CompletedProcess[str], *expected: str) -> None:
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in result.stderr, result.stderr
    for text in expected:
        assert text in lines[0]
    assert "hourly polls" not in result.stdout, "refused before the replay ran"


def test_replay_from_later_than_to_is_refused_in_one_line(tmp_path: Path):
    result = spendwatch("replay", "--source", str(_small_export(tmp_path)),
                        "--out", str(tmp_path / "alerts.jsonl"),
                        "--from", "2026-09-02T00:00:00Z", "--to", "2026-09-01T12:00:00Z",
                        cwd=tmp_path)
    assert_one_line(result, "--from 2026-09-02T00:00:00+00:00 is later than --to "
                            "2026-09-01T12:00:00+00:00")


def _unwritable_folder(tmp_path: Path) -> Path:
    if os.geteuid() != 0:
        folder = tmp_path / "read-only"
        folder.mkdir()
        folder.chmod(0o555)
        return folder
    if Path("/sys").is_dir():  # root may write anywhere, except a kernel's own file systems
        return Path("/sys")
    pytest.skip("no folder is read-only for root here")


@pytest.mark.parametrize("where", ["missing", "read-only", "a folder"])
def test_replay_out_where_it_cannot_write_is_refused_before_replaying(tmp_path: Path,
                                                                       where: str):
    out = {"missing": lambda: tmp_path / "no-such-folder" / "alerts.jsonl",
           "read-only": lambda: _unwritable_folder(tmp_path) / "alerts.jsonl",
           "a folder": lambda: tmp_path}[where]()
    result = spendwatch("replay", "--source", str(_small_export(tmp_path)), "--out", str(out),
                        cwd=tmp_path)
    expected = {"missing": "does not exist", "read-only": "cannot be written",
                "a folder": "is a folder"}[where]
    assert_one_line(result, f"--out {out}", expected)
