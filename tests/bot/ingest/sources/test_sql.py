"""The SQL source on DuckDB over a FOCUS Parquet file and on a real PostgreSQL: hourly
aggregates for the window only, in UTC whatever the session's zone was, and errors that say
what to fix without ever showing the password."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import sqlalchemy as sa
from sqlalchemy import func, select
from sqlmodel import Session

from bot.ingest.sources.base import FOCUS_FIELDS, ReadStats, SourceError, Window
from bot.ingest.sources.config import SqlSourceSettings
from bot.ingest.sources.sql import SqlSource
from bot.ingest.window import ingest_window
from bot.settings import Settings
from storage.models import CostPoint

T0 = datetime(2026, 11, 1, 0, tzinfo=UTC)
WINDOW = Window(start=T0 + timedelta(hours=1), end=T0 + timedelta(hours=3),
                now=T0 + timedelta(hours=5))
SECRET = "pa55-w0rd-never-shown"

DUCKDB_QUERY = """
SELECT date_trunc('hour', ChargePeriodStart) AS ChargePeriodStart,
       date_trunc('hour', ChargePeriodStart) + INTERVAL 1 HOUR AS ChargePeriodEnd,
       ChargeCategory, BillingCurrency, ServiceName, Tags, 'extra' AS NotFocus,
       '111122223333' AS BillingAccountId,
       sum(EffectiveCost) AS EffectiveCost, sum(BilledCost) AS BilledCost
FROM read_parquet('{path}')
WHERE ChargePeriodStart >= :start AND ChargePeriodStart < :end
GROUP BY ALL
ORDER BY 1, ServiceName
"""


def _line_items(*, zone: str | None = "UTC") -> pa.Table:
    """Four hours from T0, two services, three resources each at 1, 2 and 3 dollars."""
    rows: dict[str, list[Any]] = {k: [] for k in (
        "ChargePeriodStart", "ChargeCategory", "BillingCurrency", "ServiceName", "Tags",
        "EffectiveCost", "BilledCost")}
    for hour in range(4):
        for service in ("Amazon Bedrock", "Amazon S3"):
            for resource in range(3):
                start = T0 + timedelta(hours=hour, minutes=10 * resource)
                rows["ChargePeriodStart"].append(start if zone else start.replace(tzinfo=None))
                rows["ChargeCategory"].append("Usage")
                rows["BillingCurrency"].append("USD")
                rows["ServiceName"].append(service)
                rows["Tags"].append(json.dumps({"project": "alpha"}))
                rows["EffectiveCost"].append(float(resource + 1))
                rows["BilledCost"].append(float(resource + 1))
    table = pa.table(rows)
    kind = pa.timestamp("us", tz=zone) if zone else pa.timestamp("us")
    return table.set_column(0, "ChargePeriodStart", table.column(0).cast(kind))


@pytest.fixture
def parquet(tmp_path: Path) -> Path:
    path = tmp_path / "focus.parquet"
    pq.write_table(_line_items(), path)
    return path


def _source(url: str, query: str, **settings: Any) -> SqlSource:
    environ = settings.pop("environ", {})
    return SqlSource(SqlSourceSettings(url=url, query=query, retry_wait_seconds=0, **settings),
                     environ=environ, sleep=lambda _: None)


def _read(source: SqlSource, window: Window = WINDOW) -> tuple[list[pa.Table], ReadStats]:
    stats = ReadStats()
    try:
        return list(source.read(window, stats)), stats
    finally:
        source.close()


def test_duckdb_aggregates_the_windows_line_items_by_hour(parquet: Path) -> None:
    tables, stats = _read(_source("duckdb:///:memory:", DUCKDB_QUERY.format(path=parquet)))

    table = pa.concat_tables(tables)
    assert table.schema == pa.schema(FOCUS_FIELDS)
    rows = table.to_pylist()
    assert [(r["ChargePeriodStart"], r["ServiceName"], r["EffectiveCost"]) for r in rows] == [
        (T0 + timedelta(hours=1), "Amazon Bedrock", 6.0),
        (T0 + timedelta(hours=1), "Amazon S3", 6.0),
        (T0 + timedelta(hours=2), "Amazon Bedrock", 6.0),
        (T0 + timedelta(hours=2), "Amazon S3", 6.0),
    ]
    first = rows[0]
    assert first["ChargePeriodEnd"] == T0 + timedelta(hours=2)
    assert first["BillingPeriodStart"] == datetime(2026, 11, 1, tzinfo=UTC)
    assert first["BillingPeriodEnd"] == datetime(2026, 12, 1, tzinfo=UTC)
    assert json.loads(first["Tags"]) == {"project": "alpha"}
    assert first["RegionId"] is None
    assert stats.requests == 1


def test_timestamps_without_a_zone_are_utc_whatever_the_machines_zone(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    path = tmp_path / "naive.parquet"
    pq.write_table(_line_items(zone=None), path)
    monkeypatch.setenv("TZ", "America/New_York")
    time.tzset()
    try:
        tables, _ = _read(_source("duckdb:///:memory:", DUCKDB_QUERY.format(path=path)))
    finally:
        monkeypatch.undo()
        time.tzset()
    hours = sorted({r["ChargePeriodStart"] for t in tables for r in t.to_pylist()})
    assert hours == [T0 + timedelta(hours=1), T0 + timedelta(hours=2)]


def test_results_come_in_tables_of_at_most_batch_rows(tmp_path: Path) -> None:
    query = """
        SELECT TIMESTAMPTZ '2026-11-01 01:00:00+00' AS ChargePeriodStart,
               TIMESTAMPTZ '2026-11-01 02:00:00+00' AS ChargePeriodEnd,
               'Usage' AS ChargeCategory, 'sku-' || range AS SkuId, 1.5 AS EffectiveCost
        FROM range(5000) WHERE :start <= TIMESTAMPTZ '2026-11-01 01:00:00+00'
    """
    tables, _ = _read(_source("duckdb:///:memory:", query, batch_rows=1000, currency="EUR",
                                account="warehouse"))
    assert sum(t.num_rows for t in tables) == 5000
    assert len(tables) > 1 and max(t.num_rows for t in tables) <= 2048
    assert set(tables[0].column("BillingCurrency").to_pylist()) == {"EUR"}
    assert set(tables[0].column("BillingAccountId").to_pylist()) == {"warehouse"}
    assert tables[0].column("EffectiveCost").type == pa.float64()


def test_a_query_missing_focus_columns_is_refused_naming_them(parquet: Path) -> None:
    query = f"SELECT ChargePeriodStart, sum(EffectiveCost) AS cost FROM read_parquet('{parquet}')"
    with pytest.raises(SourceError) as caught:
        _read(_source("duckdb:///:memory:", query + " WHERE ChargePeriodStart >= :start "
                      "GROUP BY 1"))
    message = str(caught.value)
    assert ("no ChargePeriodEnd, ChargeCategory, EffectiveCost, BillingCurrency, "
            "BillingAccountId columns") in message
    assert "must return FOCUS columns aggregated by hour" in message
    assert not caught.value.retryable


@pytest.mark.parametrize(("query", "said"), [
    ("SELEKT 1 WHERE :start < :end", "syntax error"),
    ("SELECT * FROM no_such_table WHERE :start < :end", "no_such_table"),
])
def test_a_bad_query_fails_with_the_databases_message_and_is_not_retried(
    query: str, said: str,
) -> None:
    with pytest.raises(SourceError) as caught:
        _read(source := _source("duckdb:///:memory:", query))
    assert said in str(caught.value).lower()
    assert "fix `query`" in str(caught.value) and not caught.value.retryable
    assert source.settings.retry_attempts > 1


def test_a_query_failing_part_way_through_its_rows_fails_the_read() -> None:
    query = """
        SELECT TIMESTAMPTZ '2026-11-01 01:00:00+00' AS ChargePeriodStart,
               TIMESTAMPTZ '2026-11-01 02:00:00+00' AS ChargePeriodEnd, 'Usage' AS ChargeCategory,
               CAST(CASE WHEN range < 300000 THEN '1' ELSE 'n/a' END AS DOUBLE) AS EffectiveCost
        FROM range(400000) WHERE :start < :end
    """
    source = _source("duckdb:///:memory:", query, currency="USD", account="a", batch_rows=1000)
    with pytest.raises(SourceError, match="Could not convert string 'n/a' to DOUBLE") as caught:
        _read(source)
    assert not caught.value.retryable


def test_only_start_and_end_are_bound() -> None:
    with pytest.raises(SourceError, match=r"uses :project; only :start and :end"):
        _read(_source("duckdb:///:memory:", "SELECT :project, :start"))


def test_the_password_comes_from_the_environment_and_a_missing_one_is_named() -> None:
    with pytest.raises(SourceError, match="SPENDWATCH_SQL_PASSWORD .* is not set"):
        _read(_source("postgresql+psycopg://reader@127.0.0.1:1/billing", "SELECT 1",
                      password_env="SPENDWATCH_SQL_PASSWORD"))


def test_a_connection_that_fails_is_retried_and_never_shows_the_password() -> None:
    with socket_closed_port() as port:
        source = _source(f"postgresql+psycopg://reader@127.0.0.1:{port}/billing",
                         "SELECT 1 WHERE :start < :end", password_env="DB_PASSWORD",
                         environ={"DB_PASSWORD": SECRET}, retry_attempts=2)
        stats = ReadStats()
        with pytest.raises(SourceError) as caught:
            list(source.read(WINDOW, stats))
    message = str(caught.value)
    assert caught.value.retryable and stats.requests == 2
    assert SECRET not in message and SECRET not in repr(caught.value.__cause__ or "")
    assert f"postgresql+psycopg://reader:***@127.0.0.1:{port}/billing" in message


@pytest.fixture
def pg_billing(postgres_url: str) -> Iterator[str]:
    """A line-item table on the real server, whose database's default zone is not UTC."""
    engine = sa.create_engine(postgres_url)
    with engine.begin() as connection:
        database = connection.exec_driver_sql("SELECT current_database()").scalar()
        connection.exec_driver_sql(f"ALTER DATABASE {database} SET TimeZone = 'Asia/Tokyo'")
        connection.exec_driver_sql(
            "CREATE TABLE line_items (usage_start timestamp, usage_start_tz timestamptz, "
            "service text, project text, cost numeric(12, 6))")
        items = _line_items().to_pylist()
        connection.execute(sa.text(
            "INSERT INTO line_items VALUES (:naive, :aware, :service, :project, :cost)"), [
            {"naive": r["ChargePeriodStart"].replace(tzinfo=None),
             "aware": r["ChargePeriodStart"], "service": r["ServiceName"],
             "project": "alpha", "cost": r["EffectiveCost"]} for r in items])
    engine.dispose()
    yield postgres_url


PG_QUERY = """
SELECT date_trunc('hour', {column}) AS chargeperiodstart,
       date_trunc('hour', {column}) + interval '1 hour' AS ChargePeriodEnd,
       'Usage' AS chargecategory, 'USD' AS billingcurrency, service AS servicename,
       'acct-1' AS BillingAccountId,
       jsonb_build_object('project', project) AS tags, sum(cost) AS effectivecost
FROM line_items
WHERE {column} >= :start AND {column} < :end
GROUP BY 1, 2, 5, 7
ORDER BY 1, 5
"""


@pytest.mark.postgres
@pytest.mark.parametrize("column", ["usage_start", "usage_start_tz"])
def test_postgresql_reads_the_window_in_utc_with_or_without_a_zone(
    pg_billing: str, column: str,
) -> None:
    tables, _ = _read(_source(pg_billing, PG_QUERY.format(column=column), batch_rows=1000))
    rows = pa.concat_tables(tables).to_pylist()
    assert [(r["ChargePeriodStart"], r["ServiceName"], r["EffectiveCost"]) for r in rows] == [
        (T0 + timedelta(hours=1), "Amazon Bedrock", 6.0),
        (T0 + timedelta(hours=1), "Amazon S3", 6.0),
        (T0 + timedelta(hours=2), "Amazon Bedrock", 6.0),
        (T0 + timedelta(hours=2), "Amazon S3", 6.0),
    ]
    assert json.loads(rows[0]["Tags"]) == {"project": "alpha"}
    assert rows[0]["ChargePeriodEnd"] == T0 + timedelta(hours=2)


@pytest.mark.postgres
def test_postgresql_sql_errors_carry_its_message_and_the_password_stays_hidden(
    pg_billing: str,
) -> None:
    source = _source(pg_billing, "SELECT * FROM invoices WHERE paid >= :start",
                     password_env="DB_PASSWORD", environ={"DB_PASSWORD": SECRET})
    with pytest.raises(SourceError) as caught:
        _read(source)
    message = str(caught.value)
    assert 'relation "invoices" does not exist' in message
    assert not caught.value.retryable
    assert SECRET not in message and ":***@" in message


class socket_closed_port:  # noqa: N801 - reads as the context it is
    """A local port nothing listens on, for as long as the block runs."""

    def __enter__(self) -> int:
        import socket

        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            return int(sock.getsockname()[1])

    def __exit__(self, *_: object) -> None:
        return None


def test_the_window_runner_stores_the_hourly_points_the_query_returns(
    parquet: Path, engine: sa.Engine, settings: Settings,
) -> None:
    source_settings = SqlSourceSettings(url="duckdb:///:memory:", name="warehouse",
                                        query=DUCKDB_QUERY.format(path=parquet))
    now = T0 + timedelta(days=1, hours=5)

    report = ingest_window(engine=engine, settings=settings, source_settings=source_settings,
                           source=SqlSource(source_settings), now=now)

    assert report.ok, report.message
    assert report.rows_kept == 8 and report.rows_rejected == 0
    with Session(engine) as session:
        hours = session.exec(select(CostPoint.hour, func.sum(CostPoint.effective_cost))
                             .group_by(CostPoint.hour).order_by(CostPoint.hour)).all()
    assert [round(cost, 6) for _, cost in hours] == [12.0] * 4
