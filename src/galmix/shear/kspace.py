"""Fourier transforms of pixel images at arbitrary frequencies (internal).

:class:`KSpaceImage` holds the padded, deapodised spectrum of one or more
real images of the same shape and centre and evaluates their
discrete-time Fourier transform *relative to the centre*,
``F_c(k) = sum_n f[n] exp(-i k.(n - c))``, at any pixel-frame frequencies
``k = (kx, ky)`` (radians per pixel). This is the exact transform of the
pixel samples (to the ES-kernel accuracy), so no real-space interpolant
and no k-space interpolation error enter metacalibration.
"""

from __future__ import annotations

import math
from functools import lru_cache

import numpy as np
import scipy.fft

from galmix.shear import _kspace_nb as nb

__all__ = ["KSpaceImage", "box_kvalue", "output_frequencies"]

#: kernel width (grid points) and ES shape for a padding factor of 2;
#: relative accuracy ~1e-7
ES_WIDTH = 7
ES_BETA = 2.30 * ES_WIDTH


@lru_cache(maxsize=64)
def _deapodisation(n: int, m: int, offset: int) -> np.ndarray:
    """``1 / phihat(p)`` for pixel positions ``p = i - offset``, i in [0, n).

    Pure function of its arguments (cached only to save time).
    """
    half = 0.5 * ES_WIDTH
    nodes, weights = np.polynomial.legendre.leggauss(200)
    z = nodes * half
    phi = np.exp(ES_BETA * (np.sqrt(np.clip(1.0 - (z / half) ** 2, 0.0, None)) - 1.0))
    p = np.arange(n) - offset
    phihat = (weights * half * phi) @ np.cos(2.0 * math.pi * np.outer(z, p) / m)
    out = 1.0 / phihat
    out.setflags(write=False)
    return out


def _es(z: np.ndarray) -> np.ndarray:
    half = 0.5 * ES_WIDTH
    t = np.clip(1.0 - (z / half) ** 2, 0.0, None)
    return np.where(t > 0, np.exp(ES_BETA * (np.sqrt(t) - 1.0)), 0.0)


def _horner_coefficients(degree: int = ES_WIDTH + 4) -> np.ndarray:
    """Polynomial fits of the ES weights vs the fractional offset (see ``_kspace_nb``)."""
    half = 0.5 * ES_WIDTH
    x = np.cos(np.linspace(0.0, math.pi, 200))  # Chebyshev-like nodes in [-1, 1]
    f = 0.5 * (x + 1.0)
    coef = np.empty((ES_WIDTH, degree + 1))
    for a in range(ES_WIDTH):
        vals = _es(half - a - f)
        coef[a] = np.polynomial.Polynomial.fit(x, vals, degree, domain=[-1, 1]).coef[::-1]
    return coef


_COEF = _horner_coefficients()
_COEF.setflags(write=False)


def _padded_size(n: int) -> int:
    return scipy.fft.next_fast_len(2 * n, real=True)


class KSpaceImage:
    """Evaluate the centred DTFT of real images at arbitrary frequencies.

    Parameters
    ----------
    images : array (ny, nx) or (ns, ny, nx)
        Real images sharing shape and centre.
    center : tuple of float
        ``(cx, cy)``: the pixel position the phases refer to (usually the
        Jacobian origin).

    Examples
    --------
    >>> import numpy as np
    >>> img = np.random.default_rng(1).normal(size=(8, 9))
    >>> ks = KSpaceImage(img, (4.0, 3.5))
    >>> k = np.array([[0.3], [-1.1]])
    >>> y, x = np.mgrid[0:8, 0:9]
    >>> direct = np.sum(img * np.exp(-1j * (0.3 * (x - 4.0) - 1.1 * (y - 3.5))))
    >>> bool(abs(ks.evaluate(k)[0, 0] - direct) < 1e-5 * np.abs(img).sum())
    True
    """

    __slots__ = ("cx", "cy", "mx", "my", "ns", "ox", "oy", "shape", "spec")

    def __init__(self, images: np.ndarray, center: tuple[float, float]) -> None:
        imgs = np.asarray(images, dtype=np.float64)
        if imgs.ndim == 2:
            imgs = imgs[None]
        ns, ny, nx = imgs.shape
        self.ns = ns
        self.shape = (ny, nx)
        self.cx, self.cy = float(center[0]), float(center[1])
        # pixel positions are taken relative to the stamp's middle pixel (so
        # they stay within the kernel's accurate range, |p| <= n/2); the
        # phase to the requested centre is applied analytically
        ox = nx // 2
        oy = ny // 2
        self.ox, self.oy = ox, oy
        mx, my = _padded_size(nx), _padded_size(ny)
        self.mx, self.my = mx, my
        dx = _deapodisation(nx, mx, ox)
        dy = _deapodisation(ny, my, oy)
        buf = np.zeros((ns, my, mx))
        iy = (np.arange(ny) - oy) % my
        ix = (np.arange(nx) - ox) % mx
        buf[:, iy[:, None], ix[None, :]] = imgs * (dy[:, None] * dx[None, :])
        self.spec = scipy.fft.rfft2(buf, axes=(-2, -1), workers=1)

    def evaluate(self, k: np.ndarray) -> np.ndarray:
        """Centred transforms at frequencies ``k`` (shape (2, npts), rad/pixel).

        Returns a complex array ``(ns, npts)``.
        """
        kx = np.ascontiguousarray(k[0], dtype=np.float64)
        ky = np.ascontiguousarray(k[1], dtype=np.float64)
        out = np.empty((self.ns, kx.shape[0]), dtype=np.complex128)
        nb.es_interp(
            self.spec,
            self.mx,
            kx * (self.mx / (2.0 * math.pi)),
            ky * (self.my / (2.0 * math.pi)),
            _COEF,
            out,
        )
        out *= np.exp(1j * (kx * (self.cx - self.ox) + ky * (self.cy - self.oy)))
        return out


def output_frequencies(shape: tuple[int, int]) -> np.ndarray:
    """Pixel-frame frequencies of the rfft2 grid of ``shape``: array (2, ny, nx//2+1)."""
    ny, nx = shape
    ky = 2.0 * math.pi * np.fft.fftfreq(ny)
    kx = 2.0 * math.pi * np.fft.rfftfreq(nx)
    kk = np.empty((2, ny, nx // 2 + 1))
    kk[0] = kx[None, :]
    kk[1] = ky[:, None]
    return kk


def box_kvalue(kx: np.ndarray, ky: np.ndarray, pixel: np.ndarray | None = None) -> np.ndarray:
    """Transform of the (unit-integral) sensitive pixel area in its own frame.

    ``pixel`` is ``PixelResponse.as_array()`` = ``[dx, dy, side]``; ``None``
    means the full pixel. Pixel values are ``(f * box)(n)``, so the
    transform carries the phase ``exp(+i k.d)`` of the sensitive-area offset.
    """
    if pixel is None:
        return np.sinc(kx / (2.0 * math.pi)) * np.sinc(ky / (2.0 * math.pi))
    dx, dy, side = float(pixel[0]), float(pixel[1]), float(pixel[2])
    val = np.sinc(side * kx / (2.0 * math.pi)) * np.sinc(side * ky / (2.0 * math.pi))
    if dx != 0.0 or dy != 0.0:
        return val * np.exp(1j * (kx * dx + ky * dy))
    return val


def centred_dft(images: np.ndarray, center: tuple[float, float]) -> np.ndarray:
    """Exact centred DTFT on the image's own rfft2 grid (no padding).

    Returns ``(ns, ny, nx//2+1)``; the values equal ``KSpaceImage.evaluate``
    at :func:`output_frequencies` exactly.
    """
    imgs = np.asarray(images, dtype=np.float64)
    if imgs.ndim == 2:
        imgs = imgs[None]
    ny, nx = imgs.shape[-2:]
    spec = scipy.fft.rfft2(imgs, axes=(-2, -1), workers=1)
    kk = output_frequencies((ny, nx))
    spec *= np.exp(1j * (kk[0] * center[0] + kk[1] * center[1]))
    return spec
