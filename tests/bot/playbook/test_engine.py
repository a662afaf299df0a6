"""The playbook engine on the shipped playbook: who did what, what is refused, and why."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from bot.playbook import (
    ChecklistAnswer,
    Option,
    Playbook,
    PlaybookIncompleteError,
    PlaybookState,
    PlaybookStatus,
    SelectAnswer,
    StepError,
    load_playbook,
    next_step,
    progress,
    resolution,
    start,
    submit,
)

REPO = Path(__file__).resolve().parents[3]
T0 = datetime(2026, 9, 1, 9, 0, tzinfo=UTC)
LEVERS = {"levers": [Option(value="batch_api", label="Move offline jobs to the Batch API"),
                     "Lower max_tokens on the summariser"]}
ALL_CHECKS = ["guardrail", "limits", "logging", "owner_budget", "second_review", "rollback"]

# One valid submission per step of playbooks/default.yml.
VALID: dict[str, dict[str, Any]] = {
    "owner": {"owner": "U_ALICE", "note": "Alice owns the summariser"},
    "what_changed": {"change": "model", "note": "Switched to the large model on Friday"},
    "stabilise": {"lever": "batch_api", "action": "Nightly summaries moved to the Batch API"},
    "review": {"checks": ALL_CHECKS},
    "document": {"root_cause": "Large model for every request", "fix": "Route by length",
                 "prevention": "Budget alert at 120 % of the weekly median"},
}


@pytest.fixture(scope="module")
def playbook() -> Playbook:
    return load_playbook(REPO / "playbooks" / "default.yml")


def run(playbook: Playbook, steps: list[tuple[str, str]], **overrides: Any) -> PlaybookState:
    """Submit ``(step, person)`` in order, an hour apart, with VALID values unless overridden."""
    state = start(playbook, by="U_ALICE", at=T0)
    for hour, (step_id, person) in enumerate(steps, start=1):
        values = overrides.get(step_id, VALID[step_id])
        state = submit(playbook, state, step_id, values, by=person,
                       at=T0 + timedelta(hours=hour), dynamic_options=LEVERS)
    return state


def refusal(playbook: Playbook, state: PlaybookState, step_id: str, values: dict[str, Any],
            **kwargs: Any) -> dict[str, str]:
    with pytest.raises(StepError) as caught:
        submit(playbook, state, step_id, values, by="U_BOB", at=T0 + timedelta(days=1), **kwargs)
    assert caught.value.step_id == step_id
    return caught.value.errors


def test_two_people_walk_the_playbook_to_a_runbook_entry(playbook: Playbook) -> None:
    state = run(playbook, [("owner", "U_ALICE"), ("what_changed", "U_ALICE"),
                           ("stabilise", "U_BOB"), ("review", "U_BOB"), ("document", "U_ALICE")])

    assert state.status is PlaybookStatus.COMPLETED
    assert [(p.step_id, p.done, p.by, p.at) for p in progress(playbook, state)] == [
        ("owner", True, "U_ALICE", T0 + timedelta(hours=1)),
        ("what_changed", True, "U_ALICE", T0 + timedelta(hours=2)),
        ("stabilise", True, "U_BOB", T0 + timedelta(hours=3)),
        ("review", True, "U_BOB", T0 + timedelta(hours=4)),
        ("document", True, "U_ALICE", T0 + timedelta(hours=5)),
    ]
    assert state.stabilised is not None and state.stabilised.by == "U_BOB"
    assert state.completed is not None and state.completed.at == T0 + timedelta(hours=5)
    assert next_step(playbook, state) is None


@pytest.mark.parametrize(("done", "status", "next_id"), [
    ([], PlaybookStatus.IN_PROGRESS, "owner"),
    (["owner"], PlaybookStatus.IN_PROGRESS, "what_changed"),
    (["stabilise", "owner"], PlaybookStatus.IN_PROGRESS, "what_changed"),
    (["review"], PlaybookStatus.STABILISED, "owner"),
    (["review", "document", "owner"], PlaybookStatus.STABILISED, "what_changed"),
    (["review", "stabilise", "document", "what_changed", "owner"], PlaybookStatus.COMPLETED,
     None),
])
def test_steps_may_be_taken_in_any_order(playbook: Playbook, done: list[str], status: str,
                                         next_id: str | None) -> None:
    state = run(playbook, [(step_id, "U_BOB") for step_id in done])

    assert state.status == status
    step = next_step(playbook, state)
    assert (step.id if step else None) == next_id


@pytest.mark.parametrize(("step_id", "values", "errors"), [
    ("owner", {"note": "no idea"}, {"owner": "Required: choose a person."}),
    ("owner", {"owner": "   "}, {"owner": "Required: choose a person."}),
    ("what_changed", {"change": "weather"}, {
        "change": "“weather” is not one of the options; choose one of “A deployment or "
                  "configuration change”, “Dataset (bigger input, new data, a reprocessing "
                  "run)”"}),
    ("what_changed", {"change": "unknown"}, {
        "note": "Required when “What most likely changed?” is “Unknown, still investigating”: "
                "write a few words."}),
    ("what_changed", {"change": "model", "note": "x" * 2001}, {
        "note": "Too long: 2001 characters. Shorten it to 2000 or fewer."}),
    ("stabilise", {"lever": "cap_tokens"}, {
        "lever": "“cap_tokens” is not one of the options; choose one of “Move offline jobs to "
                 "the Batch API”, “Lower max_tokens on the summariser”, “Other (describe "
                 "below)”.",
        "action": "Required: write a few words."}),
    ("review", {"checks": ["guardrail", "teleport"]}, {
        "checks": "Unknown item(s): teleport. Tick items from the list only."}),
    ("review", {"checks": ALL_CHECKS[:-1]}, {
        "checks": "Tick the remaining items, or explain in “Why are some items not done, and "
                  "who follows up by when?” why they are not done. Not ticked yet: “There is "
                  "a way to roll back if spend climbs again”."}),
    ("review", {"checks": {"checked": ALL_CHECKS[:-1], "reason": "later"}}, {
        "checks": "Say a little more in “Why are some items not done, and who follows up by "
                  "when?” (at least 10 characters): why are these not done, and who follows "
                  "up?"}),
    ("review", {}, {"checks": "Tick the remaining items, or explain"}),
    ("document", {"root_cause": "Large model", "fix": ""}, {
        "fix": "Required: write a few words.", "prevention": "Required: write a few words."}),
])
def test_invalid_values_are_refused_with_what_to_do_under_each_field(
    playbook: Playbook, step_id: str, values: dict[str, Any], errors: dict[str, str]
) -> None:
    state = run(playbook, [("review", "U_ALICE")] if step_id == "document" else [])

    got = refusal(playbook, state, step_id, values, dynamic_options=LEVERS)

    assert set(got) == set(errors)
    for field_id, message in errors.items():
        assert got[field_id].startswith(message)


def test_document_is_refused_until_the_review_is_done(playbook: Playbook) -> None:
    state = run(playbook, [("owner", "U_ALICE"), ("what_changed", "U_ALICE"),
                           ("stabilise", "U_ALICE")])

    errors = refusal(playbook, state, "document", VALID["document"])

    assert errors == {"root_cause": "Finish “Review before re-enable” first: “Document” can "
                                    "only be saved after that step is done."}
    assert [p.blocked_by for p in progress(playbook, state)][-1] == ("review",)


@pytest.mark.parametrize(("checks", "stored"), [
    (ALL_CHECKS, ChecklistAnswer(checked=ALL_CHECKS, unchecked=[])),
    ({"checked": ALL_CHECKS[:4], "reason": "  No second reviewer tonight; Bob reviews Monday "},
     ChecklistAnswer(checked=ALL_CHECKS[:4], unchecked=["second_review", "rollback"],
                     reason="No second reviewer tonight; Bob reviews Monday")),
])
def test_a_review_is_complete_or_explains_what_is_not_done(
    playbook: Playbook, checks: Any, stored: ChecklistAnswer
) -> None:
    state = run(playbook, [("review", "U_BOB")], review={"checks": checks})

    assert state.status is PlaybookStatus.STABILISED
    assert state.steps["review"].values["checks"] == stored


def test_a_later_person_can_correct_a_step(playbook: Playbook) -> None:
    first = run(playbook, [("what_changed", "U_ALICE")])
    corrected = submit(playbook, first, "what_changed", {"change": "traffic"}, by="U_BOB",
                       at=T0 + timedelta(days=1))

    record = corrected.steps["what_changed"]
    assert (record.by, record.at) == ("U_BOB", T0 + timedelta(days=1))
    assert record.values == {
        "change": SelectAnswer(value="traffic",
                               label="Traffic (more users, a retry loop, a crawler)"),
        "note": None,
    }
    assert first.steps["what_changed"].by == "U_ALICE"  # the earlier state is untouched


def test_correcting_a_completed_playbook_keeps_it_completed(playbook: Playbook) -> None:
    state = run(playbook, [(s, "U_ALICE") for s in VALID])
    corrected = submit(playbook, state, "document", {**VALID["document"], "fix": "Cache"},
                       by="U_BOB", at=T0 + timedelta(days=2))

    assert corrected.status is PlaybookStatus.COMPLETED
    assert corrected.completed == state.completed
    assert resolution(playbook, corrected).fix == "Cache"


def test_the_fallback_levers_stand_in_when_there_are_no_suggestions(playbook: Playbook) -> None:
    state = start(playbook, by="U_ALICE", at=T0)

    state = submit(playbook, state, "stabilise", {"lever": "cap_tokens", "action": "1024"},
                   by="U_ALICE", at=T0)

    assert state.steps["stabilise"].values["lever"] == SelectAnswer(
        value="cap_tokens", label="Cap max_tokens or output length")
    lever = playbook.step("stabilise").field("lever")
    assert [o.value for o in lever.offered(LEVERS)] == [
        "batch_api", "Lower max_tokens on the summariser", "other"]


def test_the_state_survives_a_json_round_trip(playbook: Playbook) -> None:
    state = run(playbook, [("owner", "U_ALICE"), ("review", "U_BOB")],
                review={"checks": {"checked": ["guardrail"], "reason": "Pending the weekly CAB"}})

    text = state.model_dump_json()

    assert PlaybookState.model_validate_json(text) == state
    assert '"v":1' in text and '"at":"2026-09-01T10:00:00Z"' in text


def test_times_are_stored_in_utc_and_must_be_aware(playbook: Playbook) -> None:
    paris = timezone(timedelta(hours=2))
    state = start(playbook, by="U_ALICE", at=T0.astimezone(paris))

    assert state.started.at.utcoffset() == timedelta(0) and state.started.at == T0
    with pytest.raises(ValueError, match="timezone-aware"):
        start(playbook, by="U_ALICE", at=datetime(2026, 9, 1, 9))


def test_the_resolution_becomes_the_runbook_entry(playbook: Playbook) -> None:
    state = run(playbook, [(s, "U_ALICE") for s in ["owner", "what_changed", "stabilise"]]
                + [("review", "U_BOB"), ("document", "U_CAROL")],
                review={"checks": {"checked": ALL_CHECKS[:-1],
                                   "reason": "Rollback plan written on Monday by Bob"}})

    entry = resolution(playbook, state)

    assert (entry.root_cause, entry.fix, entry.prevention) == (
        "Large model for every request", "Route by length",
        "Budget alert at 120 % of the weekly median")
    assert entry.what_changed == "Model (new model, version or SKU)"
    assert entry.what_changed_note == "Switched to the large model on Friday"
    assert entry.lever == "Move offline jobs to the Batch API"
    assert entry.action_taken == "Nightly summaries moved to the Batch API"
    assert entry.owner == "U_ALICE"
    assert entry.review_notes == (
        "Not done: There is a way to roll back if spend climbs again. "
        "Reason: Rollback plan written on Monday by Bob")
    assert (entry.completed_by, entry.completed_at) == ("U_CAROL", T0 + timedelta(hours=5))


def test_a_complete_review_leaves_no_review_notes(playbook: Playbook) -> None:
    state = run(playbook, [(s, "U_ALICE") for s in VALID])

    assert resolution(playbook, state).review_notes is None


def test_no_resolution_before_every_step_is_done(playbook: Playbook) -> None:
    state = run(playbook, [("review", "U_ALICE"), ("document", "U_ALICE")])

    with pytest.raises(PlaybookIncompleteError, match="still to do: Owner, What changed"):
        resolution(playbook, state)


@pytest.mark.parametrize(("step_id", "values", "match"), [
    ("triage", {}, "has no step 'triage'"),
    ("owner", {"owner": "U_A", "onwer": "U_B"}, "has no field"),
])
def test_programming_mistakes_are_not_user_errors(
    playbook: Playbook, step_id: str, values: dict[str, Any], match: str
) -> None:
    state = start(playbook, by="U_ALICE", at=T0)

    with pytest.raises((KeyError, ValueError), match=match):
        submit(playbook, state, step_id, values, by="U_ALICE", at=T0)


def test_a_state_is_only_used_with_its_own_playbook(playbook: Playbook) -> None:
    other = playbook.model_copy(update={"name": "other"})
    state = start(other, by="U_ALICE", at=T0)

    with pytest.raises(ValueError, match="belongs to playbook 'other', not 'default'"):
        progress(playbook, state)
