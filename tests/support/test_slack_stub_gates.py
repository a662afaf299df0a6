"""The stub's failures after the fact: a post that is in the channel while its answer is held or
dropped, as a crash test needs it (``SlackApiStub.hold_next`` / ``drop_after_next``)."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from http.client import RemoteDisconnected

import pytest
from slack_sdk import WebClient

from tests.support.slack_stub import SlackApiStub


@pytest.fixture
def stub() -> Iterator[SlackApiStub]:
    with SlackApiStub(wall_clock=True) as running:
        yield running


def client(stub: SlackApiStub, token: str = "xoxb-test") -> WebClient:
    return WebClient(base_url=stub.base_url, token=token, retry_handlers=[])


def test_a_held_post_is_in_the_channel_before_the_app_has_its_answer(stub: SlackApiStub):
    gate = stub.hold_next("chat.postMessage", skip=1)
    client(stub).chat_postMessage(channel="C1", text="first")  # let through
    answers: list[str] = []
    sender = threading.Thread(target=lambda: answers.append(
        client(stub, "xoxb-second").chat_postMessage(channel="C1", text="held")["ts"]))
    sender.start()

    gate.wait_arrived(5)
    assert [m.text for m in stub.messages.values()] == ["first", "held"]
    assert gate.token == "xoxb-second" and gate.params is not None
    assert gate.params["text"] == "held"
    assert answers == [], "the answer waits for the release"

    gate.release()
    sender.join(5)
    assert answers and stub.message("C1", answers[0]).text == "held"


def test_a_dropped_answer_leaves_the_post_in_the_channel(stub: SlackApiStub):
    stub.drop_after_next("chat.postMessage")

    with pytest.raises((RemoteDisconnected, ConnectionError)):
        client(stub).chat_postMessage(channel="C1", text="kept")

    assert [m.text for m in stub.messages.values()] == ["kept"]
    assert stub.calls_to("chat.postMessage")[0].status is None
    client(stub).chat_postMessage(channel="C1", text="next")  # the gate caught only one
    assert len(stub.messages) == 2


def test_wall_clock_timestamps_are_the_time_now_and_increase(stub: SlackApiStub):
    before = time.time()
    stamps = [float(client(stub).chat_postMessage(channel="C1", text=str(n))["ts"])
              for n in range(3)]
    assert stamps == sorted(set(stamps))
    assert before - 1 <= stamps[0] <= time.time() + 1
