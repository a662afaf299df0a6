"""The relative margin by size and steadiness: the documented rule, line by line."""

from __future__ import annotations

import numpy as np
import pytest

from bot.detection._baseline import Baseline
from bot.detection._rules import Thresholds, judge


def margin_needed(expected: float, spread: float, thresholds: Thresholds) -> float:
    """The smallest rise (as a share of expected) that counts as anomalous, found by trying."""
    rises = np.linspace(0.05, 1.5, 291)
    n = len(rises)
    baseline = Baseline(expected=np.full(n, expected), sigma=np.full(n, spread),
                        usual_peak=np.full(n, expected), excursion=np.full(n, 0.2),
                        history_hours=np.full(n, 1000))
    verdict = judge(expected * (1 + rises), baseline, [thresholds] * n,
                    can_be_new=np.zeros(n, dtype=bool))
    return float(rises[np.argmax(verdict.anomalous)]) if verdict.anomalous.any() else np.inf


@pytest.mark.parametrize(("expected", "spread", "low", "high"), [
    (60.0, 0.03 * 60, 0.25, 0.40),  # big and steady: well under +50 %
    (60.0, 0.25 * 60, 0.50, 1.00),  # big but erratic: the full margin (or more, by the z test)
    (10.0, 0.03 * 10, 0.44, 0.50),  # small and steady: nearly the full +50 %
    (500.0, 0.0, 0.25, 0.27),  # as big and flat as it gets: the lower bound, +25 %
])
def test_the_margin_narrows_only_for_lines_that_are_big_and_steady(expected, spread, low, high):
    assert low <= margin_needed(expected, spread, Thresholds()) <= high


def test_the_narrowing_can_be_switched_off_and_bounded():
    assert margin_needed(500.0, 0.0, Thresholds(relative_shrink=0)) == pytest.approx(0.5, abs=0.01)
    assert margin_needed(500.0, 0.0, Thresholds(relative_shrink=0.2)) == pytest.approx(0.4,
                                                                                       abs=0.01)


def test_a_shrink_beyond_one_is_refused():
    with pytest.raises(ValueError, match="between 0"):
        Thresholds(relative_shrink=1.5)
