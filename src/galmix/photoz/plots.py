"""Photo-z diagnostic plots (matplotlib, imported lazily), saved to files.

* :func:`plot_zphot_zspec`: photometric against spectroscopic redshift,
  with the outlier boundaries ``|dz| = 0.15`` and the metrics in a legend;
* :func:`plot_dz_vs_mag`: ``dz = (z_phot - z_spec)/(1 + z_spec)`` against
  magnitude, with running median and sigma_NMAD;
* :func:`plot_pit`: PIT histogram (flat for calibrated PDFs);
* :func:`diagnostic_plots`: all that apply, written into a directory.

Examples
--------
>>> import numpy as np, tempfile, os
>>> from galmix.photoz.plots import plot_zphot_zspec
>>> z = np.linspace(0.05, 0.3, 50)
>>> path = plot_zphot_zspec(z, z + 0.01, os.path.join(tempfile.mkdtemp(), "z.png"))
>>> os.path.getsize(path) > 0
True
"""

from __future__ import annotations

import itertools
import os
from pathlib import Path

import numpy as np

from galmix.photoz.metrics import OUTLIER_THRESHOLD, metrics

__all__ = ["diagnostic_plots", "plot_dz_vs_mag", "plot_pit", "plot_zphot_zspec"]


def _pyplot():
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    return plt


def _save(fig, path) -> str:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110, bbox_inches="tight")
    _pyplot().close(fig)
    return str(path)


def plot_zphot_zspec(z_true, z_pred, path: str | os.PathLike, title: str | None = None) -> str:
    """Scatter/density plot of z_phot against z_spec; returns the file path."""
    plt = _pyplot()
    zt = np.asarray(z_true, dtype=float)
    zp = np.asarray(z_pred, dtype=float)
    m = metrics(zt, zp)
    hi = float(max(np.percentile(zt, 99.5), np.percentile(zp, 99.5))) * 1.1
    fig, ax = plt.subplots(figsize=(5, 5))
    if zt.size > 2000:
        ax.hexbin(zt, zp, gridsize=80, extent=(0, hi, 0, hi), bins="log", cmap="viridis", mincnt=1)
    else:
        ax.scatter(zt, zp, s=4, alpha=0.6)
    g = np.linspace(0, hi, 2)
    ax.plot(g, g, "k-", lw=0.8)
    for s in (-1, 1):
        ax.plot(g, g + s * OUTLIER_THRESHOLD * (1 + g), "r--", lw=0.6)
    ax.set_xlim(0, hi)
    ax.set_ylim(0, hi)
    ax.set_xlabel("z_spec")
    ax.set_ylabel("z_phot")
    ax.set_title(title or "photometric vs spectroscopic redshift")
    ax.text(
        0.04,
        0.96,
        f"N = {zt.size}\nσ_NMAD = {m['sigma_nmad']:.4f}\n"
        f"outliers = {100 * m['outlier_fraction']:.2f} %\nbias = {m['bias']:+.4f}",
        transform=ax.transAxes,
        va="top",
        fontsize=9,
        bbox={"facecolor": "white", "alpha": 0.8, "lw": 0},
    )
    return _save(fig, path)


def plot_dz_vs_mag(
    z_true, z_pred, mag, path: str | os.PathLike, mag_label: str = "magnitude", nbins: int = 12
) -> str:
    """dz against magnitude with the running median and ±sigma_NMAD band."""
    plt = _pyplot()
    zt = np.asarray(z_true, dtype=float)
    dz = (np.asarray(z_pred, dtype=float) - zt) / (1 + zt)
    mag = np.asarray(mag, dtype=float)
    fig, ax = plt.subplots(figsize=(6, 4))
    ax.scatter(mag, dz, s=2, alpha=0.3, color="0.4")
    edges = np.quantile(mag, np.linspace(0, 1, nbins + 1))
    centres, med, nmad = [], [], []
    for lo, hi in itertools.pairwise(edges):
        sel = (mag >= lo) & (mag <= hi)
        if sel.sum() < 5:
            continue
        d = dz[sel]
        centres.append(0.5 * (lo + hi))
        med.append(np.median(d))
        nmad.append(1.4826 * np.median(np.abs(d - np.median(d))))
    c, md, nm = np.array(centres), np.array(med), np.array(nmad)
    ax.plot(c, md, "r-", label="median")
    ax.fill_between(c, md - nm, md + nm, color="r", alpha=0.2, label="± σ_NMAD")
    ax.axhline(0, color="k", lw=0.6)
    lim = max(0.1, 4 * float(np.nanmax(nm)) if nm.size else 0.1)
    ax.set_ylim(-lim, lim)
    ax.set_xlabel(mag_label)
    ax.set_ylabel("(z_phot - z_spec) / (1 + z_spec)")
    ax.legend(loc="upper left", fontsize=8)
    return _save(fig, path)


def plot_pit(pit, path: str | os.PathLike, nbins: int = 20) -> str:
    """Histogram of PIT values with the uniform expectation."""
    plt = _pyplot()
    pit = np.asarray(pit, dtype=float)
    fig, ax = plt.subplots(figsize=(5, 3.5))
    ax.hist(pit, bins=nbins, range=(0, 1), density=True, histtype="stepfilled", alpha=0.6)
    ax.axhline(1.0, color="k", ls="--", lw=0.8)
    ax.set_xlabel("PIT")
    ax.set_ylabel("density")
    ax.set_title("PIT histogram (flat = calibrated)")
    return _save(fig, path)


def diagnostic_plots(
    z_true,
    z_pred,
    out_dir: str | os.PathLike,
    mag=None,
    pit=None,
    prefix: str = "photoz",
    mag_label: str = "magnitude",
) -> dict[str, str]:
    """Write every applicable diagnostic plot into ``out_dir``.

    Returns a dict name -> file path (``zphot_zspec``, ``dz_mag`` when
    ``mag`` is given, ``pit`` when ``pit`` is given).
    """
    out = Path(out_dir)
    paths = {"zphot_zspec": plot_zphot_zspec(z_true, z_pred, out / f"{prefix}_zphot_zspec.png")}
    if mag is not None:
        paths["dz_mag"] = plot_dz_vs_mag(
            z_true, z_pred, mag, out / f"{prefix}_dz_mag.png", mag_label=mag_label
        )
    if pit is not None:
        paths["pit"] = plot_pit(pit, out / f"{prefix}_pit.png")
    return paths
