"""Planned spend: which anomalies a plan holds, the envelope, and what people see."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pandas as pd
import pytest
from sqlmodel import Session, select

from bot.anomaly.access import NotAllowed, NothingChanged
from bot.anomaly.alerting import queue_news
from bot.anomaly.lifecycle import Incident, LifecycleEvent
from bot.anomaly.notes import alert_notes
from bot.anomaly.plans import (
    IncidentFacts,
    PlanError,
    add_plan,
    check_may_plan,
    judge,
    list_plans,
    parse_moment,
    plan_note,
    remove_plan,
)
from bot.anomaly.poll import PollResult
from bot.settings import Settings
from storage.db import session_scope
from storage.models import AuditLog, Plan
from tests.support.anomalies import (
    NOW,
    ROUTING,
    SUPPORT,
    add_anomaly,
    audit,
    get_anomaly,
    outbox,
    with_routing,
)

DAY = timedelta(days=1)
HOUR = timedelta(hours=1)


@pytest.fixture
def database_url(sqlite_url: str) -> str:
    return sqlite_url


@pytest.fixture
def rules(settings: Settings) -> Settings:
    return with_routing(settings)


def plan(pid: int = 1, *, amount: float = 100.0, environment: str = "prod", service: str = "",
         starts: datetime = NOW - DAY, ends: datetime = NOW + DAY,
         removed: datetime | None = None) -> Plan:
    return Plan(id=pid, project="support-agent", environment=environment, service_name=service,
                amount_usd=amount, starts_at=starts, ends_at=ends, created_by="U0FIN",
                created_at=starts, removed_at=removed, removed_by="U0FIN" if removed else None)


FACTS = IncidentFacts(project="support-agent", environment="prod", service="AmazonCloudWatch",
                      started_at=NOW, ended_at=NOW + 3 * HOUR, impact_usd=60.0)


@pytest.mark.parametrize(("the_plan", "held"), [
    (plan(), True),
    (plan(environment="*"), True),
    (plan(service="AmazonCloudWatch"), True),
    (plan(environment="staging"), False),
    (plan(service="AmazonEC2"), False),
    (plan(starts=NOW + HOUR), False),  # the incident began before the plan
    (plan(ends=NOW + 2 * HOUR), False),  # it outlasted the plan
    (plan(ends=NOW + 3 * HOUR), True),  # its last hour ends as the plan does
    (plan(removed=NOW - HOUR), False),
], ids=["same workload", "every environment", "same service", "other environment",
        "other service", "starts later", "ends sooner", "ends with it", "removed"])
def test_a_plan_holds_an_incident_only_within_its_scope_and_dates(the_plan, held):
    decision = judge([the_plan], {}, FACTS)
    assert (decision is not None) is held


def test_within_the_envelope_the_incident_is_covered_and_beyond_it_exceeded_by_the_excess():
    assert judge([plan(amount=100)], {}, FACTS).covered
    over = judge([plan(amount=100)], {1: 70.0}, FACTS)  # another incident used 70 of it
    assert not over.covered
    assert over.exceeded_by == pytest.approx(30.0)
    assert over.used_usd == pytest.approx(130.0)


def test_a_plan_with_room_wins_over_one_the_incident_would_exceed():
    small, big = plan(1, amount=10), plan(2, amount=1000)
    assert judge([small, big], {}, FACTS).plan is big
    assert judge([small, plan(3, amount=20)], {}, FACTS).plan.id == 3  # exceeded the least


# -- adding and removing ---------------------------------------------------------------------


def add(session: Session, **terms: object) -> Plan:
    values = {"project": "support-agent", "environment": "prod", "amount_usd": 500.0,
              "ends_at": NOW + 7 * DAY, "actor": "U0FIN", "now": NOW, **terms}
    return add_plan(db_session=session, **values)


@pytest.mark.parametrize(("terms", "says"), [
    ({"amount_usd": 0.0}, "more than 0"),
    ({"amount_usd": float("nan")}, "more than 0"),
    ({"ends_at": NOW - HOUR, "starts_at": NOW - DAY}, "has passed"),
    ({"starts_at": NOW + 2 * DAY, "ends_at": NOW + DAY}, "before it starts"),
    ({"ends_at": NOW + 91 * DAY}, "at most 90 days"),
])
def test_a_plan_without_a_proper_envelope_or_end_is_refused_with_what_to_do(engine, terms, says):
    with session_scope(engine) as session, pytest.raises(PlanError, match=says):
        add(session, **terms)
    assert audit(engine) == []


def test_adding_and_removing_are_audited_and_a_removed_plan_is_kept(engine):
    with session_scope(engine) as session:
        plan_id = int(add(session, reason="backfill").id)
    assert plan_id > 0
    with session_scope(engine) as session:
        remove_plan(db_session=session, plan_id=plan_id, actor="U0DATA", now=NOW + HOUR)
    with session_scope(engine) as session, pytest.raises(NothingChanged, match="U0DATA"):
        remove_plan(db_session=session, plan_id=plan_id, actor="U0FIN", now=NOW + DAY)
    with session_scope(engine) as session, pytest.raises(PlanError, match="no plan #99"):
        remove_plan(db_session=session, plan_id=99, actor="U0FIN", now=NOW)
    assert audit(engine) == [("U0FIN", "plan.added"), ("U0DATA", "plan.removed")]
    with Session(engine) as session:
        kept = session.get(Plan, plan_id)
        assert kept.removed_by == "U0DATA"
        detail = session.exec(select(AuditLog)).first().detail
    assert detail["reason"] == "backfill" and detail["amount_usd"] == 500.0
    with session_scope(engine) as session:
        assert list_plans(db_session=session, now=NOW + 2 * HOUR) == []
        assert len(list_plans(db_session=session, now=NOW, everything=True)) == 1


def test_a_plan_expires_on_its_own(engine):
    with session_scope(engine) as session:
        add(session, ends_at=NOW + DAY)
    with session_scope(engine) as session:
        assert len(list_plans(db_session=session, now=NOW + DAY - HOUR)) == 1
        assert list_plans(db_session=session, now=NOW + DAY) == []


def test_who_may_plan_is_who_may_act_on_the_workloads_alerts():
    check_may_plan(ROUTING, user="U0FIN", owners=set(), channel="C0ANY")  # FinOps: anything
    check_may_plan(ROUTING, user="U0DATA", owners={"team-data"}, channel=None)
    check_may_plan(ROUTING, user="U0ANY", owners={"team-support"}, channel=SUPPORT)
    with pytest.raises(NotAllowed, match="responders of team-data"):
        check_may_plan(ROUTING, user="U0ANY", owners={"team-data"}, channel="C0DATA")
    with pytest.raises(NotAllowed, match="team-support"):
        check_may_plan(ROUTING, user="U0ANY", owners={"team-support"}, channel="C0ELSE")
    with pytest.raises(PlanError, match="only FinOps"):
        check_may_plan(ROUTING, user="U0ANY", owners=set(), channel=SUPPORT)


def test_dates_are_iso_in_utc_and_a_bare_until_date_includes_that_day():
    assert parse_moment("2026-12-05") == datetime(2026, 12, 5, tzinfo=UTC)
    assert parse_moment("2026-12-05", end_of_day=True) == datetime(2026, 12, 6, tzinfo=UTC)
    assert parse_moment("2026-12-05T18:00") == datetime(2026, 12, 5, 18, tzinfo=UTC)
    assert parse_moment("2026-12-05T18:00+01:00") == datetime(2026, 12, 5, 17, tzinfo=UTC)
    with pytest.raises(PlanError, match="2026-12-05T18:00"):
        parse_moment("next friday")


# -- what a detection pass does with plans ---------------------------------------------------


def incident(anomaly_id: int, impact: float) -> Incident:
    at = pd.Timestamp(NOW)
    return Incident(id=anomaly_id, project="support-agent", environment="prod",
                    owner="team-support", phase="run", kind="spike", started_at=at,
                    detected_at=at, last_elevated_at=at, expected_cost=2.0, actual_cost=20.0,
                    impact_usd=impact, peak_hourly_usd=22.0, alert_worthy=True)


def opened(engine, rules, anomaly_id: int, impact: float) -> None:
    found = incident(anomaly_id, impact)
    result = PollResult([LifecycleEvent("opened", found, True)], [found], 1)
    with session_scope(engine) as session:
        queue_news(db_session=session, settings=rules, result=result, platforms=("slack",),
                   now=NOW)


def posts(engine) -> list[int]:
    return [m.alert_id for m in outbox(engine, "post")]


def test_inside_the_envelope_no_alert_fires_and_the_anomaly_says_which_plan_held_it(
        engine, rules):
    with session_scope(engine) as session:
        plan_id = int(add(session, amount_usd=50.0, reason="backfill",
                          starts_at=NOW - DAY).id)
    first = add_anomaly(engine, platforms=(), impact_usd=18.0)
    opened(engine, rules, first, 18.0)

    assert posts(engine) == []
    evidence = get_anomaly(engine, first).evidence
    assert (evidence["plan_id"], evidence["plan_covered"]) == (plan_id, True)
    assert evidence["contributors"]  # the detector's evidence is kept
    with session_scope(engine) as session:
        note = plan_note(session, get_anomaly(engine, first))
        [use] = list_plans(db_session=session, now=NOW)
    assert note.heading.startswith(f"Planned: backfill (plan #{plan_id}, $50 until ")
    assert note.heading.endswith("within the envelope")
    assert (use.used_usd, use.left_usd, use.anomalies) == (18.0, 32.0, 1)


def test_beyond_the_envelope_the_alert_fires_and_says_by_how_much(engine, rules):
    with session_scope(engine) as session:
        plan_id = int(add(session, amount_usd=50.0, reason="backfill",
                          starts_at=NOW - DAY).id)
    first = add_anomaly(engine, platforms=(), impact_usd=18.0)
    opened(engine, rules, first, 18.0)
    second = add_anomaly(engine, platforms=(), impact_usd=40.0)
    opened(engine, rules, second, 40.0)
    opened(engine, rules, second, 40.0)  # the next pass: still exceeded, audited once

    assert len(posts(engine)) == 1
    exceeded = get_anomaly(engine, second)
    assert exceeded.evidence["plan_exceeded_usd"] == pytest.approx(8.0)
    with session_scope(engine) as session:
        notes = alert_notes(session, exceeded)
    assert [n.heading for n in notes] == [
        f"Planned: backfill (plan #{plan_id}, $50 until Sep 8 09:00 UTC) — exceeded by $8.00"]
    assert audit(engine).count(("spendwatch", "plan.exceeded")) == 1


def test_without_a_plan_or_after_removing_it_the_alert_fires(engine, rules):
    with session_scope(engine) as session:
        plan_id = int(add(session, amount_usd=500.0, starts_at=NOW - DAY).id)
    held = add_anomaly(engine, platforms=())
    opened(engine, rules, held, 18.0)
    assert posts(engine) == []
    with session_scope(engine) as session:
        remove_plan(db_session=session, plan_id=plan_id, actor="U0FIN", now=NOW)
    opened(engine, rules, held, 18.0)
    assert len(posts(engine)) == 1
    assert "plan_id" not in get_anomaly(engine, held).evidence


def test_cost_anomalies_says_which_plan_holds_each_anomaly(engine, rules):
    from bot.costs.command import Scope, respond
    from bot.costs.views import format_plain

    with session_scope(engine) as session:
        plan_id = int(add(session, amount_usd=50.0, starts_at=NOW - DAY).id)
    held = add_anomaly(engine, platforms=(), impact_usd=18.0)
    opened(engine, rules, held, 18.0)
    over = add_anomaly(engine, platforms=(), impact_usd=40.0)
    opened(engine, rules, over, 40.0)

    text = format_plain(respond("anomalies", connection_or_engine=engine,
                                scope=Scope.everything()))
    lines = {int(line.split("#")[1].split()[0]): line for line in text.splitlines()
             if line.startswith("• #")}
    assert lines[held].endswith(f"inside plan #{plan_id}: not alerted")
    assert lines[over].endswith(f"past plan #{plan_id} by $8.00")


# -- marking an alert expected makes a plan --------------------------------------------------


def test_marking_expected_makes_a_linked_plan_that_keeps_the_same_spend_quiet(engine, rules):
    from bot.anomaly.plans import ExpectedScope, expected_defaults
    from bot.anomaly.service import mark_expected

    first = add_anomaly(engine, platforms=("slack",), impact_usd=18.0)
    offered = expected_defaults(get_anomaly(engine, first), NOW)
    assert (offered.scope, offered.envelope_usd, offered.ends_at, offered.service) == (
        ExpectedScope.WORKLOAD, 36.0, NOW + 7 * DAY, "AmazonCloudWatch")
    with session_scope(engine) as session:
        mark_expected(db_session=session, settings=rules, anomaly_id=first, user="U0ANY",
                      reason="quarterly load test", now=NOW, channel=SUPPORT, plan=offered)
    with Session(engine) as session:
        [made] = session.exec(select(Plan)).all()
    assert (made.anomaly_id, made.amount_usd, made.service_name, made.created_by) == (
        first, 36.0, "", "U0ANY")
    assert made.starts_at.replace(tzinfo=UTC) == NOW  # from the anomaly's start
    assert [a for _, a in audit(engine)] == ["plan.added", "expected"]
    assert any("plan #1: up to $36 above normal" in m.payload.get("text", "")
               for m in outbox(engine, "reply"))

    opened(engine, rules, first, 18.0)
    again = add_anomaly(engine, platforms=(), impact_usd=10.0)
    opened(engine, rules, again, 10.0)
    assert posts(engine) == []  # 18 + 10 of 36: inside the envelope
    third = add_anomaly(engine, platforms=(), impact_usd=20.0)
    opened(engine, rules, third, 20.0)
    assert get_anomaly(engine, third).evidence["plan_exceeded_usd"] == pytest.approx(12.0)


def test_expected_plan_from_a_form_names_the_box_that_is_wrong():
    from bot.anomaly.plans_chat import expected_plan_from

    later = f"{datetime.now(UTC) + 3 * DAY:%Y-%m-%d}"
    asked = expected_plan_from("service", "$2k", later, service="AmazonEC2")
    assert (asked.scope, asked.envelope_usd, asked.service) == ("service", 2000.0, "AmazonEC2")
    for typed, field in ((("all", "10", later), "scope"), (("", "-5", later), "envelope"),
                         (("", "10", "soon"), "until"), (("", "10", "2020-01-01"), "until")):
        with pytest.raises(PlanError) as refused:
            expected_plan_from(*typed)
        assert refused.value.field == field
