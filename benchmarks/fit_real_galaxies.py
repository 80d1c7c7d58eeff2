"""Fit the AEGIS HST/ACS galaxies (GalSim test data, F606W + F814W) with sersic and expdev.

Saves a figure of data / model / residual for every galaxy, band and model and
prints a Markdown table with fluxes, sizes, Sersic indices, chi2/dof and the
F606W-F814W colour against the catalogue's SExtractor MAG_AUTO colour.

    python benchmarks/fit_real_galaxies.py [--data DIR] [--out fit_aegis.png]
"""

from __future__ import annotations

import argparse
import math
import time
from pathlib import Path

import numpy as np

from galmix import Jacobian, MultiBandObservation, Observation
from galmix.fit import fit

ACS_ZEROPOINTS = {"F606W": 26.486, "F814W": 25.937}  # ACS/WFC AB zero points
BANDS = ("F606W", "F814W")


def load_aegis(directory: Path, band: str, row: int):
    """AEGIS stamp as an Observation (sky NOISE_MEAN subtracted, PSF image attached)."""
    from astropy.io import fits
    from astropy.table import Table

    name = {"F606W": "F606w", "F814W": "F814w"}[band]
    r = Table.read(directory / f"AEGIS_{name}_catalog.fits")[row]
    gal = np.asarray(fits.getdata(directory / r["GAL_FILENAME"].strip(), int(r["GAL_HDU"])), float)
    psf = np.asarray(fits.getdata(directory / r["PSF_FILENAME"].strip(), int(r["PSF_HDU"])), float)
    s = float(r["PIXEL_SCALE"])
    pobs = Observation(
        psf, jacobian=Jacobian(s, 0, 0, s, (psf.shape[1] - 1) / 2, (psf.shape[0] - 1) / 2)
    )
    obs = Observation(
        gal - float(r["NOISE_MEAN"]),
        weight=np.full(gal.shape, 1.0 / float(r["NOISE_VARIANCE"])),
        jacobian=Jacobian(s, 0, 0, s, (gal.shape[1] - 1) / 2, (gal.shape[0] - 1) / 2),
        psf=pobs,
    )
    return obs, r


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    here = Path(__file__).resolve().parent
    ap.add_argument(
        "--data",
        type=Path,
        default=here.parents[1] / "shared" / "data" / "galsim" / "real_comparison_images",
    )
    ap.add_argument("--out", type=Path, default=here / "figures" / "fit_aegis.png")
    args = ap.parse_args()

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = []
    panels = []
    for row in range(5):
        for band in BANDS:
            obs, cat = load_aegis(args.data, band, row)
            for model in ("sersic", "expdev"):
                t0 = time.perf_counter()
                res = fit(obs, model)
                dt = time.perf_counter() - t0
                rows.append((row, int(cat["IDENT"]), band, model, res, float(cat["MAG"]), dt))
                panels.append((f"{int(cat['IDENT'])} {band} {model}", obs, res))
    print('| IDENT | band | model | flux | hlr (") | n / frac_dev | chi2/dof | flags | time (s) |')
    print("|---|---|---|---|---|---|---|---|---|")
    for _, ident, band, model, res, _, dt in rows:
        p = res.params
        shape = f"{p['n']:.2f}" if model == "sersic" else f"{p['frac_dev']:.2f}"
        print(
            f"| {ident} | {band} | {model} | {p['flux']:.3f} +- {res.errors['flux']:.3f} | "
            f"{p['half_light_radius']:.3f} | {shape} | {res.chi2_per_dof:.3f} | {res.flags} | "
            f"{dt:.3f} |"
        )
    print(
        "\n| IDENT | colour sersic | colour expdev | catalogue MAG_AUTO colour | "
        "joint 2-band sersic colour | joint chi2/dof |"
    )
    print("|---|---|---|---|---|---|")
    dzp = ACS_ZEROPOINTS["F606W"] - ACS_ZEROPOINTS["F814W"]
    for row in range(5):
        sel = [r for r in rows if r[0] == row]
        get = {(r[2], r[3]): r for r in sel}
        cols = []
        for model in ("sersic", "expdev"):
            fv = get[("F606W", model)][4].params["flux"]
            fi = get[("F814W", model)][4].params["flux"]
            cols.append(-2.5 * math.log10(fv / fi) + dzp)
        cat = get[("F606W", "sersic")][5] - get[("F814W", "sersic")][5]
        mb = MultiBandObservation({b: load_aegis(args.data, b, row)[0] for b in BANDS})
        rj = fit(mb, "sersic")
        cj = -2.5 * math.log10(rj.params["flux"]["F606W"] / rj.params["flux"]["F814W"]) + dzp
        print(
            f"| {sel[0][1]} | {cols[0]:.3f} | {cols[1]:.3f} | {cat:.3f} | {cj:.3f} | "
            f"{rj.chi2_per_dof:.3f} |"
        )

    # one row per galaxy and band: data, sersic model, sersic residual, expdev residual
    pairs = [(panels[i], panels[i + 1]) for i in range(0, len(panels), 2)]
    fig, axes = plt.subplots(len(pairs), 4, figsize=(7.2, 1.7 * len(pairs)))
    for i, ((title, obs, rs), (_, _, rd)) in enumerate(pairs):
        img = obs.image
        lim = np.percentile(np.abs(img), 99.5)
        cells = (
            (img, "data", None),
            (rs.model_image, "sersic model", None),
            (img - rs.model_image, "sersic residual", rs),
            (img - rd.model_image, "expdev residual", rd),
        )
        for j, (arr, lab, res) in enumerate(cells):
            ax = axes[i, j]
            ax.imshow(arr, origin="lower", cmap="gray_r", vmin=-0.2 * lim, vmax=lim)
            ax.set_xticks([])
            ax.set_yticks([])
            if j == 0:
                ax.set_ylabel(title.rsplit(" ", 1)[0], fontsize=7)
            if i == 0:
                ax.set_title(lab, fontsize=8)
            if res is not None:
                ax.text(
                    0.02,
                    0.04,
                    f"chi2/dof {res.chi2_per_dof:.2f}",
                    fontsize=6,
                    transform=ax.transAxes,
                    color="C3",
                )
    fig.tight_layout()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(args.out, dpi=70)
    print(f"\nfigure: {args.out}")


if __name__ == "__main__":
    main()
