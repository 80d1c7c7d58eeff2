"""Single-object model fits: :func:`fit` and :class:`FitResult`."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from galmix.errors import FLAGS, GalmixTypeError, GalmixValueError
from galmix.fit import _kernels as K
from galmix.fit.data import (
    PIXEL_SCHEMES,
    Exposure,
    make_exposures,
    normalize_observations,
    pack_exposures,
)
from galmix.fit.guess import moments_guess
from galmix.fit.models import (
    FIT_SERSIC_NGAUSS,
    G_MAX,
    Layout,
    Model,
    build_layout,
    parse_model,
)

__all__ = ["FitResult", "LMSettings", "fit", "render_model"]


@dataclass(frozen=True)
class LMSettings:
    """Settings of the Levenberg-Marquardt fitter.

    Parameters
    ----------
    maxiter : int
        Maximum LM iterations.
    ftol : float
        Convergence when an accepted step lowers chi2 by less than
        ``ftol * max(chi2, 1)``.
    pixel_scheme : str
        How the pixel response is modelled for PSFs given as mixtures or
        profiles: ``"gauss"`` (the pixel box replaced by a Gaussian of the
        same covariance, exact in flux and second moments), ``"sub4"`` (2x2
        sub-pixel samples plus a Gaussian: exact through the 4th cumulant,
        4x slower) or ``"none"`` (sample at pixel centres). PSFs given as
        images already contain the pixel and are sampled at pixel centres.
    psf_ngauss : int
        Largest number of concentric Gaussians fitted to PSF images (the
        mixture, of the pixel-convolved PSF, grows one Gaussian at a time and
        stops early at a relative residual of 1e-3 or when one more Gaussian
        helps by less than 5 %). 3 is faster but leaves ~1 % residuals on
        Moffat or Kolmogorov PSFs, which bias sizes by up to 4 %.
    ntry : int
        Attempts (with jittered guesses drawn from ``rng``) when a fit fails.
    sersic_ngauss : int
        Sersic mixture table (``galmix.profiles.sersic_mixture(n, ngauss)``) for
        ``sersic``, ``exp`` and ``dev`` components. The default 18 is the
        "ladder" table made for fitting (profile accurate from 0.003 to 30 hlr,
        enclosed flux of the untruncated profile to 100 hlr; unbiased n <= 6 fits
        down to hlr = 0.5 PSF FWHM); 14 is the older "wide" table, 10 matches
        ``galmix.profiles``' default ``Sersic`` rendering, 6 is faster and coarser.

    Examples
    --------
    >>> LMSettings(maxiter=50).maxiter
    50
    """

    maxiter: int = 200
    ftol: float = 1e-6
    pixel_scheme: str = "gauss"
    psf_ngauss: int = 5
    ntry: int = 2
    sersic_ngauss: int = FIT_SERSIC_NGAUSS

    def __post_init__(self) -> None:
        if int(self.maxiter) < 1:
            raise GalmixValueError(f"maxiter must be >= 1, got {self.maxiter!r}")
        if not (self.ftol > 0):
            raise GalmixValueError(f"ftol must be > 0, got {self.ftol!r}")
        if self.pixel_scheme not in PIXEL_SCHEMES:
            raise GalmixValueError(
                f"pixel_scheme must be one of {PIXEL_SCHEMES}, got {self.pixel_scheme!r}"
            )
        if int(self.ntry) < 1:
            raise GalmixValueError(f"ntry must be >= 1, got {self.ntry!r}")
        from galmix.profiles import available_ngauss

        if self.sersic_ngauss not in available_ngauss():
            raise GalmixValueError(
                f"sersic_ngauss must be one of {available_ngauss()}, got {self.sersic_ngauss!r}"
            )


@dataclass
class FitResult:
    """Result of a model fit.

    Attributes
    ----------
    flags : int
        :data:`galmix.errors.FLAGS` bits (0 = success).
    model : str
        Model name.
    params, errors : dict
        Best-fit values and 1-sigma errors (from the final Jacobian) of
        ``u0``, ``v0`` (arcsec, relative to the Jacobian origin), ``flux``
        (a dict band -> flux for multi-band fits), ``half_light_radius``
        (arcsec), ``g1``, ``g2`` (reduced shear of the round profile),
        ``n`` (Sersic); multi-component models add per-component names
        (``flux_point``, ``half_light_radius_dev``, ...).
    covariance : ndarray
        Covariance of the free parameters (order of ``free_params``), in
        user units (``half_light_radius``, not its log).
    chi2, dof, nfev, niter : float, int
        Final chi2 (data term), degrees of freedom (good pixels minus free
        parameters), model evaluations and LM iterations.
    model_images : list of ndarray
        Best-fit model image of every exposure (band order, then exposure).
    """

    flags: int
    model: str
    params: dict
    errors: dict
    covariance: np.ndarray
    free_params: list[str]
    chi2: float
    dof: int
    nfev: int
    niter: int
    bands: list[str]
    model_images: list[np.ndarray] = field(default_factory=list)
    observations: list[Any] = field(default_factory=list, repr=False)
    extra: dict = field(default_factory=dict)

    @property
    def model_image(self) -> np.ndarray:
        """Model image of the first exposure."""
        return self.model_images[0]

    @property
    def residual_images(self) -> list[np.ndarray]:
        """``image - model`` for every exposure."""
        return [o.image - m for o, m in zip(self.observations, self.model_images)]

    @property
    def chi2_per_dof(self) -> float:
        """``chi2 / dof`` (nan if dof <= 0)."""
        return self.chi2 / self.dof if self.dof > 0 else float("nan")

    def to_table(self):
        """This result as a one-row astropy Table (see :func:`galmix.fit.results_table`)."""
        from galmix.fit.output import results_table

        return results_table([self])

    @property
    def flag_names(self) -> list[str]:
        """Names of the set flag bits."""
        from galmix.errors import flag_names

        return flag_names(self.flags)


# --------------------------------------------------------------------- helpers
def _check_names(d: Mapping | None, valid: Sequence[str], what: str) -> dict:
    if d is None:
        return {}
    if not isinstance(d, Mapping):
        raise GalmixTypeError(f"{what} must be a dict name -> value, got {type(d).__name__}")
    out = {}
    for k, v in d.items():
        if k not in valid:
            raise GalmixValueError(f"{what}: unknown parameter {k!r}; valid names: {list(valid)}")
        out[k] = v
    return out


def _to_internal(name: str, value: float) -> float:
    if _is_size(name):
        if not value > 0:
            raise GalmixValueError(f"{name} must be > 0, got {value!r}")
        return math.log(value)
    return float(value)


def _is_size(name: str) -> bool:
    return "half_light_radius" in name


def psf_T(e: Exposure) -> float:
    """``T = Iuu + Ivv`` of an exposure's (centred, pixel-including) PSF mixture."""
    psf = e.psf
    return float(np.sum(psf[:, 0] * (psf[:, 3] + psf[:, 5] + psf[:, 1] ** 2 + psf[:, 2] ** 2)))


def default_guess(
    layout: Layout, exps: list[Exposure], models: Sequence[Model], centres=None, mg=None
) -> np.ndarray:
    """Internal parameter vector guessed from moments of each band's first exposure.

    ``mg`` (band index -> guess dict) may hold precomputed moment guesses.
    """
    p = np.zeros(layout.nparams)
    nb = max(len(layout.bands), 1)
    if mg is None:
        first = {}
        for e in exps:
            first.setdefault(e.band, e)
        mg = {b: moments_guess(e.obs, psf_T=psf_T(e)) for b, e in first.items()}
    ref = mg[0]
    for oi, m in enumerate(models):
        pre = f"o{oi}_" if len(models) > 1 else ""
        idx = {n: i for i, n in enumerate(layout.names)}
        if centres is not None:
            p[idx[pre + "u0"]], p[idx[pre + "v0"]] = centres[oi]
        else:
            p[idx[pre + "u0"]] = ref["u0"]
            p[idx[pre + "v0"]] = ref["v0"]
        labels = m.component_labels()
        ncomp = len([c for c in m.components if c != "sky"])
        for kind, lab in zip(m.components, labels):
            if kind == "sky":
                continue  # sky levels start at 0 (linear: found in one LM step)
            frac = 1.0 / ncomp
            if kind == "point" and ncomp > 1:
                frac = 0.2
            elif ncomp > 1 and "point" in m.components:
                frac = 0.8 / (ncomp - 1)
            for b in range(nb):
                nm = "flux" + lab + (f"_{layout.bands[b]}" if nb > 1 else "")
                p[idx[pre + nm]] = mg[b]["flux"] * frac / max(len(models), 1)
            if kind != "point":
                r = ref["half_light_radius"]
                if kind == "dev" and ncomp > 1:
                    r *= 0.6
                p[idx[pre + "half_light_radius" + lab]] = math.log(max(r, 1e-3))
                p[idx[pre + "g1" + lab]] = ref["g1"]
                p[idx[pre + "g2" + lab]] = ref["g2"]
            if kind == "sersic":
                p[idx[pre + "n" + lab]] = 2.0
    return p


def _kernel_args(layout: Layout):
    w, s = layout.c_w, layout.c_s
    n, tw, ts, tdw, tds = layout.tab
    return (layout.c_ipar, layout.c_iflux, layout.c_kind, layout.c_K, w, s, n, tw, ts, tdw, tds)


def _pack_args(pk: dict) -> tuple:
    return (
        pk["e_band"],
        pk["e_pix"],
        pk["e_psf"],
        pk["e_npsf"],
        pk["e_sub"],
        pk["e_nsub"],
        pk["e_area"],
        pk["e_step"],
        pk["pix_u"],
        pk["pix_v"],
        pk["pix_y"],
        pk["pix_w"],
        pk["pix_c"],
    )


def model_images(layout: Layout, p: np.ndarray, exps: list[Exposure]) -> list[np.ndarray]:
    """Render the model (internal parameters ``p``) on every exposure's full grid."""
    pk = pack_exposures(exps, all_pixels=True)
    out = np.zeros(pk["pix_u"].shape[0])
    col = np.full(layout.nparams, -1, dtype=np.int64)
    K.evaluate(
        p,
        col,
        0,
        *_kernel_args(layout),
        *_pack_args(pk),
        False,
        out,
        np.zeros((0, 0)),
        np.zeros(0),
    )
    imgs = []
    for i, e in enumerate(exps):
        imgs.append(out[pk["e_pix"][i] : pk["e_pix"][i + 1]].reshape(e.obs.shape))
    return imgs


def prepare_problem(
    layout: Layout,
    p0: np.ndarray,
    guess: Mapping | None,
    fixed: Mapping | None,
    bounds: Mapping | None,
    priors: Mapping | None,
):
    """Apply user guesses, fixed parameters, bounds and priors (internal units)."""
    names = layout.names
    idx = {n: i for i, n in enumerate(names)}
    p = p0.copy()
    lo = layout.lo.copy()
    hi = layout.hi.copy()
    for k, v in _check_names(guess, names, "guess").items():
        p[idx[k]] = _to_internal(k, v)
    fixed = _check_names(fixed, names, "fixed")
    for k, v in fixed.items():
        p[idx[k]] = _to_internal(k, v)
    for k, v in _check_names(bounds, names, "bounds").items():
        try:
            b0, b1 = v
        except (TypeError, ValueError):
            raise GalmixValueError(f"bounds[{k!r}] must be (low, high), got {v!r}") from None
        lo_i = -np.inf if b0 is None else _to_internal(k, b0)
        hi_i = np.inf if b1 is None else _to_internal(k, b1)
        if not lo_i < hi_i:
            raise GalmixValueError(f"bounds[{k!r}] must have low < high, got {v!r}")
        lo[idx[k]] = max(lo[idx[k]], lo_i)
        hi[idx[k]] = min(hi[idx[k]], hi_i)
    pmu = np.zeros(len(names))
    pis = np.zeros(len(names))
    for k, v in _check_names(priors, names, "priors").items():
        try:
            mu, sig = v
        except (TypeError, ValueError):
            raise GalmixValueError(f"priors[{k!r}] must be (mean, sigma), got {v!r}") from None
        if not sig > 0:
            raise GalmixValueError(f"priors[{k!r}] sigma must be > 0, got {sig!r}")
        if _is_size(k):
            # Gaussian prior on log(hlr) with sigma = sigma_hlr / hlr
            pmu[idx[k]] = math.log(mu)
            pis[idx[k]] = mu / sig
        else:
            pmu[idx[k]] = mu
            pis[idx[k]] = 1.0 / sig
    free = np.array([i for i, n in enumerate(names) if n not in fixed], dtype=np.int64)
    if len(free) == 0:
        raise GalmixValueError("fixed: every parameter is fixed; nothing to fit")
    return p, lo, hi, pmu, pis, free


def status_flags(status: int) -> int:
    """Kernel status code -> FLAGS bits."""
    if status == 1:
        return int(FLAGS.NOT_CONVERGED | FLAGS.MAXITER)
    if status == 2:
        return int(FLAGS.FIT_FAILED)
    if status == 3:
        return int(FLAGS.SINGULAR_COVARIANCE)
    return 0


def bound_flags(layout: Layout, p: np.ndarray, free: np.ndarray, lo, hi) -> int:
    """PARAM_AT_BOUND if a free parameter sits at a bound (or |g| at its limit)."""
    for i in free:
        span = 1e-6 * max(1.0, abs(p[i]))
        if (np.isfinite(lo[i]) and p[i] <= lo[i] + span) or (
            np.isfinite(hi[i]) and p[i] >= hi[i] - span
        ):
            return int(FLAGS.PARAM_AT_BOUND)
    for i1, i2 in layout.g_pairs:
        if (i1 in free or i2 in free) and math.hypot(p[i1], p[i2]) >= G_MAX * (1 - 1e-6):
            return int(FLAGS.PARAM_AT_BOUND)
    return 0


def to_user(layout: Layout, p: np.ndarray, cov: np.ndarray, free: np.ndarray):
    """Internal -> user parameters, errors and covariance."""
    names = layout.names
    vals = np.array([math.exp(p[i]) if _is_size(n) else p[i] for i, n in enumerate(names)])
    jac = np.array([vals[i] if _is_size(names[i]) else 1.0 for i in free])
    ucov = cov * jac[:, None] * jac[None, :]
    errs = np.zeros(len(names))
    for a, i in enumerate(free):
        errs[i] = math.sqrt(ucov[a, a]) if ucov[a, a] > 0 else float("nan")
    return vals, errs, ucov


def assemble_params(layout: Layout, vals, errs, ucov, free) -> tuple[dict, dict]:
    """Named params/errors with total fluxes (dict per band for multi-band)."""
    names = layout.names
    params = {n: float(v) for n, v in zip(names, vals)}
    errors = {n: float(e) for n, e in zip(names, errs)}
    fpos = {int(i): a for a, i in enumerate(free)}
    multi = len(layout.bands) > 1
    for oi in range(len(layout.models)):
        pre = f"o{oi}_" if len(layout.models) > 1 else ""
        totals, terrs = {}, {}
        for b in layout.bands if multi else [""]:
            ids = layout.flux_index[oi][b]
            tot = float(sum(vals[i] for i in ids))
            fa = [fpos[i] for i in ids if i in fpos]
            var = float(ucov[np.ix_(fa, fa)].sum()) if fa else 0.0
            totals[b] = tot
            terrs[b] = math.sqrt(var) if var > 0 else float("nan")
        if multi:
            params[pre + "flux"] = totals
            errors[pre + "flux"] = terrs
        else:
            params[pre + "flux"] = totals[""]
            errors[pre + "flux"] = terrs[""]
    return params, errors


def run_lm(layout, exps, p, lo, hi, pmu, pis, free, settings, rng=None):
    """Run the LM kernel (with retries on failure); returns (p, cov, info)."""
    pk = pack_exposures(exps)
    args = _kernel_args(layout)
    pa = _pack_args(pk)
    best = None
    for attempt in range(settings.ntry):
        start = p.copy()
        if attempt > 0:
            if isinstance(rng, np.random.Generator):
                gen = rng
            else:  # None or an integer seed: deterministic jitter
                gen = np.random.default_rng(attempt if rng is None else rng)
            for i in free:
                nm = layout.internal[i]
                if nm.startswith(("logr",)) or "logr" in nm:
                    start[i] += gen.normal(0, 0.3)
                elif "g1" in nm or "g2" in nm:
                    start[i] = gen.uniform(-0.2, 0.2)
                elif "flux" in nm:
                    start[i] *= gen.uniform(0.7, 1.3)
                elif nm.endswith("n") or "_n" in nm or nm == "n":
                    start[i] = gen.uniform(1.0, 4.0)
        pout = np.empty_like(start)
        cov = np.empty((len(free), len(free)))
        info = np.zeros(6)
        K.lm_fit(
            start,
            free,
            lo,
            hi,
            layout.g_pairs,
            G_MAX,
            pmu,
            pis,
            int(settings.maxiter),
            float(settings.ftol),
            *args,
            *pa,
            pout,
            cov,
            info,
        )
        cand = (pout, cov, info, pk)
        if best is None or (int(info[3]) == 0 and (int(best[2][3]) != 0 or info[0] < best[2][0])):
            best = cand
        if int(info[3]) == 0:
            break
    return best


def fit(
    obs: Any,
    model: str | Model = "sersic",
    psf: Any = None,
    guess: Mapping[str, float] | None = None,
    rng: np.random.Generator | None = None,
    *,
    fixed: Mapping[str, float] | None = None,
    bounds: Mapping[str, tuple[float | None, float | None]] | None = None,
    priors: Mapping[str, tuple[float, float]] | None = None,
    settings: LMSettings | None = None,
    model_images: bool = True,
) -> FitResult:
    """Fit a PSF-convolved, pixel-integrated Gaussian-mixture model.

    Levenberg-Marquardt on analytic derivatives of the rendered model with
    respect to every parameter (numba kernels, no finite differences).

    Parameters
    ----------
    obs : Observation, list of Observation, or MultiBandObservation
        One stamp; several exposures of one band (each with its own Jacobian
        and PSF, centres in a common world frame: ``(u, v) = (0, 0)`` is the
        same sky point); or several bands (shared structure, one flux per
        band).
    model : str or Model
        ``"gauss"``, ``"exp"``, ``"dev"``, ``"sersic"`` (free ``n``),
        ``"point"``, ``"point+sersic"``, ``"exp+dev"`` (simultaneous bulge
        + disc) or ``"expdev"`` (CModel-style: exp and dev fit separately,
        then their best linear combination). Append ``"+sky"`` to fit a
        constant sky level per band as well (``"sersic+sky"``).
    psf : Observation, GMix or profile, optional
        Overrides ``obs.psf`` for every exposure. PSF images are fitted once
        with a Gaussian mixture (``galmix.psf.fit_psf``).
    guess : dict, optional
        Starting values by parameter name (others from adaptive moments).
    rng : numpy.random.Generator, optional
        Jitters the guess for retries of failed fits.
    fixed : dict, optional
        Parameters held fixed at the given values (e.g. ``{"n": 4.0}``).
    bounds : dict, optional
        ``name -> (low, high)`` (``None`` = open).
    priors : dict, optional
        Gaussian priors ``name -> (mean, sigma)``.
    settings : LMSettings, optional
    model_images : bool
        Render the best-fit model of every exposure.

    Returns
    -------
    FitResult

    Raises
    ------
    GalmixValueError, GalmixTypeError
        For invalid arguments (unknown model or parameter names, ...).

    Examples
    --------
    >>> import numpy as np
    >>> from galmix import Observation, Jacobian
    >>> yy, xx = np.mgrid[0:32, 0:32] - 15.5
    >>> img = 100 * np.exp(-0.5 * (xx**2 + yy**2) / 9.0) / (2 * np.pi * 9.0)
    >>> psf = np.array([[1.0, 0.0, 0.0, 1e-6, 0.0, 1e-6]])
    >>> res = fit(Observation(img), "gauss", psf=psf, settings=LMSettings(pixel_scheme="none"))
    >>> res.flags, round(res.params["flux"], 3)
    (0, 100.0)
    """
    settings = settings or LMSettings()
    if isinstance(model, str) and model == "expdev":
        from galmix.fit.expdev import fit_expdev

        return fit_expdev(
            obs,
            psf=psf,
            guess=guess,
            rng=rng,
            fixed=fixed,
            bounds=bounds,
            priors=priors,
            settings=settings,
            model_images=model_images,
        )
    m = parse_model(model)
    bands, olists = normalize_observations(obs)
    exps = make_exposures(olists, psf, settings.pixel_scheme, settings.psf_ngauss, {})
    layout = build_layout([m], bands, settings.sersic_ngauss)
    p0 = default_guess(layout, exps, [m])
    p, lo, hi, pmu, pis, free = prepare_problem(layout, p0, guess, fixed, bounds, priors)
    return _finish(layout, exps, p, lo, hi, pmu, pis, free, settings, rng, m.name, model_images)


def render_model(
    obs: Any,
    model: str | Model,
    params: Mapping[str, Any],
    psf: Any = None,
    settings: LMSettings | None = None,
) -> list[np.ndarray]:
    """Render a model with given parameters exactly as the fitter does.

    Same PSF handling and pixel response as :func:`fit`, so a fitted object
    can be drawn on any other stamp (e.g. to subtract a neighbour's light
    before fitting an object next to it).

    Parameters
    ----------
    obs : Observation, list of Observation, or MultiBandObservation
        The grid(s) to draw on (their images are ignored).
    model : str or Model
        Any model of :func:`fit` except ``"expdev"``.
    params : mapping
        User parameters as in ``FitResult.params``: ``u0``, ``v0`` (world
        offsets from each Jacobian's origin), ``flux`` (or ``flux_<band>``, or
        a dict per band), ``half_light_radius``, ``g1``, ``g2``, ``n``, with
        component labels for multi-component models.
    psf, settings : optional
        As in :func:`fit`.

    Returns
    -------
    list of ndarray
        One model image per exposure (bands in order, then exposures).

    Raises
    ------
    GalmixTypeError
        If ``params`` is not a mapping or ``obs`` is not an observation.
    GalmixValueError
        If a parameter is missing or not finite, or ``model`` is ``"expdev"``.

    Examples
    --------
    >>> import numpy as np
    >>> from galmix import Observation
    >>> psf = np.array([[1.0, 0.0, 0.0, 0.01, 0.0, 0.01]])
    >>> p = {"u0": 0.0, "v0": 0.0, "flux": 10.0, "half_light_radius": 3.0, "g1": 0.0, "g2": 0.0}
    >>> img = render_model(Observation(np.zeros((41, 41))), "gauss", p, psf=psf)[0]
    >>> round(float(img.sum()), 3)
    10.0
    """
    settings = settings or LMSettings()
    if not isinstance(params, Mapping):
        raise GalmixTypeError(
            f"render_model: params must be a mapping of parameter values, got {type(params).__name__}"
        )
    if isinstance(model, str) and model == "expdev":
        raise GalmixValueError("render_model: model 'expdev' is a two-stage fit; render 'exp+dev'")
    m = parse_model(model)
    bands, olists = normalize_observations(obs)
    exps = make_exposures(olists, psf, settings.pixel_scheme, settings.psf_ngauss, {})
    layout = build_layout([m], bands, settings.sersic_ngauss)
    p = np.empty(layout.nparams)
    for i, (name, iname) in enumerate(zip(layout.names, layout.internal)):
        if name in params:
            v = params[name]
        else:
            base, _, band = name.rpartition("_")
            per_band = params.get(base)
            if not (band and isinstance(per_band, Mapping) and band in per_band):
                raise GalmixValueError(f"render_model: params has no {name!r}")
            v = per_band[band]
        try:
            v = float(v)
        except (TypeError, ValueError):
            raise GalmixValueError(
                f"render_model: params[{name!r}] must be a number, got {v!r}"
            ) from None
        if not math.isfinite(v) or (iname.startswith("logr") and not v > 0):
            raise GalmixValueError(f"render_model: params[{name!r}] is invalid: {v!r}")
        p[i] = math.log(v) if iname.startswith("logr") else v
    return model_images(layout, p, exps)


def _finish(layout, exps, p, lo, hi, pmu, pis, free, settings, rng, name, want_images):
    pout, cov, info, pk = run_lm(layout, exps, p, lo, hi, pmu, pis, free, settings, rng)
    flags = status_flags(int(info[3]))
    for e in exps:
        flags |= e.flags
    flags |= bound_flags(layout, pout, free, lo, hi)
    vals, errs, ucov = to_user(layout, pout, cov, free)
    params, errors = assemble_params(layout, vals, errs, ucov, free)
    npix = int(pk["pix_u"].shape[0])
    imgs = model_images(layout, pout, exps) if want_images else []
    return FitResult(
        flags=flags,
        model=name,
        params=params,
        errors=errors,
        covariance=ucov,
        free_params=[layout.names[i] for i in free],
        chi2=float(info[5]),
        dof=npix - len(free),
        nfev=int(info[1]),
        niter=int(info[2]),
        bands=list(layout.bands),
        model_images=imgs,
        observations=[e.obs for e in exps],
        extra={"internal": pout, "layout": layout, "exposures": exps, "free": free},
    )
