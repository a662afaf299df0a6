"""``retention:`` in the config: off by default, and an age too short for what still reads
hourly points is refused with what to write instead."""

from __future__ import annotations

import pytest

from bot.settings import ConfigError, parse_settings


def test_retention_is_off_unless_an_age_is_set():
    settings = parse_settings({})
    assert not settings.retention.enabled
    on = parse_settings({"retention": {"hourly_days": 400, "hour": 2}}).retention
    assert on.enabled and (on.hourly_days, on.hour) == (400, 2)


@pytest.mark.parametrize(("config", "needed"), [
    ({"retention": {"hourly_days": 7}}, 35),
    ({"retention": {"hourly_days": 40},
      "sources": [{"type": "openai", "overlap_hours": 50 * 24, "api_key_env": "KEY"}]}, 57),
])
def test_an_age_shorter_than_detection_or_a_source_overlap_needs_is_refused(config, needed):
    with pytest.raises(ConfigError) as error:
        parse_settings(config)
    message = str(error.value)
    assert "retention.hourly_days" in message
    assert f"use {needed} or more, or leave retention off" in message


def test_an_unknown_retention_key_names_the_allowed_ones():
    with pytest.raises(ConfigError, match="allowed keys here: hour, hourly_days"):
        parse_settings({"retention": {"hourly_day": 400}})
