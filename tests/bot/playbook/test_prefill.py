"""Pre-filling a step from an earlier walk keeps only what the step still offers."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.playbook import ChecklistAnswer, Option, SelectAnswer, load_playbook
from bot.playbook.prefill import fit_answers

REPO = Path(__file__).resolve().parents[3]
LOGGING = load_playbook(REPO / "playbooks" / "logging.yml")
LEVERS = {"levers": [Option(value="verbosity", label="Lower the log level to INFO or WARN")]}


def test_answers_that_fit_are_kept_as_they_were():
    previous = {"change": SelectAnswer(value="logging", label="Debug logging"),
                "note": "DEBUG on since 2.14"}

    fitted = fit_answers(LOGGING.step("what_changed"), previous)

    # the label is the playbook's current one, not the one stored with the old answer
    assert fitted == {"change": SelectAnswer(value="logging",
                                             label="Debug or verbose logging turned on"),
                      "note": "DEBUG on since 2.14"}


@pytest.mark.parametrize(("step", "previous", "expected"), [
    # a choice the playbook no longer offers is dropped, the rest stays
    ("what_changed", {"change": SelectAnswer(value="gone", label="Gone"), "note": "seen"},
     {"note": "seen"}),
    # a lever this anomaly is not offered (levers depend on the anomaly) is dropped
    ("stabilise", {"lever": SelectAnswer(value="retention", label="Retention"),
                   "action": "shorter"}, {"action": "shorter"}),
    ("stabilise", {"lever": SelectAnswer(value="verbosity", label="x")},
     {"lever": SelectAnswer(value="verbosity", label="Lower the log level to INFO or WARN")}),
    # a text where a choice is asked, or a choice where text is asked: the kind changed
    ("what_changed", {"change": "logging", "note": SelectAnswer(value="a", label="b")}, {}),
    # text longer than the field allows now is dropped, never cut
    ("owner", {"owner": "U0ALICE", "note": "x" * 1001}, {"owner": "U0ALICE"}),
    ("owner", {"owner": "  ", "note": None}, {}),
    # ticked items that were removed from the checklist are dropped
    ("review", {"checks": ChecklistAnswer(checked=["logging", "removed"], unchecked=[],
                                          reason="Bob reviews on Friday")},
     {"checks": ChecklistAnswer(checked=["logging"],
                                unchecked=["limits", "guardrail", "owner_budget",
                                           "second_review", "rollback"],
                                reason="Bob reviews on Friday")}),
    ("review", {"checks": ChecklistAnswer(checked=["removed"], unchecked=[])}, {}),
])
def test_only_what_still_fits_the_step_is_pre_filled(step, previous, expected):
    assert fit_answers(LOGGING.step(step), previous, LEVERS) == expected
