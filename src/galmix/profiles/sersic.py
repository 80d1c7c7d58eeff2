"""Gaussian-mixture approximations of Sersic profiles, smooth in the index n.

The tables in ``galmix/profiles/data/sersic_gmix_k*.npz`` are made by
``scripts/make_sersic_tables.py`` (our own least-squares fits; see
``docs/profiles.md`` for the accuracy per n). Each stores Chebyshev
coefficients, in ``x = 2 (ln n - ln n_min)/(ln n_max - ln n_min) - 1``, of
the un-normalised log-weights and of the log-variances of ``K`` round
Gaussians. Weights are the softmax of the log-weights, so they are positive,
sum to one and, like the variances, are analytic functions of ``n``: a fitter
moving in ``n`` sees no kinks.

``K = 10`` (default) and ``K = 6`` are fitted to the profile out to
``8 * 2.5**(n-1)`` half-light radii and put the far wings of ``n >= 3``
profiles inside ~10 hlr. ``K = 14`` is the "wide" table: fitted to the profile
and to the enclosed-flux curve ``L(<R)`` out to 100 hlr (largest sigma ~22 hlr
at n = 6), so its total flux and half-light radius are those of the
untruncated profile. ``K = 18`` is the "ladder" table made for fitting
(``galmix.fit``'s default): widths on a smooth cubic ladder in the component
index, fitted to the profile between 0.003 and 30 hlr (the radii a fit sees)
and to ``L(<R)`` out to 100 hlr.
"""

from __future__ import annotations

import math
from functools import cache, lru_cache
from importlib import resources

import numpy as np

from galmix._exact import matvec
from galmix.errors import GalmixValueError

__all__ = [
    "DEFAULT_NGAUSS",
    "SERSIC_N_RANGE",
    "available_ngauss",
    "sersic_mixture",
    "sersic_mixture_deriv",
]

DEFAULT_NGAUSS = 10
SERSIC_N_RANGE = (0.5, 6.5)


@cache
def _table(ngauss: int) -> tuple[np.ndarray, np.ndarray, float, float]:
    name = f"sersic_gmix_k{ngauss}.npz"
    ref = resources.files("galmix.profiles").joinpath("data", name)
    if not ref.is_file():
        raise GalmixValueError(
            f"ngauss={ngauss!r} has no Sersic table; available: {available_ngauss()}"
        )
    with resources.as_file(ref) as path, np.load(path) as z:
        cw = np.array(z["coef_logw"], dtype=np.float64)
        cv = np.array(z["coef_logv"], dtype=np.float64)
        nmin, nmax = float(z["nmin"]), float(z["nmax"])
    cw.setflags(write=False)
    cv.setflags(write=False)
    return cw, cv, nmin, nmax


def available_ngauss() -> list[int]:
    """Component counts for which a Sersic table ships.

    Examples
    --------
    >>> 10 in available_ngauss()
    True
    """
    out = []
    for ref in resources.files("galmix.profiles").joinpath("data").iterdir():
        name = ref.name
        if name.startswith("sersic_gmix_k") and name.endswith(".npz"):
            out.append(int(name[len("sersic_gmix_k") : -4]))
    return sorted(out)


def _check_n(n: float, nmin: float, nmax: float) -> float:
    try:
        n = float(n)
    except (TypeError, ValueError):
        raise GalmixValueError(f"Sersic index n must be a number, got {n!r}") from None
    lo, hi = nmin, nmax
    if not (math.isfinite(n) and lo <= n <= hi):
        raise GalmixValueError(f"Sersic index n must be in [{lo}, {hi}], got {n!r}")
    return n


def _cheb_basis(x: float, deg1: int, deriv: bool) -> tuple[np.ndarray, np.ndarray | None]:
    """``T_d(x)`` (and ``T_d'(x)``) for d < deg1, via ``T_d(cos t) = cos(d t)``."""
    d = np.arange(deg1, dtype=np.float64)
    theta = math.acos(min(1.0, max(-1.0, x)))
    # scalar libm calls: numpy's SIMD transcendental loops can round differently
    # from their scalar tails, so results could depend on array alignment
    t = np.array([math.cos(k * theta) for k in range(deg1)])
    if not deriv:
        return t, None
    st = math.sin(theta)
    if st > 1e-6:
        dt = np.array([k * math.sin(k * theta) / st for k in range(deg1)])
    else:  # endpoints: T_d'(+-1) = (+-1)^(d+1) d^2
        sign = 1.0 if x > 0 else -1.0
        dt = sign ** (d + 1) * d * d
    return t, dt


@lru_cache(maxsize=4096)
def _eval_cached(n: float, ngauss: int, deriv: bool):
    cw, cv, nmin, nmax = _table(ngauss)
    n = _check_n(n, nmin, nmax)
    span = math.log(nmax) - math.log(nmin)
    x = 2.0 * (math.log(n) - math.log(nmin)) / span - 1.0
    t, dt = _cheb_basis(x, cw.shape[1], deriv)
    logw = matvec(cw, t)
    logv = matvec(cv, t)
    lmax = float(logw.max())
    w = np.array([math.exp(lw - lmax) for lw in logw])
    # exactly rounded sum: numpy's SIMD reduction of >= 16 values can depend on
    # the array's memory alignment, i.e. differ in the last bit between processes
    w /= math.fsum(w)
    v = np.array([math.exp(lv) for lv in logv])
    if not deriv:
        return w, v
    dxdn = 2.0 / (span * n)
    dlogw = matvec(cw, dt) * dxdn
    dlogv = matvec(cv, dt) * dxdn
    dw = w * (dlogw - math.fsum(w * dlogw))
    dv = v * dlogv
    return w, v, dw, dv


def _eval(n: float, ngauss: int, deriv: bool):
    try:
        n = float(n)
    except (TypeError, ValueError):
        raise GalmixValueError(f"Sersic index n must be a number, got {n!r}") from None
    # memoised (pure function of its arguments); hand out copies
    return tuple(a.copy() for a in _eval_cached(n, int(ngauss), deriv))


def sersic_mixture(n: float, ngauss: int = DEFAULT_NGAUSS) -> tuple[np.ndarray, np.ndarray]:
    """Round Gaussian mixture of a unit-flux, unit-half-light-radius Sersic profile.

    Parameters
    ----------
    n : float
        Sersic index, ``0.5 <= n <= 6.5`` (:data:`SERSIC_N_RANGE`).
    ngauss : int, optional
        Number of components (see :func:`available_ngauss`).

    Returns
    -------
    weights : ndarray (K,)
        Component fluxes, positive, summing to 1.
    variances : ndarray (K,)
        ``sigma^2`` of each round component in units of ``half_light_radius^2``.

    Raises
    ------
    GalmixValueError
        If ``n`` is out of range or no table exists for ``ngauss``.

    Examples
    --------
    >>> w, v = sersic_mixture(1.0)
    >>> round(float(w.sum()), 12), len(v)
    (1.0, 10)
    """
    return _eval(n, int(ngauss), False)


def sersic_mixture_deriv(n: float, ngauss: int = DEFAULT_NGAUSS) -> tuple[np.ndarray, np.ndarray]:
    """Derivatives with respect to ``n`` of :func:`sersic_mixture`'s weights and variances.

    Returns
    -------
    dweights_dn, dvariances_dn : ndarray (K,)
        ``dweights_dn`` sums to zero (the total flux does not depend on n).

    Examples
    --------
    >>> dw, dv = sersic_mixture_deriv(2.0)
    >>> abs(float(dw.sum())) < 1e-12
    True
    """
    _w, _v, dw, dv = _eval(n, int(ngauss), True)
    return dw, dv
