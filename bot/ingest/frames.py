"""Small pandas helpers shared by ingestion and allocation."""

from __future__ import annotations

import numpy as np
import pandas as pd

__all__ = ["factorize", "factorize_rows"]


def factorize(values: pd.Series | pd.Categorical) -> tuple[np.ndarray, np.ndarray]:
    """``pd.factorize`` that reuses a categorical's codes; missing values get code -1."""
    dtype = getattr(values, "dtype", None)
    if isinstance(dtype, pd.CategoricalDtype):
        categorical = values.array if isinstance(values, pd.Series) else values
        return np.asarray(categorical.codes, dtype=np.intp), np.asarray(
            categorical.categories, dtype=object
        )
    codes, uniques = pd.factorize(values)
    return codes, np.asarray(uniques, dtype=object)


def _codes(values: pd.Series) -> tuple[np.ndarray, int]:
    """Codes (missing: -1) and how many distinct values; a categorical's categories are only
    counted, not converted."""
    if isinstance(values.dtype, pd.CategoricalDtype):
        return np.asarray(values.cat.codes), len(values.cat.categories)
    codes, uniques = pd.factorize(values)
    return codes, len(uniques)


def factorize_rows(frame: pd.DataFrame) -> tuple[np.ndarray, pd.DataFrame]:
    """Codes for each row and the distinct rows, like ``pd.factorize`` over several columns.

    Each column is factorized on its own (cheap for categoricals), and the codes are combined
    into one integer key, compacted whenever it could overflow.
    """
    n = len(frame)
    key = np.zeros(n, dtype=np.int64)
    span = 1
    for name in frame.columns:
        codes, count = _codes(frame[name])
        size = count + 1
        codes = np.where(codes < 0, count, codes)
        if span * size >= 2**62:
            key, _ = pd.factorize(key)
            key = key.astype(np.int64)
            span = int(key.max()) + 1 if n else 1
        key = key * size + codes
        span *= size
    codes, distinct_keys = pd.factorize(key)
    first = np.zeros(len(distinct_keys), dtype=np.int64)
    first[codes[::-1]] = np.arange(n - 1, -1, -1)
    distinct = frame.iloc[first].reset_index(drop=True)
    return codes, distinct
