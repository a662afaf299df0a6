"""The anomaly queries, each against a real SQLite store and a real PostgreSQL."""

from __future__ import annotations

from datetime import timedelta

from sqlmodel import Session

from storage.db import session_scope
from storage.models import Anomaly
from storage.queries import anomalies
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
        assert ids(anomalies.anomalies_by_status(db_session=session)) == [same_hour, new, old]
        assert ids(anomalies.anomalies_by_status(db_session=session, owners={"team-a"})) == [
            same_hour, old]
        assert ids(anomalies.anomalies_by_status(db_session=session, owners=set())) == []
        assert ids(anomalies.anomalies_by_status(db_session=session, limit=1)) == [same_hour]
        every = anomalies.anomalies_by_status(db_session=session, open_only=False)
        assert len(every) == 6 and expected in ids(every)


def test_unacknowledged_are_the_open_ones_nobody_answered(engine):
    first = add_anomaly(engine)
    add_anomaly(engine, response="acknowledged")
    add_anomaly(engine, status="auto-resolved")
    second = add_anomaly(engine, at=NOW - timedelta(days=1))
    with Session(engine) as session:
        assert ids(anomalies.unacknowledged(db_session=session)) == [first, second]


def test_a_locked_read_sees_what_another_session_committed(engine):
    anomaly_id = add_anomaly(engine)
    with session_scope(engine) as reader:
        assert anomalies.get_anomaly(db_session=reader, anomaly_id=anomaly_id).response == "none"
        with session_scope(engine) as writer:
            row = writer.get(Anomaly, anomaly_id)
            row.response = "acknowledged"
            writer.add(row)
        reader.commit()  # end the reader's snapshot, as a new request would
        fresh = anomalies.get_anomaly(db_session=reader, anomaly_id=anomaly_id, for_update=True)
        assert fresh.response == "acknowledged"
        assert anomalies.get_anomaly(db_session=reader, anomaly_id=9999) is None


