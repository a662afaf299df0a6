"""The local Slack Web API stub, driven by the real slack_sdk WebClient over HTTP.

These tests pin both what the stub answers and how slack_sdk reacts to it (which exception,
which retry handler), since the end-to-end tests of the Slack app rely on both.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.client import RemoteDisconnected
from types import SimpleNamespace
from urllib.error import HTTPError

import pytest
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry import builtin_handlers
from slack_sdk.http_retry import handler as retry_handler
from slack_sdk.http_retry.builtin_handlers import (
    RateLimitErrorRetryHandler,
    ServerErrorRetryHandler,
)
from slack_sdk.http_retry.builtin_interval_calculators import FixedValueRetryIntervalCalculator
from slack_sdk.webhook import WebhookClient

from tests.support.slack_stub import UPLOAD, SlackApiStub

SECTION = {"type": "section", "text": {"type": "mrkdwn", "text": "*EC2* spend +40%"}}


@pytest.fixture
def stub() -> Iterator[SlackApiStub]:
    with SlackApiStub() as running:
        yield running


@pytest.fixture
def client(stub: SlackApiStub) -> WebClient:
    return WebClient(base_url=stub.base_url, token="xoxb-test")


@pytest.fixture
def slept(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """The waits slack_sdk's retry handlers ask for, recorded instead of slept."""
    durations: list[float] = []
    fake_time = SimpleNamespace(sleep=durations.append)
    monkeypatch.setattr(retry_handler, "time", fake_time)
    monkeypatch.setattr(builtin_handlers, "time", fake_time)
    return durations


def _error_of(excinfo: pytest.ExceptionInfo[SlackApiError]) -> str:
    return excinfo.value.response["error"]


def test_post_update_and_reply_keep_the_message_as_users_see_it(
    stub: SlackApiStub, client: WebClient
) -> None:
    posted = client.chat_postMessage(channel="C1", text="EC2 +40%", blocks=[SECTION])
    client.chat_update(channel="C1", ts=posted["ts"], text="EC2 +40% (acknowledged)")
    reply = client.chat_postMessage(channel="C1", text="Ana is on it", thread_ts=posted["ts"])

    assert posted["channel"] == "C1" and posted["message"]["blocks"] == [SECTION]
    alert = stub.message("C1", posted["ts"])
    assert (alert.text, alert.blocks, alert.edits) == ("EC2 +40% (acknowledged)", [SECTION], 1)
    assert [m.text for m in stub.thread("C1", posted["ts"])] == ["Ana is on it"]
    assert float(reply["ts"]) > float(posted["ts"])
    assert stub.calls_to("chat.postMessage")[0].params["blocks"] == [SECTION]


def test_timestamps_are_slack_shaped_unique_and_increasing(client: WebClient) -> None:
    stamps = [client.chat_postMessage(channel="C1", text=str(n))["ts"] for n in range(3)]
    assert stamps[0] == "1700000000.000100"
    assert sorted(stamps, key=float) == stamps and len(set(stamps)) == 3


def test_a_message_to_a_user_lands_in_the_dm_that_slack_names(client: WebClient) -> None:
    assert client.chat_postMessage(channel="U42", text="hi")["channel"] == "D42"


@pytest.mark.parametrize(("kwargs", "error"), [
    ({"channel": "C1", "ts": "1.2", "text": "x"}, "message_not_found"),
    ({"channel": "", "ts": "1.2", "text": "x"}, "channel_not_found"),
])
def test_chat_update_refusals(client: WebClient, kwargs: dict[str, str], error: str) -> None:
    with pytest.raises(SlackApiError) as excinfo:
        client.chat_update(**kwargs)
    assert excinfo.value.response.status_code == 200 and _error_of(excinfo) == error


def test_a_message_without_content_is_refused_after_a_client_side_warning(
    client: WebClient,
) -> None:
    with pytest.warns(UserWarning, match="`text` argument is missing"), \
            pytest.raises(SlackApiError) as excinfo:
        client.chat_postMessage(channel="C1")
    assert _error_of(excinfo) == "no_text"


def test_unknown_channels_are_refused_once_the_workspace_lists_its_channels(
    stub: SlackApiStub, client: WebClient
) -> None:
    stub.known_channels = {"C1"}
    client.chat_postMessage(channel="C1", text="ok")
    with pytest.raises(SlackApiError) as excinfo:
        client.chat_postMessage(channel="C2", text="lost")
    assert _error_of(excinfo) == "channel_not_found"


def test_blocks_over_slack_limits_are_refused_with_slack_explanations(client: WebClient) -> None:
    with pytest.raises(SlackApiError) as too_many:
        client.chat_postMessage(channel="C1", text="x", blocks=[SECTION] * 51)
    long_text = {"type": "section", "text": {"type": "mrkdwn", "text": "x" * 3001}}
    with pytest.raises(SlackApiError) as too_long:
        client.chat_postMessage(channel="C1", text="x", blocks=[long_text])

    assert _error_of(too_many) == "invalid_blocks"
    assert too_many.value.response["response_metadata"]["messages"] == [
        "[ERROR] no more than 50 items allowed [json-pointer:/blocks]"]
    assert "[json-pointer:/blocks/0/text/text]" in (
        too_long.value.response["response_metadata"]["messages"][0])


def test_tokens_are_checked_like_slack(stub: SlackApiStub) -> None:
    outcomes = {}
    for token in (None, "xapp-1-app-level", "xoxp-user"):
        try:
            WebClient(base_url=stub.base_url, token=token).auth_test()
            outcomes[token] = "ok"
        except SlackApiError as error:
            outcomes[token] = error.response["error"]
    assert outcomes == {None: "not_authed", "xapp-1-app-level": "not_allowed_token_type",
                        "xoxp-user": "ok"}
    stub.set_response("apps.connections.open", {"ok": True, "url": "ws://127.0.0.1:1/link/"})
    opened = WebClient(base_url=stub.base_url, token="xapp-1-app-level").apps_connections_open(
        app_token="xapp-1-app-level")
    assert opened["url"].startswith("ws://")
    with pytest.raises(SlackApiError) as excinfo:
        WebClient(base_url=stub.base_url, token="xoxb-bot").api_call("apps.connections.open")
    assert _error_of(excinfo) == "not_allowed_token_type"


def test_auth_test_and_an_unknown_method(client: WebClient) -> None:
    identity = client.auth_test()
    assert {"url", "team", "user", "team_id", "user_id", "bot_id"} <= set(identity.data)
    with pytest.raises(SlackApiError) as excinfo:
        client.api_call("chat.teleport")
    assert excinfo.value.response.status_code == 200 and _error_of(excinfo) == "unknown_method"


def test_files_upload_v2_end_to_end(stub: SlackApiStub, client: WebClient) -> None:
    parent = client.chat_postMessage(channel="C1", text="Weekly report")["ts"]
    done = client.files_upload_v2(content=b"service,cost\nEC2,12.5\n", filename="week.csv",
                                  title="Week 47", channel="C1", thread_ts=parent,
                                  initial_comment="Details attached")

    upload = stub.uploads[done["file"]["id"]]
    assert (upload.filename, upload.content) == ("week.csv", b"service,cost\nEC2,12.5\n")
    assert (upload.channel_id, upload.thread_ts, upload.completed) == ("C1", parent, True)
    assert [c.method for c in stub.calls[1:]] == [
        "files.getUploadURLExternal", UPLOAD, "files.completeUploadExternal"]
    completion = stub.calls_to("files.completeUploadExternal")[0].params
    assert completion["files"] == [{"id": upload.file_id, "title": "Week 47"}]
    assert [m.files for m in stub.thread("C1", parent)] == [(upload.file_id,)]


def test_a_failed_upload_step_escapes_as_a_raw_http_error(
    stub: SlackApiStub, client: WebClient
) -> None:
    stub.fail_next(UPLOAD, status=500)
    with pytest.raises(HTTPError):
        client.files_upload_v2(content=b"x", filename="a.txt", channel="C1")
    assert not stub.calls_to("files.completeUploadExternal")


def test_429_raises_slack_api_error_carrying_retry_after(
    stub: SlackApiStub, client: WebClient
) -> None:
    stub.fail_next("chat.postMessage", status=429, retry_after=7)
    with pytest.raises(SlackApiError) as excinfo:
        client.chat_postMessage(channel="C1", text="x")
    response = excinfo.value.response
    assert (response.status_code, response.headers["Retry-After"]) == (429, "7")
    assert _error_of(excinfo) == "ratelimited"
    assert [(c.method, c.status) for c in stub.calls] == [("chat.postMessage", 429)]
    assert stub.messages == {}


def test_rate_limit_handler_retries_the_same_call(stub: SlackApiStub) -> None:
    client = WebClient(base_url=stub.base_url, token="xoxb-test",
                       retry_handlers=[RateLimitErrorRetryHandler(max_retry_count=1)])
    stub.fail_next("chat.postMessage", status=429, retry_after=0)
    posted = client.chat_postMessage(channel="C1", text="after the limit")

    assert [c.status for c in stub.calls_to("chat.postMessage")] == [429, 200]
    assert list(stub.messages) == [("C1", posted["ts"])]


def test_rate_limit_handler_waits_retry_after_plus_jitter(
    stub: SlackApiStub, slept: list[float]
) -> None:
    client = WebClient(base_url=stub.base_url, token="xoxb-test",
                       retry_handlers=[RateLimitErrorRetryHandler(max_retry_count=2)])
    stub.fail_next("chat.postMessage", status=429, retry_after=2, times=2)
    client.chat_postMessage(channel="C1", text="x")
    assert len(slept) == 2 and all(2 <= wait < 3 for wait in slept)


def test_500_is_not_retried_by_default_and_changes_nothing(
    stub: SlackApiStub, client: WebClient
) -> None:
    ts = client.chat_postMessage(channel="C1", text="before")["ts"]
    stub.fail_next("chat.update", status=500)
    with pytest.raises(SlackApiError) as excinfo:
        client.chat_update(channel="C1", ts=ts, text="after")
    assert excinfo.value.response.status_code == 500 and _error_of(excinfo) == "fatal_error"
    assert len(stub.calls_to("chat.update")) == 1
    assert stub.message("C1", ts).text == "before"


def test_server_error_handler_retries_500(stub: SlackApiStub) -> None:
    no_wait = FixedValueRetryIntervalCalculator(0.0)
    client = WebClient(base_url=stub.base_url, token="xoxb-test", retry_handlers=[
        ServerErrorRetryHandler(max_retry_count=1, interval_calculator=no_wait)])
    stub.fail_next("chat.postMessage", status=500)
    client.chat_postMessage(channel="C1", text="x")
    assert [c.status for c in stub.calls_to("chat.postMessage")] == [500, 200]


def test_an_html_error_page_becomes_a_non_json_slack_api_error(
    stub: SlackApiStub, client: WebClient
) -> None:
    stub.fail_next("chat.postMessage", status=503, body="<html>Service Unavailable</html>")
    with pytest.raises(SlackApiError) as excinfo:
        client.chat_postMessage(channel="C1", text="x")
    assert excinfo.value.response.status_code == 503
    assert _error_of(excinfo).startswith("Received a response in a non-JSON format")


def test_a_dropped_connection_is_retried_once_by_default(
    stub: SlackApiStub, client: WebClient, slept: list[float]
) -> None:
    stub.fail_next("chat.postMessage", drop=True)
    client.chat_postMessage(channel="C1", text="x")
    assert [c.status for c in stub.calls_to("chat.postMessage")] == [None, 200]
    assert len(slept) == 1 and 0.5 <= slept[0] < 1.5


def test_a_connection_dropped_twice_escapes_as_remote_disconnected(
    stub: SlackApiStub, client: WebClient, slept: list[float]
) -> None:
    stub.fail_next("chat.postMessage", drop=True, times=2)
    with pytest.raises(RemoteDisconnected):
        client.chat_postMessage(channel="C1", text="x")
    assert len(stub.calls_to("chat.postMessage")) == 2 and stub.messages == {}


def test_error_next_answers_ok_false_once(stub: SlackApiStub, client: WebClient) -> None:
    stub.error_next("views.open", "expired_trigger_id")
    view = {"type": "modal", "title": {"type": "plain_text", "text": "Budget"}, "blocks": []}
    with pytest.raises(SlackApiError) as excinfo:
        client.views_open(trigger_id="1.2.3", view=view)
    assert _error_of(excinfo) == "expired_trigger_id"
    assert client.views_open(trigger_id="1.2.3", view=view)["view"]["id"].startswith("V")


def test_views_open_update_and_hash_conflict(stub: SlackApiStub, client: WebClient) -> None:
    view = {"type": "modal", "title": {"type": "plain_text", "text": "Budget"},
            "callback_id": "budget", "blocks": [SECTION]}
    opened = client.views_open(trigger_id="1.2.3", view=view)["view"]
    updated = client.views_update(view_id=opened["id"], hash=opened["hash"], view=view)["view"]
    with pytest.raises(SlackApiError) as excinfo:
        client.views_update(view_id=opened["id"], hash=opened["hash"], view=view)

    assert updated["id"] == opened["id"] and updated["hash"] != opened["hash"]
    assert _error_of(excinfo) == "hash_conflict"
    assert stub.views[opened["id"]]["callback_id"] == "budget"


def test_views_publish_keeps_each_users_home_tab(stub: SlackApiStub, client: WebClient) -> None:
    client.views_publish(user_id="U1", view={"type": "home", "blocks": [SECTION]})
    assert stub.home_views["U1"]["blocks"] == [SECTION]


def test_users_info_defaults_and_overrides(stub: SlackApiStub, client: WebClient) -> None:
    stub.users["U2"] = {"real_name": "Ana Lima", "tz": "America/Sao_Paulo",
                        "profile": {"display_name": "ana"}}
    ana = client.users_info(user="U2")["user"]
    assert (ana["id"], ana["tz"], ana["profile"]["display_name"]) == (
        "U2", "America/Sao_Paulo", "ana")
    assert client.users_info(user="U3")["user"]["profile"]["display_name"] == "u3"
    with pytest.raises(SlackApiError):
        client.users_info(user="nobody")


def test_conversations_info_reactions_and_permalink(stub: SlackApiStub, client: WebClient) -> None:
    stub.channels["C1"] = {"name": "finops"}
    ts = client.chat_postMessage(channel="C1", text="x")["ts"]
    client.reactions_add(channel="C1", timestamp=ts, name="eyes")
    with pytest.raises(SlackApiError) as excinfo:
        client.reactions_add(channel="C1", timestamp=ts, name="eyes")
    link = client.chat_getPermalink(channel="C1", message_ts=ts)["permalink"]

    assert client.conversations_info(channel="C1")["channel"]["name"] == "finops"
    assert stub.reactions("C1", ts) == ["eyes"] and _error_of(excinfo) == "already_reacted"
    assert link.endswith(f"/archives/C1/p{ts.replace('.', '')}")


def test_post_ephemeral(stub: SlackApiStub, client: WebClient) -> None:
    answer = client.chat_postEphemeral(channel="C1", user="U1", text="only you")
    assert [(m.visible_to, m.ts) for m in stub.ephemerals] == [("U1", answer["message_ts"])]


def test_response_url_replaces_the_bound_message_and_takes_five_posts(
    stub: SlackApiStub, client: WebClient
) -> None:
    ts = client.chat_postMessage(channel="C1", text="EC2 +40%")["ts"]
    url = stub.new_response_url(channel="C1", message_ts=ts, user_id="U1")
    webhook = WebhookClient(url)
    statuses = [webhook.send(text="Acknowledged", replace_original=True).status_code
                for _ in range(6)]

    assert statuses == [200] * 5 + [404]
    assert stub.message("C1", ts).text == "Acknowledged"
    assert len(stub.responses(url)) == 5 and stub.responses(url)[0]["replace_original"]


def test_wait_for_sees_calls_made_from_another_thread(
    stub: SlackApiStub, client: WebClient
) -> None:
    worker = threading.Thread(target=client.chat_postMessage,
                              kwargs={"channel": "C1", "text": "later"})
    worker.start()
    assert stub.wait_for("chat.postMessage", timeout=2)[0].params["text"] == "later"
    worker.join()
    with pytest.raises(AssertionError, match=r"calls seen: \['chat.postMessage -> 200'\]"):
        stub.wait_for("chat.update", timeout=0.05)


def test_form_encoded_json_fields_are_decoded(stub: SlackApiStub, client: WebClient) -> None:
    client.api_call("chat.postMessage", params={"channel": "C1", "text": "x",
                                                "blocks": '[{"type": "divider"}]'})
    call = stub.calls_to("chat.postMessage")[0]
    assert call.params["blocks"] == [{"type": "divider"}]
    assert call.headers["content-type"] == "application/x-www-form-urlencoded"


def test_reset_forgets_what_happened_but_keeps_configuration(
    stub: SlackApiStub, client: WebClient
) -> None:
    stub.users["U1"] = {"name": "ana"}
    first = client.chat_postMessage(channel="C1", text="x")["ts"]
    stub.reset()
    assert (stub.calls, stub.messages, stub.users) == ([], {}, {"U1": {"name": "ana"}})
    assert float(client.chat_postMessage(channel="C1", text="y")["ts"]) > float(first)


def test_set_response_answers_a_method_the_stub_does_not_model(client: WebClient,
                                                               stub: SlackApiStub) -> None:
    stub.set_response("team.info", {"ok": True, "team": {"id": "T1", "name": "Acme"}})
    assert client.team_info()["team"]["name"] == "Acme"


def test_a_crash_inside_the_stub_fails_the_test_instead_of_passing_for_an_outage() -> None:
    with pytest.raises(AssertionError, match="the Slack stub failed"), SlackApiStub() as stub:
        stub.set_response("team.info", {"ok": True, "not_json": {1, 2}})
        with pytest.raises(SlackApiError) as excinfo:
            WebClient(base_url=stub.base_url, token="xoxb-test").team_info()
        assert excinfo.value.response.status_code == 500
