"""Numba kernels for evaluating image Fourier transforms off the FFT grid.

The discrete-time Fourier transform ``F(k) = sum_n f[n] exp(-i k.n)`` of a
pixel image is evaluated at arbitrary frequencies the way a type-2
non-uniform FFT does it: the image is divided by the Fourier transform of
an "exponential of semicircle" (ES) kernel, zero-padded by a factor 2 and
FFT'd (in :mod:`galmix.shear.kspace`), and the padded spectrum is then
interpolated with the ES kernel here. Accuracy is about ``10^-(w-1)``
relative to the largest spectrum value for kernel width ``w``.

Spectra are stored in ``scipy.fft.rfft2`` layout ``(ns, my, mx//2 + 1)``;
negative ``kx`` use Hermitian symmetry, so the images must be real.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

# fast-math without reassociation: results stay bit-identical whatever the
# memory alignment, thread count or executor (determinism guarantee)
_FASTMATH = {"nnan", "ninf", "nsz", "arcp", "contract", "afn"}


@njit(cache=True, fastmath=_FASTMATH)
def es_interp(spec, mx, px, py, coef, out):
    """Interpolate ``ns`` rfft2 spectra at ``npts`` points (grid units).

    Parameters
    ----------
    spec : complex128 array (ns, my, mx//2 + 1)
        Padded spectra of deapodised images.
    mx : int
        Full padded size along x.
    px, py : float64 arrays (npts,)
        Point coordinates in grid units (``k * m / (2 pi)``), any real value
        (the spectrum is periodic).
    coef : float64 array (width, degree + 1)
        Power-series coefficients (highest first) of each of the ``width``
        kernel weights as a function of ``x = 2 f - 1``, where
        ``f = ceil(k - width/2) - (k - width/2)`` (see ``kspace``).
    out : complex128 array (ns, npts)
        Filled with the interpolated values.

    The full (Hermitian-completed) spectrum is first laid out as separate
    real and imaginary planes, periodically extended by ``width`` cells, so
    the interpolation loops run over contiguous memory without wrapping.
    """
    ns, my, mxh = spec.shape
    width, ncoef = coef.shape
    pad = width
    ey = my + 2 * pad
    ex = mx + 2 * pad
    ere = np.empty((ns, ey, ex))
    eim = np.empty((ns, ey, ex))
    for s in range(ns):
        for iy in range(ey):
            jy = (iy - pad) % my
            jyc = (my - jy) % my
            for ix in range(ex):
                jx = (ix - pad) % mx
                if jx < mxh:
                    v = spec[s, jy, jx]
                    ere[s, iy, ix] = v.real
                    eim[s, iy, ix] = v.imag
                else:
                    v = spec[s, jyc, mx - jx]
                    ere[s, iy, ix] = v.real
                    eim[s, iy, ix] = -v.imag
    half = 0.5 * width
    wx = np.empty(width)
    wy = np.empty(width)
    for p in range(px.shape[0]):
        kx = px[p]
        ky = py[p]
        jx0 = int(math.floor(kx - half)) + 1  # noqa: RUF046 (numba)
        jy0 = int(math.floor(ky - half)) + 1  # noqa: RUF046 (numba)
        xx = 2.0 * (jx0 - (kx - half)) - 1.0
        xy = 2.0 * (jy0 - (ky - half)) - 1.0
        for a in range(width):
            vx = coef[a, 0]
            vy = coef[a, 0]
            for c in range(1, ncoef):
                vx = vx * xx + coef[a, c]
                vy = vy * xy + coef[a, c]
            wx[a] = vx
            wy[a] = vy
        ix = (jx0 % mx) + pad
        iy = (jy0 % my) + pad
        for s in range(ns):
            re = 0.0
            im = 0.0
            for b in range(width):
                rr = 0.0
                ri = 0.0
                row = iy + b
                for a in range(width):
                    rr += wx[a] * ere[s, row, ix + a]
                    ri += wx[a] * eim[s, row, ix + a]
                re += wy[b] * rr
                im += wy[b] * ri
            out[s, p] = complex(re, im)
