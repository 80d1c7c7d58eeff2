"""CModel-style ``expdev`` fits: exp and dev fit separately, then combined.

As in SDSS/LSST CModel (and MultiProFit's comparison in seed 003): an
exponential and a de Vaucouleurs model are each fit with free centre, size
and shape; then, with both shapes fixed, the fluxes of the two templates
are fit linearly (non-negative least squares, per band). The total flux is
the sum, ``frac_dev`` the de Vaucouleurs fraction, and the size is the
flux-weighted mean of the two half-light radii (as MultiProFit reports it).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from astropy.table import Table
from scipy.optimize import nnls

from galmix._exact import matmul
from galmix.errors import FLAGS
from galmix.fit.core import FitResult, LMSettings, fit, model_images
from galmix.fit.data import make_exposures, normalize_observations
from galmix.fit.models import Model, build_layout

__all__ = ["combine_expdev", "expdev_batch", "fit_expdev"]


def combine_expdev(exps, t_exp: list[np.ndarray], t_dev: list[np.ndarray], nbands: int):
    """Non-negative linear fit of two unit-flux templates per band.

    Returns ``(a_exp[b], a_dev[b], cov[b] (2x2), chi2, images)``.
    """
    a_e = np.zeros(nbands)
    a_d = np.zeros(nbands)
    covs = np.full((nbands, 2, 2), np.nan)
    chi2 = 0.0
    images: list[np.ndarray] = [None] * len(exps)  # type: ignore[list-item]
    for b in range(nbands):
        ids = [i for i, e in enumerate(exps) if e.band == b]
        rows_e, rows_d, ys = [], [], []
        for i in ids:
            w = np.sqrt(exps[i].obs.weight).ravel()
            rows_e.append(t_exp[i].ravel() * w)
            rows_d.append(t_dev[i].ravel() * w)
            ys.append(exps[i].obs.image.ravel() * w)
        A = np.stack([np.concatenate(rows_e), np.concatenate(rows_d)], axis=1)
        y = np.concatenate(ys)
        x, _ = nnls(A, y)
        a_e[b], a_d[b] = x
        ata = matmul(A.T, A)
        active = x > 0
        cov = np.zeros((2, 2))
        if np.any(active):
            sub = ata[np.ix_(active, active)]
            try:
                cov[np.ix_(active, active)] = np.linalg.inv(sub)
            except np.linalg.LinAlgError:
                cov[:] = np.nan
        covs[b] = cov
        r = y - (A[:, 0] * x[0] + A[:, 1] * x[1])
        chi2 += math.fsum(r * r)
        for i in ids:
            images[i] = x[0] * t_exp[i] + x[1] * t_dev[i]
    return a_e, a_d, covs, chi2, images


def _unit_templates(res: FitResult) -> list[np.ndarray]:
    layout = res.extra["layout"]
    p = res.extra["internal"].copy()
    for idx in layout.flux_index[0].values():
        for i in idx:
            p[i] = 1.0
    return model_images(layout, p, res.extra["exposures"])


def _assemble(
    exp_p: dict,
    dev_p: dict,
    bands,
    a_e,
    a_d,
    covs,
    exp_e: dict | None = None,
    dev_e: dict | None = None,
) -> tuple[dict, dict]:
    params: dict[str, Any] = {}
    errors: dict[str, Any] = {}
    multi = len(bands) > 1
    tot, tot_e, fe, fd, fe_e, fd_e = {}, {}, {}, {}, {}, {}
    for b, band in enumerate(bands):
        key = band if multi else ""
        tot[key] = float(a_e[b] + a_d[b])
        c = covs[b]
        tot_e[key] = float(math.sqrt(max(c[0, 0] + c[1, 1] + 2 * c[0, 1], 0.0)))
        fe[key], fd[key] = float(a_e[b]), float(a_d[b])
        fe_e[key] = float(math.sqrt(max(c[0, 0], 0.0)))
        fd_e[key] = float(math.sqrt(max(c[1, 1], 0.0)))
    for name, v, e in (("flux", tot, tot_e), ("flux_exp", fe, fe_e), ("flux_dev", fd, fd_e)):
        if multi:
            params[name] = v
            errors[name] = e
            for band in bands:
                params[f"{name}_{band}"] = v[band]
                errors[f"{name}_{band}"] = e[band]
        else:
            params[name] = v[""]
            errors[name] = e[""]
    se, sd = float(np.sum(a_e)), float(np.sum(a_d))
    frac = sd / (se + sd) if (se + sd) > 0 else float("nan")
    params["frac_dev"] = frac
    errors["frac_dev"] = float("nan")
    ff = 0.0 if not math.isfinite(frac) else frac
    for name in ("half_light_radius", "g1", "g2", "u0", "v0"):
        params[name + "_exp"] = exp_p[name]
        params[name + "_dev"] = dev_p[name]
        params[name] = (1 - ff) * exp_p[name] + ff * dev_p[name]
        ee = (exp_e or {}).get(name, float("nan"))
        de = (dev_e or {}).get(name, float("nan"))
        errors[name + "_exp"] = ee
        errors[name + "_dev"] = de
        # errors of the two fits combined with the same weights (they are correlated)
        errors[name] = (1 - ff) * ee + ff * de
    return params, errors


def fit_expdev(
    obs: Any,
    psf: Any = None,
    guess: Mapping[str, float] | None = None,
    rng: np.random.Generator | None = None,
    *,
    fixed: Mapping[str, float] | None = None,
    bounds: Mapping | None = None,
    priors: Mapping | None = None,
    settings: LMSettings | None = None,
    model_images: bool = True,
) -> FitResult:
    """CModel-style exp + dev fit (see module docstring); used by ``fit(obs, "expdev")``.

    Examples
    --------
    >>> import numpy as np
    >>> from galmix import Observation
    >>> from galmix.profiles import Exponential
    >>> from galmix.render import draw
    >>> from galmix import Jacobian
    >>> jac = Jacobian.from_scale(0.2, 15.5, 15.5)
    >>> psf = np.array([[1.0, 0.0, 0.0, 0.04, 0.0, 0.04]])
    >>> img = draw(Exponential(10.0, 0.5), jac, (32, 32), psf=psf)
    >>> res = fit_expdev(Observation(img, jacobian=jac), psf=psf)
    >>> res.params["frac_dev"] < 0.05, round(res.params["flux"], 1)
    (True, 10.0)
    """
    settings = settings or LMSettings()
    kw = dict(
        psf=psf, guess=guess, rng=rng, fixed=fixed, bounds=bounds, priors=priors, settings=settings
    )
    rexp = fit(obs, "exp", **kw)
    rdev = fit(obs, "dev", **kw)
    bands = rexp.bands
    exps = rexp.extra["exposures"]
    a_e, a_d, covs, chi2, imgs = combine_expdev(
        exps, _unit_templates(rexp), _unit_templates(rdev), len(bands)
    )
    params, errors = _assemble(
        rexp.params, rdev.params, bands, a_e, a_d, covs, rexp.errors, rdev.errors
    )
    flags = (rexp.flags | rdev.flags) & ~int(FLAGS.PARAM_AT_BOUND)
    flags |= (rexp.flags & rdev.flags) & int(FLAGS.PARAM_AT_BOUND)
    if not np.all(np.isfinite(covs)):
        flags |= int(FLAGS.SINGULAR_COVARIANCE)
    npix = sum(int(np.count_nonzero(e.obs.weight > 0)) for e in exps)
    nfree = len(rexp.free_params) + len(rdev.free_params) + 2 * len(bands)
    return FitResult(
        flags=int(flags),
        model="expdev",
        params=params,
        errors=errors,
        covariance=covs,
        free_params=[f"flux_exp{b and '_' + b}" for b in bands]
        + [f"flux_dev{b and '_' + b}" for b in bands],
        chi2=chi2,
        dof=npix - nfree,
        nfev=rexp.nfev + rdev.nfev,
        niter=rexp.niter + rdev.niter,
        bands=bands,
        model_images=imgs if model_images else [],
        observations=[e.obs for e in exps],
        extra={"exp": rexp, "dev": rdev},
    )


def expdev_batch(
    observations: Sequence[Any],
    psf: Any = None,
    *,
    guesses=None,
    fixed=None,
    bounds=None,
    priors=None,
    settings: LMSettings | None = None,
    ids=None,
    nthreads=None,
) -> Table:
    """Batch ``expdev``: parallel exp and dev batches, then per-object combination."""
    from galmix.fit.batch import fit_batch

    settings = settings or LMSettings()
    kw = dict(
        psf=psf,
        guesses=guesses,
        fixed=fixed,
        bounds=bounds,
        priors=priors,
        settings=settings,
        ids=ids,
        nthreads=nthreads,
    )
    texp = fit_batch(observations, "exp", **kw)
    tdev = fit_batch(observations, "dev", **kw)
    bands = texp.meta["bands"].split(",")
    nb = len(bands)
    multi = nb > 1
    out = Table()
    out["id"] = texp["id"]
    flags = np.asarray(texp["flags"]) | np.asarray(tdev["flags"])
    cols: dict[str, np.ndarray] = {}
    keys = ["flux", "flux_exp", "flux_dev"]
    names = []
    for k in keys:
        if multi:
            names += [f"{k}_{b}" for b in bands]
        else:
            names.append(k)
    extra = ["frac_dev"] + [
        f"{n}{s}"
        for n in ("half_light_radius", "g1", "g2", "u0", "v0")
        for s in ("", "_exp", "_dev")
    ]
    for n in names:
        cols[n] = np.full(len(texp), np.nan)
        cols[n + "_err"] = np.full(len(texp), np.nan)
    for n in extra:
        cols[n] = np.full(len(texp), np.nan)
    chi2 = np.full(len(texp), np.nan)
    for k in range(len(texp)):
        if flags[k] & (FLAGS.BAD_INPUT | FLAGS.FIT_FAILED):
            continue
        try:
            _, olists = normalize_observations(observations[k])
            exps = make_exposures(olists, psf, settings.pixel_scheme, settings.psf_ngauss, {})
            temps = []
            pars = []
            for tab, kind in ((texp, "exp"), (tdev, "dev")):
                layout = build_layout(
                    [Model((kind,))], bands if multi else [""], settings.sersic_ngauss
                )
                p = np.zeros(layout.nparams)
                for i, nm in enumerate(layout.names):
                    if nm.startswith("flux"):
                        p[i] = 1.0
                    elif nm == "half_light_radius":
                        p[i] = math.log(float(tab[nm][k]))
                    else:
                        p[i] = float(tab[nm][k])
                temps.append(model_images(layout, p, exps))
                pars.append(
                    {n: float(tab[n][k]) for n in ("half_light_radius", "g1", "g2", "u0", "v0")}
                )
            a_e, a_d, covs, c2, _ = combine_expdev(exps, temps[0], temps[1], nb)
            params, errors = _assemble(pars[0], pars[1], bands if multi else [""], a_e, a_d, covs)
            for n in names:
                cols[n][k] = params[n]
                cols[n + "_err"][k] = errors[n]
            for n in extra:
                cols[n][k] = params[n]
            chi2[k] = c2
        except Exception:
            flags[k] |= int(FLAGS.FIT_FAILED)
    out["flags"] = flags
    for n, v in cols.items():
        out[n] = v
    out["chi2"] = chi2
    out["nfev"] = np.asarray(texp["nfev"]) + np.asarray(tdev["nfev"])
    out.meta["model"] = "expdev"
    out.meta["bands"] = texp.meta["bands"]
    return out
