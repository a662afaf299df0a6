"""The Home tab: open alerts and recent resolutions, within 100 blocks, escaped, never empty."""

from __future__ import annotations

from datetime import timedelta

from bot.chat.slack.home import home_view
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
)


def sections(view: dict) -> list[str]:
    return [b["text"]["text"] for b in view["blocks"] if b["type"] == "section"]


def test_empty_home_is_friendly() -> None:
    view = home_view([], []).to_dict()
    assert view["type"] == "home"
    headers = [b["text"]["text"] for b in view["blocks"] if b["type"] == "header"]
    assert headers == ["Open anomalies for your teams", "Recent resolutions"]
    texts = sections(view)
    assert texts[0].startswith("Nothing unusual right now")
    assert texts[1].startswith("No resolutions yet")


def test_one_compact_section_per_alert_and_resolution() -> None:
    alerts = [alert_view(),
              alert_view(anomaly_id=43, project="search", response="acknowledged",
                         response_by=BOB, escalated=True, snoozed_until=T0 + timedelta(hours=4))]
    view = home_view(alerts, [("support-agent · prod", runbook_entry(2))]).to_dict()
    first, second, fix = sections(view)
    assert first.startswith(f"*support-agent · prod* — <@{ALICE}>\n$412.50 over expected since")
    assert "$184.80/day if it continues" in first and "Not acknowledged yet" in first
    assert f"Acknowledged by <@{BOB}>" in second and "🚨 escalated" in second
    assert "💤 snoozed until" in second
    assert fix.startswith("*support-agent · prod* · <!date^")
    assert "*Root cause:* Summariser switched" in fix and "*Fix:* Routed" in fix
    assert "Prevention" not in fix
    assert_within_limits(view["blocks"], max_blocks=100)


def test_many_alerts_and_resolutions_stay_within_100_blocks() -> None:
    long = "z" * 3000
    alerts = [alert_view(anomaly_id=i + 1, project="p" * 300, response_note=long)
              for i in range(150)]
    resolutions = [("w" * 300, runbook_entry(i, root_cause=long, fix=long)) for i in range(80)]
    view = home_view(alerts, resolutions).to_dict()
    assert_within_limits(view["blocks"], max_blocks=100)
    notes = [b["elements"][0]["text"] for b in view["blocks"] if b["type"] == "context"]
    assert notes == ["and 90 more; `/cost anomalies` lists them all.",
                     "and 50 older resolutions."]


def test_home_text_is_escaped() -> None:
    alerts = [alert_view(project=HOSTILE, environment=HOSTILE, owner=HOSTILE,
                         response="investigating", response_by=HOSTILE)]
    entry = runbook_entry(1, root_cause=HOSTILE, fix=HOSTILE, author=HOSTILE)
    view = home_view(alerts, [(HOSTILE, entry)]).to_dict()
    for text in mrkdwn_texts(view["blocks"]):
        assert_escaped(text)
