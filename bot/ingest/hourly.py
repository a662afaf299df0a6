"""Line items to hourly points: currency conversion, spreading over hours, aggregation.

Pure functions on pandas frames, shared by ingestion and replay. Ingestion calls
:func:`hourly_points`, which does what ``aggregate(spread_hours(...))`` does on plain arrays of
nanoseconds and numbers: exports hold millions of rows, and the frame operations of the two
steps (a copy of every column, a group-by on three keys) cost more than the sums themselves.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from bot.ingest.sources.focus_parse import MAX_SPREAD_HOURS
from bot.settings import Settings

__all__ = ["aggregate", "convert_currency", "hourly_points", "spread_hours"]

HOUR = np.timedelta64(1, "h")
_HOUR_NS = 3_600_000_000_000
POINT_KEYS = ("series_id", "hour", "billing_period_start")
POINT_VALUES = ("billed_cost", "effective_cost", "usage_quantity", "line_items")


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
    """Sum line items into one point per series, hour and billing period (first seen first)."""
    return _sum_points(
        np.asarray(items["series_id"], dtype=np.int64),
        _nanoseconds(items["hour"]),
        _nanoseconds(items["billing_period_start"]),
        {name: items[name].to_numpy() for name in POINT_VALUES},
    )


def hourly_points(
    *,
    series_id: np.ndarray,
    start: pd.Series,
    end: pd.Series,
    billing_period_start: pd.Series | None,
    usage: np.ndarray,
    values: dict[str, np.ndarray],
) -> pd.DataFrame:
    """``aggregate(spread_hours(items))`` for line items given as columns.

    ``usage`` says which rows are Usage (the only ones spread over their hours); ``values``
    holds ``billed_cost``, ``effective_cost`` and ``usage_quantity``. The arithmetic is the
    same as in :func:`spread_hours`, so the points are the same.
    """
    start_ns = _nanoseconds(start)
    hour = start_ns - start_ns % _HOUR_NS  # floor to the hour (also before 1970)
    if billing_period_start is None:
        floored = pd.Series(pd.to_datetime(hour, utc=True))
        period = _nanoseconds(
            floored.dt.tz_localize(None).dt.to_period("M").dt.start_time.dt.tz_localize("UTC"))
    else:
        period = _nanoseconds(billing_period_start)
    hours = np.ceil((_nanoseconds(end) - hour) / _HOUR_NS).clip(min=1).astype(np.int64)
    spread = usage & (hours > 1) & (hours <= MAX_SPREAD_HOURS)
    line_items = np.ones(len(hour), dtype=np.int64)
    if spread.any():
        counts = np.where(spread, hours, 1)
        index = np.repeat(np.arange(len(hour)), counts)
        offsets = np.arange(len(index)) - np.repeat(np.cumsum(counts) - counts, counts)
        share = 1.0 / counts[index]
        series_id, period = series_id[index], period[index]
        hour = hour[index] + offsets * _HOUR_NS
        values = {name: np.asarray(column, dtype=float)[index] * share
                  for name, column in values.items()}
        line_items = np.where(offsets == 0, 1, 0)
    return _sum_points(series_id, hour, period, {**values, "line_items": line_items})


def _nanoseconds(values: pd.Series) -> np.ndarray:
    """UTC nanoseconds since the epoch of aware (or naive, taken as UTC) datetimes."""
    index = pd.DatetimeIndex(values)
    if index.tz is not None:
        index = index.tz_convert("UTC").tz_localize(None)
    return index.as_unit("ns").asi8


def _sum_points(series_id: np.ndarray, hour: np.ndarray, period: np.ndarray,
                values: dict[str, np.ndarray]) -> pd.DataFrame:
    """One row per distinct (series, hour, period), in order of first appearance, summed."""
    key = np.zeros(len(hour), dtype=np.int64)
    span = 1
    for column in (series_id, hour, period):
        codes, uniques = pd.factorize(column)
        if span * len(uniques) >= 2**62:  # compact before the combined key could overflow
            key = pd.factorize(key)[0].astype(np.int64)
            span = int(key.max()) + 1
        key = key * len(uniques) + codes
        span *= max(len(uniques), 1)
    group, distinct = pd.factorize(key)
    first = np.zeros(len(distinct), dtype=np.int64)
    first[group[::-1]] = np.arange(len(key) - 1, -1, -1)  # the last write, the first row, wins
    out = {
        "series_id": np.asarray(series_id, dtype=np.int64)[first],
        "hour": _utc(hour[first]),
        "billing_period_start": _utc(period[first]),
    }
    # pandas sums groups with compensated (Kahan) summation, the float sums of the stored
    # points depend on it: it is kept, on the one integer key
    sums = pd.DataFrame(values).groupby(group, sort=True).sum()
    for name in values:
        out[name] = sums[name].to_numpy()
    return pd.DataFrame(out, columns=[*POINT_KEYS, *POINT_VALUES])


def _utc(nanoseconds: np.ndarray) -> pd.Series:
    return pd.Series(pd.DatetimeIndex(nanoseconds.view("datetime64[ns]")).tz_localize("UTC"))
