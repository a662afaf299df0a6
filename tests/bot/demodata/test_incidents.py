"""The incident kinds added for sharper detection: each changes spend the way its label says."""

from __future__ import annotations

import json
from datetime import datetime

import numpy as np
import pandas as pd
import pytest

from bot.demodata import LINES, write_demo_data
from bot.demodata.incidents import EXTRA_INCIDENTS, Scene
from bot.demodata.shapes import Clock, baseline

DAY = 24


def scene(seed: int) -> Scene:
    clock = Clock.of(pd.date_range("2026-03-02", periods=35 * DAY, freq="h", tz="UTC"))
    lines = list(LINES)
    cost = [baseline(line, clock, np.random.default_rng([seed, i]))[0]
            for i, line in enumerate(lines)]
    return Scene(clock, lines, cost, earliest=10 * DAY, latest=clock.n - 12, live=False)


def planted(kind: str, seed: int) -> tuple[Scene, list[np.ndarray], object]:
    s = scene(seed)
    before = [c.copy() for c in s.cost]
    event = EXTRA_INCIDENTS[kind](s, np.random.default_rng([seed, 1000]))
    assert event is not None, f"{kind}: no place found"
    return s, before, event


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_a_price_increase_raises_a_big_line_by_35_to_45_percent_for_days(seed):
    s, before, event = planted("price-increase", seed)
    index = s.lines.index(event.line)
    ratio = s.cost[index][event.start:event.end] / before[index][event.start:event.end]
    assert 48 <= event.end - event.start <= 96
    assert np.allclose(ratio, ratio[0]) and 1.35 <= ratio[0] <= 1.45
    assert s.typical(index, event.start) >= 5.0
    assert event.line.environment == "prod"


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_a_two_hour_burst_doubles_a_big_line_then_is_over(seed):
    s, before, event = planted("two-hour-burst", seed)
    index = s.lines.index(event.line)
    extra = s.cost[index] - before[index]
    assert event.end - event.start == 2
    week_before = before[index][event.start - 7 * DAY:event.end - 7 * DAY]
    assert np.all(extra[event.start:event.end] >= 1.3 * week_before)
    assert s.typical(index, event.start) >= 4.0
    assert not extra[:event.start].any() and not extra[event.end:].any()


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_a_slow_leak_creeps_up_hour_by_hour_for_days(seed):
    s, before, event = planted("slow-leak", seed)
    index = s.lines.index(event.line)
    ratio = s.cost[index][event.start:event.end] / before[index][event.start:event.end]
    assert event.end - event.start >= 72
    assert np.all(np.diff(ratio) > 0)
    assert ratio[0] < 1.05 and ratio[-1] >= 2.2


@pytest.mark.parametrize("seed", [1, 2])
def test_a_price_increase_leaves_the_usage_as_it_was(seed):
    s, before, event = planted("price-increase", seed)
    index = s.lines.index(event.line)
    assert np.allclose(s.usage[index], before[index])  # same tokens, dearer
    assert not np.allclose(s.cost[index], s.usage[index])


@pytest.mark.parametrize("kind", ["two-hour-burst", "slow-leak", "retry-storm"])
def test_more_traffic_raises_the_usage_with_the_cost(kind):
    s, before, event = planted(kind, 1)
    index = s.lines.index(event.line)
    assert np.allclose(s.usage[index], s.cost[index])
    assert not np.allclose(s.usage[index], before[index])


def test_the_exported_quantity_follows_usage_not_cost(tmp_path):
    write_demo_data(tmp_path, days=28, seed=1, start=datetime(2026, 3, 2),
                    kinds=["price-increase"])
    labels = json.loads((tmp_path / "labels.json").read_text())
    event = labels["events"][0]
    rows = pd.concat(pd.read_csv(path) for path in tmp_path.glob("focus-*.csv.gz"))
    rows = rows[(rows["ServiceName"] == event["service"]) & (rows["ChargeCategory"] == "Usage")
                & rows["Tags"].str.contains(event["project"])
                & rows["Tags"].str.contains('"prod"|"production"|"prd"', regex=True)]
    price = rows["EffectiveCost"] / rows["ConsumedQuantity"]
    during = rows["ChargePeriodStart"].between(event["start"], event["end"])
    assert price[during].median() / price[~during].median() == pytest.approx(1.4, abs=0.06)
