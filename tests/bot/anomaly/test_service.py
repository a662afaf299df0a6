"""What people do about an anomaly, against a real store: who may act, each action, the walk."""

from __future__ import annotations

from datetime import timedelta

import pytest

from bot.anomaly import service
from bot.anomaly import walk as walks
from bot.anomaly.alerting import queue_escalations
from bot.anomaly.service import NotAllowed, NothingChanged, ResponseError
from bot.playbook import StepError
from bot.settings import Settings
from storage.db import make_engine, session_scope, upgrade
from tests.support.anomalies import (
    DATA,
    ESCALATE,
    FINOPS,
    NOW,
    PLAYBOOKS,
    SUPPORT,
    add_anomaly,
    audit,
    aware,
    get_anomaly,
    outbox,
    with_routing,
)

# answers that pass every step of the shipped default playbook, in order
WALK = [
    ("owner", {"owner": "U0ALICE", "note": "on call this week"}),
    ("what_changed", {"change": "logging", "note": "debug logging left on after a deploy"}),
    ("stabilise", {"lever": "other", "action": "log level back to INFO"}),
    ("review", {"checks": {"checked": ["guardrail", "limits", "logging"],
                           "reason": "the rest by Friday, Alice follows up"}}),
    ("document", {"root_cause": "Debug logging shipped to prod", "fix": "INFO level",
                  "prevention": "Lint the log level in CI"}),
]


@pytest.fixture
def database_url(sqlite_url: str) -> str:
    """SQLite here (each test migrates a store); the walk runs once on PostgreSQL below."""
    return sqlite_url


@pytest.fixture
def rules(settings: Settings) -> Settings:
    return with_routing(settings)


@pytest.fixture
def playbook(rules):
    return service.default_playbook(rules)


def act(engine, action, **kwargs):
    with session_scope(engine) as session:
        return action(db_session=session, now=kwargs.pop("now", NOW), **kwargs)


def thread(engine) -> list[tuple[str, str]]:
    """(actor, text) of each queued thread reply."""
    return [(m.payload.get("actor"), m.payload["text"]) for m in outbox(engine, "reply")]


# -- who may act -----------------------------------------------------------------------------


def test_a_responder_of_the_owner_may_act_from_anywhere(engine, rules):
    anomaly_id = add_anomaly(engine, owner="team-data")
    act(engine, service.acknowledge, settings=rules, anomaly_id=anomaly_id, user="U0DATA",
        channel=SUPPORT)
    anomaly = get_anomaly(engine, anomaly_id)
    assert (anomaly.response, anomaly.response_by) == ("acknowledged", "U0DATA")


def test_someone_not_listed_as_a_responder_is_refused_with_what_to_do(engine, rules):
    anomaly_id = add_anomaly(engine, owner="team-data")
    for action, extra in ((service.acknowledge, {}), (service.snooze, {"hours": 1}),
                          (service.escalate, {}),
                          (service.mark_expected, {"reason": "planned load test"})):
        with pytest.raises(NotAllowed, match="only the responders of team-data") as refused:
            act(engine, action, settings=rules, anomaly_id=anomaly_id, user="U0ANY",
                channel=DATA, **extra)
        assert "routing.responders.team-data" in str(refused.value)
    assert get_anomaly(engine, anomaly_id).response == "none"
    assert audit(engine) == [] and outbox(engine) == []


def test_finops_may_act_on_every_teams_anomaly_from_any_channel(engine, rules):
    data = add_anomaly(engine, owner="team-data")
    support = add_anomaly(engine, owner="team-support")
    act(engine, service.escalate, settings=rules, anomaly_id=data, user="U0FIN",
        channel=SUPPORT)
    act(engine, service.acknowledge, settings=rules, anomaly_id=support, user="U0FIN",
        channel=DATA)
    assert audit(engine) == [("U0FIN", "escalated"), ("U0FIN", "acknowledged")]


def test_the_runbook_of_another_team_is_not_shown(engine, rules, playbook):
    anomaly_id = add_anomaly(engine, owner="team-support")
    walk(engine, rules, playbook, anomaly_id)
    with session_scope(engine) as session:
        title, entries = service.load_runbook(db_session=session, settings=rules,
                                              anomaly_id=anomaly_id, user="U0ANY",
                                              channel=SUPPORT)
        assert title == "support-agent · prod"
        assert [e.root_cause for e in entries] == [
            "Debug logging shipped to prod (changed: Logging (verbosity, retention, ingestion))"]
        with pytest.raises(NotAllowed, match="this runbook belongs to team-support"):
            service.load_runbook(db_session=session, settings=rules, anomaly_id=anomaly_id,
                                 user="U0ANY", channel=DATA)


def test_an_anomaly_that_does_not_exist_is_refused_politely(engine, rules):
    with pytest.raises(ResponseError, match="anomaly 999 does not exist"):
        act(engine, service.acknowledge, settings=rules, anomaly_id=999, user="U0FIN")


# -- acknowledge, snooze, expected, escalate -------------------------------------------------


def test_acknowledge_says_who_and_stops_reminders(engine, rules):
    anomaly_id = add_anomaly(engine, snoozed_until=NOW + timedelta(hours=1))
    act(engine, service.acknowledge, settings=rules, anomaly_id=anomaly_id, user="U0ANY",
        channel=SUPPORT, now=NOW + timedelta(minutes=3))
    anomaly = get_anomaly(engine, anomaly_id)
    assert anomaly.response == "acknowledged" and anomaly.response_by == "U0ANY"
    assert aware(anomaly.response_at) == NOW + timedelta(minutes=3)
    assert anomaly.snoozed_until is None
    assert thread(engine) == [("U0ANY", "acknowledged this anomaly")]
    # nobody is reminded of an acknowledged anomaly, however long it waits
    with session_scope(engine) as session:
        assert queue_escalations(db_session=session, settings=rules,
                                 now=NOW + timedelta(days=2)) == 0


def test_snooze_sets_until_when_and_rejects_other_periods(engine, rules):
    anomaly_id = add_anomaly(engine)
    act(engine, service.snooze, settings=rules, anomaly_id=anomaly_id, user="U0ANY",
        channel=SUPPORT, hours=4)
    assert aware(get_anomaly(engine, anomaly_id).snoozed_until) == NOW + timedelta(hours=4)
    assert thread(engine) == [("U0ANY", "snoozed reminders for 4 h")]
    with pytest.raises(ResponseError, match="snooze for 1, 4, 24 hours, not 3"):
        act(engine, service.snooze, settings=rules, anomaly_id=anomaly_id, user="U0ANY",
            channel=SUPPORT, hours=3)


def test_snoozing_again_later_extends_from_the_new_moment(engine, rules):
    anomaly_id = add_anomaly(engine)
    kwargs = {"settings": rules, "anomaly_id": anomaly_id, "user": "U0ANY", "channel": SUPPORT}
    act(engine, service.snooze, hours=1, **kwargs)
    # a replay within the five-minute window changes nothing
    with pytest.raises(NothingChanged, match="already snoozed until 2026-09-01 10:00 UTC"):
        act(engine, service.snooze, hours=1, now=NOW + timedelta(minutes=4), **kwargs)
    # an hour later, another hour of quiet
    act(engine, service.snooze, hours=1, now=NOW + timedelta(hours=1), **kwargs)
    assert aware(get_anomaly(engine, anomaly_id).snoozed_until) == NOW + timedelta(hours=2)
    assert [action for _, action in audit(engine)] == ["snoozed", "snoozed"]
    assert len(outbox(engine, "reply")) == 2  # the replay told nobody anything


def test_a_snooze_pauses_the_reminder_and_the_escalation(engine, rules):
    anomaly_id = add_anomaly(engine)  # alert posted at NOW; remind after 30, escalate after 120
    act(engine, service.snooze, settings=rules, anomaly_id=anomaly_id, user="U0ANY",
        channel=SUPPORT, hours=4, now=NOW + timedelta(minutes=10))

    def due(minutes: int) -> int:
        with session_scope(engine) as session:
            return queue_escalations(db_session=session, settings=rules,
                                     now=NOW + timedelta(minutes=minutes))

    assert due(3 * 60) == 0  # well past both deadlines, but snoozed
    # the clock restarts when the snooze ends (at 4 h 10 min)
    assert due(4 * 60 + 10 + 29) == 0
    assert due(4 * 60 + 10 + 30) == 1
    assert outbox(engine, "notice") == []
    assert due(4 * 60 + 10 + 120) == 1
    assert [n.channel for n in outbox(engine, "notice")] == [ESCALATE]


@pytest.mark.parametrize(("reason", "kept"), [
    ("  load  ", None),                     # 4 characters once stripped: too short
    ("tests", "tests"),                     # 5: the shortest allowed
    ("x" * 500, "x" * 500),                 # 500: the longest allowed
    ("x" * 501, None),
])
def test_expected_needs_a_reason_of_5_to_500_characters(engine, rules, reason, kept):
    anomaly_id = add_anomaly(engine)
    kwargs = {"settings": rules, "anomaly_id": anomaly_id, "user": "U0ANY", "channel": SUPPORT,
              "reason": reason}
    if kept is None:
        with pytest.raises(ResponseError):
            act(engine, service.mark_expected, **kwargs)
        assert get_anomaly(engine, anomaly_id).response == "none"
        assert audit(engine) == [] and outbox(engine) == []
        return
    act(engine, service.mark_expected, **kwargs)
    anomaly = get_anomaly(engine, anomaly_id)
    assert (anomaly.response, anomaly.response_note) == ("expected", kept)
    assert thread(engine) == [("U0ANY", f"marked this spend as expected: {kept}")]


def test_once_expected_the_form_is_not_offered_again(engine, rules):
    anomaly_id = add_anomaly(engine)
    kwargs = {"settings": rules, "anomaly_id": anomaly_id, "user": "U0ANY", "channel": SUPPORT}
    with session_scope(engine) as session:
        service.check_may_mark_expected(db_session=session, **kwargs)
    act(engine, service.mark_expected, reason="Planned load test", **kwargs)
    with pytest.raises(NothingChanged, match="already marked expected by U0ANY"), \
            session_scope(engine) as session:
        service.check_may_mark_expected(db_session=session, **kwargs)
    assert get_anomaly(engine, anomaly_id).response_note == "Planned load test"


def test_escalate_posts_once_in_the_escalation_channel(engine, rules):
    anomaly_id = add_anomaly(engine)
    kwargs = {"settings": rules, "anomaly_id": anomaly_id, "user": "U0ANY", "channel": SUPPORT}
    act(engine, service.escalate, **kwargs)
    with pytest.raises(NothingChanged, match="already escalated \\(2026-09-01 09:00 UTC\\)"):
        act(engine, service.escalate, now=NOW + timedelta(hours=1), **kwargs)
    notices = outbox(engine, "notice")
    assert [(n.channel, n.payload["text"]) for n in notices] == [(
        ESCALATE, "Escalated spend anomaly on support-agent · prod (owner team-support): "
                  "escalated by U0ANY")]
    assert thread(engine) == [("U0ANY", f"escalated to the FinOps channel ({ESCALATE})")]
    assert aware(get_anomaly(engine, anomaly_id).escalated_at) == NOW


def test_escalate_goes_to_the_finops_channel_when_no_escalation_channel_is_set(engine, rules):
    plain = rules.model_copy(update={"escalation": rules.escalation.model_copy(
        update={"channel": None})})
    anomaly_id = add_anomaly(engine)
    act(engine, service.escalate, settings=plain, anomaly_id=anomaly_id, user="U0ANY",
        channel=SUPPORT)
    assert [n.channel for n in outbox(engine, "notice")] == [FINOPS]


def test_escalate_after_the_reminder_job_escalated_changes_nothing(engine, rules):
    anomaly_id = add_anomaly(engine)
    with session_scope(engine) as session:
        queue_escalations(db_session=session, settings=rules, now=NOW + timedelta(hours=3))
    before = len(outbox(engine))
    with pytest.raises(NothingChanged):
        act(engine, service.escalate, settings=rules, anomaly_id=anomaly_id, user="U0ANY",
            channel=SUPPORT, now=NOW + timedelta(hours=4))
    assert len(outbox(engine)) == before
    assert audit(engine) == []


# -- one audit row and the message updates, in the caller's transaction ----------------------

ACTIONS = [
    pytest.param(service.acknowledge, {}, "acknowledged", id="acknowledge"),
    pytest.param(service.snooze, {"hours": 24}, "snoozed", id="snooze"),
    pytest.param(service.mark_expected, {"reason": "Black Friday traffic"}, "expected",
                 id="expected"),
    pytest.param(service.escalate, {}, "escalated", id="escalate"),
]


@pytest.mark.parametrize(("action", "extra", "recorded"), ACTIONS)
def test_each_action_writes_one_audit_row_and_updates_every_alert(engine, rules, action,
                                                                  extra, recorded):
    anomaly_id = add_anomaly(engine, platforms=("slack", "console"))
    act(engine, action, settings=rules, anomaly_id=anomaly_id, user="U0ANY", channel=SUPPORT,
        **extra)
    assert audit(engine) == [("U0ANY", recorded)]
    for operation in ("update", "reply"):
        queued = outbox(engine, operation)
        assert sorted(m.platform for m in queued) == ["console", "slack"]
        assert {m.channel for m in queued} == {SUPPORT}


@pytest.mark.parametrize(("action", "extra", "recorded"), ACTIONS)
def test_an_action_rolled_back_leaves_no_trace(engine, rules, action, extra, recorded):
    anomaly_id = add_anomaly(engine)
    with pytest.raises(RuntimeError), session_scope(engine) as session:
        action(db_session=session, settings=rules, anomaly_id=anomaly_id, user="U0ANY",
               channel=SUPPORT, now=NOW, **extra)
        raise RuntimeError("the request failed after the action")
    anomaly = get_anomaly(engine, anomaly_id)
    assert anomaly.response == "none" and anomaly.snoozed_until is None
    assert anomaly.escalated_at is None
    assert audit(engine) == [] and outbox(engine) == []


def test_nothing_more_can_be_done_once_resolved(engine, rules):
    anomaly_id = add_anomaly(engine, response="resolved", response_by="U0ANY")
    with pytest.raises(ResponseError, match="already resolved"):
        act(engine, service.snooze, settings=rules, anomaly_id=anomaly_id, user="U0FIN",
            hours=1)
    assert audit(engine) == [] and outbox(engine) == []


# -- the playbook walk -----------------------------------------------------------------------


def walk(engine, rules, playbook, anomaly_id, *, user="U0ANY", steps=WALK):
    """Open each step as the chat does, then save it; the positions shown on the way."""
    shown = []
    for step_id, values in steps:
        with session_scope(engine) as session:
            started = walks.open_step(db_session=session, settings=rules, playbook=playbook,
                                        anomaly_id=anomaly_id, user=user, now=NOW,
                                        channel=SUPPORT)
        shown.append((started.step.id, started.position))
        assert started.step.id == step_id
        with session_scope(engine) as session:
            walks.submit_step(db_session=session, settings=rules, playbook=playbook,
                                anomaly_id=anomaly_id, step_id=step_id, values=values,
                                user=user, now=NOW, channel=SUPPORT)
    return shown


def test_the_whole_walk_ends_in_a_runbook_entry(engine, rules, playbook):
    anomaly_id = add_anomaly(engine)
    shown = walk(engine, rules, playbook, anomaly_id)

    assert shown == [("owner", (1, 5)), ("what_changed", (2, 5)), ("stabilise", (3, 5)),
                     ("review", (4, 5)), ("document", (5, 5))]
    assert [action for _, action in audit(engine)] == [
        "playbook_started", "playbook_step", "playbook_step", "playbook_step", "stabilised",
        "resolved"]
    assert [text for _, text in thread(engine)] == [
        "started the playbook “Spend anomaly response”", "completed “Owner”",
        "completed “What changed”",
        "completed “Stabilise spend”", "completed “Review before re-enable”: spend is stabilised",
        "finished the playbook; the resolution is now in the workload's runbook"]
    anomaly = get_anomaly(engine, anomaly_id)
    assert (anomaly.response, anomaly.response_note) == ("resolved",
                                                         "Debug logging shipped to prod")
    with session_scope(engine) as session:
        view = service.load_alert_view(db_session=session, anomaly_id=anomaly_id,
                                       playbook=playbook)
        title, entries = service.load_runbook(db_session=session, settings=rules,
                                              anomaly_id=anomaly_id, user="U0ANY")
    assert [s.done for s in view.playbook] == [True] * 5
    assert view.responsible == "U0ALICE" and view.closed
    assert view.last_fix is None and view.runbook_entries == 1  # its own entry is no "last fix"
    (entry,) = entries
    assert entry.author == "U0ANY"
    assert entry.fix == "INFO level (lever: Other (describe below); what was done: " \
                        "log level back to INFO)"
    assert entry.prevention == "Lint the log level in CI"
    with pytest.raises(ResponseError, match="already resolved"):
        walk(engine, rules, playbook, anomaly_id, steps=WALK[:1])


@pytest.mark.postgres
def test_the_walk_and_a_repeated_escalation_on_postgresql(postgres_url, tmp_path):
    """Row locks (``FOR UPDATE``) are real on PostgreSQL: the same story must hold there."""
    engine = make_engine(postgres_url)
    upgrade(engine)
    try:
        rules = with_routing(Settings(database_url=postgres_url,
                                      quarantine_dir=tmp_path / "quarantine"))
        anomaly_id = add_anomaly(engine)
        act(engine, service.escalate, settings=rules, anomaly_id=anomaly_id, user="U0ANY",
            channel=SUPPORT)
        with pytest.raises(NothingChanged):
            act(engine, service.escalate, settings=rules, anomaly_id=anomaly_id, user="U0ANY",
                channel=SUPPORT)
        walk(engine, rules, service.default_playbook(rules), anomaly_id)
        assert get_anomaly(engine, anomaly_id).response == "resolved"
        assert [action for _, action in audit(engine)] == [
            "escalated", "playbook_started", "playbook_step", "playbook_step",
            "playbook_step", "stabilised", "resolved"]
        assert len(outbox(engine, "notice")) == 1
    finally:
        engine.dispose()


def test_starting_the_playbook_marks_the_anomaly_as_investigated(engine, rules, playbook):
    anomaly_id = add_anomaly(engine)
    act(engine, service.acknowledge, settings=rules, anomaly_id=anomaly_id, user="U0ANY",
        channel=SUPPORT)
    with session_scope(engine) as session:
        started = walks.open_step(db_session=session, settings=rules, playbook=playbook,
                                    anomaly_id=anomaly_id, user="U0BOB", now=NOW,
                                    channel=SUPPORT)
    assert started.step.id == "owner"
    anomaly = get_anomaly(engine, anomaly_id)
    assert (anomaly.response, anomaly.response_by) == ("investigating", "U0BOB")
    # the stabilise step offers the levers of the top contributor, and "Other"
    assert [o.value for o in started.options["levers"]][:2] == ["logging.verbosity",
                                                               "logging.exclusion-filters"]
    # opening it again starts nothing new
    with session_scope(engine) as session:
        walks.open_step(db_session=session, settings=rules, playbook=playbook,
                          anomaly_id=anomaly_id, user="U0BOB", now=NOW, channel=SUPPORT)
    assert [action for _, action in audit(engine)] == ["acknowledged", "playbook_started"]


def test_a_bad_answer_is_refused_and_nothing_is_recorded(engine, rules, playbook):
    anomaly_id = add_anomaly(engine)
    walk(engine, rules, playbook, anomaly_id, steps=WALK[:1])
    before = (audit(engine), len(outbox(engine)))
    with pytest.raises(StepError) as refused, session_scope(engine) as session:
        walks.submit_step(db_session=session, settings=rules, playbook=playbook,
                            anomaly_id=anomaly_id, step_id="what_changed",
                            values={"change": "aliens"}, user="U0ANY", now=NOW,
                            channel=SUPPORT)
    assert "“aliens” is not one of the options" in refused.value.errors["change"]
    assert (audit(engine), len(outbox(engine))) == before


def test_unknown_cause_needs_a_note(engine, rules, playbook):
    anomaly_id = add_anomaly(engine)
    walk(engine, rules, playbook, anomaly_id, steps=WALK[:1])
    with pytest.raises(StepError) as refused, session_scope(engine) as session:
        walks.submit_step(db_session=session, settings=rules, playbook=playbook,
                            anomaly_id=anomaly_id, step_id="what_changed",
                            values={"change": "unknown"}, user="U0ANY", now=NOW,
                            channel=SUPPORT)
    assert "Required when" in refused.value.errors["note"]


def test_documenting_before_the_review_is_refused(engine, rules, playbook):
    anomaly_id = add_anomaly(engine)
    walk(engine, rules, playbook, anomaly_id, steps=WALK[:1])
    with pytest.raises(StepError) as refused, session_scope(engine) as session:
        walks.submit_step(db_session=session, settings=rules, playbook=playbook,
                            anomaly_id=anomaly_id, step_id="document", values=WALK[4][1],
                            user="U0ANY", now=NOW, channel=SUPPORT)
    assert "Finish “Review before re-enable” first" in refused.value.errors["root_cause"]
    assert get_anomaly(engine, anomaly_id).response == "investigating"


def test_steps_may_be_taken_out_of_order_when_nothing_requires_another(engine, rules,
                                                                        playbook):
    anomaly_id = add_anomaly(engine)
    walk(engine, rules, playbook, anomaly_id, steps=WALK[:1])
    with session_scope(engine) as session:
        walks.submit_step(db_session=session, settings=rules, playbook=playbook,
                            anomaly_id=anomaly_id, step_id="stabilise", values=WALK[2][1],
                            user="U0ANY", now=NOW, channel=SUPPORT)
    with session_scope(engine) as session:
        started = walks.open_step(db_session=session, settings=rules, playbook=playbook,
                                    anomaly_id=anomaly_id, user="U0ANY", now=NOW,
                                    channel=SUPPORT)
    assert (started.step.id, started.position) == ("what_changed", (2, 5))


def test_a_step_cannot_be_saved_before_the_playbook_is_started(engine, rules, playbook):
    anomaly_id = add_anomaly(engine)
    with pytest.raises(ResponseError, match="start the playbook from the alert first"), \
            session_scope(engine) as session:
        walks.submit_step(db_session=session, settings=rules, playbook=playbook,
                            anomaly_id=anomaly_id, step_id="owner", values=WALK[0][1],
                            user="U0ANY", now=NOW, channel=SUPPORT)
    assert audit(engine) == []


def test_someone_else_may_not_walk_another_teams_playbook(engine, rules, playbook):
    anomaly_id = add_anomaly(engine, owner="team-data")
    with pytest.raises(NotAllowed):
        walk(engine, rules, playbook, anomaly_id, steps=WALK[:1])
    walk(engine, rules, playbook, anomaly_id, user="U0DATA", steps=WALK[:1])
    assert [actor for actor, _ in audit(engine)] == ["U0DATA", "U0DATA"]


# -- announcing ------------------------------------------------------------------------------


def test_an_anomaly_is_announced_once_per_platform_in_the_owners_channel(engine, rules):
    anomaly_id = add_anomaly(engine, owner="team-data", platforms=())
    for platform in ("slack", "slack", "console"):
        with session_scope(engine) as session:
            service.announce(db_session=session, settings=rules, anomaly_id=anomaly_id,
                             platform=platform, now=NOW)
    assert [(m.platform, m.operation, m.channel) for m in outbox(engine)] == [
        ("slack", "post", DATA), ("slack", "chart", DATA),
        ("console", "post", DATA), ("console", "chart", DATA)]


def test_the_shipped_playbook_is_used_when_none_is_configured(monkeypatch):
    monkeypatch.delenv("SPENDWATCH_PLAYBOOKS", raising=False)
    assert service.default_playbook(Settings()).name == "default"
    assert PLAYBOOKS.is_dir()


# -- freshness -------------------------------------------------------------------------------


def test_the_alert_says_how_fresh_each_sources_data_is(engine, rules, playbook):
    from datetime import UTC, datetime

    from storage import queries

    anomaly = add_anomaly(engine)
    now = datetime.now(UTC)
    with session_scope(engine) as session:
        queries.sources.save_state(db_session=session, name="openai", kind="openai",
                                   newest_hour=datetime(2026, 11, 20, 13, tzinfo=UTC),
                                   last_attempt_at=now)
        queries.sources.save_state(db_session=session, name="old-export", kind="focus",
                                   newest_hour=datetime(2026, 9, 1, tzinfo=UTC),
                                   last_attempt_at=now - timedelta(days=30))
        queries.sources.save_state(db_session=session, name="never-read", kind="sql",
                                   last_attempt_at=now)
    with session_scope(engine) as session:
        view = service.load_alert_view(db_session=session, anomaly_id=anomaly,
                                       playbook=playbook)
    # the end of the newest hour; a source no longer read, or without data, is left out
    assert view.data_as_of == (("openai", datetime(2026, 11, 20, 14, tzinfo=UTC)),)
