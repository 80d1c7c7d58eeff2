"""Starting guesses from simple adaptive moments (world coordinates)."""

from __future__ import annotations

import math

import numpy as np

from galmix.image import Observation

__all__ = ["guess_from_moments", "moments_guess"]


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
    from galmix.fit._kernels import adaptive_moments_nb

    jac = obs.jacobian
    scale = jac.scale
    out = np.zeros(7)
    T0 = max(2.0 * (2.0 * scale) ** 2, psf_T)
    adaptive_moments_nb(
        np.asarray(obs.image, dtype=np.float64),
        np.asarray(obs.weight, dtype=np.float64),
        jac.as_array(),
        T0,
        niter,
        out,
    )
    return guess_from_moments(out, psf_T, scale)


def guess_from_moments(out, psf_T: float, scale: float) -> dict[str, float]:
    """Turn raw adaptive moments ``[flux, u0, v0, Iuu, Iuv, Ivv, ok]`` into a guess dict.

    Removes the PSF ``T``, converts to a Gaussian-equivalent half-light
    radius and a reduced shear (boosted for PSF dilution, capped at 0.8).

    Examples
    --------
    >>> g = guess_from_moments([10.0, 0.0, 0.0, 1.0, 0.0, 1.0, 1.0], psf_T=0.0, scale=0.2)
    >>> round(g["half_light_radius"], 4), g["g1"]
    (1.1774, 0.0)
    """
    flux, u0, v0, Iuu, Iuv, Ivv, okf = (float(x) for x in out)
    ok = okf > 0
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
