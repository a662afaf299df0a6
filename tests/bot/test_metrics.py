"""``/metrics`` as a platform team scrapes it, from the real bot after a poll and a click.

The bot runs in HTTP mode with its scheduler (the first poll runs at start over a FOCUS
export whose incident is going on in the newest hours); its Web API calls go to the local
Slack stub; the click is signed as Slack signs it; the scrape is a plain HTTP GET, parsed with
prometheus-client's own parser.
"""

from __future__ import annotations

import io
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families
from sqlmodel import Session, select

from bot import metrics
from bot.anomaly import service
from bot.anomaly.service import announce, load_library
from bot.chat.ids import ActionId, AlertRef
from bot.chat.slack.sender import SlackSender, make_client
from bot.metrics import StoreCollector
from bot.outbox.enums import MessageStatus, Operation
from bot.runner import Mode, Runtime
from bot.settings import (
    ConfigError,
    FocusSourceSettings,
    RoutingSettings,
    ScheduleSettings,
    Settings,
)
from bot.wiring import build_services
from storage.db import make_engine, session_scope
from storage.models import Alert, Anomaly, SourceState
from storage.queries import outbox as outbox_q
from tests.conftest import REPO
from tests.support.anomalies import add_anomaly, with_routing
from tests.support.focus_files import write_focus_csv
from tests.support.slack_requests import block_actions_body, post, sign
from tests.support.slack_runtime import until
from tests.support.slack_stub import SlackApiStub

SECRET = "8f742231b10e8888abcd99yyyzzz85a5"
TOKEN = "xoxb-1234-5678-test"
FINOPS = "C0FINOPS"
Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


@pytest.fixture(autouse=True)
def fresh_metrics() -> None:
    metrics.reset()


@pytest.fixture
def focus_folder(tmp_path: Path) -> Path:
    """Two weeks of hourly spend on two lines up to now; CloudWatch twelvefold for the last
    three hours (debug logging left on): an incident going on."""
    folder = tmp_path / "exports"
    folder.mkdir()
    rng = np.random.default_rng(3)
    end = pd.Timestamp.now(tz="UTC").floor("h")
    hours = pd.date_range(end - pd.Timedelta(days=15), end, freq="h", inclusive="left")
    rows = []
    for index, hour in enumerate(hours):
        for name, level in (("AmazonCloudWatch", 2.0), ("Amazon EC2", 8.0)):
            cost = level * (1 + 0.3 * np.sin(hour.hour / 24 * 2 * np.pi)) * rng.lognormal(0, .05)
            if name == "AmazonCloudWatch" and index >= len(hours) - 3:
                cost *= 12
            rows.append({
                "ChargePeriodStart": hour.strftime("%Y-%m-%dT%H:%M:%SZ"),
                "ChargePeriodEnd": (hour + pd.Timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%SZ"),
                "ServiceName": name, "BilledCost": f"{cost:.4f}",
                "EffectiveCost": f"{cost:.4f}",
                "Tags": json.dumps({"project": "agent", "env": "prod", "team": "team-x"})})
    write_focus_csv(folder / "export.csv", rows)
    return folder


def scrape(url: str, token: str | None = None) -> tuple[int, str, str]:
    request = urllib.request.Request(url)
    if token is not None:
        request.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, response.headers["Content-Type"], response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.headers["Content-Type"], exc.read().decode()


def samples(text: str) -> Samples:
    """Every sample of a scrape: (name, sorted labels) -> value."""
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def value(found: Samples, name: str, **labels: str) -> float | None:
    return found.get((name, tuple(sorted(labels.items()))))


def test_a_scrape_after_a_poll_and_a_click_holds_what_happened(
        settings: Settings, focus_folder: Path) -> None:
    settings = settings.model_copy(update={
        "sources": [FocusSourceSettings(path=focus_folder, name="demo")],
        "routing": RoutingSettings(default_channel=FINOPS),
        "schedule": ScheduleSettings(channel_pace_seconds=0.05)})
    services = build_services(settings)
    with SlackApiStub(ts_base=int(time.time())) as stub:
        mode = Mode("http", bot_token=TOKEN, signing_secret=SECRET, api_url=stub.base_url)
        runtime = Runtime(services, mode, port=0, host="127.0.0.1").start()  # polls at start
        try:
            url = runtime.metrics_url
            assert url is not None

            def posted() -> Alert | None:
                with Session(services.engine) as session:
                    return session.exec(select(Alert).where(
                        Alert.message_ref != None)).first()  # noqa: E711

            def polled() -> bool:
                """the first poll finished and an alert was posted"""
                if posted() is None:
                    return False
                found = samples(scrape(url)[2])
                jobs = value(found, "spendwatch_job_duration_seconds_count", job="poll") or 0
                posts = value(found, "spendwatch_messages_sent_total", platform="slack",
                              operation="post") or 0
                return jobs >= 1 and posts >= 1

            until(polled, timeout=60)
            alert = posted()
            assert alert is not None and alert.message_ref is not None
            value_ = AlertRef(anomaly_id=alert.anomaly_id).model_dump_json()
            body = block_actions_body(action_id=ActionId.ACKNOWLEDGE.value, value=value_,
                                      user_id="U0ANA",
                                      channel_id=alert.channel, message_ts=alert.message_ref,
                                      response_url=stub.new_response_url())
            status, _, _ = post(f"http://127.0.0.1:{runtime.http_port}/slack/events", body,
                                sign(body, SECRET))
            assert status == 200

            def acknowledged() -> bool:
                """the acknowledgement is in the store and its message was sent"""
                with Session(services.engine) as session:
                    anomaly = session.get(Anomaly, alert.anomaly_id)
                    return bool(anomaly and anomaly.response == "acknowledged") \
                        and runtime.deliverer.pending() == 0

            until(acknowledged, timeout=30)
            status, content_type, text = scrape(url)
        finally:
            runtime.stop()
            services.close()
    assert status == 200 and content_type.startswith("text/plain; version=0.0.4")
    found = samples(text)
    assert value(found, "spendwatch_polls_total", outcome="ok") >= 1
    assert value(found, "spendwatch_polls_total", outcome="failed") == 0
    assert value(found, "spendwatch_source_reads_total", source="demo", outcome="ok") >= 1
    assert value(found, "spendwatch_rows_ingested_total", source="demo") > 0
    lag = value(found, "spendwatch_source_lag_seconds", source="demo")
    assert lag is not None and 0 <= lag < timedelta(days=2).total_seconds()
    opened = sum(v for (name, _), v in found.items()
                 if name == "spendwatch_anomalies_opened_total")
    assert opened >= 1
    assert value(found, "spendwatch_messages_sent_total", platform="slack",
                 operation="post") >= 1
    assert value(found, "spendwatch_outbox_messages", platform="slack", status="pending") == 0
    assert value(found, "spendwatch_outbox_messages", platform="slack", status="dead") == 0
    assert value(found, "spendwatch_ack_latency_seconds_count") == 1
    assert 0 <= value(found, "spendwatch_ack_latency_seconds_sum") < 120
    assert value(found, "spendwatch_ack_latency_seconds_bucket", le="60.0") == 1
    assert value(found, "spendwatch_job_duration_seconds_count", job="poll") >= 1
    assert value(found, "spendwatch_click_seconds_count", platform="slack") == 1
    assert value(found, "spendwatch_store_up") == 1


def test_failed_and_dead_sends_are_counted_and_the_outbox_depth_shows_them(
        settings: Settings) -> None:
    settings = with_routing(settings)
    services = build_services(settings)
    first = add_anomaly(services.engine, platforms=(), project="retried")
    second = add_anomaly(services.engine, platforms=(), owner="team-data", project="gone")
    now = datetime.now(UTC)
    with session_scope(services.engine) as session:
        for anomaly_id in (first, second):
            announce(db_session=session, settings=settings, anomaly_id=anomaly_id,
                     platform="slack", now=now)
    with SlackApiStub() as stub:
        deliverer = services.deliverer(SlackSender(make_client(TOKEN, base_url=stub.base_url)),
                                       playbook=load_library(settings), min_interval=0)
        stub.fail_next("chat.postMessage", status=500)  # the first post: retried later
        stub.error_next("chat.postMessage", "channel_not_found")  # the second: never sendable
        deliverer.run_once()
        registry = metrics.scrape_registry(services.engine, sources=[], platforms=["slack"])
        found = samples(generate_latest(registry).decode())
    services.close()
    assert value(found, "spendwatch_messages_failed_total", platform="slack",
                 operation="post") == 1
    assert value(found, "spendwatch_messages_dead_total", platform="slack",
                 operation="post") == 1
    assert value(found, "spendwatch_messages_sent_total", platform="slack",
                 operation="post") is None
    # the retried post and both charts wait; the dead post is set aside
    assert value(found, "spendwatch_outbox_messages", platform="slack", status="pending") == 3
    assert value(found, "spendwatch_outbox_messages", platform="slack", status="dead") == 1
    assert value(found, "spendwatch_outbox_oldest_pending_seconds", platform="slack") >= 0


def test_source_lag_is_read_from_the_store_whoever_polled(settings: Settings) -> None:
    services = build_services(settings)
    newest = datetime(2026, 11, 30, 9, tzinfo=UTC)
    with session_scope(services.engine) as session:  # as another replica's poll left it
        session.add(SourceState(name="openai", kind="openai", newest_hour=newest, failures=2))
        session.add(SourceState(name="retired", kind="focus", newest_hour=newest))
    collector = StoreCollector(services.engine, sources=["openai", "never-read"],
                               platforms=["slack", "teams"],
                               clock=lambda: datetime(2026, 11, 30, 13, tzinfo=UTC))
    found = {(s.name, tuple(sorted(s.labels.items()))): s.value
             for family in collector.collect() for s in family.samples}
    services.close()
    assert value(found, "spendwatch_source_lag_seconds", source="openai") == 3 * 3600
    assert value(found, "spendwatch_source_failures", source="openai") == 2
    assert value(found, "spendwatch_source_lag_seconds", source="retired") is None
    assert value(found, "spendwatch_source_lag_seconds", source="never-read") is None
    assert value(found, "spendwatch_outbox_messages", platform="teams", status="pending") == 0


def test_a_store_that_cannot_be_read_is_reported_not_raised(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'never-migrated.db'}")  # no tables at all
    collector = StoreCollector(engine, sources=["demo"], platforms=["slack"])
    found = {s.name: s.value for family in collector.collect() for s in family.samples}
    engine.dispose()
    assert found == {"spendwatch_store_up": 0}


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_the_console_bot_serves_metrics_on_its_own_port_behind_a_token_logging_json(
        tmp_path: Path) -> None:
    """Console mode has no web server: ``--metrics-port`` gives it one, for /metrics and
    /healthz; with SPENDWATCH_METRICS_TOKEN a scrape needs the bearer token; every log line
    is one JSON object, and the token is in none of them."""
    port = _free_port()
    config = tmp_path / "spendwatch.yml"
    config.write_text(f"database_url: sqlite:///{tmp_path / 'sw.db'}\n")
    scrape_token = "scrape-7c1d0e9b"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "TEAMS_"))}
    env.update(SPENDWATCH_LOG_LEVEL="INFO", SPENDWATCH_METRICS_TOKEN=scrape_token)
    process = subprocess.Popen(
        [sys.executable, "-m", "bot", "--log-format", "json", "run", "--config", str(config),
         "--metrics-port", str(port), "--host", "127.0.0.1"], cwd=REPO, env=env,
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    url = f"http://127.0.0.1:{port}/metrics"
    try:
        until(lambda: _answers(f"http://127.0.0.1:{port}/healthz"), timeout=30)
        refused, _, refusal = scrape(url)
        wrong, _, _ = scrape(url, token="scrape-guess")
        status, _, text = scrape(url, token=scrape_token)
    finally:
        process.send_signal(signal.SIGTERM)
        _, err = process.communicate(timeout=20)
    assert (refused, wrong) == (401, 401) and "SPENDWATCH_METRICS_TOKEN" in refusal
    assert status == 200
    assert value(samples(text), "spendwatch_store_up") == 1
    lines = [json.loads(line) for line in err.splitlines() if line.strip()]
    assert lines, "the run logs at INFO"
    assert all({"time", "level", "logger", "message"} <= line.keys() for line in lines)
    assert any("metrics on" in line["message"] for line in lines)
    assert any("no valid bearer token" in line["message"] and line["level"] == "WARNING"
               for line in lines)
    assert scrape_token not in err


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=1) as answer:
            return answer.status == 200
    except OSError:
        return False


def _posted_anomaly(engine, *, posted_at: datetime) -> int:
    """An open anomaly whose alert was posted to Slack at ``posted_at``."""
    anomaly_id = add_anomaly(engine, at=posted_at)
    with session_scope(engine) as session:
        alert = session.exec(select(Alert).where(Alert.anomaly_id == anomaly_id)).one()
        message = outbox_q.enqueue(db_session=session, platform="slack", channel=alert.channel,
                                   operation=Operation.POST, now=posted_at, alert_id=alert.id)
        message.status, message.sent_at = MessageStatus.SENT, posted_at
    return anomaly_id


def test_acknowledgement_latency_counts_from_the_first_post_once_it_commits(
        settings: Settings) -> None:
    settings = with_routing(settings)
    services = build_services(settings)
    now = datetime.now(UTC)
    anomaly_id = _posted_anomaly(services.engine, posted_at=now - timedelta(minutes=10))
    with pytest.raises(RuntimeError), session_scope(services.engine) as session:
        service.acknowledge(db_session=session, settings=settings, anomaly_id=anomaly_id,
                            user="U0ANA", now=now)
        raise RuntimeError("the transaction fails after the acknowledgement")
    rolled_back = samples(generate_latest(metrics.current().registry).decode())
    assert value(rolled_back, "spendwatch_ack_latency_seconds_count") == 0
    with session_scope(services.engine) as session:
        service.acknowledge(db_session=session, settings=settings, anomaly_id=anomaly_id,
                            user="U0ANA", now=now)
    never_posted = add_anomaly(services.engine, project="quiet")
    with session_scope(services.engine) as session:
        service.acknowledge(db_session=session, settings=settings, anomaly_id=never_posted,
                            user="U0ANA", now=now)
    services.close()
    found = samples(generate_latest(metrics.current().registry).decode())
    assert value(found, "spendwatch_ack_latency_seconds_count") == 1
    assert value(found, "spendwatch_ack_latency_seconds_sum") == pytest.approx(600, abs=1)
    assert value(found, "spendwatch_ack_latency_seconds_bucket", le="300.0") == 0
    assert value(found, "spendwatch_ack_latency_seconds_bucket", le="600.0") == 1


def test_a_metrics_port_in_use_stops_the_start_with_what_to_change(settings: Settings) -> None:
    services = build_services(settings)
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        runtime = Runtime(services, Mode("console"), host="127.0.0.1", schedule=False,
                          metrics_port=port, stdin=io.StringIO())
        with pytest.raises(ConfigError, match=f"--metrics-port {port}: .*choose a free port"):
            runtime.start()
    services.close()
    assert not runtime.parts["worker"]._thread.is_alive(), "no thread left behind"


def test_every_scheduled_job_is_timed_and_a_poll_that_fails_is_counted_failed(
        settings: Settings, focus_folder: Path) -> None:
    from bot.scheduler import build_scheduler
    from storage import queries

    settings = settings.model_copy(update={
        "sources": [FocusSourceSettings(path=focus_folder, name="demo")]})
    services = build_services(settings)
    with session_scope(services.engine) as session:  # a detector state no pass can read
        queries.state.set_state(db_session=session, name="detector",
                                value={"last_hour": "not-a-time"})
    scheduler = build_scheduler(services, platforms=("slack",))
    with pytest.raises(ValueError):
        scheduler.get_job("poll").func()
    scheduler.get_job("escalations").func()
    services.close()
    found = samples(generate_latest(metrics.current().registry).decode())
    assert value(found, "spendwatch_polls_total", outcome="failed") == 1
    assert value(found, "spendwatch_polls_total", outcome="ok") == 0
    assert value(found, "spendwatch_source_reads_total", source="demo", outcome="ok") == 1
    assert value(found, "spendwatch_rows_ingested_total", source="demo") == 15 * 24 * 2
    assert value(found, "spendwatch_job_duration_seconds_count", job="poll") == 1
    assert value(found, "spendwatch_job_duration_seconds_count", job="escalations") == 1


def test_a_teams_card_click_is_timed_and_its_acknowledgement_measured(
        sqlite_url: str, tmp_path: Path, focus_folder: Path) -> None:
    """SQLite only: the store's side is the Slack test's, on PostgreSQL too."""
    from bot.scheduler import poll
    from bot.settings import TeamsRouting
    from tests.support.teams_requests import (
        action,
        activity,
        bot_added,
        card_action,
        teams_runtime,
    )
    from tests.support.teams_requests import post as teams_post
    from tests.support.teams_stub import TeamsStub

    channel = "19:f1e2d3c4b5a60718293a4b5c6d7e8f91@thread.tacv2"
    settings = Settings(database_url=sqlite_url, quarantine_dir=tmp_path / "quarantine")
    settings = settings.model_copy(update={
        "sources": [FocusSourceSettings(path=focus_folder, name="demo")],
        "routing": RoutingSettings(teams=TeamsRouting(default=channel)),
        "schedule": ScheduleSettings(channel_pace_seconds=0.05)})
    with TeamsStub(client_id="6f1c9a52-3b7e-4d0a-9c1e-5a2b8d7e4f10") as stub, \
            teams_runtime(settings, stub) as runtime:
        assert teams_post(runtime, stub, bot_added(stub, channel)).status_code == 200
        poll(runtime.services, platforms=("teams",))
        deliverer = runtime.parts["deliverers"]["teams"]
        deliverer.drain(timeout=30)
        with Session(runtime.services.engine) as session:
            alert = session.exec(select(Alert).where(Alert.platform == "teams")).one()
        ref = alert.message_ref
        assert ref is not None
        ack = action(stub.messages[ref].card, "ack")
        answer = teams_post(runtime, stub, card_action(stub, channel, ref, ack))
        assert answer.status_code == 200, answer.text
        # the same card clicked in a client without Universal Actions: an Action.Submit
        # fallback arrives as a message carrying the action's data
        runbook = dict(action(stub.messages[ref].card, "runbook")["data"])
        submitted = activity(stub, "message", conversation=f"{channel};messageid={ref}",
                             value=runbook, replyToId=ref)
        assert teams_post(runtime, stub, submitted).status_code == 200
        deliverer.drain(timeout=30)
        url = runtime.metrics_url
        assert url is not None
        found = samples(scrape(url)[2])
    assert value(found, "spendwatch_click_seconds_count", platform="teams") == 2
    assert value(found, "spendwatch_ack_latency_seconds_count") == 1
    assert value(found, "spendwatch_messages_sent_total", platform="teams",
                 operation="post") == 1
    assert value(found, "spendwatch_outbox_messages", platform="teams", status="pending") == 0
    assert sum(v for (name, _), v in found.items()
               if name == "spendwatch_anomalies_opened_total") >= 1
