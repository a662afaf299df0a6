"""What an alert says, built from the stored anomaly, the workload's runbook and the walk."""

from __future__ import annotations

from datetime import timedelta

import pytest

from bot.anomaly.views import build_alert_view, main_service, runbook_view
from bot.playbook import load_playbooks, start, submit
from storage.models import Anomaly, RunbookEntry
from tests.support.anomalies import CLOUDWATCH, NOW, PLAYBOOKS

PLAYBOOK = load_playbooks(PLAYBOOKS)["default"]


def anomaly(**fields) -> Anomaly:
    return Anomaly(**{
        "id": 7, "project": "support-agent", "environment": "prod", "owner": "team-support",
        "phase": "run", "kind": "spike", "started_at": NOW, "detected_at": NOW,
        "last_seen_at": NOW, "expected_cost": 2.0, "actual_cost": 20.0, "impact_usd": 18.0,
        "peak_hourly_usd": 22.0, "evidence": CLOUDWATCH, **fields})


def entry(anomaly_id: int | None, days_ago: int, root_cause: str, **fields) -> RunbookEntry:
    return RunbookEntry(**{
        "project": "support-agent", "environment": "prod", "service_name": "AmazonCloudWatch",
        "anomaly_id": anomaly_id, "root_cause": root_cause, "fix": "INFO level",
        "prevention": "lint", "author": "U0ANY", "created_at": NOW - timedelta(days=days_ago),
        **fields})


def test_an_alert_shows_the_spend_its_cause_and_what_to_do():
    view = build_alert_view(anomaly(), runbook=[])
    assert view.title == "support-agent · prod"
    assert view.percent_over == pytest.approx(900.0)
    assert view.projected_daily_usd == pytest.approx(18.0 * 24)
    assert view.peak_hourly_usd == 22.0 and view.baseline == "same hour, last 3 weeks"
    (top,) = view.contributors
    assert (top.service, top.region, top.impact_usd) == ("AmazonCloudWatch", "us-east-1", 18.0)
    assert view.levers and all(lever.id.startswith("logging.") for lever in view.levers)
    assert (view.response, view.escalated, view.closed) == ("none", False, False)
    assert view.last_fix is None and view.runbook_entries == 0 and view.playbook == []


def test_spend_below_a_zero_baseline_has_no_percentage_and_no_projection():
    view = build_alert_view(anomaly(expected_cost=0.0, actual_cost=5.0), runbook=[])
    assert view.percent_over is None
    below = build_alert_view(anomaly(expected_cost=9.0, actual_cost=5.0), runbook=[])
    assert below.projected_daily_usd == 0.0


def test_an_anomaly_without_contributors_offers_no_levers():
    view = build_alert_view(anomaly(evidence={}), runbook=[])
    assert view.contributors == [] and view.levers == [] and view.baseline == ""
    assert main_service(anomaly(evidence={})) == ""
    assert main_service(anomaly()) == "AmazonCloudWatch"


@pytest.mark.parametrize(("status", "response", "closed"), [
    ("open", "none", False),
    ("open", "acknowledged", False),
    ("open", "expected", True),
    ("open", "resolved", True),
    ("auto-resolved", "none", True),            # back to normal before anyone engaged
    ("auto-resolved", "investigating", False),  # a team in the middle can still finish
])
def test_an_alert_is_closed_when_nothing_more_is_to_be_done(status, response, closed):
    view = build_alert_view(anomaly(status=status, response=response), runbook=[])
    assert view.closed is closed


def test_people_and_snoozes_are_shown():
    view = build_alert_view(anomaly(response="expected", response_by="U0ANY",
                                    response_note="load test", escalated_at=NOW,
                                    snoozed_until=NOW + timedelta(hours=4)), runbook=[])
    assert (view.response, view.response_by, view.response_note) == ("expected", "U0ANY",
                                                                    "load test")
    assert view.escalated and view.snoozed_until == NOW + timedelta(hours=4)


def test_the_last_fix_is_an_earlier_incidents_not_this_ones():
    runbook = [entry(7, 0, "this incident"), entry(3, 10, "last month"),
               entry(1, 40, "long ago")]
    view = build_alert_view(anomaly(), runbook=runbook)
    assert view.last_fix.root_cause == "last month"
    assert view.runbook_entries == 3


def test_the_walk_so_far_and_who_was_made_responsible():
    state = start(PLAYBOOK, by="U0ANY", at=NOW)
    state = submit(PLAYBOOK, state, "owner", {"owner": "U0ALICE"}, by="U0BOB", at=NOW)
    view = build_alert_view(anomaly(), runbook=[], playbook=PLAYBOOK, state=state)
    assert [(s.step_id, s.done, s.by) for s in view.playbook] == [
        ("owner", True, "U0BOB"), ("what_changed", False, None), ("stabilise", False, None),
        ("review", False, None), ("document", False, None)]
    assert view.responsible == "U0ALICE"
    started = build_alert_view(anomaly(), runbook=[], playbook=PLAYBOOK,
                               state=start(PLAYBOOK, by="U0ANY", at=NOW))
    assert started.responsible is None and not any(s.done for s in started.playbook)


def test_a_runbook_entry_reads_back_every_answer_and_old_entries_have_none():
    answers = [{"step": "owner", "title": "Owner", "by": "U0ANY", "at": NOW.isoformat(),
                "fields": [{"label": "Responsible person", "text": "U0ALICE"}]}]
    view = runbook_view(entry(7, 0, "debug logging", answers=answers))
    (step,) = view.answers
    assert (step.title, step.by, step.at) == ("Owner", "U0ANY", NOW)
    assert [(f.label, f.text) for f in step.fields] == [("Responsible person", "U0ALICE")]
    assert runbook_view(entry(7, 0, "before answers were kept")).answers == ()


def test_a_burst_that_is_over_says_when_it_ended_and_what_it_cost():
    evidence = {**CLOUDWATCH, "burst_ended_at": "2026-09-01T07:00:00Z", "burst_cost_usd": 65.0}
    view = build_alert_view(anomaly(evidence=evidence), runbook=[])
    assert view.burst_ended_at is not None and view.burst_ended_at.isoformat() == (
        "2026-09-01T07:00:00+00:00")
    assert view.burst_cost_usd == 65.0
    assert view.projected_daily_usd == 0.0  # it will not go on for a day
    assert build_alert_view(anomaly(), runbook=[]).burst_ended_at is None


def test_every_platform_says_a_burst_is_over_and_what_it_cost():
    from rich.console import Console

    from bot.chat.console.panel import alert_panel
    from bot.chat.slack.blocks import alert_message
    from bot.chat.teams.cards import alert_card

    evidence = {**CLOUDWATCH, "burst_ended_at": "2026-09-01T07:00:00Z", "burst_cost_usd": 65.0}
    view = build_alert_view(anomaly(evidence=evidence), runbook=[])
    _, blocks = alert_message(view)
    assert "it cost $65.00 over expected" in str([block.to_dict() for block in blocks])
    assert "it cost $65.00 over expected" in str(alert_card(view))
    console = Console(width=200, record=True)
    console.print(alert_panel(view, channel="team-support", ref="r1"))
    assert "it cost $65.00 over expected" in console.export_text()


def test_notes_reach_every_platform_escaped():
    """A note (a plan, feedback, a deploy) reads the same on Slack, Teams and the console, and
    text from outside (a deploy's summary) cannot ping a channel."""
    from dataclasses import replace

    from rich.console import Console

    from bot.anomaly.views import AlertNote
    from bot.chat.console.panel import alert_panel
    from bot.chat.slack.blocks import alert_message
    from bot.chat.teams.cards import alert_card
    from bot.chat.teams.schema import validate_card

    note = AlertNote("What changed before it started", ("deploy v42 <!channel> by ci",))
    view = replace(build_alert_view(anomaly(), runbook=[]), notes=(note,))
    _, blocks = alert_message(view)
    slack = str([block.to_dict() for block in blocks])
    assert "*What changed before it started*" in slack
    assert "<!channel>" not in slack and "&lt;!channel&gt;" in slack
    card = alert_card(view)
    assert validate_card(card) == []
    texts = [block.get("text", "") for block in card["body"]]
    assert "What changed before it started" in texts
    assert "• deploy v42 \\<!channel\\> by ci" in texts  # markdown-escaped, shown as typed
    console = Console(width=120, record=True)
    console.print(alert_panel(view, channel="team-support", ref="r1"))
    assert "deploy v42 <!channel> by ci" in console.export_text()
