"""What changed before an anomaly, as its alert says it: the note, on a real store."""

from __future__ import annotations

import json
from datetime import timedelta

from sqlalchemy.engine import Engine

from bot.changes.config import ChangeSettings
from bot.changes.events import ChangeIn, record_change
from bot.changes.notes import use_change_window
from bot.chat.slack.blocks import alert_message
from bot.settings import Settings
from bot.wiring import Services
from storage.db import session_scope
from tests.support.anomalies import NOW, add_anomaly, with_routing


def change(engine: Engine, hours_before: float, summary: str, *, project: str = "support-agent",
           environment: str | None = "prod", kind: str = "deploy",
           service: str | None = "summariser", actor: str | None = "alice") -> None:
    with session_scope(engine) as session:
        record_change(db_session=session, source="webhook", now=NOW + timedelta(days=1),
                      change=ChangeIn(kind=kind, project=project, environment=environment,
                                      service=service, summary=summary, actor=actor,
                                      at=NOW - timedelta(hours=hours_before),
                                      id=f"{project}-{summary}"))


def notes(engine: Engine, settings: Settings, anomaly_id: int) -> dict[str, tuple[str, ...]]:
    desk = Services(settings=with_routing(settings), engine=engine).desk()
    return {note.heading: note.lines for note in desk.alert_view(anomaly_id).notes}


def test_the_alert_lists_the_changes_of_its_workload_before_it_started(engine, settings):
    anomaly_id = add_anomaly(engine, last_seen_at=NOW + timedelta(hours=3))
    change(engine, 2, "Route summaries to the larger model")
    change(engine, 20, "Log level debug", kind="config", service=None, actor=None,
           environment=None)  # no environment given: could be this one
    change(engine, -1, "Raise the replica count")  # during the anomaly
    change(engine, 30, "Too early to matter")
    change(engine, 1, "Another project's deploy", project="billing")
    change(engine, 1, "A staging deploy", environment="staging")

    shown = notes(engine, settings, anomaly_id)

    assert shown == {"What changed in the 24 hours before it started": (
        "deploy · summariser · Raise the replica count · by alice · Sep 1 10:00 UTC "
        "(after it started)",
        "deploy · summariser · Route summaries to the larger model · by alice · "
        "Sep 1 07:00 UTC",
        "config · Log level debug · Aug 31 13:00 UTC",
    )}


def test_no_changes_no_note(engine, settings):
    anomaly_id = add_anomaly(engine)
    change(engine, 1, "Another project's deploy", project="billing")

    assert notes(engine, settings, anomaly_id) == {}


def test_the_window_and_the_number_listed_follow_the_settings(engine, settings):
    anomaly_id = add_anomaly(engine)
    for hour in range(1, 9):
        change(engine, hour, f"deploy {hour}")
    try:
        use_change_window(ChangeSettings(window_hours=6, note_limit=3))
        [(heading, lines)] = notes(engine, settings, anomaly_id).items()
    finally:
        use_change_window(ChangeSettings())

    assert heading == "What changed in the 6 hours before it started"
    assert [line.split(" · ")[2] for line in lines] == ["deploy 1", "deploy 2", "deploy 3"]
    [(_, default)] = notes(engine, settings, anomaly_id).items()
    assert len(default) == 5


def test_slack_shows_the_note_with_the_sender_text_escaped(engine, settings):
    anomaly_id = add_anomaly(engine)
    change(engine, 1, "Ping <!channel> & friends")
    desk = Services(settings=with_routing(settings), engine=engine).desk()

    _, message = alert_message(desk.alert_view(anomaly_id))
    blocks = json.dumps([block.to_dict() for block in message])

    assert "What changed in the 24 hours before it started" in blocks
    assert "Ping &lt;!channel&gt; &amp; friends" in blocks
    assert "<!channel>" not in blocks
