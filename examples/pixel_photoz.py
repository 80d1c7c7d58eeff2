"""Pixel-level photometric redshifts: from frames to per-pixel vectors to object redshifts.

Workflow of seed 002 (*image-photo-z*): a catalog of objects with
spectroscopic redshifts, multi-band frames with their noise, registration of
the bands onto one grid, detection and segmentation, one training vector per
pixel of every object (magnitudes in all bands, errors, distance from the
centre, the object's redshift), a machine-learning regressor trained on the
pixels of the spectroscopic objects, and object redshifts combined from their
pixels' estimates.

0. the noise model of SDSS frames (seed section 1.3): a synthetic frame in
   the exact SDSS layout is read with ``galmix.sdss.read_frame`` and its
   inverse-variance weight is checked against the seed's error formula;
1. ``galmix.sim.simulate_field`` writes g, r, i, z frames (TAN-SIP WCS
   dithered per band, per-band PSFs, inverse-variance weight maps), a truth
   table and a "spectroscopic" reference catalog (CSV with ``ra``, ``dec``,
   ``z``, ``class``) holding half of the objects -- the stand-in for the
   seed's CasJobs query (for real SDSS frames see docs/sdss.md:
   ``galmix sdss query / fetch / config``);
2. ``galmix.pipeline.run_pipeline`` registers the bands (with variance
   propagation), detects on the coadd, matches the reference catalog
   (the seed's SExtractor ASSOC step) and writes ``pixels.parquet``: one row
   per footprint pixel with ``mag_<band>``, ``magerr_<band>`` (luptitudes, safe
   for negative pixels), ``dx``, ``dy``, ``r``;
3. ``galmix.photoz.KNNPhotoZ`` is trained on the pixels of the reference
   objects; ``galmix.photoz.aggregate_pixels`` turns the pixel estimates of
   the other objects into one redshift each (inverse-variance weighted
   median); ``galmix.photoz.metrics`` scores them against the truth, next
   to an object-level kNN on the integrated magnitudes.

Run::

    python examples/pixel_photoz.py --out out/photoz [--full]
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

import numpy as np

from galmix.catalog import read_catalog
from galmix.photoz import KNNPhotoZ, aggregate_pixels, metrics, pixel_features
from galmix.pipeline import run_pipeline
from galmix.plots import redshift_figure
from galmix.sim import simulate_field

BANDS = ("g", "r", "i", "z")
R_MAX = 1.0  # arcsec: pixels used for training and prediction

# the seed's gain and dark-variance tables (section 1.3), camcol 5, run 3813
SEED_GAIN_CAMCOL5 = {"u": 1.47, "g": 4.05, "r": 4.725, "i": 4.64, "z": 3.48}
SEED_DARKVAR_CAMCOL5 = {"u": 9.3025, "g": 1.1025, "r": 0.81, "i": 7.5625, "z": 2.1025}


def sdss_frame_noise(out: Path, plt) -> tuple[Path, float]:
    """Seed section 1.3: the error image of an SDSS frame, galmix vs the seed's formula.

    A synthetic frame in the exact SDSS layout (HDU0 image in nanomaggies,
    HDU1 calibration vector, HDU2 coarse sky grid, bz2-compressed) is read
    with :func:`galmix.sdss.read_frame`, whose ``weight`` is compared with the
    seed's per-pixel recipe ``dn = img/cimg + sky``,
    ``err = sqrt(dn/gain + darkVariance) * cimg``.
    """
    from galmix.sdss import read_frame
    from galmix.sdss.synthetic import write_synthetic_field

    write_synthetic_field(out / "sdss", bands=("r",), nsources=6, seed=0)
    frame = read_frame(out / "sdss" / "frame-r-003813-5-0023.fits.bz2")
    cimg = np.broadcast_to(frame.calib[None, :], frame.image.shape)
    dn = frame.image / cimg + frame.sky
    seed_err = np.sqrt(np.abs(dn / SEED_GAIN_CAMCOL5["r"] + SEED_DARKVAR_CAMCOL5["r"])) * cimg
    galmix_err = 1.0 / np.sqrt(frame.weight)
    rel = float(np.max(np.abs(galmix_err / seed_err - 1)))
    fig, axes = plt.subplots(1, 3, figsize=(12, 3.4))
    lo, hi = np.percentile(frame.image, [5, 99.5])
    for ax, arr, title, kw in (
        (
            axes[0],
            frame.image,
            "frame-r-003813-5-0023 (nanomaggies)",
            dict(cmap="gray_r", vmin=lo, vmax=hi),
        ),
        (axes[1], galmix_err, "error image: 1/sqrt(read_frame().weight)", dict(cmap="viridis")),
        (
            axes[2],
            galmix_err / seed_err - 1,
            f"galmix / seed formula - 1 (max {rel:.1e})",
            dict(cmap="RdBu_r", vmin=-1e-6, vmax=1e-6),
        ),
    ):
        im = ax.imshow(arr, origin="lower", **kw)
        ax.set_title(title, fontsize=9)
        fig.colorbar(im, ax=ax, shrink=0.8)
    fig.tight_layout()
    return _save(fig, out / "sdss_frame_noise.png", plt), rel


def main(out_dir: str | os.PathLike, fast: bool = True) -> dict:
    """Run the pipeline and the pixel photo-z; write the figures into ``out_dir``.

    Returns a dict of the key numbers (checked by ``tests/test_examples.py``).
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    size, ngal, nstar = (400, 90, 5) if fast else (1000, 400, 30)

    # 0. the SDSS frame noise model (for real frames: galmix sdss fetch / read_frame)
    figs = {}
    figs["sdss_noise"], sdss_err_rel = sdss_frame_noise(out, plt)

    # 1. frames + spectroscopic reference catalog
    field = simulate_field(bands=BANDS, shape=(size, size), n_galaxies=ngal, n_stars=nstar, seed=5)
    cfg = field.write(out / "inputs", reference_fraction=0.5)

    # 2. registration, detection, ASSOC-like reference match, pixel table
    res = run_pipeline(
        cfg,
        overrides={
            "output": str(out / "run"),
            "executor": {"kind": "serial", "workers": 1, "scheduler": None},
            "measurement": {"fit": None, "pixel_table": True},
            "photoz": {"model": None, "train": False},
        },
        progress=False,
        report=False,
    )
    cat = read_catalog(res.output / "truth_match.parquet")
    pixels = read_catalog(res.pixel_table)

    # training objects: matched to the reference catalog as galaxies;
    # test objects: everything else that the truth says is a galaxy
    ref_z = np.asarray(cat["ref_z"], float)
    is_ref = np.asarray(cat["ref_match_id"]) >= 0
    ref_class = np.asarray(cat["ref_class"]).astype(str)
    true_gal = (np.asarray(cat["match_id"]) >= 0) & ~np.asarray(cat["true_is_star"], bool)
    train_ids = np.asarray(cat["id"])[is_ref & (np.char.upper(ref_class) == "GALAXY")]
    test_ids = np.asarray(cat["id"])[~is_ref & true_gal]
    z_of = dict(zip(np.asarray(cat["id"]).tolist(), ref_z.tolist()))
    ztrue_of = dict(zip(np.asarray(cat["id"]).tolist(), np.asarray(cat["true_z"], float)))

    pid = np.asarray(pixels["id"])
    # unflagged pixels within 1 arcsec of the object centre: the footprint's
    # outskirts are noise-dominated and blur the colour-redshift relation
    good = (np.asarray(pixels["flags"]) == 0) & (np.asarray(pixels["r"]) < R_MAX)
    tr = np.isin(pid, train_ids) & good
    te = np.isin(pid, test_ids) & good

    # 3. per-pixel training vectors -> kNN -> per-object redshifts
    # magnitude, colours and radius; the per-pixel errors are left out of the
    # distance (they mostly encode how bright a pixel is, not its colour)
    X = pixel_features(pixels, BANDS, with_errors=False)
    z_train = np.array([z_of[i] for i in pid[tr]])
    knn = KNNPhotoZ(n_neighbors=15).fit(X[tr], z_train)
    z_pix = knn.predict(X[te])
    agg = aggregate_pixels(pixels[te], z_pix)
    z_true = np.array([ztrue_of[i] for i in np.asarray(agg["id"])])
    m_pix = metrics(z_true, np.asarray(agg["z_phot"]))

    # object-level comparison: kNN on the integrated (Kron) magnitudes
    def obj_features(ids):
        rows = np.searchsorted(np.asarray(cat["id"]), ids)
        mags = np.column_stack([np.asarray(cat[f"{b}_mag_auto"], float)[rows] for b in BANDS])
        return np.column_stack([mags[:, 1], np.diff(mags, axis=1)])

    Xo_tr, Xo_te = obj_features(train_ids), obj_features(np.asarray(agg["id"]))
    ok_tr = np.all(np.isfinite(Xo_tr), axis=1)
    ok_te = np.all(np.isfinite(Xo_te), axis=1)
    obj_knn = KNNPhotoZ(n_neighbors=5).fit(
        Xo_tr[ok_tr], np.array([z_of[i] for i in train_ids])[ok_tr]
    )
    z_obj = np.full(len(agg), np.nan)
    z_obj[ok_te] = obj_knn.predict(Xo_te[ok_te])
    m_obj = metrics(z_true[ok_te], z_obj[ok_te])

    fig = redshift_figure(
        z_true,
        {"pixel kNN (aggregated)": np.asarray(agg["z_phot"]), "object kNN (mag_auto)": z_obj},
        {"pixel kNN (aggregated)": m_pix, "object kNN (mag_auto)": m_obj},
    )
    figs["redshifts"] = _save(fig, out / "photoz_redshifts.png", plt)

    # per-pixel redshift map of the brightest test object: every pixel of its
    # footprint (the circle marks the R_MAX pixels that enter its redshift)
    rows = np.searchsorted(np.asarray(cat["id"]), np.asarray(agg["id"]))
    best = int(np.asarray(agg["id"])[np.nanargmin(np.asarray(cat["r_mag_auto"])[rows])])
    allpix = (pid == best) & (np.asarray(pixels["flags"]) == 0)
    z_all = knn.predict(X[allpix])
    xs, ys = np.asarray(pixels["x"])[allpix], np.asarray(pixels["y"])[allpix]
    x0, y0 = xs.min(), ys.min()
    zmap = np.full((ys.max() - y0 + 1, xs.max() - x0 + 1), np.nan)
    rmap = np.full(zmap.shape, np.nan)
    zmap[ys - y0, xs - x0] = z_all
    rmap[ys - y0, xs - x0] = np.asarray(pixels["mag_r"])[allpix]
    used = np.asarray(pixels["r"])[allpix] < R_MAX
    # object centre and pixel scale of the map from the pixel offsets (arcsec)
    rad = np.hypot(np.asarray(pixels["dx"])[allpix], np.asarray(pixels["dy"])[allpix])
    ic = int(np.argmin(rad))
    cx, cy = xs[ic] - x0, ys[ic] - y0
    dpix = np.hypot(xs - xs[ic], ys - ys[ic])
    scale = float(np.median(rad[dpix > 2] / dpix[dpix > 2]))  # arcsec per pixel
    zb = float(np.asarray(agg["z_phot"])[np.asarray(agg["id"]) == best][0])
    fig, axes = plt.subplots(1, 3, figsize=(12, 3.8))
    im = axes[0].imshow(rmap, origin="lower", cmap="gray")
    fig.colorbar(im, ax=axes[0], label="r luptitude per pixel")
    axes[0].set_title(f"object {best}: r-band footprint pixels")
    im = axes[1].imshow(zmap, origin="lower", cmap="viridis")
    fig.colorbar(im, ax=axes[1], label="pixel z_phot")
    axes[1].set_title(f'per-pixel kNN redshift (circle: r < {R_MAX:g}")')
    for ax in axes[:2]:
        ax.add_patch(plt.Circle((cx, cy), R_MAX / scale, fill=False, color="C3", lw=1.5))
    bins = np.linspace(min(z_all.min(), ztrue_of[best]) - 0.05, z_all.max() + 0.05, 40)
    axes[2].hist(z_all, bins=bins, color="0.7", label="all footprint pixels")
    axes[2].hist(z_all[used], bins=bins, color="C0", alpha=0.8, label=f'r < {R_MAX:g}"')
    axes[2].axvline(ztrue_of[best], color="k", lw=2, label=f"true z {ztrue_of[best]:.3f}")
    axes[2].axvline(zb, color="C3", ls="--", lw=2, label=f"aggregated {zb:.3f}")
    axes[2].set_xlabel("z")
    axes[2].legend(fontsize=8)
    axes[2].set_title("pixel estimates -> object redshift")
    fig.tight_layout()
    figs["pixel_map"] = _save(fig, out / "photoz_pixel_map.png", plt)

    return {
        "figures": figs,
        "sdss_error_max_rel": sdss_err_rel,
        "n_objects": len(cat),
        "n_train_objects": len(train_ids),
        "n_test_objects": len(agg),
        "n_train_pixels": int(tr.sum()),
        "n_test_pixels": int(te.sum()),
        "pixel_metrics": m_pix,
        "object_metrics": m_obj,
        "z_range": (float(np.min(z_true)), float(np.max(z_true))),
    }


def _save(fig, path: Path, plt) -> Path:
    fig.savefig(path, dpi=72)
    plt.close(fig)
    return path


def cli(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default="example-output/pixel_photoz")
    ap.add_argument("--full", action="store_true", help="1000x1000 field with 400 galaxies")
    args = ap.parse_args(argv)
    for k, v in main(args.out, fast=not args.full).items():
        print(f"{k:18s} {v}")
    return 0


if __name__ == "__main__":
    raise SystemExit(cli())
