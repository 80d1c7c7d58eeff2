"""Distorted (SIP) images, CMOS sub-pixel response and a batch of Sersic fits.

Workflow of seed 001 (AstroPhot's ``SIPTargetImage``, ``CMOSTargetImage`` and
``BatchLM``), in galmix:

1. **SIP**: read the real Spitzer/IRAC image ``sipsample.fits`` (TAN-SIP,
   order 3) with :meth:`galmix.geometry.WCS.from_fits`, draw its pixel-area
   map and the local pixel-shape distortion, and check the map against a
   finite-difference area from astropy's ``all_pix2world``.
2. **Batch of Sersic fits on that image**: GalSim draws Sersic galaxies
   through the *local* SIP Jacobian at random positions of the image;
   :func:`galmix.fit.fit_batch` fits them all at once (numba threads) and
   recovers half-light radius, Sersic index and flux.
3. **CMOS**: a detector whose pixels are sensitive only on a sub-square
   (:class:`galmix.geometry.PixelResponse`): render, then fit with and
   without the response to show why it must be modelled.

Run::

    python examples/sip_cmos_batch.py --out out/sip [--data DIR] [--full]

``DIR`` holds ``galsim/fits_files/sipsample.fits`` (default
``../shared/data`` next to the repository, or ``GALMIX_SHARED_DATA``).
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

import numpy as np

from galmix import WCS, Jacobian, Observation, PixelResponse
from galmix.fit import fit, fit_batch
from galmix.profiles import Sersic
from galmix.psf import moffat_gmix
from galmix.render import draw


def default_data_dir() -> Path:
    env = os.environ.get("GALMIX_SHARED_DATA")
    if env:
        return Path(env)
    return Path(__file__).resolve().parents[2] / "shared" / "data"


# --------------------------------------------------------------------- SIP
def sip_maps(path: Path):
    """Pixel-area map and local distortion of a real SIP image."""
    from astropy.io import fits

    wcs = WCS.from_fits(path)
    image = np.asarray(fits.getdata(path), dtype=float)
    area = wcs.pixel_area_map(image.shape)
    # independent check: finite differences of astropy's all_pix2world
    aw = wcs.astropy
    xs = np.array([10.0, 128.0, 240.0, 30.0, 200.0])
    ys = np.array([10.0, 128.0, 30.0, 240.0, 200.0])
    d = 0.5
    _, dec0 = aw.all_pix2world(xs, ys, 0)
    rax1, decx1 = aw.all_pix2world(xs + d, ys, 0)
    rax0, decx0 = aw.all_pix2world(xs - d, ys, 0)
    ray1, decy1 = aw.all_pix2world(xs, ys + d, 0)
    ray0, decy0 = aw.all_pix2world(xs, ys - d, 0)
    cosd = np.cos(np.radians(dec0))
    dudx = (rax1 - rax0) * cosd * 3600 / (2 * d)
    dvdx = (decx1 - decx0) * 3600 / (2 * d)
    dudy = (ray1 - ray0) * cosd * 3600 / (2 * d)
    dvdy = (decy1 - decy0) * 3600 / (2 * d)
    area_fd = np.abs(dudx * dvdy - dudy * dvdx)
    area_galmix = area[ys.astype(int), xs.astype(int)]
    # local pixel shape: shear of the Jacobian, from J J^T
    ny, nx = image.shape
    yy, xx = np.mgrid[0:ny:8, 0:nx:8].astype(float)
    el = wcs.jacobian_elements(xx, yy)  # (..., 4) = dudx, dudy, dvdx, dvdy
    a, b, c, e = el[..., 0], el[..., 1], el[..., 2], el[..., 3]
    juu, juv, jvv = a * a + b * b, a * c + b * e, c * c + e * e
    e1 = (juu - jvv) / (juu + jvv)
    e2 = 2 * juv / (juu + jvv)
    return wcs, image, area, float(np.max(np.abs(area_fd / area_galmix - 1))), (xx, yy, e1, e2)


# ------------------------------------------------------------------- batch
def batch_sersic(wcs: WCS, shape: tuple[int, int], nobj: int, rng: np.random.Generator):
    """GalSim Sersic stamps through the local SIP Jacobian at random positions."""
    import galsim

    stamp = 25
    psf = galsim.Moffat(beta=3.0, fwhm=1.9)  # IRAC-like PSF (arcsec)
    truth = {"x": [], "y": [], "half_light_radius": [], "n": [], "flux": []}
    obs_list = []
    noise = 1.0
    for _ in range(nobj):
        x = rng.uniform(20, shape[1] - 20)
        y = rng.uniform(20, shape[0] - 20)
        jac = wcs.jacobian(x, y)
        hlr = rng.uniform(2.0, 4.0)
        n = rng.uniform(0.8, 3.0)
        flux = rng.uniform(3000, 8000)
        g1, g2 = rng.uniform(-0.3, 0.3, 2)
        gal = galsim.Sersic(n=n, half_light_radius=hlr, flux=flux).shear(g1=g1, g2=g2)
        gwcs = galsim.JacobianWCS(jac.dudx, jac.dudy, jac.dvdx, jac.dvdy)
        img = galsim.Convolve(gal, psf).drawImage(nx=stamp, ny=stamp, wcs=gwcs).array
        img = img + rng.normal(0, noise, img.shape)
        pimg = psf.drawImage(nx=25, ny=25, wcs=gwcs).array
        c = (stamp - 1) / 2
        pobs = Observation(pimg, jacobian=jac.with_origin(12.0, 12.0))
        obs_list.append(
            Observation(
                img,
                weight=np.full(img.shape, 1 / noise**2),
                jacobian=jac.with_origin(c, c),
                psf=pobs,
            )
        )
        for k, val in zip(truth, (x, y, hlr, n, flux)):
            truth[k].append(val)
    return obs_list, {k: np.array(v) for k, v in truth.items()}


# -------------------------------------------------------------------- CMOS
def cmos_demo(rng: np.random.Generator):
    """Render with a CMOS response; fit with and without modelling it."""
    pixel = PixelResponse(subpixel_loc=(-0.1, -0.1), subpixel_scale=0.8)
    jac = Jacobian.from_scale(0.2, x0=15.5, y0=15.5)
    psf = moffat_gmix(fwhm=0.5, beta=3.0)
    gal = Sersic(1000.0, 0.4, 1.5).shear(0.1, -0.05)
    shape = (32, 32)
    clean = draw(gal, jac, shape, psf=psf, pixel=pixel)
    sigma = 0.5
    img = clean + rng.normal(0, sigma, shape)
    w = np.full(shape, 1 / sigma**2)
    with_resp = fit(Observation(img, weight=w, jacobian=jac, psf=psf, pixel=pixel), "sersic")
    without = fit(Observation(img, weight=w, jacobian=jac, psf=psf), "sersic")
    return pixel, clean, img, with_resp, without


def main(out_dir: str | os.PathLike, fast: bool = True, data_dir: str | None = None) -> dict:
    """Run all three parts; write ``sip_pixel_area.png``, ``batch_sersic.png``, ``cmos.png``.

    Returns a dict of the key numbers (checked by ``tests/test_examples.py``).
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.patches import Rectangle

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    data = Path(data_dir) if data_dir else default_data_dir()
    rng = np.random.default_rng(2024)

    # 1. SIP
    wcs, image, area, area_check, (xx, yy, e1, e2) = sip_maps(
        data / "galsim" / "fits_files" / "sipsample.fits"
    )
    fig, axes = plt.subplots(1, 3, figsize=(13, 4.2))
    finite = np.isfinite(image)
    lo, hi = np.percentile(image[finite], [5, 99.5])
    axes[0].imshow(image, origin="lower", cmap="gray_r", vmin=lo, vmax=hi)
    bad = np.argwhere(~finite)
    axes[0].plot(bad[:, 1], bad[:, 0], "r.", ms=4, label=f"{len(bad)} NaN pixels")
    axes[0].legend(loc="upper right", fontsize=8)
    axes[0].set_title("sipsample.fits (Spitzer IRAC 3.6 um)")
    im = axes[1].imshow(area, origin="lower", cmap="inferno")
    fig.colorbar(im, ax=axes[1], label="pixel area (arcsec$^2$)")
    axes[1].set_title(f"pixel-area map ({area.min():.3f}-{area.max():.3f})")
    axes[2].quiver(
        xx,
        yy,
        *_spin2_sticks(e1, e2),
        np.hypot(e1, e2),
        headwidth=0,
        headlength=0,
        headaxislength=0,
        pivot="middle",
        scale=0.25,
        cmap="viridis",
    )
    axes[2].set_aspect("equal")
    axes[2].set_xlim(0, image.shape[1])
    axes[2].set_ylim(0, image.shape[0])
    axes[2].set_title(f"local pixel distortion |e| <= {np.hypot(e1, e2).max():.3f}")
    for ax in axes:
        ax.set_xlabel("x (pixel)")
        ax.set_ylabel("y (pixel)")
    fig.tight_layout()
    fig.savefig(out / "sip_pixel_area.png", dpi=72)
    plt.close(fig)

    # 2. Batch of Sersic fits on the SIP image
    nobj = 16 if fast else 200
    obs_list, truth = batch_sersic(wcs, image.shape, nobj, rng)
    table = fit_batch(obs_list, "sersic")
    ok = table["flags"] == 0
    fig, axes = plt.subplots(2, 3, figsize=(12, 7))
    for ax, key, lab in zip(
        axes[0],
        ("half_light_radius", "n", "flux"),
        ("half-light radius (arcsec)", "Sersic n", "flux"),
    ):
        t = truth[key][ok]
        f = np.asarray(table[key])[ok]
        ferr = np.asarray(table[key + "_err"])[ok]
        ax.errorbar(t, f, yerr=ferr, fmt="o", ms=3)
        lims = [min(t.min(), f.min()), max(t.max(), f.max())]
        ax.plot(lims, lims, "k--", lw=1)
        ax.set_xlabel("true " + lab)
        ax.set_ylabel("fit " + lab)
    pull_hlr = (
        np.asarray(table["half_light_radius"])[ok] - truth["half_light_radius"][ok]
    ) / np.asarray(table["half_light_radius_err"])[ok]
    best = int(np.argmax(truth["flux"]))
    res1 = fit(obs_list[best], "sersic")
    o = obs_list[best]
    lim = o.image.max()
    chi = (o.image - res1.model_image) * np.sqrt(o.weight)
    axes[1, 0].imshow(o.image, origin="lower", cmap="gray_r", vmin=-0.05 * lim, vmax=lim)
    axes[1, 0].set_title("data (local SIP Jacobian)")
    axes[1, 1].imshow(res1.model_image, origin="lower", cmap="gray_r", vmin=-0.05 * lim, vmax=lim)
    axes[1, 1].set_title("sersic model")
    im = axes[1, 2].imshow(chi, origin="lower", cmap="RdBu_r", vmin=-4, vmax=4)
    fig.colorbar(im, ax=axes[1, 2], label="(data - model) / sigma")
    axes[1, 2].set_title(f"residual / sigma (chi2/dof {res1.chi2_per_dof:.2f})")
    fig.suptitle(
        f"fit_batch: {int(ok.sum())}/{nobj} Sersic fits, stamps at random "
        "positions of the SIP image"
    )
    fig.tight_layout()
    fig.savefig(out / "batch_sersic.png", dpi=72)
    plt.close(fig)

    # 3. CMOS
    pixel, clean, img, with_resp, without = cmos_demo(rng)
    fig, axes = plt.subplots(1, 3, figsize=(12, 4))
    axes[0].add_patch(Rectangle((-0.5, -0.5), 1, 1, facecolor="0.7", label="pixel"))
    dx, dy, side = pixel.as_array()
    axes[0].add_patch(
        Rectangle(
            (dx - side / 2, dy - side / 2),
            side,
            side,
            facecolor="C0",
            alpha=0.8,
            label=f"sensitive area ({pixel.fill_factor:.2f})",
        )
    )
    axes[0].plot([dx], [dy], "rx", label="subpixel_loc")
    axes[0].plot([0], [0], "k+", label="pixel centre (0, 0)")
    axes[0].set_xlim(-0.6, 0.6)
    axes[0].set_ylim(-0.6, 0.6)
    axes[0].set_aspect("equal")
    axes[0].legend(fontsize=8, loc="upper right")
    axes[0].set_title("CMOS pixel: PixelResponse((-0.1, -0.1), 0.8)")
    axes[1].imshow(img, origin="lower", cmap="gray_r")
    axes[1].set_title(f"CMOS image: sum {clean.sum():.0f} of flux 1000")
    names = ["flux", "half_light_radius", "n"]
    truth_c = [1000.0, 0.4, 1.5]
    xpos = np.arange(3)
    r_with = [with_resp.params[k] / t for k, t in zip(names, truth_c)]
    r_without = [without.params[k] / t for k, t in zip(names, truth_c)]
    axes[2].bar(xpos - 0.2, r_with, 0.4, label="response modelled")
    axes[2].bar(xpos + 0.2, r_without, 0.4, label="response ignored")
    axes[2].axhline(1, color="k", lw=1)
    axes[2].set_xticks(xpos, names)
    axes[2].set_ylabel("fit / truth")
    axes[2].set_ylim(0.0, 1.2)
    axes[2].legend(fontsize=8)
    axes[2].set_title("Sersic fit of the CMOS image")
    fig.tight_layout()
    fig.savefig(out / "cmos.png", dpi=72)
    plt.close(fig)

    return {
        "figures": [out / "sip_pixel_area.png", out / "batch_sersic.png", out / "cmos.png"],
        "area_min": float(area.min()),
        "area_max": float(area.max()),
        "area_check_max_rel": area_check,
        "n_batch": nobj,
        "n_batch_ok": int(ok.sum()),
        "median_hlr_ratio": float(
            np.median(np.asarray(table["half_light_radius"])[ok] / truth["half_light_radius"][ok])
        ),
        "median_flux_ratio": float(np.median(np.asarray(table["flux"])[ok] / truth["flux"][ok])),
        "median_n_ratio": float(np.median(np.asarray(table["n"])[ok] / truth["n"][ok])),
        "std_pull_hlr": float(np.std(pull_hlr)),
        "cmos_image_sum": float(clean.sum()),
        "cmos_flux_with_response": float(with_resp.params["flux"]),
        "cmos_flux_without_response": float(without.params["flux"]),
        "cmos_flags": int(with_resp.flags),
    }


def _spin2_sticks(e1, e2):
    """Headless sticks for a spin-2 field (angle = atan2(e2, e1)/2)."""
    amp = np.hypot(e1, e2)
    ang = 0.5 * np.arctan2(e2, e1)
    return amp * np.cos(ang), amp * np.sin(ang)


def cli(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default="example-output/sip_cmos_batch")
    ap.add_argument("--data", default=None, help="folder holding galsim/fits_files/")
    ap.add_argument("--full", action="store_true", help="200 batch fits instead of 16")
    args = ap.parse_args(argv)
    for k, v in main(args.out, fast=not args.full, data_dir=args.data).items():
        print(f"{k:28s} {v}")
    return 0


if __name__ == "__main__":
    raise SystemExit(cli())
