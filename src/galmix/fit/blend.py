"""Simultaneous fits of blended neighbours (as MultiProFit / AstroPhot groups)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from astropy.table import Table

from galmix.errors import FLAGS, GalmixValueError
from galmix.fit.core import FitResult, LMSettings, _finish, prepare_problem
from galmix.fit.data import make_exposures, normalize_observations
from galmix.fit.guess import moments_guess
from galmix.fit.models import Model, build_layout, parse_model

__all__ = ["blend_table", "fit_blend", "fit_groups", "group_objects"]


def group_objects(x: Any, y: Any, radius: float) -> np.ndarray:
    """Friends-of-friends groups: objects closer than ``radius`` (pixels) share a group.

    Returns
    -------
    ndarray of int
        Group label per object (0-based, in order of first appearance).

    Examples
    --------
    >>> group_objects([0, 3, 50], [0, 0, 0], radius=5.0).tolist()
    [0, 0, 1]
    """
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components
    from scipy.spatial import cKDTree

    pts = np.column_stack([np.asarray(x, float), np.asarray(y, float)])
    n = len(pts)
    if n == 0:
        return np.zeros(0, dtype=np.int64)
    pairs = cKDTree(pts).query_pairs(float(radius), output_type="ndarray")
    graph = coo_matrix((np.ones(len(pairs)), (pairs[:, 0], pairs[:, 1])), shape=(n, n))
    _, labels = connected_components(graph, directed=False)
    # relabel by first appearance
    _, first = np.unique(labels, return_index=True)
    order = np.argsort(first)
    remap = np.empty_like(order)
    remap[order] = np.arange(len(order))
    return remap[labels].astype(np.int64)


def _voronoi_masked(obs, centres_uv, k):
    """``obs`` re-centred on object ``k`` with pixels nearer other objects given weight 0."""
    ny, nx = obs.shape
    jac = obs.jacobian
    yy, xx = np.mgrid[0:ny, 0:nx]
    u, v = jac.to_world(xx, yy)
    d = np.stack([(u - cu) ** 2 + (v - cv) ** 2 for cu, cv in centres_uv])
    mine = np.argmin(d, axis=0) == k
    x0, y0 = jac.to_pixel(*centres_uv[k])
    w = np.where(mine, obs.weight, 0.0)
    if not np.any(w > 0):
        w = obs.weight
    return obs.replace(weight=w, jacobian=jac.with_origin(float(x0), float(y0)))


def fit_blend(
    obs: Any,
    centres: Sequence[tuple[float, float]],
    models: str | Model | Sequence[str | Model] = "sersic",
    psf: Any = None,
    guesses: Sequence[Mapping[str, float] | None] | None = None,
    rng: np.random.Generator | None = None,
    *,
    fixed: Mapping[str, float] | None = None,
    bounds: Mapping | None = None,
    priors: Mapping | None = None,
    settings: LMSettings | None = None,
    model_images: bool = True,
) -> FitResult:
    """Fit a group of neighbouring objects simultaneously, each with its own model.

    Parameters
    ----------
    obs : Observation, list of Observation or MultiBandObservation
        The image region containing the whole group.
    centres : sequence of (u, v)
        Starting world positions (arcsec from the Jacobian origin) of the
        objects; use ``obs.jacobian.to_world(x, y)`` for pixel positions.
    models : str, Model or sequence of them
        One model for all, or one per object (``"point"`` for stars).
    guesses : sequence of dict, optional
        Per-object starting values (names without the ``o{i}_`` prefix).
    fixed, bounds, priors : dict, optional
        With the prefixed names ``o{i}_<name>``.

    Returns
    -------
    FitResult
        Parameters are named ``o{i}_<name>``; :func:`blend_table` turns it
        into one row per object. ``flags`` include ``BLENDED`` when the
        group has more than one object.

    Examples
    --------
    >>> import numpy as np
    >>> from galmix import Observation, Jacobian
    >>> from galmix.profiles import Gaussian
    >>> from galmix.render import draw
    >>> jac = Jacobian.from_scale(0.2, 24.5, 19.5)
    >>> psf = np.array([[1.0, 0.0, 0.0, 0.02, 0.0, 0.02]])
    >>> img = draw(Gaussian(10.0, 0.3).shift(-0.8, 0.0), jac, (40, 50), psf=psf)
    >>> img += draw(Gaussian(5.0, 0.4).shift(0.9, 0.2), jac, (40, 50), psf=psf)
    >>> res = fit_blend(Observation(img, jacobian=jac), [(-0.7, 0.1), (1.0, 0.1)], "gauss",
    ...                 psf=psf)
    >>> [round(float(f), 2) for f in blend_table(res)["flux"]]
    [10.0, 5.0]
    """
    settings = settings or LMSettings()
    nobj = len(centres)
    if nobj < 1:
        raise GalmixValueError("centres must hold at least one (u, v) position, got none")
    if isinstance(models, (str, Model)):
        mlist = [parse_model(models)] * nobj
    else:
        mlist = [parse_model(m) for m in models]
        if len(mlist) != nobj:
            raise GalmixValueError(f"models has {len(mlist)} entries for {nobj} centres")
    if guesses is not None and len(guesses) != nobj:
        raise GalmixValueError(f"guesses has {len(guesses)} entries for {nobj} centres")
    centres_uv = [(float(u), float(v)) for u, v in centres]
    bands, olists = normalize_observations(obs)
    exps = make_exposures(olists, psf, settings.pixel_scheme, settings.psf_ngauss, {})
    layout = build_layout(mlist, bands, settings.sersic_ngauss)
    idx = {n: i for i, n in enumerate(layout.names)}
    p0 = np.zeros(layout.nparams)
    multi_obj = nobj > 1
    for k, m in enumerate(mlist):
        pre = f"o{k}_" if multi_obj else ""
        # per-band moments of the object's own (Voronoi) region
        mg = {}
        for e in exps:
            if e.band in mg:
                continue
            psf_T = float(np.sum(e.psf[:, 0] * (e.psf[:, 3] + e.psf[:, 5])))
            mg[e.band] = moments_guess(_voronoi_masked(e.obs, centres_uv, k), psf_T=psf_T)
        ref = mg[0]
        p0[idx[pre + "u0"]] = centres_uv[k][0]
        p0[idx[pre + "v0"]] = centres_uv[k][1]
        ncomp = len([c for c in m.components if c != "sky"])
        for kind, lab in zip(m.components, m.component_labels()):
            if kind == "sky":
                continue
            frac = 1.0 / ncomp
            for b in range(len(bands)):
                nm = pre + "flux" + lab + (f"_{bands[b]}" if len(bands) > 1 else "")
                p0[idx[nm]] = mg[b]["flux"] * frac
            if kind != "point":
                p0[idx[pre + "half_light_radius" + lab]] = np.log(
                    max(ref["half_light_radius"], 1e-3)
                )
                p0[idx[pre + "g1" + lab]] = ref["g1"]
                p0[idx[pre + "g2" + lab]] = ref["g2"]
            if kind == "sersic":
                p0[idx[pre + "n" + lab]] = 2.0
    guess_all: dict[str, float] = {}
    if guesses is not None:
        for k, g in enumerate(guesses):
            for name, val in (g or {}).items():
                guess_all[(f"o{k}_" if multi_obj else "") + name] = val
    p, lo, hi, pmu, pis, free = prepare_problem(layout, p0, guess_all, fixed, bounds, priors)
    name = "blend:" + ",".join(m.name for m in mlist)
    res = _finish(layout, exps, p, lo, hi, pmu, pis, free, settings, rng, name, model_images)
    if multi_obj:
        res.flags |= int(FLAGS.BLENDED)
    res.extra["nobj"] = nobj
    res.extra["models"] = [m.name for m in mlist]
    return res


def blend_table(res: FitResult, ids: Sequence[Any] | None = None, group: int = 0) -> Table:
    """One row per object of a :func:`fit_blend` result (with group membership)."""
    nobj = res.extra.get("nobj", 1)
    ids = list(ids) if ids is not None else list(range(nobj))
    rows = []
    names: list[str] = []
    for k in range(nobj):
        pre = f"o{k}_" if nobj > 1 else ""
        row: dict[str, Any] = {"id": ids[k], "group": group, "group_size": nobj}
        row["group_members"] = ",".join(str(i) for i in ids)
        row["flags"] = int(res.flags)
        row["model"] = res.extra.get("models", [res.model])[k]
        for key, val in res.params.items():
            if not key.startswith(pre):
                continue
            short = key[len(pre) :]
            if isinstance(val, dict):
                for b, v in val.items():
                    row[f"{short}_{b}"] = v
                    row[f"{short}_{b}_err"] = res.errors[key][b]
            else:
                row[short] = val
                row[short + "_err"] = res.errors[key]
            if short not in names:
                names.append(short)
        rows.append(row)
    cols = sorted({c for r in rows for c in r}, key=lambda c: (c not in ("id", "group"), c))
    data = {c: [r.get(c, np.nan) for r in rows] for c in cols}
    t = Table(data)
    t.meta["chi2"] = res.chi2
    t.meta["dof"] = res.dof
    return t


def fit_groups(
    obs: Any,
    x: Sequence[float],
    y: Sequence[float],
    models: str = "sersic",
    *,
    radius: float = 10.0,
    margin: int = 15,
    ids: Sequence[Any] | None = None,
    psf: Any = None,
    settings: LMSettings | None = None,
) -> Table:
    """Group detections (friends-of-friends) and fit every group simultaneously.

    Each group is fit on the image region around its members (bounding box
    plus ``margin`` pixels). Single-image ``Observation`` only. Failures of
    one group are flagged (``FIT_FAILED``) and never stop the others.

    Returns
    -------
    astropy.table.Table
        One row per input object, in input order, with ``group``,
        ``group_size`` and ``group_members``.
    """
    from galmix.image import Observation

    if not isinstance(obs, Observation):
        raise GalmixValueError("fit_groups: obs must be a single Observation")
    x = np.asarray(x, float)
    y = np.asarray(y, float)
    ids = list(ids) if ids is not None else list(range(len(x)))
    labels = group_objects(x, y, radius)
    ny, nx = obs.shape
    tables = []
    for g in np.unique(labels):
        sel = np.flatnonzero(labels == g)
        gids = [ids[i] for i in sel]
        x0 = max(int(np.floor(x[sel].min())) - margin, 0)
        x1 = min(int(np.ceil(x[sel].max())) + margin + 1, nx)
        y0 = max(int(np.floor(y[sel].min())) - margin, 0)
        y1 = min(int(np.ceil(y[sel].max())) + margin + 1, ny)
        try:
            cut = obs.trimmed(y0, y1, x0, x1)
            cu = [cut.jacobian.to_world(x[i] - x0, y[i] - y0) for i in sel]
            res = fit_blend(cut, cu, models, psf=psf, settings=settings, model_images=False)
            t = blend_table(res, gids, int(g))
        except Exception:
            t = Table(
                {
                    "id": gids,
                    "group": [int(g)] * len(sel),
                    "group_size": [len(sel)] * len(sel),
                    "group_members": [",".join(map(str, gids))] * len(sel),
                    "flags": [int(FLAGS.FIT_FAILED)] * len(sel),
                }
            )
        t["x_offset"] = [x0] * len(t)
        t["y_offset"] = [y0] * len(t)
        tables.append(t)
    from astropy.table import vstack

    out = vstack(tables, metadata_conflicts="silent")
    order = {i: k for k, i in enumerate(ids)}
    out = out[np.argsort([order[i] for i in out["id"]])]
    return out
