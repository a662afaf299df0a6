"""The playbook walk at the console, on a real store: a repeated incident's steps open with
the last walk's answers, and Enter keeps each of them."""

from __future__ import annotations

import io
from datetime import timedelta

from rich.console import Console
from sqlmodel import Session, select

from bot.chat.console.walk import walk_playbook
from bot.wiring import Services
from storage.models import RunbookEntry
from tests.support.anomalies import NOW, add_anomaly, with_routing

ANSWERS: dict[str, dict[str, object]] = {
    "owner": {"owner": "priya", "note": "on call this week"},
    "what_changed": {"change": "logging", "note": "DEBUG on in production"},
    "stabilise": {"lever": "other", "action": "LOG_LEVEL=INFO"},
    "review": {"checks": {"checked": ["guardrail"], "reason": "The rest is booked for Monday."}},
    "document": {"root_cause": "DEBUG logs", "fix": "INFO", "prevention": "release check"},
}


class Typed(io.StringIO):
    echo = True


def test_enter_keeps_each_answer_pre_filled_from_the_last_incident(engine, settings):
    desk = Services(settings=with_routing(settings), engine=engine).desk().with_operator("sam")
    first = add_anomaly(engine, at=NOW)
    second = add_anomaly(engine, at=NOW + timedelta(days=7))
    out = Console(file=io.StringIO(), width=200)
    walk_playbook(desk=desk, anomaly_id=first, user="priya", answers=ANSWERS, console=out,
                  deliver=lambda: None)

    printed = Console(file=io.StringIO(), width=200)
    walk_playbook(desk=desk, anomaly_id=second, user="sam", answers=None, console=printed,
                  deliver=lambda: None, lines=Typed("\n" * 40))

    text = printed.file.getvalue()  # type: ignore[attr-defined]
    assert f"Pre-filled from incident #{first}, " in text
    assert "number (Enter: Logging (verbosity, retention, ingestion)):" in text
    assert "> (priya)" in text  # the person from last time, not the one typing
    with Session(engine) as session:
        entries = session.exec(select(RunbookEntry).order_by(RunbookEntry.id)).all()
    assert [(e.anomaly_id, e.author) for e in entries] == [(first, "priya"), (second, "sam")]
    assert entries[1].root_cause == entries[0].root_cause
    assert entries[1].answers[3]["fields"] == entries[0].answers[3]["fields"]  # review kept
