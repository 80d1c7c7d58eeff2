"""Per-tile measurement: a pure function of (inputs, configuration, tile).

:func:`process_tile` reads and registers every band over the tile, builds
the detection image (a band, or the inverse-variance weighted coadd),
detects and segments (:mod:`galmix.detect`), keeps objects whose centroid
lies in the tile core, measures aperture and Kron photometry in every band,
cuts stamps with neighbours masked through the segmentation, and runs
adaptive moments (:mod:`galmix.moments`), model fits (:mod:`galmix.fit`),
optional metacalibration (:mod:`galmix.shear`) and pixel-level photo-z
vectors (:mod:`galmix.photoz`). Capabilities whose module is not installed
leave their columns NaN with the ``NOT_MEASURED`` flag. Outputs are
written atomically, so re-running a tile gives the same bytes.
"""

from __future__ import annotations

import importlib
import logging
from pathlib import Path
from typing import Any

import numpy as np

from galmix.errors import FLAGS, GalmixRuntimeError, GalmixValueError
from galmix.pipeline.config import PipelineConfig
from galmix.pipeline.inputs import BandTile, load_band_tile, reference_grid
from galmix.pipeline.registration import map_pixels
from galmix.pipeline.store import sha256_file, write_table_atomic
from galmix.pipeline.tiles import Tile

__all__ = ["MOMENT_KEYS", "cut_stamp", "optional_module", "process_tile"]

log = logging.getLogger(__name__)

#: Adaptive-moment quantities stored per band as ``{band}_am_{key}``.
MOMENT_KEYS = ("flags", "flux", "flux_err", "T", "T_err", "e1", "e2", "e1_err", "e2_err", "s2n")
_FIT_SCALARS = ("u0", "v0", "half_light_radius", "n", "g1", "g2")
_NOT_MEASURED = int(FLAGS.NOT_MEASURED)
_CORE_MARGIN = 2.0
_N_REBUILD = 3


def optional_module(name: str) -> Any:
    """Import ``name`` or return None when it (or a dependency) is missing."""
    try:
        return importlib.import_module(name)
    except ImportError as exc:
        log.debug("optional module %s unavailable: %s", name, exc)
        return None


def cut_stamp(
    array: np.ndarray, xc: float, yc: float, size: int, fill: float = 0.0
) -> tuple[np.ndarray, int, int]:
    """A ``size x size`` cut of ``array`` around ``(xc, yc)``, padded with ``fill``.

    Returns the stamp and the array coordinates ``(x0, y0)`` of its pixel
    ``[0, 0]`` (which may be negative).

    Examples
    --------
    >>> s, x0, y0 = cut_stamp(np.arange(25.0).reshape(5, 5), 0.2, 4.1, 3, fill=-1)
    >>> s.tolist(), x0, y0
    ([[-1.0, 15.0, 16.0], [-1.0, 20.0, 21.0], [-1.0, -1.0, -1.0]], -1, 3)
    """
    ny, nx = array.shape
    x0 = round(xc) - size // 2
    y0 = round(yc) - size // 2
    out = np.full((size, size), fill, dtype=array.dtype)
    sx0, sy0 = max(0, x0), max(0, y0)
    sx1, sy1 = min(nx, x0 + size), min(ny, y0 + size)
    if sx1 > sx0 and sy1 > sy0:
        out[sy0 - y0 : sy1 - y0, sx0 - x0 : sx1 - x0] = array[sy0:sy1, sx0:sx1]
    return out, x0, y0


def _detection_image(
    cfg: PipelineConfig, bands: dict[str, BandTile]
) -> tuple[np.ndarray, np.ndarray]:
    name = cfg.detection.band
    if name != "coadd":
        bt = bands[name]
        return bt.image, bt.variance
    num = 0.0
    den = 0.0
    for bt in bands.values():
        ok = np.isfinite(bt.image) & np.isfinite(bt.variance) & (bt.variance > 0)
        w = np.where(ok, 1.0 / np.where(ok, bt.variance, 1.0), 0.0)
        num = num + w * np.where(ok, bt.image, 0.0)
        den = den + w
    with np.errstate(divide="ignore", invalid="ignore"):
        img = np.where(den > 0, num / np.where(den > 0, den, 1.0), np.nan)
        var = np.where(den > 0, 1.0 / np.where(den > 0, den, 1.0), np.inf)
    return img, var


def _native_segmentation(bt: BandTile, seg: np.ndarray) -> np.ndarray:
    xi = np.rint(bt.x_ref).astype(np.int64)
    yi = np.rint(bt.y_ref).astype(np.int64)
    ny, nx = seg.shape
    ok = (xi >= 0) & (xi < nx) & (yi >= 0) & (yi < ny)
    out = np.zeros(bt.image.shape, dtype=np.int32)
    out[ok] = seg[yi[ok], xi[ok]]
    return out


def _grow(objects: np.ndarray, radius: int) -> np.ndarray:
    """Footprint mask grown by a disc of ``radius`` pixels (unchanged if 0)."""
    from scipy import ndimage

    r = int(radius)
    if r <= 0 or not objects.any():
        return objects
    yy, xx = np.mgrid[-r : r + 1, -r : r + 1]
    return ndimage.binary_dilation(objects, structure=(xx * xx + yy * yy) <= r * r)


def _resubtract_background(bt: BandTile, seg: np.ndarray, bgc: Any) -> None:
    """Second background pass with the detected objects masked (in place).

    The first, unmasked mesh estimate (before detection) is raised by the
    galaxies' own wings. Here it is repeated on the same pixels (the band's own
    cutout, before any resampling) with every footprint, grown by
    ``bgc.mask_dilate`` pixels, masked; the difference of the two levels is
    added back (resampled onto the tile grid for registered bands, where it
    is smooth). Native and registered bands thus get the same sky. If no mesh
    is left with sky pixels, the first pass stands.
    """
    from scipy import ndimage

    from galmix.detect import estimate_background
    from galmix.pipeline.registration import pixel_coordinates

    raw, level1 = bt.sky_image, bt.sky_level
    if raw is None or level1 is None:
        return
    seg = np.asarray(seg)
    if bt.sky_awcs is not None:  # resampled band: footprints onto its own pixels
        xr, yr = pixel_coordinates(bt.sky_awcs, bt.awcs, raw.shape)
        ix = np.rint(np.nan_to_num(xr, nan=-1.0)).astype(np.int64)
        iy = np.rint(np.nan_to_num(yr, nan=-1.0)).astype(np.int64)
        inside = (ix >= 0) & (iy >= 0) & (ix < seg.shape[1]) & (iy < seg.shape[0])
        objects = np.zeros(raw.shape, bool)
        objects[inside] = seg[iy[inside], ix[inside]] != 0
    else:  # reference band (tile grid) or native band (seg already mapped)
        objects = seg != 0
    bad = ~np.isfinite(raw)
    objects = _grow(objects, bgc.mask_dilate)
    mask = bad | objects
    if mask.all():
        return
    try:
        bg = estimate_background(
            np.where(bad, 0.0, raw),
            mask=mask,
            box_size=bgc.box_size,
            filter_size=bgc.filter_size,
        )
    except GalmixValueError:
        return
    delta = np.asarray(level1, dtype=np.float64) - np.asarray(bg.level, dtype=np.float64)
    if not np.all(np.isfinite(delta)):
        return
    if bt.sky_awcs is not None:
        xi, yi = pixel_coordinates(bt.awcs, bt.sky_awcs, bt.image.shape)
        delta = ndimage.map_coordinates(
            delta, [np.nan_to_num(yi), np.nan_to_num(xi)], order=1, mode="nearest"
        )
    bt.image = bt.image + delta


def _band_positions(bt: BandTile, tile_awcs: Any, x: np.ndarray, y: np.ndarray):
    """Object positions in the band's arrays (identity unless native)."""
    if not bt.native or len(x) == 0:
        return x, y
    return map_pixels(tile_awcs, bt.awcs, x, y)


def process_tile(cfg: PipelineConfig, tile: Tile, out_dir: str | Path) -> dict[str, Any]:
    """Measure one tile and write its outputs atomically.

    Parameters
    ----------
    cfg : PipelineConfig
    tile : Tile
    out_dir : path
        Run output directory; files go to ``out_dir/tiles/``.

    Returns
    -------
    dict
        ``name``, ``files`` (relative path -> sha256), ``n_objects``.
    """
    from astropy.table import Table

    from galmix.geometry import WCS, Jacobian
    from galmix.image import Observation

    detect_mod = optional_module("galmix.detect")
    if detect_mod is None:  # pragma: no cover - depends on peers
        raise GalmixRuntimeError("galmix.detect is required to run the pipeline")
    moments_mod = optional_module("galmix.moments") if cfg.measurement.moments else None
    fit_mod = optional_module("galmix.fit") if cfg.measurement.fit.model else None
    shear_mod = optional_module("galmix.shear") if cfg.measurement.metacal else None
    photoz_mod = optional_module("galmix.photoz") if cfg.measurement.pixel_table else None

    out_dir = Path(out_dir)
    ref_awcs, ref_shape = reference_grid(cfg)
    tile_awcs = ref_awcs.slice((slice(tile.y0, tile.y1), slice(tile.x0, tile.x1)))
    tile_wcs = WCS(tile_awcs, shape=tile.shape)
    names = cfg.band_names
    bands = {b: load_band_tile(cfg, b, tile, ref_awcs) for b in names}

    # ------------------------------------------------------------ detection
    dimg, dvar = _detection_image(cfg, bands)
    dc = cfg.detection
    bad = ~np.isfinite(dimg) | ~np.isfinite(dvar)
    det = detect_mod.detect(
        np.where(bad, 0.0, dimg),
        variance=np.where(bad, np.inf, dvar),
        mask=bad,
        threshold=dc.threshold,
        minarea=dc.minarea,
        deblend_nthresh=dc.deblend_nthresh,
        deblend_cont=dc.deblend_cont,
        filter_fwhm_pixels=dc.filter_fwhm_pixels or None,
        subtract_background=False,
    )
    cat = det.catalog
    seg = det.segmentation
    gx = np.asarray(cat["x"], float) + tile.x0
    gy = np.asarray(cat["y"], float) + tile.y0
    keep = tile.in_core(gx, gy, margin=_CORE_MARGIN) if len(cat) else np.zeros(0, bool)
    cat = cat[keep]
    gx, gy = gx[keep], gy[keep]
    n = len(cat)
    lx = np.asarray(cat["x"], float)
    ly = np.asarray(cat["y"], float)

    out = Table()
    out["tile"] = np.full(n, tile.index, dtype=np.int32)
    out["tile_id"] = np.asarray(cat["id"], dtype=np.int64)
    out["x"] = gx
    out["y"] = gy
    for c in ("a", "b", "theta", "npix", "peak"):
        out[c] = np.asarray(cat[c]) if c in cat.colnames else np.full(n, np.nan)
    flags = np.asarray(cat["flags"], dtype=np.int64).copy()
    # footprint touching an inner tile border: truncated by tiling
    if n and all(c in cat.colnames for c in ("xmin", "xmax", "ymin", "ymax")):
        ty, tx = tile.shape
        trunc = (
            ((np.asarray(cat["xmin"]) <= 0) & (tile.x0 > 0))
            | ((np.asarray(cat["xmax"]) >= tx - 1) & (tile.x1 < ref_shape[1]))
            | ((np.asarray(cat["ymin"]) <= 0) & (tile.y0 > 0))
            | ((np.asarray(cat["ymax"]) >= ty - 1) & (tile.y1 < ref_shape[0]))
        )
        flags[trunc] |= int(FLAGS.DETECTION_TRUNCATED)
    out["flags"] = flags
    out["edge_distance"] = tile.edge_distance(gx, gy, ref_shape)
    out["in_core"] = tile.in_core(gx, gy)
    if n:
        ra, dec = tile_wcs.pixel_to_world(lx, ly)
        out["ra"] = np.atleast_1d(ra)
        out["dec"] = np.atleast_1d(dec)
    else:
        out["ra"] = np.zeros(0)
        out["dec"] = np.zeros(0)

    # ------------------------------------------------------- background, pass 2
    seg_by_band = {
        b: (_native_segmentation(bt, seg) if bt.native else seg) for b, bt in bands.items()
    }
    if cfg.background.subtract and cfg.background.mask_objects:
        for b, bt in bands.items():
            _resubtract_background(bt, seg_by_band[b], cfg.background)

    # ------------------------------------------------------------ photometry
    ref_scale = float(np.sqrt(np.median(tile_wcs.pixel_area_map(tile.shape))))
    ap_pix = [a / ref_scale for a in cfg.measurement.apertures_arcsec]
    band_xy: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    band_seg: dict[str, np.ndarray] = {}
    for b, bt in bands.items():
        bx, by = _band_positions(bt, tile_awcs, lx, ly)
        band_xy[b] = (bx, by)
        band_seg[b] = seg_by_band[b]
        pcat = Table({"id": out["tile_id"], "x": bx, "y": by})
        for c in ("a", "b", "theta"):
            pcat[c] = np.asarray(cat[c], float)
        bad_b = ~np.isfinite(bt.image) | ~np.isfinite(bt.variance)
        if n:
            ph = detect_mod.photometry(
                np.where(bad_b, 0.0, bt.image),
                np.where(bad_b, 0.0, bt.variance),
                pcat,
                segmentation=band_seg[b],
                apertures=ap_pix,
                mask=bad_b,
            )
        else:
            ph = Table(
                {
                    "flux_auto": np.zeros(0),
                    "flux_auto_err": np.zeros(0),
                    "flags": np.zeros(0, np.int64),
                }
            )
            for i in range(len(ap_pix)):
                ph[f"flux_aper_{i}"] = np.zeros(0)
                ph[f"flux_aper_{i}_err"] = np.zeros(0)
        # objects whose centre has no data in this band: OFF_IMAGE and NaN, not zero flux
        ix = (
            np.clip(np.rint(bx).astype(np.int64), 0, bt.image.shape[1] - 1)
            if n
            else np.zeros(0, int)
        )
        iy = (
            np.clip(np.rint(by).astype(np.int64), 0, bt.image.shape[0] - 1)
            if n
            else np.zeros(0, int)
        )
        inside = (
            (bx > -0.5)
            & (bx < bt.image.shape[1] - 0.5)
            & (by > -0.5)
            & (by < bt.image.shape[0] - 0.5)
        )
        off = ~(inside & ~bad_b[iy, ix]) if n else np.zeros(0, bool)
        for c in ph.colnames:
            if c in ("id", "x", "y"):
                continue
            col = np.asarray(ph[c])
            if c == "flags":
                out[f"{b}_{c}"] = col.astype(np.int64) | np.where(off, int(FLAGS.OFF_IMAGE), 0)
            else:
                out[f"{b}_{c}"] = np.where(off, np.nan, col.astype(np.float64))
        out[f"{b}_zeropoint"] = np.full(n, bt.zeropoint)

    # ------------------------------------------------------------ stamps
    size = cfg.measurement.stamp_size
    stamps: list[dict[str, Any]] = [dict() for _ in range(n)]
    stamp_flags = np.zeros(n, dtype=np.int64)
    jac_cache: dict[str, np.ndarray] = {}
    for b, bt in bands.items():
        bx, by = band_xy[b]
        bw = WCS(bt.awcs, shape=bt.image.shape)
        jac_cache[b] = bw.jacobian_elements(bx, by) if n else np.zeros((0, 4))
    a_pix = np.nan_to_num(np.asarray(out["a"], float), nan=2.0)
    for k in range(n):
        oid = int(out["tile_id"][k])
        # stamp size follows the object's size, capped by measurement.stamp_size
        sk = int(min(size, max(24, 2 * ((16 + int(np.ceil(5.0 * a_pix[k]))) // 2 + 1) - 2)))
        for b, bt in bands.items():
            bx, by = band_xy[b]
            img, x0, y0 = cut_stamp(bt.image, bx[k], by[k], sk, fill=np.nan)
            var, _, _ = cut_stamp(bt.variance, bx[k], by[k], sk, fill=np.inf)
            sg, _, _ = cut_stamp(band_seg[b], bx[k], by[k], sk, fill=0)
            neighbour = (sg != 0) & (sg != oid)
            good = np.isfinite(img) & np.isfinite(var) & (var > 0) & ~neighbour
            if neighbour.any():
                stamp_flags[k] |= int(FLAGS.NEIGHBOUR_MASKED)
            w = np.where(good, 1.0 / np.where(good, var, 1.0), 0.0)
            img = np.where(good, img, 0.0)
            e = jac_cache[b][k]
            jac = Jacobian(e[0], e[1], e[2], e[3], x0=bx[k] - x0, y0=by[k] - y0)
            try:
                obs = Observation(
                    img, weight=w, jacobian=jac, psf=bt.psf, meta={"band": b, "id": oid}
                )
            except ValueError:
                obs = None
            stamps[k][b] = (
                obs,
                sg == oid,
                img,
                np.where(good, var, np.inf),
                bx[k] - x0,
                by[k] - y0,
            )
    out["flags"] = out["flags"] | stamp_flags

    # ------------------------------------------------------------ moments
    if cfg.measurement.moments:
        for b in names:
            vals = {key: np.full(n, np.nan) for key in MOMENT_KEYS}
            vals["flags"] = np.full(n, _NOT_MEASURED, dtype=np.int64)
            if moments_mod is not None:
                for k in range(n):
                    obs = stamps[k][b][0]
                    if obs is None:
                        vals["flags"][k] = int(FLAGS.ALL_MASKED)
                        continue
                    try:
                        res = moments_mod.adaptive_moments(obs)
                        d = res.as_dict()
                        for key in MOMENT_KEYS:
                            vals[key][k] = d.get(key, np.nan)
                    except Exception as exc:
                        log.debug("moments failed for %s/%s: %s", k, b, exc)
                        vals["flags"][k] = int(FLAGS.MEASUREMENT_ERROR)
            for key in MOMENT_KEYS:
                col = vals[key]
                out[f"{b}_am_{key}"] = col.astype(np.int64) if key == "flags" else col

    # ------------------------------------------------------------ model fits
    rebuild: dict[str, np.ndarray] = {}
    if cfg.measurement.fit.model:
        _fit_objects(cfg, tile, fit_mod, names, stamps, out, rebuild, band_xy, bands, band_seg)

    # ------------------------------------------------------------ metacal
    if cfg.measurement.metacal:
        _metacal_objects(cfg, tile, shear_mod, moments_mod, stamps, out)

    # ------------------------------------------------------------ write
    files: dict[str, str] = {}
    tiles_dir = out_dir / "tiles"
    cpath = tiles_dir / f"{tile.name}.parquet"
    write_table_atomic(out, cpath)
    files[str(cpath.relative_to(out_dir))] = sha256_file(cpath)
    if cfg.measurement.pixel_table:
        pix = _pixel_table(cfg, photoz_mod, names, bands, stamps, out, ref_scale)
        if pix is not None:
            ppath = tiles_dir / f"{tile.name}-pixels.parquet"
            write_table_atomic(pix, ppath)
            files[str(ppath.relative_to(out_dir))] = sha256_file(ppath)
    if rebuild:
        from galmix.pipeline.store import atomic_write

        rpath = tiles_dir / f"{tile.name}-rebuild.npy"
        stack = {k: v for k, v in rebuild.items()}
        packed = _pack(stack)

        def _w(tmp: Path) -> None:
            with open(tmp, "wb") as fh:
                np.save(fh, packed, allow_pickle=False)

        atomic_write(rpath, _w)
        files[str(rpath.relative_to(out_dir))] = sha256_file(rpath)
    return {"name": tile.name, "files": files, "n_objects": int(n)}


def _pack(stack: dict[str, np.ndarray]) -> np.ndarray:
    """Rebuild images as one structured array (no pickle)."""
    keys = sorted(stack)
    if not keys:
        return np.zeros(0)
    dt = np.dtype([(k, np.float64, stack[k].shape) for k in keys])
    arr = np.zeros((), dtype=dt)
    for k in keys:
        arr[k] = stack[k]
    return arr


def _fit_objects(
    cfg, tile, fit_mod, names, stamps, out, rebuild, band_xy=None, bands=None, band_seg=None
) -> None:
    from galmix.image import MultiBandObservation

    n = len(out)
    fc = cfg.measurement.fit
    fit_bands = names if fc.multiband else [_fit_band(cfg)]
    cols: dict[str, np.ndarray] = {"fit_flags": np.full(n, _NOT_MEASURED, dtype=np.int64)}
    cols["fit_n_neighbours"] = np.zeros(n, dtype=np.int64)
    for key in ("chi2", "dof", "nfev"):
        cols[f"fit_{key}"] = np.full(n, np.nan)
    for p in _FIT_SCALARS:
        cols[f"fit_{p}"] = np.full(n, np.nan)
        cols[f"fit_{p}_err"] = np.full(n, np.nan)
    for b in fit_bands:
        cols[f"fit_flux_{b}"] = np.full(n, np.nan)
        cols[f"fit_flux_{b}_err"] = np.full(n, np.nan)
    if fit_mod is not None and n:
        ok = []
        batch = []
        for k in range(n):
            obs_list = {b: stamps[k][b][0] for b in fit_bands}
            if any(o is None for o in obs_list.values()):
                cols["fit_flags"][k] = int(FLAGS.ALL_MASKED)
                continue
            ok.append(k)
            batch.append(
                MultiBandObservation(obs_list) if len(fit_bands) > 1 else obs_list[fit_bands[0]]
            )
        if batch and hasattr(fit_mod, "fit_batch"):
            try:
                res = fit_mod.fit_batch(
                    batch, fc.model, ids=[int(out["tile_id"][k]) for k in ok], nthreads=1
                )
            except Exception as exc:
                log.warning("fit_batch failed on %s: %s", tile.name, exc)
                res = None
            if res is not None:
                _store_fits(res, np.asarray(ok), fit_bands, cols)
                if (
                    fc.subtract_neighbours
                    and fc.model != "expdev"
                    and band_xy is not None
                    and bands is not None
                    and hasattr(fit_mod, "render_model")
                ):
                    _refit_without_neighbours(
                        cfg, fit_mod, fit_bands, ok, stamps, band_xy, bands, band_seg, cols
                    )
        elif batch:  # pragma: no cover - older galmix.fit without fit_batch
            for j, k in enumerate(ok):
                try:
                    r = fit_mod.fit(batch[j], fc.model, model_images=False)
                except Exception:
                    cols["fit_flags"][k] = int(FLAGS.FIT_FAILED | FLAGS.MEASUREMENT_ERROR)
                    continue
                cols["fit_flags"][k] = int(r.flags)
                for p in _FIT_SCALARS:
                    if p in r.params:
                        cols[f"fit_{p}"][k] = float(r.params[p])
                        cols[f"fit_{p}_err"][k] = float(r.errors.get(p, np.nan))
                fl = r.params.get("flux")
                for b in fit_bands:
                    cols[f"fit_flux_{b}"][k] = (
                        float(fl.get(b, np.nan)) if isinstance(fl, dict) else float(fl)
                    )
        # the brightest well-fitted core objects get data | model | residual rebuild images
        ref = fit_bands[0]
        fl = np.nan_to_num(np.asarray(out[f"{ref}_flux_auto"], float), nan=-np.inf)
        # prefer resolved objects (galaxies) over stars for the showcase
        resolved = np.nan_to_num(cols["fit_half_light_radius"], nan=0.0) > 0.35
        core = np.asarray(out["in_core"], bool) & (cols["fit_flags"] == 0) & resolved
        order = [k for k in np.argsort(-fl, kind="stable") if core[k]]
        for k in order[:_N_REBUILD]:
            o = stamps[k][ref][0]
            params = {
                p: cols[f"fit_{p}"][k] for p in ("u0", "v0", "half_light_radius", "g1", "g2", "n")
            }
            params = {p: v for p, v in params.items() if np.isfinite(v)}
            try:
                r = fit_mod.fit(o, fc.model, guess=params or None, model_images=True)
            except Exception as exc:
                log.debug("rebuild fit failed: %s", exc)
                continue
            if r.model_images:
                oid = int(out["tile_id"][k])
                rebuild[f"{tile.index}_{oid}_data"] = np.asarray(o.image)
                rebuild[f"{tile.index}_{oid}_model"] = np.asarray(r.model_images[0])
                rebuild[f"{tile.index}_{oid}_weight"] = np.asarray(o.weight)
    for c, v in cols.items():
        out[c] = v


def _store_fits(res: Any, idx: np.ndarray, fit_bands: list[str], cols: dict) -> None:
    """Copy a fit_batch table into the catalog columns at rows ``idx``."""
    cols["fit_flags"][idx] = np.asarray(res["flags"], np.int64)
    for key in ("chi2", "dof", "nfev"):
        if key in res.colnames:
            cols[f"fit_{key}"][idx] = np.asarray(res[key], float)
    for p in _FIT_SCALARS:
        if p in res.colnames:
            cols[f"fit_{p}"][idx] = np.asarray(res[p], float)
            if p + "_err" in res.colnames:  # CModel (expdev) has no centre errors
                cols[f"fit_{p}_err"][idx] = np.asarray(res[p + "_err"], float)
    for b in fit_bands:
        for src in (f"flux_{b}", "flux"):
            if src in res.colnames:
                cols[f"fit_flux_{b}"][idx] = np.asarray(res[src], float)
                if src + "_err" in res.colnames:
                    cols[f"fit_flux_{b}_err"][idx] = np.asarray(res[src + "_err"], float)
                break


#: a neighbour is subtracted when its centre lies within the stamp's half-size
#: plus this many of its half-light radii of the object
_NEIGHBOUR_REACH_HLR = 8.0


def _object_params(cols: dict, j: int, b: str, du: float = 0.0, dv: float = 0.0) -> dict:
    """Band-``b`` render parameters of catalog row ``j``, centre shifted by (du, dv)."""
    params = {
        p: float(cols[f"fit_{p}"][j])
        for p in ("half_light_radius", "g1", "g2", "n")
        if np.isfinite(cols[f"fit_{p}"][j])
    }
    params["u0"] = du + float(cols["fit_u0"][j])
    params["v0"] = dv + float(cols["fit_v0"][j])
    params["flux"] = float(cols[f"fit_flux_{b}"][j])
    return params


def _model_sky(cfg, fit_mod, b, bt, seg, good, band_xy, stamps, cols) -> float:
    """Sky left in band ``b`` once every fitted object's model is subtracted.

    The models of all well-fitted objects are drawn on the band's tile grid;
    the median of what remains outside the footprints (grown by
    ``background.mask_dilate``) is the sky the mesh estimate missed or, more
    often, the galaxies' diffuse light it took for sky (negative).
    """
    from galmix.geometry import Jacobian
    from galmix.image import Observation

    model = cfg.measurement.fit.model
    ny, nx = bt.image.shape
    total = np.zeros((ny, nx))
    for j in good:
        o = stamps[j][b][0]
        jac = o.jacobian
        scale = float(np.sqrt(abs(jac.det)))
        r = _NEIGHBOUR_REACH_HLR * float(cols["fit_half_light_radius"][j]) / scale
        half = int(np.clip(np.ceil(r) + 8, 8, 128))
        xc, yc = band_xy[b][0][j], band_xy[b][1][j]
        x0, y0 = int(np.floor(xc)) - half, int(np.floor(yc)) - half
        xs, ys = max(x0, 0), max(y0, 0)
        xe, ye = min(x0 + 2 * half + 1, nx), min(y0 + 2 * half + 1, ny)
        if xe <= xs or ye <= ys:
            continue
        cut = Jacobian(jac.dudx, jac.dudy, jac.dvdx, jac.dvdy, x0=xc - xs, y0=yc - ys)
        grid = Observation(np.zeros((ye - ys, xe - xs)), jacobian=cut, psf=o.psf)
        try:
            total[ys:ye, xs:xe] += fit_mod.render_model(grid, model, _object_params(cols, j, b))[0]
        except Exception as exc:  # an object that cannot be drawn is left in
            log.debug("object %s not drawn for the sky: %s", j, exc)
    objects = _grow(np.asarray(seg) != 0, cfg.background.mask_dilate)
    resid = bt.image - total
    sky = np.isfinite(resid) & np.isfinite(bt.variance) & ~objects
    if sky.sum() < 100:
        return 0.0
    return float(np.median(resid[sky]))


def _refit_without_neighbours(cfg, fit_mod, fit_bands, ok, stamps, band_xy, bands, band_seg, cols):
    """Refit every object with its neighbours' models and the model-based sky removed.

    After the first fit of every object: (1) the sky left once all fitted
    models are subtracted from the band is measured (:func:`_model_sky`; the
    mesh background takes the galaxies' diffuse light for sky), and (2) each
    neighbour is drawn on the object's stamp, band by band, with
    :func:`galmix.fit.render_model` (same PSF and pixel response as the fit)
    and subtracted. Neighbours' footprints stay masked; what is removed is the
    light of their wings outside the footprints, which otherwise biases
    fluxes high in crowded fields. Every object is then fit again from its
    first-pass parameters; ``fit_n_neighbours`` counts the subtracted
    neighbours.
    """
    from galmix.image import MultiBandObservation

    model = cfg.measurement.fit.model
    nsub = cols["fit_n_neighbours"]
    good = [
        k
        for k in ok
        if cols["fit_flags"][k] == 0
        and all(np.isfinite(cols[f"fit_{p}"][k]) for p in ("u0", "v0", "half_light_radius"))
        and all(np.isfinite(cols[f"fit_flux_{b}"][k]) for b in fit_bands)
    ]
    if not good:
        return
    sky = {
        b: _model_sky(cfg, fit_mod, b, bands[b], band_seg[b], good, band_xy, stamps, cols)
        for b in fit_bands
    }
    ref = fit_bands[0]
    gx = np.array([band_xy[ref][0][k] for k in good])
    gy = np.array([band_xy[ref][1][k] for k in good])
    hlr = np.array([cols["fit_half_light_radius"][j] for j in good])
    good_set = set(good)
    guesses, new_batch = [], []
    for k in ok:
        o_ref = stamps[k][ref][0]
        scale = float(np.sqrt(abs(o_ref.jacobian.det)))
        reach = 0.5 * max(o_ref.shape) + _NEIGHBOUR_REACH_HLR * hlr / scale
        d = np.hypot(gx - band_xy[ref][0][k], gy - band_xy[ref][1][k])
        nbrs = [j for j, dd, rr in zip(good, d, reach) if j != k and dd < rr]
        cleaned = {}
        for b in fit_bands:
            o = stamps[k][b][0]
            img = np.array(o.image, dtype=np.float64) - sky[b]
            jb = o.jacobian
            for j in nbrs:
                dx = band_xy[b][0][j] - band_xy[b][0][k]
                dy = band_xy[b][1][j] - band_xy[b][1][k]
                du = jb.dudx * dx + jb.dudy * dy
                dv = jb.dvdx * dx + jb.dvdy * dy
                try:
                    img -= fit_mod.render_model(o, model, _object_params(cols, j, b, du, dv))[0]
                except Exception as exc:  # a neighbour that cannot be drawn is left in
                    log.debug("neighbour %s not drawn on %s: %s", j, k, exc)
            cleaned[b] = o.replace(image=np.where(o.weight > 0, img, 0.0))
        nsub[k] = len(nbrs)
        new_batch.append(MultiBandObservation(cleaned) if len(fit_bands) > 1 else cleaned[ref])
        g = {
            p: float(cols[f"fit_{p}"][k]) for p in _FIT_SCALARS if np.isfinite(cols[f"fit_{p}"][k])
        }
        if k in good_set:
            if len(fit_bands) > 1:
                g.update({f"flux_{b}": float(cols[f"fit_flux_{b}"][k]) for b in fit_bands})
            else:
                g["flux"] = float(cols[f"fit_flux_{ref}"][k])
            guesses.append(g)
        else:
            guesses.append(None)
    try:
        res = fit_mod.fit_batch(new_batch, model, guesses=guesses, nthreads=1)
    except Exception as exc:
        log.warning("refit without neighbours failed: %s", exc)
        nsub[:] = 0
        return
    _store_fits(res, np.asarray(ok), fit_bands, cols)


def _fit_band(cfg: PipelineConfig) -> str:
    b = cfg.detection.band
    return cfg.registration.reference if b == "coadd" else b


def _metacal_objects(cfg, tile, shear_mod, moments_mod, stamps, out) -> None:
    n = len(out)
    cols = {
        "mcal_flags": np.full(n, _NOT_MEASURED, dtype=np.int64),
        "mcal_e1": np.full(n, np.nan),
        "mcal_e2": np.full(n, np.nan),
        "mcal_R11": np.full(n, np.nan),
        "mcal_R12": np.full(n, np.nan),
        "mcal_R21": np.full(n, np.nan),
        "mcal_R22": np.full(n, np.nan),
    }
    band = _fit_band(cfg)
    if shear_mod is not None and moments_mod is not None:
        for k in range(n):
            obs = stamps[k][band][0]
            if obs is None or obs.psf is None:
                cols["mcal_flags"][k] = int(FLAGS.METACAL_FAILED | FLAGS.BAD_PSF)
                continue
            rng = np.random.default_rng([cfg.seed, tile.index, int(out["tile_id"][k]), 1])
            try:
                res = shear_mod.metacal_measure(obs, moments_mod.adaptive_moments, rng=rng)
                R = np.asarray(shear_mod.response(res))
                ns = res["noshear"]
                cols["mcal_flags"][k] = int(getattr(ns, "flags", 0))
                cols["mcal_e1"][k] = ns.e1
                cols["mcal_e2"][k] = ns.e2
                cols["mcal_R11"][k], cols["mcal_R12"][k] = R[0, 0], R[0, 1]
                cols["mcal_R21"][k], cols["mcal_R22"][k] = R[1, 0], R[1, 1]
            except Exception as exc:
                log.debug("metacal failed for object %s: %s", k, exc)
                cols["mcal_flags"][k] = int(FLAGS.METACAL_FAILED)
    for c, v in cols.items():
        out[c] = v


def _pixel_table(cfg, photoz_mod, names, bands, stamps, out, ref_scale) -> Any:
    """Per-pixel vectors of every object's footprint (contract F), or None."""
    if photoz_mod is None or not hasattr(photoz_mod, "pixel_vectors"):
        return None
    from astropy.table import Table, vstack

    if any(bands[b].native for b in names):
        # pixel vectors need all bands on one grid
        return None
    tables = []
    for k in range(len(out)):
        ref = stamps[k][names[0]]
        foot = ref[1]
        if not foot.any():
            continue
        images = {b: stamps[k][b][2] for b in names}
        variances = {b: stamps[k][b][3] for b in names}
        zps = {b: bands[b].zeropoint for b in names}
        try:
            t = photoz_mod.pixel_vectors(
                images,
                variances,
                foot,
                ref[4],
                ref[5],
                ref_scale,
                zps,
                object_id=int(out["tile_id"][k]),
            )
        except Exception as exc:
            log.debug("pixel_vectors failed for object %s: %s", k, exc)
            continue
        if len(t):
            tables.append(t)
    if not tables:
        return Table({"id": np.zeros(0, np.int64)})
    pix = vstack(tables, join_type="exact")
    pix["tile"] = np.full(len(pix), int(out["tile"][0]) if len(out) else 0, dtype=np.int32)
    return pix
