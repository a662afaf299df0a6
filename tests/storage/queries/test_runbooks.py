"""The playbook-run and runbook queries, each against a real SQLite store and a real PostgreSQL."""

from __future__ import annotations

from datetime import timedelta

from sqlmodel import Session

from storage.db import session_scope
from storage.models import PlaybookRun, RunbookEntry
from storage.queries import runbooks
from tests.support.anomalies import NOW, add_anomaly


def ids(rows) -> list[int]:
    return [int(row.id) for row in rows]


def test_the_latest_playbook_run_of_an_anomaly(engine):
    anomaly_id = add_anomaly(engine)
    with session_scope(engine) as session:
        assert runbooks.get_playbook_run(db_session=session, anomaly_id=anomaly_id) is None
        for step in ("owner", "review"):
            session.add(PlaybookRun(anomaly_id=anomaly_id, playbook="default",
                                    current_step=step, answers={}, started_by="U0ANY",
                                    started_at=NOW))
            session.flush()
    with session_scope(engine) as session:
        run = runbooks.get_playbook_run(db_session=session, anomaly_id=anomaly_id,
                                        for_update=True)
        assert run.current_step == "review"


def file_entry(engine, *, anomaly_id: int | None, project: str = "agent", env: str = "prod",
               service: str = "AmazonCloudWatch", days_ago: int = 0) -> int:
    with session_scope(engine) as session:
        entry = runbooks.add_runbook_entry(db_session=session, entry=RunbookEntry(
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
            return ids(runbooks.runbook_for(db_session=session, project="agent", **kwargs))

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
            return ids(runbooks.recent_runbook(db_session=session, **kwargs))

        assert recent() == [loose, b, a]
        assert recent(limit=1) == [loose]
        assert recent(projects=["agent", "web", "agent"]) == [loose, a]
        assert recent(projects=[]) == []
        # an entry with no anomaly belongs to no owner
        assert recent(owners={"team-a"}) == [a]
        assert recent(owners={"team-a", "team-b"}, projects=["batch"]) == [b]
