"""The App Home tab: what is open for the reader's teams, and how recent anomalies were fixed.

One compact section per open alert (the alert message in the channel has the details and the
buttons) and one per recent resolution, so the tab stays inside Slack's 100 blocks however
many there are; what does not fit is counted, not dropped silently.
"""

from __future__ import annotations

from collections.abc import Sequence

from slack_sdk.models.blocks import Block, DividerBlock, HeaderBlock, PlainTextObject
from slack_sdk.models.views import View

from bot.anomaly.views import AlertView, RunbookView
from bot.chat.slack.blocks import (
    context,
    date_token,
    mention,
    money,
    response_line,
    runbook_entry_text,
    safe,
    section,
)

__all__ = ["MAX_HOME_ALERTS", "MAX_HOME_RESOLUTIONS", "home_view"]

# 2 headers + divider + 2 "more" lines + these stay under Slack's 100 blocks
MAX_HOME_ALERTS = 60
MAX_HOME_RESOLUTIONS = 30
RESOLUTION_PART_CHARS = 600


def home_view(open_alerts: Sequence[AlertView],
              resolutions: Sequence[tuple[str, RunbookView]]) -> View:
    """The Home tab; ``resolutions`` are (workload title, runbook entry), newest first.

    Alerts are shown in the order given, so the caller decides what matters most.
    """
    blocks: list[Block] = [_header("Open anomalies for your teams")]
    blocks += _alerts(open_alerts)
    blocks += [DividerBlock(), _header("Recent resolutions")]
    blocks += _resolutions(resolutions)
    return View(type="home", blocks=blocks)


def _header(text: str) -> HeaderBlock:
    return HeaderBlock(text=PlainTextObject(text=text, emoji=True))


def _alerts(alerts: Sequence[AlertView]) -> list[Block]:
    if not alerts:
        return [section("Nothing unusual right now 🎉 When spend on one of your teams' "
                        "workloads jumps, it shows up here and in the alert channel.")]
    blocks: list[Block] = [section(_alert_text(view)) for view in alerts[:MAX_HOME_ALERTS]]
    hidden = len(alerts) - MAX_HOME_ALERTS
    if hidden > 0:
        blocks.append(context(f"and {hidden} more; `/cost anomalies` lists them all."))
    return blocks


def _alert_text(view: AlertView) -> str:
    flags = []
    if view.escalated:
        flags.append("🚨 escalated")
    if view.snoozed_until is not None:
        flags.append(f"💤 snoozed until {date_token(view.snoozed_until)}")
    owner = mention(view.owner)
    lines = [
        f"*{safe(view.project)} · {safe(view.environment)}*" + (f" — {owner}" if owner else ""),
        f"{money(view.impact_usd)} over expected since {date_token(view.started_at)}"
        f" · {money(view.projected_daily_usd)}/day if it continues",
        " · ".join([response_line(view), *flags]),
    ]
    return "\n".join(lines)


def _resolutions(resolutions: Sequence[tuple[str, RunbookView]]) -> list[Block]:
    if not resolutions:
        return [section("No resolutions yet. When a playbook is finished, its root cause and "
                        "fix show up here, and on the next alert for that workload.")]
    blocks: list[Block] = []
    for title, entry in resolutions[:MAX_HOME_RESOLUTIONS]:
        fix = RunbookView(entry.created_at, entry.author, entry.root_cause, entry.fix, "")
        heading = f"*{safe(title)}* · {date_token(entry.created_at)}"
        by = mention(entry.author)
        body = runbook_entry_text(fix, part_chars=RESOLUTION_PART_CHARS)
        blocks.append(section(f"{heading}{f' · {by}' if by else ''}\n{body}"))
    hidden = len(resolutions) - MAX_HOME_RESOLUTIONS
    if hidden > 0:
        blocks.append(context(f"and {hidden} older resolutions."))
    return blocks
