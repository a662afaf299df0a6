"""The "what changed" step offers the changes recorded before the anomaly, on every platform,
through the real desk and the shipped playbooks; "none of these" stays possible."""

from __future__ import annotations

import json
from datetime import timedelta

from rich.console import Console
from sqlalchemy.engine import Engine
from sqlmodel import select

from bot.anomaly.desk import AnomalyDesk
from bot.changes.events import ChangeIn, record_change
from bot.chat.console.walk import PreferOption, walk_playbook
from bot.chat.ids import StepMeta
from bot.chat.slack.modals import step_modal
from bot.chat.teams.forms import step_form
from bot.settings import Settings
from bot.wiring import Services
from storage.db import session_scope
from storage.models import RunbookEntry
from tests.support.anomalies import NOW, SUPPORT, add_anomaly, with_routing

OPTION_LABEL = "deploy · summariser · Route summaries to the larger model (Sep 1 07:00)"


def record(engine: Engine, hours_before: float, summary: str, **fields: object) -> None:
    with session_scope(engine) as session:
        record_change(db_session=session, source="webhook", now=NOW + timedelta(days=1),
                      change=ChangeIn(**{"kind": "deploy", "project": "support-agent",
                                         "environment": "prod", "service": "summariser",
                                         "summary": summary,
                                         "at": NOW - timedelta(hours=hours_before),
                                         "id": summary, **fields}))


def desk_for(engine: Engine, settings: Settings) -> AnomalyDesk:
    return Services(settings=with_routing(settings), engine=engine).desk()


def at_what_changed(desk: AnomalyDesk, anomaly_id: int):
    desk.open_step(anomaly_id, user="U0ANY", channel=SUPPORT)
    desk.save_step(anomaly_id, step_id="owner", values={"owner": "U0ANY"}, user="U0ANY",
                   channel=SUPPORT)
    started = desk.open_step(anomaly_id, user="U0ANY", channel=SUPPORT)
    assert started.step.id == "what_changed"
    return started


def test_the_step_offers_the_changes_first_then_the_kinds_of_change(engine, settings):
    anomaly_id = add_anomaly(engine)
    record(engine, 2, "Route summaries to the larger model")
    record(engine, 30, "Too long before")
    desk = desk_for(engine, settings)

    started = at_what_changed(desk, anomaly_id)
    offered = started.step.field("change").offered(started.options)  # type: ignore[union-attr]

    assert offered[0].label == OPTION_LABEL and offered[0].value.startswith("change:")
    assert [o.value for o in offered[1:]][-1] == "unknown"  # "none of these" is still there
    assert all("Too long before" not in o.label for o in offered)


def test_a_chosen_change_is_saved_and_reaches_the_runbook(engine, settings):
    anomaly_id = add_anomaly(engine)
    record(engine, 2, "Route summaries to the larger model")
    desk = desk_for(engine, settings)
    started = at_what_changed(desk, anomaly_id)
    chosen = started.options["changes"][0].value

    saved = desk.save_step(anomaly_id, step_id="what_changed",
                           values={"change": chosen, "note": ""}, user="U0ANY",
                           channel=SUPPORT).state

    answer = saved.steps["what_changed"].values["change"]
    assert answer.label == OPTION_LABEL  # type: ignore[union-attr]


def test_without_changes_the_step_is_as_before(engine, settings):
    anomaly_id = add_anomaly(engine)
    started = at_what_changed(desk_for(engine, settings), anomaly_id)

    assert started.options["changes"] == []
    offered = started.step.field("change").offered(started.options)  # type: ignore[union-attr]
    assert offered[0].value == "deployment" and offered[-1].value == "unknown"


def test_slack_and_teams_forms_show_the_changes(engine, settings):
    anomaly_id = add_anomaly(engine)
    record(engine, 2, "Route summaries to the larger model")
    desk = desk_for(engine, settings)
    started = at_what_changed(desk, anomaly_id)
    assert started.playbook is not None

    modal = step_modal(started.playbook, started.step,
                       StepMeta(anomaly_id=anomaly_id, step_id="what_changed", channel=SUPPORT,
                                message_ts="1700000000.000100"),
                       state=started.state, dynamic_options=started.options,
                       position=started.position).to_dict()
    card = step_form(desk.alert_view(anomaly_id), started, {}, {})

    assert OPTION_LABEL in json.dumps(modal, ensure_ascii=False)
    assert OPTION_LABEL in json.dumps(card, ensure_ascii=False)


def test_the_console_walk_picks_a_change_and_the_runbook_says_which(engine, settings):
    anomaly_id = add_anomaly(engine)
    record(engine, 2, "Route summaries to the larger model")
    desk = desk_for(engine, settings)
    console = Console(record=True, width=160)

    walk_playbook(desk=desk, anomaly_id=anomaly_id, user="U0ANY", console=console,
                  deliver=lambda: None, answers={
                      "owner": {},
                      "what_changed": {"change": PreferOption("change:", "unknown"),
                                       "note": ""},
                      "stabilise": {"lever": PreferOption("", "other"),
                                    "action": "rolled back"},
                      "review": {"checks": {"checked": [], "reason": "follow up on Monday"}},
                      "document": {"root_cause": "larger model", "fix": "rolled back",
                                   "prevention": "review model changes"}})

    assert OPTION_LABEL in console.export_text()
    with session_scope(engine) as session:
        entry = session.exec(select(RunbookEntry)).one()
    assert "Route summaries to the larger model" in entry.root_cause
