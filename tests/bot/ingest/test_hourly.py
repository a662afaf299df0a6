"""Line items to hourly points: currency conversion, spreading over hours, one point per hour.

The line items come from real FOCUS files through the parser, as ingestion and replay get them.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from bot.ingest.hourly import aggregate, convert_currency, spread_hours
from bot.ingest.sources.focus import read_chunks
from bot.settings import CurrencySettings, Settings
from tests.support.focus_files import write_focus_csv

DAY = {"ChargePeriodStart": "2025-04-10T00:00:00Z", "ChargePeriodEnd": "2025-04-11T00:00:00Z",
       "BilledCost": "48", "EffectiveCost": "24", "ConsumedQuantity": "2400"}


def items(tmp_path: Path, rows: list[dict]) -> pd.DataFrame:
    path = write_focus_csv(tmp_path / "export.csv", rows)
    return pd.concat([chunk.items for chunk in read_chunks(path, delivery=True)],
                     ignore_index=True)


def test_costs_in_another_currency_are_converted_at_the_configured_rate(tmp_path):
    settings = Settings(currency=CurrencySettings(base="USD", rates={"EUR": 1.1}))
    converted, refused = convert_currency(
        items(tmp_path, [{"BillingCurrency": "EUR", "BilledCost": "10", "EffectiveCost": "5"},
                         {"BilledCost": "10", "EffectiveCost": "5"}]), settings)
    assert refused.empty
    assert converted["billed_cost"].tolist() == pytest.approx([11.0, 10.0])
    assert converted["effective_cost"].tolist() == pytest.approx([5.5, 5.0])
    assert set(converted["currency"].astype(str)) == {"USD"}


def test_a_currency_without_a_rate_is_refused_with_what_to_configure(tmp_path):
    kept, refused = convert_currency(
        items(tmp_path, [{}, {"BillingCurrency": "GBP"}, {}]), Settings())
    assert len(kept) == 2
    assert refused["row_number"].tolist() == [3]
    (reason,) = refused["reason"]
    assert "BillingCurrency GBP has no exchange rate" in reason
    assert "currency.rates.GBP" in reason and "export in USD" in reason
    assert list(refused.columns[:2]) == ["row_number", "reason"]


def test_a_day_of_usage_is_spread_evenly_over_its_hours(tmp_path):
    hours = spread_hours(items(tmp_path, [DAY]))
    assert len(hours) == 24
    assert hours["hour"].iloc[0] == pd.Timestamp("2025-04-10T00:00:00Z")
    assert hours["hour"].iloc[-1] == pd.Timestamp("2025-04-10T23:00:00Z")
    assert hours["effective_cost"].tolist() == pytest.approx([1.0] * 24)
    assert hours["billed_cost"].sum() == pytest.approx(48)
    assert hours["usage_quantity"].sum() == pytest.approx(2400)
    assert hours["line_items"].sum() == 1  # one line item, however many hours
    assert set(hours["billing_period_start"]) == {pd.Timestamp("2025-04-01T00:00:00Z")}


def test_one_time_charges_stay_on_their_first_hour(tmp_path):
    hours = spread_hours(items(tmp_path, [{**DAY, "ChargeCategory": "Tax"},
                                          {"ChargePeriodStart": "2025-04-10T10:30:00Z",
                                           "ChargePeriodEnd": "2025-04-10T10:45:00Z"}]))
    assert hours["hour"].tolist() == [pd.Timestamp("2025-04-10T00:00:00Z"),
                                      pd.Timestamp("2025-04-10T10:00:00Z")]
    assert hours["effective_cost"].tolist() == pytest.approx([24.0, 1.0])


def test_without_a_billing_period_the_month_of_the_charge_is_used(tmp_path):
    frame = items(tmp_path, [{"ChargePeriodStart": "2025-05-31T23:00:00Z",
                              "ChargePeriodEnd": "2025-06-01T00:00:00Z"}])
    hours = spread_hours(frame.drop(columns=["billing_period_start"]))
    assert hours["billing_period_start"].tolist() == [pd.Timestamp("2025-05-01T00:00:00Z")]


def test_points_are_one_per_series_hour_and_billing_period(tmp_path):
    hours = spread_hours(items(tmp_path, [DAY, {"ChargePeriodStart": "2025-04-10T05:00:00Z",
                                                "ChargePeriodEnd": "2025-04-10T06:00:00Z",
                                                "EffectiveCost": "3"}]))
    points = aggregate(hours.assign(series_id=7))
    assert len(points) == 24
    five = points.loc[points["hour"] == pd.Timestamp("2025-04-10T05:00:00Z")].iloc[0]
    assert five["effective_cost"] == pytest.approx(4.0)
    assert five["line_items"] == 1  # the hourly row; the day's row counts on its first hour
    assert points["effective_cost"].sum() == pytest.approx(27.0)
    assert points["line_items"].sum() == 2
    two = aggregate(hours.assign(series_id=[1] * 24 + [2]))
    assert len(two) == 25
