"""Feedback that tunes: "not an anomaly" widens what counts as normal for the lines it names.

Saying an alert was not an anomaly (the alert's button, Teams' action, the console) is an
action like the others of :mod:`bot.anomaly.service`: whoever may act on the alert may say it
(:mod:`bot.anomaly.access`), it closes the alert as *expected* does, it is audited, and a
repeated click changes nothing (:class:`NothingChanged`). It also records one
``LineFeedback`` row per line of spend the anomaly was about: each top contributor of its
evidence (service, region, SKU) whose rise is at least ``LINE_SHARE`` of the largest one's,
with ``level_usd`` the line's hourly spend when the alert opened and ``baseline_usd`` what the
line was expected to spend.

From the next hour judged, the detection pass (:mod:`bot.anomaly.poll`) loads the active
rows as floors under those lines' expected spend (:func:`normal_floors`; the rule is
:mod:`bot.detection.normal`): the same rise no longer alerts, a bigger one does, and a rise on
another line of the workload alerts as before. An anomaly judged while feedback was in effect
on its workload keeps the ids in its evidence (:func:`mark_judged_with`), and its alert says
which feedback widened the threshold, and how to undo it (:func:`feedback_note`).

Undo (:func:`undo`, ``/cost feedback undo ID``, ``spendwatch feedback undo ID``) stamps who
and when, is audited, and the line is judged normally again from the next poll.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime

from sqlmodel import Session

from bot.anomaly.access import NothingChanged, ResponseError, check_may_act
from bot.anomaly.enums import AnomalyResponse, AuditAction
from bot.anomaly.feedback_view import EVIDENCE_KEY, FeedbackView, feedback_ids, view_of
from bot.anomaly.lifecycle import Incident
from bot.anomaly.service import notify
from bot.chat.text import money
from bot.detection.normal import LineKey
from bot.settings import Settings
from storage import queries
from storage.models import Anomaly, LineFeedback
from storage.queries import feedback as feedback_queries
from storage.timeutil import as_utc

__all__ = [
    "NOTE_MAX_CHARS",
    "FeedbackView",
    "active_feedback",
    "check_may_say",
    "check_note",
    "mark_judged_with",
    "normal_floors",
    "not_an_anomaly",
    "undo",
]

NOTE_MAX_CHARS = 500
# a contributor is a line the anomaly was about when its rise is at least this share of the
# largest one's (the others only wobbled in the same hour)
LINE_SHARE = 0.2


def check_note(note: str | None) -> str | None:
    """The note, stripped (None when empty), if it is within the limit; else a ResponseError."""
    note = (note or "").strip()
    if len(note) > NOTE_MAX_CHARS:
        raise ResponseError(f"The note is {len(note):,} characters; the limit is "
                            f"{NOTE_MAX_CHARS}. Please shorten it.")
    return note or None


def check_may_say(*, db_session: Session, settings: Settings, anomaly_id: int, user: str,
                  channel: str | None = None) -> Anomaly:
    """The anomaly (locked), once ``user`` may act on it and it is not closed as not an
    anomaly already (before the note is asked for, and again when it is saved)."""
    anomaly = queries.anomalies.get_anomaly(db_session=db_session, anomaly_id=anomaly_id,
                                            for_update=True)
    if anomaly is None:
        raise ResponseError(f"anomaly {anomaly_id} does not exist (any more); "
                            f"use /cost anomalies to see the open ones")
    check_may_act(settings.routing, user=user, owner=anomaly.owner, channel=channel)
    if anomaly.response == AnomalyResponse.NOT_AN_ANOMALY:
        raise NothingChanged(f"{anomaly.response_by or 'Someone'} already said this was not "
                             f"an anomaly; nothing changed.")
    if anomaly.response == AnomalyResponse.RESOLVED:
        raise ResponseError("this anomaly is already resolved; its runbook entry is saved")
    return anomaly


def not_an_anomaly(*, db_session: Session, settings: Settings, anomaly_id: int, user: str,
                   now: datetime, note: str | None = None, channel: str | None = None,
                   ) -> list[FeedbackView]:
    """Close the anomaly as not an anomaly and record its lines' spend as normal."""
    note = check_note(note)
    anomaly = check_may_say(db_session=db_session, settings=settings, anomaly_id=anomaly_id,
                            user=user, channel=channel)
    rows = feedback_queries.add_feedback(db_session=db_session,
                                         rows=_lines_of(anomaly, user, note, now))
    anomaly.response = AnomalyResponse.NOT_AN_ANOMALY
    anomaly.response_by = user
    anomaly.response_at = now
    anomaly.response_note = note
    db_session.add(anomaly)
    views = [view_of(row) for row in rows]
    queries.audit.add_audit(db_session=db_session, actor=user,
                            action=AuditAction.NOT_AN_ANOMALY, subject_type="anomaly",
                            subject_id=str(anomaly_id),
                            detail={"note": note, "feedback_ids": [v.id for v in views]})
    notify(db_session=db_session, anomaly_id=anomaly_id, now=now, actor=user,
           text=_said_text(views, note))
    return views


def undo(*, db_session: Session, settings: Settings, feedback_id: int, user: str,
         now: datetime, channel: str | None = None) -> FeedbackView:
    """Undo one piece of feedback: its line is judged normally again from the next poll."""
    row = feedback_queries.get_feedback(db_session=db_session, feedback_id=feedback_id,
                                        for_update=True)
    if row is None:
        raise ResponseError(f"feedback #{feedback_id} does not exist; use /cost feedback to "
                            f"list the feedback in effect")
    owner = feedback_queries.owner_of(db_session=db_session, feedback=row)
    if owner is not None:
        check_may_act(settings.routing, user=user, owner=owner, channel=channel)
    if row.undone_at is not None:
        raise NothingChanged(f"Feedback #{feedback_id} was already undone by "
                             f"{row.undone_by or 'someone'} on "
                             f"{as_utc(row.undone_at):%Y-%m-%d %H:%M} UTC; nothing changed.")
    row.undone_at = now
    row.undone_by = user
    db_session.add(row)
    view = view_of(row)
    queries.audit.add_audit(db_session=db_session, actor=user,
                            action=AuditAction.FEEDBACK_UNDONE, subject_type="line_feedback",
                            subject_id=str(feedback_id),
                            detail={"anomaly_id": row.anomaly_id, "line": view.line})
    if row.anomaly_id is not None:
        notify(db_session=db_session, anomaly_id=row.anomaly_id, now=now, actor=user,
               text=f"undid feedback #{feedback_id}: {view.line} is judged against its own "
                    f"baseline again from the next poll")
    return view


def active_feedback(*, db_session: Session, owners: Iterable[str] | None = None
                    ) -> list[FeedbackView]:
    """Feedback in effect, oldest first; on the anomalies of ``owners`` when given."""
    return [view_of(row) for row in feedback_queries.active_feedback(db_session=db_session,
                                                                     owners=owners)]


def normal_floors(rows: Iterable[LineFeedback]) -> dict[LineKey, float]:
    """The detector's input: per line, the largest level called normal."""
    floors: dict[LineKey, float] = {}
    for row in rows:
        key = (row.project, row.environment, row.service_name, row.region, row.sku_id)
        floors[key] = max(floors.get(key, 0.0), float(row.level_usd))
    return floors


def mark_judged_with(incidents: Iterable[Incident], rows: Sequence[LineFeedback]) -> None:
    """Record in each incident's evidence the feedback in effect on its workload."""
    by_workload: dict[tuple[str, str], set[int]] = {}
    for row in rows:
        by_workload.setdefault((row.project, row.environment), set()).add(int(row.id or 0))
    for incident in incidents:
        ids = by_workload.get((incident.project, incident.environment))
        if not ids:
            continue
        known = feedback_ids(incident.evidence)
        incident.evidence[EVIDENCE_KEY] = ",".join(str(i) for i in sorted(known | ids))


def _lines_of(anomaly: Anomaly, user: str, note: str | None,
              now: datetime) -> list[LineFeedback]:
    contributors = (anomaly.evidence or {}).get("contributors") or []
    largest = max((float(c.get("impact_usd", 0.0)) for c in contributors), default=0.0)
    seen: set[tuple[str, str, str]] = set()
    rows = []
    for c in contributors:
        key = (str(c.get("service", "")), str(c.get("region", "")), str(c.get("sku", "")))
        if key in seen or not key[0] or float(c.get("impact_usd", 0.0)) < LINE_SHARE * largest:
            continue
        seen.add(key)
        rows.append(LineFeedback(
            project=anomaly.project, environment=anomaly.environment, service_name=key[0],
            region=key[1], sku_id=key[2], anomaly_id=anomaly.id,
            level_usd=round(float(c.get("actual", 0.0)), 4),
            baseline_usd=round(float(c.get("expected", 0.0)), 4),
            note=note, created_by=user, created_at=now))
    return rows


def _said_text(views: list[FeedbackView], note: str | None) -> str:
    said = "said this was not an anomaly" + (f" (“{note}”)" if note else "")
    if not views:
        return f"{said}; the alert named no line of spend, so no threshold changed"
    widened = "; ".join(f"{v.line} up to {money(v.level_usd)}/h (undo: {v.undo_command})"
                        for v in views)
    return f"{said}. Normal widened for {widened}"
