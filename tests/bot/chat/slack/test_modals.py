"""Modals: every step of the shipped playbook renders, and what Slack sends back is what the
engine accepts — walked to a completed playbook through Slack-shaped state values."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from bot.anomaly.levers import levers_for
from bot.anomaly.runbooks import Prefill
from bot.anomaly.views import RevisionView
from bot.chat.ids import CallbackId, StepMeta, parse_step_meta
from bot.chat.slack.modals import (
    expected_modal,
    read_expected_reason,
    read_step_values,
    runbook_modal,
    step_errors,
    step_modal,
)
from bot.playbook import (
    Option,
    Playbook,
    PlaybookState,
    PlaybookStatus,
    SelectAnswer,
    StepError,
    load_playbook,
    resolution,
    start,
    submit,
)
from tests.bot.chat.slack import (
    ALICE,
    BOB,
    HOSTILE,
    T0,
    assert_escaped,
    assert_within_limits,
    mrkdwn_texts,
    runbook_entry,
)
from tests.support.slack_requests import (
    checkboxes_value,
    plain_text_value,
    static_select_value,
    users_select_value,
)

REPO = Path(__file__).resolve().parents[4]
PLAYBOOK = load_playbook(REPO / "playbooks" / "default.yml")
LEVERS = {"levers": [Option(value=lever.id, label=lever.title) for lever in levers_for("tokens")]}
REASON = "Second review and a rollback plan by Bob on Friday"

JsonDict = dict[str, Any]
StateValues = dict[str, dict[str, JsonDict]]


def meta(step_id: str) -> StepMeta:
    return StepMeta(anomaly_id=42, step_id=step_id, channel="C0ALERTS",
                    message_ts="1700000000.000100")


def modal(step_id: str, state: PlaybookState | None = None, **kwargs: Any) -> JsonDict:
    index = [s.id for s in PLAYBOOK.steps].index(step_id)
    return step_modal(PLAYBOOK, PLAYBOOK.step(step_id), meta(step_id), state=state,
                      dynamic_options=LEVERS, position=(index + 1, len(PLAYBOOK.steps)),
                      **kwargs).to_dict()


def inputs(view: JsonDict) -> dict[str, JsonDict]:
    """Input blocks by block id."""
    return {b["block_id"]: b for b in view["blocks"] if b["type"] == "input"}


def option(view: JsonDict, block_id: str, index: int = 0, value: str | None = None) -> JsonDict:
    options = inputs(view)[block_id]["element"]["options"]
    return next(o for o in options if o["value"] == value) if value else options[index]


def select(view: JsonDict, block_id: str, **kwargs: Any) -> JsonDict:
    chosen = option(view, block_id, **kwargs)
    return static_select_value(chosen["value"], chosen["text"]["text"])


# Slack-shaped answers per step, built from the modal as a person would fill it in
ANSWERS: dict[str, Callable[[JsonDict], StateValues]] = {
    "owner": lambda v: {"owner": {"owner": users_select_value(ALICE)},
                        "note": {"note": plain_text_value("Alice owns the summariser")}},
    "what_changed": lambda v: {
        "change": {"change": select(v, "change", value="unknown")},
        "note": {"note": plain_text_value("Checked deploys and traffic: both flat")},
    },
    "stabilise": lambda v: {
        "lever": {"lever": select(v, "lever")},
        "action": {"action": plain_text_value("max_tokens 4096 -> 1024 on the summariser")},
    },
    "review": lambda v: {
        "checks": {"checks": checkboxes_value(
            [o["value"] for o in inputs(v)["checks"]["element"]["options"][:4]])},
        "checks__reason": {"checks__reason": plain_text_value(REASON)},
    },
    "document": lambda v: {
        "root_cause": {"root_cause": plain_text_value("Large model for every request")},
        "fix": {"fix": plain_text_value("Route short requests to the small model")},
        "prevention": {"prevention": plain_text_value("Budget alert at 120 % of the median")},
    },
}


def assert_matches_modal(values: StateValues, view: JsonDict) -> None:
    """Every [block_id][action_id] answered is an input of the modal."""
    blocks = inputs(view)
    for block_id, by_action in values.items():
        assert set(by_action) == {blocks[block_id]["element"]["action_id"]}


def walk(steps: list[str]) -> PlaybookState:
    state = start(PLAYBOOK, by=ALICE, at=T0)
    for hour, step_id in enumerate(steps, start=1):
        view = modal(step_id, state)
        values = ANSWERS[step_id](view)
        assert_matches_modal(values, view)
        raw = read_step_values(PLAYBOOK.step(step_id), values)
        state = submit(PLAYBOOK, state, step_id, raw, by=BOB, at=T0 + timedelta(hours=hour),
                       dynamic_options=LEVERS)
    return state


@pytest.fixture(scope="module")
def completed() -> PlaybookState:
    return walk([s.id for s in PLAYBOOK.steps])


# -- building ----------------------------------------------------------------------------------


@pytest.mark.parametrize("step_id", [s.id for s in PLAYBOOK.steps])
def test_every_step_builds_a_valid_modal(step_id: str) -> None:
    view = modal(step_id)
    assert view["type"] == "modal" and view["callback_id"] == CallbackId.PLAYBOOK_STEP
    assert view["title"]["text"] == PLAYBOOK.step(step_id).title
    assert parse_step_meta(view["private_metadata"]) == meta(step_id)
    assert view["close"]["text"] == "Cancel"
    assert view["submit"]["text"] == ("Finish" if step_id == "document" else "Save")
    assert_within_limits(view["blocks"], max_blocks=100)
    position = [s.id for s in PLAYBOOK.steps].index(step_id) + 1
    assert view["blocks"][0]["elements"][0]["text"].startswith(f"Step {position} of 5")
    for field in PLAYBOOK.step(step_id).fields:
        assert inputs(view)[field.id]["element"]["action_id"] == field.id


def test_inputs_match_the_field_kinds_and_requirements() -> None:
    kinds = {block_id: (b["element"]["type"], b.get("optional", False))
             for s in PLAYBOOK.steps for block_id, b in inputs(modal(s.id)).items()}
    assert kinds == {
        "owner": ("users_select", False), "note": ("plain_text_input", True),
        "change": ("static_select", False), "lever": ("static_select", False),
        "action": ("plain_text_input", False),
        # nothing ticked plus a reason is a valid review, so Slack must not insist on a tick
        "checks": ("checkboxes", True), "checks__reason": ("plain_text_input", True),
        "root_cause": ("plain_text_input", False), "fix": ("plain_text_input", False),
        "prevention": ("plain_text_input", False),
    }


def test_select_offers_the_levers_then_other() -> None:
    options = inputs(modal("stabilise"))["lever"]["element"]["options"]
    assert [o["value"] for o in options] == [o.value for o in LEVERS["levers"]] + ["other"]


def test_text_input_carries_the_playbook_settings() -> None:
    note = inputs(modal("owner"))["note"]["element"]
    assert note["multiline"] is True and note["max_length"] == 1000
    assert note["placeholder"]["text"].startswith("e.g. handing over")


def test_a_blocked_step_says_what_to_finish_first() -> None:
    texts = mrkdwn_texts(modal("document", start(PLAYBOOK, by=ALICE, at=T0))["blocks"])
    assert any("Finish “Review before re-enable” first" in t for t in texts)


def test_user_default_is_used_only_when_it_is_a_slack_id() -> None:
    owner = inputs(modal("owner", defaults={"owner": ALICE}))["owner"]["element"]
    assert owner["initial_user"] == ALICE
    owner = inputs(modal("owner", defaults={"owner": "alice@example.com"}))["owner"]["element"]
    assert "initial_user" not in owner


def test_playbook_text_is_escaped() -> None:
    step = PLAYBOOK.step("owner").model_copy(update={"description": HOSTILE})
    playbook = PLAYBOOK.model_copy(update={"title": HOSTILE})
    view = step_modal(playbook, step, meta("owner"), state=None, dynamic_options=None,
                      position=(1, 5)).to_dict()
    for text in mrkdwn_texts(view["blocks"]):
        assert_escaped(text)


def test_a_select_with_nothing_to_offer_says_what_to_do() -> None:
    raw = PLAYBOOK.model_dump()
    raw["steps"][2]["fields"][0].update(options=[], fallback_options=[])
    raw["steps"] = raw["steps"][2:3]
    raw["resolution"] = {"root_cause": "stabilise.action", "fix": "stabilise.action",
                         "prevention": "stabilise.action"}
    playbook = Playbook.model_validate(raw)
    with pytest.raises(ValueError, match="fallback_options"):
        step_modal(playbook, playbook.steps[0], meta("stabilise"), state=None,
                   dynamic_options=None, position=(1, 1))


# -- the round trip ----------------------------------------------------------------------------


def test_walking_every_step_through_slack_completes_the_playbook(
    completed: PlaybookState,
) -> None:
    assert completed.status is PlaybookStatus.COMPLETED
    result = resolution(PLAYBOOK, completed)
    assert result.owner == ALICE
    assert result.what_changed == "Unknown, still investigating"
    assert result.lever == LEVERS["levers"][0].label
    assert result.review_notes is not None and REASON in result.review_notes
    assert result.root_cause == "Large model for every request"


def test_a_modal_shows_the_last_answers(completed: PlaybookState) -> None:
    owner = inputs(modal("owner", completed))
    assert owner["owner"]["element"]["initial_user"] == ALICE
    assert owner["note"]["element"]["initial_value"] == "Alice owns the summariser"
    change = inputs(modal("what_changed", completed))["change"]["element"]
    assert change["initial_option"]["value"] == "unknown"
    review = inputs(modal("review", completed))
    ticked = [o["value"] for o in review["checks"]["element"]["initial_options"]]
    assert ticked == ["guardrail", "limits", "logging", "owner_budget"]
    assert review["checks__reason"]["element"]["initial_value"] == REASON


def _as_submitted(view: JsonDict) -> StateValues:
    """What Slack sends when the modal is submitted unchanged."""
    values: StateValues = {}
    for block_id, block in inputs(view).items():
        element = block["element"]
        if element["type"] == "users_select":
            state = users_select_value(element.get("initial_user"))
        elif element["type"] == "static_select":
            chosen = element.get("initial_option")
            state = static_select_value(chosen and chosen["value"],
                                        chosen and chosen["text"]["text"])
        elif element["type"] == "checkboxes":
            state = checkboxes_value([o["value"] for o in element.get("initial_options", [])])
        else:
            state = plain_text_value(element.get("initial_value"))
        values[block_id] = {element["action_id"]: state}
    return values


@pytest.mark.parametrize("step_id", [s.id for s in PLAYBOOK.steps])
def test_resubmitting_a_modal_unchanged_keeps_the_answers(
    completed: PlaybookState, step_id: str
) -> None:
    values = _as_submitted(modal(step_id, completed))
    raw = read_step_values(PLAYBOOK.step(step_id), values)
    again = submit(PLAYBOOK, completed, step_id, raw, by=ALICE, at=T0 + timedelta(days=1),
                   dynamic_options=LEVERS)
    assert again.steps[step_id].values == completed.steps[step_id].values


def test_read_values_are_exactly_what_the_engine_reads() -> None:
    view = modal("review")
    raw = read_step_values(PLAYBOOK.step("review"), ANSWERS["review"](view))
    assert raw == {"checks": {"checked": ["guardrail", "limits", "logging", "owner_budget"],
                              "reason": REASON}}
    empty = read_step_values(PLAYBOOK.step("owner"), {})
    assert empty == {"owner": None, "note": None}


# -- errors ------------------------------------------------------------------------------------


ERROR_CASES: list[tuple[str, StateValues, set[str]]] = [
    ("owner", {"owner": {"owner": users_select_value(None)}}, {"owner"}),
    ("what_changed", {"change": {"change": static_select_value("unknown")},
                      "note": {"note": plain_text_value(None)}}, {"note"}),
    ("stabilise", {"lever": {"lever": static_select_value("nope")},
                   "action": {"action": plain_text_value("x")}}, {"lever"}),
    ("review", {"checks": {"checks": checkboxes_value(["guardrail"])}}, {"checks__reason"}),
    ("review", {"checks": {"checks": checkboxes_value([])},
                "checks__reason": {"checks__reason": plain_text_value("later")}},
     {"checks__reason"}),
    ("document", {}, {"root_cause"}),  # review not done yet
]


@pytest.mark.parametrize(("step_id", "values", "blocks"), ERROR_CASES)
def test_engine_errors_land_under_an_input_of_the_modal(
    step_id: str, values: StateValues, blocks: set[str]
) -> None:
    state = start(PLAYBOOK, by=ALICE, at=T0)
    raw = read_step_values(PLAYBOOK.step(step_id), values)
    with pytest.raises(StepError) as refused:
        submit(PLAYBOOK, state, step_id, raw, by=ALICE, at=T0, dynamic_options=LEVERS)
    shown = step_errors(PLAYBOOK.step(step_id), refused.value.errors)
    assert set(shown) == blocks
    assert set(shown) <= set(inputs(modal(step_id, state)))
    assert all(0 < len(message) <= 2000 for message in shown.values())


def test_errors_for_one_block_are_joined_and_unknown_keys_kept() -> None:
    step = PLAYBOOK.step("review")
    shown = step_errors(step, {"checks": "Unknown item(s): x.", "elsewhere": "Finish it."})
    assert shown == {"checks": "Unknown item(s): x. Finish it."}


# -- expected and runbook ----------------------------------------------------------------------


def test_expected_modal_round_trips() -> None:
    view = expected_modal(42, "C0ALERTS", "1700000000.000100").to_dict()
    assert view["callback_id"] == CallbackId.EXPECTED_REASON
    assert parse_step_meta(view["private_metadata"]) == StepMeta(
        anomaly_id=42, step_id="expected", channel="C0ALERTS", message_ts="1700000000.000100")
    reason = inputs(view)["reason"]
    assert not reason.get("optional", False)
    values = {"reason": {reason["element"]["action_id"]: plain_text_value("  load test  ")}}
    assert read_expected_reason(values) == "load test"
    assert read_expected_reason({}) == ""
    assert_within_limits(view["blocks"], max_blocks=100)


def test_runbook_modal_lists_newest_first_within_limits() -> None:
    long = "<@U1|x> & " + "y" * 3000
    entries = [runbook_entry(day, root_cause=long, fix=long, prevention=long)
               for day in range(30)]
    view = runbook_modal("support-agent · prod", list(reversed(entries))).to_dict()
    assert view["callback_id"] == CallbackId.RUNBOOK_VIEW and "submit" not in view
    assert_within_limits(view["blocks"], max_blocks=100)
    sections = [b["text"]["text"] for b in view["blocks"] if b["type"] == "section"]
    assert len(sections) == 30
    assert "2026-09-01" in sections[0] and "2026-08-03" in sections[-1]
    for text in sections:
        assert_escaped(text, mentions={BOB})


def test_runbook_modal_counts_what_does_not_fit() -> None:
    view = runbook_modal("x" * 300, [runbook_entry(day) for day in range(60)]).to_dict()
    assert len(view["blocks"]) == 100
    assert "11 older entries" in view["blocks"][-1]["elements"][0]["text"]
    assert len(view["blocks"][0]["text"]["text"]) == 150


def test_empty_runbook_says_so() -> None:
    view = runbook_modal("support-agent · prod", []).to_dict()
    assert "No runbook entries yet" in view["blocks"][1]["text"]["text"]


# -- runbooks reused ---------------------------------------------------------------------------


def test_a_step_opens_pre_filled_from_the_last_incident_and_says_so() -> None:
    prefill = Prefill(anomaly_id=12, on=T0 - timedelta(days=9), values={
        "change": SelectAnswer(value="unknown", label="Unknown"), "note": f"Saw {HOSTILE}"})
    view = modal("what_changed", start(PLAYBOOK, by=ALICE, at=T0), prefill=prefill)

    notes = [e["text"] for b in view["blocks"] if b["type"] == "context" for e in b["elements"]]
    assert any(text.startswith(f"📋 Pre-filled from incident #12, "
                               f"{(T0 - timedelta(days=9)):%Y-%m-%d}: confirm or change")
               for text in notes)
    shown = inputs(view)
    assert shown["change"]["element"]["initial_option"]["value"] == "unknown"
    assert shown["note"]["element"]["initial_value"] == f"Saw {HOSTILE}"  # plain text input

    # once the step has its own answer, that answer is shown and the note is gone
    state = submit(PLAYBOOK, start(PLAYBOOK, by=ALICE, at=T0), "what_changed",
                   {"change": "model", "note": None}, by=BOB, at=T0)
    again = modal("what_changed", state, prefill=prefill)
    assert inputs(again)["change"]["element"]["initial_option"]["value"] == "model"
    assert "Pre-filled" not in json.dumps(again)


def test_the_runbook_shows_the_version_and_the_earlier_ones_escaped() -> None:
    earlier = tuple(RevisionView(version, BOB, T0 - timedelta(days=version),
                                 f"cause {version} {HOSTILE}", f"fix {version}", "")
                    for version in (4, 3, 2, 1))
    entry = runbook_entry(1, version=5, updated_by=HOSTILE, updated_at=T0, earlier=earlier)

    view = runbook_modal("support-agent · prod", [entry]).to_dict()

    text = "\n".join(mrkdwn_texts(view))
    assert "_v5 · edited by " in text and f" on {T0:%Y-%m-%d}_" in text
    assert "• _earlier_ v4 (" in text and "• _earlier_ v2 (" in text
    assert "v1 (" not in text and "• _and 1 older versions_" in text
    for part in mrkdwn_texts(view):
        assert_escaped(part, mentions=(BOB,))
