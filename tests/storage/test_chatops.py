"""The chat side's queries, each against a real SQLite store and a real PostgreSQL."""

from __future__ import annotations

from datetime import timedelta

from sqlmodel import Session

from storage import chatops
from storage.db import session_scope
from storage.models import Anomaly, OutboxMessage, PlaybookRun, RunbookEntry
from tests.support.anomalies import NOW, add_anomaly


def ids(rows) -> list[int]:
    return [int(row.id) for row in rows]


def test_open_anomalies_newest_first_for_the_given_owners(engine):
    old = add_anomaly(engine, owner="team-a", at=NOW - timedelta(days=2))
    new = add_anomaly(engine, owner="team-b", at=NOW)
    same_hour = add_anomaly(engine, owner="team-a", at=NOW)
    add_anomaly(engine, owner="team-a", status="auto-resolved")
    add_anomaly(engine, owner="team-a", response="resolved")
    expected = add_anomaly(engine, owner="team-a", response="expected")
    with Session(engine) as session:
        assert ids(chatops.anomalies_by_status(db_session=session)) == [same_hour, new, old]
        assert ids(chatops.anomalies_by_status(db_session=session, owners={"team-a"})) == [
            same_hour, old]
        assert ids(chatops.anomalies_by_status(db_session=session, owners=set())) == []
        assert ids(chatops.anomalies_by_status(db_session=session, limit=1)) == [same_hour]
        every = chatops.anomalies_by_status(db_session=session, open_only=False)
        assert len(every) == 6 and expected in ids(every)


def test_unacknowledged_are_the_open_ones_nobody_answered(engine):
    first = add_anomaly(engine)
    add_anomaly(engine, response="acknowledged")
    add_anomaly(engine, status="auto-resolved")
    second = add_anomaly(engine, at=NOW - timedelta(days=1))
    with Session(engine) as session:
        assert ids(chatops.unacknowledged(db_session=session)) == [first, second]


def test_a_locked_read_sees_what_another_session_committed(engine):
    anomaly_id = add_anomaly(engine)
    with session_scope(engine) as reader:
        assert chatops.get_anomaly(db_session=reader, anomaly_id=anomaly_id).response == "none"
        with session_scope(engine) as writer:
            row = writer.get(Anomaly, anomaly_id)
            row.response = "acknowledged"
            writer.add(row)
        reader.commit()  # end the reader's snapshot, as a new request would
        fresh = chatops.get_anomaly(db_session=reader, anomaly_id=anomaly_id, for_update=True)
        assert fresh.response == "acknowledged"
        assert chatops.get_anomaly(db_session=reader, anomaly_id=9999) is None


def test_alerts_one_per_platform(engine):
    anomaly_id = add_anomaly(engine, platforms=("slack", "console"))
    other = add_anomaly(engine, platforms=("slack",))
    with Session(engine) as session:
        slack = chatops.alert_for(db_session=session, anomaly_id=anomaly_id, platform="slack")
        assert (slack.channel, slack.status) == ("C0SUPPORT", "pending")
        assert chatops.alert_for(db_session=session, anomaly_id=other,
                                 platform="console") is None
        assert [a.platform for a in chatops.alerts_of(db_session=session,
                                                      anomaly_id=anomaly_id)] == [
            "slack", "console"]


def queue(engine, *messages: tuple[str, str, timedelta]) -> list[int]:
    """(platform, operation, due in) -> the new messages' ids."""
    anomaly_id = add_anomaly(engine, platforms=("slack",))
    with session_scope(engine) as session:
        alert = chatops.alert_for(db_session=session, anomaly_id=anomaly_id, platform="slack")
        return [int(chatops.enqueue(db_session=session, platform=platform, channel="C0X",
                                    operation=operation, now=NOW + due, alert_id=alert.id,
                                    payload={"n": n}).id)
                for n, (platform, operation, due) in enumerate(messages)]


def test_the_due_messages_of_a_platform_are_claimed_oldest_first(engine):
    now = timedelta(0)
    first, later, _console, second, sent = queue(
        engine, ("slack", "post", now), ("slack", "update", timedelta(minutes=5)),
        ("console", "post", now), ("slack", "reply", now), ("slack", "reply", now))
    with session_scope(engine) as session:
        done = session.get(OutboxMessage, sent)
        done.status = "sent"
        session.add(done)
    with session_scope(engine) as session:
        assert ids(chatops.claim_due(db_session=session, platform="slack", now=NOW)) == [
            first, second]
        assert ids(chatops.claim_due(db_session=session, platform="slack", now=NOW,
                                     limit=1)) == [first]
        assert ids(chatops.claim_due(db_session=session, platform="slack",
                                     now=NOW + timedelta(minutes=5))) == [first, later, second]
        # not due yet still counts as not sent; a sent one does not
        assert chatops.count_pending(db_session=session, platform="slack") == 3
        assert chatops.count_pending(db_session=session, platform="console") == 1
        assert chatops.count_pending(db_session=session, platform="teams") == 0


def test_a_message_is_leased_by_one_sender_only(engine):
    (message,) = queue(engine, ("slack", "post", timedelta(0)))
    until = NOW + timedelta(seconds=30)
    with session_scope(engine) as session:
        assert chatops.lease(db_session=session, message_id=message, attempts=0, now=NOW,
                             until=until)
    with session_scope(engine) as session:
        # another sender that read attempts=0 before: too late
        assert not chatops.lease(db_session=session, message_id=message, attempts=0, now=NOW,
                                 until=until)
        # the lease holds until it runs out
        assert not chatops.lease(db_session=session, message_id=message, attempts=1, now=NOW,
                                 until=until)
        assert chatops.claim_due(db_session=session, platform="slack", now=NOW) == []
    with session_scope(engine) as session:
        assert chatops.lease(db_session=session, message_id=message, attempts=1, now=until,
                             until=until + timedelta(seconds=30))
        assert session.get(OutboxMessage, message).attempts == 2


def test_pending_messages_of_an_alert_by_operation(engine):
    now = timedelta(0)
    first, reply, second, third = queue(engine, ("slack", "update", now),
                                        ("slack", "reply", now), ("slack", "update", now),
                                        ("slack", "update", now))
    with Session(engine) as session:
        alert_id = session.get(OutboxMessage, first).alert_id
        assert ids(chatops.pending_for_alert(db_session=session, alert_id=alert_id,
                                             operation="update")) == [first, second, third]
        assert ids(chatops.pending_for_alert(db_session=session, alert_id=alert_id,
                                             operation="update", before_id=third)) == [
            first, second]
        assert ids(chatops.pending_for_alert(db_session=session, alert_id=alert_id,
                                             operation="reply")) == [reply]


def test_the_latest_playbook_run_of_an_anomaly(engine):
    anomaly_id = add_anomaly(engine)
    with session_scope(engine) as session:
        assert chatops.get_playbook_run(db_session=session, anomaly_id=anomaly_id) is None
        for step in ("owner", "review"):
            session.add(PlaybookRun(anomaly_id=anomaly_id, playbook="default",
                                    current_step=step, answers={}, started_by="U0ANY",
                                    started_at=NOW))
            session.flush()
    with session_scope(engine) as session:
        run = chatops.get_playbook_run(db_session=session, anomaly_id=anomaly_id,
                                       for_update=True)
        assert run.current_step == "review"


def file_entry(engine, *, anomaly_id: int | None, project: str = "agent", env: str = "prod",
               service: str = "AmazonCloudWatch", days_ago: int = 0) -> int:
    with session_scope(engine) as session:
        entry = chatops.add_runbook_entry(db_session=session, entry=RunbookEntry(
            project=project, environment=env, service_name=service, anomaly_id=anomaly_id,
            root_cause=f"{project}/{env}/{service}/{days_ago}", fix="fix", prevention="p",
            author="U0ANY", created_at=NOW - timedelta(days=days_ago)))
        assert entry.id is not None
        return int(entry.id)


def test_a_workloads_runbook_newest_first(engine):
    anomaly_id = add_anomaly(engine)
    old = file_entry(engine, anomaly_id=anomaly_id, days_ago=30)
    new = file_entry(engine, anomaly_id=anomaly_id, days_ago=1)
    same_day = file_entry(engine, anomaly_id=anomaly_id, days_ago=1)
    staging = file_entry(engine, anomaly_id=None, env="staging")
    bedrock = file_entry(engine, anomaly_id=None, service="Amazon Bedrock", days_ago=2)
    file_entry(engine, anomaly_id=None, project="batch")
    with Session(engine) as session:
        def runbook(**kwargs):
            return ids(chatops.runbook_for(db_session=session, project="agent", **kwargs))

        assert runbook() == [staging, same_day, new, bedrock, old]
        assert runbook(environment="prod") == [same_day, new, bedrock, old]
        assert runbook(environment="prod", service_name="AmazonCloudWatch") == [
            same_day, new, old]
        assert runbook(limit=2) == [staging, same_day]


def test_recent_runbook_entries_of_some_projects_or_owners(engine):
    mine = add_anomaly(engine, owner="team-a")
    theirs = add_anomaly(engine, owner="team-b")
    a = file_entry(engine, anomaly_id=mine, days_ago=3)
    b = file_entry(engine, anomaly_id=theirs, project="batch", days_ago=2)
    loose = file_entry(engine, anomaly_id=None, project="web", days_ago=1)
    with Session(engine) as session:
        def recent(**kwargs):
            return ids(chatops.recent_runbook(db_session=session, **kwargs))

        assert recent() == [loose, b, a]
        assert recent(limit=1) == [loose]
        assert recent(projects=["agent", "web", "agent"]) == [loose, a]
        assert recent(projects=[]) == []
        # an entry with no anomaly belongs to no owner
        assert recent(owners={"team-a"}) == [a]
        assert recent(owners={"team-a", "team-b"}, projects=["batch"]) == [b]
