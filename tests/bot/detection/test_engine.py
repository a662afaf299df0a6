"""The engine over several lines of one workload: which level catches what, what it names.

Each case is a tiny workload (a few lines, five weeks of hourly history) whose last hours are
changed; the lifecycle then says whether an incident opened, of which kind, and what the top
contributor was (service and SKU).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import pytest

from bot.anomaly.lifecycle import Lifecycle
from bot.detection import Thresholds
from bot.detection.engine import SpendMatrix, detect_hour

HOURS = 24 * 35
CHANGE = HOURS - 8  # the last eight hours are judged
START = pd.Timestamp("2026-06-01", tz="UTC")
HOUR_OF_DAY = (np.arange(HOURS) % 24)


def steady(level: float, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    daily = 1 + 0.2 * np.sin((HOUR_OF_DAY - 8) / 24 * 2 * np.pi)
    return level * daily * rng.lognormal(0, 0.04, HOURS)


def working_hours(level: float, seed: int) -> np.ndarray:
    """A GPU pool that runs 08:00-18:00 on weekdays only."""
    weekday = ((np.arange(HOURS) // 24) % 7) < 5
    on = weekday & (HOUR_OF_DAY >= 8) & (HOUR_OF_DAY < 18)
    return np.where(on, steady(level, seed), 0.0)


@dataclass
class Line:
    service: str
    values: np.ndarray
    sku: str = ""
    region: str = "us-east-1"


@dataclass
class Case:
    name: str
    lines: list[Line]
    opens: bool
    kind: str | None = None
    service: str | None = None
    sku: str | None = None
    notes: list[str] = field(default_factory=list)


def changed(values: np.ndarray, factor: float | np.ndarray, start: int = CHANGE) -> np.ndarray:
    out = values.copy()
    out[start:] = out[start:] * factor
    return out


def appearing(level: float, seed: int, start: int = CHANGE) -> np.ndarray:
    out = steady(level, seed)
    out[:start] = 0.0
    return out


def vanishing(values: np.ndarray, start: int = CHANGE) -> np.ndarray:
    out = values.copy()
    out[start:] = 0.0
    return out


def night_on(values: np.ndarray, level: float) -> np.ndarray:
    """The pool left running after 18:00 on the last (weekday) evening."""
    out = values.copy()
    out[CHANGE:] = np.maximum(out[CHANGE:], level)
    return out


BEDROCK_SMALL = steady(4.0, 5)
CASES = [
    Case("a 12-fold rise of a small logging line under a big total",
         [Line("Amazon Bedrock", steady(200.0, 1)), Line("CloudWatch Logs", changed(
             steady(3.0, 2), 12.0))],
         opens=True, kind="level-shift", service="CloudWatch Logs"),
    Case("a three-hour spike that goes away again",
         [Line("Amazon Bedrock", changed(steady(20.0, 1), np.array([1, 1, 1, 1, 1, 10, 10, 10])))],
         opens=True, kind="spike", service="Amazon Bedrock"),
    Case("one model's rise inside a busy service with two models",
         [Line("Amazon Bedrock", steady(200.0, 3), sku="claude-haiku"),
          Line("Amazon Bedrock", changed(BEDROCK_SMALL, 10.0), sku="claude-opus")],
         opens=True, service="Amazon Bedrock", sku="claude-opus"),
    Case("a model migration at the same cost: the new SKU replaces the old",
         [Line("Amazon Bedrock", steady(100.0, 3), sku="titan"),
          Line("Amazon Bedrock", vanishing(steady(40.0, 4)), sku="model-a"),
          Line("Amazon Bedrock", appearing(40.0, 6), sku="model-b")],
         opens=False),
    Case("a switch to a pricier model tier: the new SKU costs four times the old",
         [Line("Amazon Bedrock", steady(100.0, 3), sku="titan"),
          Line("Amazon Bedrock", vanishing(steady(40.0, 4)), sku="model-a"),
          Line("Amazon Bedrock", appearing(160.0, 6), sku="model-b")],
         opens=True, kind="new-spend", service="Amazon Bedrock", sku="model-b"),
    Case("a new service on a workload that has run for weeks",
         [Line("Amazon EC2", steady(50.0, 1)), Line("Amazon SageMaker", appearing(30.0, 2))],
         opens=True, kind="new-spend", service="Amazon SageMaker"),
    Case("a GPU pool left running after the working day",
         [Line("Amazon EC2", steady(5.0, 1)),
          Line("EC2 GPU", night_on(working_hours(40.0, 2), 40.0))],
         opens=True, kind="off-hours", service="EC2 GPU"),
    Case("a runaway autoscaler: each hour 40 % above the last",
         [Line("Amazon EKS", changed(steady(30.0, 1), 1.4 ** np.arange(1, 9)))],
         opens=True, kind="ramp", service="Amazon EKS"),
    Case("a few cents of new spend",
         [Line("Amazon EC2", steady(50.0, 1)), Line("Amazon SQS", appearing(0.05, 2))],
         opens=False),
    Case("price +40 % on a steady $60/h line",
         [Line("Amazon Bedrock", changed(steady(60.0, 1), 1.4)), Line("Amazon S3", steady(5.0, 2))],
         opens=True, service="Amazon Bedrock"),
    Case("nothing changed", [Line("Amazon EC2", steady(50.0, 1)),
                             Line("Amazon S3", steady(5.0, 2))], opens=False),
]


def matrix_of(case: Case) -> SpendMatrix:
    lines = pd.DataFrame([{
        "project": "chatbot", "environment": "prod", "service_name": line.service,
        "region": line.region, "sku_id": line.sku, "owner": "team-ai", "phase": "run",
    } for line in case.lines])
    return SpendMatrix(start=START, values=np.vstack([line.values for line in case.lines]),
                       lines=lines)


def run(case: Case, thresholds: Thresholds | None = None):
    matrix = matrix_of(case)
    lifecycle = Lifecycle(quiet_hours=6, reopen_hours=24)
    opened = []
    for index in range(CHANGE - 24, HOURS):
        findings = detect_hour(matrix, index, default=thresholds)
        now = matrix.hour(index) + pd.Timedelta(hours=1)
        opened += [e.incident for e in lifecycle.apply(findings, now=now) if e.kind == "opened"]
    return opened


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_engine_table(case: Case):
    opened = run(case)
    if not case.opens:
        assert opened == [], f"{case.name}: opened {[(i.kind, i.started_at) for i in opened]}"
        return
    assert len(opened) == 1, f"{case.name}: expected one incident, got {len(opened)}"
    incident = opened[0]
    assert incident.started_at >= START + pd.Timedelta(hours=CHANGE - 1)
    assert incident.detected_at - incident.started_at <= pd.Timedelta(hours=5)
    if case.kind:
        assert incident.kind == case.kind
    top = incident.contributors[0]
    assert top.service == case.service
    if case.sku is not None:
        assert top.sku == case.sku


ONE_HOUR_BURST = Case(
    "a big line costs 3.5 times as much for an hour, then it is over",
    [Line("Amazon Bedrock", changed(steady(30.0, 1), np.array([1, 1, 3.5, 1, 1, 1, 1, 1]))),
     Line("Amazon S3", steady(5.0, 2))], opens=True)


def test_a_burst_that_is_over_is_reported_with_its_end_and_cost_when_asked_for():
    assert run(ONE_HOUR_BURST) == []  # off unless chosen (the sensitive profile turns it on)
    (incident,) = run(ONE_HOUR_BURST, Thresholds(burst_alerts=True))
    assert incident.kind == "spike" and incident.contributors[0].service == "Amazon Bedrock"
    ended = START + pd.Timedelta(hours=CHANGE + 3)
    assert incident.evidence["burst_ended_at"] == ended.strftime("%Y-%m-%dT%H:%M:%SZ")
    assert incident.detected_at == ended + pd.Timedelta(hours=1)
    assert 60 < float(incident.evidence["burst_cost_usd"]) < 110  # an hour of about +$80


def test_contributors_are_ranked_by_dollar_delta_and_say_where():
    case = Case("two lines rise", [
        Line("Amazon EC2", changed(steady(50.0, 1), 2.0), region="eu-west-1"),
        Line("Amazon S3", changed(steady(10.0, 2), 3.0), sku="standard"),
        Line("Amazon SQS", steady(5.0, 3)),
    ], opens=True)
    matrix = matrix_of(case)
    finding = next(f for f in detect_hour(matrix, HOURS - 1) if f.anomalous)
    assert [c.service for c in finding.contributors] == ["Amazon EC2", "Amazon S3"]
    ec2, s3 = finding.contributors
    assert ec2.region == "eu-west-1" and s3.sku == "standard"
    assert ec2.impact_usd == pytest.approx(ec2.actual - ec2.expected, abs=0.01)
    assert ec2.impact_usd > s3.impact_usd > 0


def test_one_sku_per_service_line_shares_the_values_array():
    """The common case (no SKU split) costs no extra memory: service lines are the lines."""
    matrix = matrix_of(CASES[0])
    assert matrix.service_values is matrix.values
    split = matrix_of(next(c for c in CASES if c.name.startswith("one model's rise")))
    assert split.service_values.shape == (1, HOURS)
    assert split.split.tolist() == [True, True]


@pytest.mark.parametrize("case", [
    Case("EC2 doubles", [Line("Amazon EC2", changed(steady(50.0, 1), 2.0)),
                         Line("Amazon S3", steady(10.0, 2))], opens=True),
    Case("a model takes the traffic", [  # judged on the SKU lines, with their own thresholds
        Line("Amazon Bedrock", steady(200.0, 3), sku="claude-haiku"),
        Line("Amazon Bedrock", changed(BEDROCK_SMALL, 10.0), sku="claude-opus")], opens=True),
], ids=lambda case: case.name)
def test_the_same_matrix_judged_with_other_thresholds_uses_the_new_ones(case):
    """Each hour reads thresholds worked out once per matrix; a changed table (a reloaded
    config, a sensitive profile) must still be the one that judges."""
    matrix = matrix_of(case)
    index = HOURS - 1
    loud = detect_hour(matrix, index)
    assert any(f.anomalous for f in loud)
    deaf = Thresholds(min_hourly_usd=1e9, min_daily_usd=1e9, new_spend_hourly_usd=1e9)
    for table, default in (({("prod", "run"): deaf}, None), ({}, deaf)):
        assert not any(f.anomalous for f in detect_hour(matrix, index, table, default=default))
    assert detect_hour(matrix, index) == loud  # and the first table again, as before
