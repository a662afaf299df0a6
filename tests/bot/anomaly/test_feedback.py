"""Feedback that tunes: "not an anomaly" widens normal for its lines, through the real poll."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import pandas as pd
import pytest
from sqlmodel import Session, select

from bot.anomaly.desk import AnomalyDesk, NotAllowed, NothingChanged, ResponseError
from bot.anomaly.enums import AnomalyResponse
from bot.anomaly.poll import poll_store
from bot.anomaly.service import load_alert_view
from storage.models import Anomaly, LineFeedback
from tests.support.anomalies import audit, get_anomaly, outbox, with_routing
from tests.support.cost_points import put_points

START = pd.Timestamp("2026-09-01T00:00:00Z")
DAY = 24
BEDROCK, CLOUDWATCH = "Amazon Bedrock", "AmazonCloudWatch"
LEVELS = {BEDROCK: 20.0, CLOUDWATCH: 3.0}
DAYS = 10  # of history the poll loads: as little as the baseline needs, so tests run fast
OWNER = "team-support"  # anyone in its channel may act (tests.support.anomalies.ROUTING)


def spend(first: int, last: int, rises: dict[tuple[str, int], float]) -> list[dict]:
    """Hours ``first`` .. ``last - 1`` of two steady lines; ``rises`` sets (service, hour)."""
    rows = []
    for hour in range(first, last):
        for service, level in LEVELS.items():
            noise = np.random.default_rng(hour * 7 + len(service)).lognormal(0, 0.03)
            cost = rises.get((service, hour), level) * noise
            rows.append({"hour": START + pd.Timedelta(hours=hour), "cost": round(cost, 4),
                         "service_name": service, "project": "agent", "environment": "prod",
                         "owner": OWNER})
    return rows


def rise(service: str, day: int, level: float, hours: range = range(14, 22)
         ) -> dict[tuple[str, int], float]:
    return {(service, day * DAY + h): level for h in hours}


class Store:
    """A store the poll runs on; ``until`` delivers spend up to an hour and polls."""

    def __init__(self, engine, settings) -> None:
        self.engine, self.settings = engine, with_routing(settings)
        self.delivered = 0
        self.desk = AnomalyDesk(engine=engine, settings=self.settings,
                                playbook=_library(self.settings))

    def until(self, hour: int, rises: dict[tuple[str, int], float] | None = None) -> list:
        put_points(self.engine, spend(self.delivered, hour, rises or {}))
        self.delivered = hour
        result = poll_store(engine=self.engine, settings=self.settings, days=DAYS)
        return [e.incident for e in result.events if e.kind == "opened" and e.alert]

    def first_alert(self) -> int:
        """History with one Bedrock rise (day 8, 02:00 to 10:00) still going on at its end."""
        opened = self.until(8 * DAY + 8, rise(BEDROCK, 8, 32.0, range(2, 10)))
        assert [i.project for i in opened] == ["agent"]
        self.desk.announce(opened[0].id, platform="slack")
        return opened[0].id


def _library(settings):
    from bot.anomaly.service import load_library
    return load_library(settings)


def rows(engine) -> list[LineFeedback]:
    with Session(engine) as session:
        return list(session.exec(select(LineFeedback)).all())


def note_lines(engine, anomaly_id: int) -> list[str]:
    with Session(engine) as session:
        view = load_alert_view(db_session=session, anomaly_id=anomaly_id, playbook=None)
    return [line for note in view.notes if note.heading == "Normal widened by feedback"
            for line in note.lines]


@pytest.fixture
def store(engine, settings) -> Store:
    return Store(engine, settings)


def test_not_an_anomaly_records_each_line_closes_the_alert_and_is_audited(store):
    anomaly_id = store.first_alert()

    said = store.desk.not_an_anomaly(anomaly_id, user="U1", note="nightly batch")

    [line] = rows(store.engine)
    assert (line.service_name, line.region, line.anomaly_id) == (BEDROCK, "us-east-1",
                                                                 anomaly_id)
    assert line.level_usd == pytest.approx(32.0, rel=0.06)
    assert line.baseline_usd == pytest.approx(20.0, rel=0.06)
    assert [v.id for v in said] == [line.id]
    anomaly = get_anomaly(store.engine, anomaly_id)
    assert anomaly.response == AnomalyResponse.NOT_AN_ANOMALY
    assert anomaly.response_note == "nightly batch"
    assert ("U1", "not_an_anomaly") in audit(store.engine)
    reply = [m.payload["text"] for m in outbox(store.engine, "reply")]
    assert any("Normal widened for Amazon Bedrock · us-east-1 up to $3" in t for t in reply)
    with Session(store.engine) as session:
        view = load_alert_view(db_session=session, anomaly_id=anomaly_id, playbook=None)
    assert view.closed
    assert anomaly_id not in [a.id for a in _open_list(store.engine)]


def _open_list(engine) -> list[Anomaly]:
    from storage.queries.anomalies import anomalies_by_status
    with Session(engine) as session:
        return list(anomalies_by_status(db_session=session))


def test_a_repeated_click_changes_nothing(store):
    anomaly_id = store.first_alert()
    store.desk.not_an_anomaly(anomaly_id, user="U1")

    with pytest.raises(NothingChanged, match="U1 already said"):
        store.desk.not_an_anomaly(anomaly_id, user="U2", note="again")

    assert len(rows(store.engine)) == 1
    assert [a for a in audit(store.engine) if a[1] == "not_an_anomaly"] == [
        ("U1", "not_an_anomaly")]


def test_only_who_may_act_may_say_it_and_a_long_note_is_refused(store):
    anomaly_id = store.first_alert()
    with pytest.raises(NotAllowed, match="team-support"):
        store.desk.not_an_anomaly(anomaly_id, user="U9", channel="C0DATA")
    with pytest.raises(ResponseError, match="limit is 500"):
        store.desk.not_an_anomaly(anomaly_id, user="U1", note="x" * 501)
    assert rows(store.engine) == []
    assert get_anomaly(store.engine, anomaly_id).response == AnomalyResponse.NONE


def test_the_same_rise_later_is_normal_a_bigger_one_alerts_and_names_the_feedback(store):
    anomaly_id = store.first_alert()
    [said] = store.desk.not_an_anomaly(anomaly_id, user="U1", note="nightly batch")

    assert store.until(11 * DAY, rise(BEDROCK, 10, 32.0)) == []  # the same size: normal now
    opened = store.until(13 * DAY, rise(BEDROCK, 12, 60.0))  # nearly twice that: an alert

    assert [i.contributors[0].service for i in opened] == [BEDROCK]
    [line] = note_lines(store.engine, opened[0].id)
    assert line == (f"Amazon Bedrock · us-east-1 up to ${said.level_usd:,.2f}/h "
                    f"(#{said.id} by @U1 on {datetime.now(UTC):%Y-%m-%d}: 'nightly batch'). "
                    f"Undo: /cost feedback undo {said.id}")


def test_without_feedback_the_same_rise_alerts_again(store):
    """The control for the test above: the rise on day 10 is news without feedback."""
    store.first_alert()
    opened = store.until(11 * DAY, rise(BEDROCK, 10, 32.0))
    assert [i.contributors[0].service for i in opened] == [BEDROCK]
    assert note_lines(store.engine, opened[0].id) == []


def test_undo_restores_the_alert_from_the_next_poll(store):
    anomaly_id = store.first_alert()
    [said] = store.desk.not_an_anomaly(anomaly_id, user="U1")

    undone = store.desk.undo_feedback(said.id, user="U2")

    assert undone.undone_by == "U2"
    assert ("U2", "feedback_undone") in audit(store.engine)
    opened = store.until(11 * DAY, rise(BEDROCK, 10, 32.0))
    assert [i.contributors[0].service for i in opened] == [BEDROCK]
    assert note_lines(store.engine, opened[0].id) == []
    [first_note] = note_lines(store.engine, anomaly_id)
    assert "undone by @U2" in first_note
    with pytest.raises(NothingChanged, match="already undone by U2"):
        store.desk.undo_feedback(said.id, user="U1")


def test_a_rise_on_another_line_of_the_workload_still_alerts(store):
    anomaly_id = store.first_alert()
    store.desk.not_an_anomaly(anomaly_id, user="U1")

    opened = store.until(11 * DAY, rise(CLOUDWATCH, 10, 30.0))

    assert [i.contributors[0].service for i in opened] == [CLOUDWATCH]
    assert len(note_lines(store.engine, opened[0].id)) == 1  # judged with the feedback


def test_feedback_is_listed_and_undone_in_chat_within_the_channel_scope(store):
    anomaly_id = store.first_alert()
    [said] = store.desk.not_an_anomaly(anomaly_id, user="U1", note="nightly batch")
    from bot.costs.views import format_plain

    listed = format_plain(store.desk.cost("feedback", user="U1", channel="C0SUPPORT"))
    assert f"#{said.id} agent · prod · Amazon Bedrock · us-east-1: normal up to $3" in listed
    assert f"Undo: /cost feedback undo {said.id}" in listed
    elsewhere = format_plain(store.desk.cost("feedback", user="U1", channel="C0DATA"))
    assert elsewhere.startswith("No feedback in effect")
    with pytest.raises(NotAllowed):
        store.desk.cost(f"feedback undo {said.id}", user="U9", channel="C0DATA")
    with pytest.raises(ResponseError, match="'twelve' is not a feedback id"):
        store.desk.cost("feedback undo twelve", user="U1", channel="C0SUPPORT")
    with pytest.raises(ResponseError, match="feedback #999 does not exist"):
        store.desk.cost("feedback undo 999", user="U1", channel="C0SUPPORT")

    undone = format_plain(store.desk.cost(f"feedback undo #{said.id}", user="U1",
                                          channel="C0SUPPORT"))

    assert undone.startswith(f"Undid feedback #{said.id}: Amazon Bedrock · us-east-1")
    assert format_plain(store.desk.cost("feedback", user="U1", channel=None)).startswith(
        "No feedback in effect")
