"""The Cost Explorer source against botocore's Stubber: the exact requests, and what comes of
their answers (rows, provisional hours, notes, errors), counting every paid request."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import boto3
import pyarrow as pa
import pytest
import sqlalchemy as sa
from botocore.stub import Stubber
from sqlalchemy import func, select
from sqlmodel import Session

from bot.ingest.sources import cost_explorer
from bot.ingest.sources.base import ReadStats, SourceError, Window
from bot.ingest.sources.config import CostExplorerSourceSettings
from bot.ingest.sources.cost_explorer import CostExplorerSource
from bot.ingest.window import ingest_window
from bot.settings import Settings
from storage.models import CostPoint

NOW = datetime(2026, 11, 30, 7, 20, tzinfo=UTC)
END = datetime(2026, 11, 30, 7, tzinfo=UTC)  # the window ends at the last whole hour
GROUP_BY = [{"Type": "DIMENSION", "Key": "SERVICE"}, {"Type": "TAG", "Key": "project"}]
METRICS = ["AmortizedCost", "UsageQuantity"]


def _at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def _group(service: str, project: str, amount: str, usage: str = "1") -> dict[str, Any]:
    return {
        "Keys": [service, f"project${project}"],
        "Metrics": {"AmortizedCost": {"Amount": amount, "Unit": "USD"},
                    "UsageQuantity": {"Amount": usage, "Unit": "N/A"}},
    }


def _bucket(start: str, end: str, *groups: dict[str, Any],
            estimated: bool = False) -> dict[str, Any]:
    return {"TimePeriod": {"Start": start, "End": end}, "Total": {},
            "Groups": list(groups), "Estimated": estimated}


def _request(granularity: str, start: str, end: str, token: str | None = None
             ) -> dict[str, Any]:
    request: dict[str, Any] = {
        "TimePeriod": {"Start": start, "End": end}, "Granularity": granularity,
        "Metrics": METRICS, "GroupBy": GROUP_BY,
    }
    if token:
        request["NextPageToken"] = token
    return request


@pytest.fixture(autouse=True)
def no_refusal_remembered(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(cost_explorer, "_HOURLY_REFUSED", {})


@pytest.fixture(scope="module")
def session() -> boto3.Session:
    # one session for the module: it loads the service model once
    return boto3.Session(aws_access_key_id="testing", aws_secret_access_key="testing",
                         region_name="us-east-1")


@pytest.fixture
def source(session: boto3.Session) -> Iterator[CostExplorerSource]:
    settings = CostExplorerSourceSettings(retry_wait_seconds=0)
    yield CostExplorerSource(settings, session=session, sleep=lambda _: None)


@pytest.fixture
def stubber(source: CostExplorerSource) -> Iterator[Stubber]:
    with Stubber(source.client) as stub:
        yield stub
        stub.assert_no_pending_responses()


def _read(source: CostExplorerSource, start: datetime, end: datetime = END
          ) -> tuple[list[dict[str, Any]], ReadStats]:
    stats = ReadStats()
    tables = list(source.read(Window(start=start, end=end, now=NOW), stats))
    rows = pa.concat_tables(tables).to_pylist() if tables else []
    return rows, stats


def test_recent_hours_are_read_hourly_and_older_days_daily_one_request_each(
    source: CostExplorerSource, stubber: Stubber, caplog: pytest.LogCaptureFixture,
) -> None:
    stubber.add_response("get_cost_and_usage", {"ResultsByTime": [
        _bucket("2026-11-29T10:00:00Z", "2026-11-29T11:00:00Z",
                _group("Amazon Bedrock", "alpha", "2.5", "1000")),
    ]}, _request("HOURLY", "2026-11-17T00:00:00Z", "2026-11-30T07:00:00Z"))
    stubber.add_response("get_cost_and_usage", {"ResultsByTime": [
        _bucket("2026-11-10", "2026-11-11", _group("Amazon EC2", "alpha", "48")),
        _bucket("2026-11-16", "2026-11-17", _group("Amazon EC2", "", "24")),
    ]}, _request("DAILY", "2026-11-10", "2026-11-17"))

    with caplog.at_level(logging.INFO):
        rows, stats = _read(source, _at("2026-11-10T12:00"))

    assert (stats.requests, stats.paid_requests) == (2, 2)
    assert "Cost Explorer: 2 paid requests ($0.02)" in caplog.text
    bedrock, ec2_first_day, ec2_untagged = rows
    assert bedrock["ServiceName"] == "Amazon Bedrock"
    assert bedrock["ChargePeriodStart"] == _at("2026-11-29T10:00")
    assert bedrock["ChargePeriodEnd"] == _at("2026-11-29T11:00")
    assert bedrock["EffectiveCost"] == 2.5 and bedrock["ConsumedQuantity"] == 1000
    assert json.loads(bedrock["Tags"]) == {"project": "alpha"}
    assert (bedrock["ServiceProviderName"], bedrock["BillingAccountId"],
            bedrock["BillingCurrency"], bedrock["SkuId"], bedrock["RegionId"]) == (
        "AWS", "aws", "USD", "", "")
    assert bedrock["BillingPeriodStart"] == _at("2026-11-01")
    assert bedrock["BillingPeriodEnd"] == _at("2026-12-01")
    # the window starts at noon: the hours before it are not counted again
    assert ec2_first_day["ChargePeriodStart"] == _at("2026-11-10T12:00")
    assert ec2_first_day["ChargePeriodEnd"] == _at("2026-11-11T00:00")
    assert ec2_first_day["EffectiveCost"] == pytest.approx(24.0)
    assert json.loads(ec2_untagged["Tags"]) == {}
    assert stats.provisional_from is None


def test_a_window_within_the_last_14_days_is_one_hourly_request(
    source: CostExplorerSource, stubber: Stubber,
) -> None:
    stubber.add_response("get_cost_and_usage", {"ResultsByTime": []},
                         _request("HOURLY", "2026-11-28T07:00:00Z", "2026-11-30T07:00:00Z"))
    rows, stats = _read(source, _at("2026-11-28T07:00"))
    assert rows == [] and stats.paid_requests == 1


def test_every_page_is_read_with_the_token_of_the_one_before(
    source: CostExplorerSource, stubber: Stubber,
) -> None:
    hour = ("2026-11-30T05:00:00Z", "2026-11-30T06:00:00Z")
    stubber.add_response("get_cost_and_usage", {
        "ResultsByTime": [_bucket(*hour, _group("Amazon S3", "alpha", "1"))],
        "NextPageToken": "page-2",
    }, _request("HOURLY", "2026-11-30T05:00:00Z", "2026-11-30T07:00:00Z"))
    stubber.add_response("get_cost_and_usage", {
        "ResultsByTime": [_bucket(*hour, _group("Amazon S3", "beta", "2"))],
    }, _request("HOURLY", "2026-11-30T05:00:00Z", "2026-11-30T07:00:00Z", token="page-2"))

    rows, stats = _read(source, _at("2026-11-30T05:00"))

    assert [json.loads(r["Tags"])["project"] for r in rows] == ["alpha", "beta"]
    assert (stats.requests, stats.paid_requests) == (2, 2)


def test_estimated_buckets_make_the_read_provisional_from_their_first_hour(
    source: CostExplorerSource, stubber: Stubber,
) -> None:
    stubber.add_response("get_cost_and_usage", {"ResultsByTime": [
        _bucket("2026-11-30T04:00:00Z", "2026-11-30T05:00:00Z", _group("Amazon S3", "a", "1")),
        _bucket("2026-11-30T05:00:00Z", "2026-11-30T06:00:00Z", _group("Amazon S3", "a", "1"),
                estimated=True),
        _bucket("2026-11-30T06:00:00Z", "2026-11-30T07:00:00Z", estimated=True),
    ]}, _request("HOURLY", "2026-11-30T04:00:00Z", "2026-11-30T07:00:00Z"))

    rows, stats = _read(source, _at("2026-11-30T04:00"))

    assert len(rows) == 2
    assert stats.provisional_from == _at("2026-11-30T05:00")


@pytest.mark.parametrize(("code", "message"), [
    ("DataUnavailableException", "The requested data is unavailable."),
    ("ValidationException", "Hourly granularity is not enabled for this account"),
])
def test_an_account_without_hourly_data_is_read_daily_with_how_to_enable_it(
    source: CostExplorerSource, stubber: Stubber, code: str, message: str,
) -> None:
    stubber.add_client_error("get_cost_and_usage", code, message, expected_params=_request(
        "HOURLY", "2026-11-17T00:00:00Z", "2026-11-30T07:00:00Z"))
    stubber.add_response("get_cost_and_usage", {"ResultsByTime": [
        _bucket("2026-11-29", "2026-11-30", _group("Amazon EC2", "alpha", "24")),
        _bucket("2026-11-30", "2026-12-01", _group("Amazon EC2", "alpha", "3.5"),
                estimated=True),
    ]}, _request("DAILY", "2026-11-10", "2026-12-01"))

    rows, stats = _read(source, _at("2026-11-10T00:00"))

    assert [r["EffectiveCost"] for r in rows] == pytest.approx([24.0, 3.5 * 7 / 8])
    # today so far: seven hours in the window of the eight that have begun
    assert rows[1]["ChargePeriodEnd"] == _at("2026-11-30T07:00")
    assert stats.provisional_from == _at("2026-11-30T00:00")
    assert (stats.requests, stats.paid_requests) == (2, 1)
    assert "Hourly granularity" in stats.notes[0] and "hourly: false" in stats.notes[0]

    # the next poll, by a new reader as the poller makes one, does not ask for hours again
    next_poll = CostExplorerSource(source.settings, sleep=lambda _: None)
    with Stubber(next_poll.client) as next_stubber:
        next_stubber.add_response("get_cost_and_usage", {"ResultsByTime": []},
                                  _request("DAILY", "2026-11-29", "2026-12-01"))
        _, again = _read(next_poll, _at("2026-11-29T00:00"))
    assert again.requests == 1 and "read daily" in again.notes[0]


def test_access_denied_names_the_iam_action_to_allow(
    source: CostExplorerSource, stubber: Stubber,
) -> None:
    stubber.add_client_error(
        "get_cost_and_usage", "AccessDeniedException",
        "User: arn:aws:iam::123456789012:user/bot is not authorized to perform: "
        "ce:GetCostAndUsage", http_status_code=400)

    with pytest.raises(SourceError) as caught:
        _read(source, _at("2026-11-30T05:00"))

    assert "ce:GetCostAndUsage" in str(caught.value) and "allow" in str(caught.value)
    assert not caught.value.retryable


def test_throttling_is_tried_again_and_each_attempt_counted(
    source: CostExplorerSource, stubber: Stubber,
) -> None:
    for _ in range(2):
        stubber.add_client_error("get_cost_and_usage", "LimitExceededException",
                                 "Rate exceeded", http_status_code=400)
    stubber.add_response("get_cost_and_usage", {"ResultsByTime": [
        _bucket("2026-11-30T05:00:00Z", "2026-11-30T06:00:00Z", _group("Amazon S3", "a", "1")),
    ]}, _request("HOURLY", "2026-11-30T05:00:00Z", "2026-11-30T07:00:00Z"))

    rows, stats = _read(source, _at("2026-11-30T05:00"))

    assert len(rows) == 1
    assert (stats.requests, stats.paid_requests) == (3, 1)


def test_throttling_that_does_not_stop_fails_the_read_for_a_later_retry(
    source: CostExplorerSource, stubber: Stubber,
) -> None:
    for _ in range(source.settings.retry_attempts):
        stubber.add_client_error("get_cost_and_usage", "LimitExceededException",
                                 "Rate exceeded", http_status_code=400)
    with pytest.raises(SourceError) as caught:
        _read(source, _at("2026-11-30T05:00"))
    assert caught.value.retryable and "LimitExceededException" in str(caught.value)


def test_a_server_error_is_retried_and_another_error_is_reported_with_its_code(
    source: CostExplorerSource, stubber: Stubber,
) -> None:
    stubber.add_client_error("get_cost_and_usage", "InternalServerException", "oops",
                             http_status_code=503)
    stubber.add_client_error("get_cost_and_usage", "BillExpirationException",
                             "The requested report expired.", http_status_code=400)

    with pytest.raises(SourceError) as caught:
        _read(source, _at("2026-11-30T05:00"))

    assert "BillExpirationException: The requested report expired." in str(caught.value)
    assert not caught.value.retryable


def test_the_window_runner_stores_what_cost_explorer_answers(
    source: CostExplorerSource, stubber: Stubber, engine: sa.Engine, settings: Settings,
) -> None:
    stubber.add_response("get_cost_and_usage", {"ResultsByTime": [
        _bucket("2026-11-29T10:00:00Z", "2026-11-29T11:00:00Z",
                _group("Amazon Bedrock", "alpha", "2.5")),
        _bucket("2026-11-30T06:00:00Z", "2026-11-30T07:00:00Z",
                _group("Amazon Bedrock", "alpha", "1.5"), estimated=True),
    ]}, _request("HOURLY", "2026-11-17T00:00:00Z", "2026-11-30T08:00:00Z"))
    stubber.add_response("get_cost_and_usage", {"ResultsByTime": [
        _bucket("2026-11-12", "2026-11-13", _group("Amazon EC2", "", "48")),
    ]}, _request("DAILY", "2026-11-10", "2026-11-17"))
    source_settings = CostExplorerSourceSettings(backfill_days=20)

    report = ingest_window(engine=engine, settings=settings, source_settings=source_settings,
                           source=source, now=NOW)

    assert report.ok, report.message
    assert (report.rows_kept, report.rows_rejected, report.paid_requests) == (3, 0, 2)
    assert report.provisional_from == _at("2026-11-30T06:00")
    with Session(engine) as session:
        total = session.scalar(select(func.sum(CostPoint.effective_cost)))
    assert total == pytest.approx(52.0)
