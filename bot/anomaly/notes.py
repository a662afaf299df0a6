"""What else the store knows about an anomaly's workload, as notes on its alert.

Each source of notes is a function of the session and the anomaly that returns an
:class:`~bot.anomaly.views.AlertNote` or None; the alert shows them in the order of
:data:`NOTE_SOURCES`. The view is rebuilt on every send and update, so a note appears on the
next update after what it reports was stored (a plan, feedback, a deploy).
"""

from __future__ import annotations

from collections.abc import Callable

from sqlmodel import Session

from bot.anomaly.feedback_view import feedback_note
from bot.anomaly.plans import plan_note
from bot.anomaly.price_note import unit_cost_note
from bot.anomaly.runbooks import seen_before_note
from bot.anomaly.views import AlertNote
from bot.changes.notes import changes_note
from storage.models import Anomaly

__all__ = ["NOTE_SOURCES", "NoteSource", "alert_notes"]

NoteSource = Callable[[Session, Anomaly], AlertNote | None]

NOTE_SOURCES: tuple[NoteSource, ...] = (
    unit_cost_note,
    seen_before_note,
    plan_note,
    changes_note,
    feedback_note,
)


def alert_notes(session: Session, anomaly: Anomaly,
                sources: tuple[NoteSource, ...] | None = None) -> tuple[AlertNote, ...]:
    """The notes of every source that has something to say, in order."""
    found = (source(session, anomaly) for source in (NOTE_SOURCES if sources is None
                                                     else sources))
    return tuple(note for note in found if note is not None)
