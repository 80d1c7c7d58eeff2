"""Pipeline configurations (``galmix run``) for downloaded SDSS fields.

One configuration per field: every band's frame with ``format: sdss`` (so
the pipeline reads it with :func:`galmix.sdss.read_frame`, weight from the
calibration), zero point 22.5 (nanomaggies), registration onto the reference
band (the five SDSS filters of a field are offset by a few arcsec), and the
spectroscopic catalog of the objects in that field as reference catalog
(redshift ``z``, ``z_err``, ``class`` attached to the detections by
position). Paths in the YAML are relative to the YAML's directory, so a
directory of configs, frames and catalogs can be moved as a whole.

Examples
--------
>>> cfg = build_pipeline_config({"r": "frame-r.fits.bz2", "g": "frame-g.fits.bz2"},
...                             output="out", psf_fwhm=1.4)
>>> cfg["bands"]["r"]["format"], cfg["detection"]["band"], cfg["registration"]["reference"]
('sdss', 'r', 'r')
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from galmix.errors import GalmixIOError, GalmixValueError
from galmix.sdss.ccd import BANDS
from galmix.sdss.frame import SDSS_ZEROPOINT
from galmix.sdss.naming import FieldID, find_field_frames

__all__ = [
    "build_pipeline_config",
    "find_field_frames",
    "write_field_configs",
    "write_pipeline_config",
]


def _rel(path: str | os.PathLike, base: Path | None) -> str:
    p = Path(path)
    if base is None:
        return p.as_posix()
    try:
        return Path(os.path.relpath(p.resolve(), base.resolve())).as_posix()
    except ValueError:  # different drives (Windows)
        return p.resolve().as_posix()


def build_pipeline_config(
    frames: Mapping[str, str | os.PathLike],
    *,
    output: str | os.PathLike = "out",
    config_dir: str | os.PathLike | None = None,
    detection_band: str | None = None,
    psf_fwhm: float | None = None,
    reference_catalog: str | os.PathLike | None = None,
    reference_columns: Iterable[str] = ("z", "z_err", "class"),
    match_radius_arcsec: float = 1.0,
    registration: str = "interp",
    apertures_arcsec: Iterable[float] = (1.0, 2.0, 3.0),
    pixel_table: bool = True,
    fit: bool | Mapping[str, Any] = True,
    seed: int = 0,
) -> dict[str, Any]:
    """A pipeline configuration (dict) for SDSS frames of one field.

    Parameters
    ----------
    frames : mapping band -> path
        The frame files (``.fits`` or ``.fits.bz2``).
    output : path
        Output directory of the run.
    config_dir : path, optional
        Directory of the YAML file; paths are written relative to it.
    detection_band : str, optional
        Band to detect in (default ``r`` if present, else the first band).
    psf_fwhm : float, optional
        PSF FWHM in arcsec (SDSS median seeing is about 1.4"); omitted if None.
    reference_catalog : path, optional
        Spectroscopic catalog (CSV/FITS with ``ra``, ``dec`` and the columns).
    reference_columns : iterable of str
        Catalog columns to attach to matched detections.
    match_radius_arcsec : float
        Cross-match radius.
    registration : {"interp", "exact", "native"}
        How bands are brought onto the reference band's grid.
    apertures_arcsec : iterable of float
        Aperture diameters for photometry.
    pixel_table : bool
        Write the per-pixel photo-z table.
    fit : bool or mapping
        True: the pipeline's default model fits (key omitted); False: no
        model fits (``fit: false``); a mapping (``{"model": "exp",
        "multiband": True}``) is written as given.
    seed : int
        Run seed.

    Returns
    -------
    dict
        Following the pipeline schema (contract E).
    """
    if not frames:
        raise GalmixValueError("frames must name at least one band")
    base = Path(config_dir) if config_dir is not None else None
    bands = [b for b in BANDS if b in frames] + [b for b in frames if b not in BANDS]
    for b in bands:
        if b not in BANDS:
            raise GalmixValueError(f"frames: band must be one of {', '.join(BANDS)}, got {b!r}")
    det = detection_band or ("r" if "r" in frames else bands[0])
    if det not in frames:
        raise GalmixValueError(f"detection_band {det!r} is not among the frames' bands {bands}")
    if registration not in ("interp", "exact", "native"):
        raise GalmixValueError(
            f"registration must be interp, exact or native, got {registration!r}"
        )
    band_specs: dict[str, Any] = {}
    for b in bands:
        spec: dict[str, Any] = {
            "image": _rel(frames[b], base),
            "hdu": 0,
            "format": "sdss",
            "zeropoint": SDSS_ZEROPOINT,
        }
        if psf_fwhm is not None:
            if not float(psf_fwhm) > 0:
                raise GalmixValueError(f"psf_fwhm must be > 0, got {psf_fwhm!r}")
            spec["psf"] = {"fwhm": float(psf_fwhm)}
        band_specs[b] = spec
    cfg: dict[str, Any] = {
        "output": _rel(output, base),
        "seed": int(seed),
        "bands": band_specs,
        "detection": {"band": det, "threshold": 1.5, "minarea": 5},
        "registration": {"method": registration, "reference": det},
        "measurement": {
            "apertures_arcsec": [float(a) for a in apertures_arcsec],
            "moments": True,
            "pixel_table": bool(pixel_table),
        },
    }
    if fit is False:
        cfg["measurement"]["fit"] = False
    elif isinstance(fit, Mapping):
        cfg["measurement"]["fit"] = dict(fit)
    elif fit is not True:
        raise GalmixValueError(f"fit must be True, False or a mapping, got {fit!r}")
    if reference_catalog is not None:
        cfg["reference_catalog"] = {
            "path": _rel(reference_catalog, base),
            "ra": "ra",
            "dec": "dec",
            "radius_arcsec": float(match_radius_arcsec),
            "columns": list(reference_columns),
        }
    return cfg


def write_pipeline_config(
    path: str | os.PathLike, frames: Mapping[str, str | os.PathLike], **kwargs: Any
) -> Path:
    """Write :func:`build_pipeline_config` as YAML (atomically); return the path.

    Relative paths inside are relative to the YAML's directory.
    """
    import yaml

    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    kwargs.setdefault("config_dir", p.parent)
    cfg = build_pipeline_config(frames, **kwargs)
    text = "# galmix pipeline configuration for SDSS frames (written by galmix sdss config)\n"
    text += yaml.safe_dump(cfg, sort_keys=False, default_flow_style=None)
    tmp = p.with_name(p.name + ".tmp")
    tmp.write_text(text)
    os.replace(tmp, p)
    return p


def write_field_configs(
    catalog: Any,
    frame_dir: str | os.PathLike,
    out_dir: str | os.PathLike,
    *,
    bands: Iterable[str] = BANDS,
    output_root: str | os.PathLike | None = None,
    missing: str = "skip",
    **kwargs: Any,
) -> list[Path]:
    """One pipeline configuration per field of a spectroscopic catalog.

    For every distinct (run, camcol, field) of ``catalog`` whose frames are in
    ``frame_dir``, writes ``out_dir/field-{run}-{camcol}-{field}.yaml`` and the
    catalog rows of that field as ``out_dir/field-{run}-{camcol}-{field}-ref.csv``
    (the reference catalog), with output directory
    ``output_root/field-{run}-{camcol}-{field}`` (default ``out_dir/out/...``).

    Parameters
    ----------
    catalog : astropy Table
        From :func:`galmix.sdss.query.read_query_result`.
    frame_dir, out_dir : path
    bands : iterable of str
        Bands to include (all must be present unless ``missing="partial"``).
    missing : {"skip", "partial", "error"}
        A field with missing bands is skipped, written with the bands found,
        or raises :class:`GalmixIOError`.
    **kwargs
        Passed to :func:`build_pipeline_config`.

    Returns
    -------
    list of Path
        The YAML files written.
    """
    from galmix.sdss.query import unique_fields

    if missing not in ("skip", "partial", "error"):
        raise GalmixValueError(f"missing must be skip, partial or error, got {missing!r}")
    bands = list(bands)
    od = Path(out_dir)
    od.mkdir(parents=True, exist_ok=True)
    root = Path(output_root) if output_root is not None else od / "out"
    written = []
    fields = unique_fields(catalog)
    run_col = np.asarray(catalog["run"])
    cam_col = np.asarray(catalog["camcol"])
    fld_col = np.asarray(catalog["field"])
    for row in fields:
        fid = FieldID(int(row["run"]), int(row["camcol"]), int(row["field"]))
        frames = find_field_frames(frame_dir, *fid, bands=bands)
        if len(frames) < len(bands):
            lacking = [b for b in bands if b not in frames]
            if missing == "error":
                raise GalmixIOError(
                    f"field {fid}: no frame for band(s) {lacking} in {str(frame_dir)!r}"
                )
            if missing == "skip" or not frames:
                continue
        stem = f"field-{fid.run}-{fid.camcol}-{fid.field}"
        sel = (run_col == fid.run) & (cam_col == fid.camcol) & (fld_col == fid.field)
        ref = catalog[sel]
        ref_path = od / f"{stem}-ref.csv"
        tmp = ref_path.with_name(ref_path.name + ".tmp")
        ref.write(tmp, format="ascii.csv", overwrite=True)
        os.replace(tmp, ref_path)
        written.append(
            write_pipeline_config(
                od / f"{stem}.yaml",
                frames,
                output=root / stem,
                reference_catalog=ref_path,
                **kwargs,
            )
        )
    return written
