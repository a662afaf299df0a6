"""Reading a click on a Teams card: both wire shapes, every verb, and refusals that say why."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from bot.anomaly.service import SHIPPED_PLAYBOOKS
from bot.chat.ids import SNOOZE_HOURS
from bot.chat.teams.verbs import (
    EXPECTED_INPUT,
    SNOOZE_INPUT,
    CardAction,
    CardActionError,
    Verb,
    action_data,
    expected_reason,
    field_input_id,
    parse_action,
    reason_input_id,
    snooze_hours,
    step_values,
    toggle_input_id,
)
from bot.playbook import StepError, load_playbook, start, submit

PLAYBOOK = load_playbook(SHIPPED_PLAYBOOKS / "default.yml")
NOW = datetime(2026, 9, 1, 9, tzinfo=UTC)


def invoke(verb: str, data: dict[str, object]) -> dict[str, object]:
    """An ``adaptiveCard/action`` invoke's value, as Teams sends it."""
    return {"action": {"type": "Action.Execute", "verb": verb, "data": data},
            "trigger": "manual"}


@pytest.mark.parametrize("verb", list(Verb))
def test_every_verb_round_trips_through_the_invoke_and_the_submit_fallback(verb):
    data = action_data(verb, 42, step_id="owner") | {"f.owner": "priya"}
    expected = CardAction(verb=verb, anomaly_id=42, step_id="owner",
                          inputs={"f.owner": "priya"})
    assert parse_action(invoke(verb.value, data)) == expected
    assert parse_action(data) == expected  # Action.Submit: data merged with inputs, no wrapper


def test_the_invoke_verb_wins_over_a_stale_verb_in_the_data():
    data = action_data(Verb.SNOOZE, 7)
    assert parse_action(invoke("snooze_save", data)).verb is Verb.SNOOZE_SAVE


def test_digits_as_text_are_read_as_the_anomaly_id():
    assert parse_action({"verb": "ack", "anomaly_id": "12"}).anomaly_id == 12


@pytest.mark.parametrize(("value", "says"), [
    ("ack", "JSON object"),
    ({"action": "ack"}, "value.action must be a JSON object"),
    ({"action": {"type": "Action.Submit", "verb": "ack", "data": {}}}, "Action.Execute"),
    (invoke("ack", "42"), "data must be a JSON object"),  # type: ignore[arg-type]
    (invoke("dance", {"anomaly_id": 1}), "unknown card verb 'dance'"),
    (invoke("ack", {}), "anomaly_id"),
    (invoke("ack", {"anomaly_id": 0}), "anomaly_id"),
    (invoke("ack", {"anomaly_id": "twelve"}), "anomaly_id"),
    (invoke("ack", {"anomaly_id": 1, "v": 2}), "v:"),
    (invoke("step_save", {"anomaly_id": 1}), "step_id"),
    ({"anomaly_id": 1, "f.note": "hello"}, "names no verb"),
])
def test_wrong_shapes_are_refused_with_what_was_wrong(value, says):
    with pytest.raises(CardActionError, match=says):
        parse_action(value)


def test_a_refusal_is_a_value_error_for_callers_that_catch_those():
    assert issubclass(CardActionError, ValueError)


# -- inputs as the playbook engine reads them ---------------------------------------------------


def test_empty_inputs_are_missing_answers_the_engine_names():
    owner = PLAYBOOK.step("owner")
    values = step_values(owner, {field_input_id("owner"): "", field_input_id("note"): ""})
    assert values == {"owner": None, "note": None}
    with pytest.raises(StepError) as refused:
        submit(PLAYBOOK, start(PLAYBOOK, by="p", at=NOW), "owner", values, by="p", at=NOW)
    assert set(refused.value.errors) == {"owner"}


def test_a_select_and_text_arrive_as_the_engine_expects():
    step = PLAYBOOK.step("what_changed")
    values = step_values(step, {field_input_id("change"): "logging",
                                field_input_id("note"): "DEBUG on in prod"})
    state = submit(PLAYBOOK, start(PLAYBOOK, by="p", at=NOW), "what_changed", values, by="p",
                   at=NOW)
    saved = state.steps["what_changed"].values
    assert saved["change"].value == "logging"  # type: ignore[union-attr]
    assert saved["note"] == "DEBUG on in prod"


def test_toggles_arrive_as_true_false_strings_and_become_the_ticked_items():
    review = PLAYBOOK.step("review")
    inputs = {toggle_input_id("checks", "guardrail"): "true",
              toggle_input_id("checks", "limits"): "TRUE",
              toggle_input_id("checks", "logging"): "false",
              reason_input_id("checks"): "Second review is booked for Monday with Dana."}
    values = step_values(review, inputs)
    assert values == {"checks": {"checked": ["guardrail", "limits"],
                                 "reason": "Second review is booked for Monday with Dana."}}
    state = submit(PLAYBOOK, start(PLAYBOOK, by="p", at=NOW), "review", values, by="p", at=NOW)
    assert state.steps["review"].values["checks"].unchecked[:1] == ["logging"]  # type: ignore[union-attr]


def test_unticked_items_without_a_reason_are_refused_by_the_engine_under_the_checklist():
    values = step_values(PLAYBOOK.step("review"), {toggle_input_id("checks", "guardrail"): "true"})
    assert values == {"checks": {"checked": ["guardrail"], "reason": None}}
    with pytest.raises(StepError, match="Not ticked yet"):
        submit(PLAYBOOK, start(PLAYBOOK, by="p", at=NOW), "review", values, by="p", at=NOW)


def test_a_toggle_sending_something_else_is_refused():
    with pytest.raises(CardActionError, match="true.*false"):
        step_values(PLAYBOOK.step("review"), {toggle_input_id("checks", "guardrail"): "yes"})


def test_a_non_text_answer_is_passed_on_for_the_engine_to_refuse_by_name():
    values = step_values(PLAYBOOK.step("owner"), {field_input_id("owner"): ["a", "b"]})
    with pytest.raises(StepError, match="Expected text"):
        submit(PLAYBOOK, start(PLAYBOOK, by="p", at=NOW), "owner", values, by="p", at=NOW)


@pytest.mark.parametrize("hours", SNOOZE_HOURS)
def test_snooze_hours_offered_are_read_back(hours):
    assert snooze_hours({SNOOZE_INPUT: str(hours)}) == hours


@pytest.mark.parametrize(("typed", "says"), [
    (None, "pick how long"), ("", "pick how long"), ("soon", "not 'soon'"), ("5", "not 5")])
def test_other_snooze_hours_are_refused_with_the_allowed_ones(typed, says):
    inputs = {} if typed is None else {SNOOZE_INPUT: typed}
    with pytest.raises(CardActionError, match=says) as refused:
        snooze_hours(inputs)
    assert ", ".join(map(str, SNOOZE_HOURS)) in str(refused.value)


def test_the_expected_reason_is_stripped_and_missing_is_empty():
    assert expected_reason({EXPECTED_INPUT: "  load test until Friday \n"}) == \
        "load test until Friday"
    assert expected_reason({}) == ""
    with pytest.raises(CardActionError, match="text"):
        expected_reason({EXPECTED_INPUT: 12})
