"""Parse chunks of FOCUS columns into canonical line items and rejected rows.

Pure functions on Arrow and pandas data, no I/O. Work is done once per distinct value where it
can be (dates, categories, text), because exports repeat the same few values millions of times.

Tolerated on purpose, because real and spec files have them: literal ``NULL`` and empty strings
as nulls, money written as ``"$10,000.00 "`` or ``(1.50)``, US-style dates (``4/1/25``),
``ProviderName`` (1.0-1.2) or ``ServiceProviderName`` (1.3), columns typed null in Parquet.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from bot.frames import factorize

__all__ = [
    "CHARGE_CATEGORIES",
    "COLUMNS",
    "NULL_VALUES",
    "ParsedChunk",
    "canonical_frame",
    "parse_frame",
    "resolve_columns",
]

CHARGE_CATEGORIES = ("Usage", "Purchase", "Tax", "Credit", "Adjustment")
_CATEGORY_LOOKUP = {c.lower(): c for c in CHARGE_CATEGORIES}

# canonical name -> FOCUS columns, first present wins per row (coalesced in this order)
COLUMNS: dict[str, tuple[str, ...]] = {
    "start": ("ChargePeriodStart",),
    "end": ("ChargePeriodEnd",),
    "billing_period_start": ("BillingPeriodStart",),
    "billed_cost": ("BilledCost",),
    "effective_cost": ("EffectiveCost",),
    "currency": ("BillingCurrency",),
    "charge_category": ("ChargeCategory",),
    "provider": ("ServiceProviderName", "ProviderName"),
    "billing_account_id": ("BillingAccountId",),
    "sub_account_id": ("SubAccountId",),
    "sub_account_name": ("SubAccountName",),
    "service_name": ("ServiceName",),
    "service_category": ("ServiceCategory",),
    "region": ("RegionId", "RegionName"),
    "sku_id": ("SkuId",),
    "usage_quantity": ("ConsumedQuantity",),
    "usage_unit": ("ConsumedUnit",),
    "tags": ("Tags",),
}
REQUIRED = ("start", "end", "charge_category")
TEXT_FIELDS = (
    "provider",
    "billing_account_id",
    "sub_account_id",
    "sub_account_name",
    "service_name",
    "service_category",
    "region",
    "sku_id",
    "usage_unit",
)
NULL_VALUES = ["", "NULL", "null", "Null", "NaN", "nan", "None"]
_US_DATE_FORMATS = ("%m/%d/%y", "%m/%d/%Y", "%m/%d/%Y %H:%M", "%m/%d/%y %H:%M", "%m/%d/%Y %H:%M:%S")
_MONEY_JUNK = r"[\s$€£¥,]"


@dataclass(slots=True)
class ParsedChunk:
    """Line items that parsed, and the rows that did not (row_number, reason, raw values)."""

    items: pd.DataFrame
    rejected: pd.DataFrame
    rows_read: int


def resolve_columns(header: list[str]) -> dict[str, list[str]]:
    """Map canonical names to the file's actual column names (case- and space-insensitive)."""
    by_key = {h.strip().lstrip("\ufeff").lower(): h for h in header}
    found: dict[str, list[str]] = {}
    for canonical, names in COLUMNS.items():
        actual = [by_key[n.lower()] for n in names if n.lower() in by_key]
        if actual:
            found[canonical] = actual
    return found


NUMERIC_FIELDS = ("billed_cost", "effective_cost", "usage_quantity")


def canonical_frame(
    batch: pa.RecordBatch | pa.Table,
    resolved: dict[str, list[str]],
    *,
    default_currency: str | None,
) -> pd.DataFrame:
    """Arrow batch -> pandas frame with canonical column names.

    Alternative columns are coalesced in Arrow, and text columns are dictionary-encoded there
    (pandas categoricals), so later steps work once per distinct value instead of per row.
    """
    names = [str(n).lstrip("\ufeff") for n in batch.schema.names]
    columns = dict(zip(names, batch.columns, strict=True))
    arrays: dict[str, pa.Array] = {}
    for canonical, actual in resolved.items():
        present = [
            _usable(columns[a.lstrip("\ufeff")], numeric=canonical in NUMERIC_FIELDS)
            for a in actual
            if a.lstrip("\ufeff") in columns
        ]
        if not present:
            continue
        array = present[0] if len(present) == 1 else pc.coalesce(*present)
        if canonical == "currency" and default_currency:
            array = pc.coalesce(array, pa.scalar(default_currency, type=array.type))
        textual = pa.types.is_string(array.type) or pa.types.is_large_string(array.type)
        if textual and canonical not in NUMERIC_FIELDS:
            array = pc.dictionary_encode(array)
        arrays[canonical] = array
    if not arrays:
        return pd.DataFrame(index=pd.RangeIndex(batch.num_rows))
    frame = pa.table(arrays).to_pandas()
    for name in frame.columns:  # Parquet keeps literal "NULL" text; CSV reading already didn't
        column = frame[name]
        if isinstance(column.dtype, pd.CategoricalDtype):
            nulls = [v for v in NULL_VALUES if v in column.cat.categories]
            if nulls:
                frame[name] = column.cat.remove_categories(nulls)
    return frame


def _usable(array: pa.Array | pa.ChunkedArray, *, numeric: bool) -> pa.Array | pa.ChunkedArray:
    """Give every column one comparable type: Parquet may type an all-empty column as null,
    and coalescing needs alternatives of the same type."""
    if pa.types.is_null(array.type):
        return array.cast(pa.float64() if numeric else pa.string())
    if pa.types.is_dictionary(array.type):
        array = array.cast(array.type.value_type)
    if pa.types.is_large_string(array.type):
        return array.cast(pa.string())
    if numeric and (pa.types.is_decimal(array.type) or pa.types.is_integer(array.type)):
        return array.cast(pa.float64())
    if not numeric and not pa.types.is_string(array.type) and not pa.types.is_timestamp(
        array.type
    ):
        return array.cast(pa.string())
    return array


def parse_frame(
    frame: pd.DataFrame,
    *,
    row_numbers: np.ndarray,
    default_currency: str | None = None,
) -> ParsedChunk:
    """Parse one chunk (canonical column names, raw values) into line items and rejected rows.

    ``row_numbers`` are the rows' record numbers in the file (the header is record 1).
    """
    n = len(frame)
    reasons = np.full(n, None, dtype=object)
    bad = np.zeros(n, dtype=bool)

    def reject(mask: np.ndarray, reason: str | Callable[[], np.ndarray]) -> None:
        mask = mask & ~bad
        if mask.any():
            reasons[mask] = reason()[mask] if callable(reason) else reason
            bad[mask] = True

    def column(canonical: str) -> pd.Series | None:
        return frame[canonical] if canonical in frame.columns else None

    items: dict[str, object] = {}
    for canonical in REQUIRED:
        if canonical not in frame.columns:
            reject(np.ones(n, bool), f"missing column {COLUMNS[canonical][0]} (FOCUS mandatory)")

    for canonical in ("start", "end", "billing_period_start"):
        raw = column(canonical)
        if raw is None:
            continue
        parsed = _to_utc(raw)
        present = raw.notna().to_numpy()
        label = COLUMNS[canonical][0]
        if canonical != "billing_period_start":
            reject(~present, f"{label} is empty")
        reject(
            present & parsed.isna().to_numpy(),
            lambda raw=raw, label=label: _describe_values(raw, f"{label} is not a date"),
        )
        items[canonical] = parsed

    costs = {c: column(c) for c in ("billed_cost", "effective_cost")}
    if costs["billed_cost"] is None and costs["effective_cost"] is None:
        reject(np.ones(n, bool), "missing column BilledCost and EffectiveCost (FOCUS mandatory)")
    numbers: dict[str, pd.Series] = {}
    for canonical, raw in costs.items():
        if raw is None:
            continue
        values = _to_number(raw)
        label = COLUMNS[canonical][0]
        reject(
            raw.notna().to_numpy() & values.isna().to_numpy(),
            lambda raw=raw, label=label: _describe_values(raw, f"{label} is not a number"),
        )
        numbers[canonical] = values
    billed = numbers.get("billed_cost", numbers.get("effective_cost"))
    effective = numbers.get("effective_cost", billed)
    if billed is not None and effective is not None:
        billed_filled = billed.fillna(effective)
        effective = effective.fillna(billed)
        billed = billed_filled
        reject(billed.isna().to_numpy(), "BilledCost and EffectiveCost are both empty")
        items["billed_cost"] = billed.fillna(0.0)
        items["effective_cost"] = effective.fillna(0.0)

    category = column("charge_category")
    if category is not None:
        canonical_category = _canonical_category(category)
        reject(
            category.isna().to_numpy(), "ChargeCategory is empty"
        )
        reject(
            category.notna().to_numpy() & canonical_category.isna().to_numpy(),
            lambda: _describe_values(
                category,
                "ChargeCategory is not one of " + ", ".join(CHARGE_CATEGORIES),
            ),
        )
        items["charge_category"] = canonical_category

    currency = column("currency")
    if currency is None:
        if default_currency:
            items["currency"] = pd.Series(default_currency, index=frame.index, dtype=object)
        else:
            reject(
                np.ones(n, bool),
                "missing column BillingCurrency; declare the currency of this source "
                "(sources[].currency, or --currency on the command line)",
            )
    else:
        reject(currency.isna().to_numpy(), "BillingCurrency is empty")
        items["currency"] = _clean_text(currency, upper=True)

    quantity = column("usage_quantity")
    items["usage_quantity"] = (
        _to_number(quantity).fillna(0.0) if quantity is not None else 0.0
    )
    for canonical in TEXT_FIELDS:
        raw = column(canonical)
        items[canonical] = _clean_text(raw) if raw is not None else ""
    tags = column("tags")
    items["tags"] = tags.astype(object) if tags is not None else None

    result = pd.DataFrame(items, index=frame.index)
    if "end" in result and "start" in result:
        backwards = (result["end"] < result["start"]).to_numpy()
        reject(backwards, "ChargePeriodEnd is before ChargePeriodStart")
    ok = ~bad
    good = result.loc[ok].reset_index(drop=True)
    good["row_number"] = row_numbers[ok]
    bad = frame.loc[~ok].astype(object).reset_index(drop=True)
    bad.insert(0, "reason", reasons[~ok])
    bad.insert(0, "row_number", row_numbers[~ok])
    return ParsedChunk(items=good, rejected=bad, rows_read=n)


def _describe_values(raw: pd.Series, prefix: str) -> np.ndarray:
    return (prefix + ": " + raw.astype(object).fillna("").astype(str).str.slice(0, 60).map(repr)
            ).to_numpy(dtype=object)


def _clean_text(raw: pd.Series, *, upper: bool = False) -> pd.Categorical:
    """Stripped text as a categorical; work is done once per distinct value."""
    codes, uniques = factorize(raw)
    cleaned = pd.Series(uniques, dtype=object).astype(str).str.strip()
    if upper:
        cleaned = cleaned.str.upper()
    final_codes, categories = pd.factorize(pd.concat([cleaned, pd.Series([""])]))
    return pd.Categorical.from_codes(final_codes[codes], categories=categories, validate=False)


def _canonical_category(raw: pd.Series) -> pd.Series:
    codes, uniques = factorize(raw)
    mapped = [_CATEGORY_LOOKUP.get(str(u).strip().lower()) for u in uniques]
    lookup = np.array(
        [CHARGE_CATEGORIES.index(m) if m else -1 for m in mapped] + [-1], dtype=np.int8
    )
    categorical = pd.Categorical.from_codes(
        lookup[codes], categories=list(CHARGE_CATEGORIES), validate=False
    )
    return pd.Series(categorical, index=raw.index)


def _to_number(raw: pd.Series) -> pd.Series:
    if pd.api.types.is_numeric_dtype(raw.dtype):
        return raw.astype("float64")
    try:  # fast path: every value is a plain number
        array = pc.cast(pa.array(raw, type=pa.string()), pa.float64())
        return pd.Series(array.to_numpy(zero_copy_only=False), index=raw.index, dtype="float64")
    except (pa.ArrowInvalid, pa.ArrowTypeError, TypeError):
        pass
    values = pd.to_numeric(raw, errors="coerce")
    retry = raw.notna() & values.isna()
    if retry.any():
        text = raw[retry].astype(str).str.strip()
        negative = text.str.startswith("(") & text.str.endswith(")")
        text = text.str.strip("()").str.replace(_MONEY_JUNK, "", regex=True)
        cleaned = pd.to_numeric(text, errors="coerce")
        cleaned[negative] = -cleaned[negative]
        values = values.astype("float64")
        values[retry] = cleaned
    return values.astype("float64")


def _to_utc(raw: pd.Series) -> pd.Series:
    """Parse ISO 8601 (with or without offset) and US-style dates; naive means UTC."""
    if isinstance(raw.dtype, pd.DatetimeTZDtype):
        return raw.dt.tz_convert("UTC")
    if pd.api.types.is_datetime64_dtype(raw.dtype):
        return raw.dt.tz_localize("UTC")
    codes, uniques = factorize(raw)
    text = pd.Series(uniques, dtype=object).astype(str).str.strip()
    parsed = pd.to_datetime(text, format="ISO8601", utc=True, errors="coerce")
    for fmt in _US_DATE_FORMATS:
        missing = parsed.isna()
        if not missing.any():
            break
        parsed[missing] = pd.to_datetime(text[missing], format=fmt, utc=True, errors="coerce")
    values = parsed.dt.tz_localize(None).to_numpy("datetime64[ns]")
    out = np.append(values, np.datetime64("NaT", "ns"))[codes]
    return pd.Series(pd.to_datetime(out, utc=True), index=raw.index)
