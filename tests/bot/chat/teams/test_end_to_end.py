"""The Teams side end to end, over real HTTP, as a team would use it.

The real bot serves ``/api/messages`` on a free port with the Teams SDK; activities are POSTed
as Teams sends them, with tokens signed by a local issuer the bot is configured to trust
(``teams.openid_metadata_url``); its own tokens and messages go to a local stand-in for
Entra ID and the Teams service (:class:`tests.support.teams_stub.TeamsStub`). Cost data is the
generated demo export, whose classic incident is going on in the newest hours.
"""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlmodel import Session, select

from bot.chat.teams.schema import validate_card
from bot.demodata import write_demo_data
from bot.demodata.catalogue import LINES
from bot.runner import Mode, Runtime
from bot.scheduler import check_escalations, poll
from bot.settings import (
    EscalationSettings,
    FocusSourceSettings,
    RoutingSettings,
    ScheduleSettings,
    Settings,
    TeamsRouting,
)
from bot.wiring import build_services
from storage.models import (
    Alert,
    Anomaly,
    AuditLog,
    ChatConversation,
    OutboxMessage,
    Plan,
    RunbookEntry,
)
from tests.support.slack_runtime import until
from tests.support.teams_requests import (
    APP_ID,
    action,
    activity,
    bot_added,
    card_action,
    credentials,
    inputs,
    message,
    post,
    teams_runtime,
)
from tests.support.teams_stub import TeamsStub

SUPPORT = "19:a1b2c3d4e5f60718293a4b5c6d7e8f90@thread.tacv2"
FINOPS = "19:f1e2d3c4b5a60718293a4b5c6d7e8f91@thread.tacv2"
SRE, ANN, OUTSIDER = "aad-sre-0001", "aad-ann-0002", "aad-out-0003"


@pytest.fixture(scope="module")
def demo_data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("demo-data")
    write_demo_data(out, days=21, seed=42)
    return out


@pytest.fixture(scope="module")
def polled(demo_data: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A SQLite store with the demo ingested and detected once, no chat yet: each test starts
    from a copy (the next poll finds the open incident and alerts on it)."""
    folder = tmp_path_factory.mktemp("polled")
    settings = Settings(database_url=f"sqlite:///{folder / 'spendwatch.db'}",
                        quarantine_dir=folder / "quarantine",
                        sources=[FocusSourceSettings(path=demo_data, name="demo")])
    services = build_services(settings)
    try:
        poll(services, platforms=())
    finally:
        services.close()
    return folder / "spendwatch.db"


@pytest.fixture
def settings(polled: Path, tmp_path: Path) -> Settings:
    """SQLite here: the desk and the outbox these tests drive are the same code as Slack's,
    which its tests run on PostgreSQL too; the one store Teams adds is exercised on
    PostgreSQL by ``test_the_walk_on_postgresql``."""
    shutil.copy(polled, tmp_path / "spendwatch.db")
    return Settings(database_url=f"sqlite:///{tmp_path / 'spendwatch.db'}",
                    quarantine_dir=tmp_path / "quarantine")


@pytest.fixture
def stub() -> Iterator[TeamsStub]:
    with TeamsStub(client_id=APP_ID) as stub:
        yield stub


def _owners() -> dict[str, str]:
    return {line.owner: SUPPORT for line in LINES if line.owner}


@pytest.fixture
def configured(settings: Settings, demo_data: Path) -> Settings:
    return settings.model_copy(update={
        "sources": [FocusSourceSettings(path=demo_data, name="demo")],
        "routing": RoutingSettings(teams=TeamsRouting(owners=_owners(), default=FINOPS)),
        "schedule": ScheduleSettings(channel_pace_seconds=0.05),
    })


@pytest.fixture
def runtime(configured: Settings, stub: TeamsStub) -> Iterator[Runtime]:
    with teams_runtime(configured, stub) as running:
        yield running


def deliver(runtime: Runtime) -> None:
    runtime.parts["deliverers"]["teams"].drain(timeout=30)


def install(runtime: Runtime, stub: TeamsStub, *conversations: str) -> None:
    for conversation in conversations:
        answer = post(runtime, stub, bot_added(stub, conversation))
        assert answer.status_code == 200, answer.text


def announce(runtime: Runtime, stub: TeamsStub) -> tuple[Anomaly, str]:
    """Poll once; the live incident's card lands in the owner's channel. (anomaly, card id)"""
    install(runtime, stub, SUPPORT, FINOPS)
    result = poll(runtime.services, platforms=("teams",))
    assert result.open, "the demo's live incident should be open"
    deliver(runtime)
    with Session(runtime.services.engine) as session:
        anomaly = session.exec(select(Anomaly).where(Anomaly.status == "open")).first()
        alert = session.exec(select(Alert).where(Alert.anomaly_id == anomaly.id)).one()
    assert alert.platform == "teams" and alert.channel == SUPPORT
    assert alert.message_ref is not None
    return anomaly, alert.message_ref


def card_of(stub: TeamsStub, ref: str) -> dict[str, Any]:
    card = stub.messages[ref].card
    assert card is not None
    return card


def click(runtime: Runtime, stub: TeamsStub, card: dict[str, Any], verb: str, *,
          user: str = SRE, typed: dict[str, Any] | None = None, ref: str) -> dict[str, Any]:
    answer = post(runtime, stub, card_action(stub, SUPPORT, ref, action(card, verb), typed,
                                             user=user))
    assert answer.status_code == 200, answer.text
    return dict(answer.json())


def fill(card: dict[str, Any], choices: dict[str, str]) -> dict[str, Any]:
    """What a person enters into the step shown on the card: every input answered."""
    typed: dict[str, Any] = {}
    for box in inputs(card):
        kind, key = box["type"], box["id"]
        if kind == "Input.ChoiceSet":
            values = [c["value"] for c in box.get("choices", [])]
            wanted = next((w for k, w in choices.items() if k in key), None)
            typed[key] = next((v for v in values if wanted and v.startswith(wanted)), values[0])
        elif kind == "Input.Toggle":
            typed[key] = box.get("valueOn", "true")
        else:
            typed[key] = f"{key} answered by the on-call engineer"
    return typed


def test_alert_ack_walk_and_runbook_in_teams(runtime, stub):
    anomaly, ref = announce(runtime, stub)
    card = card_of(stub, ref)
    assert validate_card({k: v for k, v in card.items() if k != "msteams"}) == []
    shown = json.dumps(card)
    assert anomaly.project in shown and "AmazonCloudWatch" in shown
    assert "data:image/png;base64," in shown, "the chart is in the card"
    assert len(stub.in_conversation(SUPPORT)) == 1

    answer = click(runtime, stub, card, "ack", ref=ref)
    assert answer["type"] == "application/vnd.microsoft.card.adaptive"
    assert "ack" not in [a.get("verb") for a in _actions(answer["value"])]
    deliver(runtime)
    assert len(stub.messages[ref].versions) >= 2, "the card was updated in place"
    assert SRE in json.dumps(card_of(stub, ref)) or "Acknowledged" in json.dumps(
        card_of(stub, ref))

    card = click(runtime, stub, card_of(stub, ref), "step_open", ref=ref)["value"]
    steps = 0
    while any(a.get("verb") == "step_save" for a in _actions(card)):
        typed = fill(card, {"change": "logging", "lever": "logging."})
        answer = click(runtime, stub, card, "step_save", typed=typed, ref=ref,
                       user=SRE if steps < 2 else ANN)
        assert answer["type"] == "application/vnd.microsoft.card.adaptive", answer
        card = answer["value"]
        steps += 1
        assert steps <= 5
    assert steps == 5
    deliver(runtime)

    with Session(runtime.services.engine) as session:
        stored = session.get(Anomaly, anomaly.id)
        entries = session.exec(select(RunbookEntry)).all()
        audit = [a.action for a in session.exec(select(AuditLog)).all()]
        states = {m.status for m in session.exec(select(OutboxMessage)).all()}
    assert stored.response == "resolved" and stored.response_by == ANN
    assert len(entries) == 1 and entries[0].project == anomaly.project
    assert {"acknowledged", "playbook_started", "stabilised", "resolved"} <= set(audit)
    assert states == {"sent"}
    final = card_of(stub, ref)
    assert validate_card({k: v for k, v in final.items() if k != "msteams"}) == []
    assert "step_open" not in [a.get("verb") for a in _actions(final)]
    assert len(stub.in_conversation(SUPPORT)) == 1, "updated in place, never re-posted"
    replies = stub.replies(SUPPORT, ref)
    assert any("acknowledged" in (r.activity.get("text") or "") for r in replies)


@pytest.mark.postgres
def test_the_walk_on_postgresql(postgres_url, demo_data, stub, tmp_path):
    settings = Settings(database_url=postgres_url, quarantine_dir=tmp_path / "quarantine",
                        sources=[FocusSourceSettings(path=demo_data, name="demo")],
                        routing=RoutingSettings(teams=TeamsRouting(owners=_owners(),
                                                                   default=FINOPS)))
    with teams_runtime(settings, stub) as runtime:
        anomaly, ref = announce(runtime, stub)
        card = click(runtime, stub, card_of(stub, ref), "ack", ref=ref)["value"]
        card = click(runtime, stub, card, "step_open", ref=ref)["value"]
        answer = click(runtime, stub, card, "step_save", typed=fill(card, {}), ref=ref)
        assert answer["type"] == "application/vnd.microsoft.card.adaptive"
        deliver(runtime)
        with Session(runtime.services.engine) as session:
            conversations = session.exec(select(ChatConversation)).all()
            assert session.get(Anomaly, anomaly.id).response == "investigating"
        assert {c.conversation_id for c in conversations} == {SUPPORT, FINOPS}
        assert len(stub.in_conversation(SUPPORT)) == 1


def test_a_refused_step_shows_its_errors_and_keeps_what_was_typed(runtime, stub):
    anomaly, ref = announce(runtime, stub)
    card = click(runtime, stub, card_of(stub, ref), "step_open", ref=ref)["value"]
    card = click(runtime, stub, card, "step_save", typed=fill(card, {}), ref=ref)["value"]
    boxes = {b["id"]: b for b in inputs(card)}
    typed = {key: "" for key in boxes}  # "what changed" left empty
    answer = click(runtime, stub, card, "step_save", typed=typed, ref=ref)
    refused = answer["value"]
    text = json.dumps(refused)
    assert '"color": "Attention"' in text
    assert validate_card({k: v for k, v in refused.items() if k != "msteams"}) == []
    with Session(runtime.services.engine) as session:
        audit = [a.action for a in session.exec(select(AuditLog)).all()]
    assert "stabilised" not in audit


def test_forged_expired_and_misaddressed_tokens_are_refused_and_change_nothing(runtime, stub):
    body = bot_added(stub, SUPPORT)
    for token in (stub.forged_token(), stub.token(issued_at=time.time() - 3600),
                  stub.token(audience="00000000-0000-0000-0000-000000000000"),
                  stub.token(issuer="https://sts.windows.net/evil/"),
                  stub.token(service_url="https://evil.example.com/"),
                  "not-a-jwt", ""):
        answer = post(runtime, stub, body, token=token)
        assert answer.status_code == 401, (token[:20], answer.text)
    with Session(runtime.services.engine) as session:
        assert session.exec(select(ChatConversation)).all() == []
    assert post(runtime, stub, body).status_code == 200
    with Session(runtime.services.engine) as session:
        assert [c.conversation_id for c in session.exec(select(ChatConversation))] == [SUPPORT]


def test_a_body_that_is_not_an_activity_gets_400(runtime, stub):
    assert post(runtime, stub, b"{not json").status_code == 400
    no_conversation = bot_added(stub, SUPPORT)
    del no_conversation["conversation"]
    answer = post(runtime, stub, no_conversation)
    assert answer.status_code == 400 and "conversation" in answer.text


def test_a_429_and_a_500_lose_nothing_and_duplicate_nothing(runtime, stub):
    stub.fail_next("POST", 429, retry_after=1)
    stub.fail_next("PUT", 500)
    anomaly, ref = announce(runtime, stub)
    posts = stub.service_calls("POST")
    assert posts[0].status == 429 and any(c.status == 201 for c in posts)
    click(runtime, stub, card_of(stub, ref), "ack", ref=ref)
    until(lambda: any(c.method == "PUT" and c.status == 500 for c in stub.calls))
    deliver(runtime)
    assert len(stub.in_conversation(SUPPORT)) == 1
    assert any(c.method == "PUT" and c.status == 200 for c in stub.calls)
    with Session(runtime.services.engine) as session:
        states = {m.status for m in session.exec(select(OutboxMessage)).all()}
    assert states == {"sent"}
    assert len(stub.tokens_issued) == 1, "one access token serves every call until it expires"


def test_someone_outside_the_responders_is_told_and_nothing_changes(configured, stub):
    routing = configured.routing.model_copy(update={"responders": {
        line.owner: [SRE] for line in LINES if line.owner}})
    with teams_runtime(configured.model_copy(update={"routing": routing}), stub) as runtime:
        anomaly, ref = announce(runtime, stub)
        answer = click(runtime, stub, card_of(stub, ref), "ack", user=OUTSIDER, ref=ref)
        assert answer["type"] == "application/vnd.microsoft.activity.message"
        assert "responders" in answer["value"]
        with Session(runtime.services.engine) as session:
            assert session.get(Anomaly, anomaly.id).response == "none"


def test_cost_questions_by_message_are_scoped_to_the_conversation(runtime, stub):
    announce(runtime, stub)
    assert post(runtime, stub, message(stub, FINOPS, "<at>spendwatch</at> cost top")
                ).status_code == 200
    until(lambda: len(stub.in_conversation(FINOPS)) >= 1)
    answer = stub.in_conversation(FINOPS)[-1].card
    assert answer is not None and "$" in json.dumps(answer)
    assert validate_card({k: v for k, v in answer.items() if k != "msteams"}) == []
    other = "19:0000000000000000000000000000000a@thread.tacv2"
    install(runtime, stub, other)
    post(runtime, stub, message(stub, other, "cost top"))
    until(lambda: len(stub.in_conversation(other)) >= 1)
    assert "not mapped" in _text(stub.in_conversation(other)[-1].card)
    post(runtime, stub, message(stub, FINOPS, "what is this"))
    until(lambda: len(stub.in_conversation(FINOPS)) >= 2)
    assert "cost top" in _text(stub.in_conversation(FINOPS)[-1].card)


def test_slack_and_teams_from_one_config_each_alert_where_its_owner_lives(
        configured, stub, tmp_path):
    from tests.support.slack_stub import SlackApiStub

    owners = sorted({line.owner for line in LINES if line.owner})
    routing = RoutingSettings(default_channel="C0FINOPS",
                              owners={owner: "C0SUPPORT" for owner in owners[1:]},
                              teams=TeamsRouting(owners={owners[0]: SUPPORT}, default=FINOPS))
    with SlackApiStub(ts_base=int(time.time())) as slack:
        mode = Mode("http", bot_token="xoxb-1-2-test", signing_secret="s" * 32,
                    api_url=slack.base_url, teams=credentials(stub))
        with teams_runtime(configured.model_copy(update={"routing": routing}), stub,
                           mode=mode) as runtime:
            install(runtime, stub, SUPPORT, FINOPS)
            poll(runtime.services, platforms=("slack", "teams"))
            for deliverer in runtime.parts["deliverers"].values():
                deliverer.drain(timeout=30)
            with Session(runtime.services.engine) as session:
                alerts = session.exec(select(Alert)).all()
                anomalies = {a.id: a for a in session.exec(select(Anomaly)).all()}
    assert alerts
    platforms: dict[int, set[str]] = {}
    for alert in alerts:
        platforms.setdefault(alert.anomaly_id, set()).add(alert.platform)
    for anomaly_id, seen in platforms.items():
        owner = anomalies[anomaly_id].owner
        expected = ({"teams"} if owner == owners[0] else {"slack"} if owner in owners
                    else {"slack", "teams"})
        assert seen == expected, (owner, seen)


def _text(card: dict[str, Any] | None) -> str:
    """What a card says, as read (monospace lines keep their spaces as no-break spaces)."""
    return json.dumps(card, ensure_ascii=False).replace("\u00a0", " ")


def _actions(card: dict[str, Any]) -> list[dict[str, Any]]:
    from tests.support.teams_requests import actions

    return actions(card)


def _posted_minutes_ago(runtime: Runtime, minutes: float) -> None:
    with Session(runtime.services.engine) as session:
        alert = session.exec(select(Alert)).one()
        alert.created_at = datetime.now(UTC) - timedelta(minutes=minutes)
        session.add(alert)
        session.commit()


def test_unacknowledged_cards_remind_in_the_thread_then_escalate(configured, stub):
    escalation = EscalationSettings(ack_minutes=1, escalate_minutes=2)
    with teams_runtime(configured.model_copy(update={"escalation": escalation}),
                       stub) as runtime:
        anomaly, ref = announce(runtime, stub)
        assert check_escalations(runtime.services) == 0, "too early for a reminder"
        _posted_minutes_ago(runtime, 1.1)
        assert check_escalations(runtime.services) == 1
        deliver(runtime)
        reminders = [r.activity.get("text", "") for r in stub.replies(SUPPORT, ref)]
        assert any("Reminder" in text and anomaly.owner in text for text in reminders)
        _posted_minutes_ago(runtime, 2.1)
        assert check_escalations(runtime.services) == 1
        deliver(runtime)
        posts = stub.in_conversation(FINOPS)
        assert len(posts) == 1 and anomaly.project in posts[0].activity["text"]
        assert posts[0].activity.get("textFormat") == "plain"
        assert check_escalations(runtime.services) == 0, "each happens once"


def test_snooze_and_expected_open_their_panels_and_check_what_is_entered(runtime, stub):
    anomaly, ref = announce(runtime, stub)
    panel = click(runtime, stub, card_of(stub, ref), "snooze", ref=ref)["value"]
    hours = next(b for b in inputs(panel) if b["type"] == "Input.ChoiceSet")
    answer = click(runtime, stub, panel, "snooze_save", typed={hours["id"]: "4"}, ref=ref)
    assert answer["type"] == "application/vnd.microsoft.card.adaptive"
    with Session(runtime.services.engine) as session:
        assert session.get(Anomaly, anomaly.id).snoozed_until is not None

    panel = click(runtime, stub, answer["value"], "expected", ref=ref)["value"]
    reason = next(b for b in inputs(panel) if b["type"] == "Input.Text")
    refused = click(runtime, stub, panel, "expected_save", typed={reason["id"]: "ok"}, ref=ref)
    assert '"color": "Attention"' in json.dumps(refused["value"])
    with Session(runtime.services.engine) as session:
        assert session.get(Anomaly, anomaly.id).response != "expected"
    offered = {b["id"]: b.get("value") for b in inputs(panel)}
    assert offered["plan_scope"] == "workload" and float(offered["plan_envelope"]) > 0
    reasoned = {reason["id"]: "load test of the new search index", **{
        k: v for k, v in offered.items() if k.startswith("plan_")}}
    too_much = click(runtime, stub, refused["value"], "expected_save",
                     typed={**reasoned, "plan_envelope": "lots"}, ref=ref)
    assert "'lots' is not an amount" in json.dumps(too_much["value"])
    done = click(runtime, stub, too_much["value"], "expected_save",
                 typed={**reasoned, "plan_envelope": "1.5k"}, ref=ref)
    assert "expected_save" not in [a.get("verb") for a in _actions(done["value"])]
    with Session(runtime.services.engine) as session:
        stored = session.get(Anomaly, anomaly.id)
        [plan] = session.exec(select(Plan)).all()
    assert stored.response == "expected" and "load test" in (stored.response_note or "")
    assert (plan.anomaly_id, plan.amount_usd, f"{plan.ends_at:%Y-%m-%d}") == (
        anomaly.id, 1500.0, f"{datetime.now(UTC) + timedelta(days=8):%Y-%m-%d}")


def test_a_click_from_a_client_without_universal_actions_still_acts(runtime, stub):
    anomaly, ref = announce(runtime, stub)
    data = dict(action(card_of(stub, ref), "ack")["data"])
    submitted = activity(stub, "message", conversation=f"{SUPPORT};messageid={ref}",
                         user=SRE, value=data, replyToId=ref)
    assert post(runtime, stub, submitted).status_code == 200
    with Session(runtime.services.engine) as session:
        assert session.get(Anomaly, anomaly.id).response == "acknowledged"
    until(lambda: any("Done" in (r.activity.get("text") or "")
                      for r in stub.replies(SUPPORT, ref)) or any(
        "Done" in (m.activity.get("text") or "") for m in stub.in_conversation(SUPPORT)))


def test_a_conversation_the_bot_was_removed_from_is_set_aside_with_what_to_do(runtime, stub):
    install(runtime, stub, SUPPORT, FINOPS)
    stub.fail_next("POST", 403, times=3)
    poll(runtime.services, platforms=("teams",))
    deliver(runtime)
    with Session(runtime.services.engine) as session:
        dead = [m for m in session.exec(select(OutboxMessage)).all() if m.status == "dead"]
    assert dead and "add the app there again" in (dead[0].last_error or "")
    assert stub.in_conversation(SUPPORT) == []


def test_nothing_is_sent_to_a_conversation_the_bot_never_joined(runtime, stub):
    poll(runtime.services, platforms=("teams",))
    runtime.parts["deliverers"]["teams"].run_once()
    with Session(runtime.services.engine) as session:
        waiting = session.exec(select(OutboxMessage)).all()
    assert waiting and all(m.status == "pending" for m in waiting)
    assert "has not been added" in (waiting[0].last_error or "")
    assert stub.service_calls() == []


def test_installs_and_removals_are_recorded_per_conversation(runtime, stub):
    personal = "a:1PersonalChatWithAnn"
    added = activity(stub, "installationUpdate", conversation=personal,
                     conversation_type="personal", action="add")
    assert post(runtime, stub, added).status_code == 200
    install(runtime, stub, SUPPORT)
    removed = activity(stub, "installationUpdate", conversation=SUPPORT, action="remove")
    assert post(runtime, stub, removed).status_code == 200
    with Session(runtime.services.engine) as session:
        rows = {c.conversation_id: c for c in session.exec(select(ChatConversation))}
    assert rows[personal].kind == "personal" and rows[personal].removed_at is None
    assert rows[personal].service_url == stub.url
    assert rows[SUPPORT].removed_at is not None and rows[SUPPORT].name == "support-alerts"


def test_a_card_action_that_is_not_ours_is_refused_and_changes_nothing(runtime, stub):
    anomaly, ref = announce(runtime, stub)
    for value in ({"action": {"type": "Action.Execute", "verb": "drop_tables",
                              "data": {"anomaly_id": anomaly.id}}},
                  {"action": {"type": "Action.Execute", "verb": "ack",
                              "data": {"anomaly_id": "1; DROP"}}}):
        body = activity(stub, "invoke", conversation=f"{SUPPORT};messageid={ref}",
                        name="adaptiveCard/action", value=value)
        answer = post(runtime, stub, body)
        assert answer.status_code == 200, answer.text
        assert answer.json()["statusCode"] == 400
        assert answer.json()["type"] == "application/vnd.microsoft.error"
    stale = activity(stub, "invoke", conversation=f"{SUPPORT};messageid={ref}",
                     name="adaptiveCard/action",
                     value={"action": {"type": "Action.Execute", "verb": "step_save",
                                       "data": {"v": 1, "verb": "step_save",
                                                "anomaly_id": anomaly.id, "step_id": "gone"}}})
    answer = post(runtime, stub, stale).json()
    assert answer["type"] == "application/vnd.microsoft.activity.message"
    assert "not in the playbook any more" in answer["value"]
    shapeless = activity(stub, "invoke", conversation=SUPPORT, name="adaptiveCard/action",
                         value={"action": "ack"})
    assert post(runtime, stub, shapeless).status_code == 400, "refused before the SDK"
    with Session(runtime.services.engine) as session:
        assert session.get(Anomaly, anomaly.id).response == "none"
        assert session.exec(select(AuditLog)).all() == []
