"""Photo-z benchmark: accuracy on real SDSS galaxies and speed at 10k / 1M rows.

Accuracy protocol (documented in docs/photoz.md):

* data: the 10,000 SDSS galaxies of kcorrect's ``gst_tests_small.fits``
  (``../shared/data/kcorrect``), ugriz model and Petrosian fluxes with inverse
  variances, Galactic extinction, spectroscopic Z;
* 5-fold cross-validation, ``KFold(5, shuffle=True, random_state=seed)``
  (seed 0; more seeds with ``--seeds``); every estimator is cloned and fitted
  on the training folds only; early stopping and PIT recalibration of the
  default estimator use held-out *training* objects only;
* metrics on the pooled out-of-fold predictions (``galmix.photoz.metrics``).

Timing: training and prediction on 10k rows (the real set) and on 1M rows
simulated by resampling the real set with replacement and redrawing every
flux from its error. Prediction streams in chunks; the extra memory of a
prediction is measured with ``tracemalloc`` (numpy reports its buffers).

Run: ``python benchmarks/bench_photoz.py [--part accuracy|timing|all]``.
All models run single-threaded (``n_jobs=1``, one OpenMP thread) so that
numbers are comparable on the shared machine.
"""

from __future__ import annotations

import argparse
import platform
import sys
import time
import tracemalloc
from pathlib import Path

import numpy as np
from threadpoolctl import threadpool_limits

from galmix.photoz import (
    SDSS_GST_COLUMNS,
    FluxFeatures,
    GradientBoostingPhotoZ,
    KNNPhotoZ,
    RandomForestPhotoZ,
    cross_validate,
    default_estimator,
    photometry_from_table,
    read_table,
)

FIGURES = Path(__file__).resolve().parent / "figures"
DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "kcorrect" / "gst_tests_small.fits"


def load():
    t = read_table(DATA)
    c = SDSS_GST_COLUMNS
    X, z = photometry_from_table(
        t, c["bands"], c["flux"], ivar=c["ivar"], extinction=c["extinction"], z=c["z"]
    )
    return X, z


def full_features():
    return FluxFeatures(n_sets=2, has_extinction=True)


def model_colour_features():
    return FluxFeatures(n_sets=1, has_extinction=True, with_errors=False, missing_indicator=False)


def estimators():
    return {
        "kNN k=10 (r mag + model colours)": (
            KNNPhotoZ(n_neighbors=10, features=model_colour_features()),
            "raw_model",
        ),
        "kNN k=10 (all features)": (KNNPhotoZ(n_neighbors=10, features=full_features()), "raw"),
        "random forest 200 trees (r mag + model colours)": (
            RandomForestPhotoZ(
                n_estimators=200, max_features=1.0, n_jobs=1, features=model_colour_features()
            ),
            "raw_model",
        ),
        "random forest 200 trees (all features)": (
            RandomForestPhotoZ(n_estimators=200, n_jobs=1, features=full_features()),
            "raw",
        ),
        "galmix default (boosting ensemble)": (
            default_estimator(full_features(), n_threads=1),
            "raw",
        ),
    }


def model_only(X):
    """Raw matrix with only the model-flux set (flux, err) + extinction."""
    return np.hstack([X[:, 0:10], X[:, 20:25]])


def accuracy(X, z, seeds):
    print("\n## Accuracy: 5-fold CV on 10,000 SDSS galaxies\n")
    print(
        "| estimator | seed | sigma_NMAD | outlier fraction | bias | coverage 68 % | coverage 95 % | CV time (s) |"
    )
    print("|---|---|---|---|---|---|---|---|")
    grid = np.linspace(0.0, 1.0, 1001)
    for name, (est, kind) in estimators().items():
        for seed in seeds if "default" in name else seeds[:1]:
            Xi = model_only(X) if kind == "raw_model" else X
            t0 = time.perf_counter()
            res = cross_validate(
                est,
                Xi,
                z,
                n_splits=5,
                seed=seed,
                z_grid=grid if hasattr(est, "predict_pdf") else None,
            )
            dt = time.perf_counter() - t0
            m = res["metrics"]
            c68 = f"{res['coverage_0.68']:.3f}" if "coverage_0.68" in res else "-"
            c95 = f"{res['coverage_0.95']:.3f}" if "coverage_0.95" in res else "-"
            print(
                f"| {name} | {seed} | {m['sigma_nmad']:.5f} | {m['outlier_fraction']:.4f} | "
                f"{m['bias']:+.5f} | {c68} | {c95} | {dt:.1f} |",
                flush=True,
            )
            if "default" in name and seed == seeds[0]:
                from galmix.photoz.plots import diagnostic_plots

                mag = full_features().fit(X).transform(X)[:, 0]
                paths = diagnostic_plots(
                    z,
                    res["z_pred"],
                    FIGURES,
                    mag=mag,
                    pit=res["pit"],
                    prefix="photoz_sdss_default",
                    mag_label="r (asinh, dereddened)",
                )
                print("\nplots: " + ", ".join(Path(p).name for p in paths.values()) + "\n")


def resample(X, n, rng):
    idx = rng.integers(0, X.shape[0], n)
    return FluxFeatures(n_sets=2, has_extinction=True).perturb(X[idx], rng), idx


def timed(fn, *args):
    t0 = time.perf_counter()
    out = fn(*args)
    return out, time.perf_counter() - t0


def predict_memory(model, Xp):
    tracemalloc.start()
    tracemalloc.reset_peak()
    base = tracemalloc.get_traced_memory()[0]
    model.predict(Xp)
    peak = tracemalloc.get_traced_memory()[1] - base
    tracemalloc.stop()
    return peak / 2**20


def timing(X, z, big):
    print(f"\n## Timing (single thread), 10k real rows and {big:,} resampled rows\n")
    print(
        "| estimator | train rows | train time (s) | predict rows | predict time (s) | rows/s | predict extra memory (MiB) |"
    )
    print("|---|---|---|---|---|---|---|")
    rng = np.random.default_rng(1)
    Xbig, idx = resample(X, big, rng)
    zbig = z[idx]
    cases = [
        ("kNN k=10", lambda: KNNPhotoZ(n_neighbors=10, features=full_features())),
        (
            "random forest 200 trees",
            lambda: RandomForestPhotoZ(n_estimators=200, n_jobs=1, features=full_features()),
        ),
        ("galmix default", lambda: default_estimator(full_features(), n_threads=1)),
    ]
    for name, make in cases:
        model, t_fit = timed(make().fit, X, z)
        _, t_small = timed(model.predict, X)
        print(
            f"| {name} | 10,000 | {t_fit:.1f} | 10,000 | {t_small:.2f} | {1e4 / t_small:,.0f} | "
            f"{predict_memory(model, X[:100_000]):.1f} |",
            flush=True,
        )
        _, t_big = timed(model.predict, Xbig)
        mem = predict_memory(model, Xbig)
        print(
            f"| {name} | 10,000 | - | {big:,} | {t_big:.1f} | {big / t_big:,.0f} | {mem:.1f} |",
            flush=True,
        )
    # training on 1M rows: kNN (tree build) and a single boosting member without
    # perturbed copies (the full default would train 4 x 3 x 0.85 M rows)
    for name, make in (
        ("kNN k=10", lambda: KNNPhotoZ(n_neighbors=10, features=full_features())),
        (
            "boosting, 1 member, no perturbed copies, quantiles off",
            lambda: GradientBoostingPhotoZ(
                n_members=1, n_realisations=0, quantiles=(), features=full_features(), n_threads=1
            ),
        ),
    ):
        model, t_fit = timed(make().fit, Xbig, zbig)
        _, t_pred = timed(model.predict, X)
        print(
            f"| {name} | {big:,} | {t_fit:.1f} | 10,000 | {t_pred:.2f} | {1e4 / t_pred:,.0f} | - |",
            flush=True,
        )


def simulate_scene_galaxies(n, rng, bands=("u", "g", "r", "i", "z"), scale=0.4, size=32):
    """Bulge+disk galaxies with z-dependent colours (galmix.sim colour model).

    The bulge is red (SED type 0-0.3) and the disk blue (0.6-1): colours change
    across each galaxy, so pixels carry information an object total averages
    away. Images in nanomaggies (zero point 22.5), Gaussian PSF FWHM 1.0",
    Gaussian pixel noise per band.
    """
    import galsim

    from galmix.sim.colors import galaxy_magnitudes

    noise = {"u": 0.05, "g": 0.02, "r": 0.02, "i": 0.03, "z": 0.08}
    psf = galsim.Gaussian(fwhm=1.0)
    out = []
    for _ in range(n):
        z = rng.uniform(0.05, 0.6)
        r_tot = rng.uniform(18.0, 21.0)
        bt = rng.uniform(0.1, 0.9)
        t_b, t_d = rng.uniform(0.0, 0.3), rng.uniform(0.6, 1.0)
        mb = galaxy_magnitudes([z], [t_b], [r_tot - 2.5 * np.log10(bt)], bands)
        md = galaxy_magnitudes([z], [t_d], [r_tot - 2.5 * np.log10(1 - bt)], bands)
        hb = rng.uniform(0.3, 0.8)
        hd = rng.uniform(0.8, 2.0)
        e1, e2 = rng.uniform(-0.3, 0.3, 2)
        imgs, var = {}, {}
        for b in bands:
            fb = 10 ** (-0.4 * (mb[b][0] - 22.5))
            fd = 10 ** (-0.4 * (md[b][0] - 22.5))
            gal = galsim.DeVaucouleurs(half_light_radius=hb, flux=fb) + galsim.Exponential(
                half_light_radius=hd, flux=fd
            ).shear(e1=e1, e2=e2)
            model = galsim.Convolve(gal, psf).drawImage(nx=size, ny=size, scale=scale).array
            imgs[b] = model.astype(float) + rng.normal(0, noise[b], (size, size))
            var[b] = np.full((size, size), noise[b] ** 2)
            if b == "r":
                footprint = model > 3 * noise["r"]
        out.append((z, imgs, var, footprint))
    return out


def pixels_vs_objects(n_gal, seed=0):
    """Pixel-level vs object-level photo-z on simulated bulge+disk galaxies."""
    from astropy.table import vstack

    from galmix.photoz import (
        aggregate_pixels,
        metrics,
        photometry_matrix,
        pixel_features,
        pixel_vectors,
    )

    bands = ("u", "g", "r", "i", "z")
    rng = np.random.default_rng(seed)
    t0 = time.perf_counter()
    gals = simulate_scene_galaxies(n_gal, rng, bands)
    t_sim = time.perf_counter() - t0
    zp = dict.fromkeys(bands, 22.5)
    tables, flux, err, zs = [], [], [], []
    from galmix.photoz import luptitudes
    from galmix.photoz.features import SDSS_SOFTENING

    soft = np.array([SDSS_SOFTENING[b] for b in bands])
    for k, (z, imgs, var, fp) in enumerate(gals):
        t = pixel_vectors(imgs, var, fp, 15.5, 15.5, 0.4, zp, object_id=k, z=z)
        f = np.array([imgs[b][fp].sum() for b in bands])
        e = np.array([np.sqrt(var[b][fp].sum()) for b in bands])
        # the object's integrated colours, copied to each pixel (hybrid vectors)
        m, _ = luptitudes(f, e, soft)
        for j in range(len(bands) - 1):
            t[f"obj_{bands[j]}-{bands[j + 1]}"] = np.full(len(t), m[j] - m[j + 1])
        tables.append(t)
        flux.append(f)
        err.append(e)
        zs.append(z)
    zs = np.array(zs)
    ntr = n_gal // 2
    # object level: footprint fluxes -> default estimator
    Xo = photometry_matrix(np.array(flux), np.array(err))
    obj = default_estimator(FluxFeatures(), n_threads=1).fit(Xo[:ntr], zs[:ntr])
    z_obj = obj.predict(Xo[ntr:])
    # pixel level: every footprint pixel of the training galaxies is a training vector
    ptr = vstack(tables[:ntr])
    pte = vstack(tables[ntr:])
    pix = GradientBoostingPhotoZ(n_members=2, quantiles=(0.16, 0.84), n_threads=1)
    t1 = time.perf_counter()
    pix.fit(pixel_features(ptr, bands), np.asarray(ptr["z"]))
    t_pix = time.perf_counter() - t1
    Fte = pixel_features(pte, bands)
    zpix = pix.predict(Fte)
    agg_med = aggregate_pixels(pte, zpix)
    grid = np.linspace(0, 1.2, 601)
    agg_prod = aggregate_pixels(pte, pix.predict_pdf(Fte, grid), method="product", z_grid=grid)
    agg_mean = aggregate_pixels(pte, zpix, method="mean", weights=None)
    # hybrid: pixel vectors plus the object's integrated colours
    extra = [c for c in ptr.colnames if c.startswith("obj_")]
    hyb = GradientBoostingPhotoZ(n_members=2, quantiles=(0.16, 0.84), n_threads=1)
    hyb.fit(pixel_features(ptr, bands, extra=extra), np.asarray(ptr["z"]))
    Fh = pixel_features(pte, bands, extra=extra)
    agg_hyb = aggregate_pixels(pte, hyb.predict(Fh))
    agg_hyb_prod = aggregate_pixels(pte, hyb.predict_pdf(Fh, grid), method="product", z_grid=grid)
    zt = zs[ntr:]
    print(
        f"\n## Pixel-level vs object-level photo-z: {n_gal} simulated bulge+disk galaxies "
        f"({ntr} train / {n_gal - ntr} test, {len(ptr):,} training pixels; "
        f"simulation {t_sim:.0f} s, pixel model fit {t_pix:.0f} s)\n"
    )
    print("| method | sigma_NMAD | outlier fraction | bias |")
    print("|---|---|---|---|")
    rows = [
        ("object level: footprint fluxes, galmix default", z_obj),
        ("pixel level: plain mean of pixel z (seed 002)", np.asarray(agg_mean["z_phot"])),
        ("pixel level: inverse-variance weighted median", np.asarray(agg_med["z_phot"])),
        ("pixel level: product of pixel PDFs (mode)", np.asarray(agg_prod["z_phot"])),
        ("hybrid pixel + object colours: weighted median", np.asarray(agg_hyb["z_phot"])),
        ("hybrid pixel + object colours: product of PDFs", np.asarray(agg_hyb_prod["z_phot"])),
    ]
    for name, zpred in rows:
        m = metrics(zt, zpred)
        print(
            f"| {name} | {m['sigma_nmad']:.4f} | {m['outlier_fraction']:.3f} | {m['bias']:+.4f} |",
            flush=True,
        )


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--part", choices=("accuracy", "timing", "pixels", "all"), default="all")
    ap.add_argument("--n-gal", type=int, default=2000, help="simulated galaxies for --part pixels")
    ap.add_argument("--seeds", default="0", help="comma-separated KFold seeds for the default")
    ap.add_argument("--big", type=int, default=1_000_000, help="rows of the resampled set")
    args = ap.parse_args()
    import sklearn

    print(
        f"machine: {platform.machine()}, {platform.processor() or 'cpu'}, "
        f"Python {sys.version.split()[0]}, numpy {np.__version__}, scikit-learn {sklearn.__version__}"
    )
    X, z = load()
    seeds = [int(s) for s in args.seeds.split(",")]
    with threadpool_limits(limits=1, user_api="openmp"):
        if args.part in ("accuracy", "all"):
            accuracy(X, z, seeds)
        if args.part in ("timing", "all"):
            timing(X, z, args.big)
        if args.part in ("pixels", "all"):
            pixels_vs_objects(args.n_gal)


if __name__ == "__main__":
    main()
