"""Shared pieces of the Slack builder tests: an alert view to vary, and the checks every
payload must pass (Slack's limits, and no markup smuggled in through user text)."""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Collection, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

from bot.anomaly.levers import levers_for
from bot.anomaly.views import AlertView, ContributorView, RunbookView
from bot.playbook import StepProgress

T0 = datetime(2026, 9, 1, 9, 0, tzinfo=UTC)
ALICE = "U0ALICE01"
BOB = "U0BOB0002"
HOSTILE = "<!channel> <@U1|x> & <https://evil.example|click> <!here>"

# our own tokens are the only markup allowed in mrkdwn: date tokens and mentions of Slack ids
_TOKEN = re.compile(r"<[^<>]*>")
_OURS = re.compile(r"<!date\^\d+\^\{date_short_pretty\} \{time\}\|[0-9: -]+ UTC>|<@[UW][A-Z0-9]+>")
_ENTITY = re.compile(r"&(?!amp;|lt;|gt;)")

JsonDict = dict[str, Any]


def alert_view(**overrides: Any) -> AlertView:
    """An open, fresh alert on a token-heavy workload; override any field."""
    base = AlertView(
        anomaly_id=42, project="support-agent", environment="prod", owner=ALICE, phase="run",
        kind="spike", status="open", response="none", response_by=None, response_note=None,
        started_at=T0, detected_at=T0 + timedelta(hours=2), last_seen_at=T0 + timedelta(hours=3),
        resolved_at=None, expected_hourly=4.3, actual_hourly=12.0, impact_usd=412.5,
        projected_daily_usd=184.8, peak_hourly_usd=15.25,
        baseline="median of the same hour in the previous 4 weeks", snoozed_until=None,
        escalated=False,
        contributors=[
            ContributorView("Amazon Bedrock", "us-east-1", "claude-sonnet-input", 5.9, 2.1, 8.0),
            ContributorView("OpenAI API", "global", "gpt-4.1", 1.8, 2.2, 4.0),
        ],
        levers=levers_for("tokens"),
    )
    return dataclasses.replace(base, **overrides)


def runbook_entry(day: int, **overrides: Any) -> RunbookView:
    base = RunbookView(
        created_at=T0 - timedelta(days=day), author=BOB,
        root_cause="Summariser switched to the large model for every request",
        fix="Routed requests under 2k tokens to the small model",
        prevention="Budget alert at 120 % of the weekly median",
    )
    return dataclasses.replace(base, **overrides)


def steps(done: int, total: int = 5) -> list[StepProgress]:
    titles = ["Owner", "What changed", "Stabilise spend", "Review before re-enable", "Document"]
    return [StepProgress(f"s{i}", titles[i], i < done, ALICE if i < done else None)
            for i in range(total)]


def walk(node: object) -> Iterator[JsonDict]:
    """Every dict in a payload, depth first."""
    if isinstance(node, dict):
        yield node
        for value in node.values():
            yield from walk(value)
    elif isinstance(node, list):
        for item in node:
            yield from walk(item)


def mrkdwn_texts(node: object) -> list[str]:
    return [d["text"] for d in walk(node) if d.get("type") == "mrkdwn"]


def assert_within_limits(blocks: list[JsonDict], *, max_blocks: int) -> None:
    """Slack's Block Kit limits, checked on the serialised payload."""
    assert 0 < len(blocks) <= max_blocks
    for d in walk(blocks):
        kind = d.get("type")
        if kind == "section":
            assert "text" in d or "fields" in d
            assert len(d.get("text", {}).get("text", "")) <= 3000
            assert len(d.get("fields", [])) <= 10
            assert all(len(f["text"]) <= 2000 for f in d.get("fields", []))
        elif kind == "header":
            assert len(d["text"]["text"]) <= 150
        elif kind == "button":
            assert len(d["text"]["text"]) <= 75
            assert len(d.get("value", "")) <= 2000
        elif kind == "context":
            assert len(d["elements"]) <= 10
            assert all(len(e.get("text", "")) <= 3000 for e in d["elements"])
        elif kind == "actions":
            assert len(d["elements"]) <= 25
        elif kind in ("static_select", "checkboxes"):
            assert len(d["options"]) <= (100 if kind == "static_select" else 10)
            assert all(len(o["text"]["text"]) <= 75 and len(o["value"]) <= 150
                       for o in d["options"])
        for key in ("block_id", "action_id"):
            assert len(d.get(key, "")) <= 255


def assert_escaped(text: str, *, mentions: Collection[str] = ()) -> None:
    """No markup but ours: date tokens and mentions of ``mentions``; every ``&`` an entity."""
    for token in _TOKEN.findall(text):
        assert _OURS.fullmatch(token), f"unexpected markup {token!r} in {text!r}"
        if token.startswith("<@"):
            assert token[2:-1] in mentions, f"unexpected mention {token!r}"
    rest = _TOKEN.sub("", text)
    assert "<" not in rest and ">" not in rest, rest
    assert not _ENTITY.search(text), f"unescaped & in {text!r}"
