"""Exactly rounded small products and the fitter's written-out linear solves."""

from __future__ import annotations

import math

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from galmix._exact import matmul, matvec, snap_pixels
from galmix.fit._kernels import _inverse_small, _solve_small


@settings(max_examples=40, deadline=None)
@given(st.integers(1, 6), st.integers(1, 20), st.integers(1, 5), st.integers(0, 2**31))
def test_products_match_numpy_and_are_exactly_rounded(n, k, m, seed):
    rng = np.random.default_rng(seed)
    a = rng.normal(size=(n, k)) * 10.0 ** rng.uniform(-3, 3, (n, k))
    b = rng.normal(size=(k, m))
    x = rng.normal(size=k)
    ours = matmul(a, b)
    np.testing.assert_allclose(ours, a @ b, rtol=1e-12, atol=1e-12 * np.abs(a).max())
    # exactly rounded: equal to the correctly rounded sum of the exact products
    for i in range(n):
        for j in range(m):
            assert ours[i, j] == math.fsum(float(a[i, t]) * float(b[t, j]) for t in range(k))
    np.testing.assert_allclose(matvec(a, x), a @ x, rtol=1e-12, atol=1e-12 * np.abs(a).max())
    # independent of memory layout and alignment: a shifted, non-contiguous copy
    big = np.zeros((n, 2 * k + 1))
    big[:, 1::2] = a
    assert np.array_equal(matvec(big[:, 1::2], x), matvec(a, x))


def test_snap_pixels_merges_last_bit_differences():
    x = np.array([12.345678912345678, -3.5])
    y = x * (1 + 4e-16)
    assert np.array_equal(snap_pixels(x), snap_pixels(y))
    assert abs(snap_pixels(1.23456789) - 1.2345679) < 1e-15


@settings(max_examples=60, deadline=None)
@given(st.integers(1, 8), st.integers(0, 2**31))
def test_solve_and_inverse_match_lapack(n, seed):
    rng = np.random.default_rng(seed)
    j = rng.normal(size=(3 * n, n))
    a = j.T @ j + 1e-3 * np.eye(n)  # LM normal matrices are symmetric positive definite
    b = rng.normal(size=n)
    x = np.zeros(n)
    assert _solve_small(a, b, x)
    np.testing.assert_allclose(a @ x, b, rtol=0, atol=1e-8 * np.abs(b).max() * np.linalg.cond(a))
    inv = np.empty((n, n))
    assert _inverse_small(a, inv)
    np.testing.assert_allclose(inv, np.linalg.inv(a), rtol=1e-6 * np.linalg.cond(a), atol=0)


def test_singular_and_non_finite_systems_are_refused():
    x = np.zeros(2)
    assert not _solve_small(np.array([[1.0, 2.0], [2.0, 4.0]]), np.array([1.0, 1.0]), x)
    assert not _solve_small(np.array([[np.nan, 0.0], [0.0, 1.0]]), np.array([1.0, 1.0]), x)
    assert not _inverse_small(np.zeros((3, 3)), np.empty((3, 3)))
