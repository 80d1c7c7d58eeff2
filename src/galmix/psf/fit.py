"""Fit a Gaussian mixture to a PSF image (:func:`fit_psf`)."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy.optimize import least_squares

from galmix._exact import matmul
from galmix.errors import FLAGS, GalmixTypeError, GalmixValueError
from galmix.profiles import GMix
from galmix.render import _kernels

__all__ = ["PSFFitResult", "fit_psf"]

_PIXEL_JAC = np.array([1.0, 0.0, 0.0, 1.0, 0.0, 0.0])
_FULL_PIXEL = np.array([0.0, 0.0, 1.0])


@dataclass(frozen=True)
class PSFFitResult:
    """Result of :func:`fit_psf`.

    Attributes
    ----------
    flags : int
        0 on success, else :data:`galmix.errors.FLAGS` bits
        (``PSF_FIT_FAILED``, ``NONFINITE_PIXELS``, ``NO_FLUX``, ...).
    gmix : GMix or None
        The PSF mixture in world coordinates, normalised to unit flux and
        re-centred so that its centroid is at world (0, 0): convolving a
        galaxy with it neither rescales nor moves the galaxy. ``None`` when
        the fit could not start.
    flux : float
        Total flux of the fitted model in image units.
    centroid : (float, float)
        Fitted centroid ``(u, v)`` in arcsec, relative to the Jacobian origin.
    T, e1, e2 : float
        Unweighted moments of ``gmix`` (world coordinates).
    chi2, dof, nfev : float, int, int
        Goodness of fit and the number of model evaluations.
    model_image : ndarray or None
        The fitted model (with its flux and centroid) on the input grid.
    message : str
        Human-readable status.
    """

    flags: int
    gmix: GMix | None
    flux: float = float("nan")
    centroid: tuple[float, float] = (float("nan"), float("nan"))
    T: float = float("nan")
    e1: float = float("nan")
    e2: float = float("nan")
    chi2: float = float("nan")
    dof: int = 0
    nfev: int = 0
    model_image: np.ndarray | None = field(default=None, repr=False)
    message: str = ""

    @property
    def ok(self) -> bool:
        """True when ``flags == 0``."""
        return self.flags == 0


def _failed(flags: int, message: str, nfev: int = 0) -> PSFFitResult:
    return PSFFitResult(
        flags=int(flags | FLAGS.PSF_FIT_FAILED), gmix=None, nfev=nfev, message=message
    )


def _pixel_moments(image: np.ndarray, weight: np.ndarray) -> tuple[float, ...] | None:
    """Centroid and covariance (pixels) of the positive light, Gaussian-weighted."""
    ny, nx = image.shape
    y, x = np.mgrid[0:ny, 0:nx].astype(float)
    im = np.where(weight > 0, image, 0.0)
    pos = np.clip(im, 0.0, None)
    total = pos.sum()
    if not total > 0:
        return None
    j, i = np.unravel_index(np.argmax(np.where(weight > 0, image, -np.inf)), image.shape)
    mx, my = float(i), float(j)
    sxx = syy = max(1.0, (nx * ny) / 64.0)
    sxy = 0.0
    # a few adaptive (Gaussian-weighted) iterations: robust to noise and wings
    for _ in range(30):
        det = sxx * syy - sxy * sxy
        dx, dy = x - mx, y - my
        chi2 = (syy * dx * dx - 2 * sxy * dx * dy + sxx * dy * dy) / det
        wt = np.exp(-0.5 * chi2) * im
        s = wt.sum()
        if not s > 0:
            return None
        nmx = float((wt * x).sum() / s)
        nmy = float((wt * y).sum() / s)
        dx, dy = x - nmx, y - nmy
        # weighted moments of a Gaussian with a matched Gaussian weight are
        # half the true covariance: multiply by 2
        nxx = 2.0 * float((wt * dx * dx).sum() / s)
        nxy = 2.0 * float((wt * dx * dy).sum() / s)
        nyy = 2.0 * float((wt * dy * dy).sum() / s)
        if not (nxx > 0 and nyy > 0 and nxx * nyy - nxy * nxy > 0):
            break
        conv = abs(nxx - sxx) + abs(nyy - syy) < 1e-6 * (sxx + syy)
        mx, my, sxx, sxy, syy = nmx, nmy, nxx, nxy, nyy
        if conv:
            break
    return mx, my, sxx, sxy, syy, float(im.sum())


_RHO_MAX = 0.95
_LOG_SIG_MIN = math.log(0.02)  # pixels
_MAX_REL_RESIDUAL = 0.5


def _unpack(p: np.ndarray, ngauss: int) -> np.ndarray:
    """Parameters -> pixel-space components [flux, x, y, Sxx, Sxy, Syy].

    Per component: ``flux, x, y, ln sig_x, ln sig_y, t`` with correlation
    ``rho = 0.95 tanh(t)``, so covariances stay positive definite with a
    bounded axis ratio (no line-like components, which are unphysical for
    a PSF and expensive to integrate).
    """
    q = p.reshape(ngauss, 6)
    out = np.empty((ngauss, 6))
    out[:, 0] = q[:, 0]
    out[:, 1] = q[:, 1]
    out[:, 2] = q[:, 2]
    sx = np.exp(q[:, 3])
    sy = np.exp(q[:, 4])
    rho = _RHO_MAX * np.tanh(q[:, 5])
    out[:, 3] = sx * sx
    out[:, 4] = rho * sx * sy
    out[:, 5] = sy * sy
    return out


def fit_psf(
    psf_obs: Any,
    ngauss: int = 3,
    method: str = "auto",
    maxiter: int = 2000,
) -> PSFFitResult:
    """Fit a Gaussian mixture to a PSF image with any Jacobian, noisy or not.

    The model is a sum of ``ngauss`` elliptical Gaussians with free fluxes,
    centres and covariances, rendered exactly as :func:`galmix.render.draw`
    does, and fitted by weighted least squares (trust-region
    Levenberg-Marquardt) from a Gaussian-weighted-moments starting point.

    Parameters
    ----------
    psf_obs : Observation
        The PSF image with its ``jacobian`` and ``weight`` (inverse variance;
        masked pixels have weight 0).
    ngauss : int
        Number of Gaussian components (1-6).
    method : {"auto", "no_pixel"}
        ``"auto"`` (default): the image includes the pixel response (as
        PSF images from GalSim ``drawImage``, PSFEx or Tiny Tim do), so the
        fit renders with pixel integration and the returned mixture is the
        PSF *before* the pixel — use it with ``draw(..., method="auto")``.
        ``"no_pixel"``: the returned mixture is the pixel-convolved
        (effective) PSF, to use with ``method="no_pixel"``.
    maxiter : int
        Maximum number of model evaluations.

    Returns
    -------
    PSFFitResult
        ``flags == 0`` on success. Bad data never raise: they set flags.

    Raises
    ------
    GalmixTypeError
        If ``psf_obs`` is not an Observation-like object.
    GalmixValueError
        If ``ngauss`` or ``method`` is invalid.

    Examples
    --------
    >>> from galmix.geometry import Jacobian
    >>> from galmix.image import Observation
    >>> from galmix.profiles import Gaussian
    >>> from galmix.render import draw
    >>> jac = Jacobian.from_scale(0.2, x0=12.0, y0=12.0)
    >>> im = draw(Gaussian(1.0, sigma=0.4).shear(0.05, 0.0), jac, (25, 25))
    >>> res = fit_psf(Observation(im, jacobian=jac), ngauss=1)
    >>> res.flags, round(res.T, 4), round(res.e1, 4)
    (0, 0.3216, 0.0998)
    """
    if not (hasattr(psf_obs, "image") and hasattr(psf_obs, "jacobian")):
        raise GalmixTypeError(
            f"psf_obs must be an Observation (PSF image), got {type(psf_obs).__name__}"
        )
    if isinstance(ngauss, bool) or not isinstance(ngauss, (int, np.integer)):
        raise GalmixTypeError(f"ngauss must be an int, got {type(ngauss).__name__}")
    ngauss = int(ngauss)
    if not 1 <= ngauss <= 6:
        raise GalmixValueError(f"ngauss must be in 1..6, got {ngauss!r}")
    if method not in ("auto", "no_pixel"):
        raise GalmixValueError(f"method must be 'auto' or 'no_pixel', got {method!r}")

    image = np.asarray(psf_obs.image, dtype=np.float64)
    weight = np.asarray(
        psf_obs.weight if getattr(psf_obs, "weight", None) is not None else np.ones_like(image),
        dtype=np.float64,
    )
    if image.ndim != 2 or weight.shape != image.shape:
        return _failed(FLAGS.BAD_INPUT, "image/weight must be 2-d arrays of the same shape")
    bad = ~np.isfinite(image) | ~np.isfinite(weight)
    flags = 0
    if bad.any():
        flags |= FLAGS.NONFINITE_PIXELS
        weight = np.where(bad, 0.0, weight)
        image = np.where(bad, 0.0, image)
    weight = np.clip(weight, 0.0, None)
    if not (weight > 0).any():
        return _failed(flags | FLAGS.NO_WEIGHT, "no pixel has positive weight")
    try:
        jac = psf_obs.jacobian.as_array()
    except AttributeError:
        return _failed(flags | FLAGS.BAD_JACOBIAN, "psf_obs.jacobian has no as_array()")

    guess = _pixel_moments(image, weight)
    if guess is None:
        return _failed(flags | FLAGS.NO_FLUX, "no positive flux in the PSF image")
    mx, my, sxx, sxy, syy, ftot = guess
    if not ftot > 0:
        return _failed(flags | FLAGS.NO_FLUX, "non-positive total flux in the PSF image")
    if method == "auto":
        # remove the pixel's own variance (1/12) from the starting covariance
        sxx = max(sxx - 1.0 / 12.0, 0.05)
        syy = max(syy - 1.0 / 12.0, 0.05)
        if sxy * sxy >= 0.95 * sxx * syy:
            sxy = math.copysign(0.9 * math.sqrt(sxx * syy), sxy)

    scales = np.geomspace(0.5, 2.5, ngauss) if ngauss > 1 else np.ones(1)
    fracs = np.ones(ngauss) / ngauss
    p0 = np.empty((ngauss, 6))
    rho0 = float(np.clip(sxy / math.sqrt(sxx * syy), -0.9, 0.9))
    for k in range(ngauss):
        p0[k] = [
            ftot * fracs[k],
            mx,
            my,
            0.5 * math.log(scales[k] ** 2 * sxx),
            0.5 * math.log(scales[k] ** 2 * syy),
            math.atanh(rho0 / _RHO_MAX),
        ]
    p0 = p0.ravel()

    sw = np.sqrt(weight)
    ny, nx = image.shape
    model = np.zeros((ny, nx))
    integrate = method == "auto"

    def resid(p):
        comps = _unpack(p, ngauss)
        model[:] = 0.0
        if integrate:
            _kernels._add_pix_pc(comps, _FULL_PIXEL, model, 0.0, 0.0)
        else:
            for c in comps:
                _kernels._add_component_nopix(c[0], c[1], c[2], c[3], c[4], c[5], model, 0.0, 0.0)
        return ((model - image) * sw).ravel()

    try:
        with np.errstate(all="ignore"):
            # positive fluxes; widths between 0.02 px and half the stamp
            # (wider components would fit a pedestal, not the PSF)
            log_sig_max = math.log(max(nx, ny) / 2.0)
            # a pixel-convolved ("no_pixel") PSF is at least as wide as the
            # pixel box (variance 1/12); centres stay on the image
            log_sig_min = _LOG_SIG_MIN if integrate else 0.5 * math.log(1.0 / 12.0)
            lower = np.tile([0.0, -0.5, -0.5, log_sig_min, log_sig_min, -np.inf], ngauss)
            upper = np.tile([np.inf, nx - 0.5, ny - 0.5, log_sig_max, log_sig_max, np.inf], ngauss)
            if not integrate:
                p0 = p0.reshape(ngauss, 6)
                p0[:, 3:5] = np.maximum(p0[:, 3:5], log_sig_min + 0.05)
                p0 = p0.ravel()
            p0 = np.clip(p0, lower + 1e-3, upper - 1e-3)
            sol = least_squares(
                resid,
                p0,
                method="trf",
                x_scale="jac",
                bounds=(lower, upper),
                max_nfev=int(maxiter),
            )
    except (ValueError, FloatingPointError, np.linalg.LinAlgError) as err:  # pragma: no cover
        return _failed(flags, f"least squares failed: {err}")
    comps = _unpack(sol.x, ngauss)
    nfev = int(sol.nfev)
    if not np.all(np.isfinite(comps)):
        return _failed(flags, "fit produced non-finite parameters", nfev)
    fit_flux = float(comps[:, 0].sum())
    if not fit_flux > 0:
        return _failed(flags | FLAGS.NO_FLUX, "fitted PSF flux is not positive", nfev)
    if sol.status <= 0:
        flags |= FLAGS.PSF_FIT_FAILED | FLAGS.MAXITER
    # pixel-space components -> world
    m = np.array([[jac[0], jac[1]], [jac[2], jac[3]]])
    x0, y0 = jac[4], jac[5]
    world = np.empty((ngauss, 6))
    world[:, 0] = comps[:, 0] / fit_flux
    pos = matmul(m, np.vstack([comps[:, 1] - x0, comps[:, 2] - y0])).T
    world[:, 1:3] = pos
    for k in range(ngauss):
        s = np.array([[comps[k, 3], comps[k, 4]], [comps[k, 4], comps[k, 5]]])
        c = matmul(matmul(m, s), m.T)
        world[k, 3:] = [c[0, 0], c[0, 1], c[1, 1]]
    cu = math.fsum(world[:, 0] * world[:, 1])
    cv = math.fsum(world[:, 0] * world[:, 2])
    world[:, 1] -= cu
    world[:, 2] -= cv
    try:
        gm = GMix(world)
        mom = gm.moments()
    except GalmixValueError as err:
        return _failed(flags, f"fitted mixture is invalid: {err}", nfev)
    if not mom["T"] > 0:
        return _failed(flags | FLAGS.NONPOSITIVE_MOMENTS, "fitted PSF has T <= 0", nfev)
    r = resid(sol.x)
    chi2 = float(r @ r)
    # a mixture that does not describe the image at all (relative residual
    # above 1/2, e.g. an unresolved PSF) is flagged, not returned as a success
    norm = float(np.sum((image * sw) ** 2))
    if norm > 0 and math.sqrt(chi2 / norm) > _MAX_REL_RESIDUAL:
        flags |= FLAGS.PSF_FIT_FAILED
    dof = int((weight > 0).sum()) - 6 * ngauss
    return PSFFitResult(
        flags=int(flags),
        gmix=gm,
        flux=fit_flux,
        centroid=(cu, cv),
        T=mom["T"],
        e1=mom["e1"],
        e2=mom["e2"],
        chi2=chi2,
        dof=dof,
        nfev=nfev,
        model_image=model.copy(),
        message="ok" if flags == 0 else "fit finished with flags",
    )
