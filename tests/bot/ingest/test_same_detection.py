"""The same spend, read through each kind of source, gives the same detection as a FOCUS file.

The story (``tests.support.spend_story``) is written once as a FOCUS export and ingested; its
incidents are the reference. Then, each time in a fresh store, it is served in a source's own
shape (a warehouse table, an object store, the providers' APIs) and read by that source, and
detection must open the same incidents: same project, same first hour, same impact to the
cent.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import boto3
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest
from botocore.stub import Stubber
from sqlalchemy.engine import Engine
from sqlmodel import select

from bot.anomaly.poll import poll_store
from bot.ingest.service import ingest_path, ingest_source
from bot.ingest.sources.config import (
    AnthropicSourceSettings,
    CostExplorerSourceSettings,
    FocusSourceSettings,
    ModelPrice,
    OpenAISourceSettings,
    SqlSourceSettings,
)
from bot.ingest.sources.cost_explorer import CostExplorerSource
from bot.ingest.sources.registry import window_source
from bot.ingest.window import ingest_window
from bot.settings import Settings
from storage.db import make_engine, session_scope, upgrade
from storage.models import Anomaly
from tests.support import moto_s3 as moto
from tests.support.admin_api_stub import AdminApiStub, org_from_spend
from tests.support.focus_files import write_focus_csv
from tests.support.moto_s3 import S3Env
from tests.support.spend_story import END, INCIDENTS, START, focus_rows, hourly_spend

moto_s3, s3_env = moto.moto_s3, moto.s3_env  # the fixtures

NOW = END + timedelta(minutes=20)  # the story's last hour has just ended


def store(tmp_path: Path, name: str) -> tuple[Engine, Settings]:
    settings = Settings(database_url=f"sqlite:///{tmp_path / name}.db",
                        quarantine_dir=tmp_path / "quarantine")
    engine = make_engine(settings.database_url)
    upgrade(engine)
    return engine, settings


# the story has no usage figures; the CSV helper's placeholder quantity (the same tokens every
# hour) would turn each rise of spend into a rise of the price per token
NO_QUANTITY = ("ConsumedQuantity", "ConsumedUnit")


def incidents(engine: Engine, settings: Settings) -> set[tuple[str, datetime, str, float]]:
    poll_store(engine=engine, settings=settings)
    with session_scope(engine) as session:
        rows = session.exec(select(Anomaly)).all()
        return {(a.project, a.started_at.astimezone(UTC), a.kind, round(a.impact_usd, 2))
                for a in rows}


@pytest.fixture(scope="module")
def spend():
    return hourly_spend()


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory, spend
              ) -> set[tuple[str, datetime, str, float]]:
    tmp_path = tmp_path_factory.mktemp("reference")
    engine, settings = store(tmp_path, "reference")
    write_focus_csv(tmp_path / "export" / "story.csv", focus_rows(spend), drop=NO_QUANTITY)
    report = ingest_path(engine=engine, settings=settings, path=tmp_path / "export")
    assert report.ok
    found = incidents(engine, settings)
    engine.dispose()
    assert {(project, started) for project, started, _, _ in found} == INCIDENTS
    return found


def test_the_story_is_detected_from_a_focus_file(reference) -> None:
    assert len(reference) == 2


PRICES = {"gpt-4o": ModelPrice(input=2.5, output=10.0),
          "gpt-4o-mini": ModelPrice(input=0.15, output=0.6),
          "gpt-4.1": ModelPrice(input=2.0, output=8.0)}


def read_window(tmp_path: Path, name: str, source_settings) -> tuple[Engine, Settings]:
    engine, settings = store(tmp_path, name)
    report = ingest_window(engine=engine, settings=settings, source_settings=source_settings,
                           source=window_source(source_settings), now=NOW)
    assert report.ok, report.message
    return engine, settings


def spend_rows(spend) -> list[tuple]:
    return list(spend[["hour", "project", "model", "cost"]].itertuples(index=False))


@pytest.mark.parametrize("provider", ["openai", "anthropic"])
def test_the_admin_apis_give_the_same_detection(provider: str, reference, spend, tmp_path: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    """Usage priced hour by hour, then each finished day replaced by the provider's bill."""
    with AdminApiStub() as stub:
        org = org_from_spend(spend_rows(spend), PRICES, provider=provider, billed_until=NOW)
        backfill = (NOW - START).days + 1
        if provider == "openai":
            stub.openai = org
            monkeypatch.setenv("OPENAI_ADMIN_KEY", stub.openai_key)
            config = OpenAISourceSettings(base_url=stub.url, prices=PRICES,
                                          organization="org-story", backfill_days=backfill)
        else:
            stub.anthropic = org
            monkeypatch.setenv("ANTHROPIC_ADMIN_KEY", stub.anthropic_key)
            config = AnthropicSourceSettings(base_url=stub.url, prices=PRICES,
                                             organization="org-story", backfill_days=backfill)
        engine, settings = read_window(tmp_path, provider, config)
    found = incidents(engine, settings)
    engine.dispose()
    assert found == reference


def test_a_warehouse_query_gives_the_same_detection(reference, spend, tmp_path: Path) -> None:
    """Raw line items (three per hour and line) stay in Parquet; DuckDB sums them by hour."""
    rows = [row | {"EffectiveCost": float(row["EffectiveCost"]) / 3} for row in
            focus_rows(spend) for _ in range(3)]
    table = pa.Table.from_pylist(rows)
    for name in ("ChargePeriodStart", "ChargePeriodEnd", "BillingPeriodStart",
                 "BillingPeriodEnd"):
        index = table.schema.get_field_index(name)
        table = table.set_column(index, name, pc.strptime(
            table.column(name), format="%Y-%m-%dT%H:%M:%SZ", unit="us", error_is_null=False
        ).cast(pa.timestamp("us", tz="UTC")))
    pq.write_table(table, tmp_path / "line_items.parquet")
    query = f"""
        SELECT ChargePeriodStart, ChargePeriodEnd, BillingPeriodStart, BillingPeriodEnd,
               ChargeCategory, BillingCurrency, BillingAccountId, ServiceProviderName,
               ServiceName, ServiceCategory, SkuId, SubAccountId, SubAccountName, Tags,
               SUM(EffectiveCost) AS EffectiveCost
        FROM read_parquet('{tmp_path / "line_items.parquet"}')
        WHERE ChargePeriodStart >= :start AND ChargePeriodStart < :end
        GROUP BY ALL"""
    config = SqlSourceSettings(url="duckdb:///:memory:", query=query,
                               backfill_days=(NOW - START).days + 1)
    engine, settings = read_window(tmp_path, "sql", config)
    found = incidents(engine, settings)
    engine.dispose()
    assert found == reference


def test_cost_explorer_gives_the_same_detection_as_the_same_hours_and_days(
        spend, tmp_path: Path) -> None:
    """Cost Explorer keeps hours for 14 days only: older spend comes by the day. The FOCUS
    file holds the same: days before that, hours after; both must detect alike."""
    hourly_from = datetime(2026, 10, 8, tzinfo=UTC)  # midnight after now - 14 days
    by_day = spend.assign(day=spend["hour"].dt.floor("D"))
    early = by_day[by_day["hour"] < hourly_from]
    daily = early.groupby(["day", "project", "model"], as_index=False)["cost"].sum()
    late = spend[spend["hour"] >= hourly_from]
    rows = focus_rows(late)
    for day, project, model, cost in daily.itertuples(index=False):
        row = focus_rows(pd.DataFrame({"hour": [day], "project": [project], "model": [model],
                                       "cost": [round(cost, 2)]}))[0]
        row["ChargePeriodEnd"] = (day + pd.Timedelta(days=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
        rows.append(row)
    engine, settings = store(tmp_path, "ce-reference")
    write_focus_csv(tmp_path / "ce-export" / "story.csv", rows, drop=NO_QUANTITY)
    assert ingest_path(engine=engine, settings=settings, path=tmp_path / "ce-export").ok
    expected = incidents(engine, settings)
    engine.dispose()
    assert {(p, s) for p, s, _, _ in expected} == INCIDENTS

    def bucket(start: pd.Timestamp, width: pd.Timedelta, frame: pd.DataFrame, fmt: str) -> dict:
        groups = [{"Keys": ["OpenAI API", f"project${project}"],
                   "Metrics": {"AmortizedCost": {"Amount": f"{cost:.2f}", "Unit": "USD"},
                               "UsageQuantity": {"Amount": "0", "Unit": "N/A"}}}
                  for project, cost in frame[["project", "cost"]].itertuples(index=False)]
        return {"TimePeriod": {"Start": start.strftime(fmt),
                               "End": (start + width).strftime(fmt)},
                "Total": {}, "Groups": groups, "Estimated": False}

    hours = [bucket(hour, pd.Timedelta(hours=1), frame, "%Y-%m-%dT%H:%M:%SZ")
             for hour, frame in late.groupby("hour")]
    days = [bucket(day, pd.Timedelta(days=1), frame, "%Y-%m-%d")
            for day, frame in daily.groupby("day")]
    session = boto3.Session(aws_access_key_id="testing", aws_secret_access_key="testing",
                            region_name="us-east-1")
    config = CostExplorerSourceSettings(backfill_days=(NOW - START).days + 1,
                                        account="org-story", retry_wait_seconds=0)
    reader = CostExplorerSource(config, session=session, sleep=lambda _: None)
    with Stubber(reader.client) as stubber:
        stubber.add_response("get_cost_and_usage", {"ResultsByTime": hours})
        stubber.add_response("get_cost_and_usage", {"ResultsByTime": days})
        engine, settings = store(tmp_path, "ce")
        report = ingest_window(engine=engine, settings=settings, source_settings=config,
                               source=reader, now=NOW)
        stubber.assert_no_pending_responses()
    assert report.ok, report.message
    assert report.paid_requests == 2  # one for the hours, one for the days: nothing more
    found = incidents(engine, settings)
    engine.dispose()
    assert found == expected


def test_an_export_bucket_gives_the_same_detection(reference, spend, tmp_path: Path,
                                                   s3_env: S3Env) -> None:
    write_focus_csv(tmp_path / "upload.csv", focus_rows(spend), drop=NO_QUANTITY)
    s3_env.client.put_object(Bucket=s3_env.bucket, Key="focus/story.csv",
                             Body=(tmp_path / "upload.csv").read_bytes())
    engine, settings = store(tmp_path, "bucket")
    report = ingest_source(engine=engine, settings=settings, source=FocusSourceSettings(
        path=f"s3://{s3_env.bucket}/focus/"))
    assert report.ok
    found = incidents(engine, settings)
    engine.dispose()
    assert found == reference
