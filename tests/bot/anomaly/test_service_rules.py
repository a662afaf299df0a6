"""The domain's rules for actions: who may act or see, each action applies once, form limits."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlmodel import Session, select

from bot.anomaly import service as responses
from bot.anomaly import walk as walks
from bot.anomaly.access import NotAllowed, NothingChanged, may_act, may_see, visible_owners
from bot.anomaly.service import ResponseError, default_playbook
from bot.playbook import StepError
from bot.settings import EscalationSettings, RoutingSettings, Settings
from storage.db import session_scope
from storage.models import Anomaly, AuditLog, OutboxMessage
from storage.queries import outbox

NOW = datetime(2026, 9, 1, 9, 0, tzinfo=UTC)
FINOPS, SUPPORT, DATA = "C0FINOPS", "C0SUPPORT", "C0DATA"
ROUTING = RoutingSettings(default_channel=FINOPS,
                          owners={"team-support": SUPPORT, "team-data": DATA},
                          responders={"team-data": ["U0DATA"]}, finops=["U0FIN"])


@pytest.mark.parametrize(("user", "owner", "channel", "act", "see"), [
    ("U0ANY", "team-support", SUPPORT, True, True),    # no responders: the owner's channel
    ("U0ANY", "team-support", FINOPS, True, True),     # ... or the FinOps channel
    ("U0ANY", "team-support", DATA, False, False),     # not another team's channel
    ("U0ANY", "team-support", None, True, True),       # the local console
    ("U0DATA", "team-data", SUPPORT, True, True),      # a listed responder, from anywhere
    ("U0ANY", "team-data", DATA, False, True),         # not listed: may see, may not act
    ("U0ANY", "team-data", SUPPORT, False, False),
    ("U0FIN", "team-data", SUPPORT, True, True),       # FinOps: everything
])
def test_who_may_act_and_see(user, owner, channel, act, see):
    assert may_act(ROUTING, user=user, owner=owner, channel=channel) is act
    assert may_see(ROUTING, user=user, owner=owner, channel=channel) is see


def test_app_home_shows_a_users_teams():
    assert visible_owners(ROUTING, user="U0FIN") is None
    assert visible_owners(ROUTING, user="U0DATA") == {"team-data"}
    assert visible_owners(ROUTING, user="U0ANY") == set()
    assert visible_owners(RoutingSettings(), user="U0ANY") is None


@pytest.fixture
def rules(settings: Settings) -> Settings:
    return settings.model_copy(update={
        "routing": ROUTING, "escalation": EscalationSettings(channel="C0ESCALATE")})


@pytest.fixture
def anomaly_id(engine, rules) -> int:
    with session_scope(engine) as session:
        row = Anomaly(project="support-agent", environment="prod", owner="team-support",
                      phase="run", kind="spike", started_at=NOW, detected_at=NOW,
                      last_seen_at=NOW, expected_cost=10, actual_cost=30, impact_usd=20,
                      evidence={})
        session.add(row)
        session.flush()
        outbox.create_alert(db_session=session, anomaly_id=int(row.id), platform="slack",
                            channel=SUPPORT, now=NOW)
        return int(row.id)


def _act(engine, action, **kwargs):
    with session_scope(engine) as session:
        return action(db_session=session, now=NOW, **kwargs)


def _audit(engine) -> list[str]:
    with Session(engine) as session:
        return [a.action for a in session.exec(select(AuditLog).order_by(AuditLog.id)).all()]


def _queued(engine, operation: str) -> list[OutboxMessage]:
    with Session(engine) as session:
        return list(session.exec(select(OutboxMessage).where(
            OutboxMessage.operation == operation)).all())


@pytest.mark.parametrize(("action", "extra", "audit"), [
    (responses.acknowledge, {}, "acknowledged"),
    (responses.snooze, {"hours": 4}, "snoozed"),
    (responses.mark_expected, {"reason": "Planned load test until Friday"}, "expected"),
    (responses.escalate, {}, "escalated"),
])
def test_an_action_repeated_changes_nothing(engine, rules, anomaly_id, action, extra, audit):
    kwargs = {"settings": rules, "anomaly_id": anomaly_id, "user": "U0ANY",
              "channel": SUPPORT, **extra}
    _act(engine, action, **kwargs)
    with pytest.raises(NothingChanged, match="nothing changed"):
        _act(engine, action, **kwargs)
    assert _audit(engine) == [audit]
    assert len(_queued(engine, "reply")) == 1
    notices = _queued(engine, "notice")
    assert len(notices) == (1 if action is responses.escalate else 0)
    assert all(n.channel == "C0ESCALATE" for n in notices)


def test_a_longer_snooze_extends_a_shorter_one_and_a_shorter_one_changes_nothing(
        engine, rules, anomaly_id):
    kwargs = {"settings": rules, "anomaly_id": anomaly_id, "user": "U0ANY", "channel": SUPPORT}
    _act(engine, responses.snooze, hours=4, **kwargs)
    with pytest.raises(NothingChanged, match="already snoozed until"):
        _act(engine, responses.snooze, hours=1, **kwargs)
    _act(engine, responses.snooze, hours=24, **kwargs)
    assert _audit(engine) == ["snoozed", "snoozed"]
    with Session(engine) as session:
        until = session.get(Anomaly, anomaly_id).snoozed_until.replace(tzinfo=UTC)
    assert until == NOW + timedelta(hours=24)


def test_someone_from_another_teams_channel_may_not_act(engine, rules, anomaly_id):
    for action, extra in ((responses.acknowledge, {}), (responses.escalate, {}),
                          (responses.snooze, {"hours": 1})):
        with pytest.raises(NotAllowed, match="belongs to team-support"):
            _act(engine, action, settings=rules, anomaly_id=anomaly_id, user="U0ANY",
                 channel=DATA, **extra)
    assert _audit(engine) == [] and _queued(engine, "reply") == []


def test_the_runbook_is_shown_only_to_those_who_may_see_it(engine, rules, anomaly_id):
    with Session(engine) as session:
        title, entries = responses.load_runbook(db_session=session, settings=rules,
                                                anomaly_id=anomaly_id, user="U0ANY",
                                                channel=SUPPORT)
        assert title == "support-agent · prod" and entries == []
        with pytest.raises(NotAllowed, match="runbook belongs to team-support"):
            responses.load_runbook(db_session=session, settings=rules, anomaly_id=anomaly_id,
                                   user="U0ANY", channel=DATA)
        responses.load_runbook(db_session=session, settings=rules, anomaly_id=anomaly_id,
                               user="U0FIN", channel=DATA)


@pytest.mark.parametrize(("reason", "message"), [
    ("x" * 501, "501 characters; the limit is 500"),
    ("&" * 5000, "5,000 characters; the limit is 500"),
    ("ok", "why this spend is expected"),
])
def test_an_expected_reason_outside_the_forms_limits_is_refused(engine, rules, anomaly_id,
                                                                reason, message):
    with pytest.raises(ResponseError, match=message):
        _act(engine, responses.mark_expected, settings=rules, anomaly_id=anomaly_id,
             user="U0ANY", channel=SUPPORT, reason=reason)
    with Session(engine) as session:
        assert session.get(Anomaly, anomaly_id).response == "none"
    assert _audit(engine) == []


def _owner_step(engine, rules, anomaly_id, values):
    playbook = default_playbook(rules)
    with session_scope(engine) as session:
        walks.open_step(db_session=session, settings=rules, playbook=playbook,
                            anomaly_id=anomaly_id, user="U0ANY", now=NOW, channel=SUPPORT)
    with session_scope(engine) as session:
        return walks.submit_step(db_session=session, settings=rules, playbook=playbook,
                                     anomaly_id=anomaly_id, step_id="owner", values=values,
                                     user="U0ANY", now=NOW, channel=SUPPORT)


def test_a_step_saved_twice_with_the_same_answers_is_recorded_once(engine, rules, anomaly_id):
    values = {"owner": "U0ANY", "team": "team-support"}
    step = default_playbook(rules).step("owner")
    values = {f.id: values.get(f.id, "answered") for f in step.fields}
    first = _owner_step(engine, rules, anomaly_id, values)
    again = _owner_step(engine, rules, anomaly_id, values)
    assert again == first
    assert _audit(engine) == ["playbook_started", "playbook_step"]
    assert len(_queued(engine, "reply")) == 2


def test_a_step_answer_over_the_fields_limit_is_refused(engine, rules, anomaly_id):
    step = default_playbook(rules).step("what_changed")
    text = next(f for f in step.fields if getattr(f, "max_length", None))
    values: dict[str, object] = {"change": "deployment"}
    values[text.id] = "x" * (text.max_length + 1)
    playbook = default_playbook(rules)
    with pytest.raises(StepError) as refused, session_scope(engine) as session:
        walks.open_step(db_session=session, settings=rules, playbook=playbook,
                            anomaly_id=anomaly_id, user="U0ANY", now=NOW, channel=SUPPORT)
        walks.submit_step(db_session=session, settings=rules, playbook=playbook,
                               anomaly_id=anomaly_id, step_id="what_changed", values=values,
                               user="U0ANY", now=NOW, channel=SUPPORT)
    assert f"{text.max_length} or fewer" in refused.value.errors[text.id]
