"""Rows identical in every column, counted chunk by chunk at almost no cost.

A provider may legitimately bill the same line item twice, so identical rows are kept; but a
file that repeats its rows is worth a word. Rows are compared within each chunk the reader
parses at once (up to 250,000 rows or 64 MiB of CSV), which bounds the memory it takes; rows
repeated farther apart than that are not noticed.

The values spendwatch parsed pick the candidates, rows that may be identical (in real
exports, rows with the same hour, costs and line of spend that differ only in, say, the
resource): first the rows whose cost repeats, then those whose parsed values all repeat. Only
candidates are compared in full, on every column of the file.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Sequence

import numpy as np
import pandas as pd

__all__ = ["count_identical"]

_PRIME = np.uint64(0x100000001B3)
FullRows = Callable[[np.ndarray], Sequence[Hashable]]  # row numbers -> every column of each


def count_identical(items: pd.DataFrame, full_rows: FullRows) -> int:
    """Rows of ``items`` identical to an earlier row of the chunk in every column.

    ``full_rows`` gives, for row numbers, a value holding the whole row as the file has it
    (the raw text of a CSV record, all the values of a Parquet row).
    """
    if len(items) < 2:
        return 0
    # most rows of most exports differ in cost alone: only rows whose cost repeats go on
    maybe = np.flatnonzero(_repeated(items["effective_cost"].to_numpy(dtype=np.float64)))
    if not len(maybe):
        return 0
    maybe = maybe[_repeated(_value_hash(items, maybe))]
    if not len(maybe):
        return 0
    rows = items["row_number"].to_numpy()[maybe]
    return int(pd.Series(list(full_rows(rows)), dtype=object).duplicated().sum())


def _repeated(values: np.ndarray) -> np.ndarray:
    """True for each value that occurs more than once."""
    return pd.Series(values).duplicated(keep=False).to_numpy()


def _value_hash(items: pd.DataFrame, rows: np.ndarray) -> np.ndarray:
    """One number for each of ``rows`` from its parsed values: equal rows get equal numbers."""
    hashed = np.zeros(len(rows), dtype=np.uint64)
    for name in items.columns:
        if name == "row_number":
            continue
        column = items[name]
        dtype = column.dtype
        if isinstance(dtype, pd.CategoricalDtype):
            values = column.cat.codes.to_numpy()[rows].astype(np.int64).view(np.uint64)
        elif isinstance(dtype, pd.DatetimeTZDtype) or pd.api.types.is_datetime64_dtype(dtype):
            values = column.array.asi8[rows].view(np.uint64)
        elif pd.api.types.is_float_dtype(dtype):
            values = column.to_numpy(dtype=np.float64)[rows].view(np.uint64)
        else:
            continue
        with np.errstate(over="ignore"):
            hashed = (hashed ^ values) * _PRIME
    return hashed
