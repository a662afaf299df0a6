"""OpenAI spend by the hour: priced usage until the day's bill is out, then the bill, same shape."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pandas as pd
import pytest

from bot.ingest.sources.base import ReadStats, SourceError, Window
from bot.ingest.sources.config import ModelPrice, OpenAISourceSettings
from bot.ingest.sources.openai import OpenAISource
from tests.support.admin_api_stub import AdminApiStub, Cost, Usage, org_from_spend

PRICES = {"gpt-4o*": ModelPrice(input=2.5, output=10, cached_input=1.25),
          "gpt-4o-mini*": ModelPrice(input=0.15, output=0.6)}
DAY1 = datetime(2026, 11, 1, tzinfo=UTC)
DAY2 = DAY1 + timedelta(days=1)
NOON_DAY3 = DAY1 + timedelta(days=2, hours=12)
IDENTITY = ["ServiceProviderName", "BillingAccountId", "SubAccountId", "SubAccountName",
            "ServiceName", "ServiceCategory", "RegionId", "SkuId", "Tags"]


def spend_table() -> list[tuple[datetime, str, str, float]]:
    """Two projects, two models, 60 hours; search peaks in the afternoon."""
    rows = []
    for h in range(60):
        hour = DAY1 + timedelta(hours=h)
        rows.append((hour, "search", "gpt-4o-2024-08-06",
                     4.0 if 12 <= hour.hour < 18 else 1.0))
        rows.append((hour, "chat", "gpt-4o-mini-2024-07-18", 0.25))
    return rows


@pytest.fixture
def stub() -> Iterator[AdminApiStub]:
    with AdminApiStub() as server:
        yield server


def source(stub: AdminApiStub, **settings) -> OpenAISource:
    config = OpenAISourceSettings(base_url=stub.url, prices=PRICES, retry_wait_seconds=0,
                                  **settings)
    return OpenAISource(config, environ={"OPENAI_ADMIN_KEY": stub.openai_key},
                        sleep=lambda seconds: None)


def read(src: OpenAISource, start: datetime = DAY1, now: datetime = NOON_DAY3,
         stats: ReadStats | None = None) -> pd.DataFrame:
    stats = stats if stats is not None else ReadStats()
    tables = list(src.read(Window(start=start, end=now, now=now), stats))
    frames = [t.to_pandas() for t in tables]
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


def daily(frame: pd.DataFrame) -> pd.Series:
    return frame.groupby(frame.ChargePeriodStart.dt.floor("D")).EffectiveCost.sum()


def test_before_any_bill_each_hour_is_the_usage_priced_per_project_and_model(stub):
    stub.openai = org_from_spend(spend_table(), PRICES, provider="openai")
    stats = ReadStats()

    rows = read(source(stub), stats=stats)

    assert len(rows) == 120
    search = rows[rows.SubAccountName == "search"].set_index("ChargePeriodStart")
    assert search.EffectiveCost[DAY1 + timedelta(hours=13)] == pytest.approx(4.0, abs=1e-4)
    assert search.EffectiveCost[DAY1 + timedelta(hours=3)] == pytest.approx(1.0, abs=1e-4)
    first = rows.iloc[0]
    assert (first.ServiceProviderName, first.ServiceCategory, first.ChargeCategory,
            first.BillingCurrency, first.ConsumedUnit) == (
        "OpenAI", "AI and Machine Learning", "Usage", "USD", "Tokens")
    assert set(rows.SubAccountId) == {"proj_search", "proj_chat"}
    assert set(rows.Tags) == {'{"project": "search"}', '{"project": "chat"}'}
    assert stats.provisional_from == DAY1
    assert stats.notes == [] and stats.paid_requests == 0


def test_a_complete_day_adds_up_to_the_bill_to_the_cent_and_keeps_its_hourly_shape(stub):
    # the bill is 10% above list price (say, a price change the table missed)
    stub.openai = org_from_spend(spend_table(), PRICES, provider="openai",
                                 billed_until=NOON_DAY3, bill_factor=1.1)
    stats = ReadStats()

    rows = read(source(stub), stats=stats)

    search = rows[rows.SubAccountName == "search"]
    search_day1 = search[search.ChargePeriodStart < DAY2].EffectiveCost.to_numpy()
    assert round(search_day1.sum(), 2) == round((18 * 1.0 + 6 * 4.0) * 1.1, 2)
    assert search_day1[13] / search_day1[3] == pytest.approx(4.0, rel=1e-4)
    assert round(daily(rows)[DAY2], 2) == round((42 + 6) * 1.1, 2)
    # day 3 is not over: still the priced estimate, and the next read starts there
    assert daily(rows)[NOON_DAY3.replace(hour=0)] == pytest.approx(12 * 1 + 12 * 0.25,
                                                                    abs=1e-3)
    assert stats.provisional_from == NOON_DAY3.replace(hour=0)


def test_a_line_keeps_its_identity_from_estimate_to_bill(stub):
    stub.openai = org_from_spend(spend_table(), PRICES, provider="openai")
    estimated = read(source(stub))
    stub.openai = org_from_spend(spend_table(), PRICES, provider="openai",
                                 billed_until=NOON_DAY3, bill_factor=0.9)
    billed = read(source(stub))

    key = IDENTITY + ["ChargePeriodStart"]
    assert sorted(map(tuple, estimated[key].to_numpy().tolist())) == sorted(
        map(tuple, billed[key].to_numpy().tolist()))
    assert not estimated.EffectiveCost.equals(billed.EffectiveCost)


def test_a_complete_day_the_cost_report_does_not_have_yet_stays_an_estimate(stub):
    stub.openai = org_from_spend(spend_table(), PRICES, provider="openai",
                                 billed_until=DAY2, bill_factor=2)
    stats = ReadStats()

    rows = read(source(stub), stats=stats)

    assert round(daily(rows)[DAY1], 2) == round((18 + 24 + 6) * 2, 2)
    assert daily(rows)[DAY2] == pytest.approx(48, abs=1e-3)
    assert stats.provisional_from == DAY2


def test_bill_lines_without_a_model_are_lines_of_their_own_spread_over_the_day(stub):
    stub.openai = org_from_spend(spend_table(), PRICES, provider="openai",
                                 billed_until=NOON_DAY3)
    stub.openai.costs.append(Cost(day=DAY1, project="proj_search",
                                  item="web search tool calls", dollars=Decimal("4.80")))

    rows = read(source(stub))

    tool = rows[rows.SkuId == "web search tool calls"]
    assert len(tool) == 24 and tool.EffectiveCost.sum() == pytest.approx(4.80)
    assert set(tool.EffectiveCost.round(6)) == {0.2}
    assert set(tool.SubAccountName) == {"search"} and tool.ConsumedQuantity.isna().all()


def test_usage_of_a_model_without_a_price_is_counted_at_zero_and_reported_once(stub):
    stub.openai = org_from_spend(spend_table(), PRICES, provider="openai",
                                 billed_until=DAY2)
    for h in range(60):
        stub.openai.usage.append(Usage(hour=DAY1 + timedelta(hours=h), project="proj_chat",
                                       model="o3-pro", input_tokens=1000, output_tokens=100))
    stub.openai.costs.append(Cost(day=DAY1, project="proj_chat", item="o3-pro, input",
                                  dollars=Decimal("48")))
    stats = ReadStats()

    rows = read(source(stub), stats=stats)

    o3 = rows[rows.SkuId == "o3-pro"]
    o3_day1 = o3[o3.ChargePeriodStart < DAY2]
    # billed: the day's cost spread by tokens; not billed yet: zero, with a note
    assert o3_day1.EffectiveCost.sum() == pytest.approx(48) and len(o3_day1) == 24
    assert o3[o3.ChargePeriodStart >= DAY2].EffectiveCost.sum() == 0
    assert len(stats.notes) == 1 and "prices.o3-pro" in stats.notes[0]


def test_many_pages_give_the_same_rows_as_one(stub):
    stub.openai = org_from_spend(spend_table(), PRICES, provider="openai",
                                 billed_until=NOON_DAY3)
    whole = read(source(stub))
    stub.calls.clear()
    stub.max_buckets = 5

    paged = read(source(stub))

    pd.testing.assert_frame_equal(whole, paged)
    assert len(stub.calls_to("/v1/organization/usage/completions")) == 60 // 5
    assert len(stub.calls_to("/v1/organization/costs")) == 1


def test_the_window_start_mid_day_returns_only_its_hours_of_a_whole_day_spread(stub):
    stub.openai = org_from_spend(spend_table(), PRICES, provider="openai",
                                 billed_until=NOON_DAY3)
    whole = read(source(stub))

    part = read(source(stub), start=DAY1 + timedelta(hours=20))

    assert part.ChargePeriodStart.min() == DAY1 + timedelta(hours=20)
    expected = whole[whole.ChargePeriodStart >= DAY1 + timedelta(hours=20)]
    pd.testing.assert_frame_equal(part, expected.reset_index(drop=True))


def test_a_rejected_key_gives_no_rows_and_never_shows_the_key(stub, caplog):
    stub.openai = org_from_spend(spend_table(), PRICES, provider="openai")
    key = "sk-admin-notTheRightOne0123456789"
    caplog.set_level(logging.DEBUG)
    src = OpenAISource(OpenAISourceSettings(base_url=stub.url, prices=PRICES),
                       environ={"OPENAI_ADMIN_KEY": key})

    with pytest.raises(SourceError) as caught:
        read(src)

    assert "401" in str(caught.value) and "admin key" in str(caught.value)
    assert not caught.value.retryable
    assert key not in str(caught.value) and key not in caplog.text


def test_a_missing_key_says_which_variable_to_set_and_asks_nothing(stub):
    src = OpenAISource(OpenAISourceSettings(base_url=stub.url, api_key_env="OPENAI_ORG_KEY"),
                       environ={})

    with pytest.raises(SourceError, match="set the environment variable OPENAI_ORG_KEY"):
        read(src)
    assert stub.calls == []


def test_a_malformed_page_fails_the_whole_read(stub):
    stub.openai = org_from_spend(spend_table(), PRICES, provider="openai",
                                 billed_until=NOON_DAY3)
    stub.max_buckets = 5
    stub.fail("/v1/organization/costs", body={"object": "page", "data": [
        {"object": "bucket", "start_time": "yesterday", "results": []}], "has_more": False})

    with pytest.raises(SourceError, match="/v1/organization/costs page 1 is malformed"):
        read(source(stub))


def test_a_rate_limit_is_waited_out_and_the_read_completes(stub):
    stub.openai = org_from_spend(spend_table(), PRICES, provider="openai")
    stub.fail("/v1/organization/usage/completions", status=429,
              headers={"Retry-After": "2"})
    slept: list[float] = []
    src = OpenAISource(OpenAISourceSettings(base_url=stub.url, prices=PRICES),
                       environ={"OPENAI_ADMIN_KEY": stub.openai_key}, sleep=slept.append)

    rows = read(src)

    assert slept == [2.0] and len(rows) == 120


def test_the_requests_ask_for_hourly_usage_and_daily_costs_as_published(stub):
    stub.openai = org_from_spend(spend_table(), PRICES, provider="openai")
    stats = ReadStats()

    read(source(stub, usage_kinds=("completions",), organization="org-acme"), stats=stats)

    usage = stub.calls_to("/v1/organization/usage/completions")[0]
    costs = stub.calls_to("/v1/organization/costs")[0]
    assert usage.params["bucket_width"] == ["1h"]
    assert usage.params["group_by"] == ["project_id", "model"]
    assert usage.params["start_time"] == [str(int(DAY1.timestamp()))]
    assert costs.params["bucket_width"] == ["1d"]
    assert costs.params["group_by"] == ["project_id", "line_item"]
    assert costs.params["end_time"] == [str(int((DAY1 + timedelta(days=3)).timestamp()))]
    assert usage.headers["authorization"] == f"Bearer {stub.openai_key}"
    assert stats.requests == len(stub.calls) == 3


def test_a_spend_table_as_a_dataframe_comes_back_hour_by_hour(stub):
    spend = pd.DataFrame(spend_table(), columns=["hour", "project", "model", "cost"])
    stub.openai = org_from_spend(spend.itertuples(index=False), PRICES, provider="openai",
                                 billed_until=NOON_DAY3)

    rows = read(source(stub, organization="org-story"))

    both = rows.merge(spend, left_on=["ChargePeriodStart", "SubAccountName", "SkuId"],
                      right_on=["hour", "project", "model"])
    assert len(both) == len(spend) == len(rows)
    assert (both.EffectiveCost - both.cost).abs().max() < 1e-4
    assert set(rows.BillingAccountId) == {"org-story"}


def test_a_bill_that_never_comes_leaves_the_estimate_and_stops_holding_reads_back(stub):
    stub.openai = org_from_spend(spend_table(), PRICES, provider="openai")
    stats = ReadStats()
    now = DAY1 + timedelta(days=5)

    rows = read(source(stub), now=now, stats=stats)

    assert daily(rows)[DAY1] == pytest.approx(48, abs=1e-3)
    # day 1 ended four days ago, day 2 three: no longer waited for; day 3 still is
    assert stats.provisional_from == DAY1 + timedelta(days=2)
    assert len(stats.notes) == 1
    assert "nothing for 2026-11-01, 2026-11-02" in stats.notes[0]
