"""Pack observations (and their PSFs) into the flat arrays of the kernels."""

from __future__ import annotations

import math
import weakref
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from galmix._exact import matmul, matvec, snap_significant
from galmix.errors import FLAGS, GalmixTypeError, GalmixValueError
from galmix.image import MultiBandObservation, Observation

__all__ = ["PIXEL_SCHEMES", "Exposure", "normalize_observations", "pack_exposures", "psf_gmix"]

#: pixel-response schemes: "gauss" adds the pixel's covariance to every
#: Gaussian (exact flux and second moments); "sub4" additionally samples
#: 2x2 sub-pixel points at +-a so that the 4th cumulant of the box is exact.
PIXEL_SCHEMES = ("gauss", "sub4", "none")
_SUB4_A = 240.0**-0.25  # 4th cumulant of a unit box: -1/120 = -2 a^4


@dataclass
class Exposure:
    """One observation ready for the kernels."""

    obs: Observation
    band: int
    psf: np.ndarray  # (J, 6) world, unit flux, centred, pixel covariance added when modelled
    sub: np.ndarray  # (S, 2) world offsets of sub-pixel samples
    area: float  # flux per pixel per unit surface brightness, per sample
    flags: int = 0
    psf_has_pixel: bool = False
    meta: dict = field(default_factory=dict)


def normalize_observations(obs: Any) -> tuple[list[str], list[list[Observation]]]:
    """``Observation`` / list / ``MultiBandObservation`` -> (bands, per-band lists)."""
    if isinstance(obs, Observation):
        return [""], [[obs]]
    if isinstance(obs, MultiBandObservation):
        bands = obs.bands
        return bands, [list(obs[b]) for b in bands]
    if isinstance(obs, (list, tuple)):
        if not obs:
            raise GalmixValueError("obs: empty list of observations")
        for i, o in enumerate(obs):
            if not isinstance(o, Observation):
                raise GalmixTypeError(f"obs[{i}] must be an Observation, got {type(o).__name__}")
        return [""], [list(obs)]
    raise GalmixTypeError(
        "obs must be an Observation, a list of them or a MultiBandObservation, "
        f"got {type(obs).__name__}"
    )


def _gmix_array(psf: Any) -> np.ndarray:
    if hasattr(psf, "gmix") and not isinstance(psf, np.ndarray):
        psf = psf.gmix()
    data = getattr(psf, "data", psf)
    arr = np.array(data, dtype=np.float64)
    if arr.ndim != 2 or arr.shape[1] != 6:
        raise GalmixValueError(f"psf mixture must have shape (K, 6), got {arr.shape}")
    return arr


def _mixture_residual(psf_obs: Observation, arr: np.ndarray) -> float:
    """Relative L2 residual of a (K, 6) mixture sampled at the PSF image's pixel centres."""
    ny, nx = psf_obs.shape
    jac = psf_obs.jacobian
    yy, xx = np.mgrid[0:ny, 0:nx]
    u, v = jac.to_world(xx, yy)
    model = np.zeros((ny, nx))
    for f, u0, v0, iuu, iuv, ivv in arr:
        det = iuu * ivv - iuv * iuv
        if not det > 0:
            return float("inf")
        du, dv = u - u0, v - v0
        chi = (ivv * du * du - 2 * iuv * du * dv + iuu * dv * dv) / det
        model += f * np.exp(-0.5 * chi) / (2 * np.pi * np.sqrt(det))
    model *= abs(jac.det)
    img = np.where(psf_obs.weight > 0, psf_obs.image, 0.0)
    tot = img.sum()
    if not tot > 0:
        return float("inf")
    norm = arr[:, 0].sum()
    img = img / tot
    model = model / norm if norm != 0 else model
    good = psf_obs.weight > 0
    return float(np.sqrt(np.sum((img - model)[good] ** 2) / np.sum(img[good] ** 2)))


#: relative residual of a PSF-image mixture at which fewer than ``psf_ngauss``
#: Gaussians are enough (the mixture also stops growing when a Gaussian more
#: lowers the residual by less than 5 %)
PSF_RESIDUAL_TOL = 1e-3

#: relative residual above which a PSF mixture from galmix.psf.fit_psf is
#: cross-checked against the fitter's own LM mixture (the better one is used)
PSF_RESIDUAL_CHECK = 0.03


def _fit_psf_image(psf_obs: Observation, ngauss: int) -> tuple[np.ndarray, int]:
    """Gaussian mixture of a PSF image, as the fitter uses it: sampled at pixel centres.

    A PSF image already contains the pixel response, so its mixture is the
    pixel-convolved (effective) PSF and the fitter samples the model at pixel
    centres. The fitter's own LM fit of concentric Gaussians
    (:func:`galmix.fit.psf.fit_psf_gmix`) comes first; when it describes the
    image badly (relative residual above :data:`PSF_RESIDUAL_CHECK`) or fails,
    ``galmix.psf.fit_psf(..., method="no_pixel")`` (free centres, same
    convention) is tried too and the better mixture is kept.
    """
    from galmix.fit.psf import fit_psf_gmix

    arr, flags = fit_psf_gmix(psf_obs, ngauss=ngauss, tol=PSF_RESIDUAL_TOL)
    cands = [(_mixture_residual(psf_obs, arr), arr, flags)]
    if flags != 0 or not cands[0][0] <= PSF_RESIDUAL_CHECK:
        try:
            from galmix.psf import fit_psf

            res = fit_psf(psf_obs, ngauss=ngauss, method="no_pixel")
            arr2 = _gmix_array(res.gmix)
            cands.append((_mixture_residual(psf_obs, arr2), arr2, int(res.flags)))
        except Exception:  # the LM candidate stands (its flags say if it failed)
            pass
    cands.sort(key=lambda c: (c[2] != 0, c[0] if math.isfinite(c[0]) else math.inf))
    # 12 significant digits: identical in every process (scipy's fit is not bit-reproducible)
    return snap_significant(cands[0][1]), cands[0][2]


#: PSF-image mixtures memoised per (immutable) PSF Observation object, so
#: repeated fits with the same PSF (expdev, batches, refits) fit it once. The
#: fit is deterministic, so the memo never changes results; entries vanish
#: with their Observation.
_PSF_MEMO: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def psf_gmix(psf: Any, ngauss: int = 3, cache: dict | None = None) -> tuple[np.ndarray, int, bool]:
    """PSF as a normalised, centred ``(J, 6)`` mixture; returns (array, flags, has_pixel).

    ``psf`` is an ``Observation`` (a PSF image, whose fit includes the pixel
    response), a GMix or a profile (optical PSF: the pixel is modelled).
    """
    flags = 0
    if psf is None:
        return np.array([[1.0, 0.0, 0.0, 0.0, 0.0, 0.0]]), int(FLAGS.BAD_PSF), False
    if isinstance(psf, Observation):
        key = id(psf)
        if cache is not None and key in cache:
            return cache[key]
        memo = _PSF_MEMO.get(psf)
        if memo is not None and ngauss in memo:
            arr, flags = memo[ngauss]
        else:
            try:
                arr, flags = _fit_psf_image(psf, ngauss)
            except Exception:  # a PSF failure becomes a flag
                arr = np.array([[1.0, 0.0, 0.0, 0.0, 0.0, 0.0]])
                flags = int(FLAGS.PSF_FIT_FAILED)
            _PSF_MEMO.setdefault(psf, {})[ngauss] = (arr, flags)
        has_pixel = True
    else:
        arr = _gmix_array(psf)
        has_pixel = False
    tot = arr[:, 0].sum()
    if not np.all(np.isfinite(arr)) or not tot > 0:
        out = (np.array([[1.0, 0.0, 0.0, 0.0, 0.0, 0.0]]), flags | int(FLAGS.BAD_PSF), has_pixel)
    else:
        arr = arr.copy()
        arr[:, 0] /= tot
        cu = float(np.sum(arr[:, 0] * arr[:, 1]))
        cv = float(np.sum(arr[:, 0] * arr[:, 2]))
        arr[:, 1] -= cu
        arr[:, 2] -= cv
        out = (arr, flags, has_pixel)
    if cache is not None and isinstance(psf, Observation):
        cache[id(psf)] = out
    return out


def pixel_terms(obs: Observation, scheme: str) -> tuple[np.ndarray, np.ndarray, float]:
    """Sub-pixel sample offsets (world), pixel covariance (uu, uv, vv), area per sample."""
    jac = obs.jacobian
    m = np.array([[jac.dudx, jac.dudy], [jac.dvdx, jac.dvdy]])
    dx, dy, side = obs.pixel.as_array()
    area = abs(jac.det) * side * side
    centre = matvec(m, np.array([dx, dy]))
    if scheme == "none":
        return centre[None, :], np.zeros(3), abs(jac.det)
    if scheme == "gauss":
        var = side * side / 12.0
        offs = np.zeros((1, 2))
    elif scheme == "sub4":
        a = _SUB4_A * side
        var = side * side / 12.0 - a * a
        offs = np.array([[-a, -a], [a, -a], [-a, a], [a, a]])
    else:
        raise GalmixValueError(f"pixel_scheme must be one of {PIXEL_SCHEMES}, got {scheme!r}")
    cov = var * matmul(m, m.T)
    sub = matmul(offs, m.T) + centre
    return sub, np.array([cov[0, 0], cov[0, 1], cov[1, 1]]), area / len(offs)


def make_exposures(
    bands_obs: list[list[Observation]],
    psf: Any = None,
    pixel_scheme: str = "gauss",
    psf_ngauss: int = 3,
    psf_cache: dict | None = None,
) -> list[Exposure]:
    """Build :class:`Exposure` objects for every band/exposure."""
    exps = []
    for b, olist in enumerate(bands_obs):
        for o in olist:
            p = psf if psf is not None else o.psf
            if isinstance(psf, dict):
                p = psf.get(b, o.psf)
            arr, flags, has_pixel = psf_gmix(p, psf_ngauss, psf_cache)
            if has_pixel:
                sub, cov, area = pixel_terms(o, "none")
            else:
                sub, cov, area = pixel_terms(o, pixel_scheme)
                arr = arr.copy()
                arr[:, 3] += cov[0]
                arr[:, 4] += cov[1]
                arr[:, 5] += cov[2]
            exps.append(Exposure(o, b, arr, sub, area, flags, has_pixel))
    return exps


def exposure_pixels(obs: Observation, all_pixels: bool = False):
    """World coordinates, data, sqrt-weight and row-continuation flags of the (good) pixels."""
    ny, nx = obs.shape
    jac = obs.jacobian
    if all_pixels:
        yy, xx = np.divmod(np.arange(ny * nx), nx)
        img = obs.image.ravel()
        w = obs.weight.ravel()
    else:
        sel = obs.weight > 0
        yy, xx = np.nonzero(sel)
        img = obs.image[sel]
        w = obs.weight[sel]
    cont = np.zeros(len(xx), dtype=np.int64)
    if len(xx) > 1:
        cont[1:] = (yy[1:] == yy[:-1]) & (xx[1:] == xx[:-1] + 1)
    x = xx - jac.x0
    y = yy - jac.y0
    u = jac.dudx * x + jac.dudy * y
    v = jac.dvdx * x + jac.dvdy * y
    return u, v, np.asarray(img, dtype=np.float64), np.sqrt(w), cont


def pack_exposures(exps: list[Exposure], all_pixels: bool = False) -> dict[str, np.ndarray]:
    """Concatenate exposures into the kernel's flat arrays."""
    E = len(exps)
    jmax = max(e.psf.shape[0] for e in exps)
    smax = max(e.sub.shape[0] for e in exps)
    e_psf = np.zeros((E, jmax, 6))
    e_npsf = np.zeros(E, dtype=np.int64)
    e_sub = np.zeros((E, smax, 2))
    e_nsub = np.zeros(E, dtype=np.int64)
    e_area = np.zeros(E)
    e_band = np.zeros(E, dtype=np.int64)
    e_pix = np.zeros(E + 1, dtype=np.int64)
    e_step = np.zeros((E, 2))
    us, vs, ys, ws, cs = [], [], [], [], []
    for i, e in enumerate(exps):
        e_psf[i, : e.psf.shape[0]] = e.psf
        e_npsf[i] = e.psf.shape[0]
        e_sub[i, : e.sub.shape[0]] = e.sub
        e_nsub[i] = e.sub.shape[0]
        e_area[i] = e.area
        e_band[i] = e.band
        u, v, y, w, c = exposure_pixels(e.obs, all_pixels)
        e_step[i] = (e.obs.jacobian.dudx, e.obs.jacobian.dvdx)
        cs.append(c)
        us.append(u)
        vs.append(v)
        ys.append(y)
        ws.append(w)
        e_pix[i + 1] = e_pix[i] + len(u)
    return {
        "e_band": e_band,
        "e_pix": e_pix,
        "e_psf": e_psf,
        "e_npsf": e_npsf,
        "e_sub": e_sub,
        "e_nsub": e_nsub,
        "e_area": e_area,
        "e_step": e_step,
        "pix_u": np.concatenate(us),
        "pix_v": np.concatenate(vs),
        "pix_y": np.concatenate(ys),
        "pix_w": np.concatenate(ws),
        "pix_c": np.concatenate(cs),
    }


def sqrt_cov_ok(cov: np.ndarray) -> bool:
    """True when a 2x2 covariance (uu, uv, vv) is positive definite."""
    return cov[0] > 0 and cov[2] > 0 and cov[0] * cov[2] - cov[1] ** 2 > 0 and math.isfinite(cov[0])
