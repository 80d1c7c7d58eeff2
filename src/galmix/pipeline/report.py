"""The static HTML report of a pipeline run: figures and summary tables.

:func:`write_report` reads only the run directory (``catalog.parquet``,
``truth_match.parquet``, ``run.json``, tile rebuild images), so ``galmix
report DIR`` can regenerate it at any time. Figures follow the truth-match
diagnostics of seed 003: magnitude and colour differences vs magnitude with
running median and sigma_MAD, chi distributions, size and Sersic-index
recovery, data | model | residual rebuilds, and photo-z vs true z.
"""

from __future__ import annotations

import datetime as _dt
import html
import itertools
import json
import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from galmix.pipeline.store import atomic_write, read_parquet_table

__all__ = ["photoz_metrics_vs_truth", "write_report"]

log = logging.getLogger(__name__)


def _metrics(z_true: np.ndarray, z_pred: np.ndarray) -> dict[str, float]:
    ok = np.isfinite(z_true) & np.isfinite(z_pred)
    try:
        from galmix.photoz.metrics import metrics

        m = dict(metrics(z_true[ok], z_pred[ok])) if ok.sum() >= 2 else {}
    except ImportError:  # pragma: no cover - galmix.photoz missing
        dz = (z_pred[ok] - z_true[ok]) / (1 + z_true[ok])
        m = {
            "sigma_nmad": float(1.4826 * np.median(np.abs(dz - np.median(dz))))
            if dz.size
            else np.nan,
            "outlier_fraction": float(np.mean(np.abs(dz) > 0.15)) if dz.size else np.nan,
            "bias": float(np.median(dz)) if dz.size else np.nan,
        }
    m["n"] = int(ok.sum())
    return {
        k: (float(v) if isinstance(v, (int, float, np.floating, np.integer)) else v)
        for k, v in m.items()
    }


def photoz_metrics_vs_truth(tm: Any) -> dict[str, dict[str, float]]:
    """Photo-z metrics on matched galaxies that were *not* in the training set."""
    out: dict[str, dict[str, float]] = {}
    if tm is None or "true_z" not in tm.colnames:
        return out
    zt = np.asarray(tm["true_z"], float)
    gal = (
        np.asarray(tm["true_kind"]).astype(str) == "galaxy"
        if "true_kind" in tm.colnames
        else np.ones(len(tm), bool)
    )
    test = gal & (np.asarray(tm["match_id"]) >= 0)
    if "photoz_train" in tm.colnames:
        test &= ~np.asarray(tm["photoz_train"], bool)
    for name, col in (("object", "photoz_z"), ("pixel", "photoz_z_pixel")):
        if col in tm.colnames:
            out[name] = _metrics(zt[test], np.asarray(tm[col], float)[test])
    return out


def _save(fig: Any, path: Path) -> str:
    import matplotlib.pyplot as plt

    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return path.name


def _table_html(rows: list[tuple[str, Any]]) -> str:
    body = "".join(
        f"<tr><th>{html.escape(str(k))}</th><td>{html.escape(_fmt(v))}</td></tr>" for k, v in rows
    )
    return f"<table>{body}</table>"


def _fmt(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:.4g}"
    return str(v)


def _rebuild_stamps(out_dir: Path, limit: int = 6) -> tuple[list[dict[str, np.ndarray]], list[str]]:
    stamps, titles = [], []
    for p in sorted((out_dir / "tiles").glob("tile-*-rebuild.npy")):
        try:
            arr = np.load(p, allow_pickle=False)
        except (OSError, ValueError):
            continue
        if arr.dtype.names is None:
            continue
        keys = sorted({n.rsplit("_", 1)[0] for n in arr.dtype.names})
        for k in keys:
            if len(stamps) >= limit:
                break
            try:
                stamps.append(
                    {
                        "data": arr[k + "_data"],
                        "model": arr[k + "_model"],
                        "weight": arr[k + "_weight"],
                    }
                )
                titles.append("tile {} object {}".format(*tuple(k.split("_"))))
            except (ValueError, KeyError):
                continue
    return stamps, titles


def write_report(
    out_dir: str | Path,
    cfg: Any = None,
    timings: Mapping[str, float] | None = None,
    photoz_metrics: Mapping[str, Any] | None = None,
) -> Path:
    """Write ``figures/*.png`` and ``report.html`` into the run directory ``out_dir``.

    Returns
    -------
    Path
        The HTML report.
    """
    from galmix.plots import (
        chi_figure,
        colour_diff_figure,
        field_figure,
        mag_diff_figure,
        rebuild_figure,
        redshift_figure,
        size_figure,
    )

    out = Path(out_dir)
    figdir = out / "figures"
    figdir.mkdir(parents=True, exist_ok=True)
    run_info: dict[str, Any] = {}
    if (out / "run.json").exists():
        run_info = json.loads((out / "run.json").read_text())
    if timings:
        run_info["timings"] = {k: round(float(v), 2) for k, v in timings.items()}
        atomic_write(out / "run.json", lambda tmp: tmp.write_text(json.dumps(run_info, indent=1)))
    bands = run_info.get("bands") or []
    cat = read_parquet_table(out / "catalog.parquet")
    if not bands:
        bands = sorted({c[: -len("_flux_auto")] for c in cat.colnames if c.endswith("_flux_auto")})
    tm = (
        read_parquet_table(out / "truth_match.parquet")
        if (out / "truth_match.parquet").exists()
        else None
    )
    figs: list[tuple[str, str, str]] = []  # (section, file, caption)

    # detection image overview
    try:
        img_path = run_info.get("detection_preview")
        if img_path and (out / img_path).exists():
            pre = np.load(out / img_path, allow_pickle=False)
            fb = float(run_info.get("preview_binning", 1))
            f = field_figure(
                pre,
                (np.asarray(cat["x"]) + 0.5) / fb - 0.5,
                (np.asarray(cat["y"]) + 0.5) / fb - 0.5,
                f"{len(cat)} objects",
            )
            figs.append(
                (
                    "Field",
                    _save(f, figdir / "field.png"),
                    "Reference-band image with the catalog's detections.",
                )
            )
    except Exception as exc:
        log.warning("field figure failed: %s", exc)

    summary: list[tuple[str, Any]] = [("objects in catalog", len(cat)), ("bands", ", ".join(bands))]
    if "flags" in cat.colnames:
        from galmix.errors import FLAGS

        benign = int(FLAGS.NO_MATCH | FLAGS.NEIGHBOUR_MASKED)
        fl = np.asarray(cat["flags"])
        summary.append(("objects with flags == 0", int(np.sum(fl == 0))))
        summary.append(
            (
                "objects with no flag but NO_MATCH / NEIGHBOUR_MASKED",
                int(np.sum((fl & ~benign) == 0)),
            )
        )
    if "fit_flags" in cat.colnames:
        summary.append(("successful model fits", int(np.sum(np.asarray(cat["fit_flags"]) == 0))))
    pz_truth: dict[str, Any] = {}
    if tm is not None:
        hit = np.asarray(tm["match_id"]) >= 0
        n_truth = int(tm.meta.get("n_truth", 0) or run_info.get("n_truth", 0)) or None
        summary.append(("matched to truth", int(hit.sum())))
        if n_truth:
            summary.append(("truth objects", n_truth))
            summary.append(("completeness (all truth)", hit.sum() / n_truth))
        summary.append(("purity", hit.mean() if len(hit) else float("nan")))
        m = tm[hit]
        star = (
            np.asarray(m["true_is_star"], bool)
            if "true_is_star" in m.colnames
            else np.zeros(len(m), bool)
        )
        ref_band = bands[len(bands) // 2] if bands else None
        for b in bands:
            tcol = f"true_mag_{b}"
            if tcol not in m.colnames:
                continue
            for kind, col, _err in (
                ("Kron (AUTO)", f"{b}_mag_auto", f"{b}_mag_auto_err"),
                ("Sersic fit", f"{b}_mag_fit", f"{b}_mag_fit_err"),
            ):
                if col not in m.colnames or not np.isfinite(np.asarray(m[col], float)).any():
                    continue
                if b != ref_band and kind == "Kron (AUTO)" and len(bands) > 2:
                    continue
                try:
                    f = mag_diff_figure(m[tcol], m[col], star, band=b, label=kind)
                    fname = f"magdiff_{'auto' if 'AUTO' in kind else 'fit'}_{b}.png"
                    figs.append(
                        (
                            "Magnitudes",
                            _save(f, figdir / fname),
                            f"{kind} {b} magnitude minus true vs true magnitude.",
                        )
                    )
                except Exception as exc:
                    log.warning("magnitude figure failed: %s", exc)
        # colours (fit fluxes when present, else Kron)
        for b1, b2 in itertools.pairwise(bands):
            for kind, suf in (("Sersic fit", "mag_fit"), ("Kron", "mag_auto")):
                c1, c2 = f"{b1}_{suf}", f"{b2}_{suf}"
                if (
                    c1 in m.colnames
                    and c2 in m.colnames
                    and np.isfinite(np.asarray(m[c1], float)).any()
                ):
                    tc = np.asarray(m[f"true_mag_{b1}"], float) - np.asarray(
                        m[f"true_mag_{b2}"], float
                    )
                    mc = np.asarray(m[c1], float) - np.asarray(m[c2], float)
                    f = colour_diff_figure(
                        tc, mc, np.asarray(m[f"true_mag_{b2}"], float), star, f"{b1}-{b2}", kind
                    )
                    figs.append(
                        (
                            "Colours",
                            _save(f, figdir / f"colour_{b1}{b2}.png"),
                            f"{kind} {b1}-{b2} colour minus true vs true {b2} magnitude.",
                        )
                    )
                    break
        # chi distributions of fluxes
        chis = {}
        b = ref_band
        tf = f"true_flux_{b}"
        for kind, col in (("Sersic fit", f"fit_flux_{b}"), ("Kron", f"{b}_flux_auto")):
            if tf in m.colnames and col in m.colnames and col + "_err" in m.colnames:
                with np.errstate(divide="ignore", invalid="ignore"):
                    chi = (np.asarray(m[col], float) - np.asarray(m[tf], float)) / np.asarray(
                        m[col + "_err"], float
                    )
                if np.isfinite(chi).any():
                    chis[f"{kind} {b}"] = np.where(~star, chi, np.nan)
        if chis:
            f = chi_figure(chis, np.asarray(m[f"true_mag_{b}"], float), f"galaxies, {b} band")
            figs.append(
                (
                    "Errors",
                    _save(f, figdir / "chi.png"),
                    "Flux chi = (measured - true)/error of galaxies vs true magnitude: with right "
                    "errors and no bias the running median is 0 and sigma_MAD 1; at the bright end "
                    "small systematic biases (Kron apertures miss light, model mismatch) dominate "
                    "the tiny statistical errors.",
                )
            )
        if "fit_half_light_radius" in m.colnames and "true_hlr" in m.colnames:
            gal = ~star & (np.asarray(m["fit_flags"]) == 0) if "fit_flags" in m.colnames else ~star
            tmag = np.asarray(m[f"true_mag_{ref_band}"], float)[gal] if ref_band else None
            f = size_figure(
                np.asarray(m["true_hlr"], float)[gal],
                np.asarray(m["fit_half_light_radius"], float)[gal],
                np.asarray(m["true_n"], float)[gal] if "true_n" in m.colnames else None,
                np.asarray(m["fit_n"], float)[gal] if "fit_n" in m.colnames else None,
                tmag,
            )
            figs.append(
                (
                    "Sizes",
                    _save(f, figdir / "sizes.png"),
                    "Fitted vs true half-light radius and Sersic index (galaxies with fit_flags == 0; colour = true magnitude).",
                )
            )
        pz_truth = photoz_metrics_vs_truth(tm)
        preds = {}
        test = (
            hit & (np.asarray(tm["true_kind"]).astype(str) == "galaxy")
            if "true_kind" in tm.colnames
            else hit
        )
        if "photoz_train" in tm.colnames:
            test &= ~np.asarray(tm["photoz_train"], bool)
        for name, col in (("object", "photoz_z"), ("pixel", "photoz_z_pixel")):
            if col in tm.colnames:
                preds[name] = np.asarray(tm[col], float)[test]
        if preds:
            f = redshift_figure(np.asarray(tm["true_z"], float)[test], preds, pz_truth)
            figs.append(
                (
                    "Redshifts",
                    _save(f, figdir / "photoz.png"),
                    "Photo-z vs true z for galaxies outside the training set (dotted: |dz|/(1+z) = 0.15).",
                )
            )
    stamps, titles = _rebuild_stamps(out)
    if stamps:
        f = rebuild_figure(stamps, titles)
        figs.append(
            (
                "Model rebuilds",
                _save(f, figdir / "rebuild.png"),
                "Data | Sersic model | residual chi for the brightest object of each tile (reference band).",
            )
        )

    # --------------------------------------------------------------- HTML
    sections: dict[str, list[str]] = {}
    for sec, fname, cap in figs:
        sections.setdefault(sec, []).append(
            f'<figure><img src="figures/{html.escape(fname)}" alt="{html.escape(cap)}">'
            f"<figcaption>{html.escape(cap)}</figcaption></figure>"
        )
    pz_rows = []
    for name, mm in pz_truth.items():
        for k, v in mm.items():
            pz_rows.append((f"{name}: {k}", v))
    for k, v in (photoz_metrics or run_info.get("photoz", {}) or {}).items():
        pz_rows.append((k, v))
    timing_rows = [(k, f"{v:.1f} s") for k, v in (run_info.get("timings") or {}).items()]
    now = _dt.datetime.now(_dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    parts = [
        "<!DOCTYPE html><html><head><meta charset='utf-8'><title>galmix report</title>",
        "<style>body{font-family:sans-serif;max-width:1100px;margin:auto;padding:1em}"
        "table{border-collapse:collapse;margin:0.5em 0}th,td{border:1px solid #ccc;padding:2px 8px;text-align:left}"
        "figure{display:inline-block;margin:0.5em;vertical-align:top}img{max-width:100%}"
        "figcaption{font-size:0.85em;color:#444;max-width:640px}</style></head><body>",
        "<h1>galmix pipeline report</h1>",
        f"<p>Run directory <code>{html.escape(str(out.resolve()))}</code>, generated {now}. "
        "Catalog: <code>catalog.parquet</code> / <code>catalog.fits</code>; pixel table: "
        "<code>pixels.parquet</code>; truth match: <code>truth_match.parquet</code>.</p>",
        "<h2>Summary</h2>",
        _table_html(summary),
    ]
    if pz_rows:
        parts += ["<h2>Photometric redshifts</h2>", _table_html(pz_rows)]
    if timing_rows:
        parts += ["<h2>Timings</h2>", _table_html(timing_rows)]
    for sec, items in sections.items():
        parts.append(f"<h2>{html.escape(sec)}</h2>")
        parts.extend(items)
    if run_info.get("config"):
        parts += [
            "<h2>Configuration</h2>",
            f"<pre>{html.escape(json.dumps(run_info['config'], indent=1))}</pre>",
        ]
    parts.append("</body></html>")
    text = "\n".join(parts)
    path = out / "report.html"
    atomic_write(path, lambda tmp: tmp.write_text(text))
    return path
