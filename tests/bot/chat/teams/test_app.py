"""Card actions answered on one worker thread, off the SDK's turn, over real HTTP.

The answer to a click is the card as the store has it after the action, read in the action's
own transaction (:meth:`bot.anomaly.desk.AnomalyDesk.on_card`) with statements built once and
reused for every anomaly: what the clicker sees must be what was stored, for that anomaly and
no other, and a click that cannot be trusted stores nothing.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlmodel import Session, select

from bot.anomaly.service import announce
from bot.runner import Runtime
from bot.settings import RoutingSettings, Settings, TeamsRouting
from storage.db import session_scope
from storage.models import (
    Alert,
    Anomaly,
    AuditLog,
    ChangeEvent,
    ChatConversation,
    OutboxMessage,
    RunbookEntry,
)
from tests.support.teams_requests import (
    APP_ID,
    action,
    bot_added,
    card_action,
    post,
    teams_runtime,
)
from tests.support.teams_stub import TeamsStub

PAYMENTS = "19:0a1b2c3d4e5f60718293a4b5c6d7e8f9@thread.tacv2"
SEARCH = "19:9f8e7d6c5b4a30291807f6e5d4c3b2a1@thread.tacv2"
SRE = "aad-sre-0001"
CARD = "application/vnd.microsoft.card.adaptive"


@pytest.fixture
def stub() -> Iterator[TeamsStub]:
    with TeamsStub(client_id=APP_ID) as stub:
        yield stub


@pytest.fixture
def runtime(tmp_path, stub: TeamsStub) -> Iterator[Runtime]:
    settings = Settings(
        database_url=f"sqlite:///{tmp_path / 'spendwatch.db'}",
        quarantine_dir=tmp_path / "quarantine",
        routing=RoutingSettings(teams=TeamsRouting(owners={"payments": PAYMENTS,
                                                           "search": SEARCH})))
    with teams_runtime(settings, stub) as running:
        yield running


NOW = datetime.now(UTC).replace(microsecond=0)


def _anomaly(project: str, owner: str, *, started: datetime, service: str) -> Anomaly:
    return Anomaly(
        project=project, environment="prod", owner=owner, phase="run", kind="spike",
        status="open", started_at=started, detected_at=started + timedelta(hours=1),
        last_seen_at=NOW, expected_cost=10.0, actual_cost=30.0, impact_usd=60.0,
        peak_hourly_usd=31.0,
        evidence={"baseline": "seasonal", "contributors": [
            {"service": service, "region": "us-east-1", "sku": "", "impact_usd": 60.0,
             "expected": 10.0, "actual": 30.0}]})


def posted(runtime: Runtime, stub: TeamsStub) -> dict[str, tuple[int, str]]:
    """Two open anomalies, each with its card in its team's channel, and what the store knows
    about the first one's workload only: an earlier incident there, walked to a runbook
    entry, and a deploy just before it started. project -> (anomaly id, card id)."""
    for conversation in (PAYMENTS, SEARCH):
        assert post(runtime, stub, bot_added(stub, conversation)).status_code == 200
    with session_scope(runtime.services.engine) as session:
        earlier = _anomaly("checkout", "payments", started=NOW - timedelta(days=20),
                           service="Amazon Bedrock")
        earlier.status, earlier.response = "resolved", "resolved"
        rows = [_anomaly("checkout", "payments", started=NOW - timedelta(hours=3),
                         service="Amazon Bedrock"),
                _anomaly("ranking", "search", started=NOW - timedelta(hours=3),
                         service="Amazon Bedrock")]
        session.add_all([earlier, *rows])
        session.flush()
        session.add(RunbookEntry(
            project="checkout", environment="prod", service_name="Amazon Bedrock",
            anomaly_id=earlier.id, root_cause="a retry storm against the model",
            fix="capped the retries", prevention="alert on retries", author="aad-ann",
            created_at=NOW - timedelta(days=19)))
        session.add(ChangeEvent(
            source="webhook", external_id="d-1", kind="deploy", project="checkout",
            environment="prod", summary="Raise the retry limit", actor="dev",
            at=NOW - timedelta(hours=4), recorded_at=NOW - timedelta(hours=4)))
        for row in rows:
            announce(db_session=session, settings=runtime.services.settings,
                     anomaly_id=int(row.id or 0), platform="teams", now=NOW)
    deliver(runtime)
    with Session(runtime.services.engine) as session:
        alerts = session.exec(select(Alert, Anomaly).where(
            Alert.anomaly_id == Anomaly.id)).all()
    return {anomaly.project: (int(anomaly.id or 0), str(alert.message_ref))
            for alert, anomaly in alerts}


def deliver(runtime: Runtime) -> None:
    runtime.parts["deliverers"]["teams"].drain(timeout=30)


def click(runtime: Runtime, stub: TeamsStub, conversation: str, ref: str, verb: str, *,
          token: str | None = None) -> Any:
    card = stub.messages[ref].card or {}
    return post(runtime, stub, card_action(stub, conversation, ref, action(card, verb),
                                           user=SRE), token=token)


def _verbs(card: dict[str, Any]) -> list[str]:
    text = json.dumps(card)
    return [verb for verb in ("ack", "step_open", "runbook") if f'"verb": "{verb}"' in text]


def test_the_answer_is_the_card_as_stored_and_the_card_everyone_then_sees(runtime, stub):
    cards = posted(runtime, stub)
    anomaly_id, ref = cards["checkout"]
    answer = click(runtime, stub, PAYMENTS, ref, "ack")
    assert answer.status_code == 200, answer.text
    shown = answer.json()
    assert shown["type"] == CARD
    assert "ack" not in _verbs(shown["value"]) and SRE in json.dumps(shown["value"])
    with Session(runtime.services.engine) as session:
        stored = session.get(Anomaly, anomaly_id)
        assert (stored.response, stored.response_by) == ("acknowledged", SRE)
    deliver(runtime)
    assert stub.messages[ref].card == shown["value"], "the outbox drew the same card"


def test_each_card_shows_what_the_store_knows_about_its_own_workload(runtime, stub):
    cards = posted(runtime, stub)
    checkout = json.dumps(click(runtime, stub, PAYMENTS, cards["checkout"][1], "ack").json())
    ranking = json.dumps(click(runtime, stub, SEARCH, cards["ranking"][1], "ack").json())
    again = json.dumps(click(runtime, stub, PAYMENTS, cards["checkout"][1],
                             "step_open").json())
    for text in (checkout, again):
        assert "Seen before 1 time" in text and "a retry storm against the model" in text
        assert "Raise the retry limit" in text
    assert "Seen before" not in ranking and "Raise the retry limit" not in ranking
    assert "ranking" in ranking and "checkout" not in ranking


def test_a_click_whose_token_fails_stores_nothing(runtime, stub):
    cards = posted(runtime, stub)
    anomaly_id, ref = cards["checkout"]
    queued = _outbox(runtime)
    for token in (stub.forged_token(), stub.token(service_url="https://evil.example.com/"),
                  ""):
        answer = click(runtime, stub, PAYMENTS, ref, "ack", token=token)
        assert answer.status_code == 401, answer.text
    with Session(runtime.services.engine) as session:
        assert session.get(Anomaly, anomaly_id).response == "none"
        assert session.exec(select(AuditLog)).all() == []
    assert _outbox(runtime) == queued


def test_a_click_from_a_conversation_not_recorded_yet_records_its_address(runtime, stub):
    cards = posted(runtime, stub)
    elsewhere = "19:5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e@thread.tacv2"
    answer = click(runtime, stub, elsewhere, cards["checkout"][1], "ack")
    assert answer.status_code == 200, answer.text
    with Session(runtime.services.engine) as session:
        book = {c.conversation_id: c.service_url for c in session.exec(
            select(ChatConversation)).all()}
    assert set(book) == {PAYMENTS, SEARCH, elsewhere}
    assert book[elsewhere].rstrip("/") == stub.url.rstrip("/")


def _outbox(runtime: Runtime) -> int:
    with Session(runtime.services.engine) as session:
        return len(session.exec(select(OutboxMessage)).all())
