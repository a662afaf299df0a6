"""Short, sharp, costly spikes at the default (balanced) profile, through the real engine.

A steady $20/h line gets a two-hour burst; the thresholds are the ones a fresh install uses
for production. The alert must open once the burst is over and say so, with its cost; a small
two-hour wiggle, and a single sharp hour, must not alert.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from bot.anomaly.lifecycle import Lifecycle
from bot.detection import Thresholds
from bot.detection.engine import SpendMatrix, detect_hour
from bot.settings import parse_settings

HOURS = 24 * 35
BURST = HOURS - 10
START = pd.Timestamp("2026-06-01", tz="UTC")


def steady(level: float) -> np.ndarray:
    rng = np.random.default_rng(3)
    hour = np.arange(HOURS) % 24
    return level * (1 + 0.2 * np.sin((hour - 8) / 24 * 2 * np.pi)) * rng.lognormal(0, 0.04,
                                                                                    HOURS)


def opened_after(values: np.ndarray):
    lines = pd.DataFrame({"project": ["support"], "environment": ["prod"],
                          "service_name": ["Amazon Bedrock"], "owner": ["team-s"],
                          "phase": ["run"]})
    matrix = SpendMatrix(start=START, values=values[None, :], lines=lines)
    balanced = parse_settings({}).detection.thresholds("prod", "run")
    table = {("prod", "run"): Thresholds(**balanced)}
    lifecycle, events = Lifecycle(), []
    for index in range(BURST - 24, HOURS):
        found = detect_hour(matrix, index, table)
        events += lifecycle.apply(found, now=matrix.hour(index) + pd.Timedelta(hours=1))
    return [e for e in events if e.kind == "opened" and e.alert]


def test_the_default_profile_alerts_on_bursts():
    balanced = parse_settings({}).detection.thresholds("prod", "run")
    assert balanced["burst_alerts"] and balanced["burst_min_hours"] == 2


def test_a_costly_two_hour_burst_opens_an_alert_that_says_it_ended_and_what_it_cost():
    values = steady(20.0)
    values[BURST:BURST + 2] *= 2.6
    opened = opened_after(values)

    assert len(opened) == 1
    incident = opened[0].incident
    assert incident.started_at == START + BURST * pd.Timedelta(hours=1)
    ended = START + (BURST + 2) * pd.Timedelta(hours=1)
    assert incident.evidence["burst_ended_at"] == ended.strftime("%Y-%m-%dT%H:%M:%SZ")
    extra = float(values[BURST:BURST + 2].sum() - values[BURST:BURST + 2].sum() / 2.6)
    assert incident.evidence["burst_cost_usd"] == pytest.approx(extra, rel=0.1)
    assert incident.detected_at > ended  # news once it is over
    alert = incident.to_alert()
    assert alert["burst_ended_at"] == incident.evidence["burst_ended_at"]


def test_a_small_two_hour_wiggle_does_not_alert():
    values = steady(20.0)
    values[BURST:BURST + 2] *= 1.3
    assert opened_after(values) == []


def test_a_sharp_but_cheap_two_hour_burst_does_not_alert():
    values = steady(3.0)  # +160 % of $3 for two hours: about $15
    values[BURST:BURST + 2] *= 2.6
    assert opened_after(values) == []


def test_a_single_sharp_hour_does_not_alert_at_the_default_profile():
    values = steady(20.0)
    values[BURST] *= 3.5
    assert opened_after(values) == []
