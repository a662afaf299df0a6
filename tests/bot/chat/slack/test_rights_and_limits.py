"""Who may act or see, actions that apply once, form limits and rate limits, through Slack.

The real Bolt app (``build_app``) gets signed requests (``app.dispatch``, as the HTTP server
and Socket Mode hand them over); its Web API calls, the outbox's posts and the answers on
``response_url`` go to the local Slack Web API stub, where the test reads what people see.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pytest
from slack_bolt import App, BoltRequest
from sqlmodel import Session, select

from bot.anomaly.service import announce, default_playbook, load_alert_view
from bot.chat.ids import ActionId, AlertRef, CallbackId
from bot.chat.slack.app import build_app
from bot.chat.slack.listeners import SlackContext
from bot.chat.slack.sender import SlackSender, make_client
from bot.outbox.deliverer import Deliverer
from bot.settings import (
    EscalationSettings,
    LimitSettings,
    RoutingSettings,
    ScheduleSettings,
    Settings,
)
from bot.wiring import build_services
from storage.db import session_scope
from storage.models import Alert, Anomaly, AuditLog, RunbookEntry
from tests.support.slack_requests import (
    block_actions_body,
    plain_text_value,
    sign,
    slash_command_body,
    view_submission_body,
)
from tests.support.slack_runtime import until
from tests.support.slack_stub import SlackApiStub

SECRET = "8f742231b10e8888abcd99yyyzzz85a5"
TOKEN = "xoxb-1234-5678-test"
FINOPS, SUPPORT, DATA, ESCALATE = "C0FINOPS", "C0SUPPORT", "C0DATA", "C0ESCALATE"
NOW = datetime.now(UTC)


@dataclass
class Bot:
    app: App
    ctx: SlackContext
    stub: SlackApiStub
    deliverer: Deliverer
    anomaly_id: int
    channel: str
    ts: str

    def send(self, body: bytes) -> tuple[int, str]:
        headers = sign(body, SECRET)
        response = self.app.dispatch(BoltRequest(body=body.decode(), headers=headers))
        return response.status, response.body or ""

    def click(self, action: ActionId, *, user: str = "U0ANY", channel: str | None = None,
              hours: int | None = None, anomaly_id: int | None = None) -> str:
        """Click a button; returns the response_url its ephemeral answer goes to."""
        value = AlertRef(anomaly_id=anomaly_id or self.anomaly_id, hours=hours).model_dump_json()
        options: dict[str, Any] = {"value": value}
        if action == ActionId.SNOOZE:
            options = {"selected_option": {"text": {"type": "plain_text", "text": f"{hours} h"},
                                           "value": value}}
        url = self.stub.new_response_url()
        body = block_actions_body(action_id=action.value, user_id=user,
                                  channel_id=channel or self.channel, message_ts=self.ts,
                                  response_url=url, **options)
        assert self.send(body)[0] == 200
        return url

    def answer(self, url: str) -> str:
        until(lambda: self.stub.responses(url))
        return self.stub.responses(url)[-1]["text"]

    def settle(self) -> None:
        """Let the listeners finish and the outbox send what they queued."""
        executor = self.app.listener_runner.listener_executor
        until(lambda: executor._work_queue.empty())
        time.sleep(0.2)
        self.deliverer.drain(timeout=10)

    def audit(self) -> list[str]:
        with Session(self.ctx.services.engine) as session:
            return [a.action for a in session.exec(select(AuditLog).order_by(AuditLog.id))]

    def thread(self) -> list[str]:
        return [m.text for m in self.stub.thread(self.channel, self.ts)]



@pytest.fixture
def stub() -> Iterator[SlackApiStub]:
    with SlackApiStub(ts_base=int(time.time())) as stub:
        yield stub


def _settings(tmp_path: Any, limits: LimitSettings) -> Settings:
    return Settings(
        database_url=f"sqlite:///{tmp_path / 'spendwatch.db'}",
        quarantine_dir=tmp_path / "quarantine", limits=limits,
        routing=RoutingSettings(default_channel=FINOPS,
                                owners={"team-support": SUPPORT, "team-data": DATA},
                                responders={"team-data": ["U0DATA"]}, finops=["U0FIN"]),
        escalation=EscalationSettings(channel=ESCALATE),
        schedule=ScheduleSettings(channel_pace_seconds=0))


def _anomaly(engine: Any, owner: str, project: str) -> int:
    with session_scope(engine) as session:
        row = Anomaly(project=project, environment="prod", owner=owner, phase="run",
                      kind="spike", started_at=NOW, detected_at=NOW, last_seen_at=NOW,
                      expected_cost=10, actual_cost=30, impact_usd=20, evidence={})
        session.add(row)
        session.flush()
        return int(row.id)


@pytest.fixture
def make_bot(tmp_path, stub) -> Iterator[Any]:
    made: list[tuple[Any, App]] = []

    def make(limits: LimitSettings | None = None, owner: str = "team-support") -> Bot:
        settings = _settings(tmp_path, limits or LimitSettings())
        services = build_services(settings)
        playbook = default_playbook(settings)
        client = make_client(TOKEN, base_url=stub.base_url)
        deliverer = Deliverer(
            engine=services.engine, sender=SlackSender(client), min_interval=0,
            render=lambda session, alert: load_alert_view(
                db_session=session, anomaly_id=alert.anomaly_id, playbook=playbook))
        anomaly_id = _anomaly(services.engine, owner, "support-agent")
        with session_scope(services.engine) as session:
            announce(db_session=session, settings=settings, anomaly_id=anomaly_id,
                     platform="slack", now=NOW)
        deliverer.drain(timeout=10)
        with Session(services.engine) as session:
            alert = session.exec(select(Alert)).one()
        ctx = SlackContext(services=services, playbook=playbook)
        app = build_app(ctx, client=client, signing_secret=SECRET)
        made.append((services, app))
        return Bot(app, ctx, stub, deliverer, anomaly_id, alert.channel, str(alert.message_ref))

    yield make
    for services, app in made:
        app.listener_runner.listener_executor.shutdown(wait=True)
        services.close()


def test_view_runbook_of_another_team_is_refused_politely(make_bot):
    bot = make_bot()
    with session_scope(bot.ctx.services.engine) as session:
        session.add(RunbookEntry(project="support-agent", environment="prod", service_name="",
                                 anomaly_id=bot.anomaly_id, root_cause="Secret root cause",
                                 fix="f", prevention="p", author="U0OWNER", created_at=NOW))
    answer = bot.answer(bot.click(ActionId.VIEW_RUNBOOK, channel=DATA))
    assert "Sorry, this runbook belongs to team-support" in answer
    bot.settle()
    assert not bot.stub.calls_to("views.open")

    bot.click(ActionId.VIEW_RUNBOOK, channel=SUPPORT)  # from the alert itself it opens
    view = bot.stub.wait_for("views.open")[-1].params["view"]
    assert "Secret root cause" in json.dumps(view)


@pytest.mark.parametrize("action", [ActionId.ACKNOWLEDGE, ActionId.ESCALATE,
                                    ActionId.START_PLAYBOOK, ActionId.EXPECTED])
def test_an_action_from_another_teams_channel_is_refused(make_bot, action):
    bot = make_bot()
    answer = bot.answer(bot.click(action, channel=DATA))
    assert "Sorry, this anomaly belongs to team-support" in answer
    bot.settle()
    assert bot.audit() == [] and not bot.stub.calls_to("views.open")


def test_a_non_responder_may_not_open_the_expected_form(make_bot):
    bot = make_bot(owner="team-data")
    answer = bot.answer(bot.click(ActionId.EXPECTED, user="U0ANY", channel=bot.channel))
    assert "routing.responders.team-data" in answer
    bot.settle()
    assert not bot.stub.calls_to("views.open")


def test_three_escalate_clicks_post_once_in_the_escalation_channel(make_bot):
    bot = make_bot()
    urls = [bot.click(ActionId.ESCALATE) for _ in range(3)]
    bot.settle()
    escalations = [m for m in bot.stub.messages.values() if m.channel == ESCALATE]
    assert len(escalations) == 1
    assert bot.audit() == ["escalated"]
    assert len([t for t in bot.thread() if "escalated" in t]) == 1
    answers = [bot.stub.responses(u) for u in urls]
    assert sum(1 for a in answers if a and "already escalated" in a[-1]["text"]) == 2


def test_a_repeated_snooze_changes_nothing_and_says_so(make_bot):
    bot = make_bot()
    bot.click(ActionId.SNOOZE, hours=4)
    bot.settle()
    answer = bot.answer(bot.click(ActionId.SNOOZE, hours=4))
    assert "already snoozed until" in answer and "nothing changed" in answer
    bot.settle()
    assert bot.audit() == ["snoozed"]
    assert len([t for t in bot.thread() if "snoozed" in t]) == 1


def _expected_body(bot: Bot, reason: str, user: str = "U0ANY") -> bytes:
    bot.click(ActionId.EXPECTED, user=user)
    form = bot.stub.wait_for("views.open", count=len(bot.stub.calls_to("views.open")) or 1)
    view = form[-1].params["view"]
    return view_submission_body(callback_id=view["callback_id"],
                                private_metadata=view["private_metadata"],
                                values={"reason": {"reason": plain_text_value(reason)}},
                                user_id=user)


def test_an_expected_reason_over_the_limit_is_refused_on_its_block(make_bot):
    bot = make_bot()
    status, text = bot.send(_expected_body(bot, "&" * 5000))
    assert status == 200
    answer = json.loads(text)
    assert answer["response_action"] == "errors"
    assert "the limit is 500" in answer["errors"]["reason"]
    bot.settle()
    assert bot.audit() == [] and not [t for t in bot.thread() if "expected" in t]


def test_an_expected_form_submitted_twice_is_recorded_once(make_bot):
    bot = make_bot()
    body = _expected_body(bot, "Planned load test until Friday")
    assert bot.send(body) == (200, "")
    assert bot.send(body)[0] == 200  # the same submission again: closes, changes nothing
    bot.settle()
    assert bot.audit() == ["expected"]
    assert len([t for t in bot.thread() if "expected" in t]) == 1


def test_cost_beyond_the_per_user_limit_is_asked_to_slow_down(make_bot):
    bot = make_bot(LimitSettings(commands_per_minute=3))
    urls = []
    for _ in range(5):
        url = bot.stub.new_response_url()
        body = slash_command_body(text="help", user_id="U0FAST", channel_id=FINOPS,
                                  response_url=url)
        assert bot.send(body)[0] == 200
        urls.append(url)
    texts = [bot.answer(u) for u in urls]
    slowed = [t for t in texts if "try again in" in t]
    assert len(slowed) == 2 and "please try again in 20 s" in slowed[0]
    other = bot.stub.new_response_url()  # someone else is not held up
    bot.send(slash_command_body(text="help", user_id="U0CALM", channel_id=FINOPS,
                                response_url=other))
    assert "try again" not in bot.answer(other)


def test_clicks_beyond_the_per_user_limit_do_nothing_and_say_when_to_retry(make_bot):
    bot = make_bot(LimitSettings(actions_per_minute=2))
    bot.click(ActionId.VIEW_RUNBOOK)
    bot.click(ActionId.VIEW_RUNBOOK)
    answer = bot.answer(bot.click(ActionId.ACKNOWLEDGE))
    assert "please try again in 30 s" in answer
    bot.settle()
    assert bot.audit() == []
    body = view_submission_body(callback_id=CallbackId.EXPECTED_REASON.value,
                                private_metadata="{}",
                                values={"reason": {"reason": plain_text_value("load test")}},
                                user_id="U0ANY")
    answer = json.loads(bot.send(body)[1])
    assert answer["response_action"] == "errors" and "try again in" in answer["errors"]["reason"]


def test_a_request_sent_again_with_its_signature_is_dropped(make_bot):
    bot = make_bot()
    url = bot.stub.new_response_url()
    body = slash_command_body(text="help", user_id="U0ANY", channel_id=FINOPS,
                              response_url=url)
    headers = sign(body, SECRET)
    for _ in range(3):  # the very same signed bytes, as a captured request replayed
        response = bot.app.dispatch(BoltRequest(body=body.decode(), headers=headers))
        assert response.status == 200
    bot.answer(url)
    bot.settle()
    assert len(bot.stub.responses(url)) == 1
    fresh = bot.stub.new_response_url()  # the same question asked anew is answered
    bot.send(slash_command_body(text="help", user_id="U0ANY", channel_id=FINOPS,
                                response_url=fresh))
    assert "/cost" in bot.answer(fresh)


def test_a_step_answer_over_its_max_length_is_refused_on_its_box(make_bot):
    bot = make_bot()
    bot.click(ActionId.START_PLAYBOOK)
    view = bot.stub.wait_for("views.open")[-1].params["view"]
    note = next(b for b in view["blocks"] if b.get("block_id") == "note")
    limit = note["element"]["max_length"]
    values = {"owner": {"owner": {"type": "users_select", "selected_user": "U0ANY"}},
              "note": {"note": plain_text_value("&" * (limit + 1))}}
    body = view_submission_body(callback_id=view["callback_id"],
                                private_metadata=view["private_metadata"], values=values,
                                user_id="U0ANY")
    answer = json.loads(bot.send(body)[1])
    assert answer["response_action"] == "errors"
    assert f"Shorten it to {limit} or fewer" in answer["errors"]["note"]
    bot.settle()
    assert bot.audit() == ["playbook_started"]
