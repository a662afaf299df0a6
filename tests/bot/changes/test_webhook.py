"""``POST /events/change`` over real HTTP: the web app on uvicorn, a real store behind it."""

from __future__ import annotations

import io
import json
import logging
import time
from collections.abc import Iterator
from datetime import UTC, datetime

import httpx
import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from bot.changes.webhook import change_route, sign
from bot.runner import Mode, Runtime
from bot.settings import Settings
from bot.web import WebServer, build_web_app
from bot.wiring import build_services
from storage.models import ChangeEvent

SECRET = "change-webhook-secret-0123456789"
DEPLOY = {"kind": "deploy", "project": "support-agent", "environment": "production",
          "service": "summariser", "summary": "Route summaries to the larger model",
          "url": "https://ci.example.com/runs/812", "actor": "alice",
          "at": "2026-11-30T14:05:00Z", "id": "ci-812"}


def serve(engine: Engine, secret: str | None) -> WebServer:
    app = build_web_app([change_route(engine=engine, secret=secret)])
    return WebServer(app, host="127.0.0.1", port=0).start()


@pytest.fixture
def server(engine: Engine) -> Iterator[WebServer]:
    running = serve(engine, SECRET)
    try:
        yield running
    finally:
        running.stop()


def send(server: WebServer, body: bytes | dict[str, object], *, secret: str = SECRET,
         timestamp: int | None = None, signature: str | None = None) -> httpx.Response:
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    stamp = str(int(time.time()) if timestamp is None else timestamp)
    headers = {"Content-Type": "application/json", "X-Spendwatch-Timestamp": stamp,
               "X-Spendwatch-Signature": signature or sign(secret, stamp, raw)}
    return httpx.post(f"http://127.0.0.1:{server.port}/events/change", content=raw,
                      headers=headers, timeout=10)


def stored(engine: Engine) -> list[ChangeEvent]:
    with Session(engine) as session:
        return list(session.exec(select(ChangeEvent)).all())


def test_a_signed_deploy_is_stored_with_its_environment_folded(server, engine):
    answer = send(server, DEPLOY)

    assert answer.status_code == 200, answer.text
    assert answer.json()["ok"] is True and answer.json()["new"] is True
    [row] = stored(engine)
    assert (row.source, row.external_id, row.kind, row.project) == (
        "webhook", "ci-812", "deploy", "support-agent")
    assert row.environment == "prod"  # "production" is an alias of prod
    assert (row.service_name, row.actor, row.url) == (
        "summariser", "alice", "https://ci.example.com/runs/812")
    assert row.at.replace(tzinfo=UTC) == datetime(2026, 11, 30, 14, 5, tzinfo=UTC)


def test_a_resent_change_is_stored_once(server, engine):
    first, again = send(server, DEPLOY), send(server, DEPLOY)

    assert (first.status_code, again.status_code) == (200, 200)
    assert again.json()["new"] is False and again.json()["id"] == first.json()["id"]
    assert len(stored(engine)) == 1


def test_without_an_id_the_same_body_counts_once_and_another_body_again(server, engine):
    body = {k: v for k, v in DEPLOY.items() if k != "id"}
    send(server, body)
    send(server, body)
    send(server, {**body, "summary": "Roll back the larger model"})

    rows = stored(engine)
    assert len(rows) == 2
    assert all(row.external_id.startswith("sha256:") for row in rows)


def test_a_change_without_a_time_happened_now(server, engine):
    before = datetime.now(UTC)
    send(server, {"kind": "config", "project": "support-agent", "summary": "log level debug"})

    [row] = stored(engine)
    assert row.at.replace(tzinfo=UTC) >= before.replace(microsecond=0)
    assert row.environment == ""  # not given: matches every environment of the project


def test_a_wrong_signature_is_refused_and_nothing_stored(server, engine, caplog):
    caplog.set_level(logging.DEBUG)
    stamp = int(time.time())
    forged = sign("another-secret-entirely", str(stamp), json.dumps(DEPLOY).encode())
    answer = send(server, DEPLOY, timestamp=stamp, signature=forged)

    assert answer.status_code == 401
    assert "signature does not match" in answer.json()["error"]
    assert stored(engine) == []
    assert forged.removeprefix("sha256=") not in caplog.text and SECRET not in caplog.text


def test_a_body_changed_after_signing_is_refused(server, engine):
    stamp = str(int(time.time()))
    signature = sign(SECRET, stamp, json.dumps(DEPLOY).encode())
    answer = send(server, {**DEPLOY, "project": "other"}, timestamp=int(stamp),
                  signature=signature)

    assert answer.status_code == 401 and stored(engine) == []


def test_an_old_timestamp_is_refused_even_when_signed(server, engine):
    answer = send(server, DEPLOY, timestamp=int(time.time()) - 301)

    assert answer.status_code == 401
    assert "more than 5 minutes" in answer.json()["error"]
    assert stored(engine) == []


def test_an_unsigned_request_is_told_which_headers_to_send(server):
    answer = httpx.post(f"http://127.0.0.1:{server.port}/events/change", json=DEPLOY,
                        timeout=10)

    assert answer.status_code == 401
    assert "X-Spendwatch-Signature" in answer.json()["error"]


@pytest.mark.parametrize(("body", "said"), [
    (b"{not json", "not JSON"),
    (b"[1, 2]", "send one JSON object"),
    ({"kind": "deploy", "project": "support-agent"}, "summary is required"),
    ({**DEPLOY, "enviroment": "prod"}, "enviroment is not a known key"),
    ({**DEPLOY, "at": "yesterday"}, "at must be an ISO 8601 time"),
    ({**DEPLOY, "url": "ftp://x"}, "url: "),
    ({**DEPLOY, "kind": "two words"}, "kind: "),
    ({**DEPLOY, "at": "2099-01-01T00:00:00Z"}, "after now"),
])
def test_a_bad_body_gets_400_saying_what_was_wrong(server, engine, body, said):
    answer = send(server, body)

    assert answer.status_code == 400
    assert said in answer.json()["error"]
    assert stored(engine) == []


def test_an_unknown_project_is_kept_with_a_warning(server, engine):
    answer = send(server, {**DEPLOY, "project": "not-a-project"})

    assert answer.status_code == 200
    assert "no spend of project 'not-a-project'" in answer.json()["warning"]
    assert len(stored(engine)) == 1


def test_without_a_secret_the_route_says_how_to_configure_it(engine, caplog):
    """Not a warning: most installs never send changes, and the webhook is on by default."""
    caplog.set_level(logging.INFO)
    running = serve(engine, None)
    try:
        answer = send(running, DEPLOY)
        send(running, DEPLOY)
    finally:
        running.stop()

    assert answer.status_code == 503
    assert "SPENDWATCH_CHANGE_SECRET" in answer.json()["error"]
    assert caplog.text.count("answers 503") == 1  # said once, at start
    assert stored(engine) == []


def test_the_bot_serves_the_webhook_in_console_mode_once_a_secret_is_set(
        settings: Settings, monkeypatch):
    monkeypatch.setenv("SPENDWATCH_CHANGE_SECRET", SECRET)
    services = build_services(settings)
    runtime = Runtime(services, Mode("console"), port=0, host="127.0.0.1", schedule=False,
                      stdin=io.StringIO("")).start()
    try:
        answer = send(runtime.parts["http"], DEPLOY)
    finally:
        runtime.stop()
        services.close()

    assert answer.status_code == 200 and answer.json()["new"] is True
    assert len(stored(services.engine)) == 1
