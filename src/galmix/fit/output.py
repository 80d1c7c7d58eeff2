"""Fit outputs: result tables and GALFIT-style FITS image blocks."""

from __future__ import annotations

import math
import os
from typing import Any

import numpy as np
from astropy.io import fits
from astropy.table import Table

from galmix._exact import matmul
from galmix.fit.core import FitResult
from galmix.fit.models import parse_model

__all__ = ["galfit_parameters", "results_table", "write_galfit_fits"]


def results_table(results: list[FitResult], ids: list[Any] | None = None) -> Table:
    """Rows of :class:`FitResult` as one astropy Table (columns like :func:`fit_batch`).

    Write it with ``table.write("fits.parquet")`` (Parquet via pyarrow) or
    ``galmix.catalog.write_catalog``.

    Examples
    --------
    >>> t = results_table([])
    >>> len(t)
    0
    """
    rows = []
    for k, r in enumerate(results):
        row: dict[str, Any] = {"id": ids[k] if ids is not None else k, "flags": int(r.flags)}
        row["model"] = r.model
        for key, val in r.params.items():
            err = r.errors.get(key)
            if isinstance(val, dict):
                for b, v in val.items():
                    row[f"{key}_{b}"] = v
                    row[f"{key}_{b}_err"] = err[b] if isinstance(err, dict) else np.nan
            else:
                row[key] = val
                row[key + "_err"] = err if err is not None else np.nan
        row.update(chi2=r.chi2, dof=r.dof, nfev=r.nfev, niter=r.niter)
        rows.append(row)
    if not rows:
        return Table({"id": [], "flags": []})
    cols: list[str] = []
    for r in rows:
        for c in r:
            if c not in cols:
                cols.append(c)
    return Table({c: [r.get(c, np.nan) for r in rows] for c in cols})


def _ellipse_pixels(jac, hlr: float, g1: float, g2: float) -> tuple[float, float, float]:
    """Semi-major half-light radius (pixels), axis ratio and GALFIT PA (deg, up=0, left=90)."""
    from galmix.fit._kernels import shear_matrix

    M = np.zeros((3, 3))
    shear_matrix(g1, g2, M)
    cw = hlr * hlr * np.array([[M[0, 0], M[0, 1]], [M[0, 1], M[0, 2]]])
    jm = np.array([[jac.dudx, jac.dudy], [jac.dvdx, jac.dvdy]])
    ji = np.linalg.inv(jm)
    cp = matmul(matmul(ji, cw), ji.T)
    vals, vecs = np.linalg.eigh(cp)
    lam2, lam1 = vals
    major = vecs[:, 1]
    phi = math.degrees(math.atan2(major[1], major[0]))  # from +x, counter-clockwise
    pa = (phi - 90.0 + 90.0) % 180.0 - 90.0
    return math.sqrt(lam1), math.sqrt(max(lam2, 0.0) / lam1), pa


def galfit_parameters(res: FitResult, zeropoint: float = 0.0, exposure: int = 0) -> dict:
    """GALFIT-style header cards (``COMP_i``, ``i_XC``, ``i_MAG``, ``i_RE``, ...).

    Positions are 1-based FITS pixels of exposure ``exposure``; ``RE`` is the
    semi-major-axis half-light radius in pixels, ``AR`` the axis ratio and
    ``PA`` the position angle in degrees (up = 0, left = 90), as GALFIT
    writes them. Values are strings ``"value +/- error"`` like GALFIT's.
    """
    obs = res.observations[exposure]
    jac = obs.jacobian
    p, e = res.params, res.errors
    cards: dict[str, Any] = {}
    band = res.bands[0] if res.bands else ""

    def _flux(key: str) -> tuple[float, float]:
        if key not in p and f"{key}_{band}" in p:
            key = f"{key}_{band}"
        v, s = p.get(key, np.nan), e.get(key, np.nan)
        if isinstance(v, dict):
            v, s = v[band], s[band]
        return float(v), float(s)

    if res.model == "expdev":
        comps = [("expdisk", "_exp", "flux_exp"), ("devauc", "_dev", "flux_dev")]
        prefixes = [""]
    elif res.model.startswith("blend:"):
        names = res.model[len("blend:") :].split(",")
        comps = None
        prefixes = [f"o{k}_" for k in range(len(names))] if len(names) > 1 else [""]
    else:
        comps = None
        prefixes = [""]
    galfit_name = {
        "sersic": "sersic",
        "exp": "expdisk",
        "dev": "devauc",
        "gauss": "gaussian",
        "point": "psf",
        "sky": "sky",
    }
    ncomp = 0
    for k, pre in enumerate(prefixes):
        if comps is not None:
            clist = comps
        else:
            mname = res.model if not res.model.startswith("blend:") else names[k]
            model = parse_model(mname)
            clist = [
                (galfit_name[kind], lab, "sky" if kind == "sky" else "flux" + lab)
                for kind, lab in zip(model.components, model.component_labels())
            ]
        for gname, lab, fkey in clist:
            ncomp += 1
            i = ncomp
            if gname == "sky":
                sv, se = _flux(pre + fkey)
                cards[f"COMP_{i}"] = "sky"
                cards[f"{i}_SKY"] = f"{sv:.6g} +/- {se:.3g}"
                continue
            u0 = p.get(pre + "u0" + (lab if res.model == "expdev" else ""), p.get(pre + "u0"))
            v0 = p.get(pre + "v0" + (lab if res.model == "expdev" else ""), p.get(pre + "v0"))
            x, y = jac.to_pixel(u0, v0)
            cards[f"COMP_{i}"] = gname
            sfx = lab if res.model == "expdev" else ""
            eu = e.get(pre + "u0" + sfx, e.get(pre + "u0", np.nan))
            ev = e.get(pre + "v0" + sfx, e.get(pre + "v0", np.nan))
            cards[f"{i}_XC"] = f"{x + 1:.4f} +/- {eu / jac.scale:.4f}"
            cards[f"{i}_YC"] = f"{y + 1:.4f} +/- {ev / jac.scale:.4f}"
            f, fe = _flux(pre + fkey)
            mag = zeropoint - 2.5 * math.log10(f) if f > 0 else float("nan")
            mage = 2.5 / math.log(10) * fe / f if f > 0 else float("nan")
            cards[f"{i}_MAG"] = f"{mag:.4f} +/- {mage:.4f}"
            if gname != "psf":
                hlr = p[pre + "half_light_radius" + lab]
                re, ar, pa = _ellipse_pixels(jac, hlr, p[pre + "g1" + lab], p[pre + "g2" + lab])
                hlr_e = e.get(pre + "half_light_radius" + lab, np.nan)
                re_e = re * hlr_e / hlr if isinstance(hlr_e, float) else np.nan
                cards[f"{i}_RE"] = f"{re:.4f} +/- {re_e:.4f}"
                if gname == "sersic":
                    cards[f"{i}_N"] = f"{p[pre + 'n' + lab]:.4f} +/- {e[pre + 'n' + lab]:.4f}"
                cards[f"{i}_AR"] = f"{ar:.4f}"
                cards[f"{i}_PA"] = f"{pa:.4f}"
    cards["NCOMP"] = ncomp
    cards["CHISQ"] = float(res.chi2)
    cards["NDOF"] = int(res.dof)
    cards["NFREE"] = len(res.free_params)
    cards["CHI2NU"] = float(res.chi2_per_dof)
    cards["FLAGS"] = int(res.flags)
    cards["MAGZPT"] = float(zeropoint)
    return cards


def write_galfit_fits(
    res: FitResult,
    path: str | os.PathLike,
    zeropoint: float = 0.0,
    exposure: int = 0,
    overwrite: bool = False,
) -> None:
    """Write a GALFIT-style image block: HDU1 input, HDU2 model, HDU3 residual.

    The model HDU header carries the fitted parameters with GALFIT's keyword
    names (:func:`galfit_parameters`) plus ``CHISQ``, ``NDOF``, ``CHI2NU``.

    Examples
    --------
    >>> import numpy as np, tempfile, os
    >>> from galmix import Observation
    >>> from galmix.fit import fit, LMSettings
    >>> yy, xx = np.mgrid[0:24, 0:24] - 11.5
    >>> img = 50 * np.exp(-0.5 * (xx**2 + yy**2) / 4.0) / (8 * np.pi)
    >>> psf = np.array([[1.0, 0.0, 0.0, 1.0, 0.0, 1.0]])
    >>> res = fit(Observation(img), "gauss", psf=psf)
    >>> path = os.path.join(tempfile.mkdtemp(), "block.fits")
    >>> write_galfit_fits(res, path)
    >>> from astropy.io import fits
    >>> fits.getheader(path, 2)["COMP_1"]
    'gaussian'
    """
    obs = res.observations[exposure]
    model = res.model_images[exposure]
    prim = fits.PrimaryHDU()
    prim.header["ORIGIN"] = "galmix.fit"
    h_in = fits.ImageHDU(np.asarray(obs.image, dtype=np.float32), name="INPUT")
    h_mod = fits.ImageHDU(np.asarray(model, dtype=np.float32), name="MODEL")
    h_res = fits.ImageHDU(np.asarray(obs.image - model, dtype=np.float32), name="RESIDUAL")
    h_mod.header["OBJECT"] = res.model
    for key, val in galfit_parameters(res, zeropoint, exposure).items():
        h_mod.header[key] = val
    for h in (h_in, h_mod, h_res):
        jac = obs.jacobian
        h.header["GMJAC"] = (
            " ".join(f"{v:.10g}" for v in jac.as_array()),
            "galmix Jacobian dudx dudy dvdx dvdy x0 y0",
        )
    fits.HDUList([prim, h_in, h_mod, h_res]).writeto(path, overwrite=overwrite)
