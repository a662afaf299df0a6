"""The alert message in Slack: an :class:`~bot.anomaly.views.AlertView` as fallback text and blocks.

Everything here is a pure function, so a message can be rebuilt from the store at any time and
snapshot-tested. The escaping contract: every builder escapes what came from tags, YAML or people
(``&``, ``<``, ``>``) before putting it in mrkdwn, so a project called ``<!channel>`` or a note
holding ``<@U123|x>`` prints as text and pings nobody. Only ids the bot itself recorded from a
Slack click (``U…``/``W…``) become mentions, through :func:`mention`. Builders that take mrkdwn
from the caller (:func:`notice_blocks`) expect it escaped already, with :func:`escape`.

Long user text is cut with an ellipsis rather than failing: a 3,000-character note must not stop
an alert from being posted in the middle of an incident.
"""

from __future__ import annotations

import re
from datetime import datetime

from slack_sdk.models.blocks import (
    ActionsBlock,
    Block,
    ButtonElement,
    ContextBlock,
    HeaderBlock,
    MarkdownTextObject,
    Option,
    PlainTextObject,
    SectionBlock,
    StaticSelectElement,
)

from bot.anomaly.enums import AnomalyResponse, AnomalyStatus
from bot.anomaly.runbooks import earlier_text, version_text
from bot.anomaly.views import AlertView, ContributorView, RunbookView
from bot.chat.ids import SNOOZE_HOURS, ActionId, AlertRef
from bot.chat.text import as_utc, money, signed, when
from bot.chat.text import escape_mrkdwn as escape
from bot.playbook import StepProgress

__all__ = [
    "ACTIONS_BLOCK_ID",
    "MAX_MESSAGE_BLOCKS",
    "MAX_SECTION_TEXT",
    "MAX_VIEW_BLOCKS",
    "alert_message",
    "clip",
    "clip_mrkdwn",
    "context",
    "date_token",
    "escape",
    "is_slack_id",
    "mention",
    "money",
    "notice_blocks",
    "response_line",
    "runbook_entry_text",
    "safe",
    "section",
]

# Slack Block Kit limits
MAX_MESSAGE_BLOCKS = 50
MAX_VIEW_BLOCKS = 100
MAX_SECTION_TEXT = 3000
MAX_FIELD_TEXT = 2000
MAX_HEADER = 150
MAX_BUTTON_TEXT = 75

# how much of each user-provided text an alert shows
MAX_CONTRIBUTORS = 5
MAX_LEVERS = 4
NAME_CHARS = 80
NOTE_CHARS = 500
RUNBOOK_PART_CHARS = 800  # three parts and a heading stay under a section's 3,000

ACTIONS_BLOCK_ID = "alert_actions"
ELLIPSIS = "…"

# U/W then upper-case letters and digits, with at least one digit: real ids always look like
# this, while owner tags such as "WEB" or "US" do not and stay plain text
_SLACK_ID = re.compile(r"[UW](?=[A-Z0-9]*\d)[A-Z0-9]{1,20}")

# by the stored response (plain text; AnomalyResponse members compare equal to it)
_RESPONSES: dict[str, str] = {
    AnomalyResponse.NONE: "Not acknowledged yet",
    AnomalyResponse.ACKNOWLEDGED: "👀 Acknowledged by {who}",
    AnomalyResponse.INVESTIGATING: "🔎 Investigating: {who}",
    AnomalyResponse.STABILISED: "🩹 Stabilised by {who}",
    AnomalyResponse.EXPECTED: "🗓️ Marked expected by {who}",
    AnomalyResponse.RESOLVED: "✅ Resolved by {who}",
    AnomalyResponse.NOT_AN_ANOMALY: "🙅 Not an anomaly, said {who}",
}


# -- text helpers (shared by the modals and the Home tab) -------------------------------------


def clip(text: str, limit: int) -> str:
    """Plain text of at most ``limit`` characters, ending in an ellipsis when cut."""
    return text if len(text) <= limit else text[: limit - 1] + ELLIPSIS


def clip_mrkdwn(text: str, limit: int) -> str:
    """Mrkdwn of at most ``limit`` characters, never cutting an entity or a ``<…>`` token.

    A half ``&amp`` would show as garbage and a half ``<!date…`` would swallow the rest of the
    message, so a cut falls before them.
    """
    if len(text) <= limit:
        return text
    cut = text[: limit - 1]
    amp = cut.rfind("&")
    if amp != -1 and ";" not in cut[amp:]:
        cut = cut[:amp]
    bracket = cut.rfind("<")
    if bracket != -1 and ">" not in cut[bracket:]:
        cut = cut[:bracket]
    return cut + ELLIPSIS


def safe(text: str | None, limit: int = NAME_CHARS) -> str:
    """User- or tag-provided text, escaped for mrkdwn and cut to ``limit`` characters."""
    return clip_mrkdwn(escape(text or ""), limit)


def is_slack_id(user: str | None) -> bool:
    """Whether ``user`` looks like a Slack user id (``U0123ABC``, ``W0123ABC``)."""
    return user is not None and _SLACK_ID.fullmatch(user) is not None


def mention(user: str | None) -> str:
    """``<@U123>`` for a Slack user id, the escaped name otherwise, ``""`` for nobody."""
    name = (user or "").strip()
    if is_slack_id(name):
        return f"<@{name}>"
    return safe(name)


def date_token(moment: datetime) -> str:
    """A Slack date token: shown in each reader's time zone, ISO UTC where tokens don't work."""
    utc = as_utc(moment)
    return (f"<!date^{int(utc.timestamp())}^{{date_short_pretty}} {{time}}"
            f"|{utc:%Y-%m-%d %H:%M} UTC>")


def section(text: str) -> SectionBlock:
    """A mrkdwn section; ``text`` is mrkdwn already, cut to Slack's 3,000 as a last resort."""
    return SectionBlock(text=MarkdownTextObject(text=clip_mrkdwn(text, MAX_SECTION_TEXT)))


def context(text: str) -> ContextBlock:
    """A one-element context line of mrkdwn (escaped already)."""
    return ContextBlock(elements=[MarkdownTextObject(text=clip_mrkdwn(text, MAX_SECTION_TEXT))])


def response_line(view: AlertView) -> str:
    """What people did about the alert, e.g. ``👀 Acknowledged by <@U123>`` (mrkdwn)."""
    template = _RESPONSES.get(view.response)
    if template is None:
        return f"Response: {safe(view.response)}"
    return template.format(who=mention(view.response_by) or "someone")


def runbook_entry_text(entry: RunbookView, *, part_chars: int = RUNBOOK_PART_CHARS) -> str:
    """Root cause, fix and prevention as mrkdwn lines (parts left empty are skipped), then
    the version line of an edited entry and its earlier versions, one line each."""
    parts = (("Root cause", entry.root_cause), ("Fix", entry.fix),
             ("Prevention", entry.prevention))
    lines = [f"*{name}:* {safe(text, part_chars)}"
             for name, text in parts if text and text.strip()]
    version = version_text(entry)
    if version:
        lines.append(f"_{safe(version, 200)}_")
    lines += [f"• _earlier_ {safe(earlier_text(old), 300)}" for old in entry.earlier[:3]]
    if len(entry.earlier) > 3:
        lines.append(f"• _and {len(entry.earlier) - 3} older versions_")
    return "\n".join(lines)


# -- the alert ----------------------------------------------------------------------------------


def alert_message(view: AlertView) -> tuple[str, list[Block]]:
    """The notification text and the blocks of one alert, as it should read now.

    Closed alerts (resolved, expected, back to normal) keep only "View runbook" and drop the
    suggested levers, so nobody acknowledges, snoozes or cuts spend that is already over.
    """
    blocks: list[Block | None] = [
        _header(view),
        _facts(view),
        _status_line(view),
        _measure_line(view),
        _contributors(view),
        _levers(view),
        *_last_fix(view),
        *_notes(view),
        _progress(view),
        _actions(view),
    ]
    return _fallback(view), [b for b in blocks if b is not None]


def notice_blocks(text: str) -> list[Block]:
    """A thread reply: one section of mrkdwn the caller built, user parts escaped with
    :func:`escape` (or :func:`safe`, :func:`mention`). Over-long text is cut, not refused."""
    if not text.strip():
        raise ValueError("a notice needs some text; Slack refuses an empty section")
    return [section(text)]


def _fallback(view: AlertView) -> str:
    what = f"{safe(view.project, 60)} {safe(view.environment, 40)}"
    if view.response == AnomalyResponse.EXPECTED:
        return f"Expected: {what} spend, {money(view.impact_usd)} above the baseline"
    if view.closed:
        return f"Resolved: {what} spend anomaly, {money(view.impact_usd)} over expected in all"
    percent = view.percent_over
    pct = f" ({percent:+,.0f}%)" if percent is not None else " (new spend)"
    return (f"Spend anomaly: {what} {signed(view.impact_usd)}{pct} "
            f"since {when(view.started_at)}")


def _header(view: AlertView) -> HeaderBlock:
    if view.response == AnomalyResponse.EXPECTED:
        prefix = "Expected: "
    elif view.response == AnomalyResponse.NOT_AN_ANOMALY:
        prefix = "🙅 Not an anomaly: "
    elif view.closed:
        prefix = "✅ Resolved: "
    else:
        prefix = "💸 Spend anomaly: "
    return HeaderBlock(text=PlainTextObject(text=clip(prefix + view.title, MAX_HEADER),
                                            emoji=True))


def _facts(view: AlertView) -> SectionBlock:
    percent = view.percent_over
    hourly = f"{money(view.actual_hourly)}/h vs {money(view.expected_hourly)}/h expected"
    over = f"{percent:+,.0f}% ({hourly})" if percent is not None else f"New spend ({hourly})"
    facts = [
        ("Over expected so far", money(view.impact_usd)),
        ("Per day if it continues", money(view.projected_daily_usd)),
        ("Over expected per hour", over),
        ("Since", date_token(view.started_at)),
        ("Owner", mention(view.owner) or "_not set_"),
        ("Phase", safe(view.phase) or "_not set_"),
    ]
    if view.responsible:  # the person the playbook's owner step named
        facts.append(("Responsible", mention(view.responsible)))
    return SectionBlock(fields=[
        MarkdownTextObject(text=clip_mrkdwn(f"*{name}*\n{value}", MAX_FIELD_TEXT))
        for name, value in facts
    ])


def _status_line(view: AlertView) -> ContextBlock:
    parts = [f"Detected {date_token(view.detected_at)}"]
    if view.response != AnomalyResponse.NONE:
        parts.append(response_line(view))
    note = safe(view.response_note, NOTE_CHARS) if view.response_note else ""
    if note:
        expected = view.response == AnomalyResponse.EXPECTED
        parts.append(f"Reason: {note}" if expected else f"“{note}”")
    if view.snoozed_until is not None and not view.closed:
        parts.append(f"💤 Snoozed until {date_token(view.snoozed_until)}")
    if view.escalated:
        parts.append("🚨 Escalated")
    if view.burst_ended_at is not None and view.burst_cost_usd is not None:
        parts.append(f"A short burst, over {date_token(view.burst_ended_at)}: it cost "
                     f"{money(view.burst_cost_usd)} over expected")
    if view.status == AnomalyStatus.AUTO_RESOLVED:
        resolved = f" {date_token(view.resolved_at)}" if view.resolved_at else ""
        parts.append(f"Back to normal: auto-resolved{resolved}")
    elif view.status != AnomalyStatus.OPEN:
        parts.append(f"Status: {safe(view.status)}")
    return context(" · ".join(parts))


def _measure_line(view: AlertView) -> ContextBlock:
    parts = [f"Peak {money(view.peak_hourly_usd)}/h"]
    if view.baseline:
        parts.append(f"Expected = {safe(view.baseline, 200)}")
    if view.kind:
        parts.append(f"Kind: {safe(view.kind, 50)}")
    if view.data_as_of:
        parts.append("Data as of " + ", ".join(
            f"{date_token(moment)} ({safe(source, 60)})" for source, moment in view.data_as_of))
    return context(" · ".join(parts))


def _contributors(view: AlertView) -> SectionBlock | None:
    if not view.contributors:
        return None
    lines = ["*Top contributors*"]
    lines += [_contributor_line(c) for c in view.contributors[:MAX_CONTRIBUTORS]]
    hidden = len(view.contributors) - MAX_CONTRIBUTORS
    if hidden > 0:
        lines.append(f"_and {hidden} more_")
    return section("\n".join(lines))


def _contributor_line(c: ContributorView) -> str:
    where = " · ".join(safe(part) for part in (c.service, c.region, c.sku) if part)
    return (f"• {where or 'unnamed service'}: *{signed(c.impact_usd)}/h* "
            f"({money(c.actual)}/h vs {money(c.expected)}/h expected)")


def _levers(view: AlertView) -> SectionBlock | None:
    if not view.levers or view.closed:  # advice on cutting spend that is over is noise
        return None
    lines = ["*Suggested levers*"]
    lines += [f"• *{safe(lever.title, 75)}* — {safe(lever.detail, 400)}"
              for lever in view.levers[:MAX_LEVERS]]
    return section("\n".join(lines))


def _last_fix(view: AlertView) -> list[Block]:
    fix = view.last_fix
    if fix is None:
        return []
    by = mention(fix.author) or "someone"
    heading = f"*What fixed it last time* ({date_token(fix.created_at)}, {by})"
    blocks: list[Block] = [section(f"{heading}\n{runbook_entry_text(fix)}")]
    count = view.runbook_entries
    if count > 0:
        blocks.append(context(f"({count} {'entry' if count == 1 else 'entries'} in the runbook)"))
    return blocks


def _notes(view: AlertView) -> list[Block]:
    """Each note as a section: its heading in bold, then its lines (escaped)."""
    return [section("\n".join([f"*{safe(note.heading, 150)}*",
                                *(f"• {safe(line, 400)}" for line in note.lines)]))
            for note in view.notes]


def _progress(view: AlertView) -> SectionBlock | None:
    if not view.playbook:
        return None
    done = sum(step.done for step in view.playbook)
    lines = [f"*Playbook* ({done}/{len(view.playbook)} done)"]
    lines += [_step_line(step) for step in view.playbook]
    return section("\n".join(lines))


def _step_line(step: StepProgress) -> str:
    if not step.done:
        return f"◻ {safe(step.title, 50)}"
    by = mention(step.by)
    return f"✓ {safe(step.title, 50)}" + (f" — {by}" if by else "")


def _actions(view: AlertView) -> ActionsBlock | None:
    value = AlertRef(anomaly_id=view.anomaly_id).model_dump_json()
    elements: list[ButtonElement | StaticSelectElement] = []
    if not view.closed:
        if view.response == AnomalyResponse.NONE:
            elements.append(_button("Acknowledge", ActionId.ACKNOWLEDGE, value, "primary"))
        elements.append(_button(_playbook_label(view), ActionId.START_PLAYBOOK, value))
        elements.append(_snooze(view.anomaly_id))
        elements.append(_button("Expected", ActionId.EXPECTED, value))
        elements.append(_button("Not an anomaly", ActionId.NOT_AN_ANOMALY, value))
        if not view.escalated:
            elements.append(_button("Escalate", ActionId.ESCALATE, value, "danger"))
    if view.runbook_entries > 0:
        elements.append(_button("View runbook", ActionId.VIEW_RUNBOOK, value))
    if not elements:
        return None
    return ActionsBlock(block_id=ACTIONS_BLOCK_ID, elements=elements)


def _playbook_label(view: AlertView) -> str:
    if not view.playbook:
        return "Start playbook"
    done = sum(step.done for step in view.playbook)
    return f"Continue playbook ({done}/{len(view.playbook)})"


def _button(text: str, action: ActionId, value: str, style: str | None = None) -> ButtonElement:
    return ButtonElement(text=PlainTextObject(text=clip(text, MAX_BUTTON_TEXT), emoji=True),
                         action_id=action.value, value=value, style=style)


def _snooze(anomaly_id: int) -> StaticSelectElement:
    return StaticSelectElement(
        action_id=ActionId.SNOOZE.value,
        placeholder=PlainTextObject(text="💤 Snooze", emoji=True),
        options=[
            Option(text=PlainTextObject(text=f"{hours} h", emoji=True),
                   value=AlertRef(anomaly_id=anomaly_id, hours=hours).model_dump_json())
            for hours in SNOOZE_HOURS
        ],
    )
