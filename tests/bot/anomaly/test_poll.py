"""The detection pass over the store (scheduler path): state kept between polls."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from sqlmodel import Session, select

from bot.anomaly.poll import poll_store
from bot.ingest.service import ingest_path
from storage.models import Anomaly
from tests.support.focus_files import write_focus_csv

START = pd.Timestamp("2026-09-01T00:00:00Z")
DAYS = 21


def export(path, *, hours: int, incident: tuple[int, int] | None):
    """Three lines over ``hours`` hours; logging x12 during ``incident`` (hour indices)."""
    rng = np.random.default_rng(3)
    rows = []
    for index, hour in enumerate(pd.date_range(START, periods=hours, freq="h")):
        for service, level, project in (("Amazon Bedrock", 20.0, "agent"),
                                        ("AmazonCloudWatch", 2.0, "agent"),
                                        ("Amazon EC2", 8.0, "batch")):
            cost = level * (1 + 0.3 * np.sin(hour.hour / 24 * 2 * np.pi)) * rng.lognormal(0, .05)
            if service == "AmazonCloudWatch" and incident and incident[0] <= index < incident[1]:
                cost *= 12  # verbose logging switched on
            rows.append({
                "ChargePeriodStart": hour.strftime("%Y-%m-%dT%H:%M:%SZ"),
                "ChargePeriodEnd": (hour + pd.Timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%SZ"),
                "BillingPeriodStart": "2026-09-01T00:00:00Z",
                "ServiceName": service, "BilledCost": f"{cost:.4f}",
                "EffectiveCost": f"{cost:.4f}",
                "Tags": json.dumps({"project": project, "env": "prod", "team": "team-x"}),
            })
    return write_focus_csv(path, rows)


def anomalies(engine) -> list[Anomaly]:
    with Session(engine) as session:
        return list(session.exec(select(Anomaly)).all())


def test_an_incident_going_on_now_is_found_with_its_root_cause(engine, settings, tmp_path):
    hours = DAYS * 24
    ingest_path(engine=engine, settings=settings,
                path=export(tmp_path / "e.csv", hours=hours, incident=(hours - 3, hours)))

    result = poll_store(engine=engine, settings=settings)

    opened = [e for e in result.events if e.kind == "opened" and e.alert]
    assert [(e.incident.project, e.incident.environment) for e in opened] == [("agent", "prod")]
    alert = opened[0].incident.to_alert()
    assert alert["top_contributors"][0]["service"] == "AmazonCloudWatch"
    assert alert["owner"] == "team-x"
    assert alert["started_at"] == "2026-09-21T21:00:00Z"
    stored = anomalies(engine)
    assert len(stored) == 1 and stored[0].status == "open"


def test_polls_continue_the_incident_then_resolve_it_without_announcing_twice(
    engine, settings, tmp_path
):
    hours = DAYS * 24
    first = export(tmp_path / "v1" / "e.csv", hours=hours, incident=(hours - 3, hours))
    ingest_path(engine=engine, settings=settings, path=first)
    poll_store(engine=engine, settings=settings)

    again = poll_store(engine=engine, settings=settings)  # nothing new arrived
    assert again.judged_hours == 0 and again.events == []
    assert [i.project for i in again.open] == ["agent"]

    # the export is re-delivered with five more hours: the incident went on for two of them
    longer = export(tmp_path / "v2" / "e.csv", hours=hours + 5, incident=(hours - 3, hours + 2))
    ingest_path(engine=engine, settings=settings, path=longer)
    later = poll_store(engine=engine, settings=settings)
    assert later.judged_hours == 5
    assert not [e for e in later.events if e.kind == "opened"]
    impact_before = anomalies(engine)[0].impact_usd

    # and once more, with a quiet day after it: auto-resolved, still one anomaly
    quiet = export(tmp_path / "v3" / "e.csv", hours=hours + 29, incident=(hours - 3, hours + 2))
    ingest_path(engine=engine, settings=settings, path=quiet)
    final = poll_store(engine=engine, settings=settings)
    assert [e.kind for e in final.events if e.kind != "updated"] == ["resolved"]
    stored = anomalies(engine)
    assert len(stored) == 1
    assert stored[0].status == "auto-resolved" and stored[0].impact_usd >= impact_before


def test_a_quiet_store_reports_nothing(engine, settings, tmp_path):
    ingest_path(engine=engine, settings=settings,
                path=export(tmp_path / "e.csv", hours=DAYS * 24, incident=None))
    result = poll_store(engine=engine, settings=settings)
    assert [e for e in result.events if e.alert] == [] and result.open == []


def test_incidents_stored_before_the_flag_was_renamed_keep_their_meaning(
    engine, settings, tmp_path
):
    hours = DAYS * 24
    ingest_path(engine=engine, settings=settings,
                path=export(tmp_path / "e.csv", hours=hours, incident=(hours - 3, hours)))
    poll_store(engine=engine, settings=settings)
    with Session(engine) as session:  # as an older version wrote it
        row = session.exec(select(Anomaly)).one()
        evidence = dict(row.evidence)
        assert evidence.pop("alert_worthy") is True
        row.evidence = {**evidence, "announced": False}
        session.add(row)
        session.commit()

    [incident] = poll_store(engine=engine, settings=settings).open
    assert incident.alert_worthy is False


def priced_export(path, *, hours: int, dearer_from: int):
    """One token line whose price per token rises 35 % from ``dearer_from`` on, usage alike."""
    rng = np.random.default_rng(5)
    rows = []
    for index, hour in enumerate(pd.date_range(START, periods=hours, freq="h")):
        tokens = 60_000 * (1 + 0.3 * np.sin(hour.hour / 24 * 2 * np.pi)) * rng.lognormal(0, .05)
        cost = tokens * 0.0003 * (1.35 if index >= dearer_from else 1.0)
        rows.append({
            "ChargePeriodStart": hour.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "ChargePeriodEnd": (hour + pd.Timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "BillingPeriodStart": "2026-09-01T00:00:00Z",
            "ServiceName": "Amazon Bedrock", "BilledCost": f"{cost:.4f}",
            "EffectiveCost": f"{cost:.4f}", "ConsumedQuantity": f"{tokens:.1f}",
            "ConsumedUnit": "Tokens",
            "Tags": json.dumps({"project": "agent", "env": "prod", "team": "team-x"}),
        })
    return write_focus_csv(path, rows)


def test_the_same_tokens_at_a_higher_price_are_stored_as_a_unit_cost_anomaly(
    engine, settings, tmp_path
):
    hours = DAYS * 24
    ingest_path(engine=engine, settings=settings,
                path=priced_export(tmp_path / "e.csv", hours=hours, dearer_from=hours - 5))

    result = poll_store(engine=engine, settings=settings)

    opened = [e.incident for e in result.events if e.kind == "opened" and e.alert]
    assert [i.kind for i in opened] == ["unit-cost"]
    stored = anomalies(engine)[0]
    assert stored.kind == "unit-cost"
    assert stored.evidence["unit_cost_unit"] == "Tokens"
    assert stored.evidence["unit_cost_after"] / stored.evidence["unit_cost_before"] == (
        pytest.approx(1.35, rel=0.01))
    assert abs(stored.evidence["usage_change"]) < 0.15
