"""Parse chunks of FOCUS columns into canonical line items and rejected rows.

Pure functions on Arrow and pandas data, no I/O. Work is done once per distinct value where it
can be (dates, categories, text), because exports repeat the same few values millions of times.

Tolerated on purpose, because real and spec files have them: literal ``NULL`` and empty strings
as nulls, money written as ``"$10,000.00 "`` or ``(1.50)``, US-style dates (``4/1/25``),
``ProviderName`` (1.0-1.2) or ``ServiceProviderName`` (1.3), columns typed null in Parquet.

Refused on purpose: a file without a column spendwatch cannot do without (:func:`check_columns`)
and rows that would be counted wrong (an empty billing account or period, Usage longer than the
31 days it can be spread over). Kept but counted (:class:`ParsedChunk` ``notes``): Usage with a
negative cost, and a cost cell left empty where the other cost column has a value.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from functools import partial

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from bot.ingest.sources.focus_values import (
    CHARGE_CATEGORIES,
    canonical_category,
    clean_text,
    describe_values,
    to_number,
    to_utc,
)
from storage.models import FOCUS_LINE_COLUMNS

__all__ = [
    "CHARGE_CATEGORIES",
    "COLUMNS",
    "MAX_SPREAD_HOURS",
    "NOTES",
    "NULL_VALUES",
    "FocusFileError",
    "ParsedChunk",
    "Rejections",
    "canonical_frame",
    "check_columns",
    "line_fields",
    "parse_frame",
    "resolve_columns",
    "too_long",
]


class FocusFileError(Exception):
    """A file that cannot be read as FOCUS at all (not CSV/Parquet, no header, unreadable,
    a column it cannot do without is missing)."""


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
_WHEN = "export a FOCUS 1.0 to 1.3 file with every mandatory column"
# The FOCUS columns a file is refused without, and what the user can do about it. The others
# (ServiceName, RegionId, Tags, BilledCost, ...) are read when present and left empty if not.
MANDATORY: dict[str, str] = {
    "ChargePeriodStart": _WHEN,
    "ChargePeriodEnd": _WHEN,
    "ChargeCategory": _WHEN,
    "EffectiveCost": "spendwatch counts effective (amortised) cost, mandatory since FOCUS 1.0; "
                     "export it rather than billed cost alone",
    "BillingAccountId": "with the billing period it identifies the export that a re-delivery "
                        "replaces; export it, or declare the account of this file with "
                        "--billing-account",
    "BillingPeriodStart": "with the billing account it identifies the export that a "
                          "re-delivery replaces; export it",
    "BillingPeriodEnd": "with the billing account it identifies the export that a "
                        "re-delivery replaces; export it",
    "BillingCurrency": "declare the currency of this source (sources[].currency, or --currency "
                       "on the command line)",
}
# canonical columns a declared default stands in for when the file has none
DEFAULTABLE = {"currency": "BillingCurrency", "billing_account_id": "BillingAccountId"}
# what identifies a delivery: needed to store it (a re-delivery replaces it), not to replay it
DELIVERY_COLUMNS = ("BillingAccountId", "BillingPeriodStart", "BillingPeriodEnd")
TEXT_FIELDS = (*FOCUS_LINE_COLUMNS, "usage_unit")
NUMERIC_FIELDS = ("billed_cost", "effective_cost", "usage_quantity")
NULL_VALUES = ["", "NULL", "null", "Null", "NaN", "nan", "None"]
# Usage is spread evenly over its hours, up to a billing month; longer Usage is refused
MAX_SPREAD_HOURS = 31 * 24
# Above 10^15 a float no longer holds money to the cent, and a few such rows in one hour would
# sum to infinity: infinite and absurd costs are refused, not stored.
MAX_COST = 1e15
# What is kept but counted, by kind; the summary reads "<count> row(s) <note>".
NOTES = {
    "identical": "identical to an earlier row in every column: kept, each one counted "
                 "(check the export if the provider did not bill them twice)",
    "negative_usage": "of Usage with a negative cost: kept, they lower the spend "
                      "(refunds or corrections)",
    "effective_empty": "with an empty EffectiveCost: their BilledCost is used",
    "billed_empty": "with an empty BilledCost: their EffectiveCost is used",
}


@dataclass(slots=True)
class ParsedChunk:
    """Line items that parsed, and the rows that did not (row_number, reason, raw values).

    ``notes`` counts rows kept but worth a word (keys of :data:`NOTES`); ``cost_columns`` are
    the FOCUS cost columns the file has. ``lines``, when the chunk was parsed line by line,
    holds each item's line code and the parsed text columns of each line (by code; two codes
    may hold the same values).
    """

    items: pd.DataFrame
    rejected: pd.DataFrame
    rows_read: int
    notes: dict[str, int] = field(default_factory=dict)
    cost_columns: tuple[str, ...] = ()
    lines: tuple[np.ndarray, pd.DataFrame] | None = None


def resolve_columns(header: Iterable[str]) -> dict[str, list[str]]:
    """Map canonical names to the file's actual column names (case- and space-insensitive)."""
    by_key = {h.strip().lstrip("\ufeff").lower(): h for h in header}
    found: dict[str, list[str]] = {}
    for canonical, names in COLUMNS.items():
        actual = [by_key[n.lower()] for n in names if n.lower() in by_key]
        if actual:
            found[canonical] = actual
    return found


def check_columns(name: str, header: Iterable[str], defaults: Mapping[str, str], *,
                  delivery: bool = True) -> None:
    """Refuse a file without a column spendwatch cannot do without, naming it and what to do.

    ``defaults`` are declared values (canonical name -> value) that stand in for a column.
    Without ``delivery`` the columns that identify a delivery may be missing.
    """
    present = {h.strip().lstrip("\ufeff").lower() for h in header}
    declared = {DEFAULTABLE[c] for c, value in defaults.items() if value and c in DEFAULTABLE}
    needed = [c for c in MANDATORY if delivery or c not in DELIVERY_COLUMNS]
    missing = [c for c in needed if c.lower() not in present and c not in declared]
    if not missing:
        return
    hints = list(dict.fromkeys(MANDATORY[c] for c in missing))
    raise FocusFileError(
        f"{name}: missing column{'s' if len(missing) > 1 else ''} {', '.join(missing)} "
        f"(FOCUS mandatory); {'; '.join(hints)}"
    )


def canonical_frame(
    batch: pa.RecordBatch | pa.Table,
    resolved: dict[str, list[str]],
    *,
    defaults: Mapping[str, str] | None = None,
) -> pd.DataFrame:
    """Arrow batch -> pandas frame with canonical column names.

    Alternative columns are coalesced in Arrow, and text columns are dictionary-encoded there
    (pandas categoricals), so later steps work once per distinct value instead of per row.
    ``defaults`` (canonical name -> value) fill empty cells, or the whole column if absent.
    """
    defaults = {k: v for k, v in (defaults or {}).items() if v}
    names = [str(n).lstrip("\ufeff") for n in batch.schema.names]
    columns = dict(zip(names, batch.columns, strict=True))
    arrays: dict[str, pa.Array] = {}
    for canonical, actual in resolved.items():
        raw = [columns[a.lstrip("\ufeff")] for a in actual if a.lstrip("\ufeff") in columns]
        if raw:
            arrays[canonical] = _canonical_array(canonical, raw, defaults.get(canonical))
    for canonical, value in defaults.items():
        if canonical not in arrays:
            indices = pa.array(np.zeros(batch.num_rows, dtype=np.int32))
            arrays[canonical] = pa.DictionaryArray.from_arrays(indices, pa.array([value]))
    if not arrays:
        return pd.DataFrame(index=pd.RangeIndex(batch.num_rows))
    frame = pa.table(arrays).to_pandas()
    for name in frame.columns:  # Parquet keeps literal "NULL" text; CSV reading already didn't
        column = frame[name]
        if isinstance(column.dtype, pd.CategoricalDtype):
            nulls = [v for v in NULL_VALUES if v in column.cat.categories]
            if nulls:
                frame[name] = column.cat.remove_categories(nulls)
        elif not pd.api.types.is_numeric_dtype(column.dtype):  # costs kept as text
            null = column.isin(NULL_VALUES)
            if null.any():
                frame[name] = column.mask(null)
    return frame


def _canonical_array(canonical: str, raw: list[pa.Array | pa.ChunkedArray],
                     default: str | None) -> pa.Array | pa.ChunkedArray:
    """One canonical column from the file's columns for it: coalesced, defaulted, and text
    dictionary-encoded."""
    numeric = canonical in NUMERIC_FIELDS
    if len(raw) == 1 and default is None and not numeric:
        encoded = _reencoded(raw[0])
        if encoded is not None:
            return encoded
    present = [_usable(a, numeric=numeric) for a in raw]
    array = present[0] if len(present) == 1 else pc.coalesce(*present)
    if default is not None:
        array = pc.coalesce(array, pa.scalar(default, type=array.type))
    textual = pa.types.is_string(array.type) or pa.types.is_large_string(array.type)
    if textual and not numeric:
        array = pc.dictionary_encode(array)
    return array


def _reencoded(array: pa.Array | pa.ChunkedArray) -> pa.DictionaryArray | None:
    """A Parquet dictionary column as ``dictionary_encode`` would give its decoded text (the
    values used, in order of first appearance), without decoding every row: only the indices
    are encoded again. None if the column is not one dictionary of distinct text values."""
    if not isinstance(array, pa.DictionaryArray) or not (
        pa.types.is_string(array.type.value_type)
        or pa.types.is_large_string(array.type.value_type)
    ):
        return None
    used = pc.dictionary_encode(array.indices)
    dictionary = array.dictionary.take(used.dictionary).cast(pa.string())
    if dictionary.null_count or len(pc.unique(dictionary)) != len(dictionary):
        return None
    return pa.DictionaryArray.from_arrays(used.indices, dictionary)


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


Reason = str | Callable[[np.ndarray], np.ndarray]


class Rejections:
    """The first reason each row of a chunk is refused for."""

    def __init__(self, n: int) -> None:
        self.reasons = np.full(n, None, dtype=object)
        self.bad = np.zeros(n, dtype=bool)

    def __call__(self, mask: np.ndarray, reason: Reason) -> None:
        """Refuse the rows of ``mask`` not refused yet; a callable reason gets their mask."""
        mask = mask & ~self.bad
        if mask.any():
            self.reasons[mask] = reason(mask) if callable(reason) else reason
            self.bad[mask] = True


def parse_frame(frame: pd.DataFrame, *, row_numbers: np.ndarray) -> ParsedChunk:
    """Parse one chunk (canonical column names, raw values) into line items and rejected rows.

    ``row_numbers`` are the rows' record numbers in the file (the header is record 1). The
    file's columns were checked (:func:`check_columns`) and defaults applied before; without
    a billing period column, the charge's month is its billing period.
    """
    reject = Rejections(len(frame))
    items: dict[str, object] = {}
    for canonical in ("start", "end", "billing_period_start"):
        if canonical in frame:  # the billing period only when the delivery must be known
            items[canonical] = _date(frame[canonical], COLUMNS[canonical][0], reject)
    empty_costs = _costs(frame, items, reject)
    items.update(line_fields(frame, reject))

    result = pd.DataFrame(items, index=frame.index)
    backwards = (result["end"] < result["start"]).to_numpy()
    reject(backwards, "ChargePeriodEnd is before ChargePeriodStart")
    usage = (result["charge_category"] == "Usage").to_numpy()
    reject(too_long(result, usage), lambda m: _describe_length(result[m]))
    ok = ~reject.bad
    negative = usage & ((result["effective_cost"] < 0) | (result["billed_cost"] < 0)).to_numpy()
    notes = {key: int((mask & ok).sum()) for key, mask in
             (("negative_usage", negative), *empty_costs.items())}
    if reject.bad.any():
        good = result.loc[ok].reset_index(drop=True)
        good["row_number"] = row_numbers[ok]
        bad = frame.loc[~ok].astype(object).reset_index(drop=True)
        bad.insert(0, "reason", reject.reasons[~ok])
        bad.insert(0, "row_number", row_numbers[~ok])
    else:  # the common case, without a copy of every column
        good = result.reset_index(drop=True)
        good["row_number"] = np.asarray(row_numbers).copy()
        nothing = np.array([], dtype=object)
        bad = pd.DataFrame({"row_number": np.asarray(row_numbers)[:0].copy(), "reason": nothing,
                            **{name: nothing for name in frame.columns}})
    cost_columns = tuple(COLUMNS[c][0] for c in ("effective_cost", "billed_cost") if c in frame)
    return ParsedChunk(items=good, rejected=bad, rows_read=len(frame),
                       notes={k: v for k, v in notes.items() if v}, cost_columns=cost_columns)


def line_fields(frame: pd.DataFrame, reject: Rejections) -> dict[str, object]:
    """The parsed text columns of a chunk (and ``usage_quantity``, in its place among them):
    ChargeCategory, currency, the line's text, the raw tags."""
    items: dict[str, object] = {}
    items["charge_category"] = _category(frame["charge_category"], reject)
    currency = frame["currency"]
    reject(currency.isna().to_numpy(), "BillingCurrency is empty")
    items["currency"] = clean_text(currency, upper=True)
    quantity = frame.get("usage_quantity")
    items["usage_quantity"] = to_number(quantity).fillna(0.0) if quantity is not None else 0.0
    for canonical in TEXT_FIELDS:
        raw = frame.get(canonical)
        items[canonical] = clean_text(raw) if raw is not None else ""
    if "billing_account_id" in frame:
        reject(np.asarray(items["billing_account_id"] == ""), "BillingAccountId is empty")
    tags = frame.get("tags")
    items["tags"] = tags if tags is not None else None  # raw text: allocation reads it
    return items


def _date(raw: pd.Series, label: str, reject: Rejections) -> pd.Series:
    parsed = to_utc(raw)
    present = raw.notna().to_numpy()
    reject(~present, f"{label} is empty")
    reject(present & parsed.isna().to_numpy(),
           lambda m: describe_values(raw[m], f"{label} is not a date"))
    return parsed


def _category(raw: pd.Series, reject: Rejections) -> pd.Series:
    category = canonical_category(raw)
    reject(raw.isna().to_numpy(), "ChargeCategory is empty")
    reject(raw.notna().to_numpy() & category.isna().to_numpy(),
           lambda m: describe_values(
               raw[m], "ChargeCategory is not one of " + ", ".join(CHARGE_CATEGORIES)))
    return category


def _costs(frame: pd.DataFrame, items: dict[str, object], reject: Rejections
           ) -> dict[str, np.ndarray]:
    """Effective and billed cost; an empty cell takes the other column's value (counted)."""
    numbers: dict[str, pd.Series] = {}
    for canonical in ("billed_cost", "effective_cost"):
        raw = frame.get(canonical)
        if raw is None:
            continue
        values = to_number(raw)
        label = COLUMNS[canonical][0]
        reject(raw.notna().to_numpy() & values.isna().to_numpy(),
               partial(_describe_not_a_number, raw, label))
        reject((values.abs() >= MAX_COST).to_numpy(), partial(_describe_out_of_range, raw, label))
        numbers[canonical] = values
    effective = numbers["effective_cost"]
    billed = numbers.get("billed_cost", effective)
    reject((effective.isna() & billed.isna()).to_numpy(),
           "BilledCost and EffectiveCost are both empty")
    empty = {"effective_empty": (effective.isna() & billed.notna()).to_numpy(),
             "billed_empty": (billed.isna() & effective.notna()).to_numpy()}
    items["billed_cost"] = billed.fillna(effective).fillna(0.0)
    items["effective_cost"] = effective.fillna(billed).fillna(0.0)
    return empty


def too_long(items: pd.DataFrame, usage: np.ndarray) -> np.ndarray:
    """Usage rows covering more hours, counted from the hour they start in, than are spread."""
    span = (items["end"] - items["start"]).to_numpy()
    maybe = usage & (span > np.timedelta64(MAX_SPREAD_HOURS - 1, "h"))  # NaT: False
    if not maybe.any():
        return maybe
    rows = items.loc[maybe]
    hours = (rows["end"] - rows["start"].dt.floor("h")) / pd.Timedelta(hours=1)
    maybe[maybe] = np.ceil(hours.to_numpy(dtype=float)) > MAX_SPREAD_HOURS
    return maybe


def _describe_not_a_number(raw: pd.Series, label: str, mask: np.ndarray) -> np.ndarray:
    return describe_values(raw[mask], f"{label} is not a number")


def _describe_out_of_range(raw: pd.Series, label: str, mask: np.ndarray) -> np.ndarray:
    return describe_values(raw[mask], f"{label} is not a finite amount below 10^15")


def _describe_length(items: pd.DataFrame) -> np.ndarray:
    days = (items["end"] - items["start"]).to_numpy() / np.timedelta64(1, "D")
    return np.array(
        [f"Usage longer than 31 days cannot be spread over its hours; check ChargePeriodStart "
         f"and ChargePeriodEnd: {d:.1f} days" for d in days], dtype=object)
