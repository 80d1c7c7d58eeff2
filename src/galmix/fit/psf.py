"""Gaussian-mixture fit of a PSF image with the fitter's own LM.

The fitter's first choice for PSF images (``galmix.fit.data._fit_psf_image``;
``galmix.psf.fit_psf`` is the cross-check). The PSF image is taken to include
the pixel response (it is sampled at pixel centres).
"""

from __future__ import annotations

import math

import numpy as np

from galmix.errors import FLAGS
from galmix.image import Observation

__all__ = ["fit_psf_gmix"]


def fit_psf_gmix(psf_obs: Observation, ngauss: int = 3, tol: float = 0.0) -> tuple[np.ndarray, int]:
    """Fit up to ``ngauss`` concentric elliptical Gaussians to a PSF image.

    The mixture grows one Gaussian at a time (each fit starts from the previous
    solution plus a narrower or a broader component) and the best one is kept;
    it stops early once the relative L2 residual is at most ``tol``, or when
    a further Gaussian lowers it by less than 5 % (it is then not kept).

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
    from galmix.fit.data import _mixture_residual
    from galmix.fit.guess import moments_guess
    from galmix.fit.models import Model

    img = np.asarray(psf_obs.image, dtype=np.float64)
    total = math.fsum(img[psf_obs.weight > 0])  # exactly rounded (alignment-independent)
    if not total > 0:
        return np.array([[1.0, 0.0, 0.0, 0.0, 0.0, 0.0]]), int(FLAGS.PSF_FIT_FAILED)
    obs = psf_obs.replace(image=img / total, weight=np.where(psf_obs.weight > 0, 1.0, 0.0))
    delta = np.array([[1.0, 0.0, 0.0, 0.0, 0.0, 0.0]])
    settings = LMSettings(pixel_scheme="none", maxiter=300)
    mg = moments_guess(obs)
    r0 = mg["half_light_radius"] if math.isfinite(mg["T"]) else 2.0 * obs.jacobian.scale
    # grow the mixture one Gaussian at a time, starting each fit from the previous
    # solution plus a new component (narrower core or broader wing), keep the best
    prev = [(1.0, r0, mg["g1"], mg["g2"])]
    centre = (mg["u0"], mg["v0"])
    best = None
    for k in range(1, ngauss + 1):
        starts = [prev] if k == 1 else []
        if k > 1:
            rs = [c[1] for c in prev]
            starts.append(
                [(f * 0.8, r, a, b) for f, r, a, b in prev] + [(0.2, 2.0 * max(rs), 0, 0)]
            )
            starts.append(
                [(f * 0.8, r, a, b) for f, r, a, b in prev] + [(0.2, 0.5 * min(rs), 0, 0)]
            )
            # faint far wing, and the brightest component split in two
            starts.append(
                [(f * 0.95, r, a, b) for f, r, a, b in prev] + [(0.05, 4.0 * max(rs), 0, 0)]
            )
            j = int(np.argmax([c[0] for c in prev]))
            f, r, a, b = prev[j]
            starts.append(
                [c for i, c in enumerate(prev) if i != j]
                + [(0.5 * f, 0.75 * r, a, b), (0.5 * f, 1.3 * r, a, b)]
            )
        cand_best = None
        for comps in starts:
            model = Model(("gauss",) * k)
            labels = model.component_labels()
            guess = {"u0": centre[0], "v0": centre[1]}
            for lab, (f, r, a, b) in zip(labels, comps):
                guess["flux" + lab] = f
                guess["half_light_radius" + lab] = max(r, 1e-4)
                guess["g1" + lab] = a
                guess["g2" + lab] = b
            res = fit(obs, model, psf=delta, guess=guess, settings=settings, model_images=False)
            data = _to_data(res, labels)
            if not np.all(np.isfinite(data)):
                continue
            score = _mixture_residual(obs, data)
            if cand_best is None or score < cand_best[0]:
                cand_best = (score, data, res, labels)
        if cand_best is None:
            break
        score, data, res, labels = cand_best
        if best is not None and tol > 0 and score > 0.95 * best[0]:
            break  # diminishing returns: keep the smaller mixture
        if best is None or score < best[0]:
            best = (score, data, res)
        if best[0] <= tol:
            break
        p = res.params
        prev = [
            (p["flux" + lab], p["half_light_radius" + lab], p["g1" + lab], p["g2" + lab])
            for lab in labels
        ]
        centre = (p["u0"], p["v0"])
    if best is None:
        return np.array([[1.0, 0.0, 0.0, 0.0, 0.0, 0.0]]), int(FLAGS.PSF_FIT_FAILED)
    score, data, res = best
    flags = 0
    if res.flags & (FLAGS.FIT_FAILED | FLAGS.NOT_CONVERGED) or not np.all(np.isfinite(data)):
        flags = int(FLAGS.PSF_FIT_FAILED)
    return data, flags


def _to_data(res, labels) -> np.ndarray:
    from galmix.fit._kernels import shear_matrix
    from galmix.fit.models import gauss_mixture

    _, s = gauss_mixture()
    M = np.zeros((3, 3))
    rows = []
    p = res.params
    for lab in labels:
        r = p["half_light_radius" + lab]
        shear_matrix(p["g1" + lab], p["g2" + lab], M)
        var = r * r * s[0]
        rows.append(
            [p["flux" + lab], p["u0"], p["v0"], var * M[0, 0], var * M[0, 1], var * M[0, 2]]
        )
    return np.array(rows)
