"""Truth-match diagnostic figures (MultiProFit / analysis_tools style, seed 003).

Every function takes plain arrays, draws on a new matplotlib figure and
returns it; matplotlib is imported lazily (Agg backend) so that importing
:mod:`galmix.plots` is cheap and needs no display.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

__all__ = [
    "chi_figure",
    "colour_diff_figure",
    "field_figure",
    "mag_diff_figure",
    "rebuild_figure",
    "redshift_figure",
    "running_stats",
    "sigma_mad",
    "size_figure",
]


def _plt() -> Any:
    import matplotlib

    if matplotlib.get_backend().lower() not in ("agg", "pdf", "svg", "cairo"):
        try:
            matplotlib.use("Agg", force=True)
        except Exception:
            pass
    import matplotlib.pyplot as plt

    return plt


def sigma_mad(x: np.ndarray) -> float:
    """Normalised median absolute deviation ``1.4826 median|x - median(x)|`` (NaN-safe).

    Examples
    --------
    >>> round(sigma_mad(np.array([-1.0, 0.0, 1.0, np.nan])), 4)
    1.4826
    """
    x = np.asarray(x, float)
    x = x[np.isfinite(x)]
    if x.size == 0:
        return float("nan")
    return float(1.4826 * np.median(np.abs(x - np.median(x))))


def running_stats(
    x: np.ndarray, y: np.ndarray, bins: int | np.ndarray = 10, min_count: int = 5
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Running median and sigma_MAD of ``y`` in bins of ``x``.

    Returns
    -------
    centres, median, sigma_mad, count : ndarray
        Bins with fewer than ``min_count`` points get NaN.

    Examples
    --------
    >>> c, m, s, n = running_stats(np.arange(100.0), np.zeros(100), bins=4)
    >>> m.tolist(), n.tolist()
    ([0.0, 0.0, 0.0, 0.0], [25, 25, 25, 25])
    """
    x = np.asarray(x, float)
    y = np.asarray(y, float)
    ok = np.isfinite(x) & np.isfinite(y)
    x, y = x[ok], y[ok]
    if np.ndim(bins) == 0:
        if x.size == 0:
            edges = np.linspace(0, 1, int(bins) + 1)
        else:
            edges = np.linspace(x.min(), x.max() + 1e-9, int(bins) + 1)
    else:
        edges = np.asarray(bins, float)
    nb = len(edges) - 1
    centres = 0.5 * (edges[1:] + edges[:-1])
    med = np.full(nb, np.nan)
    sig = np.full(nb, np.nan)
    cnt = np.zeros(nb, dtype=np.int64)
    idx = np.clip(np.digitize(x, edges) - 1, 0, nb - 1)
    for k in range(nb):
        v = y[idx == k]
        cnt[k] = v.size
        if v.size >= min_count:
            med[k] = np.median(v)
            sig[k] = sigma_mad(v)
    return centres, med, sig, cnt


def _diff_panel(ax, x, d, label, colour, bins) -> None:
    ok = np.isfinite(x) & np.isfinite(d)
    ax.scatter(x[ok], d[ok], s=4, alpha=0.45, color=colour, label=f"{label} ({ok.sum()})", lw=0)
    c, m, s, _ = running_stats(x[ok], d[ok], bins)
    ax.plot(c, m, color=colour, lw=2, label="running median")
    for k, ls in ((1, "--"), (2, ":"), (3, "-.")):
        ax.plot(
            c, m + k * s, color=colour, lw=1, ls=ls, label=rf"$\pm{k}\sigma_{{MAD}}$" if k else None
        )
        ax.plot(c, m - k * s, color=colour, lw=1, ls=ls)


def mag_diff_figure(
    true_mag: np.ndarray,
    meas_mag: np.ndarray,
    is_star: np.ndarray | None = None,
    band: str = "",
    label: str = "",
    ylim: float = 0.5,
) -> Any:
    """Measured minus true magnitude vs true magnitude, galaxies and stars.

    Running median and 1, 2, 3 sigma_MAD envelopes, as MultiProFit's
    ``matchedRefMagDiff``.
    """
    plt = _plt()
    tm = np.asarray(true_mag, float)
    d = np.asarray(meas_mag, float) - tm
    star = np.zeros(tm.shape, bool) if is_star is None else np.asarray(is_star, bool)
    fig, axes = plt.subplots(1, 2, figsize=(10, 4), sharey=True)
    finite = tm[np.isfinite(tm)]
    bins = np.linspace(
        np.floor(finite.min()) if finite.size else 18,
        np.ceil(finite.max()) if finite.size else 25,
        9,
    )
    for ax, sel, name, col in ((axes[0], ~star, "galaxies", "C0"), (axes[1], star, "stars", "C3")):
        _diff_panel(ax, tm[sel], d[sel], name, col, bins)
        ax.axhline(0, color="k", lw=0.8)
        ax.set_xlabel(f"true {band} mag")
        ax.set_ylim(-ylim, ylim)
        ax.legend(fontsize=7, loc="lower left")
        ax.set_title(
            f"{name}: median {np.nanmedian(d[sel]) if sel.any() else np.nan:+.3f}, "
            rf"$\sigma_{{MAD}}$ {sigma_mad(d[sel]):.3f}",
            fontsize=9,
        )
    axes[0].set_ylabel(f"{label} {band} mag - true [mag]")
    fig.tight_layout()
    return fig


def colour_diff_figure(
    true_colour: np.ndarray,
    meas_colour: np.ndarray,
    true_mag: np.ndarray,
    is_star: np.ndarray | None = None,
    colour_name: str = "",
    label: str = "",
    ylim: float = 0.5,
) -> Any:
    """Measured minus true colour vs true magnitude (``matchedRefColorDiff``)."""
    plt = _plt()
    tm = np.asarray(true_mag, float)
    d = np.asarray(meas_colour, float) - np.asarray(true_colour, float)
    star = np.zeros(tm.shape, bool) if is_star is None else np.asarray(is_star, bool)
    fig, ax = plt.subplots(figsize=(6, 4))
    finite = tm[np.isfinite(tm)]
    bins = np.linspace(
        np.floor(finite.min()) if finite.size else 18,
        np.ceil(finite.max()) if finite.size else 25,
        9,
    )
    _diff_panel(ax, tm[~star], d[~star], "galaxies", "C0", bins)
    ok = star & np.isfinite(d)
    ax.scatter(tm[ok], d[ok], s=8, color="C3", marker="*", label=f"stars ({ok.sum()})")
    ax.axhline(0, color="k", lw=0.8)
    ax.set_ylim(-ylim, ylim)
    ax.set_xlabel("true magnitude")
    ax.set_ylabel(f"{label} ({colour_name}) - true [mag]")
    ax.set_title(
        rf"{colour_name}: galaxies median {np.nanmedian(d[~star]) if (~star).any() else np.nan:+.3f}, "
        rf"$\sigma_{{MAD}}$ {sigma_mad(d[~star]):.3f}",
        fontsize=9,
    )
    ax.legend(fontsize=7, loc="lower left")
    fig.tight_layout()
    return fig


def chi_figure(
    chis: Mapping[str, np.ndarray],
    true_mag: np.ndarray | None = None,
    title: str = "",
    ylim: float = 10.0,
) -> Any:
    """``(measured - true)/error`` vs true magnitude (running median, sigma_MAD), one panel each.

    Without ``true_mag``, histograms against the unit Gaussian. With correct
    errors and no bias the running median is 0 and sigma_MAD is 1
    (MultiProFit's ``matchedRefMagChi``).
    """
    plt = _plt()
    k = max(1, len(chis))
    if true_mag is None:
        fig, ax = plt.subplots(figsize=(6, 4))
        grid = np.linspace(-6, 6, 200)
        ax.plot(grid, np.exp(-0.5 * grid**2) / np.sqrt(2 * np.pi), "k-", lw=1.5, label="N(0, 1)")
        for j, (name, chi) in enumerate(chis.items()):
            c = np.asarray(chi, float)
            c = c[np.isfinite(c)]
            if c.size:
                ax.hist(
                    np.clip(c, -6, 6),
                    bins=48,
                    range=(-6, 6),
                    density=True,
                    histtype="step",
                    lw=1.5,
                    color=f"C{j}",
                    label=rf"{name}: $\sigma_{{MAD}}$ {sigma_mad(c):.2f}",
                )
        ax.set_xlabel(r"$\chi$")
        ax.legend(fontsize=7)
        ax.set_title(title, fontsize=9)
        fig.tight_layout()
        return fig
    tm = np.asarray(true_mag, float)
    fig, axes = plt.subplots(1, k, figsize=(4.6 * k, 4), squeeze=False, sharey=True)
    finite = tm[np.isfinite(tm)]
    bins = np.linspace(
        np.floor(finite.min()) if finite.size else 18,
        np.ceil(finite.max()) if finite.size else 25,
        9,
    )
    for ax, (name, chi) in zip(axes[0], chis.items()):
        c = np.asarray(chi, float)
        _diff_panel(ax, tm, np.clip(c, -ylim, ylim), name, "C0", bins)
        for v in (-1, 1):
            ax.axhline(v, color="k", lw=0.6, ls=":")
        ax.axhline(0, color="k", lw=0.8)
        ax.set_ylim(-ylim, ylim)
        ax.set_xlabel("true magnitude")
        ax.set_title(
            rf"{name}: median {np.nanmedian(c):+.2f}, $\sigma_{{MAD}}$ {sigma_mad(c):.2f}",
            fontsize=9,
        )
        ax.legend(fontsize=6, loc="lower left")
    axes[0, 0].set_ylabel(r"$\chi$ = (flux - true flux) / error")
    fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    return fig


def size_figure(
    true_hlr: np.ndarray,
    fit_hlr: np.ndarray,
    true_n: np.ndarray | None = None,
    fit_n: np.ndarray | None = None,
    mag: np.ndarray | None = None,
) -> Any:
    """Recovered vs true half-light radius (and Sersic index)."""
    plt = _plt()
    npan = 2 if true_n is not None and fit_n is not None else 1
    fig, axes = plt.subplots(1, npan, figsize=(5 * npan, 4.2), squeeze=False)
    th, fh = np.asarray(true_hlr, float), np.asarray(fit_hlr, float)
    ok = np.isfinite(th) & np.isfinite(fh) & (th > 0) & (fh > 0)
    c = None if mag is None else np.asarray(mag, float)[ok]
    ax = axes[0, 0]
    sc = ax.scatter(th[ok], fh[ok], s=6, c=c, cmap="viridis_r", lw=0)
    lim = [0.1, max(3.0, float(np.nanmax(th[ok])) if ok.any() else 3.0)]
    ax.plot(lim, lim, "k-", lw=0.8)
    ax.set_xscale("log")
    ax.set_yscale("log")
    from matplotlib.ticker import NullFormatter

    ax.xaxis.set_minor_formatter(NullFormatter())
    ax.yaxis.set_minor_formatter(NullFormatter())
    ax.set_xlim(lim)
    ax.set_ylim(lim[0] * 0.5, lim[1] * 2)
    ax.set_xlabel("true half-light radius [arcsec]")
    ax.set_ylabel("fitted half-light radius [arcsec]")
    r = np.log10(fh[ok] / th[ok])
    ax.set_title(
        rf"log10 ratio: median {np.median(r) if r.size else np.nan:+.3f}, $\sigma_{{MAD}}$ {sigma_mad(r):.3f}",
        fontsize=9,
    )
    if c is not None:
        fig.colorbar(sc, ax=ax, label="true mag")
    if npan == 2:
        tn, fn = np.asarray(true_n, float), np.asarray(fit_n, float)
        okn = np.isfinite(tn) & np.isfinite(fn)
        ax = axes[0, 1]
        jitter = np.random.default_rng(0).uniform(-0.03, 0.03, okn.sum())
        ax.scatter(
            tn[okn] + jitter,
            fn[okn],
            s=6,
            c=None if mag is None else np.asarray(mag, float)[okn],
            cmap="viridis_r",
            lw=0,
        )
        ax.plot([0.5, 6], [0.5, 6], "k-", lw=0.8)
        ax.set_xlabel("true Sersic n")
        ax.set_ylabel("fitted Sersic n")
        d = fn[okn] - tn[okn]
        ax.set_title(
            rf"n: median diff {np.median(d) if d.size else np.nan:+.2f}, $\sigma_{{MAD}}$ {sigma_mad(d):.2f}",
            fontsize=9,
        )
    fig.tight_layout()
    return fig


def redshift_figure(
    z_true: np.ndarray,
    predictions: Mapping[str, np.ndarray],
    metrics: Mapping[str, Mapping[str, float]] | None = None,
) -> Any:
    """Photometric vs true redshift, one panel per estimator."""
    plt = _plt()
    k = max(1, len(predictions))
    fig, axes = plt.subplots(1, k, figsize=(4.6 * k, 4.4), squeeze=False)
    zt = np.asarray(z_true, float)
    zmax = float(np.nanmax(zt)) * 1.1 if np.isfinite(zt).any() else 2.0
    for ax, (name, zp) in zip(axes[0], predictions.items()):
        zp = np.asarray(zp, float)
        ok = np.isfinite(zt) & np.isfinite(zp)
        ax.scatter(zt[ok], zp[ok], s=7, alpha=0.7, lw=0)
        g = np.array([0, zmax])
        ax.plot(g, g, "k-", lw=0.8)
        ax.plot(g, g + 0.15 * (1 + g), "k:", lw=0.8)
        ax.plot(g, g - 0.15 * (1 + g), "k:", lw=0.8)
        ax.set_xlim(0, zmax)
        ax.set_ylim(0, zmax)
        ax.set_xlabel("true z")
        ax.set_ylabel(f"photo-z ({name})")
        m = (metrics or {}).get(name)
        if m:
            ax.set_title(
                rf"{name}: $\sigma_{{NMAD}}$ {m.get('sigma_nmad', np.nan):.3f}, "
                f"outliers {m.get('outlier_fraction', np.nan):.2f}, N={int(m.get('n', ok.sum()))}",
                fontsize=9,
            )
    fig.tight_layout()
    return fig


def rebuild_figure(stamps: Sequence[Mapping[str, np.ndarray]], titles: Sequence[str] = ()) -> Any:
    """Data | model | residual (chi, +/- 5) rows for a sample of fitted objects."""
    plt = _plt()
    n = max(1, len(stamps))
    fig, axes = plt.subplots(n, 3, figsize=(8, 2.6 * n), squeeze=False)
    for i, st in enumerate(stamps):
        data, model = np.asarray(st["data"]), np.asarray(st["model"])
        w = np.asarray(st.get("weight", np.ones_like(data)))
        noise = 1.0 / np.sqrt(np.median(w[w > 0])) if np.any(w > 0) else 1.0
        vmax = np.arcsinh(np.nanmax(model) / noise) if np.isfinite(model).any() else 1.0
        for j, im in ((0, data), (1, model)):
            axes[i, j].imshow(
                np.arcsinh(im / noise), origin="lower", cmap="gray_r", vmin=-1, vmax=vmax
            )
        chi = (data - model) * np.sqrt(w)
        axes[i, 2].imshow(
            np.where(w > 0, chi, np.nan), origin="lower", cmap="RdBu_r", vmin=-5, vmax=5
        )
        axes[i, 0].set_ylabel(titles[i] if i < len(titles) else "", fontsize=8)
        for j, t in enumerate(("data", "model", r"residual ($\chi$, $\pm$5)")):
            axes[i, j].set_xticks([])
            axes[i, j].set_yticks([])
            if i == 0:
                axes[i, j].set_title(t, fontsize=9)
    fig.tight_layout()
    return fig


def field_figure(
    image: np.ndarray, x: np.ndarray | None = None, y: np.ndarray | None = None, title: str = ""
) -> Any:
    """An asinh-stretched image with detections circled."""
    plt = _plt()
    img = np.asarray(image, float)
    fig, ax = plt.subplots(figsize=(6.5, 6.5))
    s = np.nanstd(img[np.isfinite(img)]) if np.isfinite(img).any() else 1.0
    ax.imshow(
        np.arcsinh(np.nan_to_num(img) / (3 * s)),
        origin="lower",
        cmap="gray_r",
        vmin=-1,
        vmax=np.nanpercentile(np.arcsinh(np.nan_to_num(img) / (3 * s)), 99.8),
    )
    if x is not None and y is not None:
        ax.scatter(x, y, s=40, facecolors="none", edgecolors="C1", lw=0.6)
    ax.set_title(title, fontsize=9)
    ax.set_xlabel("x [pix]")
    ax.set_ylabel("y [pix]")
    fig.tight_layout()
    return fig
