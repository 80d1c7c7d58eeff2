"""Gaussian-weighted and adaptive second moments in world coordinates."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from galmix.errors import FLAGS, GalmixTypeError, GalmixValueError
from galmix.image import Observation
from galmix.moments import _moments_nb as nb

__all__ = ["MomentsResult", "adaptive_moments", "gauss_moments"]

_FWHM_TO_SIGMA = 1.0 / (2.0 * math.sqrt(2.0 * math.log(2.0)))


@dataclass(frozen=True, slots=True)
class MomentsResult:
    """Result of :func:`gauss_moments` or :func:`adaptive_moments`.

    All quantities are in world coordinates (arcsec). ``flags == 0`` means
    success; otherwise bits of :data:`galmix.errors.FLAGS` say why and the
    shape entries may be NaN.

    Attributes
    ----------
    flags : int
        Flag word (0 = ok).
    flux, flux_err : float
        Matched-filter flux ``sum(w I) sum(w) / sum(w^2)`` (exact for an
        object with the weight's profile) and its error from the weight map.
    T, T_err : float
        Size ``Iuu + Ivv`` (arcsec^2). For :func:`gauss_moments` these are the
        *weighted* moments of the image; for :func:`adaptive_moments` the
        moments of the matched Gaussian (the object's own moments for a
        Gaussian object).
    e1, e2, e1_err, e2_err : float
        Distortion ellipticity ``(Iuu - Ivv)/T``, ``2 Iuv/T``.
    s2n : float
        Matched-filter signal-to-noise ``sum(w I) / sqrt(sum(w^2 var))``.
    u0, v0 : float
        Centroid (arcsec): the weighted centroid for :func:`gauss_moments`,
        the converged weight centre for :func:`adaptive_moments`.
    Iuu, Iuv, Ivv : float
        The second-moment matrix behind ``T``, ``e1``, ``e2``.
    niter : int
        Iterations used (1 for :func:`gauss_moments`).
    npix : int
        Pixels that contributed.
    """

    flags: int
    flux: float
    flux_err: float
    T: float
    T_err: float
    e1: float
    e2: float
    e1_err: float
    e2_err: float
    s2n: float
    u0: float
    v0: float
    Iuu: float
    Iuv: float
    Ivv: float
    niter: int = 1
    npix: int = 0

    @property
    def ok(self) -> bool:
        """True when ``flags == 0``."""
        return self.flags == 0

    @property
    def e(self) -> tuple[float, float]:
        """``(e1, e2)``."""
        return (self.e1, self.e2)

    def as_dict(self) -> dict[str, Any]:
        """The result as a plain ``dict``."""
        return asdict(self)


def _check_obs(obs: Any) -> Observation:
    if not isinstance(obs, Observation):
        raise GalmixTypeError(f"obs must be a galmix Observation, got {type(obs).__name__}")
    return obs


def _from_out(out: np.ndarray, uc: float, vc: float, niter: int = 1) -> MomentsResult:
    flags = int(out[0])
    nan = float("nan")
    shape_ok = flags == 0
    return MomentsResult(
        flags=flags,
        flux=float(out[1]) if out[16] > 0 else nan,
        flux_err=float(out[2]) if out[16] > 0 else nan,
        T=float(out[3]) if shape_ok else nan,
        T_err=float(out[4]) if shape_ok else nan,
        e1=float(out[5]) if shape_ok else nan,
        e2=float(out[6]) if shape_ok else nan,
        e1_err=float(out[7]) if shape_ok else nan,
        e2_err=float(out[8]) if shape_ok else nan,
        s2n=float(out[9]) if out[16] > 0 else nan,
        u0=uc + float(out[10]) if shape_ok else nan,
        v0=vc + float(out[11]) if shape_ok else nan,
        Iuu=float(out[12]) if shape_ok else nan,
        Iuv=float(out[13]) if shape_ok else nan,
        Ivv=float(out[14]) if shape_ok else nan,
        niter=niter,
        npix=int(out[16]),
    )


def gauss_moments(obs: Observation, fwhm: float) -> MomentsResult:
    """Second moments with a fixed round Gaussian weight (world coordinates).

    The weight ``exp(-(u^2 + v^2) / (2 sigma^2))`` with
    ``sigma = fwhm / 2.3548`` is centred on the Jacobian origin (world
    ``(0, 0)``) and evaluated at every pixel centre through the full
    Jacobian, so sheared, rotated, flipped and non-square pixels are
    handled exactly. Moments are taken about the weight centre; they are
    linear in the pixel values, which is what metacalibration needs.
    Pixels with zero weight (masked) are skipped.

    Parameters
    ----------
    obs : Observation
        The image; its weight map (inverse variance) gives the errors and S/N.
    fwhm : float
        FWHM of the weight in arcsec.

    Returns
    -------
    MomentsResult
        ``flags`` has ``NO_FLUX`` when ``sum(w I) <= 0``,
        ``NONPOSITIVE_MOMENTS`` when the moment matrix is not positive
        definite and ``NO_WEIGHT`` when no pixel contributes.

    Raises
    ------
    GalmixTypeError
        If ``obs`` is not an :class:`~galmix.image.Observation`.
    GalmixValueError
        If ``fwhm`` is not a positive finite number.

    Examples
    --------
    >>> import numpy as np
    >>> from galmix import Jacobian, Observation
    >>> y, x = np.mgrid[0:33, 0:33] - 16.0
    >>> img = np.exp(-0.5 * (x**2 + y**2) / 2.0**2)
    >>> res = gauss_moments(Observation(img, jacobian=Jacobian.from_scale(0.2, 16, 16)), 1.0)
    >>> res.flags, round(res.e1, 12)
    (0, 0.0)
    """
    obs = _check_obs(obs)
    fwhm = float(fwhm)
    if not math.isfinite(fwhm) or fwhm <= 0:
        raise GalmixValueError(f"fwhm must be a positive finite number (arcsec), got {fwhm!r}")
    sigma2 = (fwhm * _FWHM_TO_SIGMA) ** 2
    out = np.empty(nb.NOUT)
    nb.weighted_moments(
        obs.image, obs.weight, obs.jacobian.as_array(), 0.0, 0.0, sigma2, 0.0, sigma2, out
    )
    return _from_out(out, 0.0, 0.0)


def _gauss_moments_fast(image: np.ndarray, weight: np.ndarray, jac: np.ndarray, sigma2: float):
    """Unvalidated raw kernel output (used by metacal hot loops)."""
    out = np.empty(nb.NOUT)
    nb.weighted_moments(image, weight, jac, 0.0, 0.0, sigma2, 0.0, sigma2, out)
    return out


def adaptive_moments(
    obs: Observation,
    guess_T: float | None = None,
    maxiter: int = 200,
    tol: float = 1e-9,
    center: tuple[float, float] | None = None,
) -> MomentsResult:
    """Adaptive (iterated elliptical Gaussian weight) moments in world coordinates.

    The weight's centre and covariance are iterated until the weight is the
    Gaussian that reproduces its own weighted moments; for a Gaussian
    object the result is the object's centroid and covariance exactly
    (``T``, ``e1``, ``e2`` of the object). Each update solves for the
    Gaussian that would produce the measured weighted moments, so Gaussian
    objects converge in a few iterations.

    Parameters
    ----------
    obs : Observation
        The image with its Jacobian and weight map.
    guess_T : float, optional
        Starting ``T`` (arcsec^2) of the round weight; default
        ``4 * scale^2 + `` the unweighted size estimate from a wide Gaussian
        weight, which works for most stamps.
    maxiter : int
        Iteration limit; reaching it sets ``MAXITER | NOT_CONVERGED``.
    tol : float
        Convergence tolerance on ``T`` (relative), ``e1``, ``e2`` and the
        centre (relative to ``sqrt(T)``).
    center : tuple of float, optional
        Starting centre ``(u, v)`` in arcsec; default the Jacobian origin.

    Returns
    -------
    MomentsResult
        ``T``, ``e1``, ``e2`` of the matched Gaussian; ``u0``, ``v0`` its
        centre; ``flux`` the matched-filter flux; ``T_err`` twice the
        weighted-moment error. ``flags`` as for :func:`gauss_moments` plus
        ``NOT_CONVERGED`` / ``MAXITER``.

    Raises
    ------
    GalmixTypeError
        If ``obs`` is not an Observation.
    GalmixValueError
        For a non-positive ``guess_T``, ``maxiter < 1`` or ``tol <= 0``.

    Examples
    --------
    >>> import numpy as np
    >>> from galmix import Jacobian, Observation
    >>> y, x = np.mgrid[0:41, 0:41] - 20.0
    >>> img = np.exp(-0.5 * (x**2 / 9.0 + y**2 / 4.0))
    >>> res = adaptive_moments(Observation(img, jacobian=Jacobian.from_scale(1.0, 20, 20)))
    >>> res.flags, round(res.T, 6), round(res.e1, 6)
    (0, 13.0, 0.384615)
    """
    obs = _check_obs(obs)
    maxiter = int(maxiter)
    if maxiter < 1:
        raise GalmixValueError(f"maxiter must be >= 1, got {maxiter!r}")
    tol = float(tol)
    if not (math.isfinite(tol) and tol > 0):
        raise GalmixValueError(f"tol must be positive, got {tol!r}")
    jac = obs.jacobian.as_array()
    if guess_T is None:
        t0 = _default_guess_T(obs, jac)
    else:
        t0 = float(guess_T)
        if not (math.isfinite(t0) and t0 > 0):
            raise GalmixValueError(f"guess_T must be a positive finite number, got {guess_T!r}")
    uc, vc = (0.0, 0.0) if center is None else (float(center[0]), float(center[1]))
    out = np.empty(nb.NOUT)
    state = np.zeros(8)
    nb.adaptive_moments(
        obs.image, obs.weight, jac, uc, vc, t0 / 2, 0.0, t0 / 2, maxiter, tol, out, state
    )
    flags = int(out[0])
    niter = int(state[5])
    if flags == 0 and state[6] == 0:
        flags |= int(FLAGS.NOT_CONVERGED | FLAGS.MAXITER)
    nan = float("nan")
    if flags != 0:
        return MomentsResult(
            flags=flags,
            flux=float(out[1]) if out[16] > 0 else nan,
            flux_err=float(out[2]) if out[16] > 0 else nan,
            T=nan, T_err=nan, e1=nan, e2=nan, e1_err=nan, e2_err=nan,
            s2n=float(out[9]) if out[16] > 0 else nan,
            u0=nan, v0=nan, Iuu=nan, Iuv=nan, Ivv=nan,
            niter=niter, npix=int(out[16]),
        )  # fmt: skip
    cuu, cuv, cvv = float(state[2]), float(state[3]), float(state[4])
    t = cuu + cvv
    return MomentsResult(
        flags=0,
        flux=float(out[1]),
        flux_err=float(out[2]),
        T=t,
        T_err=2.0 * float(out[4]),
        e1=(cuu - cvv) / t,
        e2=2.0 * cuv / t,
        e1_err=float(out[7]),
        e2_err=float(out[8]),
        s2n=float(out[9]),
        u0=float(state[0]),
        v0=float(state[1]),
        Iuu=cuu,
        Iuv=cuv,
        Ivv=cvv,
        niter=niter,
        npix=int(out[16]),
    )


def _default_guess_T(obs: Observation, jac: np.ndarray) -> float:
    """A starting size: weighted T with a wide round weight, deweighted."""
    scale2 = abs(jac[0] * jac[3] - jac[1] * jac[2])
    ny, nx = obs.shape
    # wide weight: a quarter of the stamp's smaller side
    sig = 0.25 * min(ny, nx) * math.sqrt(scale2)
    sig2 = sig * sig
    out = np.empty(nb.NOUT)
    nb.weighted_moments(obs.image, obs.weight, jac, 0.0, 0.0, sig2, 0.0, sig2, out)
    t_min = 2.0 * scale2
    if out[0] != 0:
        return max(4.0 * scale2, t_min)
    mt = 0.5 * out[3]
    # Gaussian deweighting per axis: 1/c = 1/m - 1/w
    if mt < 0.95 * sig2:
        c = 1.0 / (1.0 / mt - 1.0 / sig2)
    else:
        c = 2.0 * mt
    return max(2.0 * c, t_min)
