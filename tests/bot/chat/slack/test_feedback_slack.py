"""The "Not an anomaly" button and ``/cost feedback`` in Slack, through signed requests to the
real app (the same runtime and Web API stub as ``test_end_to_end``)."""

from __future__ import annotations

import json

from sqlmodel import Session, select

from bot.chat.ids import ActionId, AlertRef, CallbackId
from storage.models import Anomaly, LineFeedback
from tests.bot.chat.slack import test_end_to_end as e2e
from tests.bot.chat.slack.test_end_to_end import (
    FINOPS,
    announce_live_incident,
    click,
    fill,
    open_modal,
    send,
)
from tests.support.slack_requests import (
    block_actions_body,
    slash_command_body,
    view_submission_body,
)
from tests.support.slack_runtime import until

# the end-to-end runtime: the app over HTTP, the Web API stub, the demo export
demo_data, runtime, stub = e2e.demo_data, e2e.runtime, e2e.stub
wait_response = e2e._wait_response


def test_not_an_anomaly_with_a_note_closes_the_alert_and_records_its_lines(runtime, stub):
    anomaly, channel, ts = announce_live_incident(runtime, stub)

    click(runtime, stub, ActionId.NOT_AN_ANOMALY, anomaly.id, user="U0ACK", channel=channel,
          ts=ts)
    form = open_modal(stub, 1)
    assert form["callback_id"] == CallbackId.NOT_AN_ANOMALY_NOTE.value
    body = view_submission_body(callback_id=form["callback_id"],
                                private_metadata=form["private_metadata"],
                                values=fill(form, "U0ACK", {"note": "nightly <!channel> job"}),
                                user_id="U0ACK")
    status, text = send(runtime, body)

    assert status == 200 and not text.strip("{} ")
    until(lambda: any("not an anomaly" in m.text for m in stub.thread(channel, ts)))
    until(lambda: "Not an anomaly" in json.dumps(stub.message(channel, ts).blocks[0]))
    shown = json.dumps(stub.message(channel, ts).blocks)
    assert "Normal widened by feedback" in shown and "/cost feedback undo" in shown
    assert "<!channel>" not in shown and "&lt;!channel&gt;" in shown
    assert ActionId.NOT_AN_ANOMALY.value not in shown  # closed: no buttons to act with
    with Session(runtime.services.engine) as session:
        assert session.get(Anomaly, anomaly.id).response == "not-an-anomaly"
        lines = session.exec(select(LineFeedback)).all()
    services = [c["service"] for c in anomaly.evidence["contributors"]]
    assert [line.service_name for line in lines] == services[:len(lines)] and lines
    assert {line.note for line in lines} == {"nightly <!channel> job"}

    # a second click is answered with what is already so, and opens no form
    response_url = stub.new_response_url()
    send(runtime, block_actions_body(
        action_id=ActionId.NOT_AN_ANOMALY.value, user_id="U0OTHER", channel_id=channel,
        message_ts=ts, response_url=response_url,
        value=AlertRef(anomaly_id=anomaly.id).model_dump_json()))
    said = wait_response(stub, response_url)
    assert "U0ACK already said this was not an anomaly" in said["text"]
    assert len(stub.calls_to("views.open")) == 1


def test_cost_feedback_lists_and_undoes(runtime, stub):
    anomaly, channel, ts = announce_live_incident(runtime, stub)
    said = runtime.services.desk().not_an_anomaly(anomaly.id, user="U0ACK", note="batch")[0]

    listed = ask(runtime, stub, "feedback")
    assert f"#{said.id}" in listed and f"/cost feedback undo {said.id}" in listed

    undone = ask(runtime, stub, f"feedback undo {said.id}")
    assert undone.startswith(f"Undid feedback #{said.id}")
    assert ask(runtime, stub, "feedback").startswith("No feedback in effect")
    again = ask(runtime, stub, f"feedback undo {said.id}")
    assert "already undone by U0ACK" in again
    wrong = ask(runtime, stub, "feedback undo twelve")
    assert "'twelve' is not a feedback id" in wrong
    with Session(runtime.services.engine) as session:
        assert session.get(LineFeedback, said.id).undone_by == "U0ACK"


def ask(runtime, stub, text: str) -> str:
    response_url = stub.new_response_url()
    body = slash_command_body(text=text, user_id="U0ACK", channel_id=FINOPS,
                              response_url=response_url)
    assert send(runtime, body)[0] == 200
    return wait_response(stub, response_url)["text"]
