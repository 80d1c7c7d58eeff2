"""The pipeline driver: tiles -> executor -> manifest -> merged catalog -> report.

:func:`run_pipeline` is what ``galmix run CONFIG`` and ``galmix demo`` call.
Per-tile work is done by :func:`galmix.pipeline.measure.process_tile` on the
chosen executor; the driver alone writes the manifest, merges the tiles in
tile order, removes overlap duplicates, assigns ids, cross-matches the
reference catalog and the truth, predicts photometric redshifts and writes
the catalog (Parquet + FITS), the pixel table and the report.
"""

from __future__ import annotations

import dataclasses
import functools
import logging
import os
import sys
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from galmix.errors import FLAGS, ConfigError
from galmix.pipeline.config import PipelineConfig, load_config
from galmix.pipeline.executors import run_jobs
from galmix.pipeline.inputs import reference_grid
from galmix.pipeline.measure import optional_module, process_tile
from galmix.pipeline.store import (
    Manifest,
    read_parquet_table,
    remove_stale_temporaries,
    write_table_atomic,
)
from galmix.pipeline.tiles import Tile, deduplicate, make_tiles

__all__ = ["PIPELINE_COLUMN_DOCS", "PipelineResult", "merge_tiles", "run_pipeline"]

log = logging.getLogger(__name__)

#: Descriptions of the pipeline's own columns (``{band}_`` prefixes stripped).
PIPELINE_COLUMN_DOCS: dict[str, tuple[str, str]] = {
    "tile": ("", "index of the tile the object was measured in"),
    "tile_id": ("", "detection id within its tile (segmentation label of the tile)"),
    "zeropoint": ("mag", "AB zero point of the band's image units"),
    "am_flags": ("", "adaptive-moments flags (FLAGS bits)"),
    "am_flux": ("image units", "adaptive-moments flux (Gaussian-weighted, normalised)"),
    "am_flux_err": ("image units", "error of am_flux"),
    "am_T": ("arcsec2", "adaptive-moments size T = Iuu + Ivv (PSF not removed)"),
    "am_T_err": ("arcsec2", "error of am_T"),
    "am_e1": ("", "adaptive-moments ellipticity (Iuu - Ivv)/T"),
    "am_e2": ("", "adaptive-moments ellipticity 2 Iuv/T"),
    "am_e1_err": ("", "error of am_e1"),
    "am_e2_err": ("", "error of am_e2"),
    "am_s2n": ("", "adaptive-moments signal-to-noise ratio"),
    "fit_flags": ("", "model-fit flags (FLAGS bits); NOT_MEASURED when no fit was run"),
    "fit_chi2": ("", "chi2 of the best fit"),
    "fit_dof": ("", "degrees of freedom of the fit"),
    "fit_nfev": ("", "model evaluations of the fit"),
    "fit_n_neighbours": ("", "neighbours whose fitted models were subtracted before the final fit"),
    "fit_u0": ("arcsec", "fitted centre offset (west) from the detection centroid"),
    "fit_v0": ("arcsec", "fitted centre offset (north) from the detection centroid"),
    "fit_half_light_radius": ("arcsec", "fitted half-light radius (major/minor geometric mean)"),
    "fit_n": ("", "fitted Sersic index"),
    "fit_g1": ("", "fitted reduced-shear ellipticity g1"),
    "fit_g2": ("", "fitted reduced-shear ellipticity g2"),
    "fit_flux": ("image units", "fitted total flux in the band"),
    "mag_fit": ("mag", "AB magnitude of the fitted total flux"),
    "mag_fit_err": ("mag", "error of mag_fit"),
    "mcal_flags": ("", "metacalibration flags"),
    "mcal_e1": ("", "metacal noshear e1 (adaptive moments)"),
    "mcal_e2": ("", "metacal noshear e2"),
    "mcal_R11": ("", "shear response R11"),
    "mcal_R12": ("", "shear response R12"),
    "mcal_R21": ("", "shear response R21"),
    "mcal_R22": ("", "shear response R22"),
    "ref_match_id": ("", "row of the reference catalog matched (ASSOC), -1 if none"),
    "ref_match_sep": ("arcsec", "separation to the matched reference object"),
    "photoz_z": ("", "object-level photometric redshift (colours)"),
    "photoz_z_pixel": ("", "pixel-level photometric redshift (aggregated pixel predictions)"),
}


@dataclasses.dataclass
class PipelineResult:
    """Paths and numbers of a finished run."""

    output: Path
    catalog: dict[str, Path]
    pixel_table: Path | None
    report: Path | None
    n_objects: int
    n_tiles: int
    n_tiles_run: int
    timings: dict[str, float]
    photoz_metrics: dict[str, Any]


def _tile_job(cfg: PipelineConfig, out_dir: str, tile: Tile) -> dict[str, Any]:
    return process_tile(cfg, tile, out_dir)


class _Progress:
    """A tqdm bar that is off when asked or when stderr is not a terminal."""

    def __init__(self, total: int, enabled: bool | None, desc: str) -> None:
        if enabled is None:
            enabled = sys.stderr.isatty()
        self.bar = None
        if enabled:
            from tqdm.auto import tqdm

            self.bar = tqdm(total=total, desc=desc, unit="step", leave=True, file=sys.stderr)

    def update(self, n: int = 1, status: str | None = None) -> None:
        if self.bar is not None:
            if status:
                self.bar.set_postfix_str(status)
            self.bar.update(n)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def merge_tiles(out_dir: str | Path, tiles: list[Tile], ref_shape: tuple[int, int]) -> Any:
    """Concatenate tile catalogs in tile order, drop overlap duplicates, assign ids."""
    from astropy.table import Table, vstack

    out_dir = Path(out_dir)
    parts = []
    for t in tiles:
        p = out_dir / "tiles" / f"{t.name}.parquet"
        tb = read_parquet_table(p)
        if len(tb):
            parts.append(tb)
    if not parts:
        return Table({"id": np.zeros(0, np.int64)})
    cat = vstack(parts, join_type="outer", metadata_conflicts="silent")
    for name in cat.colnames:
        col = cat[name]
        if hasattr(col, "mask") and np.any(col.mask):
            fill = (
                np.nan
                if col.dtype.kind == "f"
                else (int(FLAGS.NOT_MEASURED) if "flags" in name else 0)
            )
            cat[name] = col.filled(fill)
    keep = deduplicate(cat["tile"], cat["x"], cat["y"], cat["edge_distance"])
    # objects outside every core (kept only by the margin) and not duplicated elsewhere stay
    cat = cat[keep]
    order = np.lexsort((np.asarray(cat["tile_id"]), np.asarray(cat["tile"])))
    cat = cat[order]
    cat.remove_columns([c for c in ("edge_distance", "in_core") if c in cat.colnames])
    cat.add_column(np.arange(1, len(cat) + 1, dtype=np.int64), name="id", index=0)
    return cat


def _add_magnitudes(cat: Any, bands: list[str]) -> None:
    for b in bands:
        zp = np.asarray(cat[f"{b}_zeropoint"], float) if f"{b}_zeropoint" in cat.colnames else 22.5
        for src, dst in ((f"{b}_flux_auto", f"{b}_mag_auto"), (f"fit_flux_{b}", f"{b}_mag_fit")):
            if src not in cat.colnames:
                continue
            f = np.asarray(cat[src], float)
            fe = np.asarray(cat[src + "_err"], float) if src + "_err" in cat.colnames else np.nan
            with np.errstate(divide="ignore", invalid="ignore"):
                pos = f > 0
                cat[dst] = np.where(pos, zp - 2.5 * np.log10(np.where(pos, f, 1.0)), np.nan)
                cat[dst + "_err"] = np.where(pos, 1.0857362 * fe / np.where(pos, f, 1.0), np.nan)


def _read_table(path: Path) -> Any:
    from astropy.table import Table

    suffix = path.suffix.lower()
    if suffix == ".parquet":
        return read_parquet_table(path)
    if suffix in (".csv", ".txt", ".dat"):
        return Table.read(path, format="ascii.csv" if suffix == ".csv" else "ascii")
    return Table.read(path)


def _associate(cfg: PipelineConfig, cat: Any) -> Any:
    rc = cfg.reference_catalog
    if rc is None or len(cat) == 0:
        return cat
    catalog_mod = optional_module("galmix.catalog")
    ref = _read_table(rc.path)
    for c in (rc.ra, rc.dec, *rc.columns):
        if c not in ref.colnames:
            raise ConfigError(
                f"config key 'reference_catalog.columns': no column {c!r} in {rc.path}"
            )
    out = catalog_mod.associate(
        cat, ref, rc.radius_arcsec, columns=list(rc.columns), ref_ra=rc.ra, ref_dec=rc.dec
    )
    out.rename_column("match_id", "ref_match_id")
    out.rename_column("match_sep", "ref_match_sep")
    for c in rc.columns:
        col = out["ref_" + c]
        if hasattr(col, "filled"):
            out["ref_" + c] = col.filled("" if col.dtype.kind in "US" else -1)
    return out


def truth_match(cfg: PipelineConfig, cat: Any) -> Any | None:
    """Catalog rows with the truth columns (``true_`` prefix) of their 1:1 match."""
    tc = cfg.truth
    if tc is None:
        return None
    catalog_mod = optional_module("galmix.catalog")
    truth = _read_table(tc.path)
    t = truth.copy()
    if tc.ra != "ra":
        t.rename_column(tc.ra, "ra")
    if tc.dec != "dec":
        t.rename_column(tc.dec, "dec")
    # the pipeline's own x/y are in the reference grid; keep the truth's as true_x/true_y
    base = cat.copy()
    out = catalog_mod.match_truth(base, t, tc.radius_arcsec, frame="sky", prefix="true_")
    out["flags"] = cat["flags"] if len(cat) else out["flags"]
    out.meta["n_truth"] = len(truth)
    _update_run_info(cfg.output, {"n_truth": len(truth)})
    for name in out.colnames:
        col = out[name]
        if hasattr(col, "filled"):
            out[name] = col.filled(
                np.nan if col.dtype.kind == "f" else ("" if col.dtype.kind in "US" else -1)
            )
    return out


def _merge_pixels(out_dir: Path, tiles: list[Tile], cat: Any) -> Any | None:
    from astropy.table import vstack

    parts = []
    for t in tiles:
        p = out_dir / "tiles" / f"{t.name}-pixels.parquet"
        if p.exists():
            tb = read_parquet_table(p)
            if len(tb) and "id" in tb.colnames:
                tb["tile"] = np.full(len(tb), t.index, dtype=np.int32)
                parts.append(tb)
    if not parts:
        return None
    pix = vstack(parts, join_type="outer", metadata_conflicts="silent")
    # map (tile, tile_id) -> catalog id; pixels of dropped duplicates go
    key = {(int(a), int(b)): int(i) for a, b, i in zip(cat["tile"], cat["tile_id"], cat["id"])}
    ids = np.array(
        [key.get((int(a), int(b)), -1) for a, b in zip(pix["tile"], pix["id"])], dtype=np.int64
    )
    pix = pix[ids > 0]
    pix["tile_id"] = pix["id"]
    pix["id"] = ids[ids > 0]
    return pix


def run_pipeline(
    config: str | os.PathLike | Mapping[str, Any] | PipelineConfig,
    overrides: Mapping[str, Any] | None = None,
    progress: bool | None = None,
    resume: bool = True,
    report: bool = True,
) -> PipelineResult:
    """Run the whole pipeline described by ``config``.

    Parameters
    ----------
    config : path, mapping or PipelineConfig
        See :mod:`galmix.pipeline.config`.
    overrides : mapping, optional
        Sections merged over the configuration (e.g. the executor).
    progress : bool, optional
        Show a progress bar (default: only when stderr is a terminal).
    resume : bool
        Reuse tiles completed by an earlier (possibly killed) run with the
        same configuration fingerprint and intact outputs.
    report : bool
        Write figures and ``report.html``.

    Returns
    -------
    PipelineResult
    """
    t_start = time.perf_counter()
    cfg = config if isinstance(config, PipelineConfig) else load_config(config, overrides=overrides)
    if isinstance(config, PipelineConfig) and overrides:
        raise ConfigError("overrides can only be given with a config path or mapping")
    out = Path(cfg.output)
    out.mkdir(parents=True, exist_ok=True)
    remove_stale_temporaries(out)  # left by a killed earlier run
    timings: dict[str, float] = {}

    _ref_awcs, ref_shape = reference_grid(cfg)
    tiles = make_tiles(ref_shape, cfg.tiles.size, cfg.tiles.overlap)
    _write_run_info(cfg, out, ref_shape)
    manifest = Manifest(out, cfg.fingerprint())
    if not resume:
        manifest.tiles = {}
    todo = [t for t in tiles if not manifest.is_done(t.name)]
    if todo and any(b.psf is not None and b.psf.model == "stars" for b in cfg.bands.values()):
        from galmix.pipeline.psf_stars import psf_images_from_stars

        cfg = psf_images_from_stars(cfg, out)
    n_post = 3 + (1 if report else 0)
    bar = _Progress(len(tiles) + n_post, progress, "galmix")
    bar.update(len(tiles) - len(todo))
    manifest.save("running")
    t0 = time.perf_counter()
    ex = cfg.executor
    fn = functools.partial(_tile_job, cfg, str(out))
    for tile, res in run_jobs(fn, todo, kind=ex.kind, workers=ex.workers, scheduler=ex.scheduler):
        manifest.record(tile.name, res["files"], {"n_objects": res["n_objects"]})
        bar.update(1, f"{tile.name}: {res['n_objects']} objects")
        log.info("%s done: %d objects", tile.name, res["n_objects"])
    timings["tiles"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    cat = merge_tiles(out, tiles, ref_shape)
    _add_magnitudes(cat, cfg.band_names)
    cat = _associate(cfg, cat)
    bar.update(1, "merged")
    timings["merge"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    pix = _merge_pixels(out, tiles, cat) if cfg.measurement.pixel_table else None
    from galmix.pipeline.photoz_step import run_photoz

    pz_metrics = run_photoz(cfg, cat, pix)
    bar.update(1, "photo-z")
    timings["photoz"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    _annotate(cat, cfg.band_names)
    cat.meta["galmix_config_fingerprint"] = manifest.fingerprint
    cat.meta["bands"] = ",".join(cfg.band_names)
    files = _write_catalog(cat, out)
    pix_path = None
    if pix is not None:
        pix_path = write_table_atomic(pix, out / "pixels.parquet")
    tm = truth_match(cfg, cat)
    if tm is not None:
        write_table_atomic(tm, out / "truth_match.parquet")
    bar.update(1, "catalog written")
    timings["write"] = time.perf_counter() - t0

    report_path = None
    if report:
        t0 = time.perf_counter()
        from galmix.pipeline.report import write_report

        timings["total_before_report"] = time.perf_counter() - t_start
        report_path = write_report(out, cfg=cfg, timings=timings, photoz_metrics=pz_metrics)
        bar.update(1, "report")
        timings["report"] = time.perf_counter() - t0
    manifest.save("complete")
    bar.close()
    timings["total"] = time.perf_counter() - t_start
    return PipelineResult(
        output=out,
        catalog=files,
        pixel_table=pix_path,
        report=report_path,
        n_objects=len(cat),
        n_tiles=len(tiles),
        n_tiles_run=len(todo),
        timings=timings,
        photoz_metrics=pz_metrics,
    )


def _write_run_info(cfg: PipelineConfig, out: Path, ref_shape: tuple[int, int]) -> None:
    """``run.json`` (configuration, bands) and a binned reference-band preview image."""
    import json

    from galmix.pipeline.store import atomic_write

    info: dict[str, Any] = {"bands": cfg.band_names, "config": cfg.to_dict()}
    try:
        from astropy.io import fits

        band = cfg.bands[cfg.registration.reference]
        if band.format == "fits":
            f = max(1, int(np.ceil(max(ref_shape) / 1000)))
            with fits.open(band.image, memmap=True) as hdul:
                data = hdul[band.hdu].data
                ny, nx = (ref_shape[0] // f) * f, (ref_shape[1] // f) * f
                pre = np.asarray(data[:ny:1, :nx:1], dtype=np.float32)
            pre = pre.reshape(ny // f, f, nx // f, f).mean(axis=(1, 3))
            atomic_write(out / "preview.npy", lambda tmp: np.save(open(tmp, "wb"), pre))
            info["detection_preview"] = "preview.npy"
            info["preview_binning"] = f
    except Exception as exc:
        log.debug("preview failed: %s", exc)
    text = json.dumps(info, indent=1)
    atomic_write(out / "run.json", lambda tmp: tmp.write_text(text))


def _update_run_info(out: Path, values: Mapping[str, Any]) -> None:
    import json

    from galmix.pipeline.store import atomic_write

    p = Path(out) / "run.json"
    info = json.loads(p.read_text()) if p.exists() else {}
    info.update(values)
    text = json.dumps(info, indent=1)
    atomic_write(p, lambda tmp: tmp.write_text(text))


def _annotate(cat: Any, bands: list[str]) -> None:
    catalog_mod = optional_module("galmix.catalog")
    if catalog_mod is not None and hasattr(catalog_mod, "annotate"):
        try:
            catalog_mod.annotate(cat, bands)
        except Exception as exc:
            log.debug("annotate failed: %s", exc)
    import astropy.units as u

    for name in cat.colnames:
        if getattr(cat[name], "description", None):
            continue
        key = name
        for b in bands:
            if name.startswith(f"{b}_"):
                key = name[len(b) + 1 :]
                break
            if name.startswith("fit_flux_") and name[len("fit_flux_") :].split("_")[0] == b:
                key = "fit_flux"
        if key.endswith("_err") and key not in PIPELINE_COLUMN_DOCS:
            key2 = key[:-4]
            doc = PIPELINE_COLUMN_DOCS.get(key2)
            doc = (doc[0], "1-sigma error of " + key2) if doc else None
        else:
            doc = PIPELINE_COLUMN_DOCS.get(key)
        if doc:
            unit, text = doc
            cat[name].description = text
            if unit and unit != "image units":
                try:
                    cat[name].unit = u.Unit(unit.replace("arcsec2", "arcsec2"))
                except ValueError:
                    pass


def _write_catalog(cat: Any, out: Path) -> dict[str, Path]:
    catalog_mod = optional_module("galmix.catalog")
    if catalog_mod is not None and hasattr(catalog_mod, "write_catalog"):
        res = catalog_mod.write_catalog(cat, out, name="catalog", formats=("parquet", "fits"))
        return {k: Path(v) for k, v in dict(res).items()}
    # pragma: no cover - fallback while galmix.catalog is missing
    from galmix.pipeline.store import atomic_write

    p = write_table_atomic(cat, out / "catalog.parquet")
    f = atomic_write(out / "catalog.fits", lambda tmp: cat.write(tmp, format="fits"))
    return {"parquet": p, "fits": f}
