"""What "normal" is per environment and phase: resolution order and validation."""

import pytest

from bot.settings import ConfigError, parse_settings


def test_environment_beats_phase_beats_default_field_by_field():
    settings = parse_settings({"detection": {
        "default": {"relative": 0.4, "min_hourly_usd": 1.0},
        "phases": {"move": {"relative": 2.0, "min_daily_usd": 99}},
        "environments": {"prod": {"relative": 0.3}},
    }})
    prod_move = settings.detection.thresholds("prod", "move")
    assert prod_move["relative"] == 0.3  # environment wins
    assert prod_move["min_daily_usd"] == 99  # from the phase
    assert prod_move["min_hourly_usd"] == 1.0  # from the default
    assert settings.detection.thresholds("qa", "unknown-phase")["relative"] == 0.4


def test_defaults_are_stricter_in_prod_than_in_dev():
    settings = parse_settings({})
    prod = settings.detection.thresholds("prod", "run")
    dev = settings.detection.thresholds("dev", "build")
    assert prod["relative"] < dev["relative"]
    assert prod["min_daily_usd"] < dev["min_daily_usd"]


@pytest.mark.parametrize("bad", [
    {"detection": {"default": {"relative": -1}}},
    {"detection": {"environments": {"prod": {"min_hourly_usd": "lots"}}}},
    {"detection": {"quiet_hours_to_resolve": 0}},
])
def test_bad_thresholds_are_refused_naming_the_key(bad):
    with pytest.raises(ConfigError) as caught:
        parse_settings(bad)
    assert "detection." in str(caught.value)


def test_floors_are_thresholds_that_an_environment_can_switch_off():
    settings = parse_settings({"detection": {"environments": {"lab": {
        "min_hourly_usd": 0, "min_daily_usd": 0, "sigma_floor_usd": 0,
        "expected_floor_usd": 0}}}})
    lab = settings.detection.thresholds("lab", "run")
    prod = settings.detection.thresholds("prod", "run")
    assert lab["sigma_floor_usd"] == 0 and lab["expected_floor_usd"] == 0
    assert prod["sigma_floor_usd"] == 0.05 and prod["expected_floor_usd"] == 0.05
