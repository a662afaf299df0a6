"""Reading a window source into the store: backfill, watermark, restatements, failures.

The source here is a small provider of our own making that answers from a table of hourly
spend, the way the real ones answer from their APIs; the runner, the parsing, the write and
the state are the real ones, on SQLite and on a real PostgreSQL.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pyarrow as pa
import pytest
from sqlalchemy import func, select
from sqlmodel import Session

from bot.ingest.service import ingest_path
from bot.ingest.sources.base import ReadStats, SourceError, Window, focus_table
from bot.ingest.sources.config import SqlSourceSettings
from bot.ingest.window import backoff, ingest_window, plan_window
from bot.settings import Settings
from storage import queries
from storage.models import CostPoint, SourceState
from tests.support.focus_files import write_focus_csv

NOW = datetime(2026, 11, 20, 14, 25, tzinfo=UTC)
HOUR = timedelta(hours=1)


def hourly_row(hour: datetime, cost: float, project: str = "support-agent",
               model: str = "gpt-4o") -> dict:
    month = hour.replace(day=1, hour=0)
    return {
        "ChargePeriodStart": hour, "ChargePeriodEnd": hour + HOUR,
        "BillingPeriodStart": month, "BillingPeriodEnd": month + timedelta(days=31),
        "ChargeCategory": "Usage", "EffectiveCost": cost, "BilledCost": cost,
        "BillingCurrency": "USD", "ServiceProviderName": "OpenAI",
        "BillingAccountId": "org-1", "SubAccountId": "proj_1", "SubAccountName": project,
        "ServiceName": "OpenAI API", "ServiceCategory": "AI and Machine Learning",
        "SkuId": model, "Tags": {"project": project, "environment": "prod"},
    }


@dataclass
class TableSource:
    """A provider whose data is a dict hour -> dollars; records every window it was asked."""

    spend: dict[datetime, float]
    label: str = "api"
    asked: list[Window] = field(default_factory=list)
    fail: Exception | None = None
    fail_after_rows: bool = False
    provisional_from: datetime | None = None
    extra_rows: list[dict] = field(default_factory=list)

    def read(self, window: Window, stats: ReadStats) -> Iterator[pa.Table]:
        self.asked.append(window)
        stats.requests += 1
        if self.fail is not None and not self.fail_after_rows:
            raise self.fail
        rows = [hourly_row(h, c) for h, c in sorted(self.spend.items())
                if window.start <= h < window.end]
        yield focus_table(rows + self.extra_rows)
        if self.fail is not None:
            raise self.fail
        if self.provisional_from is not None:
            stats.provisional(self.provisional_from)


def config(**fields) -> SqlSourceSettings:
    return SqlSourceSettings(url="duckdb:///:memory:", query="SELECT 1", name="api", **fields)


def stored(engine) -> dict[datetime, float]:
    with Session(engine) as session:
        rows = session.exec(select(CostPoint.hour, func.sum(CostPoint.effective_cost))
                            .group_by(CostPoint.hour)).all()
    out = {}
    for hour, cost in rows:
        moment = datetime.fromisoformat(hour) if isinstance(hour, str) else hour
        out[moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment] = round(cost, 6)
    return out


def state(engine) -> SourceState:
    with Session(engine) as session:
        found = queries.sources.get_state(db_session=session, name="api")
        assert found is not None
        return found


def days_of_spend(days: int, cost: float = 2.0, end: datetime = NOW) -> dict[datetime, float]:
    last = end.replace(minute=0)
    return {last - i * HOUR: cost for i in range(days * 24)}


def test_first_read_backfills_then_reads_only_the_overlap(engine, settings: Settings) -> None:
    source = TableSource(days_of_spend(40))
    first = ingest_window(engine=engine, settings=settings, source_settings=config(),
                          source=source, now=NOW)
    assert first.ok, first.message
    # 30 days back, from midnight, to the end of the current hour
    assert source.asked[0].start == datetime(2026, 10, 21, tzinfo=UTC)
    assert source.asked[0].end == datetime(2026, 11, 20, 15, tzinfo=UTC)
    points = stored(engine)
    assert min(points) == datetime(2026, 10, 21, tzinfo=UTC)
    assert max(points) == datetime(2026, 11, 20, 14, tzinfo=UTC)
    assert first.newest_hour == datetime(2026, 11, 20, 14, tzinfo=UTC)

    second = ingest_window(engine=engine, settings=settings, source_settings=config(),
                           source=source, now=NOW + timedelta(minutes=30))
    assert second.ok
    # the watermark less 48 hours, floored to midnight
    assert source.asked[1].start == datetime(2026, 11, 18, tzinfo=UTC)
    assert stored(engine) == points  # nothing new, nothing doubled
    assert state(engine).watermark == datetime(2026, 11, 20, 15, tzinfo=UTC)


def test_restated_hours_replace_what_was_stored(engine, settings: Settings) -> None:
    spend = days_of_spend(3)
    source = TableSource(spend)
    ingest_window(engine=engine, settings=settings, source_settings=config(backfill_days=3),
                  source=source, now=NOW)
    restated = NOW.replace(minute=0) - 5 * HOUR
    spend[restated] = 9.5
    del spend[NOW.replace(minute=0) - 6 * HOUR]  # the provider withdrew an hour
    later = NOW + 2 * HOUR
    spend[later.replace(minute=0)] = 3.0
    ingest_window(engine=engine, settings=settings, source_settings=config(backfill_days=3),
                  source=source, now=later)
    points = stored(engine)
    assert points[restated] == 9.5
    assert NOW.replace(minute=0) - 6 * HOUR not in points
    assert points[later.replace(minute=0)] == 3.0
    assert sum(points.values()) == pytest.approx(sum(spend.values()))


def test_provisional_hours_are_read_again_even_beyond_the_overlap(engine,
                                                                  settings: Settings) -> None:
    source = TableSource(days_of_spend(10),
                         provisional_from=datetime(2026, 11, 12, 7, tzinfo=UTC))
    ingest_window(engine=engine, settings=settings, source_settings=config(backfill_days=10),
                  source=source, now=NOW)
    ingest_window(engine=engine, settings=settings, source_settings=config(backfill_days=10),
                  source=source, now=NOW + HOUR)
    assert source.asked[1].start == datetime(2026, 11, 12, tzinfo=UTC)


def test_a_failed_read_leaves_nothing_and_backs_off(engine, settings: Settings,
                                                   caplog: pytest.LogCaptureFixture) -> None:
    source = TableSource(days_of_spend(2))
    ingest_window(engine=engine, settings=settings, source_settings=config(backfill_days=2),
                  source=source, now=NOW)
    before = stored(engine)
    source.spend = {h: c * 10 for h, c in source.spend.items()}
    source.fail = SourceError("api: the page after 'abc' was cut short; try again",
                              retryable=True)
    source.fail_after_rows = True  # rows were already yielded when it broke
    caplog.set_level(logging.WARNING)
    report = ingest_window(engine=engine, settings=settings,
                           source_settings=config(backfill_days=2), source=source,
                           now=NOW + HOUR)
    assert not report.ok
    assert "cut short" in (report.message or "")
    assert stored(engine) == before  # not a single row of the broken read
    failed = state(engine)
    assert failed.failures == 1 and failed.last_error and "cut short" in failed.last_error
    assert failed.watermark == datetime(2026, 11, 20, 15, tzinfo=UTC)  # unchanged
    assert failed.last_success_at is not None and failed.last_success_at < failed.last_error_at
    # the scheduler leaves it alone until the retry time; a person may read it anyway
    skipped = ingest_window(engine=engine, settings=settings,
                            source_settings=config(backfill_days=2), source=source,
                            now=NOW + HOUR + timedelta(minutes=5))
    assert skipped.skipped and "next try" in skipped.skipped
    assert len(source.asked) == 2
    source.fail = None
    forced = ingest_window(engine=engine, settings=settings,
                           source_settings=config(backfill_days=2), source=source,
                           now=NOW + HOUR + timedelta(minutes=5), respect_backoff=False)
    assert forced.ok
    recovered = state(engine)
    assert recovered.failures == 0 and recovered.retry_at is None
    assert recovered.last_success_at > recovered.last_error_at  # the error stays, as history


def test_backoff_doubles_up_to_six_hours() -> None:
    poll = timedelta(minutes=60)
    assert [backoff(n, poll=poll) for n in (1, 2, 3, 4, 5)] == [
        timedelta(hours=1), timedelta(hours=2), timedelta(hours=4), timedelta(hours=6),
        timedelta(hours=6)]


def test_an_unexpected_error_is_contained_and_secrets_are_redacted(
        engine, settings: Settings, caplog: pytest.LogCaptureFixture) -> None:
    source = TableSource({}, fail=RuntimeError(
        "connect to postgresql://finops:hunter2-secret@db:5432/x failed, "
        "header Authorization: Bearer sk-admin-abcdefghijklmnop"))
    caplog.set_level(logging.WARNING)
    report = ingest_window(engine=engine, settings=settings, source_settings=config(),
                           source=source, now=NOW)
    assert not report.ok
    assert "hunter2" not in (report.message or "")
    assert "abcdefghijklmnop" not in (report.message or "")
    assert "hunter2" not in (state(engine).last_error or "")
    assert "abcdefghijklmnop" not in caplog.text.split("Traceback")[0]


def test_bad_rows_are_quarantined_and_rows_before_the_window_ignored(
        engine, settings: Settings) -> None:
    early = datetime(2026, 1, 1, tzinfo=UTC)
    bad = hourly_row(NOW.replace(minute=0), 1.0) | {"ChargeCategory": "Bogus"}
    source = TableSource(days_of_spend(1), extra_rows=[hourly_row(early, 50.0), bad])
    report = ingest_window(engine=engine, settings=settings,
                           source_settings=config(backfill_days=1), source=source, now=NOW)
    assert report.ok
    assert report.outside_window == 1
    assert report.rows_rejected == 1
    assert report.quarantine_path and Path(report.quarantine_path).exists()
    assert early not in stored(engine)


def test_a_file_delivery_never_replaces_a_window_source(engine, settings: Settings,
                                                        tmp_path: Path) -> None:
    """Both carry billing account org-1 for November; each replaces only its own."""
    source = TableSource(days_of_spend(1))
    ingest_window(engine=engine, settings=settings, source_settings=config(backfill_days=1),
                  source=source, now=NOW)
    window_total = sum(stored(engine).values())
    rows = [{"BillingAccountId": "org-1", "ChargePeriodStart": "2026-11-02T00:00:00Z",
             "ChargePeriodEnd": "2026-11-02T01:00:00Z", "BillingPeriodStart":
             "2026-11-01T00:00:00Z", "BillingPeriodEnd": "2026-12-01T00:00:00Z",
             "EffectiveCost": "5", "BilledCost": "5", "BillingCurrency": "USD",
             "ChargeCategory": "Usage", "ServiceName": "Amazon EC2"}]
    for attempt in range(2):
        rows[0]["EffectiveCost"] = str(5 + attempt)
        write_focus_csv(tmp_path / "export.csv", rows)
        ingest_path(engine=engine, settings=settings, path=tmp_path / "export.csv")
    assert sum(stored(engine).values()) == pytest.approx(window_total + 6)


def test_plan_window_floors_to_midnight() -> None:
    source = config(overlap_hours=5)
    window = plan_window(state=SourceState(name="api", kind="sql",
                                           watermark=datetime(2026, 11, 20, 15, tzinfo=UTC)),
                         source=source, now=NOW)
    assert window.start == datetime(2026, 11, 20, tzinfo=UTC)
    assert window.end == datetime(2026, 11, 20, 15, tzinfo=UTC)
