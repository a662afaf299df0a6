"""Parsing a clean chunk line by line gives what the row-by-row parser gives; any row that
needs a word (refused, an empty cost) sends the chunk back to that parser."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from bot.ingest.sources.focus_lines import parse_lines
from bot.ingest.sources.focus_parse import canonical_frame, parse_frame, resolve_columns

UTC_NS = pa.timestamp("ns", tz="UTC")
HOURS = pd.date_range("2026-08-01", periods=6, freq="h", tz="UTC")


def rows(n: int = 60, *, seed: int = 3) -> dict[str, list]:
    """FOCUS columns of ``n`` clean rows: lines repeat in runs and out of order."""
    rng = np.random.default_rng(seed)
    line = [(i // 4) % 7 if i % 9 else (i * 5) % 7 for i in range(n)]  # runs, and jumps back
    hour = [HOURS[(i // 10) % len(HOURS)] for i in range(n)]
    return {
        "BillingAccountId": [f"ba-{k % 2}" for k in line],
        "BillingCurrency": ["usd" if k == 3 else "USD" for k in line],
        "BillingPeriodStart": [pd.Timestamp("2026-08-01", tz="UTC")] * n,
        "BillingPeriodEnd": [pd.Timestamp("2026-09-01", tz="UTC")] * n,
        "ChargePeriodStart": hour,
        "ChargePeriodEnd": [h + pd.Timedelta(hours=1 if k % 3 else 24) for h, k in
                            zip(hour, line, strict=True)],
        "ChargeCategory": ["usage" if k == 5 else ("Tax" if k == 6 else "Usage") for k in line],
        "BilledCost": np.round(rng.gamma(2.0, 0.5, n), 6).tolist(),
        "EffectiveCost": np.round(rng.gamma(2.0, 0.5, n), 6).tolist(),
        "ConsumedQuantity": [None if i % 11 == 0 else float(i) for i in range(n)],
        "ConsumedUnit": ["Hours"] * n,
        "ServiceName": [f" svc-{k % 3}" for k in line],  # cleaned: stripped
        "ServiceCategory": ["Compute"] * n,
        "SubAccountId": [str(100 + k) for k in line],
        "SubAccountName": [None if k == 2 else f"acct-{k}" for k in line],
        "RegionId": [None if k == 4 else "us-east-1" for k in line],
        "RegionName": ["US East"] * n,
        "ProviderName": ["AWS"] * n,
        "SkuId": [f"sku-{k}" for k in line],
        "Tags": [None if k == 1 else json.dumps({"Project": f"p{k}"}) for k in line],
    }


def typed_csv(data: dict[str, list], *, pieces: int = 3) -> pa.Table:
    """As the CSV reader gives it: costs and dates typed, text as text, in several chunks."""
    table = pa.table({name: pa.array(_text(values) if _csv_type(name) == pa.string() else values,
                                     type=_csv_type(name))
                      for name, values in data.items()})
    size = -(-table.num_rows // pieces)
    return pa.concat_tables([table.slice(i, size) for i in range(0, table.num_rows, size)])


def _text(values: list) -> list:
    return [v.strftime("%Y-%m-%dT%H:%M:%SZ") if isinstance(v, pd.Timestamp) else v
            for v in values]


def _csv_type(name: str) -> pa.DataType:
    if name in ("BilledCost", "EffectiveCost", "ConsumedQuantity"):
        return pa.float64()
    if name in ("BillingPeriodStart", "ChargePeriodStart", "ChargePeriodEnd"):
        return UTC_NS
    return pa.string()


def parquet_like(data: dict[str, list]) -> pa.Table:
    """As Parquet gives it with ``read_dictionary``: text (dates too) dictionary-encoded."""
    columns = {}
    for name, values in data.items():
        if name in ("BilledCost", "EffectiveCost", "ConsumedQuantity"):
            columns[name] = pa.array(values, type=pa.float64())
        else:
            columns[name] = pa.array(_text(values), type=pa.string()).dictionary_encode()
    return pa.table(columns)


def both(table: pa.Table, defaults: dict[str, str] | None = None):
    resolved = resolve_columns(table.schema.names)
    numbers = np.arange(2, table.num_rows + 2)
    fast = parse_lines(table, resolved, defaults=defaults or {}, row_numbers=numbers)
    frame = canonical_frame(table, resolved, defaults=defaults)
    slow = parse_frame(frame, row_numbers=numbers)
    return fast, slow


def assert_same(fast, slow) -> None:
    assert fast is not None, "a clean chunk should be parsed line by line"
    pd.testing.assert_frame_equal(fast.items, slow.items)
    pd.testing.assert_frame_equal(fast.rejected, slow.rejected)
    assert (fast.rows_read, fast.notes, fast.cost_columns) == (
        slow.rows_read, slow.notes, slow.cost_columns)
    codes, lines = fast.lines
    for name in lines.columns:  # each item's line holds the item's own values
        by_code = lines[name].astype(object).to_numpy()[codes]
        pd.testing.assert_series_equal(
            pd.Series(by_code, dtype=object), slow.items[name].astype(object),
            check_names=False)


@pytest.mark.parametrize("make", [typed_csv, parquet_like], ids=["csv", "parquet"])
def test_a_clean_chunk_gives_the_items_of_the_row_by_row_parser(make):
    assert_same(*both(make(rows())))


def test_negative_usage_is_counted_as_the_row_by_row_parser_counts_it():
    data = rows()
    data["EffectiveCost"][7] = -2.5
    data["BilledCost"][8] = -1.0
    fast, slow = both(typed_csv(data))
    assert slow.notes.get("negative_usage")
    assert_same(fast, slow)


def test_alternative_columns_and_declared_defaults_are_applied_as_by_rows():
    data = rows()
    del data["BillingCurrency"]
    data["ServiceProviderName"] = [None if i % 2 else "Amazon" for i in range(len(data["SkuId"]))]
    fast, slow = both(typed_csv(data), defaults={"currency": "EUR"})
    assert set(slow.items["currency"]) == {"EUR"}
    assert set(slow.items["provider"]) == {"Amazon", "AWS"}
    assert_same(fast, slow)


def test_one_row_chunk_and_rows_that_never_repeat():
    assert_same(*both(typed_csv({k: v[:1] for k, v in rows().items()}, pieces=1)))
    data = rows(30)
    data["SkuId"] = [f"sku-{i}" for i in range(30)]
    assert_same(*both(typed_csv(data)))


def _set(name: str, value: object, row: int = 5):
    def change(data: dict[str, list]) -> None:
        data[name][row] = value
    return change


DIRTY = {
    "unknown category": _set("ChargeCategory", "Refund"),
    "empty category": _set("ChargeCategory", None),
    "empty currency": _set("BillingCurrency", None),
    "empty billing account": _set("BillingAccountId", " "),
    "empty effective cost": _set("EffectiveCost", None),
    "both costs empty": lambda d: (_set("EffectiveCost", None)(d), _set("BilledCost", None)(d)),
    "absurd cost": _set("BilledCost", 1e16),
    "infinite cost": _set("EffectiveCost", float("inf")),
    "NaN cost": _set("EffectiveCost", float("nan")),
    "empty start": _set("ChargePeriodStart", None),
    "end before start": _set("ChargePeriodEnd", pd.Timestamp("2020-01-01", tz="UTC")),
    "usage over 31 days": _set("ChargePeriodEnd", pd.Timestamp("2026-10-01", tz="UTC")),
}


@pytest.mark.parametrize("change", DIRTY.values(), ids=DIRTY.keys())
def test_a_chunk_with_a_row_to_refuse_or_note_goes_row_by_row(change):
    data = rows()
    change(data)
    fast, slow = both(typed_csv(data))
    assert fast is None
    assert len(slow.rejected) or slow.notes.keys() - {"negative_usage"}


@pytest.mark.parametrize("text", ["2026-13-01T00:00:00Z", "NULL", None])
def test_a_date_that_is_not_one_in_text_dates_goes_row_by_row(text):
    data = rows()
    data["ChargePeriodStart"][3] = text
    fast, slow = both(parquet_like(data))
    assert fast is None
    assert 5 in slow.rejected["row_number"].tolist()


def test_costs_as_text_go_row_by_row():
    table = typed_csv(rows())
    index = table.schema.get_field_index("BilledCost")
    table = table.set_column(index, "BilledCost", table.column(index).cast(pa.string()))
    fast, slow = both(table)
    assert fast is None
    assert len(slow.items) == table.num_rows
