"""The Teams alert card: what it shows in each state, its actions, the step form, the panels,
and that every card validates against the Adaptive Cards 1.5 schema."""

from __future__ import annotations

import base64
import io
import json
from collections.abc import Iterator
from dataclasses import replace
from datetime import timedelta
from typing import Any

import numpy as np
import pandas as pd
import pytest
from jsonschema import Draft6Validator
from PIL import Image

from bot.anomaly.chart_image import spend_chart
from bot.anomaly.desk import EXPECTED_MAX_CHARS, EXPECTED_MIN_CHARS, StepStarted
from bot.anomaly.runbooks import Prefill
from bot.anomaly.service import SHIPPED_PLAYBOOKS, lever_options
from bot.chat.ids import SNOOZE_HOURS
from bot.chat.teams.cards import (
    CARD_BUDGET_BYTES,
    CHART_MAX_BYTES,
    Panel,
    PanelKind,
    alert_card,
    compact_chart_uri,
    plain,
    text_card,
)
from bot.chat.teams.schema import load_packaged_json, validate_card
from bot.chat.teams.verbs import (
    EXPECTED_INPUT,
    SNOOZE_INPUT,
    Verb,
    field_input_id,
    parse_action,
    reason_input_id,
    snooze_hours,
    step_values,
    toggle_input_id,
)
from bot.playbook import SelectAnswer, load_playbook, progress, start, submit
from storage.models import Anomaly
from tests.bot.chat.slack import T0, alert_view, runbook_entry, steps

PLAYBOOK = load_playbook(SHIPPED_PLAYBOOKS / "default.yml")
HOSTILE = "[click](https://evil.example) **URGENT** <at>all</at> _x_ `code` ~~gone~~"
ANSWERS: dict[str, dict[str, object]] = {
    "owner": {"owner": "priya@example.com", "note": "on call this week"},
    "what_changed": {"change": "logging", "note": "DEBUG on in production"},
    "stabilise": {"lever": "other", "action": "LOG_LEVEL=INFO"},
    "review": {"checks": {"checked": ["guardrail"], "reason": "The rest is booked for Monday."}},
    "document": {"root_cause": "DEBUG logs", "fix": "INFO", "prevention": "release check"},
}
JsonDict = dict[str, Any]


def walk(node: object) -> Iterator[JsonDict]:
    if isinstance(node, dict):
        yield node
        for value in node.values():
            yield from walk(value)
    elif isinstance(node, list):
        for item in node:
            yield from walk(item)


def texts(card: JsonDict) -> list[str]:
    """Everything a TextBlock or a fact shows, in order."""
    found = []
    for d in walk(card.get("body", [])):
        if d.get("type") == "TextBlock":
            found.append(d["text"])
        elif d.get("type") == "FactSet":
            found += [f"{f['title']}: {f['value']}" for f in d["facts"]]
    return found


def shown(card: JsonDict) -> str:
    return "\n".join(texts(card))


def actions(card: JsonDict) -> list[JsonDict]:
    return [d for d in walk(card) if d.get("type") == "Action.Execute"]


def verbs(card: JsonDict) -> list[str]:
    return [a["verb"] for a in actions(card)]


def inputs_of(card: JsonDict) -> list[JsonDict]:
    return [d for d in walk(card.get("body", [])) if str(d.get("type", "")).startswith("Input.")]


def anomaly() -> Anomaly:
    contributors = [{"service": "AmazonCloudWatch", "region": "us-east-1", "sku": "logs",
                     "impact_usd": 9.0, "expected": 1.0, "actual": 10.0}]
    return Anomaly(id=42, project="support-agent", environment="prod", owner="team-support",
                   phase="run", kind="spike", started_at=T0, detected_at=T0, last_seen_at=T0,
                   evidence={"contributors": contributors})


def started(step_id: str, *, done: tuple[str, ...] = ()) -> StepStarted:
    """The step as the desk opens it, after ``done`` steps were saved with ``ANSWERS``."""
    row = anomaly()
    state = start(PLAYBOOK, by="priya", at=T0)
    for earlier in done:
        state = submit(PLAYBOOK, state, earlier, ANSWERS[earlier], by="priya", at=T0,
                       dynamic_options=lever_options(row))
    ids = [s.id for s in PLAYBOOK.steps]
    return StepStarted(row, PLAYBOOK.step(step_id), (ids.index(step_id) + 1, len(ids)), state,
                       lever_options(row))


def chart_png() -> bytes:
    hours = pd.date_range(T0, periods=72, freq="h", tz="UTC")
    expected = 4 + 1.5 * np.sin(np.arange(72) / 24 * 2 * np.pi)
    actual = expected + np.random.default_rng(1).normal(0, 0.3, 72)
    actual[50:] += 8
    return spend_chart(hours, actual, expected, title="support-agent · prod: hourly spend",
                       started_at=hours[50].to_pydatetime())


def assert_valid(card: JsonDict) -> None:
    assert validate_card(card) == []
    assert len(json.dumps(card, ensure_ascii=False).encode()) <= CARD_BUDGET_BYTES


# -- plain() ------------------------------------------------------------------------------------


@pytest.mark.parametrize(("text", "escaped"), [
    ("[click](https://evil.example)", r"\[click\]\(https://evil.example\)"),
    ("**bold** and _it_", r"\*\*bold\*\* and \_it\_"),
    ("<at>Priya</at>", r"\<at\>Priya\</at\>"),
    ("`code` ~~strike~~ # tag", r"\`code\` \~\~strike\~\~ \# tag"),
    ("- not a list", r"\- not a list"),
    ("+ not a list", r"\+ not a list"),
    ("12. not a list", r"12\. not a list"),
    ("line\n  - nested", "line\n  \\- nested"),
    (r"back\slash", r"back\\slash"),
    ("plain words, 3.5 dollars - fine", "plain words, 3.5 dollars - fine"),
])
def test_plain_neutralises_what_markdown_would_read(text, escaped):
    assert plain(text, 500) == escaped


def test_plain_cuts_before_escaping_so_no_escape_is_split():
    assert plain("*" * 100, 10) == "\\*" * 9 + "…"
    assert plain(None) == ""


def test_user_text_cannot_inject_links_mentions_or_markup_anywhere_on_the_card():
    hostile = alert_view(project=HOSTILE, environment=HOSTILE, owner=HOSTILE, phase=HOSTILE,
                         response="acknowledged", response_by=HOSTILE, response_note=HOSTILE,
                         responsible=HOSTILE, baseline=HOSTILE,
                         last_fix=runbook_entry(3, author=HOSTILE, root_cause=HOSTILE),
                         data_as_of=((HOSTILE, T0),), playbook=steps(1))
    cards = [alert_card(hostile), alert_card(hostile, panel=Panel(
        PanelKind.RUNBOOK, HOSTILE, (runbook_entry(1, fix=HOSTILE),)))]
    for card in cards:
        for text in texts(card):
            assert "](" not in text and "<at>" not in text, text
            assert "**URGENT**" not in text and "~~gone~~" not in text, text
        assert_valid(card)


# -- the alert ----------------------------------------------------------------------------------


def test_a_new_alert_shows_the_figures_contributors_levers_and_every_action():
    card = alert_card(alert_view(data_as_of=(("focus-exports", T0 + timedelta(hours=3)),)))
    text = shown(card)
    assert card["version"] == "1.5" and card["msteams"] == {"width": "Full"}
    assert card["type"] == "AdaptiveCard" and "$schema" in card
    for part in ("Spend anomaly: support\\-agent · prod".replace("\\-", "-"),
                 "Over expected so far: $412.50", "Per day if it continues: $184.80",
                 "+179% ($12.00/h vs $4.30/h expected)", "Peak: $15.25/h",
                 "Not acknowledged yet", "Top contributors", "Amazon Bedrock",
                 "Suggested levers", "Data as of Sep 1 12:00 UTC (focus\\-exports)"
                 .replace("\\-", "-")):
        assert part in text, part
    assert verbs(card) == ["ack", "step_open", "snooze", "expected", "not_an_anomaly", "escalate",
                           "runbook"]
    assert [a["title"] for a in actions(card)][:2] == ["Acknowledge", "Start playbook"]
    assert_valid(card)


def test_every_action_carries_its_verb_in_the_data_and_an_action_submit_fallback():
    for action in actions(alert_card(alert_view())):
        fallback = action["fallback"]
        assert fallback["type"] == "Action.Submit" and fallback["data"] == action["data"]
        assert action["data"]["verb"] == action["verb"]
        assert parse_action(fallback["data"]).verb == Verb(action["verb"])
        assert parse_action({"action": {"type": "Action.Execute", "verb": action["verb"],
                                        "data": action["data"]}}).anomaly_id == 42


def test_acting_changes_what_the_card_says_and_offers():
    acked = alert_card(alert_view(response="acknowledged", response_by="priya"))
    assert "👀 Acknowledged by priya" in shown(acked) and "ack" not in verbs(acked)
    walking = alert_card(alert_view(response="investigating", response_by="priya",
                                    playbook=steps(2), responsible="dana",
                                    snoozed_until=T0 + timedelta(hours=4), escalated=True))
    text = shown(walking)
    assert "Playbook (2/5 done)" in text and "✓ Owner — U0ALICE01" in text
    assert "◻ Document" in text and "Responsible: dana" in text
    assert "💤 Snoozed until Sep 1 13:00 UTC" in text and "🚨 Escalated" in text
    assert "escalate" not in verbs(walking)
    assert [a["title"] for a in actions(walking) if a["verb"] == "step_open"] == [
        "Continue playbook (2/5)"]
    done = alert_card(alert_view(response="stabilised", response_by="p", playbook=steps(5)))
    assert "step_open" not in verbs(done)
    for card in (acked, walking, done):
        assert_valid(card)


@pytest.mark.parametrize("overrides", [
    {"response": "resolved", "response_by": "priya", "playbook": steps(5),
     "filed": runbook_entry(0, root_cause="DEBUG logging left on")},
    {"response": "expected", "response_by": "priya", "response_note": "load test until Friday"},
    {"status": "auto-resolved", "resolved_at": T0 + timedelta(hours=9)},
], ids=["resolved", "expected", "back-to-normal"])
def test_a_closed_alert_keeps_only_view_runbook_and_drops_the_levers(overrides):
    view = alert_view(**overrides)
    card = alert_card(view, step=started("owner"), panel=Panel(PanelKind.SNOOZE))
    assert verbs(card) == ["runbook"] and inputs_of(card) == []
    assert "Suggested levers" not in shown(card)
    assert_valid(card)


def test_the_closed_states_say_what_closed_them():
    resolved = shown(alert_card(alert_view(
        response="resolved", response_by="priya", playbook=steps(5),
        filed=runbook_entry(0, root_cause="DEBUG logging left on"))))
    assert "✅ Resolved: support-agent · prod" in resolved
    assert "Runbook entry filed" in resolved and "DEBUG logging left on" in resolved
    expected = shown(alert_card(alert_view(response="expected", response_by="priya",
                                           response_note="load test until Friday")))
    assert "Expected: support-agent" in expected and "Reason: load test until Friday" in expected
    back = shown(alert_card(alert_view(status="auto-resolved",
                                       resolved_at=T0 + timedelta(hours=9))))
    assert "Back to normal: auto-resolved Sep 1 18:00 UTC" in back


def test_the_last_fix_is_shown_while_the_alert_is_open():
    text = shown(alert_card(alert_view(last_fix=runbook_entry(3), runbook_entries=2)))
    assert "What fixed it last time (Aug 29 09:00 UTC, U0BOB0002)" in text
    assert "**Fix:** Routed requests under 2k tokens to the small model" in text


# -- the step form ------------------------------------------------------------------------------


@pytest.mark.parametrize("index", range(len(PLAYBOOK.steps)))
@pytest.mark.parametrize("with_errors", [False, True], ids=["clean", "errors"])
def test_every_step_of_the_shipped_playbook_draws_a_valid_form(index, with_errors):
    step = PLAYBOOK.steps[index]
    errors = {f.id: f"Fix {f.label}" for f in step.fields} if with_errors else None
    card = alert_card(alert_view(playbook=steps(index)), errors=errors,
                      step=started(step.id, done=tuple(s.id for s in PLAYBOOK.steps[:index])))
    text = shown(card)
    assert f"Step {index + 1} of {len(PLAYBOOK.steps)}: {step.title}" in text
    save = [a for a in actions(card) if a["verb"] == "step_save"]
    assert len(save) == 1 and save[0]["data"]["step_id"] == step.id
    assert save[0]["title"] == ("Finish" if index == len(PLAYBOOK.steps) - 1 else "Save")
    assert "back" in verbs(card) and "ack" not in verbs(card)
    if with_errors:
        assert all(f"Fix {f.label}" in text for f in step.fields)
    assert_valid(card)


def test_each_field_kind_gets_its_input():
    stabilise = alert_card(alert_view(), step=started("stabilise"))
    (lever, action) = inputs_of(stabilise)
    assert lever["type"] == "Input.ChoiceSet" and lever["style"] == "compact"
    assert lever["id"] == field_input_id("lever") and lever["isRequired"] is True
    offered = [c["value"] for c in lever["choices"]]
    assert offered[-1] == "other" and offered[0].startswith("logging")  # the anomaly's levers
    assert action["type"] == "Input.Text" and action["isMultiline"] is True
    assert action["maxLength"] == 3000
    owner = inputs_of(alert_card(alert_view(), step=started("owner")))
    assert [(i["type"], i["id"]) for i in owner] == [("Input.Text", "f.owner"),
                                                    ("Input.Text", "f.note")]
    assert owner[1]["maxLength"] == 1000 and "isRequired" not in owner[1]
    review = inputs_of(alert_card(alert_view(), step=started("review")))
    assert [i["type"] for i in review] == ["Input.Toggle"] * 6 + ["Input.Text"]
    assert review[0]["id"] == toggle_input_id("checks", "guardrail")
    assert review[-1]["id"] == reason_input_id("checks")


def test_a_form_prefilled_from_saved_answers_submits_the_same_answers():
    for step in PLAYBOOK.steps:
        again = started(step.id, done=tuple(s.id for s in PLAYBOOK.steps))
        card = alert_card(alert_view(), step=again)
        typed = {i["id"]: i.get("value", "") for i in inputs_of(card)}
        state = again.state
        resaved = submit(PLAYBOOK, state, step.id, step_values(step, typed), by="priya", at=T0,
                         dynamic_options=again.options)
        assert resaved.steps[step.id].values == state.steps[step.id].values, step.id


def test_errors_sit_under_their_input_in_attention_and_the_typed_text_stays():
    typed = {field_input_id("change"): "unknown", field_input_id("note"): "half a thought"}
    card = alert_card(alert_view(), step=started("what_changed"), inputs=typed,
                      errors={"note": "Required when “What most likely changed?” is “Unknown”"})
    items = card["body"][-1]["items"]
    note = next(i for i, item in enumerate(items) if item.get("id") == field_input_id("note"))
    assert items[note]["value"] == "half a thought"
    assert items[note + 1]["color"] == "Attention" and "Required when" in items[note + 1]["text"]
    change = next(item for item in items if item.get("id") == field_input_id("change"))
    assert change["value"] == "unknown"


def test_a_checklist_reason_error_goes_under_the_reason_box_and_ticks_are_kept():
    typed = {toggle_input_id("checks", "guardrail"): "true", reason_input_id("checks"): "later"}
    message = "Say a little more in “Why are some items not done, and who follows up by when?”"
    card = alert_card(alert_view(), step=started("review"), inputs=typed,
                      errors={"checks": message})
    items = card["body"][-1]["items"]
    reason = next(i for i, item in enumerate(items) if item.get("id") == reason_input_id("checks"))
    assert items[reason]["value"] == "later" and items[reason + 1]["color"] == "Attention"
    toggles = {i["id"]: i["value"] for i in items if i["type"] == "Input.Toggle"}
    assert toggles[toggle_input_id("checks", "guardrail")] == "true"
    assert toggles[toggle_input_id("checks", "limits")] == "false"


def test_an_error_naming_no_field_is_shown_under_the_first_one():
    card = alert_card(alert_view(), step=started("document"), errors={"document": "Finish x"})
    items = card["body"][-1]["items"]
    first = next(i for i, item in enumerate(items) if item.get("id") == "f.root_cause")
    assert items[first + 1]["text"] == "Finish x"


def test_a_step_waiting_on_another_says_which():
    document = started("document")
    view = alert_view(playbook=progress(PLAYBOOK, document.state))
    text = shown(alert_card(view, step=document))
    assert "⚠️ Finish “Review before re-enable” first" in text


# -- panels -------------------------------------------------------------------------------------


def test_the_snooze_panel_offers_the_hours_the_domain_accepts():
    card = alert_card(alert_view(), panel=Panel(PanelKind.SNOOZE))
    (choice,) = inputs_of(card)
    assert choice["id"] == SNOOZE_INPUT and choice["isRequired"] is True
    assert [int(c["value"]) for c in choice["choices"]] == list(SNOOZE_HOURS)
    assert all(snooze_hours({SNOOZE_INPUT: c["value"]}) for c in choice["choices"])
    assert verbs(card) == ["snooze_save", "back"]
    back = actions(card)[-1]
    assert back["associatedInputs"] == "none"  # going back does not validate the form
    assert_valid(card)
    refused = alert_card(alert_view(), panel=Panel(PanelKind.SNOOZE),
                         errors={"hours": "snooze for 1, 4, 24 hours, not 5"})
    assert "snooze for 1, 4, 24 hours, not 5" in shown(refused)


def test_the_expected_panel_holds_the_reason_to_the_domain_limits_and_shows_its_error():
    card = alert_card(alert_view(), panel=Panel(PanelKind.EXPECTED),
                      errors={"reason": "say in a few words why this spend is expected"},
                      inputs={EXPECTED_INPUT: "test"})
    (reason,) = inputs_of(card)
    assert reason["isRequired"] is True and reason["maxLength"] == EXPECTED_MAX_CHARS
    assert reason["value"] == "test"
    assert reason["regex"] == f"^[\\s\\S]{{{EXPECTED_MIN_CHARS},{EXPECTED_MAX_CHARS}}}$"
    assert "say in a few words" in shown(card)
    assert verbs(card) == ["expected_save", "back"]
    assert_valid(card)


def test_the_runbook_panel_lists_entries_newest_first_and_counts_the_rest():
    entries = tuple(runbook_entry(day, fix=f"fix {day}") for day in (9, 1, 5, 3, 7, 2, 8))
    card = alert_card(alert_view(), panel=Panel(PanelKind.RUNBOOK, "support-agent · prod",
                                                entries))
    text = shown(card)
    assert "📖 Runbook: support-agent · prod" in text
    fixes = [t for t in texts(card) if t.startswith("**Fix:** fix")]
    assert fixes == [f"**Fix:** fix {d}" for d in (1, 2, 3, 5, 7)]
    assert "2 older entries are not shown." in text
    empty = shown(alert_card(alert_view(), panel=Panel(PanelKind.RUNBOOK, "x")))
    assert "No runbook entries yet" in empty
    assert_valid(card)


# -- the chart ----------------------------------------------------------------------------------


def test_the_chart_is_compacted_to_fit_and_stays_a_png():
    png = chart_png()
    assert len(png) > CHART_MAX_BYTES
    uri = compact_chart_uri(png)
    assert uri is not None and uri.startswith("data:image/png;base64,")
    small = base64.b64decode(uri.split(",", 1)[1])
    assert len(small) <= CHART_MAX_BYTES
    assert Image.open(io.BytesIO(small)).format == "PNG"
    card = alert_card(alert_view(playbook=steps(2)), chart_uri=uri)
    image = next(d for d in walk(card) if d.get("type") == "Image")
    assert image["url"] == uri and "hourly spend" in image["altText"]
    assert_valid(card)


def test_a_chart_that_cannot_fit_or_is_no_image_is_left_out():
    assert compact_chart_uri(chart_png(), max_bytes=500) is None
    assert compact_chart_uri(b"not a png") is None
    with pytest.raises(ValueError, match="data:image/png;base64"):
        alert_card(alert_view(), chart_uri="https://example.com/chart.png")


# -- text cards ---------------------------------------------------------------------------------


def test_a_text_card_keeps_columns_and_escapes_every_line():
    card = text_card("support-agent · 7d", ["Total      $1,234.56", "- [x](y) item",
                                            *[f"line {i}" for i in range(80)]])
    lines = [d for d in walk(card["body"]) if d.get("fontType") == "Monospace"]
    assert lines[0]["text"] == "Total\u00a0\u00a0\u00a0\u00a0\u00a0\u00a0$1,234.56"
    assert lines[1]["text"].startswith("\\-\u00a0\\[x\\]\\(y\\)")
    assert "22 more lines are not shown." in shown(card)
    assert_valid(card)
    with pytest.raises(ValueError, match="title"):
        text_card("  ", ["x"])


def test_schema_errors_say_where_and_what():
    card = alert_card(alert_view())
    card["body"].append({"type": "TextBlock", "txt": "typo"})
    card["actions"][0]["verb"] = 12
    problems = validate_card(card)
    assert any(p.startswith("body[") and "'txt' was unexpected" in p for p in problems)
    assert "actions[0].verb: 12 is not of type 'string'" in problems
    card["body"].append({"type": "Carousel"})
    assert any("'Carousel' is not a type allowed here; use one of ActionSet" in p
               for p in validate_card(card))


def broken(card: JsonDict, change: str) -> JsonDict:
    copy = json.loads(json.dumps(card))
    if change == "unknown element":
        copy["body"].append({"type": "Carousel", "pages": []})
    elif change == "unknown property":
        copy["body"][-1]["items"][2]["maxLenght"] = 5
    elif change == "bad colour":
        copy["body"][0]["color"] = "Red"
    elif change == "action without title type":
        copy["body"][-1]["items"][-1]["actions"][0]["type"] = "Action.Run"
    return copy


@pytest.mark.parametrize("change", [None, "unknown element", "unknown property", "bad colour",
                                    "action without title type"])
def test_the_fast_check_agrees_with_the_plain_draft6_validator(change):
    card = alert_card(alert_view(), step=started("owner"))
    if change is not None:
        card = broken(card, change)
    schema = load_packaged_json("adaptive-card-1.5.0.json")
    plain_check = Draft6Validator(schema).is_valid({k: v for k, v in card.items()
                                                    if k != "msteams"})
    assert (validate_card(card) == []) is plain_check



def test_a_step_pre_filled_from_the_last_incident_says_so_and_submits_those_answers():
    prefill = Prefill(anomaly_id=12, on=T0 - timedelta(days=9), values={
        "change": SelectAnswer(value="logging", label="Logging"), "note": HOSTILE})
    step = replace(started("what_changed", done=("owner",)), prefill=prefill)

    card = alert_card(alert_view(), step=step)

    assert_valid(card)
    assert any(t.startswith("📋 Pre-filled from incident \\#12, ") for t in texts(card))
    typed = {i["id"]: i.get("value", "") for i in inputs_of(card)}
    assert typed == {field_input_id("change"): "logging", field_input_id("note"): HOSTILE}
    saved = submit(PLAYBOOK, step.state, "what_changed",
                   step_values(PLAYBOOK.step("what_changed"), typed), by="sam", at=T0)
    assert saved.steps["what_changed"].values["change"].value == "logging"


def test_an_edited_runbook_entry_shows_its_version_on_the_card():
    view = alert_view(last_fix=runbook_entry(3, version=2, updated_by="sam", updated_at=T0))

    card = alert_card(view)

    assert_valid(card)
    assert f"v2 · edited by sam on {T0:%Y-%m-%d}" in texts(card)
