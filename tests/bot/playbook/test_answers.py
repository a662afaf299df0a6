"""Every answer of a walk, as the runbook keeps it: each step, each field, in playbook order."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bot.playbook import Option, Playbook, answered_steps, load_playbook, start, submit
from bot.playbook.answers import from_records, to_records

REPO = Path(__file__).resolve().parents[3]
T0 = datetime(2026, 9, 1, 9, 0, tzinfo=UTC)
LEVERS = {"levers": [Option(value="batch_api", label="Move offline jobs to the Batch API")]}
WALK = [
    ("owner", "U_ALICE", {"owner": "U_BOB", "note": "Bob owns the summariser"}),
    ("what_changed", "U_BOB", {"change": "model", "note": "Large model since Friday"}),
    ("stabilise", "U_BOB", {"lever": "batch_api", "action": "Nightly runs on the Batch API"}),
    ("review", "U_BOB", {"checks": {"checked": ["guardrail", "limits"],
                                    "reason": "Sam reviews the rest by Friday"}}),
    ("document", "U_ALICE", {"root_cause": "Large model for everything", "fix": "Route by size",
                             "prevention": "Budget alert"}),
]


@pytest.fixture(scope="module")
def playbook() -> Playbook:
    return load_playbook(REPO / "playbooks" / "default.yml")


def test_every_field_of_every_step_is_kept_with_who_answered(playbook):
    state = start(playbook, by="U_ALICE", at=T0)
    for hour, (step, person, values) in enumerate(WALK, start=1):
        state = submit(playbook, state, step, values, by=person, at=T0 + timedelta(hours=hour),
                       dynamic_options=LEVERS)

    steps = answered_steps(playbook, state)

    assert [(s.title, s.by) for s in steps] == [
        ("Owner", "U_ALICE"), ("What changed", "U_BOB"), ("Stabilise spend", "U_BOB"),
        ("Review before re-enable", "U_BOB"), ("Document", "U_ALICE")]
    text = {(s.step_id, f.label): f.text for s in steps for f in s.fields}
    assert text[("owner", "Responsible person")] == "U_BOB"
    assert text[("owner", "Note")] == "Bob owns the summariser"
    assert text[("what_changed", "What most likely changed?")] == (
        "Model (new model, version or SKU)")
    assert text[("stabilise", "Lever used")] == "Move offline jobs to the Batch API"
    assert text[("stabilise", "What was done")] == "Nightly runs on the Batch API"
    review = text[("review", "Before re-enabling full capacity")]
    assert review.startswith("Done: A cost alert or budget guardrail covers this workload;")
    assert "Not done: Logging level and sampling are back to normal;" in review
    assert review.endswith("Reason: Sam reviews the rest by Friday")
    assert len(text) == 10  # every field of the playbook, each with its answer
    assert from_records(to_records(steps)) == steps


def test_a_walk_in_progress_lists_only_the_steps_done(playbook):
    state = start(playbook, by="U_ALICE", at=T0)
    state = submit(playbook, state, "owner", {"owner": "U_BOB"}, by="U_ALICE", at=T0)

    [owner] = answered_steps(playbook, state)

    assert [(f.label, f.text) for f in owner.fields] == [("Responsible person", "U_BOB")]
    assert from_records(None) == []
