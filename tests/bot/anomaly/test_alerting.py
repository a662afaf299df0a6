"""What people see after a detection pass, and when nobody answers: posts, updates, escalation."""

from __future__ import annotations

from datetime import timedelta

import pandas as pd
import pytest

from bot.anomaly.alerting import queue_escalations, queue_news, reopen
from bot.anomaly.lifecycle import Incident, LifecycleEvent
from bot.anomaly.poll import PollResult
from bot.settings import Settings
from storage.db import session_scope
from storage.queries import outbox as outbox_q
from tests.support.anomalies import (
    DATA,
    ESCALATE,
    NOW,
    SUPPORT,
    add_anomaly,
    get_anomaly,
    outbox,
    with_routing,
)

BOTH = ("slack", "console")


@pytest.fixture
def database_url(sqlite_url: str) -> str:
    return sqlite_url


@pytest.fixture
def rules(settings: Settings) -> Settings:
    return with_routing(settings, ack_minutes=30, escalate_minutes=120)


def incident(anomaly_id: int, *, owner: str = "team-support", worthy: bool = True) -> Incident:
    at = pd.Timestamp(NOW)
    return Incident(id=anomaly_id, project="support-agent", environment="prod", owner=owner,
                    phase="run", kind="spike", started_at=at, detected_at=at,
                    last_elevated_at=at, expected_cost=2.0, actual_cost=20.0, impact_usd=18.0,
                    peak_hourly_usd=22.0, alert_worthy=worthy)


def news(engine, rules, *events: tuple[str, Incident, bool], still_open=()) -> None:
    result = PollResult(events=[LifecycleEvent(kind, inc, alert) for kind, inc, alert in events],
                        open=list(still_open), judged_hours=1)
    with session_scope(engine) as session:
        queue_news(db_session=session, settings=rules, result=result, platforms=BOTH, now=NOW)


def sent(engine) -> list[tuple[str, str, str]]:
    return [(m.platform, m.operation, m.channel) for m in outbox(engine)]


def replies(engine) -> list[str]:
    return [m.payload["text"] for m in outbox(engine, "reply")]


# -- queue_news ------------------------------------------------------------------------------


def test_a_new_anomaly_is_posted_with_its_chart_on_every_platform_once(engine, rules):
    anomaly_id = add_anomaly(engine, owner="team-data", platforms=())
    opened = incident(anomaly_id, owner="team-data")
    news(engine, rules, ("opened", opened, True), still_open=[opened])
    news(engine, rules, still_open=[opened])  # the next pass: still going on
    assert sent(engine) == [("slack", "post", DATA), ("slack", "chart", DATA),
                            ("console", "post", DATA), ("console", "chart", DATA)]


def test_an_anomaly_not_worth_an_alert_is_not_posted(engine, rules):
    anomaly_id = add_anomaly(engine, platforms=())
    quiet = incident(anomaly_id, worthy=False)
    news(engine, rules, ("opened", quiet, False), still_open=[quiet])
    assert sent(engine) == []


def test_an_open_anomaly_detected_elsewhere_is_posted_late(engine, rules):
    anomaly_id = add_anomaly(engine, platforms=("slack",))  # posted on Slack already
    news(engine, rules, still_open=[incident(anomaly_id)])
    assert sent(engine) == [("console", "post", SUPPORT), ("console", "chart", SUPPORT)]


def test_growth_updates_the_alert_in_place_without_a_reply(engine, rules):
    anomaly_id = add_anomaly(engine, platforms=BOTH)
    news(engine, rules, ("updated", incident(anomaly_id), True))
    assert sent(engine) == [("slack", "update", SUPPORT), ("console", "update", SUPPORT)]


def test_an_anomaly_that_opened_and_ended_in_one_pass_is_posted_and_told_so(engine, rules):
    anomaly_id = add_anomaly(engine, platforms=())
    brief = incident(anomaly_id)
    news(engine, rules, ("opened", brief, True), ("resolved", brief, True))
    assert [op for _, op, _ in sent(engine)] == ["post", "chart", "post", "chart",
                                                 "update", "reply", "update", "reply"]
    assert replies(engine) == ["Spend is back to normal; the anomaly resolved itself."] * 2


def test_a_flare_after_people_resolved_it_needs_people_again(engine, rules):
    anomaly_id = add_anomaly(engine, response="resolved", response_by="U0ANY",
                             reminded_at=NOW, escalated_at=NOW)
    news(engine, rules, ("reopened", incident(anomaly_id), True))
    anomaly = get_anomaly(engine, anomaly_id)
    assert (anomaly.response, anomaly.response_by) == ("none", None)
    assert anomaly.reminded_at is None and anomaly.escalated_at is None
    assert replies(engine) == [
        "Spend rose again after this was resolved; it needs a look (same incident)."]
    # so the reminders start again
    with session_scope(engine) as session:
        assert queue_escalations(db_session=session, settings=rules,
                                 now=NOW + timedelta(hours=3)) == 2


def test_a_flare_while_people_are_on_it_keeps_their_response(engine, rules):
    anomaly_id = add_anomaly(engine, response="investigating", response_by="U0ANY")
    with session_scope(engine) as session:
        reopen(db_session=session, anomaly_id=anomaly_id, now=NOW)
    assert get_anomaly(engine, anomaly_id).response == "investigating"
    assert replies(engine) == ["Spend rose again soon after it had settled; same incident."]


# -- queue_escalations -----------------------------------------------------------------------


def escalations(engine, rules, minutes: int) -> int:
    with session_scope(engine) as session:
        return queue_escalations(db_session=session, settings=rules,
                                 now=NOW + timedelta(minutes=minutes))


def test_an_unanswered_alert_is_reminded_then_escalated_once_each(engine, rules):
    anomaly_id = add_anomaly(engine)
    assert escalations(engine, rules, 29) == 0
    assert escalations(engine, rules, 30) == 1
    assert escalations(engine, rules, 119) == 0  # reminded already
    assert replies(engine) == [
        "Reminder for team-support: nobody has acknowledged this anomaly for 30 minutes."]
    assert escalations(engine, rules, 120) == 1
    assert escalations(engine, rules, 600) == 0
    (notice,) = outbox(engine, "notice")
    assert notice.channel == ESCALATE and notice.payload["link_alert"] is True
    assert notice.payload["text"].endswith("not acknowledged for 120 minutes")
    assert replies(engine)[-1] == "Escalated to the FinOps channel: not acknowledged in time."
    assert get_anomaly(engine, anomaly_id).escalated_at is not None


def test_a_long_silence_reminds_and_escalates_in_one_round(engine, rules):
    add_anomaly(engine)
    assert escalations(engine, rules, 200) == 2
    assert len(outbox(engine, "notice")) == 1


def test_the_wait_counts_from_the_latest_post(engine, rules):
    anomaly_id = add_anomaly(engine, platforms=("slack",))
    with session_scope(engine) as session:  # posted on the console 20 minutes later
        outbox_q.create_alert(db_session=session, anomaly_id=anomaly_id, platform="console",
                              channel=SUPPORT, now=NOW + timedelta(minutes=20))
    assert escalations(engine, rules, 40) == 0
    assert escalations(engine, rules, 50) == 1


def test_nobody_is_reminded_of_what_was_answered_or_never_posted(engine, rules):
    add_anomaly(engine, response="acknowledged", response_by="U0ANY")
    add_anomaly(engine, response="expected", response_by="U0ANY")
    add_anomaly(engine, platforms=())  # not posted anywhere yet
    add_anomaly(engine, status="auto-resolved")
    add_anomaly(engine, snoozed_until=NOW + timedelta(days=1))
    assert escalations(engine, rules, 600) == 0
    assert outbox(engine) == []
