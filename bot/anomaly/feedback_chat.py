"""``/cost feedback``: the line feedback in effect, and undoing it, in any chat.

``/cost feedback`` lists the feedback in effect on the spend the channel sees (a channel mapped
to owners sees the feedback given on their anomalies; the FinOps channel and the console see
all); ``/cost feedback undo ID`` undoes one piece, for whoever may act on the anomaly it was
given on (:func:`bot.anomaly.feedback.undo`). The anomaly desk hands these texts here with a
session, so Slack, Teams and the console get the same answers and the same refusals; the
answers are rendered by ``bot.costs.views`` with :func:`feedback_lines`.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from sqlmodel import Session

from bot.anomaly import feedback
from bot.anomaly.access import ResponseError
from bot.anomaly.feedback_view import FeedbackView
from bot.chat.text import money
from bot.finance.views import Markup
from bot.settings import Settings

__all__ = ["LIST_LIMIT", "USAGE", "FeedbackAnswer", "FeedbackListAnswer", "FeedbackUndoneAnswer",
           "asks_feedback", "feedback_lines", "respond"]

USAGE = "/cost feedback [undo ID]"
LIST_LIMIT = 25
WORDS = ("feedback",)


@dataclass(frozen=True)
class FeedbackListAnswer:
    items: tuple[FeedbackView, ...]  # oldest first, at most LIST_LIMIT
    total: int  # in effect within the scope, listed or not


@dataclass(frozen=True)
class FeedbackUndoneAnswer:
    item: FeedbackView


FeedbackAnswer = FeedbackListAnswer | FeedbackUndoneAnswer


def asks_feedback(text: str) -> bool:
    """Whether a ``/cost`` text is about feedback (its first word is ``feedback``)."""
    words = text.split(maxsplit=1)
    return bool(words) and words[0].casefold() in WORDS


def respond(text: str, *, db_session: Session, settings: Settings,
            owners: Iterable[str] | None, user: str, channel: str | None,
            now: datetime) -> FeedbackAnswer:
    """List (``feedback``) or undo (``feedback undo ID``); anything else is a ResponseError
    that says what to type."""
    words = text.split()[1:] if asks_feedback(text) else text.split()
    if not words:
        items = feedback.active_feedback(db_session=db_session, owners=owners)
        return FeedbackListAnswer(tuple(items[:LIST_LIMIT]), len(items))
    if words[0].casefold() != "undo" or len(words) != 2:
        raise ResponseError(f"I did not understand '{' '.join(words)[:60]}'. Type {USAGE}: "
                            f"`/cost feedback` lists the feedback in effect, "
                            f"`/cost feedback undo 12` undoes #12.")
    feedback_id = parse_id(words[1])
    return FeedbackUndoneAnswer(feedback.undo(db_session=db_session, settings=settings,
                                              feedback_id=feedback_id, user=user, now=now,
                                              channel=channel))


def parse_id(word: str) -> int:
    """``12`` or ``#12``; anything else is a ResponseError naming the word."""
    digits = word.removeprefix("#")
    if not digits.isdigit() or not 0 < int(digits) < 2**31:
        raise ResponseError(f"'{word[:40]}' is not a feedback id; `/cost feedback` lists "
                            f"them (e.g. `/cost feedback undo 12`).")
    return int(digits)


def feedback_lines(answer: FeedbackAnswer, m: Markup) -> list[str]:
    """The answer as lines, in the caller's markup."""
    if isinstance(answer, FeedbackUndoneAnswer):
        item = answer.item
        return [f"Undid feedback #{item.id}: {m.text(item.line)} on "
                f"{m.text(item.project)} · {m.text(item.environment)} is judged against its "
                f"own baseline again from the next poll."]
    if not answer.items:
        return ["No feedback in effect: every line is judged against its own baseline."]
    lines = [m.bold(f"Feedback in effect ({answer.total})")]
    for item in answer.items:
        note = f": '{m.text(item.note[:80])}'" if item.note else ""
        lines.append(
            f"• #{item.id} {m.text(item.project)} · {m.text(item.environment)} · "
            f"{m.text(item.line)}: normal up to {money(item.level_usd)}/h (baseline was "
            f"{money(item.baseline_usd)}/h), by {m.text(item.created_by)} on "
            f"{item.created_at:%Y-%m-%d}{note}. Undo: {m.code(item.undo_command)}")
    if answer.total > len(answer.items):
        lines.append(f"…and {answer.total - len(answer.items)} more")
    return lines
