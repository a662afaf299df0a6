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
    texts = [str(u).strip() for u in uniques.tolist()]
    found = {text: _DATES.get(text) for text in texts}
    missing = [text for text, value in found.items() if value is None]
    if missing:
        parsed = dict(zip(missing, _parse_dates(missing), strict=True))
        found.update(parsed)
        if len(_DATES) > _MAX_DATES:
            _DATES.clear()
        _DATES.update(parsed)
    values = np.array([found[text] for text in texts] + [_NAT], dtype=np.int64)
    out = values[codes].view("datetime64[ns]")
    return pd.Series(pd.DatetimeIndex(out).tz_localize("UTC"), index=raw.index)


# Dates already parsed (text -> UTC nanoseconds): an export's chunks share most of their
# dates, each hour's rows sitting in one or two chunks. Bounded, as exports of daily rows
# over years have a few thousand dates, not millions.
_DATES: dict[str, int] = {}
_MAX_DATES = 100_000
_NAT = np.iinfo(np.int64).min  # NaT's nanoseconds


def _parse_dates(texts: list[str]) -> list[int]:
    text = pd.Series(texts, dtype=object)
    parsed = pd.to_datetime(text, format="ISO8601", utc=True, errors="coerce")
    for fmt in _US_DATE_FORMATS:
        missing = parsed.isna()
        if not missing.any():
            break
        parsed[missing] = pd.to_datetime(text[missing], format=fmt, utc=True, errors="coerce")
    values = parsed.dt.tz_localize(None).to_numpy("datetime64[ns]")
    return values.view(np.int64).tolist()
