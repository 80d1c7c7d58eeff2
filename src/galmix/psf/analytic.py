"""Gaussian mixtures of analytic PSFs (Moffat, Airy), fitted on first use."""

from __future__ import annotations

import math
from functools import lru_cache

import numpy as np
from scipy.optimize import least_squares
from scipy.special import j0, j1

from galmix._exact import snap_significant
from galmix.errors import GalmixTypeError, GalmixValueError
from galmix.profiles import GMix

__all__ = ["airy_gmix", "fit_radial_mixture", "kolmogorov_gmix", "moffat_gmix"]


def _positive(value: float, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.number)):
        raise GalmixTypeError(f"{name} must be a real number, got {type(value).__name__}")
    value = float(value)
    if not (math.isfinite(value) and value > 0):
        raise GalmixValueError(f"{name} must be positive and finite, got {value!r}")
    return value


def fit_radial_mixture(
    profile, rmin: float, rmax: float, ngauss: int, nr: int = 400
) -> tuple[np.ndarray, np.ndarray]:
    """Least-squares round Gaussian mixture of a unit-flux radial profile.

    Minimises the area-weighted (2-d L2) difference between ``profile(r)``
    (surface brightness of a unit-flux round profile) and the mixture, on a
    log-uniform radius grid in ``[rmin, rmax]``. Weights are positive and sum
    to one (a softmax), variances positive.

    Returns
    -------
    weights, variances : ndarray (ngauss,)
        Sorted by increasing variance.

    Examples
    --------
    >>> w, v = fit_radial_mixture(lambda r: np.exp(-r**2 / 2) / (2 * np.pi), 1e-3, 10.0, 1)
    >>> round(float(v[0]), 6)
    1.0
    """
    lnr = np.linspace(math.log(rmin), math.log(rmax), nr)
    r = np.exp(lnr)
    wr = r * math.sqrt(lnr[1] - lnr[0])
    f = profile(r)
    norm = 1.0 / math.sqrt(float(np.sum((f * wr) ** 2)))
    r2 = r * r

    def comps(p):
        lw, lv = p[:ngauss], np.clip(p[ngauss:], -40.0, 40.0)
        w = np.exp(lw - lw.max())
        w /= w.sum()
        v = np.exp(lv)
        g = (w / (2 * math.pi * v))[None, :] * np.exp(-0.5 * r2[:, None] / v[None, :])
        return w, v, g

    def fun(p):
        g = comps(p)[2]
        return (g.sum(axis=1) - f) * wr * norm

    def jac(p):
        w, v, g = comps(p)
        gs = g.sum(axis=1)
        s = (wr * norm)[:, None]
        dw = (g - w[None, :] * gs[:, None]) * s
        dv = g * (0.5 * r2[:, None] / v[None, :] - 1.0) * s
        return np.hstack([dw, dv])

    # initial guess: log-spaced widths spanning the profile's half-light scale
    cum = np.cumsum(f * r2) * (lnr[1] - lnr[0]) * 2 * math.pi
    hlr = float(np.interp(0.5, cum / cum[-1], r))
    sig0 = np.geomspace(0.3, 3.0, ngauss) * hlr if ngauss > 1 else np.array([hlr / 1.1774])
    p0 = np.concatenate([np.zeros(ngauss), 2 * np.log(sig0)])
    sol = least_squares(fun, p0, jac=jac, method="lm", xtol=1e-12, ftol=1e-12, max_nfev=5000)
    w, v, _ = comps(sol.x)
    order = np.argsort(v)
    # the fit's last bits can differ between processes (numpy/BLAS arithmetic):
    # keep 12 significant digits so every process gets the same mixture
    w = snap_significant(w[order])
    w = w / math.fsum(w)
    return w, snap_significant(v[order])


@lru_cache(maxsize=256)
def _moffat_unit(beta: float, ngauss: int) -> tuple[np.ndarray, np.ndarray]:
    # unit FWHM: alpha = 1 / (2 sqrt(2^(1/beta) - 1))
    alpha = 0.5 / math.sqrt(2.0 ** (1.0 / beta) - 1.0)
    i0 = (beta - 1.0) / (math.pi * alpha * alpha)

    def prof(r):
        return i0 * (1.0 + (r / alpha) ** 2) ** (-beta)

    rmax = 40.0 if beta > 2 else 200.0
    return fit_radial_mixture(prof, 1e-3, rmax, ngauss)


def moffat_gmix(fwhm: float, beta: float, ngauss: int = 5, flux: float = 1.0) -> GMix:
    """Gaussian mixture of a round Moffat PSF ``I ~ (1 + (r/alpha)^2)^-beta``.

    Parameters
    ----------
    fwhm : float
        Full width at half maximum (arcsec).
    beta : float
        Moffat index, ``beta > 1.1`` (the flux diverges at 1).
    ngauss : int
        Number of components (1-10).
    flux : float
        Total flux.

    Returns
    -------
    GMix
        Round mixture centred on (0, 0); shear it with ``.shear(g1, g2)``.

    Examples
    --------
    >>> psf = moffat_gmix(0.8, 3.5)
    >>> len(psf), round(psf.flux, 12)
    (5, 1.0)
    """
    fwhm = _positive(fwhm, "fwhm")
    beta = _positive(beta, "beta")
    if beta <= 1.1:
        raise GalmixValueError(f"beta must be > 1.1 (finite flux), got {beta!r}")
    ngauss = int(ngauss)
    if not 1 <= ngauss <= 10:
        raise GalmixValueError(f"ngauss must be in 1..10, got {ngauss!r}")
    w, v = _moffat_unit(round(beta, 9), ngauss)
    return _round_gmix(w, v * fwhm * fwhm, flux)


@lru_cache(maxsize=64)
def _airy_unit(obscuration: float, ngauss: int) -> tuple[np.ndarray, np.ndarray]:
    eps = obscuration
    amp = math.pi / (4.0 * (1.0 - eps * eps))

    def prof(r):
        x = math.pi * np.maximum(r, 1e-12)
        a = 2 * j1(x) / x
        if eps > 0:
            a = a - eps * eps * 2 * j1(eps * x) / (eps * x)
        return amp * a * a

    return fit_radial_mixture(prof, 1e-3, 30.0, ngauss, nr=1200)


def airy_gmix(
    lam_over_diam: float, obscuration: float = 0.0, ngauss: int = 4, flux: float = 1.0
) -> GMix:
    """Airy-like Gaussian mixture: a positive-weight fit to the Airy pattern.

    The fit follows the core and the mean fall-off of the rings (a
    positive mixture cannot make the dark rings).

    Parameters
    ----------
    lam_over_diam : float
        ``lambda / D`` in arcsec.
    obscuration : float
        Linear central obscuration fraction, ``0 <= obscuration < 1``.

    Examples
    --------
    >>> psf = airy_gmix(0.1)
    >>> round(psf.flux, 12)
    1.0
    """
    lod = _positive(lam_over_diam, "lam_over_diam")
    eps = float(obscuration)
    if not (0.0 <= eps < 1.0):
        raise GalmixValueError(f"obscuration must be in [0, 1), got {obscuration!r}")
    ngauss = int(ngauss)
    if not 1 <= ngauss <= 10:
        raise GalmixValueError(f"ngauss must be in 1..10, got {ngauss!r}")
    w, v = _airy_unit(round(eps, 9), ngauss)
    return _round_gmix(w, v * lod * lod, flux)


@lru_cache(maxsize=16)
def _kolmogorov_unit(ngauss: int) -> tuple[np.ndarray, np.ndarray]:
    # radial profile of the MTF exp(-k^(5/3)) by a direct Hankel integral
    # (the MTF decays fast, so a fine uniform k grid to k = 20 is exact to
    # double precision), then scaled to unit FWHM
    k = np.linspace(0.0, 20.0, 8001)
    wk = np.exp(-(k ** (5.0 / 3.0))) * k * (k[1] - k[0]) / (2.0 * math.pi)

    def prof0(r):
        r = np.atleast_1d(np.asarray(r, dtype=np.float64))
        out = np.empty_like(r)
        for i in range(0, r.size, 256):
            out[i : i + 256] = j0(np.outer(r[i : i + 256], k)) @ wk
        return out

    rr = np.linspace(0.0, 3.0, 3001)
    pr = prof0(rr)
    fwhm0 = 2.0 * float(np.interp(0.5 * pr[0], pr[::-1], rr[::-1]))
    return fit_radial_mixture(lambda r: prof0(r * fwhm0) * fwhm0**2, 1e-3, 20.0, ngauss)


def kolmogorov_gmix(fwhm: float, ngauss: int = 5, flux: float = 1.0) -> GMix:
    """Gaussian mixture of a Kolmogorov (atmospheric, long-exposure) PSF.

    The profile is the Hankel transform of the Kolmogorov MTF
    ``exp(-(k/k0)^(5/3))``, fitted on first use (about 0.3 s) and cached.

    Parameters
    ----------
    fwhm : float
        Full width at half maximum (arcsec).
    ngauss : int
        Number of components (1-10); 5 gives about 1e-4 of the peak.

    Examples
    --------
    >>> psf = kolmogorov_gmix(0.7)
    >>> len(psf), round(psf.flux, 12)
    (5, 1.0)
    """
    fwhm = _positive(fwhm, "fwhm")
    ngauss = int(ngauss)
    if not 1 <= ngauss <= 10:
        raise GalmixValueError(f"ngauss must be in 1..10, got {ngauss!r}")
    w, v = _kolmogorov_unit(ngauss)
    return _round_gmix(w, v * fwhm * fwhm, flux)


def _round_gmix(w: np.ndarray, v: np.ndarray, flux: float) -> GMix:
    d = np.zeros((len(w), 6))
    d[:, 0] = float(flux) * w
    d[:, 3] = v
    d[:, 5] = v
    return GMix(d)
