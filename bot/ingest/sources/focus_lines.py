"""A clean chunk parsed line by line: text work once per distinct line, not once per row.

An export repeats a few thousand lines of spend (the text columns of a row, tags included)
over millions of rows, and a row's dates repeat across the rows of its hour. So the text
columns are reduced, in Arrow, to one code per row for its line, and only the distinct lines
are cleaned, checked and converted to pandas (``canonical_frame`` and the line checks of
``focus_parse``); dates are parsed once per distinct value and costs are checked as arrays.
The rows then get their line's values by code.

This is only a shortcut for chunks where no row would be refused or noted for an empty cost:
:func:`parse_lines` returns None as soon as any check fails, and the chunk goes through
``parse_frame`` row by row, which words each refusal and numbers its row. Both give the same
line items (the tests hold them equal).
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from bot.ingest.sources.focus_parse import (
    COLUMNS,
    MAX_COST,
    NULL_VALUES,
    NUMERIC_FIELDS,
    ParsedChunk,
    Rejections,
    canonical_frame,
    line_fields,
    too_long,
)
from bot.ingest.sources.focus_values import to_utc

__all__ = ["parse_lines"]

DATE_FIELDS = ("start", "end", "billing_period_start")
_NOTHING = np.array([], dtype=object)


def parse_lines(
    table: pa.Table | pa.RecordBatch,
    resolved: dict[str, list[str]],
    *,
    defaults: Mapping[str, str],
    row_numbers: np.ndarray,
) -> ParsedChunk | None:
    """The chunk ``parse_frame(canonical_frame(table, ...))`` would give, or None when some
    row of it needs that row-by-row path (a refusal, an empty or absurd cost, text costs)."""
    n = table.num_rows
    if n == 0 or any(len(resolved.get(c, ())) > 1 for c in (*DATE_FIELDS, *NUMERIC_FIELDS)):
        return None
    columns = dict(zip([str(c).lstrip("\ufeff") for c in table.schema.names], table.columns,
                       strict=True))
    if any(a.lstrip("\ufeff") not in columns for actual in resolved.values() for a in actual):
        return None
    special = {c for c in (*DATE_FIELDS, *NUMERIC_FIELDS)}
    text = {canonical: [a.lstrip("\ufeff") for a in actual]
            for canonical, actual in resolved.items() if canonical not in special}
    numbers = {c: _number(columns[resolved[c][0].lstrip("\ufeff")])
               for c in NUMERIC_FIELDS if c in resolved}
    if any(v is None for v in numbers.values()) or "effective_cost" not in numbers:
        return None
    dates: dict[str, pd.Series] = {}
    for canonical in DATE_FIELDS:
        if canonical in resolved:
            parsed = _dates(columns[resolved[canonical][0].lstrip("\ufeff")])
            if parsed is None:
                return None
            dates[canonical] = parsed
    effective = numbers["effective_cost"]
    billed = numbers.get("billed_cost", effective)
    assert effective is not None and billed is not None
    with np.errstate(invalid="ignore"):
        if not (np.all(np.abs(effective) < MAX_COST) and np.all(np.abs(billed) < MAX_COST)):
            return None  # also NaN, an empty cell: counted or refused row by row

    codes, first = _line_codes([columns[a] for actual in text.values() for a in actual], n)
    wanted = sorted({a for actual in text.values() for a in actual})
    firsts = np.zeros(n, dtype=bool)
    firsts[first] = True  # first rows come in the order of their lines
    lines_table = pa.table({a: columns[a] for a in wanted}).filter(pa.array(firsts))
    lines = canonical_frame(lines_table, {c: text[c] for c in text}, defaults=defaults)
    reject = Rejections(len(lines))
    fields = line_fields(lines, reject)
    if reject.bad.any():
        return None

    items: dict[str, object] = dict(dates)
    items["billed_cost"] = billed
    items["effective_cost"] = effective
    for name, value in fields.items():
        if name == "usage_quantity":
            quantity = numbers.get("usage_quantity")
            items[name] = np.nan_to_num(quantity, nan=0.0) if quantity is not None else 0.0
        else:
            items[name] = _by_code(value, codes)
    result = pd.DataFrame(items)
    usage = (result["charge_category"] == "Usage").to_numpy()
    if (result["end"] < result["start"]).any() or too_long(result, usage).any():
        return None
    negative = int((usage & ((effective < 0) | (billed < 0))).sum())
    result["row_number"] = np.asarray(row_numbers).copy()
    rejected = pd.DataFrame({"row_number": np.asarray(row_numbers)[:0].copy(),
                             "reason": _NOTHING,
                             **{name: _NOTHING for name in _frame_columns(resolved, defaults)}})
    cost_columns = tuple(COLUMNS[c][0] for c in ("effective_cost", "billed_cost")
                         if c in resolved)
    line_values = pd.DataFrame({name: value for name, value in fields.items()
                                if name != "usage_quantity"}, index=pd.RangeIndex(len(lines)))
    return ParsedChunk(items=result, rejected=rejected, rows_read=n,
                       notes={"negative_usage": negative} if negative else {},
                       cost_columns=cost_columns, lines=(codes, line_values))


def _frame_columns(resolved: dict[str, list[str]], defaults: Mapping[str, str]) -> list[str]:
    """The columns ``canonical_frame`` gives, in its order."""
    return [*resolved, *(c for c, v in defaults.items() if v and c not in resolved)]


def _number(array: pa.ChunkedArray | pa.Array) -> np.ndarray | None:
    """A numeric column as float64 (empty cells NaN); None for text."""
    kind = array.type
    if not (pa.types.is_floating(kind) or pa.types.is_integer(kind)
            or pa.types.is_decimal(kind)):
        return None
    values = array.cast(pa.float64())
    return np.asarray(values.to_numpy(zero_copy_only=False), dtype=np.float64)


def _dates(array: pa.ChunkedArray | pa.Array) -> pd.Series | None:
    """A date column as ``to_utc`` gives it; None if a cell is empty or not a date."""
    if array.null_count:
        return None
    if pa.types.is_timestamp(array.type):
        kind = array.type
        unit = np.dtype(f"datetime64[{kind.unit}]")
        stamps = np.asarray(array.cast(pa.int64()).to_numpy()).view(unit)
        # Arrow holds instants as UTC whatever the zone; a time without one is taken as UTC
        return pd.Series(pd.DatetimeIndex(stamps).tz_localize("UTC"))
    if not (pa.types.is_string(array.type) or pa.types.is_large_string(array.type)
            or pa.types.is_dictionary(array.type)):
        return None
    if pa.types.is_dictionary(array.type):  # Parquet's own dictionary: no row decoded
        encoded = pa.table({"d": array}).unify_dictionaries().column("d")
    else:
        encoded = pc.dictionary_encode(array)
    chunks = encoded.chunks if isinstance(encoded, pa.ChunkedArray) else [encoded]
    if not chunks:
        return None
    distinct = chunks[0].dictionary.to_pylist()
    if any(value in NULL_VALUES for value in distinct):
        return None
    parsed = to_utc(pd.Series(distinct, dtype=object))
    if parsed.isna().any():
        return None
    indices = np.concatenate([np.asarray(c.indices) for c in chunks]) if len(chunks) > 1 \
        else np.asarray(chunks[0].indices)
    nanoseconds = parsed.array.asi8[indices]
    return pd.Series(pd.DatetimeIndex(nanoseconds.view("datetime64[ns]")).tz_localize("UTC"))


def _line_codes(arrays: list[pa.ChunkedArray | pa.Array], n: int
                ) -> tuple[np.ndarray, np.ndarray]:
    """Each row's line (its values in ``arrays``), numbered in order of first appearance,
    and the first row of each line.

    Rows of one line tend to follow each other (an export lists a line's resources, or its
    hours, together), and comparing a row with the one before costs a quarter of hashing it:
    only the first row of each run of equal rows is encoded.
    """
    arrays = [_comparable(a) for a in arrays]
    same = np.ones(max(n - 1, 0), dtype=bool)
    for array in arrays:
        same &= _same_as_previous(array)
    begins = np.concatenate(([True], ~same)) if n else np.zeros(0, dtype=bool)
    starts = np.flatnonzero(begins)
    runs = pa.table({str(i): a for i, a in enumerate(arrays)}).filter(pa.array(begins))
    key = np.zeros(len(starts), dtype=np.int64)
    span = 1
    for array in runs.columns:
        indices, count = _indices(array)
        size = count + 1
        if span * size >= 2**62:
            key = pd.factorize(key)[0].astype(np.int64)
            span = int(key.max()) + 1
        key = key * size + indices
        span *= size
    run_codes, distinct = pd.factorize(key)
    first = np.zeros(len(distinct), dtype=np.int64)
    first[run_codes[::-1]] = starts[::-1]
    codes = np.repeat(run_codes, np.diff(np.append(starts, n)))
    return codes, first


def _comparable(array: pa.ChunkedArray | pa.Array) -> pa.ChunkedArray | pa.Array:
    """A dictionary column as its indices over one dictionary (equal indices, equal values);
    other columns in one piece (compared row to row faster than in many)."""
    if not pa.types.is_dictionary(array.type):
        return array.combine_chunks() if isinstance(array, pa.ChunkedArray) else array
    unified = pa.table({"c": array}).unify_dictionaries().column("c")
    return pa.chunked_array([c.indices for c in unified.chunks], type=array.type.index_type)


def _same_as_previous(array: pa.ChunkedArray | pa.Array) -> np.ndarray:
    """For each row but the first: whether it holds the value of the row before."""
    after, before = array[1:], array[:-1]
    same = pc.equal(after, before)
    if array.null_count:
        same = pc.or_kleene(same, pc.and_(pc.is_null(after), pc.is_null(before)))
    return np.asarray(same.fill_null(False).to_numpy(zero_copy_only=False), dtype=bool)


def _indices(array: pa.ChunkedArray | pa.Array) -> tuple[np.ndarray, int]:
    """Dictionary indices of a column (empty cells: the count) and the count of values."""
    encoded = pc.dictionary_encode(array)
    chunks = encoded.chunks if isinstance(encoded, pa.ChunkedArray) else [encoded]
    count = len(chunks[0].dictionary) if chunks else 0
    indices = pa.chunked_array([c.indices for c in chunks], type=pa.int32()).fill_null(count)
    return np.asarray(indices.to_numpy(), dtype=np.int64), count


def _by_code(value: object, codes: np.ndarray) -> object:
    """A per-line column given to the rows by their line code."""
    if isinstance(value, pd.Categorical):
        return pd.Categorical.from_codes(np.asarray(value.codes)[codes],
                                         categories=value.categories, validate=False)
    if isinstance(value, pd.Series):
        if isinstance(value.dtype, pd.CategoricalDtype):
            return pd.Categorical.from_codes(value.cat.codes.to_numpy()[codes],
                                             categories=value.cat.categories, validate=False)
        return value.iloc[codes].reset_index(drop=True)
    return value
