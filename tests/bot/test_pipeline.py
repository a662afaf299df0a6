"""The detection pass over the store (scheduler path): ingest, then what is going on now."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd

from bot.ingest import ingest_path
from bot.pipeline import detect_from_store
from tests.support.focus_files import write_focus_csv

START = pd.Timestamp("2026-09-01T00:00:00Z")


def export(tmp_path, *, incident_hours: int):
    hours = pd.date_range(START, periods=24 * 21, freq="h")
    rng = np.random.default_rng(3)
    rows = []
    for index, hour in enumerate(hours):
        for service, level, project in (("Amazon Bedrock", 20.0, "agent"),
                                        ("AmazonCloudWatch", 2.0, "agent"),
                                        ("Amazon EC2", 8.0, "batch")):
            cost = level * (1 + 0.3 * np.sin(hour.hour / 24 * 2 * np.pi)) * rng.lognormal(0, .05)
            if service == "AmazonCloudWatch" and index >= len(hours) - incident_hours:
                cost *= 12  # verbose logging switched on
            rows.append({
                "ChargePeriodStart": hour.strftime("%Y-%m-%dT%H:%M:%SZ"),
                "ChargePeriodEnd": (hour + pd.Timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%SZ"),
                "BillingPeriodStart": "2026-09-01T00:00:00Z",
                "ServiceName": service, "BilledCost": f"{cost:.4f}",
                "EffectiveCost": f"{cost:.4f}",
                "Tags": json.dumps({"project": project, "env": "prod", "team": "team-x"}),
            })
    return write_focus_csv(tmp_path / "export.csv", rows)


def test_an_incident_going_on_now_is_found_with_its_root_cause(engine, settings, tmp_path):
    ingest_path(engine=engine, settings=settings, path=export(tmp_path, incident_hours=3))

    events = detect_from_store(engine=engine, settings=settings)

    opened = [e for e in events if e.kind == "opened" and e.alert]
    assert [(e.incident.project, e.incident.environment) for e in opened] == [("agent", "prod")]
    alert = opened[0].incident.to_alert()
    assert alert["top_contributors"][0]["service"] == "AmazonCloudWatch"
    assert alert["owner"] == "team-x"
    assert alert["actual_cost"] > alert["expected_cost"]
    assert alert["started_at"] == "2026-09-21T21:00:00Z"


def test_a_quiet_store_reports_nothing(engine, settings, tmp_path):
    ingest_path(engine=engine, settings=settings, path=export(tmp_path, incident_hours=0))
    assert [e for e in detect_from_store(engine=engine, settings=settings) if e.alert] == []
