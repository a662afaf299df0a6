"""The widened normal: a line with feedback is judged against its floor, and only that line.

One workload of two steady service lines (and, in the split case, a service line of two SKUs)
with 14 days of history; the last hour is judged with and without floors.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from bot.detection.engine import SpendMatrix, detect_hour

HOURS = 24 * 14 + 1
LAST = HOURS - 1
START = pd.Timestamp("2026-06-01", tz="UTC")
BEDROCK = ("agent", "prod", "Amazon Bedrock", "us-east-1")
LOGS = ("agent", "prod", "AmazonCloudWatch", "us-east-1")


def steady(level: float, seed: int) -> np.ndarray:
    return level * np.random.default_rng(seed).lognormal(0, 0.03, HOURS)


def matrix(last: dict[tuple[str, str], float], *, split: bool = False) -> SpendMatrix:
    """Bedrock at $20/h (two SKUs at $10/h when ``split``) and logs at $3/h; ``last`` sets
    the last hour of (service, sku)."""
    lines = [(BEDROCK, "sonnet", steady(10.0, 1)), (BEDROCK, "haiku", steady(10.0, 2))] \
        if split else [(BEDROCK, "", steady(20.0, 1))]
    lines.append((LOGS, "", steady(3.0, 3)))
    for key, sku, values in lines:
        if (key[2], sku) in last:
            values[LAST] = last[(key[2], sku)]
    frame = pd.DataFrame([{"project": k[0], "environment": k[1], "service_name": k[2],
                           "region": k[3], "sku_id": sku, "owner": "team", "phase": "run"}
                          for k, sku, _ in lines])
    return SpendMatrix(start=START, values=np.array([v for _, _, v in lines]), lines=frame)


def flags(spend: SpendMatrix, floors: dict | None) -> tuple[bool, bool]:
    """(anomalous, elevated) of the workload in the last hour."""
    found = detect_hour(spend, LAST, normal_floors=floors)
    return (any(f.anomalous for f in found), any(f.elevated for f in found))


BEDROCK_32 = {(*BEDROCK, ""): 32.0}


@pytest.mark.parametrize(("name", "last", "floors", "expected"), [
    ("a rise without feedback", {("Amazon Bedrock", ""): 32.0}, None, (True, True)),
    ("the same rise with feedback", {("Amazon Bedrock", ""): 32.0}, BEDROCK_32,
     (False, False)),
    ("a little over the floor: within half the margin", {("Amazon Bedrock", ""): 35.0},
     BEDROCK_32, (False, False)),
    ("far over the floor", {("Amazon Bedrock", ""): 60.0}, BEDROCK_32, (True, True)),
    ("another line of the workload", {("AmazonCloudWatch", ""): 30.0}, BEDROCK_32,
     (True, True)),
    ("a floor below the baseline changes nothing", {("Amazon Bedrock", ""): 32.0},
     {(*BEDROCK, ""): 5.0}, (True, True)),
    ("feedback on another workload changes nothing", {("Amazon Bedrock", ""): 32.0},
     {("other", "prod", "Amazon Bedrock", "us-east-1", ""): 32.0}, (True, True)),
])
def test_the_floor_decides_for_its_line_only(name, last, floors, expected):
    assert flags(matrix(last), floors) == expected, name


def test_a_split_service_line_raises_the_sku_the_feedback_named():
    sonnet_rise = {("Amazon Bedrock", "sonnet"): 22.0}  # +$12/h on one SKU of two
    # the level is the service line's (its contributor's), the SKU the one that rose
    named = {(*BEDROCK, "sonnet"): 32.0}
    other = {(*BEDROCK, "haiku"): 32.0}

    assert flags(matrix(sonnet_rise, split=True), None)[0]
    assert flags(matrix(sonnet_rise, split=True), named) == (False, False)
    # feedback on the other SKU widens the service line and the total, not this SKU
    assert flags(matrix(sonnet_rise, split=True), other)[0]


def test_findings_show_the_widened_expected_spend():
    [finding] = detect_hour(matrix({("Amazon Bedrock", ""): 60.0}), LAST,
                            normal_floors=BEDROCK_32)
    [top] = [c for c in finding.contributors if c.service == "Amazon Bedrock"]
    assert top.expected == pytest.approx(32.0)
    assert finding.expected == pytest.approx(35.0, rel=0.05)  # $32 + logs' $3
