"""Multi-band Sersic and CModel fits of a simulated patch, truth matching, a real HST galaxy.

Workflow of seed 003 (MultiProFit / CModel validation on DC2): fit every
detected object of a multi-band patch with a shared-shape Sersic model and with
CModel (exponential + de Vaucouleurs), match to the truth table, and make the
validation plots -- measured minus true magnitude with running median and
sigma_MAD (``matchedRefMagDiff``), colour differences
(``matchedRefColorDiff``), chi = (measured - true) / error
(``matchedRefMagChi``), sizes -- then fit a real two-band HST galaxy and look
at the residuals.

1. ``galmix.sim.simulate_field`` draws a g, r, i patch with GalSim (Sersic
   galaxies with redshift-dependent colours, stars, TAN-SIP WCS dithered per
   band, Moffat PSFs per band) and writes FITS images, weights, a truth table
   and a pipeline config;
2. ``galmix.pipeline.run_pipeline`` registers, detects on the coadd, measures,
   fits a multi-band Sersic model (``measurement.fit.model: sersic``) and
   matches to the truth (``truth_match.parquet``);
   the CModel (``expdev``) fits are then run with ``galmix.fit.fit_batch`` on
   stamps cut from each band at the detected positions, each with the local
   Jacobian of its band's WCS (the pipeline's ``fit.model: expdev`` would do
   the same in one go);
3. ``galmix.plots`` makes the diagnostic figures;
4. ``galmix.fit.fit`` fits AEGIS galaxy 14886 (F606W + F814W, 0.03 arcsec
   pixels, Tiny Tim PSF images) jointly in both bands.

Run::

    python examples/multiband_fitting.py --out out/multiband [--data DIR] [--full]

``DIR`` is the test-data folder holding ``galsim/real_comparison_images``
(default ``../shared/data`` or ``GALMIX_SHARED_DATA``).
"""

from __future__ import annotations

import argparse
import math
import os
from pathlib import Path

import numpy as np

from galmix import WCS, Jacobian, MultiBandObservation, Observation
from galmix.catalog import read_catalog
from galmix.fit import fit, fit_batch
from galmix.pipeline import run_pipeline
from galmix.plots import (
    chi_figure,
    colour_diff_figure,
    mag_diff_figure,
    rebuild_figure,
    sigma_mad,
    size_figure,
)
from galmix.sim import simulate_field

BANDS = ("g", "r", "i")
ACS_ZEROPOINTS = {"F606W": 26.486, "F814W": 25.937}  # ACS/WFC AB zero points


def default_data_dir() -> Path:
    env = os.environ.get("GALMIX_SHARED_DATA")
    if env:
        return Path(env)
    return Path(__file__).resolve().parents[2] / "shared" / "data"


def run_patch(out: Path, fast: bool) -> dict:
    """Simulate the patch, run the pipeline with Sersic and CModel fits."""
    size, ngal, nstar = (360, 50, 10) if fast else (1000, 300, 30)
    field = simulate_field(bands=BANDS, shape=(size, size), n_galaxies=ngal, n_stars=nstar, seed=3)
    cfg = field.write(out / "inputs")
    overrides = {
        "output": str(out / "run"),
        "executor": {"kind": "serial", "workers": 1, "scheduler": None},
        "measurement": {"fit": {"model": "sersic", "multiband": True}},
        "photoz": {"model": None, "train": False},
    }
    res = run_pipeline(cfg, overrides=overrides, progress=False, report=False)
    tm = read_catalog(res.output / "truth_match.parquet")
    return {"field": field, "runs": {"sersic": tm, "expdev": cmodel_fits(field, tm)}}


def cmodel_fits(field, tm, half: int = 16):
    """CModel (exp + dev) fits of every truth-matched object on per-band stamps.

    Pixels nearer to another detection than to the object are masked (a
    Voronoi split of the stamp), so neighbours do not leak into the fit.
    """
    all_ra, all_dec = np.asarray(tm["ra"], float), np.asarray(tm["dec"], float)
    tm = tm[np.asarray(tm["match_id"]) >= 0]
    full = {b: field.observation(b) for b in BANDS}
    wcs = {b: WCS.from_fits(field.headers[b]) for b in BANDS}
    batch, keep = [], []
    for k, row in enumerate(tm):
        stamps = {}
        for b in BANDS:
            x, y = wcs[b].world_to_pixel(float(row["ra"]), float(row["dec"]))
            ix, iy = round(float(x)), round(float(y))
            ny, nx = full[b].shape
            if ix - half < 0 or iy - half < 0 or ix + half >= nx or iy + half >= ny:
                break
            o = full[b].trimmed(iy - half, iy + half, ix - half, ix + half)
            nx_, ny_ = wcs[b].world_to_pixel(all_ra, all_dec)
            near = (np.abs(nx_ - ix) < 2 * half) & (np.abs(ny_ - iy) < 2 * half)
            yy, xx = np.mgrid[iy - half : iy + half, ix - half : ix + half]
            d_self = np.hypot(xx - x, yy - y)
            d_other = np.full(d_self.shape, np.inf)
            for ox, oy in zip(nx_[near], ny_[near]):
                if abs(ox - x) + abs(oy - y) > 0.5:  # not the object itself
                    d_other = np.minimum(d_other, np.hypot(xx - ox, yy - oy))
            o = o.with_mask(d_other < d_self)
            jac = wcs[b].jacobian(float(x), float(y))
            stamps[b] = o.replace(
                jacobian=jac.with_origin(float(x) - (ix - half), float(y) - (iy - half))
            )
        if len(stamps) == len(BANDS):
            batch.append(MultiBandObservation(stamps))
            keep.append(k)
    res = fit_batch(batch, "expdev")
    out = tm[keep]
    out["fit_flags"] = np.asarray(res["flags"])
    for b in BANDS:
        f = np.asarray(res[f"flux_{b}"], float)
        out[f"fit_flux_{b}"] = f
        out[f"fit_flux_{b}_err"] = np.asarray(res[f"flux_{b}_err"], float)
        with np.errstate(invalid="ignore", divide="ignore"):
            out[f"{b}_mag_fit"] = -2.5 * np.log10(f) + field.zeropoints[b]
    return out


def load_aegis(data_dir: Path, band: str, row: int) -> tuple[Observation, dict]:
    """One AEGIS stamp with its PSF image (sky NOISE_MEAN subtracted)."""
    from astropy.io import fits
    from astropy.table import Table

    name = {"F606W": "F606w", "F814W": "F814w"}[band]
    r = Table.read(data_dir / f"AEGIS_{name}_catalog.fits")[row]
    gal = np.asarray(fits.getdata(data_dir / r["GAL_FILENAME"].strip(), int(r["GAL_HDU"])), float)
    psf = np.asarray(fits.getdata(data_dir / r["PSF_FILENAME"].strip(), int(r["PSF_HDU"])), float)
    s = float(r["PIXEL_SCALE"])
    pobs = Observation(
        psf, jacobian=Jacobian.from_scale(s, (psf.shape[1] - 1) / 2, (psf.shape[0] - 1) / 2)
    )
    obs = Observation(
        gal - float(r["NOISE_MEAN"]),
        weight=np.full(gal.shape, 1.0 / float(r["NOISE_VARIANCE"])),
        jacobian=Jacobian.from_scale(s, (gal.shape[1] - 1) / 2, (gal.shape[0] - 1) / 2),
        psf=pobs,
    )
    return obs, {"ident": int(r["IDENT"]), "mag": float(r["MAG"])}


def fit_hst(data_dir: Path, row: int = 1) -> dict:
    """Joint two-band Sersic and CModel fits of one AEGIS galaxy."""
    obs, cat = {}, {}
    for band in ACS_ZEROPOINTS:
        obs[band], cat[band] = load_aegis(data_dir, band, row)
    mb = MultiBandObservation(obs)
    out = {"ident": cat["F814W"]["ident"], "obs": obs}
    for model in ("sersic", "expdev"):
        res = fit(mb, model)
        f = res.params["flux"]
        colour = -2.5 * math.log10(f["F606W"] / f["F814W"]) + (
            ACS_ZEROPOINTS["F606W"] - ACS_ZEROPOINTS["F814W"]
        )
        out[model] = res
        out[model + "_colour"] = colour
    out["catalog_colour"] = cat["F606W"]["mag"] - cat["F814W"]["mag"]
    return out


def main(out_dir: str | os.PathLike, fast: bool = True, data_dir: str | None = None) -> dict:
    """Run the patch and the HST fit; write the diagnostic figures into ``out_dir``.

    Returns a dict of the key numbers (checked by ``tests/test_examples.py``).
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    figs = {}

    # 1-2. patch, pipeline, truth match
    patch = run_patch(out, fast)
    field = patch["field"]
    numbers = {}
    for model, tm in patch["runs"].items():
        label = "Sersic" if model == "sersic" else "CModel (exp+dev)"
        hit = (np.asarray(tm["match_id"]) >= 0) & (np.asarray(tm["fit_flags"]) == 0)
        t = tm[hit]
        star = np.asarray(t["true_is_star"], bool)
        fig = mag_diff_figure(t["true_mag_r"], t["r_mag_fit"], star, band="r", label=label)
        figs[f"magdiff_{model}"] = _save(fig, out / f"patch_magdiff_{model}.png", plt)
        fig = colour_diff_figure(
            np.asarray(t["true_mag_g"]) - np.asarray(t["true_mag_i"]),
            np.asarray(t["g_mag_fit"]) - np.asarray(t["i_mag_fit"]),
            t["true_mag_r"],
            star,
            colour_name="g - i",
            label=label,
        )
        figs[f"colourdiff_{model}"] = _save(fig, out / f"patch_colourdiff_{model}.png", plt)
        chis = {
            b: (np.asarray(t[f"fit_flux_{b}"]) - np.asarray(t[f"true_flux_{b}"]))
            / np.asarray(t[f"fit_flux_{b}_err"])
            for b in BANDS
        }
        fig = chi_figure(chis, title=f"{label}: flux chi vs truth")
        figs[f"chi_{model}"] = _save(fig, out / f"patch_chi_{model}.png", plt)
        gal = ~star
        dmag = np.asarray(t["r_mag_fit"])[gal] - np.asarray(t["true_mag_r"])[gal]
        bright = np.asarray(t["true_mag_r"])[gal] < 22.5
        numbers[model] = {
            "n_matched": int(hit.sum()),
            "n_truth": len(field.truth),
            "median_dmag_r_bright_gal": float(np.median(dmag[bright])),
            "sigma_mad_dmag_r_bright_gal": float(sigma_mad(dmag[bright])),
            "median_chi_r": float(np.nanmedian(chis["r"])),
        }
        if model == "sersic":
            fig = size_figure(
                t["true_hlr"][gal],
                t["fit_half_light_radius"][gal],
                t["true_n"][gal],
                t["fit_n"][gal],
                t["true_mag_r"][gal],
            )
            figs["size"] = _save(fig, out / "patch_sizes.png", plt)

    # 4. a real HST galaxy, both bands jointly
    data = Path(data_dir) if data_dir else default_data_dir()
    hst = fit_hst(data / "galsim" / "real_comparison_images")
    stamps, titles = [], []
    for model in ("sersic", "expdev"):
        res = hst[model]
        for k, band in enumerate(ACS_ZEROPOINTS):
            o = hst["obs"][band]
            stamps.append({"data": o.image, "model": res.model_images[k], "weight": o.weight})
            titles.append(f"{band} {model}\nchi2/dof {res.chi2_per_dof:.2f}")
    fig = rebuild_figure(stamps, titles)
    fig.suptitle(f"AEGIS {hst['ident']}: joint F606W+F814W fits", fontsize=10)
    fig.tight_layout()
    figs["hst"] = _save(fig, out / "hst_fit.png", plt)

    return {
        "figures": figs,
        "patch": numbers,
        "hst_ident": hst["ident"],
        "hst_sersic_n": float(hst["sersic"].params["n"]),
        "hst_sersic_hlr": float(hst["sersic"].params["half_light_radius"]),
        "hst_sersic_flags": int(hst["sersic"].flags),
        "hst_sersic_chi2_per_dof": float(hst["sersic"].chi2_per_dof),
        "hst_expdev_chi2_per_dof": float(hst["expdev"].chi2_per_dof),
        "hst_colour_sersic": hst["sersic_colour"],
        "hst_colour_expdev": hst["expdev_colour"],
        "hst_colour_catalog": hst["catalog_colour"],
    }


def _save(fig, path: Path, plt) -> Path:
    fig.savefig(path, dpi=72)
    plt.close(fig)
    return path


def cli(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default="example-output/multiband_fitting")
    ap.add_argument("--data", default=None, help="test-data folder holding galsim/")
    ap.add_argument("--full", action="store_true", help="1000x1000 patch with 300 galaxies")
    args = ap.parse_args(argv)
    res = main(args.out, fast=not args.full, data_dir=args.data)
    for k, v in res.items():
        print(f"{k:26s} {v}")
    return 0


if __name__ == "__main__":
    raise SystemExit(cli())
