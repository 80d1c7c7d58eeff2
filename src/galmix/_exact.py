"""Small matrix products with bit-reproducible results.

numpy's ``@`` calls BLAS, whose kernels may take different code paths for
different memory alignments or thread counts, so the same product can differ
in the last bit between processes. Values that feed fits (Sersic tables,
pixel response, profile transforms) go through these exactly rounded
products instead (``math.fsum``), so every process, executor and cache state
gets the same bits. For small arrays only.

Iterative solutions (astropy's ``all_world2pix``) can also differ in the last
bits between processes; :func:`snap_pixels` rounds such pixel coordinates to
1e-7 pixel, far below any astrometric significance, so nearly equal results
become equal.
"""

from __future__ import annotations

import math

import numpy as np

__all__ = ["matmul", "matvec", "snap_pixels"]


def matvec(a: np.ndarray, x: np.ndarray) -> np.ndarray:
    """``a @ x`` for a 2-d ``a`` and 1-d ``x``, each element exactly rounded."""
    a = np.asarray(a, dtype=np.float64)
    x = np.asarray(x, dtype=np.float64)
    return np.array([math.fsum(row * x) for row in a], dtype=np.float64)


def matmul(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``a @ b`` for 2-d ``a`` (n, k) and ``b`` (k, m), each element exactly rounded."""
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    bt = np.ascontiguousarray(b.T)
    return np.array([[math.fsum(r * c) for c in bt] for r in a], dtype=np.float64).reshape(
        a.shape[0], b.shape[1]
    )


#: decimals of a pixel kept by :func:`snap_pixels`
PIXEL_DECIMALS = 7


def snap_pixels(a: np.ndarray | float) -> np.ndarray:
    """Round pixel coordinates to ``1e-7`` pixel (see the module docstring)."""
    return np.round(np.asarray(a, dtype=np.float64), PIXEL_DECIMALS)


#: significant digits kept by :func:`snap_significant`
SIGNIFICANT_DIGITS = 12


def snap_significant(a: np.ndarray, digits: int = SIGNIFICANT_DIGITS) -> np.ndarray:
    """Round every value to ``digits`` significant decimal digits.

    For results of iterative numerical fits done at run time (scipy least
    squares on numpy/BLAS arithmetic), whose last bits can differ between
    processes: rounded to 12 digits they agree (unless a value lies within
    ~1e-16 of a rounding boundary), far below any accuracy that matters.

    Examples
    --------
    >>> float(snap_significant(np.array([1.0 / 3.0]))[0])
    0.333333333333
    """
    arr = np.asarray(a, dtype=np.float64)
    flat = [float(f"{x:.{digits}g}") if math.isfinite(x) else x for x in arr.ravel().tolist()]
    return np.array(flat, dtype=np.float64).reshape(arr.shape)
