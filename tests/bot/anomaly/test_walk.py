"""The walk through the real desk: each anomaly gets the playbook for its kind of spend, keeps
it for the whole walk, and hears about it when that playbook is removed."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import select

from bot.anomaly.desk import AnomalyDesk
from bot.settings import Settings
from bot.wiring import Services
from storage.db import session_scope
from storage.models import CostSeries, OutboxMessage, PlaybookRun
from tests.support.anomalies import PLAYBOOKS, SUPPORT, add_anomaly, with_routing

OPENAI = {"contributors": [{"service": "OpenAI API", "region": "global", "sku": "gpt-4o",
                            "impact_usd": 54.0, "expected": 2.0, "actual": 20.0}],
          "baseline": "same hour, last 3 weeks"}


def store_line(engine: Engine, *, service: str, category: str, unit: str,
               project: str = "support-agent", sku: str = "gpt-4o") -> None:
    """The line of spend the detector saw, as ingest stores it."""
    with session_scope(engine) as session:
        session.add(CostSeries(
            provider="OpenAI", billing_account_id="org-1", sub_account_id="proj-1",
            sub_account_name="support", service_name=service, service_category=category,
            region="global", sku_id=sku, project=project, environment="prod",
            owner="team-support", phase="run", cost_center="cc-1", charge_category="Usage",
            currency="USD", usage_unit=unit))


def token_anomaly(engine: Engine) -> int:
    store_line(engine, service="OpenAI API", category="AI and Machine Learning", unit="Tokens")
    return add_anomaly(engine, evidence=OPENAI, impact_usd=54.0)


def desk_on(engine: Engine, settings: Settings, folder: Path = PLAYBOOKS) -> AnomalyDesk:
    rules = with_routing(settings).model_copy(update={"playbooks_dir": folder})
    return Services(settings=rules, engine=engine).desk()


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    copy = tmp_path / "playbooks"
    shutil.copytree(PLAYBOOKS, copy)
    return copy


def test_a_token_anomaly_walks_the_llm_playbook_with_its_levers_and_estimates(engine, settings):
    desk = desk_on(engine, settings)
    anomaly_id = token_anomaly(engine)

    before = desk.alert_view(anomaly_id)
    started = desk.open_step(anomaly_id, user="U0ANY", channel=SUPPORT)

    assert desk.playbook_for(anomaly_id).name == "llm_tokens"
    assert started.playbook is not None and started.playbook.name == "llm_tokens"
    # $18 an hour over the expected $2: $432 a day; caching acts on all $480 a day
    caching = next(lever for lever in before.levers if lever.id == "prompt_caching")
    assert caching.saves == ("Saves about $48 to $220 a day (cached input bills at a tenth of "
                             "the price on Anthropic, half on OpenAI).")
    loops = next(lever for lever in before.levers if lever.id == "loop_limits")
    assert loops.saves.startswith("Saves about $220 to $390 a day")
    assert loops.detail.startswith("Cap steps per agent run")
    offered = [o.value for o in started.options["levers"]]
    assert offered[:3] == ["loop_limits", "key_limits", "prompt_caching"]
    with session_scope(engine) as session:
        run = session.exec(select(PlaybookRun)).one()
        assert run.playbook == "llm_tokens"


def test_the_lever_chosen_in_the_llm_playbook_is_saved_and_filed(engine, settings):
    desk = desk_on(engine, settings)
    anomaly_id = token_anomaly(engine)
    answers = {
        "owner": {"owner": "U0ALICE"},
        "what_changed": {"change": "loop"},
        "stabilise": {"lever": "loop_limits", "action": "max agent steps 50 -> 10"},
        "review": {"checks": {"checked": ["key_limits", "loop_bounds", "caching", "guardrail",
                                          "rollback"]}},
        "document": {"root_cause": "an agent looped on a tool error", "fix": "step cap",
                     "prevention": "a per-key spend limit"},
    }
    started = desk.open_step(anomaly_id, user="U0ANY", channel=SUPPORT)
    while True:
        saved = desk.save_step(anomaly_id, step_id=started.step.id,
                               values=answers[started.step.id], user="U0ANY", channel=SUPPORT)
        if saved.following is None:
            break
        started = saved.following

    entry = desk.workload_runbook(anomaly_id, user="U0ANY", channel=SUPPORT).filed
    assert entry is not None
    assert "lever: Bound agent loops and retries" in entry.fix
    assert "changed: An agent loop or a retry storm" in entry.root_cause


def test_an_anomaly_without_a_stored_line_gets_the_default(engine, settings):
    desk = desk_on(engine, settings)
    anomaly_id = add_anomaly(engine, evidence=OPENAI)

    started = desk.open_step(anomaly_id, user="U0ANY", channel=SUPPORT)

    assert started.playbook is not None and started.playbook.name == "default"


def test_a_walk_keeps_its_playbook_when_the_rules_change_under_it(engine, settings, folder):
    desk = desk_on(engine, settings, folder)
    anomaly_id = token_anomaly(engine)
    first = desk.open_step(anomaly_id, user="U0ANY", channel=SUPPORT)
    desk.save_step(anomaly_id, step_id=first.step.id, values={"owner": "U0ALICE"},
                   user="U0ANY", channel=SUPPORT)
    text = (folder / "logging.yml").read_text(encoding="utf-8")
    (folder / "logging.yml").write_text(
        text.replace("  spend: [logging]\n", "  spend: [tokens, logging]\n  project: ['*']\n"),
        encoding="utf-8")
    later = desk_on(engine, settings, folder)

    step = later.open_step(anomaly_id, user="U0ANY", channel=SUPPORT)

    assert step.playbook is not None and step.playbook.name == "llm_tokens"
    assert step.step.id == "what_changed"
    assert later.alert_view(anomaly_id).playbook[0].done
    fresh = add_anomaly(engine, evidence=OPENAI)  # the same line of spend, a new incident
    assert later.open_step(fresh, user="U0ANY", channel=SUPPORT).playbook.name == "logging"


def test_a_walk_whose_playbook_was_removed_goes_on_with_the_default_and_says_so(
    engine, settings, folder
):
    desk = desk_on(engine, settings, folder)
    anomaly_id = token_anomaly(engine)
    first = desk.open_step(anomaly_id, user="U0ANY", channel=SUPPORT)
    desk.save_step(anomaly_id, step_id=first.step.id, values={"owner": "U0ALICE"},
                   user="U0ANY", channel=SUPPORT)
    (folder / "llm_tokens.yml").unlink()
    later = desk_on(engine, settings, folder)

    step = later.open_step(anomaly_id, user="U0ANY", channel=SUPPORT)

    assert step.playbook is not None and step.playbook.name == "default"
    assert step.step.id == "what_changed"  # the owner step's answer is kept
    with session_scope(engine) as session:
        replies = [m.payload["text"] for m in session.exec(select(OutboxMessage))
                   if m.payload and "text" in m.payload]
        assert session.exec(select(PlaybookRun)).one().playbook == "default"
    notices = [r for r in replies if "no longer installed" in r]
    assert notices == ["The playbook “llm_tokens” this walk began with is no longer installed; "
                       "it goes on with “Spend anomaly response”, keeping the answers to the "
                       "steps both have."]
