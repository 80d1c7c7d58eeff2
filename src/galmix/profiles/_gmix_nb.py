"""Numba kernels for Gaussian-mixture algebra on plain (K, 6) float64 arrays."""

from __future__ import annotations

import numpy as np
from numba import njit


@njit(cache=True)
def transform_nb(d, a):
    """``p -> A p``, ``C -> A C A^T`` for every component of ``d`` (K, 6)."""
    k = d.shape[0]
    out = np.empty((k, 6))
    a00, a01, a10, a11 = a[0, 0], a[0, 1], a[1, 0], a[1, 1]
    for i in range(k):
        out[i, 0] = d[i, 0]
        out[i, 1] = a00 * d[i, 1] + a01 * d[i, 2]
        out[i, 2] = a10 * d[i, 1] + a11 * d[i, 2]
        cuu, cuv, cvv = d[i, 3], d[i, 4], d[i, 5]
        r00 = a00 * cuu + a01 * cuv
        r01 = a00 * cuv + a01 * cvv
        r10 = a10 * cuu + a11 * cuv
        r11 = a10 * cuv + a11 * cvv
        out[i, 3] = r00 * a00 + r01 * a01
        out[i, 4] = r00 * a10 + r01 * a11
        out[i, 5] = r10 * a10 + r11 * a11
    return out


@njit(cache=True)
def convolve_nb(a, b):
    """All pairwise convolutions of (K, 6) and (L, 6) mixtures -> (K*L, 6)."""
    k, l = a.shape[0], b.shape[0]
    out = np.empty((k * l, 6))
    for i in range(k):
        for j in range(l):
            r = i * l + j
            out[r, 0] = a[i, 0] * b[j, 0]
            for c in range(1, 6):
                out[r, c] = a[i, c] + b[j, c]
    return out
