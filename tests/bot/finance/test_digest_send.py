"""The digest on its way to people: queued once per week, sent by the real outbox to the Slack
Web API stub (over HTTP, with slack_sdk), its chart in its thread; the console and Teams."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from rich.console import Console
from sqlalchemy.engine import Engine
from sqlmodel import col, select

from bot.anomaly.service import default_playbook
from bot.chat.console.chat import ConsoleSender
from bot.chat.slack.sender import SlackSender, make_client
from bot.finance.digest_send import last_digest_hour, queue_digest
from bot.scheduler import send_digest
from bot.settings import Settings, parse_settings
from bot.wiring import Services
from storage.db import make_engine, session_scope, upgrade
from storage.models import OutboxMessage
from tests.support.digest_store import WEEK_ENDING, build_store
from tests.support.slack_stub import SlackApiStub

TOKEN = "xoxb-1-2-digest"
FINANCE = "C0FINANCE"


def finance_settings(url: str, **finance: object) -> Settings:
    return parse_settings({"database_url": url, "finance": {"channel": FINANCE, **finance},
                           "routing": {"default_channel": "C0FINOPS",
                                       "teams": {"default": "19:finops@thread.tacv2"}}})


@pytest.fixture
def store(sqlite_url: str) -> Iterator[Engine]:
    engine = make_engine(sqlite_url)
    upgrade(engine)
    build_store(engine)
    try:
        yield engine
    finally:
        engine.dispose()


@pytest.fixture
def services(store: Engine, sqlite_url: str) -> Services:
    return Services(settings=finance_settings(sqlite_url), engine=store)


def outbox(engine: Engine) -> list[tuple[str, str, str]]:
    with session_scope(engine) as session:
        return [(m.platform, m.operation, m.channel) for m in session.exec(
            select(OutboxMessage).order_by(col(OutboxMessage.id))).all()]


def test_the_digest_reaches_slack_once_with_its_chart_in_its_thread(services: Services) -> None:
    monday = WEEK_ENDING + timedelta(minutes=2)
    first = send_digest(services, platforms=("slack",), now=monday)
    again = send_digest(services, platforms=("slack",), now=monday + timedelta(minutes=1))
    assert first.platforms == ("slack",) and again.already_sent
    assert first.digest.key == again.digest.key == "digest:2026-W48"
    with SlackApiStub() as stub:
        deliverer = services.deliverer(SlackSender(make_client(TOKEN, base_url=stub.base_url)),
                                       playbook=default_playbook(services.settings),
                                       min_interval=0)
        deliverer.drain(timeout=20, poll=0.01)
        posts = [c for c in stub.calls_to("chat.postMessage") if c.ok]
        uploads = list(stub.uploads.values())
    assert len(posts) == 1, "sent once, though the job ran twice"
    assert posts[0].params["channel"] == FINANCE and "thread_ts" not in posts[0].params
    ts = posts[0].response["ts"]
    text = posts[0].params["text"]
    assert "Weekly spend digest" in text and "Spend: $744.00" in text
    [upload] = uploads
    assert upload.completed and upload.channel_id == FINANCE and upload.thread_ts == ts
    assert upload.content is not None and upload.content[:4] == b"\x89PNG"
    assert "against the week before" in (upload.title or "")
    assert set(m for _, m, _ in outbox(services.engine)) == {"notice", "chart"}


def test_a_rate_limit_and_a_crash_neither_lose_nor_double_the_digest_or_its_chart(
        services: Services) -> None:
    send_digest(services, platforms=("slack",), now=WEEK_ENDING)
    # message ts are clock times in Slack: the outbox looks for what it sent since it queued it
    with SlackApiStub(ts_base=int(WEEK_ENDING.timestamp())) as stub:
        stub.fail_next("chat.postMessage", status=429, retry_after=1)
        stub.fail_next("files.getUploadURLExternal", status=500)
        deliverer = services.deliverer(SlackSender(make_client(TOKEN, base_url=stub.base_url)),
                                       playbook=default_playbook(services.settings),
                                       min_interval=0)
        deliverer.drain(timeout=30, poll=0.01)
        with session_scope(services.engine) as session:  # as if it died before recording
            chart = session.exec(select(OutboxMessage).where(
                OutboxMessage.operation == "chart")).one()
            chart.status, chart.next_attempt_at = "pending", chart.created_at
        deliverer.drain(timeout=30, poll=0.01)
        posts = [c for c in stub.calls_to("chat.postMessage") if c.ok]
        uploads = [u for u in stub.uploads.values() if u.completed]
        looked = stub.calls_to("conversations.replies")
    assert len(posts) == 1 and len(uploads) == 1
    ts = posts[0].response["ts"]
    assert uploads[0].thread_ts == ts
    assert looked and looked[-1].params["ts"] == ts, "the outbox looked in the digest's thread"


def test_the_console_prints_the_digest_and_writes_its_chart(services: Services,
                                                           tmp_path: Path) -> None:
    send_digest(services, platforms=("console",), now=WEEK_ENDING)
    screen = Console(record=True, width=200)
    sender = ConsoleSender(screen, chart_dir=tmp_path / "charts")
    services.deliverer(sender, playbook=default_playbook(services.settings),
                       min_interval=0).drain(timeout=20, poll=0.01)
    printed = screen.export_text()
    assert f"#{FINANCE}: Weekly spend digest" in printed and "Spend caught early" in printed
    [chart] = (tmp_path / "charts").glob("*.png")
    assert chart.read_bytes()[:4] == b"\x89PNG" and str(chart) in printed.replace("\n", "")


def test_teams_gets_the_text_in_its_finance_conversation_and_no_chart(store: Engine,
                                                                      sqlite_url: str) -> None:
    settings = finance_settings(sqlite_url, teams_channel="19:finance@thread.tacv2")
    with session_scope(store) as session:
        queue_digest(db_session=session, settings=settings, week_ending=WEEK_ENDING,
                     platforms=("slack", "teams"), now=WEEK_ENDING, what_changed=None)
    assert outbox(store) == [("slack", "notice", FINANCE), ("slack", "chart", FINANCE),
                             ("teams", "notice", "19:finance@thread.tacv2")]


def test_another_week_is_another_digest(services: Services) -> None:
    send_digest(services, platforms=("slack",), now=WEEK_ENDING)
    later = send_digest(services, platforms=("slack",), now=WEEK_ENDING + timedelta(days=7))
    assert later.digest.key == "digest:2026-W49" and later.platforms == ("slack",)
    assert len(outbox(services.engine)) == 4


@pytest.mark.parametrize(("now", "day", "hour", "expected"), [
    # Monday 09:00 itself, and a minute later: that Monday's digest
    (datetime(2026, 11, 30, 9, tzinfo=UTC), "monday", 9, datetime(2026, 11, 30, 9, tzinfo=UTC)),
    (datetime(2026, 11, 30, 9, 1, tzinfo=UTC), "monday", 9,
     datetime(2026, 11, 30, 9, tzinfo=UTC)),
    # a minute before: the Monday before
    (datetime(2026, 11, 30, 8, 59, tzinfo=UTC), "monday", 9,
     datetime(2026, 11, 23, 9, tzinfo=UTC)),
    # Friday 17:00 asked on the Monday: the Friday before
    (datetime(2026, 11, 30, 9, tzinfo=UTC), "friday", 17, datetime(2026, 11, 27, 17, tzinfo=UTC)),
])
def test_the_newest_digest_hour(now: datetime, day: str, hour: int, expected: datetime) -> None:
    settings = parse_settings({"finance": {"digest": {"day": day, "hour": hour}}})
    assert last_digest_hour(settings, now) == expected
