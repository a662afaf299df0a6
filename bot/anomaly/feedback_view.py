"""Line feedback as people read it: one line per piece, and the note on an alert.

Kept apart from :mod:`bot.anomaly.feedback` (the actions) because the alert's notes
(:mod:`bot.anomaly.notes`) are built inside every view the actions themselves rebuild.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

from sqlmodel import Session

from bot.anomaly.views import AlertNote
from bot.chat.text import money
from storage.models import Anomaly, LineFeedback
from storage.queries import feedback as feedback_queries
from storage.timeutil import as_utc

__all__ = ["EVIDENCE_KEY", "FeedbackView", "feedback_ids", "feedback_note", "view_of"]

# the anomaly's evidence: the ids of the feedback in effect on its workload while it was judged
EVIDENCE_KEY = "feedback_ids"
NOTE_LINES = 5
QUOTE_CHARS = 80


@dataclass(frozen=True)
class FeedbackView:
    """One piece of feedback as chat and the command line show it."""

    id: int
    project: str
    environment: str
    service: str
    region: str
    sku: str
    level_usd: float
    baseline_usd: float
    note: str | None
    created_by: str
    created_at: datetime
    anomaly_id: int | None
    undone_by: str | None = None
    undone_at: datetime | None = None

    @property
    def line(self) -> str:
        """``AmazonBedrock · us-east-1 · claude-sonnet`` (the parts the data has)."""
        return " · ".join(part for part in (self.service, self.region, self.sku) if part)

    @property
    def undo_command(self) -> str:
        return f"/cost feedback undo {self.id}"

    def describe(self) -> str:
        """``AmazonBedrock · us-east-1 up to $40.00/h (#12 by @U1 on 2026-11-20: 'batch')``."""
        said = f"#{self.id} by @{self.created_by} on {self.created_at:%Y-%m-%d}"
        if self.note:
            note = self.note if len(self.note) <= QUOTE_CHARS else (
                self.note[:QUOTE_CHARS - 1] + "…")
            said += f": '{note}'"
        return f"{self.line} up to {money(self.level_usd)}/h ({said})"


def view_of(row: LineFeedback) -> FeedbackView:
    return FeedbackView(
        id=int(row.id or 0), project=row.project, environment=row.environment,
        service=row.service_name, region=row.region, sku=row.sku_id,
        level_usd=row.level_usd, baseline_usd=row.baseline_usd, note=row.note,
        created_by=row.created_by, created_at=as_utc(row.created_at),
        anomaly_id=row.anomaly_id, undone_by=row.undone_by,
        undone_at=as_utc(row.undone_at) if row.undone_at else None)


def feedback_ids(evidence: Mapping[str, object] | None) -> set[int]:
    """The ids an anomaly's evidence records as in effect while it was judged."""
    raw = (evidence or {}).get(EVIDENCE_KEY)
    if not isinstance(raw, str) or not raw:
        return set()
    return {int(part) for part in raw.split(",") if part.strip().isdigit()}


def feedback_note(session: Session, anomaly: Anomaly) -> AlertNote | None:
    """"Normal widened by feedback": one line per piece in effect while the anomaly was
    judged (or recorded from its own "not an anomaly"), each with how to undo it."""
    rows = {int(row.id or 0): row for row in feedback_queries.feedback_of_anomaly(
        db_session=session, anomaly_id=int(anomaly.id or 0))}
    for feedback_id in sorted(feedback_ids(anomaly.evidence) - rows.keys()):
        row = feedback_queries.get_feedback(db_session=session, feedback_id=feedback_id)
        if row is not None:
            rows[feedback_id] = row
    if not rows:
        return None
    views = [view_of(rows[i]) for i in sorted(rows)]
    lines = [_note_line(v) for v in views[:NOTE_LINES]]
    if len(views) > NOTE_LINES:
        lines.append(f"and {len(views) - NOTE_LINES} more: /cost feedback lists them")
    return AlertNote("Normal widened by feedback", tuple(lines))


def _note_line(view: FeedbackView) -> str:
    if view.undone_at is not None:
        return (f"{view.describe()}; undone by @{view.undone_by or 'someone'} on "
                f"{view.undone_at:%Y-%m-%d}")
    return f"{view.describe()}. Undo: {view.undo_command}"
