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


def _export(tmp_path: Path) -> Path:
    lines = ["BillingAccountId,BillingCurrency,ChargePeriodStart,ChargePeriodEnd,"
             "ChargeCategory,BilledCost,EffectiveCost,ServiceName,Tags\n"]
    for project, spike_day in SPIKES.items():
        tags = json.dumps({"project": project, "environment": "prod"}).replace('"', '""')
        for hour in range(DAYS * 24):
            at = START + timedelta(hours=hour)
            cost = 120 if hour // 24 == spike_day and 10 <= hour % 24 < 14 else 10
            lines.append(f"a,USD,{at:%Y-%m-%dT%H:%M:%SZ},"
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
