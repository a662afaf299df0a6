"""Price per unit: the same usage costing more is caught and named; more traffic is not.

Each case is one workload with a token line (five weeks of hourly spend and tokens); its last
hours change. The real engine and lifecycle judge them.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from bot.anomaly.lifecycle import Lifecycle
from bot.detection import Thresholds
from bot.detection.engine import SpendMatrix, detect_hour

HOURS = 24 * 35
CHANGE = HOURS - 8
START = pd.Timestamp("2026-06-01", tz="UTC")
PRICE = 0.0003  # dollars per token: $0.30 per 1k tokens


def tokens(seed: int = 1) -> np.ndarray:
    rng = np.random.default_rng(seed)
    hour = np.arange(HOURS) % 24
    return 40_000 * (1 + 0.2 * np.sin((hour - 8) / 24 * 2 * np.pi)) * rng.lognormal(0, 0.04,
                                                                                    HOURS)


def matrix(cost: np.ndarray, used: np.ndarray | None, unit: str = "Tokens") -> SpendMatrix:
    lines = pd.DataFrame({"project": ["agent"], "environment": ["prod"],
                          "service_name": ["Anthropic API"], "region": [""],
                          "sku_id": ["claude-input"], "owner": ["team-a"], "phase": ["run"],
                          "unit": [unit]})
    return SpendMatrix(start=START, values=cost[None, :], lines=lines,
                       quantities=None if used is None else used[None, :])


def judged(m: SpendMatrix, thresholds: Thresholds | None = None):
    lifecycle = Lifecycle()
    table = {("prod", "run"): thresholds or Thresholds()}
    events, findings = [], []
    for index in range(CHANGE - 48, HOURS):
        found = detect_hour(m, index, table)
        findings += found
        events += lifecycle.apply(found, now=m.hour(index) + pd.Timedelta(hours=1))
    return [e for e in events if e.kind == "opened"], findings


def test_a_price_that_doubles_on_steady_usage_opens_a_unit_cost_incident():
    used = tokens()
    cost = used * PRICE
    cost[CHANGE:] *= 2.0
    opened, _ = judged(matrix(cost, used))

    assert len(opened) == 1
    incident = opened[0].incident
    assert incident.kind == "unit-cost"
    evidence = incident.evidence
    assert evidence["unit_cost_before"] == pytest.approx(PRICE, rel=0.01)
    assert evidence["unit_cost_after"] == pytest.approx(2 * PRICE, rel=0.01)
    assert abs(evidence["usage_change"]) < 0.1
    assert evidence["unit_cost_unit"] == "Tokens"
    assert evidence["unit_cost_sku"] == "claude-input"
    assert incident.started_at == START + CHANGE * pd.Timedelta(hours=1)
    alert = incident.to_alert()
    assert alert["kind"] == "unit-cost" and alert["unit_cost_after"] > alert["unit_cost_before"]


def test_a_moderate_price_rise_the_spend_rules_miss_is_caught_within_hours():
    used = tokens()
    cost = used * PRICE
    cost[CHANGE:] *= 1.35  # +35 %: under the spend margin of a line this size
    opened, _ = judged(matrix(cost, used))

    assert [e.incident.kind for e in opened] == ["unit-cost"]
    delay = opened[0].incident.detected_at - (START + CHANGE * pd.Timedelta(hours=1))
    assert delay == pd.Timedelta(hours=Thresholds().unit_cost_hours)


def test_twice_the_traffic_at_the_same_price_is_not_a_unit_cost_finding():
    used = tokens()
    used[CHANGE:] *= 2.0
    cost = used * PRICE
    opened, findings = judged(matrix(cost, used))

    assert opened, "twice the spend is still an anomaly"
    assert all(e.incident.kind != "unit-cost" for e in opened)
    assert not any("unit_cost_before" in f.evidence for f in findings)


def test_a_price_blip_shorter_than_the_stretch_is_not_a_finding():
    used = tokens()
    cost = used * PRICE
    cost[CHANGE:CHANGE + 2] *= 1.35
    _, findings = judged(matrix(cost, used))
    assert not any("unit_cost_before" in f.evidence for f in findings)


def test_a_cheaper_price_is_not_news():
    used = tokens()
    cost = used * PRICE
    cost[CHANGE:] *= 0.6
    opened, findings = judged(matrix(cost, used))
    assert opened == [] and not any("unit_cost_before" in f.evidence for f in findings)


@pytest.mark.parametrize("quantities", ["none", "zeros"])
def test_lines_without_quantities_are_skipped(quantities):
    used = tokens()
    cost = used * PRICE
    cost[CHANGE:] *= 1.35
    m = matrix(cost, None if quantities == "none" else np.zeros(HOURS))
    opened, findings = judged(m)
    assert opened == [] and not any("unit_cost_before" in f.evidence for f in findings)


def test_a_small_line_whose_price_doubles_stays_under_the_dollar_minimums():
    used = tokens() / 100  # $0.12 an hour
    cost = used * PRICE
    cost[CHANGE:] *= 2.0
    opened, _ = judged(matrix(cost, used))
    assert opened == []


def test_unit_cost_alerts_can_be_switched_off():
    used = tokens()
    cost = used * PRICE
    cost[CHANGE:] *= 1.35
    opened, _ = judged(matrix(cost, used), Thresholds(unit_cost_alerts=False))
    assert opened == []


def test_from_points_carries_quantities_and_drops_lines_with_mixed_units():
    hours = pd.date_range(START, periods=3, freq="h")
    rows = []
    for hour in hours:
        rows += [
            {"hour": hour, "project": "a", "environment": "prod", "service_name": "LLM",
             "sku_id": "in", "owner": "o", "phase": "run", "cost": 3.0, "quantity": 10_000.0,
             "unit": "Tokens"},
            {"hour": hour, "project": "a", "environment": "prod", "service_name": "Storage",
             "sku_id": "", "owner": "o", "phase": "run", "cost": 1.0, "quantity": 5.0,
             "unit": "GB"},
            {"hour": hour, "project": "a", "environment": "prod", "service_name": "Storage",
             "sku_id": "", "owner": "o", "phase": "run", "cost": 1.0, "quantity": 2.0,
             "unit": "Hours"},
        ]
    m = SpendMatrix.from_points(pd.DataFrame(rows))
    assert m.quantities is not None
    by_service = dict(zip(m.lines["service_name"], range(len(m.lines)), strict=True))
    assert list(m.lines["unit"]) == ["Tokens", ""]
    assert m.quantities[by_service["LLM"]].tolist() == [10_000.0] * 3
    assert m.quantities[by_service["Storage"]].tolist() == [0.0] * 3  # GB + hours: no sum
    assert m.values[by_service["Storage"]].tolist() == [2.0] * 3


def test_quantities_must_match_the_spend():
    with pytest.raises(ValueError, match="one figure per line and hour"):
        matrix(np.ones(HOURS), np.ones(HOURS - 1))


@pytest.mark.parametrize("field", ["unit_cost_hours", "burst_min_hours"])
def test_hour_counts_below_one_are_refused(field):
    with pytest.raises(ValueError, match=f"{field} must be at least 1 hour"):
        Thresholds(**{field: 0})
