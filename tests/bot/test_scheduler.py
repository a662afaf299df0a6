"""Scheduled jobs as plain functions: what `run` posts, and what a flare after a resolution does."""

from __future__ import annotations

import json
import logging
import re
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sqlmodel import Session, select

from bot.anomaly.alerting import reopen
from bot.ingest.service import ingest_path
from bot.runner import Mode, Runtime
from bot.scheduler import build_scheduler, poll, prune_points
from bot.settings import FocusSourceSettings, load_settings, parse_settings
from bot.wiring import build_services
from storage.db import session_scope
from storage.models import Alert, Anomaly, OutboxMessage
from storage.queries import outbox
from tests.bot.test_cli import spendwatch, write_config
from tests.support.focus_files import write_focus_csv
from tests.support.slack_stub import SlackApiStub

NOW = datetime(2026, 11, 28, 12, tzinfo=UTC)


def test_a_flare_after_people_resolved_it_asks_for_people_again(engine):
    with Session(engine) as session:
        anomaly = Anomaly(project="p", environment="prod", owner="team-ai", phase="run",
                          kind="spike", started_at=NOW, detected_at=NOW, last_seen_at=NOW,
                          response="resolved", response_by="U1", evidence={})
        session.add(anomaly)
        session.flush()
        outbox.create_alert(db_session=session, anomaly_id=anomaly.id, platform="slack",
                            channel="C1", now=NOW)
        reopen(db_session=session, anomaly_id=int(anomaly.id), now=NOW)
        session.commit()
        stored = session.get(Anomaly, anomaly.id)
        assert stored.response == "none" and stored.response_by is None
        replies = [m.payload["text"] for m in session.exec(select(OutboxMessage)).all()
                   if m.operation == "reply"]
    assert replies == ["Spend rose again after this was resolved; it needs a look "
                       "(same incident)."]


# -- detect and run share the anomaly lifecycle ------------------------------------------------

START = pd.Timestamp("2026-09-01T00:00:00Z")
HOURS = 21 * 24
LIVE = ("agent", "search", "batch")  # each has an incident going on in the newest hours
BOT, SECRET = "xoxb-1-2-scheduler", "s3cr3t-signing"


def export(path: Path, *, hours: int, live_until: int) -> Path:
    """Four projects; the live ones bill logging x12 from three hours before ``HOURS`` to
    ``live_until``, "etl" did so for a day a week ago (over long before any poll)."""
    rng = np.random.default_rng(7)
    rows = []
    for index, hour in enumerate(pd.date_range(START, periods=hours, freq="h")):
        for project in (*LIVE, "etl"):
            level = 4.0 * (1 + 0.3 * np.sin(hour.hour / 24 * 2 * np.pi))
            for service, share in (("Amazon Bedrock", 5.0), ("AmazonCloudWatch", 1.0)):
                cost = level * share * rng.lognormal(0, 0.05)
                burst = (HOURS - 3 <= index < live_until if project in LIVE
                         else HOURS - 7 * 24 <= index < HOURS - 6 * 24)
                if service == "AmazonCloudWatch" and burst:
                    cost *= 12
                rows.append({
                    "ChargePeriodStart": hour.strftime("%Y-%m-%dT%H:%M:%SZ"),
                    "ChargePeriodEnd": (hour + HOUR).strftime("%Y-%m-%dT%H:%M:%SZ"),
                    "BillingPeriodStart": "2026-09-01T00:00:00Z",
                    "ServiceName": service, "BilledCost": f"{cost:.4f}",
                    "EffectiveCost": f"{cost:.4f}",
                    "Tags": json.dumps({"project": project, "env": "prod", "team": "team-x"}),
                })
    return write_focus_csv(path, rows)


HOUR = pd.Timedelta(hours=1)


@pytest.fixture
def config(tmp_path: Path) -> Path:
    return write_config(tmp_path, routing={"default_channel": "C0FINOPS"},
                        schedule={"channel_pace_seconds": 0.01})


def detect(config: Path) -> tuple[set[int], str]:
    """`spendwatch detect` as a user runs it: the anomalies it lists, and what it printed."""
    result = spendwatch("detect", "--config", str(config), cwd=config.parent)
    assert result.returncode == 0, result.stderr
    return {int(n) for n in re.findall(r"Anomaly swa-(\d+)", result.stdout)}, result.stdout


def top_level_posts(stub: SlackApiStub) -> list:
    return [c for c in stub.calls_to("chat.postMessage") if c.ok and "thread_ts" not in c.params]


def alerts(engine) -> list[Alert]:
    with Session(engine) as session:
        return list(session.exec(select(Alert)).all())


def test_run_posts_every_anomaly_detect_found_once(config: Path, tmp_path: Path):
    """A team checks with `detect`, then starts the bot: it hears of every incident under way."""
    settings = load_settings(config)
    services = build_services(settings)
    ingest_path(engine=services.engine, settings=settings,
                path=export(tmp_path / "e.csv", hours=HOURS, live_until=HOURS))
    listed, printed = detect(config)
    assert len(listed) == len(LIVE), printed  # "etl" ended a week ago: history, not news
    assert "Not posted to chat yet" in printed

    with SlackApiStub(ts_base=int(time.time())) as stub:
        mode = Mode("http", bot_token=BOT, signing_secret=SECRET, api_url=stub.base_url)
        runtime = Runtime(services, mode, port=0, host="127.0.0.1", schedule=False).start()
        try:
            poll(services, platforms=("slack",))
            runtime.deliverer.drain(timeout=30)
            first = top_level_posts(stub)
            poll(services, platforms=("slack",))  # nothing new: nothing posted again
            runtime.deliverer.drain(timeout=30)
            again = top_level_posts(stub)
        finally:
            runtime.stop()
            services.close()
    assert len(first) == len(LIVE)
    posted = {a.anomaly_id: a for a in alerts(services.engine)}
    assert set(posted) == listed
    assert {c.params["channel"] for c in first} == {"C0FINOPS"}
    assert all(posted[i].message_ref for i in listed)
    assert len(again) == len(first)

    _, printed = detect(config)
    assert printed.count("(slack)") == len(LIVE) and "Not posted to chat yet" not in printed


def test_an_anomaly_that_ended_before_run_started_is_not_posted_late(config: Path,
                                                                      tmp_path: Path):
    settings = load_settings(config)
    services = build_services(settings)
    try:
        ingest_path(engine=services.engine, settings=settings,
                    path=export(tmp_path / "v1" / "e.csv", hours=HOURS, live_until=HOURS))
        listed, _ = detect(config)
        assert len(listed) == len(LIVE)
        # the export is re-delivered a day later: the incidents stopped two hours after detect
        ingest_path(engine=services.engine, settings=settings,
                    path=export(tmp_path / "v2" / "e.csv", hours=HOURS + 24,
                                live_until=HOURS + 2))
        result = poll(services, platforms=("slack",))
        assert {e.incident.id for e in result.events if e.kind == "resolved"} == listed
        assert result.open == [] and alerts(services.engine) == []
        with Session(services.engine) as session:
            assert session.exec(select(OutboxMessage)).all() == []
    finally:
        services.close()


def services_polling(config: Path, drop: Path):
    """The bot's services with one FOCUS source, the folder ``drop`` holding three weeks."""
    export(drop / "e.csv", hours=HOURS, live_until=HOURS)
    settings = load_settings(config)
    return build_services(settings.model_copy(update={
        "sources": [FocusSourceSettings(path=drop, name="drop")]}))


def test_a_source_that_went_missing_is_one_warning_and_the_poll_goes_on(
        config: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture):
    drop = tmp_path / "drop"
    services = services_polling(config, drop)
    try:
        assert poll(services, platforms=("slack",)).open  # the first poll read the folder
        (drop / "e.csv").unlink()
        drop.rmdir()  # the mount went away while running
        with caplog.at_level(logging.WARNING):
            result = poll(services, platforms=("slack",))
    finally:
        services.close()
    assert len(result.open) == len(LIVE), "detection went on with what is in the store"
    [warning] = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert "sources.0.path" in warning.getMessage() and str(drop) in warning.getMessage()
    assert warning.exc_info is None, "a missing folder is not a crash: no traceback"


def test_a_much_smaller_redelivery_in_a_source_is_held_back_with_a_warning(
        config: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture):
    drop = tmp_path / "drop"
    services = services_polling(config, drop)
    try:
        poll(services, platforms=("slack",))
        stored = total(services.engine)
        export(drop / "e.csv", hours=HOURS // 4, live_until=HOURS // 4)  # cut short
        with caplog.at_level(logging.WARNING):
            poll(services, platforms=("slack",))
        assert total(services.engine) == pytest.approx(stored), "the complete export stays"
    finally:
        services.close()
    [warning] = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert "source drop" in warning.getMessage() and "held back" in warning.getMessage()
    assert "--force" in warning.getMessage()


def total(engine) -> float:
    from sqlalchemy import func

    from storage.models import CostPoint
    with Session(engine) as session:
        return float(session.exec(select(func.sum(CostPoint.effective_cost))).one())


def test_an_api_source_refusing_its_key_is_one_warning_and_the_export_is_still_judged(
        config: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture,
        monkeypatch: pytest.MonkeyPatch):
    from bot.ingest.sources.config import OpenAISourceSettings
    from storage import queries
    from tests.support.admin_api_stub import AdminApiStub

    drop = tmp_path / "drop"
    export(drop / "e.csv", hours=HOURS, live_until=HOURS)
    wrong = "sk-admin-wrongKEY0123456789abcdefXYZ"
    monkeypatch.setenv("OPENAI_ADMIN_KEY", wrong)
    with AdminApiStub() as stub:
        settings = load_settings(config)
        services = build_services(settings.model_copy(update={"sources": [
            OpenAISourceSettings(base_url=stub.url, retry_attempts=1),
            FocusSourceSettings(path=drop, name="drop")]}))
        try:
            with caplog.at_level(logging.WARNING):
                result = poll(services, platforms=("slack",))
            with session_scope(services.engine) as session:
                openai = queries.sources.get_state(db_session=session, name="openai")
                export_state = queries.sources.get_state(db_session=session, name="drop")
                assert openai is not None and export_state is not None
                assert openai.failures == 1 and "401" in (openai.last_error or "")
                assert wrong not in (openai.last_error or "")
                assert export_state.failures == 0 and export_state.rows_total > 0
        finally:
            services.close()
    assert len(result.open) == len(LIVE), "the export was ingested and judged"
    warnings = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert any("openai" in w and "401" in w for w in warnings)
    assert not any(wrong in w for w in warnings)


# -- the weekly digest ----------------------------------------------------------------------------


@pytest.mark.parametrize(("digest", "expected"), [
    ({"day": "friday", "hour": 17}, datetime(2026, 12, 4, 17, tzinfo=UTC)),
    ({}, datetime(2026, 12, 7, 9, tzinfo=UTC)),  # Monday 09:00 UTC; Nov 30 09:00 has passed
])
def test_the_digest_job_runs_weekly_on_the_configured_day_and_hour(tmp_path, digest, expected):
    settings = parse_settings({"database_url": f"sqlite:///{tmp_path / 'sw.db'}",
                               "finance": {"digest": digest}})
    services = build_services(settings)
    try:
        job = build_scheduler(services, platforms=("slack",)).get_job("digest")
        after = datetime(2026, 11, 30, 9, 0, 1, tzinfo=UTC)
        assert job.trigger.get_next_fire_time(None, after) == expected
    finally:
        services.close()


def test_no_digest_job_when_the_digest_is_turned_off(tmp_path):
    settings = parse_settings({"database_url": f"sqlite:///{tmp_path / 'sw.db'}",
                               "finance": {"digest": {"enabled": False}}})
    services = build_services(settings)
    try:
        assert build_scheduler(services, platforms=("slack",)).get_job("digest") is None
    finally:
        services.close()


# -- retention ------------------------------------------------------------------------------------


def test_the_prune_job_runs_daily_at_the_retention_hour_only_when_retention_is_on(tmp_path):
    url = f"sqlite:///{tmp_path / 'sw.db'}"
    on = build_services(parse_settings({"database_url": url,
                                        "retention": {"hourly_days": 400, "hour": 4}}))
    off = build_services(parse_settings({"database_url": url}))
    try:
        job = build_scheduler(on, platforms=("slack",)).get_job("prune")
        after = datetime(2026, 11, 30, 9, 0, tzinfo=UTC)
        assert job.trigger.get_next_fire_time(None, after) == datetime(2026, 12, 1, 4, 30,
                                                                       tzinfo=UTC)
        assert build_scheduler(off, platforms=("slack",)).get_job("prune") is None
        assert prune_points(off) is None
    finally:
        on.close()
        off.close()


def test_the_prune_job_rolls_up_the_old_days_as_the_scheduler(tmp_path):
    from sqlalchemy import text

    from tests.support.cost_points import put_points

    services = build_services(parse_settings({"database_url": f"sqlite:///{tmp_path / 'sw.db'}",
                                              "retention": {"hourly_days": 35}}))
    try:
        start = datetime(2026, 9, 1, tzinfo=UTC)
        put_points(services.engine, [{"hour": start + n * pd.Timedelta(hours=1), "cost": 1.0}
                                     for n in range(24 * 5)])
        result = prune_points(services, now=datetime(2026, 11, 30, 9, tzinfo=UTC))
        assert result is not None and len(result.days) == 5
        with services.engine.connect() as connection:
            assert connection.execute(text("SELECT count(*), sum(effective_cost) "
                                           "FROM cost_point")).one() == (5, 120.0)
            assert connection.execute(text("SELECT actor FROM audit_log")).scalar() == "scheduler"
    finally:
        services.close()
