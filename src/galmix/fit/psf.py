"""Fallback Gaussian-mixture fit of a PSF image with the fitter's own LM.

Used only when ``galmix.psf.fit_psf`` is not available. The PSF image is
taken to include the pixel response (it is sampled at pixel centres).
"""

from __future__ import annotations

import math

import numpy as np

from galmix.errors import FLAGS
from galmix.image import Observation

__all__ = ["fit_psf_gmix"]


def fit_psf_gmix(psf_obs: Observation, ngauss: int = 3) -> tuple[np.ndarray, int]:
    """Fit ``ngauss`` concentric elliptical Gaussians to a PSF image.

    Returns
    -------
    data : ndarray, shape (ngauss, 6)
        ``[flux, u0, v0, Iuu, Iuv, Ivv]`` (world), fluxes summing to 1.
    flags : int
        ``PSF_FIT_FAILED`` if the fit did not converge.

    Examples
    --------
    >>> import numpy as np
    >>> yy, xx = np.mgrid[0:25, 0:25] - 12.0
    >>> img = np.exp(-0.5 * (xx**2 + yy**2) / 4.0)
    >>> data, flags = fit_psf_gmix(Observation(img), ngauss=2)
    >>> flags, round(float(np.sum(data[:, 0] * (data[:, 3] + data[:, 5]))), 1)
    (0, 8.0)
    """
    from galmix.fit.core import LMSettings, fit
    from galmix.fit.models import Model, gauss_mixture

    img = np.asarray(psf_obs.image, dtype=np.float64)
    total = float(np.sum(img[psf_obs.weight > 0]))
    if not total > 0:
        return np.array([[1.0, 0.0, 0.0, 0.0, 0.0, 0.0]]), int(FLAGS.PSF_FIT_FAILED)
    obs = psf_obs.replace(image=img / total, weight=np.where(psf_obs.weight > 0, 1.0, 0.0))
    model = Model(("gauss",) * ngauss)
    delta = np.array([[1.0, 0.0, 0.0, 0.0, 0.0, 0.0]])
    # guess: sizes spread around the moments size
    from galmix.fit.guess import moments_guess

    mg = moments_guess(obs)
    r0 = mg["half_light_radius"] if math.isfinite(mg["T"]) else 2.0 * obs.jacobian.scale
    labels = model.component_labels()
    guess = {"u0": mg["u0"], "v0": mg["v0"]}
    facs = np.geomspace(0.6, 2.0, ngauss) if ngauss > 1 else np.array([1.0])
    fl = np.linspace(0.6, 0.1, ngauss)
    fl /= fl.sum()
    for lab, f, fx in zip(labels, facs, fl):
        guess["half_light_radius" + lab] = max(r0 * f, 1e-3)
        guess["flux" + lab] = fx
        guess["g1" + lab] = mg["g1"]
        guess["g2" + lab] = mg["g2"]
    res = fit(
        obs,
        model,
        psf=delta,
        guess=guess,
        settings=LMSettings(pixel_scheme="none", maxiter=300),
        model_images=False,
    )
    _, s = gauss_mixture()
    rows = []
    from galmix.fit._kernels import shear_matrix

    M = np.zeros((3, 3))
    for lab in labels:
        p = res.params
        r = p["half_light_radius" + lab]
        shear_matrix(p["g1" + lab], p["g2" + lab], M)
        var = r * r * s[0]
        rows.append(
            [p["flux" + lab], p["u0"], p["v0"], var * M[0, 0], var * M[0, 1], var * M[0, 2]]
        )
    data = np.array(rows)
    flags = 0
    if res.flags & (FLAGS.FIT_FAILED | FLAGS.NOT_CONVERGED) or not np.all(np.isfinite(data)):
        flags = int(FLAGS.PSF_FIT_FAILED)
    return data, flags
