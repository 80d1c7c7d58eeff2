"""Pipeline configuration: YAML schema, validation and defaults (contract E).

A configuration is a YAML file (read with ``yaml.safe_load``, so tags such
as ``!!python/object`` are rejected, never executed) or a mapping. Paths are
relative to the configuration file's directory (or to ``base_dir`` for a
mapping). Unknown keys, wrong types, bad values and missing files raise
:class:`~galmix.errors.ConfigError` naming the dotted key, e.g.
``bands.r.image``.

Schema (defaults in brackets)::

    output: out_dir                      # [output]
    seed: 0                              # [0]
    bands:                               # required, mapping band -> spec
      r:
        image: frame-r.fits              # required
        hdu: 0                           # [0]
        format: fits                     # fits | sdss  [fits]
        weight: w.fits                   # inverse variance image, or
        variance: v.fits                 #   a variance image; else background rms
        psf: {fwhm: 1.2}                 # {model: gaussian|moffat|kolmogorov, fwhm, beta}
                                         # or {image: psf.fits, hdu: 0}
                                         # or {model: stars} (estimated from the image's stars)
        zeropoint: 22.5                  # AB zero point [header MAGZERO, else 22.5]
    background: {subtract: true, box_size: 64, filter_size: 3,    # sky mesh (pixels),
                 mask_objects: true, mask_dilate: 4}              # 2nd pass, objects masked
    detection: {band: r, threshold: 1.5, minarea: 5, deblend_nthresh: 32,
                deblend_cont: 0.005, filter_fwhm_pixels: 2.0}   # band may be "coadd"
    registration: {method: interp, reference: r}   # interp | exact | native
    measurement: {apertures_arcsec: [1.0, 2.0, 3.0], moments: true,
                  fit: {model: sersic, multiband: true, subtract_neighbours: false}, metacal: false,
                  pixel_table: true, stamp_size: 48}
    reference_catalog: {path: ref.csv, ra: ra, dec: dec, radius_arcsec: 1.0,
                        columns: [z, class]}          # optional
    truth: {path: truth.parquet, ra: ra, dec: dec, radius_arcsec: 1.0}   # optional
    tiles: {size: 1024, overlap: 64}
    executor: {kind: serial, workers: 2, scheduler: null}   # serial | processes | dask
    photoz: {model: null, train: false, target: z}

Examples
--------
>>> cfg = load_config({"bands": {"r": {"image": "r.fits"}}}, check_files=False)
>>> cfg.detection.band, cfg.tiles.size, cfg.executor.kind
('r', 1024, 'serial')
>>> try:
...     load_config({"bands": {"r": {"image": "r.fits", "colour": 1}}}, check_files=False)
... except ConfigError as exc:
...     print(exc)
config key 'bands.r.colour': unknown key (allowed: format, hdu, image, psf, variance, weight, zeropoint)
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from galmix.errors import ConfigError

__all__ = [
    "BandConfig",
    "DetectionConfig",
    "ExecutorConfig",
    "FitConfig",
    "MatchConfig",
    "MeasurementConfig",
    "PSFConfig",
    "PhotozConfig",
    "PipelineConfig",
    "RegistrationConfig",
    "TilesConfig",
    "load_config",
]


# --------------------------------------------------------------------------- dataclasses
@dataclasses.dataclass(frozen=True)
class PSFConfig:
    """PSF of a band: an analytic model or an image file."""

    model: str | None = None
    fwhm: float | None = None
    beta: float = 3.0
    image: Path | None = None
    hdu: int = 0


@dataclasses.dataclass(frozen=True)
class BandConfig:
    """One band's input image and calibration."""

    name: str
    image: Path
    hdu: int = 0
    format: str = "fits"
    weight: Path | None = None
    variance: Path | None = None
    psf: PSFConfig | None = None
    zeropoint: float | None = None


@dataclasses.dataclass(frozen=True)
class DetectionConfig:
    band: str
    threshold: float = 1.5
    minarea: int = 5
    deblend_nthresh: int = 32
    deblend_cont: float = 0.005
    filter_fwhm_pixels: float = 2.0


@dataclasses.dataclass(frozen=True)
class BackgroundConfig:
    """Sky background removed from every band before anything else.

    ``subtract: false`` for images whose sky is already subtracted; otherwise
    a SExtractor-style mesh estimate (``box_size`` pixels, median-filtered over
    ``filter_size`` meshes). Larger meshes remove less of the extended light
    of big galaxies; smaller ones follow sky gradients more closely.

    ``mask_objects`` (default true): after detection the mesh estimate is
    repeated with every detected footprint, grown by ``mask_dilate`` pixels,
    masked, so the galaxies' own wings do not raise the sky under them (a
    one-pass estimate biased Sersic fluxes of the demo field 2-4 % low and n
    by -0.3 for n > 1.5).
    """

    subtract: bool = True
    box_size: int = 64
    filter_size: int = 3
    mask_objects: bool = True
    mask_dilate: int = 4


@dataclasses.dataclass(frozen=True)
class RegistrationConfig:
    method: str = "interp"
    reference: str = ""


@dataclasses.dataclass(frozen=True)
class FitConfig:
    """Model fits of every object.

    ``subtract_neighbours`` (default false; ``galmix demo`` turns it on): after
    a first fit of every object, the model-based sky is measured and each
    object is refit with it and its neighbours' fitted models subtracted from
    its stamp (their footprints stay masked; this removes the light of their
    wings beyond the footprints). Not used with ``expdev``. It costs 1.6x the
    time of a tile (docs/pipeline.md, "Sky and neighbours").
    """

    model: str | None = "sersic"
    multiband: bool = True
    subtract_neighbours: bool = False


@dataclasses.dataclass(frozen=True)
class MeasurementConfig:
    apertures_arcsec: tuple[float, ...] = (1.0, 2.0, 3.0)
    moments: bool = True
    fit: FitConfig = FitConfig()
    metacal: bool = False
    pixel_table: bool = True
    stamp_size: int = 48


@dataclasses.dataclass(frozen=True)
class MatchConfig:
    """A catalog to cross-match with (reference catalog or truth)."""

    path: Path
    ra: str = "ra"
    dec: str = "dec"
    radius_arcsec: float = 1.0
    columns: tuple[str, ...] = ()


@dataclasses.dataclass(frozen=True)
class TilesConfig:
    size: int = 1024
    overlap: int = 64


@dataclasses.dataclass(frozen=True)
class ExecutorConfig:
    kind: str = "serial"
    workers: int = 2
    scheduler: str | None = None


@dataclasses.dataclass(frozen=True)
class PhotozConfig:
    model: Path | None = None
    train: bool = False
    target: str = "z"


@dataclasses.dataclass(frozen=True)
class PipelineConfig:
    """A validated pipeline configuration (all paths absolute)."""

    output: Path
    seed: int
    bands: dict[str, BandConfig]
    detection: DetectionConfig
    registration: RegistrationConfig
    measurement: MeasurementConfig
    reference_catalog: MatchConfig | None
    truth: MatchConfig | None
    tiles: TilesConfig
    executor: ExecutorConfig
    photoz: PhotozConfig
    base_dir: Path
    background: BackgroundConfig = BackgroundConfig()

    @property
    def band_names(self) -> list[str]:
        """Band names in configuration order."""
        return list(self.bands)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able dictionary (paths as strings)."""
        return json.loads(json.dumps(dataclasses.asdict(self), default=str))

    def fingerprint(self, include_inputs: bool = True) -> str:
        """SHA-256 of the configuration (and of the input files' sizes/mtimes).

        Outputs written under one fingerprint are reused on resume only when
        it is unchanged. ``executor`` and ``output`` do not enter it: the
        result does not depend on them.
        """
        d = self.to_dict()
        for k in ("executor", "output", "base_dir"):
            d.pop(k, None)
        if include_inputs:
            files = []
            for b in self.bands.values():
                for p in (b.image, b.weight, b.variance, b.psf.image if b.psf else None):
                    if p is not None and Path(p).exists():
                        st = Path(p).stat()
                        files.append([str(p), st.st_size, st.st_mtime_ns])
            d["_inputs"] = files
        text = json.dumps(d, sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()


# --------------------------------------------------------------------------- validation helpers
def _err(key: str, msg: str) -> ConfigError:
    return ConfigError(f"config key {key!r}: {msg}")


def _check_keys(d: Any, key: str, allowed: set[str], required: tuple[str, ...] = ()) -> dict:
    if d is None:
        d = {}
    if not isinstance(d, Mapping):
        raise _err(key, f"must be a mapping, got {type(d).__name__} {d!r}")
    for k in d:
        if not isinstance(k, str):
            raise _err(f"{key}.{k}" if key else str(k), "keys must be strings")
        if k not in allowed:
            name = f"{key}.{k}" if key else k
            raise _err(name, f"unknown key (allowed: {', '.join(sorted(allowed))})")
    for k in required:
        if k not in d or d[k] is None:
            raise _err(f"{key}.{k}" if key else k, "is required")
    return dict(d)


def _bool(v: Any, key: str) -> bool:
    if not isinstance(v, bool):
        raise _err(key, f"must be true or false, got {type(v).__name__} {v!r}")
    return v


def _int(v: Any, key: str, lo: int | None = None) -> int:
    if isinstance(v, bool) or not isinstance(v, int):
        raise _err(key, f"must be an integer, got {type(v).__name__} {v!r}")
    if lo is not None and v < lo:
        raise _err(key, f"must be >= {lo}, got {v!r}")
    return int(v)


def _float(v: Any, key: str, positive: bool = False, lo: float | None = None) -> float:
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        raise _err(key, f"must be a number, got {type(v).__name__} {v!r}")
    v = float(v)
    if v != v or v in (float("inf"), float("-inf")):
        raise _err(key, f"must be finite, got {v!r}")
    if positive and not v > 0:
        raise _err(key, f"must be positive, got {v!r}")
    if lo is not None and v < lo:
        raise _err(key, f"must be >= {lo}, got {v!r}")
    return v


def _str(v: Any, key: str, choices: tuple[str, ...] | None = None) -> str:
    if not isinstance(v, str) or not v:
        raise _err(key, f"must be a non-empty string, got {type(v).__name__} {v!r}")
    if choices is not None and v not in choices:
        raise _err(key, f"must be one of {', '.join(choices)}, got {v!r}")
    return v


def _path(v: Any, key: str, base: Path, must_exist: bool) -> Path:
    if not isinstance(v, (str, os.PathLike)) or not str(v):
        raise _err(key, f"must be a file path, got {type(v).__name__} {v!r}")
    p = Path(os.path.expanduser(str(v)))
    if not p.is_absolute():
        p = base / p
    if must_exist and not p.exists():
        raise _err(key, f"file not found: {str(p)!r}")
    return p


# --------------------------------------------------------------------------- sections
def _psf(d: Any, key: str, base: Path, check: bool) -> PSFConfig | None:
    if d is None:
        return None
    d = _check_keys(d, key, {"model", "fwhm", "beta", "image", "hdu"})
    if "image" in d:
        if "model" in d or "fwhm" in d:
            raise _err(key, "give either image or model/fwhm, not both")
        return PSFConfig(
            image=_path(d["image"], f"{key}.image", base, check),
            hdu=_int(d.get("hdu", 0), f"{key}.hdu", 0),
        )
    if d.get("model") == "stars":
        if len(d) > 1:
            raise _err(key, "model 'stars' takes no other keys")
        return PSFConfig(model="stars")
    if "fwhm" not in d:
        raise _err(f"{key}.fwhm", "is required unless image is given or model is 'stars'")
    model = _str(d.get("model", "gaussian"), f"{key}.model", ("gaussian", "moffat", "kolmogorov"))
    beta = _float(d.get("beta", 3.0), f"{key}.beta")
    if model == "moffat" and not beta > 1.1:
        raise _err(f"{key}.beta", f"must be > 1.1, got {beta!r}")
    return PSFConfig(model=model, fwhm=_float(d["fwhm"], f"{key}.fwhm", positive=True), beta=beta)


def _band(name: str, d: Any, base: Path, check: bool) -> BandConfig:
    key = f"bands.{name}"
    if isinstance(d, (str, os.PathLike)):
        d = {"image": d}
    d = _check_keys(
        d, key, {"image", "hdu", "format", "weight", "variance", "psf", "zeropoint"}, ("image",)
    )
    if d.get("weight") is not None and d.get("variance") is not None:
        raise _err(f"{key}.variance", "give either weight or variance, not both")
    zp = d.get("zeropoint")
    return BandConfig(
        name=name,
        image=_path(d["image"], f"{key}.image", base, check),
        hdu=_int(d.get("hdu", 0), f"{key}.hdu", 0),
        format=_str(d.get("format", "fits"), f"{key}.format", ("fits", "sdss")),
        weight=None
        if d.get("weight") is None
        else _path(d["weight"], f"{key}.weight", base, check),
        variance=None
        if d.get("variance") is None
        else _path(d["variance"], f"{key}.variance", base, check),
        psf=_psf(d.get("psf"), f"{key}.psf", base, check),
        zeropoint=None if zp is None else _float(zp, f"{key}.zeropoint"),
    )


def _match(d: Any, key: str, base: Path, check: bool, columns: bool) -> MatchConfig | None:
    if d is None:
        return None
    allowed = {"path", "ra", "dec", "radius_arcsec"} | ({"columns"} if columns else set())
    d = _check_keys(d, key, allowed, ("path",))
    cols = d.get("columns", []) or []
    if not isinstance(cols, list) or not all(isinstance(c, str) and c for c in cols):
        raise _err(f"{key}.columns", f"must be a list of column names, got {cols!r}")
    return MatchConfig(
        path=_path(d["path"], f"{key}.path", base, check),
        ra=_str(d.get("ra", "ra"), f"{key}.ra"),
        dec=_str(d.get("dec", "dec"), f"{key}.dec"),
        radius_arcsec=_float(d.get("radius_arcsec", 1.0), f"{key}.radius_arcsec", positive=True),
        columns=tuple(cols),
    )


_TOP = {
    "output",
    "seed",
    "bands",
    "detection",
    "registration",
    "measurement",
    "reference_catalog",
    "truth",
    "tiles",
    "executor",
    "photoz",
    "background",
}


def load_config(
    path_or_dict: str | os.PathLike | Mapping[str, Any],
    base_dir: str | os.PathLike | None = None,
    check_files: bool = True,
    overrides: Mapping[str, Any] | None = None,
) -> PipelineConfig:
    """Read and validate a pipeline configuration.

    Parameters
    ----------
    path_or_dict : path or mapping
        A YAML file, or an already-parsed mapping.
    base_dir : path, optional
        Directory that relative paths refer to (default: the file's directory,
        or the current directory for a mapping).
    check_files : bool
        Require every input file to exist.
    overrides : mapping, optional
        Top-level sections merged over the file's (e.g. ``{"executor":
        {"kind": "dask"}}``), section by section.

    Returns
    -------
    PipelineConfig

    Raises
    ------
    ConfigError
        Naming the offending key: unknown keys, wrong types, invalid values,
        missing files, unreadable or unsafe YAML.
    """
    if isinstance(path_or_dict, Mapping):
        raw: Any = dict(path_or_dict)
        base = Path(base_dir) if base_dir is not None else Path.cwd()
    elif isinstance(path_or_dict, (str, os.PathLike)):
        import yaml

        p = Path(path_or_dict)
        if not p.is_file():
            raise ConfigError(f"config file not found: {str(p)!r}")
        try:
            raw = yaml.safe_load(p.read_text())
        except yaml.YAMLError as exc:
            raise ConfigError(f"config file {str(p)!r} is not valid (safe) YAML: {exc}") from None
        base = Path(base_dir) if base_dir is not None else p.resolve().parent
    else:
        raise ConfigError(
            f"config must be a YAML path or a mapping, got {type(path_or_dict).__name__}"
        )
    if raw is None:
        raw = {}
    if not isinstance(raw, Mapping):
        raise ConfigError(f"config must be a mapping at top level, got {type(raw).__name__}")
    raw = dict(raw)
    for k, v in (overrides or {}).items():
        if isinstance(v, Mapping) and isinstance(raw.get(k), Mapping):
            raw[k] = {**raw[k], **v}
        else:
            raw[k] = v
    base = base.resolve()
    d = _check_keys(raw, "", _TOP, ("bands",))

    bands_raw = d["bands"]
    if not isinstance(bands_raw, Mapping) or not bands_raw:
        raise _err("bands", "must be a non-empty mapping band -> {image: ...}")
    bands = {}
    for name, spec in bands_raw.items():
        if not isinstance(name, str) or not name or not name.replace("_", "").isalnum():
            raise _err(f"bands.{name}", "band names must be alphanumeric strings")
        bands[name] = _band(name, spec, base, check_files)
    names = list(bands)

    reg = _check_keys(d.get("registration"), "registration", {"method", "reference"})
    ref_band = _str(reg.get("reference", names[0]), "registration.reference")
    if ref_band not in bands:
        raise _err("registration.reference", f"must be one of the bands {names}, got {ref_band!r}")
    registration = RegistrationConfig(
        method=_str(
            reg.get("method", "interp"), "registration.method", ("interp", "exact", "native")
        ),
        reference=ref_band,
    )

    bg = _check_keys(
        d.get("background"),
        "background",
        {"subtract", "box_size", "filter_size", "mask_objects", "mask_dilate"},
    )
    background = BackgroundConfig(
        subtract=_bool(bg.get("subtract", True), "background.subtract"),
        box_size=_int(bg.get("box_size", 64), "background.box_size", 8),
        filter_size=_int(bg.get("filter_size", 3), "background.filter_size", 1),
        mask_objects=_bool(bg.get("mask_objects", True), "background.mask_objects"),
        mask_dilate=_int(bg.get("mask_dilate", 4), "background.mask_dilate", 0),
    )

    det = _check_keys(
        d.get("detection"),
        "detection",
        {"band", "threshold", "minarea", "deblend_nthresh", "deblend_cont", "filter_fwhm_pixels"},
    )
    det_band = _str(det.get("band", ref_band), "detection.band")
    if det_band != "coadd" and det_band not in bands:
        raise _err("detection.band", f"must be 'coadd' or one of {names}, got {det_band!r}")
    if registration.method == "native" and det_band != ref_band:
        raise _err(
            "detection.band",
            f"with registration.method native, detection runs on the reference band "
            f"{ref_band!r}, got {det_band!r}",
        )
    detection = DetectionConfig(
        band=det_band,
        threshold=_float(det.get("threshold", 1.5), "detection.threshold", positive=True),
        minarea=_int(det.get("minarea", 5), "detection.minarea", 1),
        deblend_nthresh=_int(det.get("deblend_nthresh", 32), "detection.deblend_nthresh", 1),
        deblend_cont=_float(det.get("deblend_cont", 0.005), "detection.deblend_cont", lo=0.0),
        filter_fwhm_pixels=_float(
            det.get("filter_fwhm_pixels", 2.0), "detection.filter_fwhm_pixels", lo=0.0
        ),
    )

    m = _check_keys(
        d.get("measurement"),
        "measurement",
        {"apertures_arcsec", "moments", "fit", "metacal", "pixel_table", "stamp_size"},
    )
    aps = m.get("apertures_arcsec", [1.0, 2.0, 3.0])
    if not isinstance(aps, list):
        raise _err("measurement.apertures_arcsec", f"must be a list of numbers, got {aps!r}")
    aps_t = tuple(
        _float(a, f"measurement.apertures_arcsec[{i}]", positive=True) for i, a in enumerate(aps)
    )
    fit_raw = m.get("fit", {"model": "sersic", "multiband": True})
    if fit_raw is False or fit_raw is None:
        fit = FitConfig(model=None, multiband=False)
    else:
        f = _check_keys(fit_raw, "measurement.fit", {"model", "multiband", "subtract_neighbours"})
        model = f.get("model", "sersic")
        if model is not None:
            model = _str(
                model,
                "measurement.fit.model",
                ("gauss", "exp", "dev", "sersic", "expdev", "point"),
            )
        fit = FitConfig(
            model=model,
            multiband=_bool(f.get("multiband", True), "measurement.fit.multiband"),
            subtract_neighbours=_bool(
                f.get("subtract_neighbours", False), "measurement.fit.subtract_neighbours"
            ),
        )
    measurement = MeasurementConfig(
        apertures_arcsec=aps_t,
        moments=_bool(m.get("moments", True), "measurement.moments"),
        fit=fit,
        metacal=_bool(m.get("metacal", False), "measurement.metacal"),
        pixel_table=_bool(m.get("pixel_table", True), "measurement.pixel_table"),
        stamp_size=_int(m.get("stamp_size", 48), "measurement.stamp_size", 8),
    )

    t = _check_keys(d.get("tiles"), "tiles", {"size", "overlap"})
    tiles = TilesConfig(
        size=_int(t.get("size", 1024), "tiles.size", 64),
        overlap=_int(t.get("overlap", 64), "tiles.overlap", 0),
    )
    if tiles.overlap * 2 >= tiles.size:
        raise _err("tiles.overlap", f"must be < size/2 = {tiles.size / 2}, got {tiles.overlap}")

    e = _check_keys(d.get("executor"), "executor", {"kind", "workers", "scheduler"})
    sched = e.get("scheduler")
    executor = ExecutorConfig(
        kind=_str(e.get("kind", "serial"), "executor.kind", ("serial", "processes", "dask")),
        workers=_int(e.get("workers", 2), "executor.workers", 1),
        scheduler=None if sched is None else _str(sched, "executor.scheduler"),
    )

    pz = _check_keys(d.get("photoz"), "photoz", {"model", "train", "target"})
    photoz = PhotozConfig(
        model=None
        if pz.get("model") is None
        else _path(pz["model"], "photoz.model", base, check_files),
        train=_bool(pz.get("train", False), "photoz.train"),
        target=_str(pz.get("target", "z"), "photoz.target"),
    )
    refcat = _match(d.get("reference_catalog"), "reference_catalog", base, check_files, True)
    if photoz.train and refcat is None:
        raise _err("photoz.train", "needs a reference_catalog with the redshift column")
    if photoz.train and photoz.target not in refcat.columns:
        raise _err(
            "photoz.target",
            f"column {photoz.target!r} must be listed in reference_catalog.columns",
        )

    seed = _int(d.get("seed", 0), "seed", 0)
    out = _path(d.get("output", "output"), "output", base, False).resolve()
    return PipelineConfig(
        output=out,
        seed=seed,
        bands=bands,
        detection=detection,
        registration=registration,
        measurement=measurement,
        reference_catalog=refcat,
        truth=_match(d.get("truth"), "truth", base, check_files, True),
        tiles=tiles,
        executor=executor,
        photoz=photoz,
        base_dir=base,
        background=background,
    )
