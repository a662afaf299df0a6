"""The baseline's one-sort quantile agrees with ``numpy.nanquantile`` (linear interpolation)."""

from __future__ import annotations

import warnings

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from bot.detection._baseline import _nanquantile

CELLS = st.one_of(st.just(np.nan), st.floats(min_value=-1e6, max_value=1e6))
MATRICES = arrays(np.float64, st.tuples(st.integers(0, 6), st.integers(0, 9)), elements=CELLS)


@settings(max_examples=300, deadline=None)
@given(values=MATRICES, q=st.floats(min_value=0.0, max_value=1.0), axis=st.sampled_from([0, 1]))
def test_nanquantile_agrees_with_numpy(values, q, axis):
    got = _nanquantile(values, q, axis=axis)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN slices
        expected = np.nanquantile(values, q, axis=axis) if values.shape[axis] else (
            np.full(np.delete(values.shape, axis), np.nan))
    np.testing.assert_allclose(got, expected, rtol=1e-9, atol=1e-6, equal_nan=True)
