"""``replay --config CFG`` honours the plans in CFG's database: one plan keeps a known incident
quiet inside its envelope, another with a smaller envelope lets its incident alert as exceeded."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

from bot.anomaly.plans import add_plan, remove_plan
from storage.db import make_engine, session_scope, upgrade
from tests.bot.test_cli import spendwatch, write_config

START = datetime(2026, 9, 1, tzinfo=UTC)
DAYS = 21
# a steady $10 an hour on each project, and four hours of $120 an hour: search on day 16 and
# billing on day 18, each clearly an incident
SPIKES = {"search": 15, "billing": 17}


def _export(tmp_path: Path, spikes: dict[str, int] = SPIKES, hours: range = range(10, 14)
            ) -> Path:
    lines = ["BillingAccountId,BillingCurrency,BillingPeriodStart,BillingPeriodEnd,"
             "ChargePeriodStart,ChargePeriodEnd,ChargeCategory,BilledCost,EffectiveCost,"
             "ServiceName,Tags\n"]
    for project, spike_day in spikes.items():
        tags = json.dumps({"project": project, "environment": "prod"}).replace('"', '""')
        for hour in range(DAYS * 24):
            at = START + timedelta(hours=hour)
            cost = 120 if hour // 24 == spike_day and hour % 24 in hours else 10
            lines.append(f"a,USD,2026-09-01T00:00:00Z,2026-10-01T00:00:00Z,"
                         f"{at:%Y-%m-%dT%H:%M:%SZ},"
                         f"{at + timedelta(minutes=59, seconds=59):%Y-%m-%dT%H:%M:%SZ},"
                         f"Usage,{cost},{cost},Amazon EC2,\"{tags}\"\n")
    source = tmp_path / "export.csv"
    source.write_text("".join(lines))
    return source


def _replay(tmp_path: Path, source: Path, *options: str) -> tuple[list[dict], str]:
    out = tmp_path / "alerts.jsonl"
    result = spendwatch("replay", "--source", str(source), "--out", str(out), *options,
                        cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    return [json.loads(line) for line in out.read_text().splitlines()], result.stdout


def test_a_plan_suppresses_its_incident_and_a_smaller_one_is_exceeded(tmp_path):
    source = _export(tmp_path)
    before, _ = _replay(tmp_path, source)
    alerted = {a["project"]: a for a in before if a["type"] == "anomaly"}
    assert set(alerted) == {"search", "billing"}

    config = write_config(tmp_path)
    engine = make_engine(f"sqlite:///{tmp_path / 'sw.db'}")
    upgrade(engine)
    with session_scope(engine) as session:
        terms = {"environment": "prod", "starts_at": START, "ends_at": START + DAYS * timedelta(
            days=1), "actor": "U0FIN", "now": START}
        roomy = add_plan(db_session=session, project="search", amount_usd=100_000,
                         reason="reindex", **terms).id
        small = add_plan(db_session=session, project="billing", amount_usd=50,
                         reason="month-end run", **terms).id
        gone = add_plan(db_session=session, project="billing", amount_usd=100_000, **terms).id
    with session_scope(engine) as session:
        remove_plan(db_session=session, plan_id=int(gone), actor="U0FIN", now=START)
    engine.dispose()

    after, printed = _replay(tmp_path, source, "--config", str(config))

    [quiet] = [r for r in after if r["type"] == "suppressed"]
    assert (quiet["project"], quiet["plan_id"]) == ("search", roomy)
    assert quiet["alert_id"] == alerted["search"]["alert_id"]
    assert quiet["impact_usd"] > 300  # four hours of about $110 above normal, all inside
    [alert] = [r for r in after if r["type"] == "anomaly"]
    assert (alert["project"], alert["plan_id"]) == ("billing", small)
    impact = alert["impact_usd"]
    assert alert["plan_exceeded_usd"] == round(impact - 50, 2)
    assert alert["alerted_at"] >= alert["detected_at"]
    assert "1 incident(s) inside plans (not alerted), 1 alert(s) past a plan's envelope; " \
           "2 plan(s) honoured" in printed


def test_detect_says_which_anomalies_a_plan_keeps_quiet(tmp_path):
    """``spendwatch detect`` judges plans as ``run`` does before posting, so it does not
    promise an alert that a plan will hold back."""
    source = _export(tmp_path, {"search": DAYS - 1, "billing": DAYS - 1}, range(20, 24))
    config = write_config(tmp_path)
    assert spendwatch("ingest", str(source), "--config", str(config),
                      cwd=tmp_path).returncode == 0
    engine = make_engine(f"sqlite:///{tmp_path / 'sw.db'}")
    with session_scope(engine) as session:
        add_plan(db_session=session, project="search", environment="prod", amount_usd=100_000,
                 starts_at=START, ends_at=START + timedelta(days=DAYS + 1), actor="U0FIN",
                 now=START, reason="reindex")
    engine.dispose()

    result = spendwatch("detect", "--config", str(config), cwd=tmp_path)

    assert result.returncode == 0, result.stderr
    held = [line for line in result.stdout.splitlines() if line.startswith("Inside a plan")]
    waiting = [line for line in result.stdout.splitlines() if "Not posted to chat yet" in line]
    assert len(held) == 1 and len(waiting) == 1
    assert held[0].count("swa-") == 1 and waiting[0].count("swa-") == 1
