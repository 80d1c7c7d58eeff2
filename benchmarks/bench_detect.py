"""Benchmark: detection + photometry speed and agreement, side by side with SExtractor.

Run: ``python benchmarks/bench_detect.py [--size 2048] [--nobj 2000] [--bands 5]``

Prints Markdown tables:

1. real frames (``../shared/data``): galmix ``detect`` + ``photometry`` vs
   SExtractor (``source-extractor``, when installed) with the same
   parameters: counts, match fraction of bright (S/N > 20) SExtractor
   objects, median FLUX_AUTO ratio, wall time;
2. a GalSim-simulated ``size x size`` field with ``nobj`` galaxies and stars:
   time of background + detection + Kron/aperture photometry (galmix) and of
   SExtractor on the same FITS file, completeness against the truth;
3. ``measure_images`` on ``bands`` images of that field (detection, per-band
   photometry and adaptive moments; model fits when ``galmix.fit.fit_batch``
   exists and ``--psf-fwhm`` is given).
"""

from __future__ import annotations

import argparse
import os
import platform
import tempfile
import time
from pathlib import Path

import numpy as np

from galmix.catalog import crossmatch_pixels, match_truth
from galmix.catalog.measure import measure_images
from galmix.detect import detect, photometry, read_image
from galmix.detect.sextractor import find_sextractor, run_sextractor

DATA = Path(
    os.environ.get("GALMIX_SHARED_DATA", Path(__file__).resolve().parents[2] / "shared" / "data")
)
FRAMES = ["galsim/fits_files/sipsample.fits", "galsim/fits_files/tpv.fits", "astropy/sip-wcs.fits"]
SEX_CONFIG = {"DETECT_MINAREA": 5}


def machine() -> str:
    import sep

    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    sexv = "absent"
    exe = find_sextractor()
    if exe:
        import subprocess

        sexv = subprocess.run([exe, "-v"], capture_output=True, text=True).stdout.strip()
    return (
        f"{cpu}; {os.cpu_count()} logical CPUs (shared); Python {platform.python_version()}; "
        f"numpy {np.__version__}; sep {sep.__version__}; {sexv}"
    )


def galmix_catalog(path: Path):
    t0 = time.perf_counter()
    im = read_image(path)
    det = detect(im.data, mask=im.mask)
    phot = photometry(
        det.image, det.variance, det.catalog, det.segmentation, mask=det.mask, gain=im.gain
    )
    return det, phot, time.perf_counter() - t0


def best_of(fn, repeat=3):
    best = np.inf
    out = None
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t0)
    return out, best


def real_frames() -> None:
    print("\n### Real frames: galmix vs SExtractor (same parameters, DETECT_MINAREA 5)\n")
    print(
        "| frame | shape | galmix N | SExtractor N | bright (S/N>20) | bright matched | "
        "median FLUX_AUTO ratio (bright, matched) | same, unblended | galmix time | SExtractor time |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|")
    for rel in FRAMES:
        path = DATA / rel
        if not path.exists():
            continue
        (det, phot, _), t_gm = best_of(lambda p=path: galmix_catalog(p))
        shape = "x".join(map(str, det.image.shape[::-1]))
        if find_sextractor() is None:
            print(
                f"| {path.name} | {shape} | {len(det.catalog)} | - | - | - | - | - | {t_gm * 1e3:.0f} ms | absent |"
            )
            continue
        sex, t_sx = best_of(lambda p=path: run_sextractor(p, SEX_CONFIG))
        sx = np.asarray(sex["X_IMAGE"]) - 1
        sy = np.asarray(sex["Y_IMAGE"]) - 1
        bright = np.asarray(sex["FLUX_AUTO"]) > 20 * np.asarray(sex["FLUXERR_AUTO"])
        idx, _ = crossmatch_pixels(sx, sy, det.catalog["x"], det.catalog["y"], 2.0)
        m = bright & (idx >= 0)
        ratio = np.asarray(phot["flux_auto"])[idx[m]] / np.asarray(sex["FLUX_AUTO"])[m]
        unb = m & ((np.asarray(sex["FLAGS"]) & 2) == 0)
        r_unb = np.asarray(phot["flux_auto"])[idx[unb]] / np.asarray(sex["FLUX_AUTO"])[unb]
        print(
            f"| {path.name} | {shape} | {len(det.catalog)} | {len(sex)} | {bright.sum()} | "
            f"{m.sum()} ({m.sum() / max(bright.sum(), 1):.0%}) | {np.median(ratio):.4f} | "
            f"{np.median(r_unb):.4f} (n={unb.sum()}) | {t_gm * 1e3:.0f} ms | {t_sx * 1e3:.0f} ms |"
        )


def simulate(size: int, nobj: int, seed: int = 1):
    """Exponential/de Vaucouleurs galaxies and stars (GalSim, Moffat PSF) + noise."""
    import galsim

    rng = np.random.default_rng(seed)
    psf = galsim.Moffat(beta=3.0, fwhm=0.8)
    image = galsim.ImageF(size, size, scale=0.2)
    rows = []
    for i in range(nobj):
        x, y = rng.uniform(10, size - 11, 2)
        flux = float(10 ** rng.uniform(2.3, 4.5))
        if i % 8 == 0:
            gal = galsim.DeltaFunction(flux=flux)
        else:
            hlr = float(rng.uniform(0.25, 0.8))
            gal = galsim.Exponential(half_light_radius=hlr, flux=flux).shear(
                g1=rng.uniform(-0.3, 0.3), g2=rng.uniform(-0.3, 0.3)
            )
        ix, iy = int(np.floor(x + 0.5)), int(np.floor(y + 0.5))
        st = galsim.Convolve(gal, psf).drawImage(nx=41, ny=41, scale=0.2, offset=(x - ix, y - iy))
        st.setCenter(ix + 1, iy + 1)
        b = st.bounds & image.bounds
        image[b] += st[b]
        rows.append((x, y, flux))
    from astropy.table import Table

    truth = Table(rows=rows, names=("x", "y", "flux"))
    return image.array.astype(np.float64), truth, rng


def simulated(size: int, nobj: int, nbands: int, psf_fwhm: float | None) -> None:
    t0 = time.perf_counter()
    clean, truth, rng = simulate(size, nobj)
    t_sim = time.perf_counter() - t0
    noisy = clean + 100.0 + rng.normal(0.0, 1.0, clean.shape)
    print(
        f"\n### Simulated {size}x{size} field, {nobj} objects (simulation {t_sim:.1f} s, not timed below)\n"
    )
    with tempfile.TemporaryDirectory() as tmp:
        from astropy.io import fits
        from astropy.wcs import WCS

        w = WCS(naxis=2)
        w.wcs.ctype = ["RA---TAN", "DEC--TAN"]
        w.wcs.crval = [150.0, 2.0]
        w.wcs.crpix = [size / 2, size / 2]
        w.wcs.cd = np.array([[-0.2, 0.0], [0.0, 0.2]]) / 3600
        paths = []
        bands = "ugrizy"[: max(nbands, 1)]
        for k, band in enumerate(bands):
            img = clean * (0.6 + 0.2 * k) + 100.0 + rng.normal(0.0, 1.0, clean.shape)
            if k == 0:
                img = noisy
            hdr = w.to_header()
            hdr["FILTER"] = band
            p = Path(tmp) / f"field_{band}.fits"
            fits.PrimaryHDU(img.astype(np.float32), header=hdr).writeto(p)
            paths.append(p)

        def run_galmix():
            det = detect(noisy)
            phot = photometry(
                det.image, det.variance, det.catalog, det.segmentation, apertures=[3.0, 6.0]
            )
            return det, phot

        (det, phot), t_gm = best_of(run_galmix, repeat=3)
        m = match_truth(det.catalog, truth, 2.0, frame="pixel")
        bright = np.asarray(truth["flux"]) > 1000
        found = np.zeros(len(truth), bool)
        mi = np.asarray(m["match_id"])
        found[mi[mi >= 0]] = True
        print("| step | galmix | SExtractor |")
        print("|---|---|---|")
        sx_line = "absent"
        sx_n = "-"
        if find_sextractor():
            sex, t_sx = best_of(
                lambda: run_sextractor(paths[0], {**SEX_CONFIG, "PHOT_APERTURES": "6,12"}), repeat=3
            )
            sx_line = f"{t_sx:.2f} s"
            sx_n = str(len(sex))
            idx, _ = crossmatch_pixels(
                np.asarray(sex["X_IMAGE"]) - 1,
                np.asarray(sex["Y_IMAGE"]) - 1,
                det.catalog["x"],
                det.catalog["y"],
                2.0,
            )
            br = np.asarray(sex["FLUX_AUTO"]) > 20 * np.asarray(sex["FLUXERR_AUTO"])
            sel = br & (idx >= 0)
            ratio = np.median(
                np.asarray(phot["flux_auto"])[idx[sel]] / np.asarray(sex["FLUX_AUTO"])[sel]
            )
            sx_cmp = f"{sel.sum()}/{br.sum()} bright matched, median FLUX_AUTO ratio {ratio:.4f}"
        else:
            sx_cmp = "-"
        print(
            f"| background + detection + AUTO & 2 apertures (single band, best of 3) | {t_gm:.2f} s | {sx_line} (incl. FITS I/O) |"
        )
        print(f"| objects detected | {len(det.catalog)} | {sx_n} |")
        print(f"| completeness, truth flux > 1000 (S/N >~ 50) | {found[bright].mean():.3f} | |")
        print(f"| completeness, all | {found.mean():.3f} | |")
        print(f"| agreement | {sx_cmp} | |")

        t0 = time.perf_counter()
        res = measure_images(paths, psf_fwhm=psf_fwhm, moments=True)
        t_meas = time.perf_counter() - t0
        print(
            f"\n`measure_images` on {len(paths)} bands of {size}x{size} (read FITS, background per band, "
            f"detection on the first, per-band AUTO photometry + windowed centroids + adaptive moments"
            f"{', Sersic fits (Gaussian PSF) on the first band' if psf_fwhm else ''}): **{t_meas:.1f} s** for {len(res.catalog)} objects. "
            f"Notes: {'; '.join(res.notes) or 'none'}"
        )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", type=int, default=2048)
    ap.add_argument("--nobj", type=int, default=2000)
    ap.add_argument("--bands", type=int, default=5)
    ap.add_argument("--psf-fwhm", type=float, default=None)
    args = ap.parse_args()
    print(f"Machine: {machine()}")
    real_frames()
    simulated(args.size, args.nobj, args.bands, args.psf_fwhm)


if __name__ == "__main__":
    main()
