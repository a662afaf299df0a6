"""Choosing a playbook: the most specific rule that holds wins, ties go by name, the default
comes last; the shipped library sends each kind of spend to its own playbook."""

from __future__ import annotations

import typing
from pathlib import Path
from typing import Any

import pytest

from bot.anomaly.enums import AnomalyKind
from bot.anomaly.levers import LeverCategory
from bot.ingest.tags import Phase
from bot.playbook import (
    AnomalyFacts,
    Playbook,
    PlaybookError,
    PlaybookLibrary,
    choose_playbook,
    load_playbook,
    load_playbooks,
)
from bot.playbook.match import ANOMALY_KINDS, PHASES, SPEND_KINDS

REPO = Path(__file__).resolve().parents[3]

STEPS: dict[str, Any] = {
    "steps": [{"id": "fix", "title": "Fix", "fields": [
        {"id": "what", "kind": "text", "label": "What was done"}]}],
    "resolution": {"root_cause": "fix.what", "fix": "fix.what", "prevention": "fix.what"},
}


def book(name: str, **match: object) -> Playbook:
    data: dict[str, Any] = {"name": name, "title": name.title(), **STEPS}
    if match:
        data["match"] = match
    return Playbook.model_validate(data)


def facts(**given: str) -> AnomalyFacts:
    base = {"project": "support-bot", "environment": "prod", "phase": "run", "kind": "spike",
            "cost_category": "AI and Machine Learning", "spend": "tokens"}
    return AnomalyFacts(**{**base, **given})


def library(*books: Playbook) -> dict[str, Playbook]:
    return {b.name: b for b in books}


def test_the_most_specific_rule_that_holds_wins() -> None:
    books = library(book("default"), book("tokens", spend=["tokens"]),
                    book("tokens_prod", spend=["tokens"], environment=["prod"]),
                    book("tokens_dev", spend=["tokens"], environment=["dev"], kind=["spike"]))

    assert choose_playbook(books, facts()).name == "tokens_prod"
    assert choose_playbook(books, facts(environment="staging")).name == "tokens"
    assert choose_playbook(books, facts(environment="dev")).name == "tokens_dev"


def test_a_tie_goes_to_the_name_that_sorts_first_whatever_the_order_given() -> None:
    first, second = book("b_tokens", spend=["tokens"]), book("a_prod", environment=["prod"])

    assert choose_playbook(library(first, second, book("default")), facts()).name == "a_prod"
    assert choose_playbook(library(book("default"), second, first), facts()).name == "a_prod"


def test_the_default_comes_last_even_when_sorting_first() -> None:
    books = library(book("default"), book("zz_logging", spend=["logging"]))

    assert choose_playbook(books, facts(spend="logging")).name == "zz_logging"
    assert choose_playbook(books, facts(spend="gpu")).name == "default"


def test_without_a_playbook_named_default_the_one_without_a_rule_is_the_default() -> None:
    books = library(book("fallback"), book("gpu", spend=["gpu"]))

    assert PlaybookLibrary(books).default.name == "fallback"
    assert choose_playbook(books, facts()).name == "fallback"


@pytest.mark.parametrize(("rule", "given", "holds"), [
    ({"environment": ["prod*"]}, {"environment": "Prod-EU"}, True),
    ({"environment": ["prod*"]}, {"environment": "preprod"}, False),
    ({"project": ["support-?ot"]}, {}, True),
    ({"cost_category": ["ai and machine learning"]}, {}, True),
    ({"cost_category": "Networking"}, {}, False),
    ({"kind": ["spike", "ramp"]}, {"kind": "ramp"}, True),
    ({"kind": ["spike"], "phase": ["build"]}, {}, False),
    ({"phase": ["build", "run"]}, {}, True),
])
def test_patterns_are_shell_style_case_blind_and_every_key_must_hold(
    rule: dict[str, Any], given: dict[str, str], holds: bool
) -> None:
    books = library(book("default"), book("special", **rule))

    assert (choose_playbook(books, facts(**given)).name == "special") is holds


def test_the_explanation_says_why_each_other_playbook_lost() -> None:
    books = PlaybookLibrary(library(book("default"), book("tokens", spend=["tokens"]),
                                    book("tokens_prod", spend="tokens", environment="prod"),
                                    book("gpu", spend=["gpu"])))

    choice = books.explain(facts())

    assert choice.playbook.name == "tokens_prod"
    assert "environment: prod" in choice.reason
    assert dict(choice.passed_over) == {
        "gpu": "spend is 'tokens', not gpu",
        "tokens": "its rule holds too, but fewer keys",
    }


def test_a_library_of_one_playbook_is_its_own_default() -> None:
    only = book("mini", spend=["gpu"])

    assert PlaybookLibrary.of(only).choose(facts()).name == "mini"


# -- the rule in YAML -----------------------------------------------------------------------------

MATCHED = """\
name: tokens
title: Tokens
match:
  spend: [tokens]
  kind: [spikes]
steps:
  - id: fix
    title: Fix
    fields:
      - {id: what, kind: text, label: What was done}
resolution: {root_cause: fix.what, fix: fix.what, prevention: fix.what}
"""


def load_error(tmp_path: Path, text: str) -> str:
    path = tmp_path / "tokens.yml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(PlaybookError) as caught:
        load_playbook(path)
    return str(caught.value)


def test_a_value_that_can_never_match_is_refused_with_its_line_and_the_choices(
    tmp_path: Path
) -> None:
    message = load_error(tmp_path, MATCHED)

    assert message.startswith(f"{tmp_path / 'tokens.yml'}, line 5: match.kind[0]: 'spikes' "
                              f"matches no anomaly kind; use one of: spike, level-shift")


@pytest.mark.parametrize(("old", "new", "where", "fragment"), [
    ("  spend: [tokens]\n", "  spnd: [tokens]\n", "line 4: match.spnd",
     "did you mean 'spend'"),
    ("  kind: [spikes]\n", "  cost_category: [Compute, Netwrking]\n",
     "line 5: match.cost_category[1]", "matches no FOCUS service category"),
    ("match:\n  spend: [tokens]\n  kind: [spikes]\n", "match: {}\n", "line 3: match",
     "remove `match:` to make this the default"),
    ("  kind: [spikes]\n", "  phase: [runtime]\n", "line 5: match.phase[0]",
     "use one of: build, run, move"),
])
def test_a_wrong_match_block_names_line_key_and_what_to_do(
    tmp_path: Path, old: str, new: str, where: str, fragment: str
) -> None:
    message = load_error(tmp_path, MATCHED.replace(old, new))

    assert where in message
    assert fragment in message


def test_the_known_values_are_the_ones_the_bot_uses() -> None:
    assert tuple(k.value for k in AnomalyKind) == ANOMALY_KINDS
    assert typing.get_args(Phase) == PHASES
    assert tuple(c.value for c in LeverCategory) == SPEND_KINDS


# -- the shipped library --------------------------------------------------------------------------


@pytest.mark.parametrize(("given", "expected"), [
    ({"spend": "tokens", "cost_category": "AI and Machine Learning"}, "llm_tokens"),
    ({"spend": "gpu", "cost_category": "AI and Machine Learning"}, "gpu_training"),
    ({"spend": "gpu", "cost_category": "Compute"}, "gpu_training"),
    ({"spend": "logging", "cost_category": "Management and Governance"}, "logging"),
    ({"spend": "transfer", "cost_category": "Networking"}, "data_movement"),
    ({"spend": "storage", "cost_category": "Storage"}, "data_movement"),
    ({"spend": "databases", "cost_category": "Databases"}, "default"),
    ({"spend": "", "cost_category": ""}, "default"),
])
def test_each_kind_of_spend_gets_its_shipped_playbook(given: dict[str, str],
                                                      expected: str) -> None:
    shipped = load_playbooks(REPO / "playbooks")

    assert choose_playbook(shipped, facts(**given)).name == expected


def test_every_shipped_playbook_but_the_default_has_a_rule_and_levers_with_estimates() -> None:
    shipped = PlaybookLibrary(load_playbooks(REPO / "playbooks"))

    assert shipped.default.name == "default"
    assert shipped.default.match is None
    for playbook in shipped.values():
        if playbook is not shipped.default:
            assert playbook.match is not None, playbook.name
            assert len(playbook.levers) >= 5, playbook.name
            assert {lever.saves.of for lever in playbook.levers} <= {
                "excess_per_day", "excess_to_month_end", "spend_per_day", "excess_so_far"}
