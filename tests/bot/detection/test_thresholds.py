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


def test_balanced_is_the_default_as_it_stands_and_profiles_move_it_both_ways():
    settings = parse_settings({})
    assert settings.detection.profile_of("prod") == "balanced"
    balanced = settings.detection.thresholds("prod", "run")
    chosen = parse_settings({"detection": {"environments": {
        "prod": {"profile": "sensitive"}, "qa": {"profile": "conservative"}}}}).detection
    sensitive, conservative = chosen.thresholds("prod", "run"), chosen.thresholds("qa", "run")
    assert sensitive["relative"] < balanced["relative"] < conservative["relative"]
    assert sensitive["min_burst_usd"] < balanced["min_burst_usd"] < conservative["min_burst_usd"]
    assert sensitive["burst_alerts"] and balanced["burst_alerts"]
    assert sensitive["burst_min_hours"] < balanced["burst_min_hours"]
    assert not conservative["burst_alerts"]
    assert "profile" not in sensitive  # only thresholds reach the detector
    assert chosen.thresholds("other", "run") == balanced  # no profile chosen: balanced


def test_an_environments_own_values_win_over_its_profile():
    detection = parse_settings({"detection": {"profile": "sensitive", "environments": {
        "prod": {"min_daily_usd": 99}}}}).detection
    assert detection.thresholds("prod", "run")["min_daily_usd"] == 99
    assert detection.thresholds("prod", "run")["relative"] == 0.35  # from the profile


def test_a_configured_profile_changes_a_built_in_field_by_field_or_adds_one():
    detection = parse_settings({"detection": {"profiles": {
        "sensitive": {"z": 3.0}, "night-watch": {"relative": 0.3}},
        "environments": {"prod": {"profile": "night-watch"}, "qa": {"profile": "sensitive"}}},
    }).detection
    assert detection.thresholds("qa", "run")["z"] == 3.0
    assert detection.thresholds("qa", "run")["relative"] == 0.35  # kept from the built-in
    assert detection.thresholds("prod", "run")["relative"] == 0.3


@pytest.mark.parametrize(("bad", "says"), [
    ({"detection": {"environments": {"prod": {"profile": "paranoid"}}}},
     "detection.environments.prod.profile is 'paranoid'"),
    ({"detection": {"profile": "loud"}}, "use one of balanced, conservative, sensitive"),
    ({"detection": {"phases": {"build": {"profile": "sensitive"}}}}, "detection.phases.build"),
])
def test_an_unknown_or_misplaced_profile_is_refused_saying_what_to_use(bad, says):
    with pytest.raises(ConfigError) as caught:
        parse_settings(bad)
    assert says in str(caught.value)
