"""The Slack side end to end, over real HTTP, as a team would use it.

The real app runs in HTTP mode on a free port; the real ``slack_sdk`` WebClient talks to a
local Slack Web API stub (``SLACK_API_URL``); requests are signed the way Slack signs them.
Cost data is the generated demo export, whose classic incident (verbose logging switched on
by an agent release) is going on in the newest hours.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlmodel import Session, select

from bot.anomaly.service import announce
from bot.chat.ids import ActionId, AlertRef, CallbackId, StepMeta
from bot.chat.slack.blocks import money
from bot.chat.slack.modals import step_modal
from bot.demodata import write_demo_data
from bot.demodata.catalogue import LINES
from bot.playbook import PlaybookState
from bot.runner import Mode, Runtime
from bot.scheduler import check_escalations, poll
from bot.settings import (
    EscalationSettings,
    FocusSourceSettings,
    RoutingSettings,
    ScheduleSettings,
    Settings,
)
from bot.wiring import build_services
from storage.models import Alert, Anomaly, AuditLog, OutboxMessage, Plan, RunbookEntry
from storage.queries.runbooks import get_playbook_run
from tests.support.slack_requests import (
    block_actions_body,
    checkboxes_value,
    plain_text_value,
    post,
    sign,
    slash_command_body,
    static_select_value,
    users_select_value,
    view_submission_body,
)
from tests.support.slack_runtime import http_runtime, until
from tests.support.slack_stub import SlackApiStub

SECRET = "8f742231b10e8888abcd99yyyzzz85a5"
TOKEN = "xoxb-1234-5678-test"
OWNER_CHANNEL = "C0SUPPORT"
FINOPS = "C0FINOPS"


@pytest.fixture(scope="module")
def demo_data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("demo-data")
    write_demo_data(out, days=21, seed=42)
    return out


@pytest.fixture
def stub() -> Iterator[SlackApiStub]:
    with SlackApiStub(ts_base=int(time.time())) as stub:  # message ts are clock times in Slack
        yield stub


@pytest.fixture
def runtime(settings: Settings, demo_data: Path, stub: SlackApiStub) -> Iterator[Runtime]:
    settings = settings.model_copy(update={
        "sources": [FocusSourceSettings(path=demo_data, name="demo")],
        "routing": RoutingSettings(default_channel=FINOPS, owners=_owner_channels(demo_data)),
        "escalation": EscalationSettings(ack_minutes=1, escalate_minutes=2),
        # pacing is tested on its own; here it would only make the walk slow
        "schedule": ScheduleSettings(channel_pace_seconds=0.05),
    })
    with http_runtime(settings, stub, token=TOKEN, secret=SECRET) as running:
        yield running


def _owner_channels(demo_data: Path) -> dict[str, str]:
    """Every team of the demo company has its channel; unallocated spend goes to FinOps."""
    return {line.owner: OWNER_CHANNEL for line in LINES if line.owner}


def url(runtime: Runtime) -> str:
    return f"http://127.0.0.1:{runtime.http_port}/slack/events"


def send(runtime: Runtime, body: bytes, *, timestamp: int | None = None,
         secret: str = SECRET) -> tuple[int, str]:
    status, _, text = post(url(runtime), body, sign(body, secret, timestamp))
    return status, text


def deliver(runtime: Runtime) -> None:
    runtime.deliverer.drain(timeout=20)



def announce_live_incident(runtime: Runtime, stub: SlackApiStub) -> tuple[Anomaly, str, str]:
    result = poll(runtime.services, platforms=("slack",))
    assert result.open, "the demo's live incident should be open"
    deliver(runtime)
    posts = [c for c in stub.calls_to("chat.postMessage") if c.ok and "thread_ts" not in c.params]
    assert posts, "no alert was posted"
    with Session(runtime.services.engine) as session:
        anomaly = session.exec(select(Anomaly).where(Anomaly.status == "open")).first()
        alert = session.exec(select(Alert).where(Alert.anomaly_id == anomaly.id)).one()
    assert alert.message_ref is not None
    return anomaly, alert.channel, alert.message_ref


def click(runtime: Runtime, stub: SlackApiStub, action: ActionId, anomaly_id: int, *,
          user: str, channel: str, ts: str, hours: int | None = None) -> tuple[int, str]:
    value = AlertRef(anomaly_id=anomaly_id, hours=hours).model_dump_json()
    options: dict[str, Any] = {"value": value}
    if action == ActionId.SNOOZE:
        options = {"selected_option": {"text": {"type": "plain_text", "text": f"{hours} h"},
                                       "value": value}}
    body = block_actions_body(action_id=action.value, user_id=user, channel_id=channel,
                              message_ts=ts, response_url=stub.new_response_url(), **options)
    return send(runtime, body)


def fill(view: dict[str, Any], user: str, choices: dict[str, str]) -> dict[str, Any]:
    """What a person types into the modal: every input answered, checklists ticked."""
    values: dict[str, Any] = {}
    for block in view["blocks"]:
        if block.get("type") != "input":
            continue
        element = block["element"]
        kind, action = element["type"], element["action_id"]
        if kind == "users_select":
            value = users_select_value(user)
        elif kind == "static_select":
            options = [o["value"] for o in element["options"]]
            wanted = choices.get(block["block_id"])
            value = static_select_value(next((o for o in options if wanted and
                                              o.startswith(wanted)), options[0]))
        elif kind == "checkboxes":
            value = checkboxes_value([o["value"] for o in element["options"]])
        elif kind == "datepicker":
            value = {"type": "datepicker",
                     "selected_date": choices.get(block["block_id"], element["initial_date"])}
        elif block.get("optional") and block["block_id"].endswith("__reason"):
            value = plain_text_value(None)
        else:
            value = plain_text_value(choices.get(block["block_id"], f"{block['block_id']} "
                                                 "answered by the on-call engineer"))
        values[block["block_id"]] = {action: value}
    return values


def open_modal(stub: SlackApiStub, count: int) -> dict[str, Any]:
    call = stub.wait_for("views.open", count=count)[-1]
    return call.params["view"]


def test_alert_ack_playbook_runbook_and_cost_over_http(runtime, stub):
    anomaly, channel, ts = announce_live_incident(runtime, stub)
    assert channel == OWNER_CHANNEL
    message = stub.message(channel, ts)
    actions = [e["action_id"] for b in message.blocks if b["type"] == "actions"
               for e in b["elements"]]
    assert ActionId.ACKNOWLEDGE.value in actions and ActionId.START_PLAYBOOK.value in actions
    shown = json.dumps(message.blocks)
    assert "AmazonCloudWatch" in shown and anomaly.project in shown  # the verbose-logging line
    assert "Suggested levers" in shown and "verbosity" in shown
    assert stub.uploads, "the chart goes into the thread"
    assert stub.calls_to("files.completeUploadExternal")[-1].params.get("thread_ts") == ts

    started = time.perf_counter()
    status, _ = click(runtime, stub, ActionId.ACKNOWLEDGE, anomaly.id, user="U0ACK",
                      channel=channel, ts=ts)
    assert status == 200 and time.perf_counter() - started < 3
    until(lambda: any("acknowledged" in m.text for m in stub.thread(channel, ts))
          and "U0ACK" in json.dumps(stub.message(channel, ts).blocks))
    updated = stub.message(channel, ts)
    assert updated.edits >= 1 and "U0ACK" in json.dumps(updated.blocks)
    assert ActionId.ACKNOWLEDGE.value not in json.dumps(updated.blocks)
    assert any("acknowledged" in m.text for m in stub.thread(channel, ts))

    # the five steps, taken by two people; each Save moves the modal on to the next step
    click(runtime, stub, ActionId.START_PLAYBOOK, anomaly.id, user="U0ACK", channel=channel,
          ts=ts)
    view = open_modal(stub, 1)
    titles = []
    choices = {"change": "logging", "lever": "logging."}
    for number in range(5):
        titles.append(view["title"]["text"])
        user = "U0ACK" if number < 2 else "U0SRE"
        body = view_submission_body(callback_id=view["callback_id"],
                                    private_metadata=view["private_metadata"],
                                    values=fill(view, user, choices), user_id=user)
        status, text = send(runtime, body)
        assert status == 200, text
        answer = json.loads(text) if text else {}
        assert answer.get("response_action") != "errors", answer
        if number < 4:
            assert answer["response_action"] == "update"
            view = answer["view"]
    assert view["callback_id"] == CallbackId.PLAYBOOK_STEP.value
    assert len(titles) == 5 and titles[0] == "Owner"
    until(lambda: any("runbook" in m.text for m in stub.thread(channel, ts)))
    deliver(runtime)

    with Session(runtime.services.engine) as session:
        stored = session.get(Anomaly, anomaly.id)
        entries = session.exec(select(RunbookEntry)).all()
        audit = [a.action for a in session.exec(select(AuditLog)).all()]
    assert stored.response == "resolved" and stored.response_by == "U0SRE"
    assert len(entries) == 1 and entries[0].project == anomaly.project
    assert {"acknowledged", "playbook_started", "stabilised", "resolved"} <= set(audit)
    final = stub.message(channel, ts)
    assert ActionId.START_PLAYBOOK.value not in json.dumps(final.blocks)
    assert len([m for m in stub.messages.values() if m.thread_ts is None
                and m.channel == channel]) == 1, "the alert is updated in place, never re-posted"

    # the next incident on this workload starts from what the team learned
    assert "What fixed it last time" not in json.dumps(final.blocks), "not its own fix"
    with Session(runtime.services.engine) as session:
        again = Anomaly(**{k: v for k, v in stored.model_dump().items()
                           if k not in ("id", "response", "response_by", "response_at",
                                        "response_note")})
        session.add(again)
        session.commit()
        again_id = again.id
    with Session(runtime.services.engine) as session:
        announce(db_session=session, settings=runtime.services.settings, anomaly_id=again_id,
                 platform="slack", now=datetime.now(UTC))
        session.commit()
    deliver(runtime)
    second = [m for m in stub.messages.values() if m.thread_ts is None and m.channel == channel
              and m.ts != ts]
    assert len(second) == 1
    shown = json.dumps(second[0].blocks)
    assert "What fixed it last time" in shown and entries[0].root_cause[:40] in shown

    # /cost answers ephemerally on the response_url, after a quick ack
    response_url = stub.new_response_url()
    body = slash_command_body(text=anomaly.project, user_id="U0ACK", channel_id=FINOPS,
                              response_url=response_url)
    started = time.perf_counter()
    status, _ = send(runtime, body)
    assert status == 200 and time.perf_counter() - started < 3
    answer = _wait_response(stub, response_url)
    assert answer["response_type"] == "ephemeral" and anomaly.project in answer["text"]
    assert "$" in answer["text"]


def _wait_response(stub: SlackApiStub, response_url: str) -> dict[str, Any]:
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        answers = stub.responses(response_url)
        if answers:
            return answers[-1]
        time.sleep(0.02)
    raise AssertionError("no answer on the response_url")


def test_forged_and_stale_signatures_are_refused_and_change_nothing(runtime, stub):
    anomaly, channel, ts = announce_live_incident(runtime, stub)
    body = block_actions_body(action_id=ActionId.ACKNOWLEDGE.value,
                              value=AlertRef(anomaly_id=anomaly.id).model_dump_json(),
                              user_id="U0EVE", channel_id=channel, message_ts=ts)
    assert send(runtime, body, secret="not-the-secret")[0] == 401
    assert send(runtime, body, timestamp=int(time.time()) - 600)[0] == 401
    with Session(runtime.services.engine) as session:
        assert session.get(Anomaly, anomaly.id).response == "none"


def test_healthz_answers(runtime):
    import urllib.request

    with urllib.request.urlopen(f"http://127.0.0.1:{runtime.http_port}/healthz") as answer:
        assert answer.status == 200 and json.loads(answer.read())["ok"] is True


def test_a_429_and_a_500_lose_nothing_and_duplicate_nothing(runtime, stub):
    stub.fail_next("chat.postMessage", status=429, retry_after=1)
    stub.fail_next("files.getUploadURLExternal", status=500)
    anomaly, channel, ts = announce_live_incident(runtime, stub)
    statuses = [c.status for c in stub.calls_to("chat.postMessage")]
    assert statuses[0] == 429
    first_try, retry = stub.calls_to("chat.postMessage")[:2]
    assert retry.received_at - first_try.received_at >= 0.9, "Retry-After was honoured"
    stub.fail_next("chat.update", status=500)
    click(runtime, stub, ActionId.ACKNOWLEDGE, anomaly.id, user="U0ACK", channel=channel,
          ts=ts)
    until(lambda: any("acknowledged" in m.text for m in stub.thread(channel, ts)))
    deliver(runtime)
    alerts = [m for m in stub.messages.values() if m.channel == channel and m.thread_ts is None]
    assert len(alerts) == 1
    assert "U0ACK" in json.dumps(stub.message(channel, ts).blocks)
    assert stub.uploads, "the chart arrived after the server error"
    with Session(runtime.services.engine) as session:
        states = {m.status for m in session.exec(select(OutboxMessage)).all()}
    assert states == {"sent"}


def test_a_chart_that_arrived_before_a_crash_is_not_uploaded_again(runtime, stub):
    anomaly, channel, ts = announce_live_incident(runtime, stub)
    assert len(stub.uploads) == 1
    with Session(runtime.services.engine) as session:  # as if the process died before recording
        message = session.exec(select(OutboxMessage).where(
            OutboxMessage.operation == "chart")).one()
        message.status, message.next_attempt_at = "pending", message.created_at
        session.add(message)
        session.commit()
    deliver(runtime)
    assert len(stub.uploads) == 1
    assert stub.calls_to("conversations.replies"), "the outbox looked in the thread first"


def test_a_post_that_arrived_before_a_crash_is_not_sent_again(runtime, stub):
    anomaly, channel, ts = announce_live_incident(runtime, stub)
    with Session(runtime.services.engine) as session:  # as if the process died before recording
        message = session.exec(select(OutboxMessage).where(
            OutboxMessage.operation == "post")).one()
        message.status, message.result_ref = "pending", None
        message.next_attempt_at = message.created_at  # its claim has expired
        alert = session.get(Alert, message.alert_id)
        alert.message_ref, alert.status = None, "pending"
        session.add(message)
        session.add(alert)
        session.commit()
    deliver(runtime)
    alerts = [m for m in stub.messages.values() if m.channel == channel and m.thread_ts is None]
    assert len(alerts) == 1
    assert stub.calls_to("conversations.history"), "the outbox looked before re-posting"
    with Session(runtime.services.engine) as session:
        assert session.exec(select(Alert)).one().message_ref == ts


def _posted_minutes_ago(runtime: Runtime, minutes: float) -> None:
    with Session(runtime.services.engine) as session:
        alert = session.exec(select(Alert)).one()
        alert.created_at = datetime.now(UTC) - timedelta(minutes=minutes)
        session.add(alert)
        session.commit()


def test_unacknowledged_alerts_remind_the_owner_then_escalate(runtime, stub):
    anomaly, channel, ts = announce_live_incident(runtime, stub)
    assert check_escalations(runtime.services) == 0, "too early for a reminder"
    _posted_minutes_ago(runtime, 1.1)
    assert check_escalations(runtime.services) == 1
    deliver(runtime)
    assert any("Reminder" in m.text and anomaly.owner in m.text
               for m in stub.thread(channel, ts))
    _posted_minutes_ago(runtime, 2.1)
    assert check_escalations(runtime.services) == 1
    deliver(runtime)
    escalations = [m for m in stub.messages.values() if m.channel == FINOPS]
    assert len(escalations) == 1 and anomaly.project in escalations[0].text
    assert "Open the alert" in escalations[0].text
    assert check_escalations(runtime.services) == 0, "each happens once"


def test_snoozing_pauses_reminders(runtime, stub):
    anomaly, channel, ts = announce_live_incident(runtime, stub)
    _posted_minutes_ago(runtime, 5)
    click(runtime, stub, ActionId.SNOOZE, anomaly.id, user="U0ACK", channel=channel, ts=ts,
          hours=4)
    until(lambda: any("snoozed" in m.text for m in stub.thread(channel, ts)))
    assert check_escalations(runtime.services) == 0
    with Session(runtime.services.engine) as session:
        assert session.get(Anomaly, anomaly.id).snoozed_until is not None


def test_someone_outside_the_responders_may_not_resolve(runtime, stub):
    routing = runtime.services.settings.routing
    anomaly, channel, ts = announce_live_incident(runtime, stub)
    runtime.services.settings = runtime.services.settings.model_copy(update={
        "routing": routing.model_copy(update={"responders": {anomaly.owner: ["U0OWNER"]}})})
    response_url = stub.new_response_url()
    body = block_actions_body(action_id=ActionId.ACKNOWLEDGE.value,
                              value=AlertRef(anomaly_id=anomaly.id).model_dump_json(),
                              user_id="U0STRANGER", channel_id=channel, message_ts=ts,
                              response_url=response_url)
    assert send(runtime, body)[0] == 200
    answer = _wait_response(stub, response_url)
    assert "routing.responders" in answer["text"]
    with Session(runtime.services.engine) as session:
        assert session.get(Anomaly, anomaly.id).response == "none"


@pytest.mark.parametrize("action", list(ActionId))
def test_every_action_id_has_a_listener(runtime, stub, action):
    """An action nobody listens to would be a dead button: Bolt answers 404 for those."""
    response_url = stub.new_response_url()
    body = block_actions_body(action_id=action.value,
                              value=AlertRef(anomaly_id=999_999, hours=1).model_dump_json(),
                              user_id="U0ACK", channel_id=FINOPS, message_ts="1.000100",
                              response_url=response_url)
    assert send(runtime, body)[0] == 200
    assert "does not exist" in _wait_response(stub, response_url)["text"]


@pytest.mark.parametrize("callback", [CallbackId.PLAYBOOK_STEP, CallbackId.EXPECTED_REASON])
def test_every_form_callback_has_a_listener(runtime, callback):
    meta = '{"v": 1, "anomaly_id": 999999, "step_id": "owner", "channel": "C0FINOPS"}'
    body = view_submission_body(callback_id=callback.value, private_metadata=meta,
                                values={"reason": {"reason": plain_text_value("load test")}},
                                user_id="U0ACK")
    status, text = send(runtime, body)
    assert status == 200 and json.loads(text)["response_action"] == "errors"


def test_a_tampered_button_value_is_refused_with_a_clear_message(runtime, stub):
    response_url = stub.new_response_url()
    body = block_actions_body(action_id=ActionId.ACKNOWLEDGE.value, value='{"v": 9}',
                              user_id="U0ACK", channel_id=FINOPS, message_ts="1.000100",
                              response_url=response_url)
    assert send(runtime, body)[0] == 200
    assert "cannot read" in _wait_response(stub, response_url)["text"]


def test_expected_with_a_reason_closes_the_alert_and_view_runbook_opens(runtime, stub):
    anomaly, channel, ts = announce_live_incident(runtime, stub)
    click(runtime, stub, ActionId.EXPECTED, anomaly.id, user="U0ACK", channel=channel, ts=ts)
    form = open_modal(stub, 1)
    assert form["callback_id"] == CallbackId.EXPECTED_REASON.value
    body = view_submission_body(callback_id=form["callback_id"],
                                private_metadata=form["private_metadata"],
                                values=fill(form, "U0ACK",
                                            {"reason": "Planned load test <!channel>",
                                             "plan_envelope": "$2k", "plan_scope": "service"}),
                                user_id="U0ACK")
    status, text = send(runtime, body)
    assert status == 200 and not text.strip("{} ")
    until(lambda: any("expected" in m.text for m in stub.thread(channel, ts)))
    until(lambda: "Planned load test" in json.dumps(stub.message(channel, ts).blocks))
    shown = json.dumps(stub.message(channel, ts).blocks)
    assert "<!channel>" not in shown and "&lt;!channel&gt;" in shown
    assert ActionId.ACKNOWLEDGE.value not in shown
    with Session(runtime.services.engine) as session:
        assert session.get(Anomaly, anomaly.id).response == "expected"
        [plan] = session.exec(select(Plan)).all()  # the same spend stays quiet a week
    assert (plan.anomaly_id, plan.amount_usd, plan.service_name, plan.created_by) == (
        anomaly.id, 2000.0, "AmazonCloudWatch", "U0ACK")
    assert plan.reason == "Planned load test <!channel>"
    assert plan.ends_at.date() == (datetime.now(UTC) + timedelta(days=8)).date()
    until(lambda: any("plan #" in m.text for m in stub.thread(channel, ts)))

    click(runtime, stub, ActionId.VIEW_RUNBOOK, anomaly.id, user="U0ACK", channel=channel,
          ts=ts)
    runbook = open_modal(stub, 2)
    assert runbook["callback_id"] == CallbackId.RUNBOOK_VIEW.value
    assert "No runbook entries yet" in json.dumps(runbook)


def test_app_home_lists_open_anomalies(runtime, stub):
    anomaly, _, _ = announce_live_incident(runtime, stub)
    event = {"token": "x", "team_id": "T0001", "api_app_id": "A0001", "type": "event_callback",
             "event_id": "Ev01", "event_time": int(time.time()),
             "event": {"type": "app_home_opened", "user": "U0ACK", "channel": "D0001",
                       "tab": "home", "event_ts": f"{time.time():.6f}"}}
    body = json.dumps(event).encode()
    status, _, _ = post(url(runtime), body, sign(body, SECRET, content_type="application/json"))
    assert status == 200
    call = stub.wait_for("views.publish")[-1]
    assert call.params["user_id"] == "U0ACK"
    assert anomaly.project in json.dumps(call.params["view"])


def test_app_home_that_slack_refuses_is_a_warning_not_a_crash(runtime, stub, caplog):
    """Slack failing views.publish (an outage, a user it no longer knows) costs that one
    drawing of the tab: a warning naming Slack's error, no traceback logged as an error."""
    event = {"token": "x", "team_id": "T0001", "api_app_id": "A0001", "type": "event_callback",
             "event_id": "Ev02", "event_time": int(time.time()),
             "event": {"type": "app_home_opened", "user": "U0GONE", "channel": "D0002",
                       "tab": "home", "event_ts": f"{time.time():.6f}"}}
    body = json.dumps(event).encode()
    stub.error_next("views.publish", "user_not_found")
    caplog.set_level(logging.WARNING)
    status, _, _ = post(url(runtime), body, sign(body, SECRET, content_type="application/json"))
    assert status == 200
    until(lambda: any("App Home for U0GONE was not published" in r.getMessage()
                      for r in caplog.records))
    assert "user_not_found" in caplog.text
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert "U0GONE" not in stub.home_views


def test_app_home_shows_only_the_users_teams_once_responders_are_set(runtime, stub):
    anomaly, _, _ = announce_live_incident(runtime, stub)
    with Session(runtime.services.engine) as session:
        session.add(RunbookEntry(project=anomaly.project, environment=anomaly.environment,
                                 service_name="AmazonCloudWatch", anomaly_id=anomaly.id,
                                 root_cause="Debug logging left on", fix="INFO level",
                                 prevention="release check", author="U0OWNER",
                                 created_at=datetime.now(UTC)))
        session.commit()
    routing = runtime.services.settings.routing
    runtime.services.settings = runtime.services.settings.model_copy(update={
        "routing": routing.model_copy(update={"responders": {anomaly.owner: ["U0OWNER"],
                                                             "team-other": ["U0OTHER"]}})})
    shown = {}
    for user in ("U0OWNER", "U0OTHER"):
        event = {"type": "event_callback", "team_id": "T0001", "api_app_id": "A0001",
                 "event_id": f"Ev{user}", "event_time": int(time.time()),
                 "event": {"type": "app_home_opened", "user": user, "tab": "home",
                           "channel": "D0001", "event_ts": f"{time.time():.6f}"}}
        body = json.dumps(event).encode()
        post(url(runtime), body, sign(body, SECRET, content_type="application/json"))
        until(lambda user=user: any(c.params.get("user_id") == user
                                    for c in stub.calls_to("views.publish")))
        call = [c for c in stub.calls_to("views.publish") if c.params["user_id"] == user][-1]
        shown[user] = json.dumps(call.params["view"])
    assert anomaly.project in shown["U0OWNER"] and "Debug logging left on" in shown["U0OWNER"]
    assert anomaly.project not in shown["U0OTHER"]
    assert "Debug logging left on" not in shown["U0OTHER"]


def test_cost_in_an_owner_channel_sees_only_that_owners_projects(runtime, stub):
    announce_live_incident(runtime, stub)
    runtime.services.settings = runtime.services.settings.model_copy(update={
        "routing": RoutingSettings(default_channel=FINOPS, owners={"team-support": "C0SUP"})})
    answers = {}
    for channel in ("C0SUP", FINOPS):
        response_url = stub.new_response_url()
        body = slash_command_body(text="top 25 30d", user_id="U0ACK", channel_id=channel,
                                  response_url=response_url)
        assert send(runtime, body)[0] == 200
        answers[channel] = _wait_response(stub, response_url)["text"]
    assert "support-agent" in answers["C0SUP"] and "support-agent" in answers[FINOPS]
    others = [line.project for line in LINES if line.project and line.owner != "team-support"]
    assert not [p for p in others if p in answers["C0SUP"]]
    assert [p for p in others if p in answers[FINOPS]]


def test_garbage_cost_text_gets_the_help(runtime, stub):
    response_url = stub.new_response_url()
    body = slash_command_body(text="make it cheaper please!!", user_id="U0ACK",
                              channel_id=FINOPS, response_url=response_url)
    assert send(runtime, body)[0] == 200
    text = _wait_response(stub, response_url)["text"]
    assert "/cost top" in text and "/cost anomalies" in text


def test_run_polls_at_start_and_posts_without_being_asked(settings, demo_data, stub):
    """The scheduler's first poll runs at start: ingest, detect, post to the owner's channel."""
    settings = settings.model_copy(update={
        "sources": [FocusSourceSettings(path=demo_data, name="demo")],
        "routing": RoutingSettings(default_channel=FINOPS, owners=_owner_channels(demo_data)),
        "schedule": ScheduleSettings(channel_pace_seconds=0.05),
    })
    services = build_services(settings)
    mode = Mode("http", bot_token=TOKEN, signing_secret=SECRET, api_url=stub.base_url)
    running = Runtime(services, mode, port=0, host="127.0.0.1").start()
    try:
        post_call = stub.wait_for("chat.postMessage", timeout=60)[0]
        assert post_call.params["channel"] == OWNER_CHANNEL
        assert running.parts["scheduler"].get_job("poll") is not None
    finally:
        running.stop()
        services.close()


def _without_newest_hours(source: Path, target: Path, hours: int) -> None:
    """The same export as it looked ``hours`` hours earlier (later rows not yet delivered)."""
    import pandas as pd

    target.mkdir(parents=True, exist_ok=True)
    for file in source.glob("*.csv.gz"):
        rows = pd.read_csv(file, dtype=str, keep_default_na=False)
        newest = pd.to_datetime(rows["ChargePeriodStart"], utc=True).max()
        keep = pd.to_datetime(rows["ChargePeriodStart"], utc=True) <= newest - pd.Timedelta(
            hours=hours)
        rows[keep].to_csv(target / file.name, index=False, compression="gzip")


def test_the_alert_grows_in_place_as_new_hours_arrive(runtime, stub, demo_data, tmp_path):
    drop = tmp_path / "drop"
    _without_newest_hours(demo_data, drop, hours=3)
    source = FocusSourceSettings(path=drop, name="drop")
    runtime.services.settings = runtime.services.settings.model_copy(
        update={"sources": [source]})
    anomaly, channel, ts = announce_live_incident(runtime, stub)
    first_impact = anomaly.impact_usd

    for file in demo_data.glob("*.csv.gz"):  # the export is re-delivered with three more hours
        (drop / file.name).write_bytes(file.read_bytes())
    result = poll(runtime.services, platforms=("slack",))
    assert any(e.kind == "updated" for e in result.events)
    deliver(runtime)
    with Session(runtime.services.engine) as session:
        grown = session.get(Anomaly, anomaly.id)
    assert grown.impact_usd > first_impact
    assert stub.message(channel, ts).edits >= 1
    alerts = [m for m in stub.messages.values() if m.thread_ts is None and m.channel == channel]
    assert len(alerts) == 1, "updated in place, never re-posted"
    assert money(grown.impact_usd) in json.dumps(stub.message(channel, ts).blocks)


def test_two_people_saving_steps_at_the_same_moment_both_count(runtime, stub):
    anomaly, channel, ts = announce_live_incident(runtime, stub)
    click(runtime, stub, ActionId.START_PLAYBOOK, anomaly.id, user="U0ACK", channel=channel,
          ts=ts)
    first = open_modal(stub, 1)
    meta = json.loads(first["private_metadata"])
    playbook = runtime.playbook
    bodies = []
    for step_id, user in (("owner", "U0ACK"), ("what_changed", "U0SRE")):
        step = playbook.step(step_id)
        step_meta = StepMeta(anomaly_id=anomaly.id, step_id=step_id, channel=meta["channel"],
                             message_ts=meta.get("message_ts"))
        view = step_modal(playbook, step, step_meta, state=None, dynamic_options=None,
                          position=(1, 5)).to_dict()
        bodies.append(view_submission_body(
            callback_id=view["callback_id"], private_metadata=view["private_metadata"],
            values=fill(view, user, {"change": "logging"}), user_id=user))
    with ThreadPoolExecutor(max_workers=2) as pool:
        statuses = list(pool.map(lambda body: send(runtime, body)[0], bodies))
    assert statuses == [200, 200]
    with Session(runtime.services.engine) as session:
        state = PlaybookState.model_validate(
            get_playbook_run(db_session=session, anomaly_id=anomaly.id).answers)
    assert {"owner", "what_changed"} <= set(state.steps)
    assert state.steps["what_changed"].by == "U0SRE" and state.steps["owner"].by == "U0ACK"


def test_an_unknown_channel_is_set_aside_with_what_to_fix(runtime, stub, caplog):
    stub.known_channels = {FINOPS}  # the owner's channel id in routing.owners is wrong
    poll(runtime.services, platforms=("slack",))
    deliver(runtime)
    with Session(runtime.services.engine) as session:
        messages = session.exec(select(OutboxMessage)).all()
    assert {m.status for m in messages} == {"dead"}
    post = next(m for m in messages if m.operation == "post")
    assert "channel_not_found" in post.last_error and "routing.owners" in post.last_error
    assert any("set aside" in r.message and "routing.owners" in r.message
               for r in caplog.records)
    assert not [c for c in stub.calls_to("chat.postMessage") if c.ok]
