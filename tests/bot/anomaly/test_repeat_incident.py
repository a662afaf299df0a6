"""A repeated incident, replayed through the real poll and playbook path: the second alert on a
workload carries the first one's resolution, and its playbook opens with the first walk's
answers, pre-filled for the responder to confirm.

The data is a generated FOCUS export over four weeks: CloudWatch ingestion on the ``agent``
workload jumps twelvefold for three hours on day 21 (debug logging left on), and again on day
28. The export is re-delivered as time passes, as a billing export is; each poll ingests it
and runs the detection pass the scheduler runs.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from sqlmodel import Session, select

from bot.anomaly.desk import AnomalyDesk
from bot.anomaly.poll import poll_store
from bot.chat.ids import ActionId, AlertRef
from bot.chat.slack.blocks import alert_message
from bot.ingest.service import ingest_path
from bot.playbook import SelectAnswer
from bot.runner import Runtime
from bot.scheduler import poll
from bot.settings import FocusSourceSettings, RoutingSettings, ScheduleSettings, Settings
from bot.wiring import Services
from storage.models import Anomaly, PlaybookRun, RunbookEntry
from tests.support.focus_files import write_focus_csv
from tests.support.slack_requests import (
    block_actions_body,
    checkboxes_value,
    plain_text_value,
    post,
    sign,
    static_select_value,
    users_select_value,
    view_submission_body,
)
from tests.support.slack_runtime import http_runtime, until
from tests.support.slack_stub import SlackApiStub

START = pd.Timestamp("2026-09-01T00:00:00Z")
FIRST = 21 * 24 - 3  # the first incident's first hour (index), three hours long
SECOND = 27 * 24 + 10  # six days later, in the morning
ALICE, BOB = "U0ALICE", "U0BOB"
CHANNEL = "C0AGENT"
ROUTING = RoutingSettings(default_channel="C0FINOPS", owners={"team-x": CHANNEL},
                          responders={"team-x": [ALICE, BOB]})
ANSWERS: dict[str, dict[str, object]] = {
    "owner": {"owner": ALICE, "note": "log group /aws/lambda/agent-worker"},
    "what_changed": {"change": "logging", "note": "DEBUG on since release 2.14"},
    "stabilise": {"lever": "verbosity", "action": "LOG_LEVEL DEBUG -> INFO on agent-worker"},
    "review": {"checks": {"checked": ["logging", "limits", "guardrail", "owner_budget",
                                      "second_review", "rollback"]}},
    "document": {"root_cause": "Debug logging left on after release 2.14",
                 "fix": "Log level back to INFO", "prevention": "DEBUG expires after a day"},
}


LINES = (("Amazon Bedrock", 20.0, "agent", "AI and Machine Learning", "Tokens"),
         ("AmazonCloudWatch", 2.0, "agent", "Management and Governance", "GB"),
         ("Amazon EC2", 8.0, "batch", "Compute", "Hours"))


UNIT_PRICE = 0.5  # dollars per unit, steady: the incidents are more usage, not dearer usage


def export(folder: Path, *, hours: int) -> Path:
    """The billing export as it stands after ``hours`` hours: three lines of spend, CloudWatch
    twelvefold during each incident that has begun."""
    rng = np.random.default_rng(3)
    rows = []
    for index, hour in enumerate(pd.date_range(START, periods=hours, freq="h")):
        for service, level, project, category, unit in LINES:
            cost = level * (1 + 0.3 * np.sin(hour.hour / 24 * 2 * np.pi)) * rng.lognormal(0, .05)
            if service == "AmazonCloudWatch" and any(s <= index < s + 3 for s in (FIRST, SECOND)):
                cost *= 12
            rows.append({
                "ChargePeriodStart": hour.strftime("%Y-%m-%dT%H:%M:%SZ"),
                "ChargePeriodEnd": (hour + pd.Timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%SZ"),
                "BillingPeriodStart": "2026-09-01T00:00:00Z",
                "ServiceName": service, "ServiceCategory": category, "PricingUnit": unit,
                "ConsumedUnit": unit,
                "BilledCost": f"{cost:.4f}", "EffectiveCost": f"{cost:.4f}",
                # usage drives the spend: verbose logging ingests more, at the same price
                "ConsumedQuantity": f"{cost / UNIT_PRICE:.4f}",
                "PricingQuantity": f"{cost / UNIT_PRICE:.4f}",
                "Tags": json.dumps({"project": project, "env": "prod", "team": "team-x"}),
            })
    return write_focus_csv(folder / "export.csv", rows)


def opened(engine: Any) -> list[Anomaly]:
    with Session(engine) as session:
        return list(session.exec(select(Anomaly).order_by(Anomaly.id)).all())


def walk_to_the_end(desk: AnomalyDesk, anomaly_id: int, user: str) -> None:
    started = desk.open_step(anomaly_id, user=user, channel=CHANNEL)
    while True:
        saved = desk.save_step(anomaly_id, step_id=started.step.id,
                               values=ANSWERS[started.step.id], user=user, channel=CHANNEL)
        if saved.following is None:
            return
        started = saved.following


@pytest.fixture
def routed(settings: Settings) -> Settings:
    return settings.model_copy(update={"routing": ROUTING})


def test_the_second_incident_carries_the_first_resolution_and_its_answers(
        engine, routed, tmp_path):
    desk = Services(settings=routed, engine=engine).desk()
    ingest_path(engine=engine, settings=routed,
                path=export(tmp_path / "day21", hours=FIRST + 3))
    poll_store(engine=engine, settings=routed)
    [first] = opened(engine)
    assert (first.project, first.status) == ("agent", "open")
    assert desk.alert_view(int(first.id)).notes == ()  # nothing learned yet

    walk_to_the_end(desk, int(first.id), ALICE)

    ingest_path(engine=engine, settings=routed,
                path=export(tmp_path / "day28", hours=SECOND + 3))
    poll_store(engine=engine, settings=routed)
    earlier, second = opened(engine)
    assert earlier.id == first.id and earlier.response == "resolved"
    assert second.project == "agent" and second.status == "open"

    view = desk.alert_view(int(second.id))
    [note] = view.notes
    assert note.heading == ("Seen before 1 time; last: Debug logging left on after release "
                            "2.14 → Log level back to INFO")
    assert note.lines == (f"Incident #{first.id} on {first.started_at:%Y-%m-%d}, resolved by "
                          f"{ALICE}",)
    assert view.last_fix is not None and "Debug logging" in view.last_fix.root_cause
    _, blocks = alert_message(view)
    shown = json.dumps([b.to_dict() for b in blocks])
    assert "Seen before 1 time; last: Debug logging left on" in shown
    assert "What fixed it last time" in shown  # the full entry stays under it

    started = desk.open_step(int(second.id), user=BOB, channel=CHANNEL)
    assert started.step.id == "owner" and started.prefill is not None
    assert started.prefill.note.startswith(f"Pre-filled from incident #{first.id}, ")
    assert started.prefill.values == ANSWERS["owner"]
    with Session(engine) as session:
        run = session.exec(select(PlaybookRun).where(PlaybookRun.anomaly_id == second.id)).one()
        assert run.answers["steps"] == {}, "a pre-filled form saves nothing by itself"

    # Bob confirms each pre-filled step as it is; the walk ends with his own entry
    while True:
        values = {k: v.value if isinstance(v, SelectAnswer) else v.model_dump()
                  if hasattr(v, "model_dump") else v for k, v in started.prefill.values.items()}
        if started.step.id == "document":
            assert values["root_cause"] == "Debug logging left on after release 2.14"
            values["root_cause"] = "Debug logging left on again, release 2.19"
        if started.step.id == "stabilise":
            assert values == {"lever": "verbosity",
                              "action": "LOG_LEVEL DEBUG -> INFO on agent-worker"}
        saved = desk.save_step(int(second.id), step_id=started.step.id, values=values,
                               user=BOB, channel=CHANNEL)
        if saved.following is None:
            break
        started = saved.following
        assert started.prefill is not None, started.step.id
    with Session(engine) as session:
        entries = session.exec(select(RunbookEntry).order_by(RunbookEntry.id)).all()
    assert [(e.anomaly_id, e.author) for e in entries] == [(first.id, ALICE), (second.id, BOB)]
    assert entries[1].root_cause.startswith("Debug logging left on again, release 2.19")


# -- the same story in Slack, over signed requests -------------------------------------------

SECRET = "8f742231b10e8888abcd99yyyzzz85a5"


@pytest.fixture
def slack(routed: Settings, tmp_path: Path) -> Iterator[tuple[Runtime, SlackApiStub, Path]]:
    data = tmp_path / "export"
    data.mkdir()
    settings = routed.model_copy(update={
        "sources": [FocusSourceSettings(path=data, name="billing")],
        "schedule": ScheduleSettings(channel_pace_seconds=0.05)})
    with SlackApiStub(ts_base=int(time.time())) as stub, \
            http_runtime(settings, stub, token="xoxb-1-2-test", secret=SECRET) as running:
        yield running, stub, data


def send(runtime: Runtime, body: bytes) -> tuple[int, str]:
    url = f"http://127.0.0.1:{runtime.http_port}/slack/events"
    status, _, text = post(url, body, sign(body, SECRET))
    return status, text


def posted_alerts(stub: SlackApiStub) -> list[Any]:
    return [m for m in stub.messages.values() if m.thread_ts is None and m.channel == CHANNEL]


def start_playbook(runtime: Runtime, stub: SlackApiStub, anomaly_id: int, ts: str,
                   user: str, count: int) -> dict[str, Any]:
    body = block_actions_body(action_id=ActionId.START_PLAYBOOK.value, user_id=user,
                              channel_id=CHANNEL, message_ts=ts,
                              response_url=stub.new_response_url(),
                              value=AlertRef(anomaly_id=anomaly_id).model_dump_json())
    status, text = send(runtime, body)
    assert status == 200, text
    return stub.wait_for("views.open", count=count)[-1].params["view"]


def typed(view: dict[str, Any]) -> dict[str, Any]:
    """What the modal holds when Save is pressed without changing anything."""
    values: dict[str, Any] = {}
    for block in view["blocks"]:
        if block.get("type") != "input":
            continue
        element = block["element"]
        if element["type"] == "users_select":
            value = users_select_value(element.get("initial_user"))
        elif element["type"] == "static_select":
            chosen = element.get("initial_option") or {}
            value = static_select_value(chosen.get("value"))
        elif element["type"] == "checkboxes":
            value = checkboxes_value([o["value"] for o in element.get("initial_options", [])])
        else:
            value = plain_text_value(element.get("initial_value"))
        values[block["block_id"]] = {element["action_id"]: value}
    return values


def submit(runtime: Runtime, view: dict[str, Any], values: dict[str, Any],
           user: str) -> dict[str, Any]:
    body = view_submission_body(callback_id=view["callback_id"],
                                private_metadata=view["private_metadata"], values=values,
                                user_id=user)
    status, text = send(runtime, body)
    assert status == 200, text
    answer = json.loads(text) if text else {}
    assert answer.get("response_action") != "errors", answer
    return answer


def test_in_slack_the_second_alert_says_seen_before_and_its_modal_is_pre_filled(slack):
    runtime, stub, data = slack
    export(data, hours=FIRST + 3)
    poll(runtime.services, platforms=("slack",), now=datetime.now(UTC))
    runtime.deliverer.drain(timeout=20)
    [alert] = posted_alerts(stub)
    [first] = opened(runtime.services.engine)
    assert "Seen before" not in json.dumps(alert.blocks)

    view = start_playbook(runtime, stub, int(first.id), alert.ts, ALICE, 1)
    for step in range(5):
        filled = typed(view)
        step_id = json.loads(view["private_metadata"])["step_id"]
        for field, value in ANSWERS[step_id].items():
            if field == "owner":
                filled["owner"] = {"owner": users_select_value(ALICE)}
            elif field in ("change", "lever"):
                filled[field] = {field: static_select_value(str(value))}
            elif field == "checks":
                filled[field] = {field: checkboxes_value(value["checked"])}  # type: ignore[index]
            else:
                filled[field] = {field: plain_text_value(str(value))}
        answer = submit(runtime, view, filled, ALICE)
        if step < 4:
            view = answer["view"]
    until(lambda: any("runbook" in m.text for m in stub.thread(CHANNEL, alert.ts)))

    export(data, hours=SECOND + 3)
    poll(runtime.services, platforms=("slack",), now=datetime.now(UTC))
    runtime.deliverer.drain(timeout=20)
    _, again = posted_alerts(stub)
    shown = json.dumps(again.blocks)
    assert "Seen before 1 time; last: Debug logging left on after release 2.14" in shown
    second = opened(runtime.services.engine)[-1]

    view = start_playbook(runtime, stub, int(second.id), again.ts, BOB, 2)
    notes = [e["text"] for b in view["blocks"] if b["type"] == "context"
             for e in b["elements"]]
    assert any(f"Pre-filled from incident #{first.id}, " in text for text in notes)
    blocks = {b["block_id"]: b["element"] for b in view["blocks"] if b["type"] == "input"}
    assert blocks["owner"]["initial_user"] == ALICE
    assert blocks["note"]["initial_value"] == "log group /aws/lambda/agent-worker"

    answer = submit(runtime, view, typed(view), BOB)  # Bob keeps the owner as it was
    following = answer["view"]
    chosen = {b["block_id"]: b["element"] for b in following["blocks"] if b["type"] == "input"}
    assert chosen["change"]["initial_option"]["value"] == "logging"
    assert chosen["note"]["initial_value"] == "DEBUG on since release 2.14"
    with Session(runtime.services.engine) as session:
        run = session.exec(select(PlaybookRun).where(PlaybookRun.anomaly_id == second.id)).one()
    assert set(run.answers["steps"]) == {"owner"}  # the next form is shown, not saved
    assert run.answers["steps"]["owner"]["values"]["owner"] == ALICE
    assert run.answers["steps"]["owner"]["by"] == BOB
