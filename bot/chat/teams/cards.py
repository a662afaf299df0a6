"""The alert in Teams: one Adaptive Card 1.5, updated in place, drawn from the store each time.

:func:`alert_card` is a pure function of the :class:`~bot.anomaly.views.AlertView` and of what
is open on the card: the playbook step being walked (its form inline), or one panel (snooze,
"why is this expected?", the workload's runbook). Errors from the playbook engine (field id ->
message) or from the expected reason (``"reason"``) are shown under the input they concern,
and the inputs keep what was typed (``inputs``), so a refused form reads as Slack's does.

The forms and panels are :mod:`bot.chat.teams.forms`; every text from tags, YAML or people goes
through :func:`~bot.chat.teams.elements.plain` (see :mod:`bot.chat.teams.elements`), so nobody
can slip a link, a mention or markup onto the card.

Size: a Teams bot message must stay under Microsoft's limit ("The bot message size limit is
40 KB ... encoded as UTF-16", learn.microsoft.com/microsoftteams/platform/bots/how-to/
format-your-bot-messages; bots that sent larger cards report 413 ``MessageSizeTooBig``, and
older guidance and field reports put the card payload at 28 KB). Every text is clipped and the
chart is re-encoded by :func:`compact_chart_uri` to fit ``CHART_MAX_BYTES``, so the whole card
stays under ``CARD_BUDGET_BYTES`` (28 KB) whatever people typed.
"""

from __future__ import annotations

import base64
import io
from collections.abc import Mapping, Sequence
from typing import Any

from bot.anomaly.desk import StepStarted
from bot.anomaly.enums import AnomalyResponse, AnomalyStatus
from bot.anomaly.runbooks import version_text
from bot.anomaly.views import AlertView, ContributorView, RunbookView
from bot.chat.teams.elements import (
    LINE_CHARS,
    NOTE_CHARS,
    TITLE_CHARS,
    Json,
    clip,
    entry_parts,
    execute,
    heading,
    one_line,
    plain,
    text_block,
    who,
)
from bot.chat.teams.forms import Panel, PanelKind, panel_form, step_form
from bot.chat.teams.verbs import Verb
from bot.chat.text import money, signed, when
from bot.playbook import StepProgress

__all__ = [
    "CARD_BUDGET_BYTES",
    "CARD_SCHEMA_URL",
    "CARD_VERSION",
    "CHART_MAX_BYTES",
    "Panel",
    "PanelKind",
    "alert_card",
    "compact_chart_uri",
    "plain",
    "text_card",
]

CARD_SCHEMA_URL = "http://adaptivecards.io/schemas/adaptive-card.json"
CARD_VERSION = "1.5"
CARD_BUDGET_BYTES = 28_000
CHART_MAX_BYTES = 16_000  # base64 makes it ~21 KB, leaving room for the rest of the card
MAX_CONTRIBUTORS = 5
MAX_LEVERS = 4
MAX_TEXT_LINES = 60

_RESPONSES: dict[str, str] = {
    AnomalyResponse.NONE: "Not acknowledged yet",
    AnomalyResponse.ACKNOWLEDGED: "👀 Acknowledged by {who}",
    AnomalyResponse.INVESTIGATING: "🔎 Investigating: {who}",
    AnomalyResponse.STABILISED: "🩹 Stabilised by {who}",
    AnomalyResponse.EXPECTED: "🗓️ Marked expected by {who}",
    AnomalyResponse.RESOLVED: "✅ Resolved by {who}",
    AnomalyResponse.NOT_AN_ANOMALY: "🙅 Not an anomaly, said {who}",
}


# -- the alert ----------------------------------------------------------------------------------


def alert_card(
    view: AlertView,
    *,
    step: StepStarted | None = None,
    chart_uri: str | None = None,
    errors: Mapping[str, str] | None = None,
    panel: Panel | None = None,
    inputs: Mapping[str, Any] | None = None,
) -> Json:
    """The alert card as it should read now.

    ``step`` shows that playbook step's form inline; ``panel`` opens a panel. ``errors`` are
    shown under their input: a step's field ids (the engine's ``StepError.errors``),
    ``"reason"`` in the expected panel, ``"hours"`` in the snooze panel. ``inputs`` (the
    refused action's :attr:`~bot.chat.teams.verbs.CardAction.inputs`) refill what was typed.
    A closed alert keeps only "View runbook": forms and other panels are not drawn on it.
    ``chart_uri`` comes from :func:`compact_chart_uri`.
    """
    errors = errors or {}
    typed = inputs or {}
    if view.closed:
        step = None
        panel = panel if panel is not None and panel.kind is PanelKind.RUNBOOK else None
    body: list[Json | None] = [
        _header(view),
        _status(view),
        _facts(view),
        _measure(view),
        _chart(view, chart_uri),
        *_contributors(view),
        *_levers(view),
        *_runbook_entry("What fixed it last time", view.last_fix),
        *_runbook_entry("Runbook entry filed", view.filed if view.closed else None),
        *_notes(view),
        *_progress(view),
    ]
    if step is not None:
        body.append(step_form(view, step, errors, typed))
    elif panel is not None:
        body.append(panel_form(view, panel, errors, typed))
    card = _card([b for b in body if b is not None], fallback=_fallback(view))
    if step is None and panel is None:
        card["actions"] = _actions(view)
    return card


def _card(body: list[Json], *, fallback: str) -> Json:
    return {
        "$schema": CARD_SCHEMA_URL,
        "type": "AdaptiveCard",
        "version": CARD_VERSION,
        "msteams": {"width": "Full"},
        "fallbackText": fallback,
        "body": body,
    }


def _fallback(view: AlertView) -> str:
    what = f"{clip(view.project, 60)} {clip(view.environment, 40)}"
    if view.response == AnomalyResponse.EXPECTED:
        return f"Expected: {what} spend, {money(view.impact_usd)} above the baseline"
    if view.closed:
        return f"Resolved: {what} spend anomaly, {money(view.impact_usd)} over expected in all"
    return f"Spend anomaly: {what} {signed(view.impact_usd)} since {when(view.started_at)}"


def _header(view: AlertView) -> Json:
    if view.response == AnomalyResponse.EXPECTED:
        prefix, color = "🗓️ Expected: ", "Default"
    elif view.closed:
        prefix, color = "✅ Resolved: ", "Good"
    else:
        prefix, color = "💸 Spend anomaly: ", "Attention"
    title = f"{one_line(view.project, 60)} · {one_line(view.environment, 40)}"
    return text_block(prefix + title, size="Large", weight="Bolder", color=color)


def _status(view: AlertView) -> Json:
    parts = [f"Detected {when(view.detected_at)}"]
    template = _RESPONSES.get(view.response)
    if template is None:
        parts.append(f"Response: {one_line(view.response)}")
    elif view.response != AnomalyResponse.NONE:
        parts.append(template.format(who=who(view.response_by)))
    else:
        parts.append(template)
    if view.response_note:
        note = one_line(view.response_note, NOTE_CHARS)
        parts.append(f"Reason: {note}" if view.response == AnomalyResponse.EXPECTED
                     else f"“{note}”")
    if view.snoozed_until is not None and not view.closed:
        parts.append(f"💤 Snoozed until {when(view.snoozed_until)}")
    if view.escalated:
        parts.append("🚨 Escalated")
    if view.burst_ended_at is not None and view.burst_cost_usd is not None:
        parts.append(f"A short burst, over {when(view.burst_ended_at)}: it cost "
                     f"{money(view.burst_cost_usd)} over expected")
    if view.status == AnomalyStatus.AUTO_RESOLVED:
        back = f" {when(view.resolved_at)}" if view.resolved_at else ""
        parts.append(f"Back to normal: auto-resolved{back}")
    elif view.status != AnomalyStatus.OPEN:
        parts.append(f"Status: {one_line(view.status)}")
    return text_block(" · ".join(parts), isSubtle=True, spacing="Small")


def _facts(view: AlertView) -> Json:
    percent = view.percent_over
    hourly = f"{money(view.actual_hourly)}/h vs {money(view.expected_hourly)}/h expected"
    over = f"{percent:+,.0f}% ({hourly})" if percent is not None else f"New spend ({hourly})"
    facts = [
        ("Over expected so far", money(view.impact_usd)),
        ("Per day if it continues", money(view.projected_daily_usd)),
        ("Over expected per hour", over),
        ("Peak", f"{money(view.peak_hourly_usd)}/h"),
        ("Since", when(view.started_at)),
        ("Owner", one_line(view.owner) or "not set"),
        ("Phase", one_line(view.phase) or "not set"),
    ]
    if view.responsible:
        facts.append(("Responsible", one_line(view.responsible)))
    # amounts are the bot's own text (digits, a currency, "<" before $0.01): nothing to escape
    return {"type": "FactSet", "facts": [{"title": name, "value": value} for name, value in facts]}


def _measure(view: AlertView) -> Json:
    parts = []
    if view.baseline:
        parts.append(f"Expected = {one_line(view.baseline, 200)}")
    if view.kind:
        parts.append(f"Kind: {one_line(view.kind, 50)}")
    if view.data_as_of:
        parts.append("Data as of " + ", ".join(
            f"{when(moment)} ({one_line(source, 60)})" for source, moment in view.data_as_of))
    return text_block(" · ".join(parts) or "Data as of: no source read yet", isSubtle=True,
                      size="Small", spacing="Small")


def _chart(view: AlertView, chart_uri: str | None) -> Json | None:
    if not chart_uri:
        return None
    if not chart_uri.startswith("data:image/png;base64,"):
        raise ValueError("chart_uri must be a data:image/png;base64 URI "
                         "(make one with compact_chart_uri)")
    return {"type": "Image", "url": chart_uri, "size": "Stretch",
            "altText": clip(f"{view.project} {view.environment}: hourly spend, actual vs "
                            "expected", TITLE_CHARS)}


def _contributors(view: AlertView) -> list[Json]:
    if not view.contributors:
        return []
    shown = view.contributors[:MAX_CONTRIBUTORS]
    blocks = [heading("Top contributors")]
    blocks += [text_block(_contributor_line(c), spacing="None") for c in shown]
    hidden = len(view.contributors) - len(shown)
    if hidden > 0:
        blocks.append(text_block(f"and {hidden} more", isSubtle=True, spacing="None"))
    return blocks


def _contributor_line(c: ContributorView) -> str:
    where = " · ".join(one_line(part) for part in (c.service, c.region, c.sku) if part)
    return (f"• {where or 'unnamed service'}: **{signed(c.impact_usd)}/h** "
            f"({money(c.actual)}/h vs {money(c.expected)}/h expected)")


def _levers(view: AlertView) -> list[Json]:
    if not view.levers or view.closed:  # advice on cutting spend that is over is noise
        return []
    blocks = [heading("Suggested levers")]
    blocks += [text_block(f"• **{one_line(lever.title, 75)}** — {one_line(lever.detail, 400)}",
                          spacing="None") for lever in view.levers[:MAX_LEVERS]]
    return blocks


def _runbook_entry(title: str, entry: RunbookView | None) -> list[Json]:
    if entry is None:
        return []
    by = who(entry.author)
    version = version_text(entry)
    return [heading(f"{title} ({when(entry.created_at)}, {by})"), *entry_parts(entry),
            *([text_block(plain(version, 200), isSubtle=True, spacing="None")]
              if version else [])]


def _notes(view: AlertView) -> list[Json]:
    blocks: list[Json] = []
    for note in view.notes:
        blocks.append(heading(one_line(note.heading, 150)))
        blocks += [text_block(f"• {one_line(line, 400)}", spacing="None") for line in note.lines]
    return blocks


def _progress(view: AlertView) -> list[Json]:
    if not view.playbook:
        return []
    done = sum(step.done for step in view.playbook)
    blocks = [heading(f"Playbook ({done}/{len(view.playbook)} done)")]
    blocks += [text_block(_step_line(step), spacing="None") for step in view.playbook]
    return blocks


def _step_line(step: StepProgress) -> str:
    if not step.done:
        return f"◻ {one_line(step.title, 50)}"
    by = one_line(step.by)
    return f"✓ {one_line(step.title, 50)}" + (f" — {by}" if by else "")


# -- actions ------------------------------------------------------------------------------------


def _actions(view: AlertView) -> list[Json]:
    """Closed alerts keep only "View runbook", so nobody acknowledges, snoozes or cuts spend
    that is already over."""
    anomaly = view.anomaly_id
    actions: list[Json] = []
    if not view.closed:
        if view.response == AnomalyResponse.NONE:
            actions.append(execute("Acknowledge", Verb.ACK, anomaly, style="positive",
                                   with_inputs=False))
        label = _playbook_label(view)
        if label is not None:
            actions.append(execute(label, Verb.STEP_OPEN, anomaly, with_inputs=False))
        actions.append(execute("💤 Snooze", Verb.SNOOZE, anomaly, with_inputs=False))
        actions.append(execute("Expected", Verb.EXPECTED, anomaly, with_inputs=False))
        actions.append(execute("Not an anomaly", Verb.NOT_AN_ANOMALY, anomaly,
                               with_inputs=False))
        if not view.escalated:
            actions.append(execute("Escalate", Verb.ESCALATE, anomaly, style="destructive",
                                   with_inputs=False))
    actions.append(execute("View runbook", Verb.RUNBOOK, anomaly, with_inputs=False))
    return actions


def _playbook_label(view: AlertView) -> str | None:
    if not view.playbook:
        return "Start playbook"
    done = sum(step.done for step in view.playbook)
    if done >= len(view.playbook):
        return None
    return f"Continue playbook ({done}/{len(view.playbook)})"


# -- other cards --------------------------------------------------------------------------------


def text_card(title: str, lines: Sequence[str]) -> Json:
    """A card of plain lines (a cost answer, the help), in a monospace font.

    Spaces become no-break spaces so columns stay aligned, and every line is escaped like user
    text; past ``MAX_TEXT_LINES`` the rest is counted, not shown.
    """
    if not title.strip():
        raise ValueError("a text card needs a title")
    shown = list(lines[:MAX_TEXT_LINES])
    body: list[Json] = [text_block(one_line(title, TITLE_CHARS), size="Medium", weight="Bolder")]
    body += [text_block(plain(line.rstrip(), LINE_CHARS).replace(" ", "\u00a0") or "\u00a0",
                        fontType="Monospace", spacing="None") for line in shown]
    if len(lines) > len(shown):
        body.append(text_block(f"{len(lines) - len(shown)} more lines are not shown.",
                               isSubtle=True))
    return _card(body, fallback=clip(title, TITLE_CHARS))


# -- the chart ----------------------------------------------------------------------------------


def compact_chart_uri(png: bytes, *, max_bytes: int = CHART_MAX_BYTES) -> str | None:
    """The chart as a ``data:image/png;base64,...`` URI of at most ``max_bytes`` PNG bytes.

    The alert chart is a 1000x450 PNG of a few flat colours, so a palette of 64 (then fewer)
    colours loses little a reader sees. The palette is a fast octree: about a tenth of a
    second, where a median cut with the slowest zlib level took several times that for a
    larger file. The width steps down until it fits (after fewer colours, since scaling adds
    in-between colours). None when even the smallest try does not fit (the card then goes
    without the chart) or ``png`` is not an image. The default leaves room for the rest of
    the card within ``CARD_BUDGET_BYTES``.
    """
    from PIL import Image, UnidentifiedImageError

    try:
        image = Image.open(io.BytesIO(png))
        image.load()
    except (UnidentifiedImageError, OSError):
        return None
    if len(png) <= max_bytes and image.format == "PNG":
        return _data_uri(png)
    rgb = image.convert("RGB")
    for width in (rgb.width, 800, 640, 520, 400):
        if width > rgb.width:
            continue
        height = max(1, round(rgb.height * width / rgb.width))
        scaled = rgb if width == rgb.width else rgb.resize((width, height),
                                                           Image.Resampling.LANCZOS)
        for colours in (64, 32, 16, 8):
            out = io.BytesIO()
            scaled.quantize(colors=colours, method=Image.Quantize.FASTOCTREE).save(
                out, format="PNG")
            if out.tell() <= max_bytes:
                return _data_uri(out.getvalue())
    return None


def _data_uri(png: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")

