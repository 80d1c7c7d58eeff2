"""Starting guesses from simple adaptive moments (world coordinates)."""

from __future__ import annotations

import math

import numpy as np

from galmix.image import Observation

__all__ = ["moments_guess"]


def moments_guess(obs: Observation, psf_T: float = 0.0, niter: int = 8) -> dict[str, float]:
    """Flux, centre, half-light radius and shape guesses from adaptive moments.

    Iterates a Gaussian-weighted second-moment measurement (weight matched
    to the object, as in adaptive moments) around the Jacobian origin, then
    removes the PSF's ``T`` and converts to a Gaussian-equivalent half-light
    radius and reduced shear. Never raises for bad data: falls back to a
    round object of ~2 pixels.

    Parameters
    ----------
    obs : Observation
        The stamp (object near the Jacobian origin).
    psf_T : float
        PSF ``T = Iuu + Ivv`` in arcsec^2 (including the pixel).
    niter : int
        Adaptive iterations.

    Returns
    -------
    dict
        ``flux``, ``u0``, ``v0``, ``half_light_radius``, ``g1``, ``g2``, ``T``.

    Examples
    --------
    >>> import numpy as np
    >>> yy, xx = np.mgrid[0:31, 0:31] - 15.0
    >>> img = np.exp(-0.5 * (xx**2 + yy**2) / 4.0)
    >>> g = moments_guess(Observation(img))
    >>> round(g["T"], 2)
    8.0
    """
    ny, nx = obs.shape
    jac = obs.jacobian
    yy, xx = np.mgrid[0:ny, 0:nx]
    x = xx - jac.x0
    y = yy - jac.y0
    u = jac.dudx * x + jac.dudy * y
    v = jac.dvdx * x + jac.dvdy * y
    good = obs.weight > 0
    img = np.where(good, obs.image, 0.0)
    flux = float(img.sum())
    scale = jac.scale
    T = max(2.0 * (2.0 * scale) ** 2, psf_T)
    Iuu, Iuv, Ivv = T / 2, 0.0, T / 2
    u0 = v0 = 0.0
    ok = False
    for _ in range(niter):
        det = Iuu * Ivv - Iuv * Iuv
        if not det > 0:
            break
        du = u - u0
        dv = v - v0
        chi = (Ivv * du * du - 2 * Iuv * du * dv + Iuu * dv * dv) / det
        w = np.exp(-0.5 * np.minimum(chi, 100.0)) * img
        s = w.sum()
        if not s > 0:
            break
        nu0 = float((w * u).sum() / s)
        nv0 = float((w * v).sum() / s)
        if abs(nu0) > 0.25 * ny * scale or abs(nv0) > 0.25 * nx * scale:
            break
        du = u - nu0
        dv = v - nv0
        muu = float((w * du * du).sum() / s)
        muv = float((w * du * dv).sum() / s)
        mvv = float((w * dv * dv).sum() / s)
        # weighted moments of a Gaussian with weight matched: M = 2 * measured
        # (deconvolve the weight: C_obj = (M_w^-1 - W^-1)^-1 with M_w measured)
        mdet = muu * mvv - muv * muv
        if not mdet > 0:
            break
        iw = np.array([[Ivv, -Iuv], [-Iuv, Iuu]]) / det
        im = np.array([[mvv, -muv], [-muv, muu]]) / mdet
        d = im - iw
        if not (d[0, 0] > 0 and d[1, 1] > 0 and np.linalg.det(d) > 0):
            Iuu, Iuv, Ivv = 2 * muu, 2 * muv, 2 * mvv
        else:
            c = np.linalg.inv(d)
            Iuu, Iuv, Ivv = float(c[0, 0]), float(c[0, 1]), float(c[1, 1])
        u0, v0 = nu0, nv0
        ok = True
    T = Iuu + Ivv
    if not ok or not (math.isfinite(T) and T > 0):
        return {
            "flux": flux if math.isfinite(flux) else 1.0,
            "u0": 0.0,
            "v0": 0.0,
            "half_light_radius": 2.0 * scale,
            "g1": 0.0,
            "g2": 0.0,
            "T": float("nan"),
        }
    e1 = (Iuu - Ivv) / T
    e2 = 2 * Iuv / T
    Tg = T - psf_T
    Tmin = 0.05 * (psf_T if psf_T > 0 else scale * scale)
    Tg = max(Tg, Tmin)
    e = math.hypot(e1, e2)
    if e >= 0.9:
        e1, e2, e = e1 * 0.9 / e, e2 * 0.9 / e, 0.9
    # PSF dilution of the ellipticity: scale up by T/Tg, capped
    boost = min(T / Tg, 3.0) if Tg > 0 else 1.0
    e1 *= boost
    e2 *= boost
    e = math.hypot(e1, e2)
    if e >= 0.8:
        e1, e2, e = e1 * 0.8 / e, e2 * 0.8 / e, 0.8
    fac = 1.0 / (1.0 + math.sqrt(1.0 - e * e)) if e > 0 else 0.5
    return {
        "flux": flux if math.isfinite(flux) and flux != 0 else 1.0,
        "u0": u0,
        "v0": v0,
        "half_light_radius": math.sqrt(Tg * math.log(2.0)),
        "g1": e1 * fac,
        "g2": e2 * fac,
        "T": T,
    }
