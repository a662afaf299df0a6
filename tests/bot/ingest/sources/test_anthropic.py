"""Anthropic spend by the hour: the usage report priced, then the cost report (in cents)."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pandas as pd
import pytest

from bot.ingest.sources.anthropic import AnthropicSource, cents_to_dollars
from bot.ingest.sources.base import ReadStats, SourceError, Window
from bot.ingest.sources.config import AnthropicSourceSettings, ModelPrice
from tests.support.admin_api_stub import AdminApiStub, Cost, Usage, org_from_spend

PRICES = {"claude-sonnet-4*": ModelPrice(input=3, output=15, cached_input=0.3,
                                         cache_write=3.75, cache_write_1h=6),
          "claude-haiku-4*": ModelPrice(input=1, output=5)}
SONNET = "claude-sonnet-4-5-20250929"
HAIKU = "claude-haiku-4-5-20251001"
DAY1 = datetime(2026, 11, 1, tzinfo=UTC)
DAY2 = DAY1 + timedelta(days=1)
NOON_DAY3 = DAY1 + timedelta(days=2, hours=12)
COST_REPORT = "/v1/organizations/cost_report"
USAGE_REPORT = "/v1/organizations/usage_report/messages"


def spend_table() -> list[tuple[datetime, str, str, float]]:
    rows = []
    for h in range(60):
        hour = DAY1 + timedelta(hours=h)
        rows.append((hour, "agents", SONNET, 3.0 if 9 <= hour.hour < 17 else 0.5))
        rows.append((hour, "triage", HAIKU, 0.1))
    return rows


@pytest.fixture
def stub() -> Iterator[AdminApiStub]:
    with AdminApiStub() as server:
        yield server


def source(stub: AdminApiStub, environ: dict[str, str] | None = None,
           sleep=lambda seconds: None) -> AnthropicSource:
    config = AnthropicSourceSettings(base_url=stub.url, prices=PRICES, retry_wait_seconds=0)
    return AnthropicSource(config, environ={"ANTHROPIC_ADMIN_KEY": stub.anthropic_key}
                           if environ is None else environ, sleep=sleep)


def read(src: AnthropicSource, stats: ReadStats | None = None,
         now: datetime = NOON_DAY3) -> pd.DataFrame:
    tables = list(src.read(Window(start=DAY1, end=now, now=now),
                           stats if stats is not None else ReadStats()))
    return pd.concat([t.to_pandas() for t in tables], ignore_index=True)


def daily(frame: pd.DataFrame) -> pd.Series:
    return frame.groupby(frame.ChargePeriodStart.dt.floor("D")).EffectiveCost.sum()


@pytest.mark.parametrize(("cents", "dollars"), [
    ("12345.678", 123.45678), ("0.5", 0.005), ("100", 1.0), ("-250.0", -2.5)])
def test_cost_report_amounts_are_cents_as_decimal_strings(cents, dollars):
    assert cents_to_dollars(cents) == pytest.approx(dollars, abs=1e-12)


def test_a_cents_amount_reaches_the_rows_as_dollars(stub):
    stub.anthropic.costs.append(Cost(day=DAY1, project=None, item="Web search",
                                     cost_type="web_search", dollars=Decimal("123.45678")))

    rows = read(source(stub))

    assert rows.EffectiveCost.sum() == pytest.approx(123.45678, abs=1e-9)
    assert set(rows.SkuId) == {"Web search"} and len(rows) == 24
    assert set(rows.SubAccountName) == {"Default Workspace"}


def test_before_the_bill_each_hour_is_the_usage_priced(stub):
    stub.anthropic = org_from_spend(spend_table(), PRICES, provider="anthropic")
    stats = ReadStats()

    rows = read(source(stub), stats=stats)

    agents = rows[rows.SubAccountName == "agents"].set_index("ChargePeriodStart")
    assert agents.EffectiveCost[DAY1 + timedelta(hours=10)] == pytest.approx(3.0, abs=1e-4)
    assert agents.EffectiveCost[DAY1 + timedelta(hours=2)] == pytest.approx(0.5, abs=1e-4)
    assert set(rows.ServiceProviderName) == {"Anthropic"}
    assert set(rows.SubAccountId) == {"wrkspc_agents", "wrkspc_triage"}
    assert set(rows.SkuId) == {SONNET, HAIKU}
    assert stats.provisional_from == DAY1 and stats.notes == []


def test_cache_reads_and_writes_are_priced_each_at_their_price(stub):
    stub.anthropic.usage = [Usage(hour=DAY1, project=None, model=SONNET,
                                  input_tokens=1_000_000, output_tokens=100_000,
                                  cached_input_tokens=2_000_000, cache_write_5m=1_000_000,
                                  cache_write_1h=1_000_000)]

    rows = read(source(stub))

    assert rows.EffectiveCost.tolist() == pytest.approx([3 + 1.5 + 0.6 + 3.75 + 6])
    assert rows.ConsumedQuantity.tolist() == [5_100_000]


def test_a_complete_day_equals_the_cost_report_to_the_cent_in_its_hourly_shape(stub):
    stub.anthropic = org_from_spend(spend_table(), PRICES, provider="anthropic",
                                    billed_until=NOON_DAY3, bill_factor=0.8)
    stats = ReadStats()

    rows = read(source(stub), stats=stats)

    bill = {day: sum(c.dollars for c in stub.anthropic.costs if c.day == day)
            for day in (DAY1, DAY2)}
    assert round(daily(rows)[DAY1], 2) == round(float(bill[DAY1]), 2)
    assert round(daily(rows)[DAY2], 2) == round(float(bill[DAY2]), 2)
    agents = rows[(rows.SubAccountName == "agents") & (rows.ChargePeriodStart < DAY2)]
    hourly = agents.EffectiveCost.to_numpy()
    assert hourly[10] / hourly[2] == pytest.approx(6.0, rel=1e-4)
    assert stats.provisional_from == DAY2 + timedelta(days=1)


def test_estimated_and_billed_rows_are_the_same_lines(stub):
    stub.anthropic = org_from_spend(spend_table(), PRICES, provider="anthropic")
    estimated = read(source(stub))
    stub.anthropic = org_from_spend(spend_table(), PRICES, provider="anthropic",
                                    billed_until=NOON_DAY3, bill_factor=1.3)
    billed = read(source(stub))

    key = ["SubAccountId", "SubAccountName", "ServiceName", "SkuId", "RegionId", "Tags",
           "BillingAccountId", "ChargePeriodStart"]
    assert sorted(map(tuple, estimated[key].to_numpy().tolist())) == sorted(
        map(tuple, billed[key].to_numpy().tolist()))


def test_an_unpriced_model_is_zero_and_named_in_one_note(stub):
    stub.anthropic.usage = [Usage(hour=DAY1 + timedelta(hours=h), project=None,
                                  model="claude-opus-4-1-20250805", input_tokens=500)
                            for h in range(30)]
    stats = ReadStats()

    rows = read(source(stub), stats=stats)

    assert rows.EffectiveCost.sum() == 0 and len(rows) == 30
    assert len(stats.notes) == 1
    assert "prices.claude-opus-4-1-20250805" in stats.notes[0]


def test_the_requests_carry_the_admin_headers_and_the_published_parameters(stub):
    stub.anthropic = org_from_spend(spend_table(), PRICES, provider="anthropic")
    stub.max_buckets = 24

    read(source(stub))

    usage = stub.calls_to(USAGE_REPORT)
    cost = stub.calls_to(COST_REPORT)[0]
    assert len(usage) == 3  # 60 hours, 24 a page
    assert usage[0].headers["x-api-key"] == stub.anthropic_key
    assert usage[0].headers["anthropic-version"] == "2023-06-01"
    assert usage[0].params["group_by[]"] == ["workspace_id", "model"]
    assert usage[0].params["bucket_width"] == ["1h"]
    assert usage[0].params["starting_at"] == ["2026-11-01T00:00:00Z"]
    assert cost.params["group_by[]"] == ["workspace_id", "description"]
    assert cost.params["ending_at"] == ["2026-11-04T00:00:00Z"]


def test_a_rate_limit_then_success_reads_everything(stub):
    stub.anthropic = org_from_spend(spend_table(), PRICES, provider="anthropic")
    stub.fail(COST_REPORT, status=429, headers={"Retry-After": "3"},
              body={"type": "error", "error": {"type": "rate_limit_error",
                                               "message": "Too many requests"}})
    slept: list[float] = []

    rows = read(source(stub, sleep=slept.append))

    assert slept == [3.0] and len(rows) == 120


def test_a_regular_api_key_is_refused_with_what_to_do_and_no_rows(stub, caplog):
    caplog.set_level(logging.DEBUG)
    key = "sk-ant-api03-regularKeyNotAdmin0123456789"

    with pytest.raises(SourceError) as caught:
        read(source(stub, environ={"ANTHROPIC_ADMIN_KEY": key}))

    message = str(caught.value)
    assert "401" in message and "Admin API key" in message
    assert key not in message and key not in caplog.text


def test_a_missing_key_names_the_variable(stub):
    with pytest.raises(SourceError, match="set the environment variable ANTHROPIC_ADMIN_KEY"):
        read(source(stub, environ={}))


def test_a_cost_amount_that_is_not_cents_text_fails_the_read(stub):
    stub.fail(COST_REPORT, body={"data": [{
        "starting_at": "2026-11-01T00:00:00Z", "ending_at": "2026-11-02T00:00:00Z",
        "results": [{"amount": 12.5, "currency": "USD", "workspace_id": None}]}],
        "has_more": False, "next_page": None})

    with pytest.raises(SourceError, match=f"{COST_REPORT} page 1 is malformed"):
        read(source(stub))
