"""Many independent fits in parallel: :func:`fit_batch`."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from astropy.table import Table

from galmix.errors import FLAGS, GalmixValueError
from galmix.fit import _kernels as K
from galmix.fit.core import (
    LMSettings,
    _kernel_args,
    _pack_args,
    assemble_params,
    bound_flags,
    default_guess,
    prepare_problem,
    psf_T,
    status_flags,
    to_user,
)
from galmix.fit.data import make_exposures, normalize_observations, pack_exposures
from galmix.fit.guess import guess_from_moments
from galmix.fit.models import G_MAX, build_layout, parse_model

__all__ = ["fit_batch"]


def _pad(arr: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    out = np.zeros(shape, dtype=arr.dtype)
    out[tuple(slice(0, s) for s in arr.shape)] = arr
    return out


def fit_batch(
    observations: Sequence[Any],
    model: str = "sersic",
    psf: Any = None,
    *,
    guesses: Sequence[Mapping[str, float] | None] | None = None,
    fixed: Mapping[str, float] | None = None,
    bounds: Mapping[str, tuple] | None = None,
    priors: Mapping[str, tuple[float, float]] | None = None,
    settings: LMSettings | None = None,
    ids: Sequence[Any] | None = None,
    nthreads: int | None = None,
    chunk_size: int = 2048,
) -> Table:
    """Fit many independent objects in parallel (numba threads).

    Every object gets the same model; the LM fits run in a ``prange`` over
    objects. One bad stamp never stops the batch: its row gets ``flags``
    bits (``BAD_INPUT``, ``FIT_FAILED``, ...) and NaN parameters.

    Parameters
    ----------
    observations : sequence
        One entry per object: an ``Observation``, a list of them (several
        exposures) or a ``MultiBandObservation`` (all with the same bands).
    model : str
        As in :func:`galmix.fit.fit` (``"expdev"`` included).
    psf : optional
        PSF for every object (overrides each ``obs.psf``).
    guesses : sequence of dict, optional
        Per-object starting values.
    fixed, bounds, priors : dict, optional
        As in :func:`galmix.fit.fit`, shared by all objects.
    settings : LMSettings, optional
    ids : sequence, optional
        Object identifiers for the ``id`` column (default ``0..N-1``).
    nthreads : int, optional
        Numba threads (default: numba's current setting).
    chunk_size : int
        Objects packed and fit per parallel call (bounds memory: pixels of
        one chunk are held at once).

    Returns
    -------
    astropy.table.Table
        One row per input, same order: ``id``, ``flags``, every parameter
        and ``<name>_err``, ``chi2``, ``dof``, ``nfev``, ``niter``.

    Examples
    --------
    >>> import numpy as np
    >>> from galmix import Observation
    >>> yy, xx = np.mgrid[0:24, 0:24] - 11.5
    >>> img = 50 * np.exp(-0.5 * (xx**2 + yy**2) / 4.0) / (8 * np.pi)
    >>> psf = np.array([[1.0, 0.0, 0.0, 1.0, 0.0, 1.0]])
    >>> t = fit_batch([Observation(img), np.zeros(3)], "gauss", psf=psf)
    >>> list(t["flags"] > 0), round(float(t["flux"][0]), 2)
    ([np.False_, np.True_], 50.0)
    """
    settings = settings or LMSettings()
    nobj = len(observations)
    if int(chunk_size) < 1:
        raise GalmixValueError(f"chunk_size must be >= 1, got {chunk_size!r}")
    if nobj > chunk_size:
        from astropy.table import vstack

        if ids is not None and len(ids) != nobj:
            raise GalmixValueError(f"ids has length {len(ids)}, expected {nobj}")
        if guesses is not None and len(guesses) != nobj:
            raise GalmixValueError(f"guesses has length {len(guesses)}, expected {nobj}")
        all_ids = list(ids) if ids is not None else list(range(nobj))
        parts = []
        for a in range(0, nobj, chunk_size):
            b = min(a + chunk_size, nobj)
            parts.append(
                fit_batch(
                    observations[a:b],
                    model,
                    psf,
                    guesses=None if guesses is None else guesses[a:b],
                    fixed=fixed,
                    bounds=bounds,
                    priors=priors,
                    settings=settings,
                    ids=all_ids[a:b],
                    nthreads=nthreads,
                    chunk_size=chunk_size,
                )
            )
        out = vstack(parts, metadata_conflicts="silent")
        out.meta.update(parts[0].meta)
        return out
    if ids is not None and len(ids) != nobj:
        raise GalmixValueError(f"ids has length {len(ids)}, expected {nobj}")
    if guesses is not None and len(guesses) != nobj:
        raise GalmixValueError(f"guesses has length {len(guesses)}, expected {nobj}")
    if isinstance(model, str) and model == "expdev":
        from galmix.fit.expdev import expdev_batch

        return expdev_batch(
            observations,
            psf=psf,
            guesses=guesses,
            fixed=fixed,
            bounds=bounds,
            priors=priors,
            settings=settings,
            ids=ids,
            nthreads=nthreads,
        )
    m = parse_model(model)
    # bands from the first valid object
    bands = None
    for o in observations:
        try:
            bands = normalize_observations(o)[0]
            break
        except Exception:
            continue
    if bands is None:
        bands = [""]
    layout = build_layout([m], bands, settings.sersic_ngauss)
    P = layout.nparams
    flags = np.zeros(nobj, dtype=np.int64)
    psf_cache: dict = {}
    # 1. exposures (PSF mixtures cached per PSF object)
    exps_by_obj: list[list | None] = []
    for k, o in enumerate(observations):
        try:
            b, olists = normalize_observations(o)
            if b != bands:
                raise GalmixValueError(f"object {k} has bands {b}, expected {bands}")
            exps = make_exposures(
                olists, psf, settings.pixel_scheme, settings.psf_ngauss, psf_cache
            )
            for e in exps:
                flags[k] |= e.flags
            exps_by_obj.append(exps)
        except Exception:
            flags[k] |= int(FLAGS.BAD_INPUT)
            exps_by_obj.append(None)
    # 2. pack all pixels
    all_exps = []
    o_exp = np.zeros(nobj + 1, dtype=np.int64)
    for k in range(nobj):
        if exps_by_obj[k] is not None:
            all_exps.extend(exps_by_obj[k])
        o_exp[k + 1] = len(all_exps)
    pk = pack_exposures(all_exps) if all_exps else None
    # 3. adaptive moments of each object's first exposure per band, in parallel
    nb = len(bands)
    mexp = np.full(nobj * nb, -1, dtype=np.int64)
    T0 = np.ones(nobj * nb)
    lim = np.ones(nobj * nb)
    pT = np.zeros(nobj * nb)
    scales = np.ones(nobj * nb)
    for k in range(nobj):
        exps = exps_by_obj[k]
        if exps is None:
            continue
        for j, e in enumerate(exps):
            q = k * nb + e.band
            if mexp[q] >= 0:
                continue
            mexp[q] = o_exp[k] + j
            sc = e.obs.jacobian.scale
            pT[q] = psf_T(e)
            scales[q] = sc
            T0[q] = max(2.0 * (2.0 * sc) ** 2, pT[q])
            lim[q] = 0.25 * min(e.obs.shape) * sc
    mom = np.zeros((nobj * nb, 7))
    if pk is not None:
        K.moments_batch(pk["e_pix"], pk["pix_u"], pk["pix_v"], pk["pix_y"], mexp, T0, lim, 8, mom)
    # 4. starting points, bounds, priors
    prepared = []
    free = None
    for k in range(nobj):
        exps = exps_by_obj[k]
        if exps is None:
            prepared.append(None)
            continue
        try:
            mg = {
                b: guess_from_moments(mom[k * nb + b], pT[k * nb + b], scales[k * nb + b])
                for b in range(nb)
            }
            p0 = default_guess(layout, exps, [m], mg=mg)
            g = guesses[k] if guesses is not None else None
            p, lo, hi, pmu, pis, fr = prepare_problem(layout, p0, g, fixed, bounds, priors)
            free = fr
            if not np.all(np.isfinite(p[np.isfinite(p)])):
                raise GalmixValueError("non-finite guess")
            prepared.append((exps, p, lo, hi, pmu, pis))
        except Exception:
            flags[k] |= int(FLAGS.BAD_INPUT)
            prepared.append(None)
    if free is None:
        free = np.arange(P, dtype=np.int64)
    nfree = len(free)
    good_idx = [k for k in range(nobj) if prepared[k] is not None]
    p0 = np.zeros((nobj, P))
    lo = np.full((nobj, P), -np.inf)
    hi = np.full((nobj, P), np.inf)
    pmu = np.zeros((nobj, P))
    pis = np.zeros((nobj, P))
    for k in good_idx:
        _, p0[k], lo[k], hi[k], pmu[k], pis[k] = prepared[k]
    pout = np.full((nobj, P), np.nan)
    cov = np.full((nobj, nfree, nfree), np.nan)
    info = np.zeros((nobj, 6))
    skip = np.array([prepared[k] is None for k in range(nobj)])
    if pk is not None:
        old = None
        if nthreads is not None:
            import numba

            old = numba.get_num_threads()
            numba.set_num_threads(int(nthreads))
        try:
            K.lm_fit_batch(
                p0,
                free,
                lo,
                hi,
                layout.g_pairs,
                G_MAX,
                pmu,
                pis,
                int(settings.maxiter),
                float(settings.ftol),
                *_kernel_args(layout),
                o_exp,
                *_pack_args(pk),
                pout,
                cov,
                info,
                skip,
            )
        finally:
            if old is not None:
                import numba

                numba.set_num_threads(old)
        npix = np.diff(pk["e_pix"])
    rows = []
    for k in range(nobj):
        row: dict[str, Any] = {}
        if prepared[k] is None:
            rows.append(row)
            continue
        exps, _, lo_k, hi_k, _, _ = prepared[k]
        flags[k] |= status_flags(int(info[k, 3]))
        flags[k] |= bound_flags(layout, pout[k], free, lo_k, hi_k)
        vals, errs, ucov = to_user(layout, pout[k], cov[k], free)
        params, errors = assemble_params(layout, vals, errs, ucov, free)
        row.update(params=params, errors=errors)
        row["chi2"] = info[k, 5]
        row["nfev"] = int(info[k, 1])
        row["niter"] = int(info[k, 2])
        row["dof"] = int(npix[o_exp[k] : o_exp[k + 1]].sum()) - nfree
        rows.append(row)
    return _to_table(rows, layout, flags, ids, m.name)


def _to_table(rows, layout, flags, ids, name) -> Table:
    nobj = len(rows)
    multi = len(layout.bands) > 1
    cols: dict[str, Any] = {"id": list(ids) if ids is not None else np.arange(nobj)}
    cols["flags"] = flags
    names = list(layout.names)
    if multi:
        names += [f"flux_{b}" for b in layout.bands if f"flux_{b}" not in names]
    elif "flux" not in names:
        names.append("flux")
    for nm in names:
        v = np.full(nobj, np.nan)
        e = np.full(nobj, np.nan)
        for k, r in enumerate(rows):
            if "params" not in r:
                continue
            pv, pe = r["params"], r["errors"]
            if nm in pv and not isinstance(pv[nm], dict):
                v[k], e[k] = pv[nm], pe[nm]
            elif multi and nm.startswith("flux_") and nm[5:] in pv.get("flux", {}):
                v[k], e[k] = pv["flux"][nm[5:]], pe["flux"][nm[5:]]
        cols[nm] = v
        cols[nm + "_err"] = e
    for nm, dt in (("chi2", float), ("dof", int), ("nfev", int), ("niter", int)):
        fill = np.nan if dt is float else -1
        cols[nm] = np.array([r.get(nm, fill) for r in rows], dtype=dt)
    t = Table(cols)
    t.meta["model"] = name
    t.meta["bands"] = ",".join(layout.bands)
    return t
