"""The imaging data model: a real HST galaxy from FITS to a validated Observation.

Workflow of seed 004 (PyAutoLens ``Imaging``): load an image, its PSF and its
noise from FITS, mask, look at the noise map and the signal-to-noise map,
normalise the PSF, apply noise scaling to a masked region, simulate correlated
noise from the survey's correlation function, and save/reload the whole
bundle. The data are the AEGIS HST/ACS F814W stamps shipped with GalSim's
tests (0.03 arcsec pixels, correlated sky noise, un-normalised Tiny Tim PSFs).

Run::

    python examples/imaging_data_model.py --out out/imaging [--data DIR] [--full]

``DIR`` is the test-data folder holding ``galsim/real_comparison_images/``
(GalSim's ``tests/real_comparison_images`` files); by default
``../shared/data`` next to the repository, or the ``GALMIX_SHARED_DATA``
environment variable.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

import numpy as np

from galmix import Jacobian, Observation
from galmix.image import correlated_noise, read_observation, write_observation

ROW = 1  # AEGIS IDENT 14886, the brightest of the five (F814W MAG_AUTO 22.0)


def default_data_dir() -> Path:
    """Where the GalSim real-galaxy test files are looked for."""
    env = os.environ.get("GALMIX_SHARED_DATA")
    if env:
        return Path(env)
    return Path(__file__).resolve().parents[2] / "shared" / "data"


def load_aegis(data_dir: Path, row: int = ROW, band: str = "F814w"):
    """Read one AEGIS stamp, its PSF image and its noise description from FITS."""
    from astropy.io import fits
    from astropy.table import Table

    cat = Table.read(data_dir / f"AEGIS_{band}_catalog.fits")[row]
    image = np.asarray(fits.getdata(data_dir / cat["GAL_FILENAME"].strip(), int(cat["GAL_HDU"])))
    psf = np.asarray(fits.getdata(data_dir / cat["PSF_FILENAME"].strip(), int(cat["PSF_HDU"])))
    cf = np.asarray(fits.getdata(data_dir / cat["NOISE_FILENAME"].strip()), dtype=float)
    return image.astype(float), psf.astype(float), cf, cat


def main(out_dir: str | os.PathLike, fast: bool = True, data_dir: str | None = None) -> dict:
    """Run the walkthrough; write ``imaging_data_model.png`` into ``out_dir``.

    Returns a dict of the key numbers (checked by ``tests/test_examples.py``).
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    data = Path(data_dir) if data_dir else default_data_dir()
    image, psf_image, cf_file, cat = load_aegis(data / "galsim" / "real_comparison_images")
    scale = float(cat["PIXEL_SCALE"])
    ny, nx = image.shape

    # 1. Noise: the catalogue gives the sky variance; weight = inverse variance.
    variance = float(cat["NOISE_VARIANCE"])
    sky = float(cat["NOISE_MEAN"])

    # 2. The PSF is an Observation with its own Jacobian (here the same pixel
    #    scale). Tiny Tim PSFs are not normalised: sum ~ 0.92.
    py, px = psf_image.shape
    psf_obs = Observation(
        psf_image, jacobian=Jacobian.from_scale(scale, x0=(px - 1) / 2, y0=(py - 1) / 2)
    )
    psf_sum_before = float(psf_image.sum())

    # 3. The Observation: image in flux per pixel, weight, world Jacobian.
    #    The default Jacobian origin is the stamp centre ((nx-1)/2, (ny-1)/2).
    obs = Observation(
        image - sky,
        weight=np.full(image.shape, 1.0 / variance),
        jacobian=Jacobian.from_scale(scale, x0=(nx - 1) / 2, y0=(ny - 1) / 2),
        psf=psf_obs,
        meta={"ident": int(cat["IDENT"]), "band": "F814W"},
    )
    obs = obs.with_normalized_psf()
    psf_sum_after = float(obs.psf.image.sum())

    # 4. A mask (True = bad): a circular mask keeps pixels within 1.2 arcsec
    #    of the centre, like PyAutoLens' Mask2D.circular. Masked pixels get
    #    weight 0, so every fit and moment ignores them.
    yy, xx = np.mgrid[0:ny, 0:nx]
    u, v = obs.jacobian.to_world(xx, yy)
    outside = np.hypot(u, v) > 1.2
    masked = obs.with_mask(outside)

    # 5. Noise map and S/N map (noise = 1/sqrt(weight), inf where masked).
    noise_map = masked.noise_map
    snr_map = masked.signal_to_noise_map
    snr_max = masked.signal_to_noise_max

    # 6. Noise scaling instead of masking: keep the pixels (for FFT-based
    #    operations) but make them uninformative.
    scaled = obs.with_noise_scaling(outside, noise_value=1e8)

    # 7. Correlated noise: the survey's correlation function (drizzling
    #    correlates neighbouring pixels). The file is 50x50 with its peak at
    #    [25, 25]; crop to odd sides and scale to this stamp's variance.
    c0 = np.unravel_index(np.argmax(cf_file), cf_file.shape)
    h = min(c0[0], c0[1], cf_file.shape[0] - 1 - c0[0], cf_file.shape[1] - 1 - c0[1], 12)
    cf = cf_file[c0[0] - h : c0[0] + h + 1, c0[1] - h : c0[1] + h + 1]
    cf = cf * variance / cf[h, h]
    rng = np.random.default_rng(42)
    nsim = 128 if fast else 512
    field = correlated_noise((nsim, nsim), cf, rng=rng)
    measured_var = float(np.var(field))
    lag1_in = float(cf[h, h + 1] / cf[h, h])
    lag1_out = float(np.mean(field[:, 1:] * field[:, :-1]) / np.mean(field * field))
    noisy = obs.replace(noise_correlation=cf)

    # 8. Save and reload the whole bundle (image, weight, mask, PSF, Jacobian,
    #    noise correlation, metadata) as one multi-extension FITS file.
    path = write_observation(
        masked.replace(noise_correlation=cf), out / "aegis_obs.fits", overwrite=True
    )
    back = read_observation(path)
    roundtrip = bool(
        np.array_equal(back.image, masked.image)
        and np.array_equal(back.mask, masked.mask)
        and back.jacobian == masked.jacobian
        and back.meta["ident"] == masked.meta["ident"]
    )

    # Figure
    fig, axes = plt.subplots(2, 4, figsize=(11, 5.6))
    lim = np.percentile(obs.image, 99.5)
    extent = [
        -(nx - 1) / 2 * scale,
        (nx - 1) / 2 * scale,
        -(ny - 1) / 2 * scale,
        (ny - 1) / 2 * scale,
    ]
    panels = [
        (obs.image, "data (sky subtracted)", dict(vmin=-0.1 * lim, vmax=lim, cmap="gray_r")),
        (
            np.where(masked.mask, np.nan, masked.image),
            'masked (r > 1.2")',
            dict(vmin=-0.1 * lim, vmax=lim, cmap="gray_r"),
        ),
        (
            np.where(np.isfinite(noise_map), noise_map, np.nan),
            "noise map (masked = inf)",
            dict(cmap="viridis"),
        ),
        (snr_map, f"S/N map (max {snr_max:.0f})", dict(vmin=-3, vmax=30, cmap="magma")),
        (scaled.noise_map, "noise-scaled map (log10)", dict(cmap="viridis")),
        (
            obs.psf.image,
            f"PSF (sum {psf_sum_before:.3f} -> {psf_sum_after:.3f})",
            dict(cmap="gray_r"),
        ),
        (field[:64, :64], "correlated noise sample", dict(cmap="RdBu_r")),
    ]
    for ax, (arr, title, kw) in zip(axes.flat, panels):
        if title.startswith("noise-scaled"):
            arr = np.log10(arr)
        im = ax.imshow(arr, origin="lower", **kw, extent=extent if arr.shape == obs.shape else None)
        ax.set_title(title, fontsize=9)
        ax.set_xlabel("u (arcsec)" if arr.shape == obs.shape else "x (pixel)", fontsize=8)
        fig.colorbar(im, ax=ax, shrink=0.8)
    ax = axes.flat[7]
    lags = np.arange(0, 6)
    meas = [np.mean(field[:, lag:] * field[:, : nsim - lag]) for lag in lags]
    ax.plot(lags, cf[h, h + lags] / variance, "o-", label="input (file)")
    ax.plot(lags, np.array(meas) / variance, "s--", label="simulated")
    ax.set_xlabel("x lag (pixels)")
    ax.set_ylabel("correlation / variance")
    ax.set_title("noise correlation along x", fontsize=9)
    ax.legend(fontsize=8)
    fig.suptitle(f"AEGIS {int(cat['IDENT'])} F814W as a galmix Observation", fontsize=11)
    fig.tight_layout()
    fig_path = out / "imaging_data_model.png"
    fig.savefig(fig_path, dpi=72)
    plt.close(fig)

    return {
        "figure": fig_path,
        "fits": path,
        "psf_sum_before": psf_sum_before,
        "psf_sum_after": psf_sum_after,
        "snr_max": snr_max,
        "n_masked": int(masked.mask.sum()),
        "noise_scaled_weight": float(scaled.weight[outside].max()),
        "variance": variance,
        "simulated_variance": measured_var,
        "lag1_input": lag1_in,
        "lag1_simulated": lag1_out,
        "roundtrip": roundtrip,
        "has_noise_correlation": noisy.noise_correlation is not None,
    }


def cli(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default="example-output/imaging_data_model")
    ap.add_argument("--data", default=None, help="test-data folder holding galsim/")
    ap.add_argument("--full", action="store_true", help="larger noise simulation")
    args = ap.parse_args(argv)
    res = main(args.out, fast=not args.full, data_dir=args.data)
    for k, v in res.items():
        print(f"{k:24s} {v}")
    return 0


if __name__ == "__main__":
    raise SystemExit(cli())
