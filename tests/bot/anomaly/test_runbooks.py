"""Runbook entries corrected with their history kept, and "seen before" on a new alert, on a
real store."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlmodel import Session, select

from bot.anomaly.access import NotAllowed, NothingChanged, ResponseError
from bot.anomaly.runbook_export import export_runbooks
from bot.anomaly.runbooks import edit_entry, entry_history, seen_before_note
from storage.db import session_scope
from storage.models import Anomaly, AuditLog, OutboxMessage, RunbookEntry
from tests.support.anomalies import NOW, add_anomaly, with_routing

OTHER_SERVICE = {"contributors": [{"service": "Amazon EC2", "region": "us-east-1", "sku": "",
                                   "impact_usd": 9.0, "expected": 1.0, "actual": 10.0}]}


def file_entry(engine, anomaly_id: int, cause: str, fix: str, *, days: int = 0,
               service: str = "AmazonCloudWatch", author: str = "U0ALICE") -> int:
    with session_scope(engine) as session:
        entry = RunbookEntry(project="support-agent", environment="prod", service_name=service,
                             anomaly_id=anomaly_id, root_cause=cause, fix=fix, prevention="",
                             author=author, created_at=NOW + timedelta(days=days))
        session.add(entry)
        session.flush()
        return int(entry.id)


def edit(engine, settings, entry_id: int, user: str = "U0ALICE", **texts: str):
    with session_scope(engine) as session:
        entry = edit_entry(db_session=session, settings=with_routing(settings),
                           entry_id=entry_id, user=user, now=NOW + timedelta(days=3), **texts)
        return entry.version


def test_an_edit_keeps_the_text_it_replaces_and_says_who_and_when(engine, settings):
    anomaly = add_anomaly(engine)
    entry_id = file_entry(engine, anomaly, "Debug logging", "INFO again")

    assert edit(engine, settings, entry_id, user="U0BOB", fix="INFO, and DEBUG expires") == 2
    assert edit(engine, settings, entry_id, root_cause="Debug logging after 2.14") == 3

    with Session(engine) as session:
        history = entry_history(db_session=session, entry_id=entry_id)
        audit = session.exec(select(AuditLog).where(AuditLog.action == "runbook.edited")).all()
        updates = session.exec(select(OutboxMessage).where(
            OutboxMessage.operation == "update")).all()
    view = history.view
    assert (view.version, view.updated_by) == (3, "U0ALICE")
    assert (view.root_cause, view.fix) == ("Debug logging after 2.14", "INFO, and DEBUG expires")
    assert [(old.version, old.author, old.root_cause, old.fix) for old in view.earlier] == [
        (2, "U0BOB", "Debug logging", "INFO, and DEBUG expires"),
        (1, "U0ALICE", "Debug logging", "INFO again")]
    assert [(a.actor, a.detail["version"], a.detail["changed"]) for a in audit] == [
        ("U0BOB", 2, ["fix"]), ("U0ALICE", 3, ["root_cause"])]
    assert len(updates) == 2  # the alert that shows the entry is redrawn after each edit


@pytest.mark.parametrize(("texts", "error", "words"), [
    ({}, ResponseError, "say what to change"),
    ({"root_cause": "   "}, ResponseError, "the root cause cannot be empty"),
    ({"fix": "x" * 5001}, ResponseError, "the fix is 5,001 characters; the limit is 5,000"),
    ({"fix": "INFO again"}, NothingChanged, "already says that (v1); nothing changed"),
])
def test_an_edit_that_cannot_apply_says_why_and_changes_nothing(engine, settings, texts, error,
                                                               words):
    entry_id = file_entry(engine, add_anomaly(engine), "Debug logging", "INFO again")

    with pytest.raises(error, match=words.replace("(", r"\(").replace(")", r"\)")):
        edit(engine, settings, entry_id, **texts)

    with Session(engine) as session:
        assert session.get(RunbookEntry, entry_id).version == 1


def test_only_who_may_act_on_the_workload_may_edit_its_entry(engine, settings):
    anomaly = add_anomaly(engine, owner="team-data")  # responders: U0DATA only
    entry_id = file_entry(engine, anomaly, "A backfill", "Paused it")

    with pytest.raises(NotAllowed, match="only the responders of team-data"):
        edit(engine, settings, entry_id, user="U0ALICE", fix="Paused it for a day")
    with pytest.raises(ResponseError, match="runbook entry 999 does not exist"):
        edit(engine, settings, 999, fix="anything")

    assert edit(engine, settings, entry_id, user="U0DATA", fix="Paused it for a day") == 2


def test_the_export_shows_the_version_and_every_earlier_one(engine, settings, tmp_path):
    entry_id = file_entry(engine, add_anomaly(engine), "Debug logging", "INFO again")
    edit(engine, settings, entry_id, user="U0BOB", fix="INFO, and DEBUG expires")

    with Session(engine) as session:
        [path] = export_runbooks(db_session=session, out=tmp_path, exported=NOW)
    text = path.read_text()

    assert f"*Entry {entry_id} · v2 · edited by U0BOB on 2026-09-04*" in text
    assert "### Earlier versions" in text
    assert "- **v1** (by U0ALICE, 2026-09-01 09:00 UTC): root cause: Debug logging; fix: INFO " \
           "again" in text


def test_seen_before_counts_earlier_documented_incidents_on_the_same_workload(engine):
    day = timedelta(days=1)
    first = add_anomaly(engine, at=NOW - 20 * day)
    second = add_anomaly(engine, at=NOW - 10 * day)
    add_anomaly(engine, at=NOW - 5 * day)  # closed without a walk: nothing learned
    elsewhere = add_anomaly(engine, at=NOW - 8 * day, evidence=OTHER_SERVICE)
    current = add_anomaly(engine, at=NOW)
    later = add_anomaly(engine, at=NOW + 2 * day)
    file_entry(engine, first, "Debug logging", "INFO again", days=-19)
    file_entry(engine, second, "Verbose logging after release 2.14 (changed: Debug or "
               "verbose logging turned on)", "Log level back to INFO (lever: Lower the log "
               "level)", days=-9, author="U0BOB")
    file_entry(engine, elsewhere, "Batch on EC2", "Stopped it", service="Amazon EC2", days=-7)
    file_entry(engine, later, "From the future", "n/a", days=3)

    with Session(engine) as session:
        note = seen_before_note(session, session.get(Anomaly, current))
        none_before = seen_before_note(session, session.get(Anomaly, first))

    assert note is not None and none_before is None
    assert note.heading == ("Seen before 2 times; last: Verbose logging after release 2.14 → "
                            "Log level back to INFO")
    assert note.lines == (f"Incident #{second} on 2026-08-22, resolved by U0BOB",)
