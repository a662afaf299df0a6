"""Lifecycle: one incident per workload, updated, auto-resolved, re-opened, first run quiet."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pandas as pd
import pytest

from bot.anomaly.lifecycle import Lifecycle, catch_up
from bot.detection.engine import SpendMatrix
from bot.detection.findings import Contributor, Finding

T0 = pd.Timestamp("2026-09-01T00:00:00Z")
H = pd.Timedelta(hours=1)


def finding(hour: int, *, anomalous=True, strong=False, confirming=False, elevated=True,
            excess=50.0, project="agent", environment="prod") -> Finding:
    return Finding(
        project=project, environment=environment, owner="team-a", phase="run",
        hour=T0 + hour * H, anomalous=anomalous, strong=strong, confirming=confirming,
        elevated=elevated, new_spend=False, expected=10.0, actual=10.0 + excess, excess=excess,
        contributors=[Contributor("Anthropic API", excess, 10.0, 10.0 + excess)],
        evidence={"baseline": "median of the same hour in the previous 4 weeks"},
    )


def run(lifecycle: Lifecycle, hours: dict[int, list[Finding]], until: int):
    events = []
    for hour in range(until):
        events += [(hour, e) for e in lifecycle.apply(hours.get(hour, []), now=T0 + (hour + 1) * H)]
    return events


def kinds(events):
    return [(hour, e.kind) for hour, e in events if e.kind != "updated"]


def test_a_strong_hour_opens_at_once_and_later_hours_update_the_same_incident():
    lifecycle = Lifecycle()
    events = run(lifecycle, {h: [finding(h, strong=True, excess=50 + h)] for h in range(3, 8)}, 9)

    assert kinds(events) == [(3, "opened")]
    incident = events[0][1].incident
    assert incident.started_at == T0 + 3 * H and incident.detected_at == T0 + 4 * H
    assert incident.impact_usd == pytest.approx(sum(50 + h for h in range(3, 8)))
    assert incident.peak_hourly_usd == pytest.approx(10 + 57)
    alert = incident.to_alert()
    assert alert["top_contributors"][0]["service"] == "Anthropic API"
    assert alert["detected_at"] == "2026-09-01T04:00:00Z"
    json.dumps(alert)  # the replay line is plain JSON


def test_one_ordinary_anomalous_hour_does_not_open_anything():
    events = run(Lifecycle(), {5: [finding(5)]}, 12)
    assert kinds(events) == []


def test_two_confirming_hours_in_a_row_open_from_the_first():
    events = run(Lifecycle(), {5: [finding(5, confirming=True)],
                               6: [finding(6, confirming=True)]}, 8)
    assert kinds(events) == [(6, "opened")]
    assert events[0][1].incident.started_at == T0 + 5 * H


def test_a_moderate_shift_opens_once_it_has_lasted():
    hours = {h: [finding(h)] for h in range(10, 20) if h != 12}  # one quiet hour inside
    events = run(Lifecycle(sustained_hours=4, sustained_window=5), hours, 20)
    assert kinds(events)[0] == (14, "opened")
    assert events[0][1].incident.started_at == T0 + 10 * H


def test_quiet_hours_auto_resolve_and_a_flare_soon_after_reopens_the_same_incident():
    lifecycle = Lifecycle(quiet_hours=3, reopen_hours=24)
    hours = {2: [finding(2, strong=True)], 3: [finding(3, strong=True)],
             10: [finding(10, strong=True)]}
    events = run(lifecycle, hours, 20)

    assert kinds(events) == [(2, "opened"), (6, "resolved"), (10, "reopened"), (13, "resolved")]
    ids = {e.incident.id for _, e in events}
    assert len(ids) == 1
    assert events[1][1].incident.status == "auto-resolved"


def test_a_flare_long_after_resolving_is_a_new_incident():
    lifecycle = Lifecycle(quiet_hours=2, reopen_hours=5)
    events = run(lifecycle, {1: [finding(1, strong=True)], 30: [finding(30, strong=True)]}, 32)
    opened = [e.incident.id for _, e in events if e.kind == "opened"]
    assert len(opened) == 2 and opened[0] != opened[1]


def test_workloads_are_separate_incidents():
    hours = {4: [finding(4, strong=True), finding(4, strong=True, project="other")]}
    events = run(Lifecycle(), hours, 6)
    assert sorted(e.incident.project for _, e in events if e.kind == "opened") == [
        "agent", "other"]


def _matrix_with_past_and_present_incidents() -> SpendMatrix:
    hours = 24 * 21
    rng = np.random.default_rng(0)
    index = pd.date_range(T0, periods=hours, freq="h")
    daily = 1 + 0.3 * np.sin(index.hour.to_numpy() / 24 * 2 * np.pi)
    old = 20 * daily * rng.lognormal(0, 0.05, hours)
    old[24 * 12: 24 * 12 + 8] *= 10  # an incident ten days ago, long over
    now = 20 * daily * rng.lognormal(0, 0.05, hours)
    now[-5:] *= 10  # an incident going on right now
    lines = pd.DataFrame({"project": ["old-news", "live"], "environment": ["prod", "prod"],
                          "service_name": ["Anthropic API", "OpenAI API"],
                          "owner": ["team-a", "team-b"], "phase": ["run", "run"]})
    return SpendMatrix(start=T0, values=np.vstack([old, now]), lines=lines)


def test_first_run_over_history_announces_only_what_is_still_going_on():
    matrix = _matrix_with_past_and_present_incidents()
    lifecycle = Lifecycle()

    events = catch_up(matrix, lifecycle, first_index=0)

    announced = [e.incident.project for e in events if e.alert and e.kind == "opened"]
    assert announced == ["live"]
    assert lifecycle.resolved[("old-news", "prod")].status == "auto-resolved"


def burst(hour: int, excess: float, **options) -> Finding:
    return dataclasses.replace(finding(hour, excess=excess, **options), min_burst_usd=50.0,
                               standout=2.5, burst_standout=2.0)


def test_a_costly_two_hour_burst_opens_once_it_is_over_saying_so_and_what_it_cost():
    lifecycle = Lifecycle()
    events = run(lifecycle, {5: [burst(5, 30.0)], 6: [burst(6, 35.0)]}, 9)

    assert kinds(events) == [(7, "opened")]
    incident = events[0][1].incident
    assert incident.started_at == T0 + 5 * H and incident.detected_at == T0 + 8 * H
    assert incident.impact_usd == pytest.approx(65.0)
    assert incident.peak_hourly_usd == pytest.approx(45.0)
    assert incident.evidence["burst_ended_at"] == "2026-09-01T07:00:00Z"
    assert incident.evidence["burst_cost_usd"] == pytest.approx(65.0)
    assert incident.to_alert()["detected_at"] == "2026-09-01T08:00:00Z"


def test_a_cheap_burst_stays_quiet():
    events = run(Lifecycle(), {5: [burst(5, 20.0)], 6: [burst(6, 25.0)]}, 12)
    assert kinds(events) == []


def test_a_burst_is_judged_only_when_it_is_over():
    hours = {5: [burst(5, 40.0)], 6: [burst(6, 30.0)],
             7: [burst(7, 3.0, anomalous=False, elevated=True)]}
    events = run(Lifecycle(), hours, 10)
    assert kinds(events) == [(8, "opened")]
    assert events[0][1].incident.evidence["burst_ended_at"] == "2026-09-01T07:00:00Z"


def test_a_costly_but_moderate_burst_on_a_busy_line_stays_quiet():
    def moderate(hour: int) -> Finding:  # a line that jumps like this now and then
        return dataclasses.replace(burst(hour, 40.0), standout=1.2)
    events = run(Lifecycle(), {5: [moderate(5)], 6: [moderate(6)]}, 12)
    assert kinds(events) == []


def test_a_one_hour_burst_stays_quiet_where_bursts_need_two_hours():
    def two_hour_rule(hour: int, excess: float) -> Finding:
        return dataclasses.replace(burst(hour, excess), burst_min_hours=2)
    assert kinds(run(Lifecycle(), {5: [two_hour_rule(5, 90.0)]}, 12)) == []
    events = run(Lifecycle(), {5: [two_hour_rule(5, 40.0)], 6: [two_hour_rule(6, 40.0)]}, 12)
    assert kinds(events) == [(7, "opened")]
    assert events[0][1].incident.evidence["burst_hours"] == 2


def test_a_later_unit_cost_finding_renames_a_spike_and_carries_the_prices():
    priced = dataclasses.replace(finding(2), evidence={
        "baseline": "median", "unit_cost_before": 0.0003, "unit_cost_after": 0.0006,
        "unit_cost_unit": "Tokens", "usage_change": 0.02,
        "unit_cost_since": "2026-09-01T00:00:00Z"})
    lifecycle = Lifecycle()
    events = run(lifecycle, {0: [finding(0, strong=True)], 1: [finding(1)], 2: [priced]}, 3)
    incident = events[0][1].incident
    assert incident.kind == "unit-cost"
    assert incident.evidence["unit_cost_after"] == 0.0006
    assert incident.to_alert()["usage_change"] == 0.02
