"""Column values of a FOCUS chunk to typed values: dates, money, categories, text.

Pure functions on pandas data. Work is done once per distinct value where it can be, because
exports repeat the same few values millions of times.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from bot.ingest.frames import factorize

__all__ = [
    "CHARGE_CATEGORIES",
    "canonical_category",
    "clean_text",
    "describe_values",
    "to_number",
    "to_utc",
]

CHARGE_CATEGORIES = ("Usage", "Purchase", "Tax", "Credit", "Adjustment")
_CATEGORY_LOOKUP = {c.lower(): c for c in CHARGE_CATEGORIES}
_US_DATE_FORMATS = ("%m/%d/%y", "%m/%d/%Y", "%m/%d/%Y %H:%M", "%m/%d/%y %H:%M", "%m/%d/%Y %H:%M:%S")
_MONEY_JUNK = r"[\s$€£¥,]"


def describe_values(raw: pd.Series, prefix: str) -> np.ndarray:
    """``prefix: 'value'`` for each row (the value cut to 60 characters)."""
    return (prefix + ": " + raw.astype(object).fillna("").astype(str).str.slice(0, 60).map(repr)
            ).to_numpy(dtype=object)


def clean_text(raw: pd.Series, *, upper: bool = False) -> pd.Categorical:
    """Stripped text as a categorical; work is done once per distinct value.

    Missing values become ``""``. The categories are the cleaned values in order of first
    appearance among the distinct values, then ``""`` if no value cleans to it.
    """
    codes, uniques = factorize(raw)
    position: dict[str, int] = {}
    lookup = np.empty(len(uniques) + 1, dtype=np.intp)  # the last slot: missing values
    for index, value in enumerate(uniques.tolist()):
        text = str(value).strip()
        lookup[index] = position.setdefault(text.upper() if upper else text, len(position))
    lookup[-1] = position.setdefault("", len(position))
    categories = pd.Index(list(position), dtype="str")
    return pd.Categorical.from_codes(lookup[codes], categories=categories, validate=False)


def canonical_category(raw: pd.Series) -> pd.Series:
    """ChargeCategory in its canonical casing; unknown values are missing."""
    codes, uniques = factorize(raw)
    mapped = [_CATEGORY_LOOKUP.get(str(u).strip().lower()) for u in uniques]
    lookup = np.array(
        [CHARGE_CATEGORIES.index(m) if m else -1 for m in mapped] + [-1], dtype=np.int8
    )
    categorical = pd.Categorical.from_codes(
        lookup[codes], categories=pd.Index(CHARGE_CATEGORIES), validate=False
    )
    return pd.Series(categorical, index=raw.index)


def to_number(raw: pd.Series) -> pd.Series:
    """Numbers, also from money text (``"$10,000.00 "``, ``(1.50)``); unreadable ones missing."""
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


def to_utc(raw: pd.Series) -> pd.Series:
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
