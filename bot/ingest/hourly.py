"""Line items to hourly points: currency conversion, spreading over hours, aggregation.

Pure functions on pandas frames, shared by ingestion and replay.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from bot.ingest.sources.focus_parse import MAX_SPREAD_HOURS
from bot.settings import Settings

__all__ = ["aggregate", "convert_currency", "spread_hours"]

HOUR = np.timedelta64(1, "h")


def convert_currency(items: pd.DataFrame, settings: Settings) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Convert costs to the base currency; rows in a currency without a rate are refused."""
    base = settings.currency.base
    rates = {base: 1.0, **settings.currency.rates}
    codes, uniques = pd.factorize(items["currency"])
    known = np.array([u in rates for u in uniques], dtype=bool)
    ok = known[codes]
    rejected = pd.DataFrame()
    if not ok.all():
        bad = items.loc[~ok]
        reasons = bad["currency"].map(
            lambda c: f"BillingCurrency {c} has no exchange rate; add currency.rates.{c} "
            f"(1 {c} = how many {base}) to the config, or export in {base}"
        )
        rejected = bad.drop(columns=["tags"], errors="ignore").astype(object)
        rejected.insert(0, "reason", reasons.to_numpy())
        rejected.insert(0, "row_number", rejected.pop("row_number"))
        items = items.loc[ok]
        codes = codes[ok]
    factors = np.array([rates.get(u, np.nan) for u in uniques], dtype=float)[codes]
    if not np.all(factors == 1.0):
        items = items.copy()
        items["billed_cost"] = items["billed_cost"].to_numpy() * factors
        items["effective_cost"] = items["effective_cost"].to_numpy() * factors
    base_codes = np.zeros(len(items), dtype=np.int8)
    items = items.assign(
        currency=pd.Categorical.from_codes(base_codes, categories=pd.Index([base]), validate=False)
    )
    return items, rejected


def spread_hours(items: pd.DataFrame) -> pd.DataFrame:
    """One row per hour: Usage spanning several hours (daily, monthly rows) is spread evenly.

    Purchases, taxes, credits and adjustments are one-time: they stay on their first hour.
    Usage longer than 31 days never gets here: parsing refuses it (it would not be spread).
    """
    start = items["start"].dt.floor("h")
    span = (items["end"] - start) / pd.Timedelta(hours=1)
    hours = np.ceil(span.to_numpy(dtype=float)).clip(min=1).astype(np.int64)
    spread = (items["charge_category"].to_numpy() == "Usage") & (hours > 1) & (
        hours <= MAX_SPREAD_HOURS
    )
    period = items.get("billing_period_start")
    if period is None:  # a replayed file may have none: the month of the charge
        month = start.dt.tz_localize(None).dt.to_period("M").dt.start_time.dt.tz_localize("UTC")
        period = month
    if not spread.any():
        items = items.assign(billing_period_start=period)
        out = items.assign(hour=start)
        out["line_items"] = 1
        return out
    counts = np.where(spread, hours, 1)
    index = np.repeat(np.arange(len(items)), counts)
    offsets = np.arange(len(index)) - np.repeat(np.cumsum(counts) - counts, counts)
    out = items.iloc[index].reset_index(drop=True)
    naive_start = start.dt.tz_localize(None).to_numpy("datetime64[ns]")
    out["hour"] = pd.to_datetime(naive_start[index] + offsets * HOUR, utc=True)
    naive_period = period.dt.tz_localize(None).to_numpy("datetime64[ns]")
    out["billing_period_start"] = pd.to_datetime(naive_period[index], utc=True)
    share = 1.0 / counts[index]
    for column in ("billed_cost", "effective_cost", "usage_quantity"):
        out[column] = out[column].to_numpy(dtype=float) * share
    out["line_items"] = np.where(offsets == 0, 1, 0)
    return out


def aggregate(items: pd.DataFrame) -> pd.DataFrame:
    """Sum line items into one point per series, hour and billing period."""
    keys = ["series_id", "hour", "billing_period_start"]
    values = ["billed_cost", "effective_cost", "usage_quantity", "line_items"]
    items = items[[*keys, *values]]
    return (
        items.groupby(keys, sort=False, dropna=False, observed=True)[values]
        .sum()
        .reset_index()
    )
