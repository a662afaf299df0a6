"""What a lever saves, from the anomaly's own figures: ranges, never invented precision."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from pydantic import ValidationError

from bot.playbook import PlaybookError, Saving, SpendFigures, estimate, load_playbook

# $2 expected, $20 actual per hour: $18 an hour over; newest elevated hour 30 Sep 21:00 UTC
FIGURES = SpendFigures(expected_hourly=2.0, actual_hourly=20.0, excess_so_far=54.0,
                       newest_hour=datetime(2026, 9, 30, 21, 0, tzinfo=UTC))


def saving(of: str, low: float, high: float) -> Saving:
    return Saving.model_validate({"of": of, "share": [low, high], "assumption": "a guess"})


@pytest.mark.parametrize(("of", "low", "high", "expected"), [
    # 18 $/h × 24 h = 432 a day; 30 % and 60 % of it, to two significant figures
    ("excess_per_day", 0.3, 0.6, (130.0, 260.0)),
    # 20 $/h × 24 h = 480 a day
    ("spend_per_day", 0.1, 0.45, (48.0, 220.0)),
    # 18 $/h × 2 hours left in September after the 21:00 hour
    ("excess_to_month_end", 0.5, 1.0, (18.0, 36.0)),
    ("excess_so_far", 0.0, 0.5, (0.0, 27.0)),
])
def test_the_estimate_applies_the_share_to_the_anomalys_figure(
    of: str, low: float, high: float, expected: tuple[float, float]
) -> None:
    found = estimate(saving(of, low, high), FIGURES)

    assert (found.low, found.high) == expected


def test_the_text_is_a_range_or_up_to_with_the_assumption() -> None:
    assert estimate(saving("excess_per_day", 0.3, 0.6), FIGURES).text() == (
        "Saves about $130 to $260 a day (a guess).")
    assert estimate(saving("excess_so_far", 0.0, 0.5), FIGURES).text() == (
        "Saves up to $27 of the excess spent so far (a guess).")


def test_spend_back_at_normal_leaves_nothing_to_save() -> None:
    calm = SpendFigures(expected_hourly=5.0, actual_hourly=4.0, excess_so_far=0.0,
                        newest_hour=FIGURES.newest_hour)

    assert estimate(saving("excess_per_day", 0.3, 0.6), calm).text() == (
        "Nothing to save at the current figures (a guess).")


def test_the_hours_left_in_the_month_count_from_the_end_of_the_newest_hour() -> None:
    mid = SpendFigures(2.0, 20.0, 0.0, datetime(2026, 2, 14, 0, 0, tzinfo=UTC))

    assert FIGURES.hours_left_in_month() == 2
    assert mid.hours_left_in_month() == 14 * 24 + 23  # 14 Feb 01:00 to 1 Mar 00:00


@pytest.mark.parametrize(("share", "fragment"), [
    ([0.6, 0.3], "runs backwards"),
    ([0.0, 0.0], "saves nothing"),
    ([0.2, 1.5], "less than or equal to 1"),
])
def test_a_share_that_makes_no_sense_is_refused(share: list[float], fragment: str) -> None:
    with pytest.raises(ValidationError, match=fragment):
        Saving.model_validate({"of": "excess_per_day", "share": share, "assumption": "x"})


def test_a_broken_lever_in_yaml_names_its_line_and_key(tmp_path: Path) -> None:
    path = tmp_path / "mini.yml"
    path.write_text("""\
name: mini
title: Mini
levers:
  - id: cache
    title: Cache it
    how: Cache the prefix.
    saves: {of: excess_per_week, share: [0.1, 0.2], assumption: a guess}
steps:
  - id: fix
    title: Fix
    fields:
      - {id: what, kind: text, label: What was done}
resolution: {root_cause: fix.what, fix: fix.what, prevention: fix.what}
""", encoding="utf-8")

    with pytest.raises(PlaybookError) as caught:
        load_playbook(path)

    assert f"{path}, line 7: levers[0].saves.of: 'excess_per_week' is not allowed; use one " \
           f"of: 'excess_per_day', 'excess_to_month_end'" in str(caught.value)
