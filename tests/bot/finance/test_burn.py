"""Burn rate and threshold arithmetic on figures checked by hand."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from bot.finance.burn import (
    BudgetError,
    Crossed,
    burn_rate,
    crossed_thresholds,
    hours_to_exhaustion,
)

NOW = datetime(2026, 11, 10, 12, tzinfo=UTC)
MONTH_END = datetime(2026, 12, 1, tzinfo=UTC)  # 492 hours after NOW


def test_budget_gone_in_240_hours_at_30_dollars_a_day() -> None:
    # 300 left at 30 / 24 = 1.25 an hour
    assert hours_to_exhaustion(1000, 700, 30, now=NOW, period_end=MONTH_END) == 240
    burn = burn_rate(1000, 700, 30, now=NOW, period_end=MONTH_END)
    assert burn is not None
    assert burn.hourly_rate == 1.25
    assert burn.runs_out_at == datetime(2026, 11, 20, 12, tzinfo=UTC)


def test_a_budget_that_lasts_the_period_gives_none() -> None:
    assert hours_to_exhaustion(1000, 700, 30, now=NOW,
                               period_end=NOW + timedelta(hours=240)) is None
    assert hours_to_exhaustion(1000, 700, 30, now=NOW,
                               period_end=NOW + timedelta(hours=239)) is None
    assert hours_to_exhaustion(1000, 700, 30, now=NOW,
                               period_end=NOW + timedelta(hours=241)) == 240


@pytest.mark.parametrize(("spent", "last_24h", "expected"), [
    (1000, 30, 0.0),  # already spent: runs out now
    (1200, 0, 0.0),
    (700, 0, None),  # nothing spent lately: does not run out at that rate
    (700, -50, None),  # a credit
    (999, 24, 1.0),
])
def test_edges_of_the_burn_rate(spent: float, last_24h: float, expected: float | None) -> None:
    assert hours_to_exhaustion(1000, spent, last_24h, now=NOW,
                               period_end=MONTH_END) == expected


def test_after_the_period_there_is_nothing_to_warn_about() -> None:
    assert hours_to_exhaustion(1000, 999, 500, now=MONTH_END, period_end=MONTH_END) is None


def test_thresholds_on_actual_and_forecast_spend() -> None:
    assert crossed_thresholds(1000, 800, 1050) == Crossed(actual=(50, 80),
                                                          forecast=(50, 80, 100))
    assert crossed_thresholds(1000, 499.99, 500) == Crossed(actual=(), forecast=(50,))
    assert crossed_thresholds(25000, 20000, 20000, thresholds=[100, 80, 80, 90]) == Crossed(
        actual=(80,), forecast=(80,))
    assert crossed_thresholds(1000, 3000, 3000, thresholds=[150, 200, 400]) == Crossed(
        actual=(150, 200), forecast=(150, 200))


@pytest.mark.parametrize(("call", "message"), [
    (lambda: crossed_thresholds(0, 1, 1), "budget must be more than 0"),
    (lambda: crossed_thresholds(100, 1, 1, thresholds=[50, -5]), "got -5"),
    (lambda: crossed_thresholds(100, float("nan"), 1), "spent must be a finite amount"),
    (lambda: hours_to_exhaustion(100, 1, 1, now=datetime(2026, 11, 10),
                                 period_end=MONTH_END), "now must be timezone-aware"),
    (lambda: hours_to_exhaustion(-1, 1, 1, now=NOW, period_end=MONTH_END),
     "budget must be more than 0"),
])
def test_bad_figures_say_what_was_wrong(call, message: str) -> None:  # noqa: ANN001
    with pytest.raises(BudgetError, match=message):
        call()
