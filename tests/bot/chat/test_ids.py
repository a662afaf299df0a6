"""What rides along with a button or a form: it parses back, and anything else is refused."""

from __future__ import annotations

import pytest

from bot.chat.ids import (
    SNOOZE_HOURS,
    ActionId,
    AlertRef,
    BadPayload,
    CallbackId,
    StepMeta,
    parse_ref,
    parse_step_meta,
)

BUTTON_VALUE_MAX = 2000  # Slack's limit for a button's value
METADATA_MAX = 3000  # and for a modal's private_metadata


def test_a_button_value_round_trips_and_fits_in_a_button():
    for hours in (None, *SNOOZE_HOURS):
        ref = AlertRef(anomaly_id=2**31, hours=hours)
        raw = ref.model_dump_json()
        assert parse_ref(raw) == ref
        assert len(raw) < BUTTON_VALUE_MAX


def test_a_forms_metadata_round_trips_and_fits_even_at_its_longest():
    meta = StepMeta(anomaly_id=7, step_id="s" * 64, channel="C" * 100, message_ts="1" * 40)
    raw = meta.model_dump_json()
    assert parse_step_meta(raw) == meta
    assert len(raw) < METADATA_MAX


def test_a_value_from_a_message_without_a_version_still_parses():
    assert parse_ref('{"anomaly_id": 5}') == AlertRef(anomaly_id=5)
    assert parse_step_meta('{"anomaly_id": 5, "step_id": "owner", "channel": "C1"}') == \
        StepMeta(anomaly_id=5, step_id="owner", channel="C1")


@pytest.mark.parametrize("raw", [
    None, "", "not json", "[]", '{"anomaly_id": 0}', '{"anomaly_id": -1}',
    '{"anomaly_id": "1; drop table"}', '{"v": 2, "anomaly_id": 1}',
    '{"anomaly_id": 1, "admin": true}',
])
def test_a_tampered_or_unknown_button_value_is_refused_with_what_to_do(raw):
    with pytest.raises(BadPayload, match="use /cost anomalies to find the current alert"):
        parse_ref(raw)


@pytest.mark.parametrize("raw", [
    '{"anomaly_id": 1, "step_id": "owner"}',                           # no channel
    '{"anomaly_id": 1, "step_id": "' + "x" * 65 + '", "channel": "C"}',  # step id too long
    '{"anomaly_id": 1, "step_id": "owner", "channel": "C", "user": "U0FIN"}',
])
def test_tampered_form_metadata_is_refused(raw):
    with pytest.raises(BadPayload, match="in StepMeta"):
        parse_step_meta(raw)


def test_ids_are_distinct_so_no_two_handlers_share_one():
    values = [m.value for m in ActionId] + [m.value for m in CallbackId]
    assert len(values) == len(set(values))
