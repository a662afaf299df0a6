"""A prune as the job and the command run it, on both databases: what it rolls up, what it
keeps, what the audit log says, and one replica at a time."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select
from sqlalchemy.engine import Engine

from bot.retention.prune import cutoff_for, prune
from storage.db import job_lock, make_engine, session_scope
from storage.models import Anomaly, AuditLog, CostPoint, RunbookEntry
from storage.queries import costs
from tests.support.cost_points import put_points

T0 = datetime(2025, 1, 1, tzinfo=UTC)
DAY, HOUR = timedelta(days=1), timedelta(hours=1)
NOW = T0 + 60 * DAY + 13 * HOUR  # early afternoon of day 60: the cutoff is day 60 - 40


@pytest.fixture
def store(engine: Engine) -> Engine:
    put_points(engine, [{"hour": T0 + n * HOUR, "cost": 1.0 + n % 5} for n in range(60 * 24)])
    put_points(engine, [{"hour": T0 + n * HOUR, "cost": 2.0, "project": "api"}
                        for n in range(0, 60 * 24, 3)])
    with session_scope(engine) as session:
        anomaly = Anomaly(project="web", environment="prod", owner="team-web", phase="run",
                          kind="spike", started_at=T0 + DAY, detected_at=T0 + DAY,
                          last_seen_at=T0 + DAY)
        session.add(anomaly)
        session.flush()
        session.add(RunbookEntry(project="web", environment="prod", service_name="Amazon EC2",
                                 anomaly_id=anomaly.id, root_cause="a loop", fix="fixed",
                                 prevention="alert", author="ana", created_at=T0 + 2 * DAY))
    return engine


def spend(engine: Engine) -> list[tuple[str, float, float]]:
    with engine.connect() as connection:
        rows = costs.spend_compared(connection=connection, by="project", start=T0 + 30 * DAY,
                                    end=T0 + 60 * DAY, previous_start=T0,
                                    previous_end=T0 + 30 * DAY)
    return sorted((r.key, round(r.cost, 6), round(r.previous, 6)) for r in rows)


def count(engine: Engine, model: type) -> int:
    with engine.connect() as connection:
        return int(connection.execute(select(func.count()).select_from(model)).scalar_one())


def test_the_cutoff_is_a_utc_midnight_that_many_days_before_today():
    assert cutoff_for(40, NOW) == T0 + 20 * DAY


def test_a_prune_rolls_up_the_old_days_keeps_the_answers_and_says_what_it_did(store: Engine):
    answer = spend(store)
    result = prune(engine=store, older_than_days=40, actor="cli:ana", now=NOW)
    assert [result.days[0], result.days[-1]] == [T0.date(), (T0 + 19 * DAY).date()]
    # 20 days of (24 + 8) hourly points of two lines became 20 x 2 daily ones
    assert result.points_before == 60 * 24 + 60 * 8
    assert result.points_after == result.points_before - 20 * 32 + 20 * 2
    assert count(store, CostPoint) == result.points_after
    assert spend(store) == answer
    assert "rolled up 20 days before 2025-01-21" in result.summary()
    with store.connect() as connection:
        entry = connection.execute(select(AuditLog)).one()
    assert (entry.actor, entry.action, entry.subject_id) == ("cli:ana", "prune",
                                                             "before 2025-01-21")
    assert entry.detail == {"days": 20, "first_day": "2025-01-01", "last_day": "2025-01-20",
                            "points_before": result.points_before,
                            "points_after": result.points_after,
                            "seconds": entry.detail["seconds"]}


def test_anomalies_and_runbooks_are_kept(store: Engine):
    prune(engine=store, older_than_days=40, actor="scheduler", now=NOW)
    assert (count(store, Anomaly), count(store, RunbookEntry)) == (1, 1)


def test_a_dry_run_predicts_the_prune_and_changes_nothing(store: Engine):
    dry = prune(engine=store, older_than_days=40, actor="cli:ana", now=NOW, dry_run=True)
    assert "would roll up 20 days" in dry.summary()
    assert count(store, CostPoint) == dry.points_before
    assert count(store, AuditLog) == 0
    done = prune(engine=store, older_than_days=40, actor="cli:ana", now=NOW)
    assert (done.points_before, done.points_after) == (dry.points_before, dry.points_after)


def test_a_second_prune_finds_nothing_to_do_and_leaves_no_audit_entry(store: Engine):
    prune(engine=store, older_than_days=40, actor="scheduler", now=NOW)
    again = prune(engine=store, older_than_days=40, actor="scheduler", now=NOW)
    assert again.days == [] and again.points_before == again.points_after
    assert count(store, AuditLog) == 1


def test_a_retention_shorter_than_detection_needs_is_refused(store: Engine):
    with pytest.raises(ValueError, match="at least 35 days"):
        prune(engine=store, older_than_days=10, actor="cli:ana", now=NOW)
    with pytest.raises(ValueError, match="at least 57 days"):
        prune(engine=store, older_than_days=40, actor="cli:ana", now=NOW,
              overlaps_hours=(50 * 24,))
    assert count(store, AuditLog) == 0


def test_two_replicas_never_prune_at_once(store: Engine, database_url: str):
    other = make_engine(database_url)
    try:
        with job_lock(other, "prune") as theirs:
            assert theirs
            result = prune(engine=store, older_than_days=40, actor="scheduler", now=NOW)
    finally:
        other.dispose()
    if database_url.startswith("postgresql"):
        assert result.skipped and "another replica" in result.summary()
        assert count(store, AuditLog) == 0
    else:  # one process owns a SQLite file
        assert not result.skipped and len(result.days) == 20


def test_a_prune_that_fails_midway_leaves_no_day_half_rolled_up_and_the_next_one_finishes(
        store: Engine):
    from sqlalchemy import event

    answer = spend(store)
    deletes = []

    def fail_the_second_delete(_conn, _cursor, statement, *_args) -> None:
        if statement.lstrip().upper().startswith("DELETE FROM COST_POINT"):
            deletes.append(statement)
            if len(deletes) == 2:
                raise RuntimeError("the disk is full")

    event.listen(store, "before_cursor_execute", fail_the_second_delete)
    try:
        with pytest.raises(Exception, match="the disk is full"):
            prune(engine=store, older_than_days=40, actor="scheduler", now=NOW, chunk_days=7)
    finally:
        event.remove(store, "before_cursor_execute", fail_the_second_delete)
    with store.connect() as connection:
        per_day = connection.execute(
            select(CostPoint.hour, CostPoint.hours)).all()
    hours_of_day: dict[object, set[int]] = {}
    for hour, hours in per_day:
        hours_of_day.setdefault(hour.date(), set()).add(hours)
    assert all(len(kinds) == 1 for kinds in hours_of_day.values())  # hourly or daily, never both
    assert sorted(d for d, kinds in hours_of_day.items() if kinds == {24}) == [
        (T0 + n * DAY).date() for n in range(7)]  # the first chunk committed
    assert spend(store) == answer
    assert count(store, AuditLog) == 0
    finished = prune(engine=store, older_than_days=40, actor="scheduler", now=NOW)
    assert len(finished.days) == 13 and spend(store) == answer
