"""The alert message: snapshots of typical alerts, Slack's limits, escaping, and the buttons."""

from __future__ import annotations

import json
import os
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from bot.anomaly.views import AlertView, ContributorView
from bot.chat.ids import SNOOZE_HOURS, ActionId, parse_ref
from bot.chat.slack.blocks import (
    alert_message,
    clip_mrkdwn,
    date_token,
    escape,
    mention,
    notice_blocks,
)
from tests.bot.chat.slack import (
    ALICE,
    BOB,
    HOSTILE,
    T0,
    alert_view,
    assert_escaped,
    assert_within_limits,
    mrkdwn_texts,
    runbook_entry,
    steps,
    walk,
)

SNAPSHOTS = Path(__file__).resolve().parents[3] / "fixtures" / "slack"
UPDATE = os.environ.get("SPENDWATCH_UPDATE_SNAPSHOTS") == "1"

VIEWS: dict[str, AlertView] = {
    "open": alert_view(),
    "acknowledged_in_playbook": alert_view(
        response="acknowledged", response_by=BOB, snoozed_until=T0 + timedelta(hours=6),
        escalated=True, playbook=steps(2), last_fix=runbook_entry(30), runbook_entries=3,
    ),
    "new_spend": alert_view(expected_hourly=0.0, actual_hourly=3.5, impact_usd=7.0,
                            projected_daily_usd=84.0, peak_hourly_usd=3.5, owner="data-team",
                            baseline="no history: new spend", contributors=[], levers=[]),
    "expected": alert_view(response="expected", response_by=ALICE,
                           response_note="Load test until Friday", runbook_entries=1,
                           last_fix=runbook_entry(3)),
    "auto_resolved": alert_view(status="auto-resolved", resolved_at=T0 + timedelta(hours=9),
                                impact_usd=1234.56, projected_daily_usd=0.0),
}


def extreme_view() -> AlertView:
    """Every text as long as people or tags can make it."""
    long = "x" * 2990 + "&<>&"
    contributors = [ContributorView(f"service-{i}-" + "s" * 300, "r" * 300, "k" * 300,
                                    1000.0 + i, 1.0, 1001.0) for i in range(20)]
    return alert_view(
        project="p" * 300, environment="e" * 300, owner="o" * 300, phase="h" * 300,
        kind="k" * 300, baseline="b" * 3000, response="investigating", response_by="n" * 300,
        response_note=long, snoozed_until=T0, escalated=True, contributors=contributors,
        last_fix=runbook_entry(1, root_cause=long, fix=long, prevention=long, author="a" * 300),
        runbook_entries=30, playbook=steps(3),
    )


def hostile_view(**overrides: Any) -> AlertView:
    return alert_view(
        project=HOSTILE, environment=HOSTILE, owner=HOSTILE, phase=HOSTILE, kind=HOSTILE,
        baseline=HOSTILE, response_by=HOSTILE, response_note=HOSTILE,
        contributors=[ContributorView(HOSTILE, HOSTILE, HOSTILE, 1.0, 1.0, 2.0)],
        last_fix=runbook_entry(1, root_cause=HOSTILE, fix=HOSTILE, prevention=HOSTILE,
                               author=HOSTILE),
        runbook_entries=1, **overrides,
    )


def payload(view: AlertView) -> dict[str, Any]:
    text, blocks = alert_message(view)
    return {"text": text, "blocks": [b.to_dict() for b in blocks]}


def elements(blocks: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [e for b in blocks if b["type"] == "actions" for e in b["elements"]]


# -- snapshots -------------------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(VIEWS))
def test_alert_message_matches_its_snapshot(name: str) -> None:
    got = payload(VIEWS[name])
    path = SNAPSHOTS / f"alert_{name}.json"
    if UPDATE:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(got, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    assert path.exists(), f"no snapshot {path}; run with SPENDWATCH_UPDATE_SNAPSHOTS=1"
    assert got == json.loads(path.read_text(encoding="utf-8")), (
        f"alert {name!r} changed; if intended, rerun with SPENDWATCH_UPDATE_SNAPSHOTS=1 and "
        f"review the diff of {path.name}"
    )


def test_fallback_text_says_what_and_how_much() -> None:
    assert payload(VIEWS["open"])["text"] == (
        "Spend anomaly: support-agent prod +$412.50 (+179%) since Sep 1 09:00 UTC"
    )
    assert payload(VIEWS["expected"])["text"].startswith("Expected: support-agent prod")
    assert payload(VIEWS["auto_resolved"])["text"].startswith("Resolved: support-agent prod")


# -- limits and escaping ---------------------------------------------------------------------


@pytest.mark.parametrize("view", [*VIEWS.values(), extreme_view(), hostile_view()],
                         ids=[*VIEWS, "extreme", "hostile"])
def test_every_alert_fits_slack_limits(view: AlertView) -> None:
    assert_within_limits(payload(view)["blocks"], max_blocks=50)


def test_extreme_alert_is_cut_not_refused() -> None:
    got = payload(extreme_view())
    texts = mrkdwn_texts(got["blocks"])
    assert any(t.endswith("…") for t in texts)
    contributors = next(t for t in texts if t.startswith("*Top contributors*"))
    assert contributors.count("\n• ") == 5 and "_and 15 more_" in contributors
    header = got["blocks"][0]["text"]["text"]
    assert len(header) == 150 and header.endswith("…")
    for text in texts:
        assert_escaped(text, mentions={"U0ALICE01"})


@pytest.mark.parametrize("response", ["none", "acknowledged", "expected", "resolved"])
def test_user_and_tag_text_cannot_ping_anyone(response: str) -> None:
    got = payload(hostile_view(response=response))
    for text in [got["text"], *mrkdwn_texts(got["blocks"])]:
        assert_escaped(text)
    assert "&lt;!channel&gt;" in json.dumps(got)


def test_mentions_only_for_slack_ids() -> None:
    got = payload(alert_view(response="acknowledged", response_by=BOB,
                             playbook=steps(1), last_fix=runbook_entry(2), runbook_entries=1))
    for text in mrkdwn_texts(got["blocks"]):
        assert_escaped(text, mentions={ALICE, BOB})
    assert f"Acknowledged by <@{BOB}>" in json.dumps(got, ensure_ascii=False)


def test_the_alert_names_the_person_the_owner_step_made_responsible() -> None:
    fields = json.dumps(payload(alert_view(responsible=BOB))["blocks"], ensure_ascii=False)
    assert f"*Responsible*\\n<@{BOB}>" in fields
    hostile = json.dumps(payload(alert_view(responsible="<!channel> priya"))["blocks"])
    assert "&lt;!channel&gt; priya" in hostile
    assert "Responsible" not in json.dumps(payload(alert_view())["blocks"])


@pytest.mark.parametrize(("user", "shown"), [
    ("U0ALICE01", "<@U0ALICE01>"),
    ("W012A3CDE", "<@W012A3CDE>"),
    ("U1", "<@U1>"),
    ("WEB", "WEB"),
    ("u0alice01", "u0alice01"),
    ("alice@example.com", "alice@example.com"),
    ("<@U1|x>", "&lt;@U1|x&gt;"),
    ("U1 & co", "U1 &amp; co"),
    (None, ""),
    ("  ", ""),
])
def test_mention(user: str | None, shown: str) -> None:
    assert mention(user) == shown


def test_escape_and_clip_never_break_an_entity_or_token() -> None:
    assert escape("a & <b> <!channel>") == "a &amp; &lt;b&gt; &lt;!channel&gt;"
    assert clip_mrkdwn(escape("ab&cd"), 5) == "ab…"
    assert clip_mrkdwn("ab " + date_token(T0), 10) == "ab …"
    assert clip_mrkdwn("short", 5) == "short"


def test_date_token_has_a_utc_fallback_and_reads_naive_times_as_utc() -> None:
    token = "<!date^1788253200^{date_short_pretty} {time}|2026-09-01 09:00 UTC>"
    assert date_token(T0) == token
    assert date_token(T0.replace(tzinfo=None)) == token


# -- actions ---------------------------------------------------------------------------------


@pytest.mark.parametrize("view", [*VIEWS.values(), extreme_view()], ids=[*VIEWS, "extreme"])
def test_action_ids_are_enum_values_and_values_parse(view: AlertView) -> None:
    for element in elements(payload(view)["blocks"]):
        assert element["action_id"] in {a.value for a in ActionId}
        refs = [parse_ref(o["value"]) for o in element.get("options", [])]
        if element["type"] == "button":
            refs.append(parse_ref(element["value"]))
        assert refs and all(ref.anomaly_id == view.anomaly_id for ref in refs)


def test_open_alert_offers_every_action() -> None:
    got = elements(payload(alert_view(runbook_entries=2))["blocks"])
    assert [e["action_id"] for e in got] == [
        "alert.acknowledge", "alert.start_playbook", "alert.snooze", "alert.expected",
        "alert.not_an_anomaly", "alert.escalate", "alert.view_runbook",
    ]
    snooze = next(e for e in got if e["action_id"] == ActionId.SNOOZE)
    assert [parse_ref(o["value"]).hours for o in snooze["options"]] == list(SNOOZE_HOURS)
    assert [o["text"]["text"] for o in snooze["options"]] == ["1 h", "4 h", "24 h"]


def test_acknowledged_alert_hides_acknowledge_and_continues_the_playbook() -> None:
    got = elements(payload(VIEWS["acknowledged_in_playbook"])["blocks"])
    ids = [e["action_id"] for e in got]
    assert ActionId.ACKNOWLEDGE not in ids
    assert ActionId.ESCALATE not in ids  # escalated already
    playbook = next(e for e in got if e["action_id"] == ActionId.START_PLAYBOOK)
    assert playbook["text"]["text"] == "Continue playbook (2/5)"


def test_without_runbook_entries_there_is_no_view_runbook() -> None:
    ids = [e["action_id"] for e in elements(payload(alert_view())["blocks"])]
    assert ActionId.VIEW_RUNBOOK not in ids


@pytest.mark.parametrize("closing", [
    {"response": "resolved", "response_by": ALICE},
    {"response": "expected", "response_note": "planned"},
    {"status": "auto-resolved", "resolved_at": T0},
])
@pytest.mark.parametrize("entries", [0, 2])
def test_closed_alert_only_offers_the_runbook(closing: dict[str, Any], entries: int) -> None:
    view = alert_view(runbook_entries=entries, **closing)
    assert view.closed
    ids = [e["action_id"] for e in elements(payload(view)["blocks"])]
    assert ids == ([ActionId.VIEW_RUNBOOK.value] if entries else [])


def test_headers_follow_the_state() -> None:
    def header(view: AlertView) -> str:
        return payload(view)["blocks"][0]["text"]["text"]

    assert header(VIEWS["open"]) == "💸 Spend anomaly: support-agent · prod"
    assert header(VIEWS["expected"]) == "Expected: support-agent · prod"
    assert header(VIEWS["auto_resolved"]) == "✅ Resolved: support-agent · prod"


def test_every_block_type_is_one_slack_knows() -> None:
    kinds = {b["type"] for v in VIEWS.values() for b in payload(v)["blocks"]}
    assert kinds <= {"header", "section", "context", "actions"}
    texts = [d for v in VIEWS.values() for d in walk(payload(v)["blocks"])
             if isinstance(d.get("text"), str)]
    assert texts and all(d["type"] in ("mrkdwn", "plain_text") for d in texts)


# -- notices ---------------------------------------------------------------------------------


def test_notice_is_one_section_of_the_callers_mrkdwn() -> None:
    text = f"<@{ALICE}> acknowledged · project {escape('<!channel>')}"
    (block,) = [b.to_dict() for b in notice_blocks(text)]
    assert block == {"type": "section", "text": {"type": "mrkdwn", "text": text}}


def test_long_notice_is_cut_and_empty_one_refused() -> None:
    (block,) = [b.to_dict() for b in notice_blocks(escape("&" * 5000))]
    assert len(block["text"]["text"]) <= 3000
    assert_escaped(block["text"]["text"])
    with pytest.raises(ValueError, match="needs some text"):
        notice_blocks("  ")


def test_the_alert_says_as_of_when_each_source_has_data() -> None:
    from datetime import UTC, datetime

    view = alert_view(data_as_of=(("openai", datetime(2026, 11, 20, 14, tzinfo=UTC)),
                                  ("<!channel> cur", datetime(2026, 11, 19, 0, tzinfo=UTC))))
    texts = " ".join(mrkdwn_texts(payload(view)["blocks"]))
    assert "Data as of <!date^1795183200^" in texts and "(openai)" in texts
    assert "<!channel>" not in texts  # a source's name is escaped like any other text


def test_a_burst_that_is_over_says_so_and_what_it_cost() -> None:
    view = alert_view(burst_ended_at=T0 + timedelta(hours=2), burst_cost_usd=84.5)
    text = json.dumps(payload(view)["blocks"], ensure_ascii=False)
    assert "A short burst, over" in text and "$84.50 over expected" in text
    assert "A short burst" not in json.dumps(payload(alert_view())["blocks"])
