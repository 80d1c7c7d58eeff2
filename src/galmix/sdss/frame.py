"""Read SDSS corrected frames (``frame-*.fits[.bz2]``).

Layout (SDSS data model,
https://data.sdss.org/datamodel/files/BOSS_PHOTOOBJ/frames/RERUN/RUN/CAMCOL/frame.html):

- HDU0: the calibrated, sky-subtracted image in nanomaggies per pixel
  (float32, 2048 columns x 1489 rows), with a TAN WCS and keywords such as
  ``FILTER``, ``CAMCOL``, ``RUN``, ``NMGY``.
- HDU1: ``calibvec``, 2048 float32 values: nanomaggies per count (flat field
  times calibration) for every column.
- HDU2: a one-row binary table with ``ALLSKY`` (the sky in counts on a coarse
  grid, about 256 x 192), ``XINTERP`` (2048) and ``YINTERP`` (1489): where every
  image column / row falls on that grid.
- HDU3: the asTrans astrometric structure of the field (optional here).

The inverse-variance weight follows the data model's recipe (see
:mod:`galmix.image.calibration`) with the gain and dark variance of the CCD
(:mod:`galmix.sdss.ccd`).
"""

from __future__ import annotations

import bz2
import dataclasses
import gzip
import io
import os
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from galmix.errors import GalmixIOError, GalmixValueError
from galmix.geometry import WCS, Jacobian
from galmix.image import Observation
from galmix.image.calibration import (
    counts_image,
    error_image,
    interpolate_sky,
    inverse_variance_weight,
)
from galmix.sdss.ccd import BANDS, sdss_dark_variance, sdss_gain
from galmix.sdss.naming import find_field_frames, parse_frame_filename

__all__ = [
    "SDSS_PIXEL_SCALE",
    "SDSS_ZEROPOINT",
    "SDSSFrame",
    "open_fits_bytes",
    "read_field",
    "read_frame",
]

#: Nominal SDSS pixel scale, arcsec per pixel.
SDSS_PIXEL_SCALE = 0.396
#: AB magnitude zero point of an image in nanomaggies: m = 22.5 - 2.5 log10(f).
SDSS_ZEROPOINT = 22.5


def _readonly(arr: np.ndarray) -> np.ndarray:
    arr = np.ascontiguousarray(arr)
    arr.setflags(write=False)
    return arr


def open_fits_bytes(path: str | os.PathLike) -> Any:
    """Open a FITS file that may be bzip2- or gzip-compressed, whatever its suffix.

    The compression is recognised from the file's magic bytes (``BZh`` or
    ``\\x1f\\x8b``), so ``frame-r-....fits`` holding bzip2 data (a common result
    of renaming downloads) is read too. The whole file is decompressed in
    memory (an SDSS frame is about 12 MB uncompressed).

    Returns
    -------
    astropy.io.fits.HDUList
        Opened without memory mapping; close it (or use ``with``).

    Raises
    ------
    GalmixIOError
        If the file is missing, truncated or not FITS.
    """
    from astropy.io import fits

    p = Path(path)
    try:
        raw = p.read_bytes()
    except FileNotFoundError:
        raise GalmixIOError(f"path: no such file {str(p)!r}") from None
    except OSError as exc:
        raise GalmixIOError(f"path: cannot read {str(p)!r}: {exc}") from exc
    try:
        if raw[:3] == b"BZh":
            raw = bz2.decompress(raw)
        elif raw[:2] == b"\x1f\x8b":
            raw = gzip.decompress(raw)
    except (OSError, EOFError, ValueError) as exc:
        raise GalmixIOError(
            f"path: {str(p)!r} is a truncated or corrupt compressed file: {exc}"
        ) from exc
    if not raw.startswith(b"SIMPLE"):
        raise GalmixIOError(f"path: {str(p)!r} is not a FITS file")
    try:
        hdul = fits.open(io.BytesIO(raw), memmap=False, lazy_load_hdus=False)
    except Exception as exc:
        raise GalmixIOError(f"path: cannot read FITS file {str(p)!r}: {exc}") from exc
    return hdul


@dataclass(frozen=True, eq=False)
class SDSSFrame:
    """An SDSS corrected frame with its noise model.

    Attributes
    ----------
    image : ndarray, shape ``(ny, nx)``
        Sky-subtracted calibrated image, nanomaggies per pixel, float64.
    weight : ndarray
        Inverse variance in nanomaggies^-2 (0 for non-finite pixels).
    wcs : galmix.geometry.WCS or None
        Celestial WCS of HDU0 (None if the header has none).
    band : str
    run, camcol, field : int
    calib : ndarray, shape ``(nx,)``
        Nanomaggies per count for every column (HDU1).
    sky : ndarray, shape ``(ny, nx)``
        Sky in counts that was subtracted, interpolated from the coarse grid.
    gain : float
        Electrons per count.
    dark_variance : float
        Counts^2.
    header : astropy.io.fits.Header
        HDU0 header.
    rerun : str or None
    sky_grid, xinterp, yinterp : ndarray
        The coarse sky grid ``[y, x]`` and the interpolation coordinates (HDU2).
    astrans : dict or None
        First row of the asTrans table (HDU3), keys lower-case, if present.
    psf : Observation, GMix or profile, optional
        The PSF, if one was given.
    path : str or None
        Where the frame was read from.
    """

    image: np.ndarray
    weight: np.ndarray
    wcs: WCS | None
    band: str
    run: int
    camcol: int
    field: int
    calib: np.ndarray
    sky: np.ndarray
    gain: float
    dark_variance: float
    header: Any
    rerun: str | None = None
    sky_grid: np.ndarray | None = None
    xinterp: np.ndarray | None = None
    yinterp: np.ndarray | None = None
    astrans: dict | None = None
    psf: Any = None
    path: str | None = None
    meta: dict = field(default_factory=dict)

    @property
    def shape(self) -> tuple[int, int]:
        """``(ny, nx)``."""
        return self.image.shape  # type: ignore[return-value]

    @property
    def zeropoint(self) -> float:
        """AB zero point of nanomaggies (22.5)."""
        return SDSS_ZEROPOINT

    @property
    def error(self) -> np.ndarray:
        """1-sigma error per pixel in nanomaggies (inf where the weight is 0)."""
        with np.errstate(divide="ignore"):
            return 1.0 / np.sqrt(self.weight)

    @property
    def variance(self) -> np.ndarray:
        """Variance per pixel in nanomaggies^2 (inf where the weight is 0)."""
        with np.errstate(divide="ignore"):
            return 1.0 / self.weight

    @property
    def counts(self) -> np.ndarray:
        """The image back in counts, sky added back: ``image / calib + sky``."""
        return counts_image(self.image, self.calib, self.sky)

    @property
    def mask(self) -> np.ndarray:
        """True where a pixel is unusable (non-finite value, zero weight)."""
        return ~np.isfinite(self.image) | (self.weight <= 0)

    def replace(self, **changes: Any) -> SDSSFrame:
        """A copy with some fields changed."""
        return dataclasses.replace(self, **changes)

    def to_observation(
        self,
        psf: Any = None,
        x: float | None = None,
        y: float | None = None,
        mask: Any = None,
    ) -> Observation:
        """The frame as an :class:`~galmix.image.Observation`.

        Parameters
        ----------
        psf : Observation, GMix or profile, optional
            Overrides the frame's own ``psf``.
        x, y : float, optional
            Pixel where the local Jacobian is evaluated (default: the image
            centre); the Jacobian's origin is that pixel.
        mask : array_like of bool, optional
            Extra bad pixels (True = bad), combined with the frame's mask.

        Returns
        -------
        Observation
            Image in nanomaggies, weight in nanomaggies^-2, the WCS's local
            Jacobian (or the nominal 0.396"/pixel if there is no WCS), and
            ``meta`` with band, run, camcol, field, rerun, zeropoint, wcs, path.
        """
        ny, nx = self.shape
        xc = (nx - 1) / 2.0 if x is None else float(x)
        yc = (ny - 1) / 2.0 if y is None else float(y)
        if self.wcs is not None:
            jac = self.wcs.jacobian(xc, yc)
        else:
            jac = Jacobian.from_scale(SDSS_PIXEL_SCALE, x0=xc, y0=yc)
        bad = self.mask
        if mask is not None:
            extra = np.asarray(mask)
            if extra.shape != self.shape:
                raise GalmixValueError(
                    f"mask shape {extra.shape} does not match frame shape {self.shape}"
                )
            bad = bad | extra.astype(bool)
        meta = {
            "band": self.band,
            "run": self.run,
            "camcol": self.camcol,
            "field": self.field,
            "rerun": self.rerun,
            "zeropoint": SDSS_ZEROPOINT,
            "unit": "nanomaggy",
            "wcs": self.wcs,
            "path": self.path,
            "survey": "sdss",
        }
        meta.update(self.meta)
        return Observation(
            self.image,
            weight=self.weight,
            jacobian=jac,
            psf=self.psf if psf is None else psf,
            mask=bad,
            meta=meta,
        )

    def write_fits(
        self,
        image_path: str | os.PathLike | None = None,
        weight_path: str | os.PathLike | None = None,
        overwrite: bool = False,
    ) -> list[Path]:
        """Write the image and/or the weight as plain float32 FITS images with the WCS.

        For tools that want an uncompressed image plus an inverse-variance map
        (``galmix measure IMAGE --weight W``, SExtractor ``WEIGHT_TYPE MAP_WEIGHT``).
        The header keeps the frame's keywords (WCS, FILTER, RUN, ...);
        ``BUNIT`` is ``nanomaggy`` for the image and ``nanomaggy-2`` for the weight.
        Files are written to a temporary name and renamed.

        Returns
        -------
        list of Path
            The files written.
        """
        from astropy.io import fits

        written = []
        for path, data, bunit, what in (
            (image_path, self.image, "nanomaggy", "image"),
            (weight_path, self.weight, "nanomaggy-2", "inverse variance"),
        ):
            if path is None:
                continue
            p = Path(path)
            if p.exists() and not overwrite:
                raise GalmixIOError(f"{what} path {str(p)!r} exists (pass overwrite=True)")
            hdr = self.header.copy()
            for key in ("BSCALE", "BZERO", "BLANK", "EXTEND"):
                hdr.remove(key, ignore_missing=True, remove_all=True)
            hdr["BUNIT"] = bunit
            hdr["HISTORY"] = (
                f"galmix.sdss: {what} of {Path(self.path).name if self.path else 'an SDSS frame'}"
            )
            p.parent.mkdir(parents=True, exist_ok=True)
            tmp = p.with_name(p.name + ".tmp")
            fits.PrimaryHDU(np.asarray(data, dtype=np.float32), header=hdr).writeto(
                tmp, overwrite=True
            )
            os.replace(tmp, p)
            written.append(p)
        return written

    def __repr__(self) -> str:
        ny, nx = self.shape
        return (
            f"SDSSFrame(band={self.band!r}, run={self.run}, camcol={self.camcol}, "
            f"field={self.field}, shape=({ny}, {nx}), gain={self.gain}, "
            f"dark_variance={self.dark_variance})"
        )


def _column(table: Any, name: str, path: str) -> np.ndarray:
    names = {n.upper(): n for n in table.columns.names}
    if name.upper() not in names:
        raise GalmixIOError(
            f"{path!r}: HDU2 (sky) has no column {name!r}; columns are {table.columns.names}"
        )
    return np.asarray(table[names[name.upper()]][0], dtype=np.float64)


def _header_int(header: Any, *keys: str) -> int | None:
    for k in keys:
        v = header.get(k)
        if v is None or isinstance(v, bool):
            continue
        try:
            return int(str(v).strip())
        except ValueError:
            continue
    return None


def _astrans_row(hdu: Any) -> dict | None:
    data = getattr(hdu, "data", None)
    if data is None or not hasattr(data, "columns") or len(data) == 0:
        return None
    row = {}
    for name in data.columns.names:
        value = data[name][0]
        if isinstance(value, bytes):
            value = value.decode("ascii", "replace").strip()
        elif isinstance(value, str):
            value = value.strip()
        elif isinstance(value, np.ndarray):
            value = value.astype(value.dtype.newbyteorder("=")).tolist()
        elif isinstance(value, np.generic):
            value = value.item()
        row[name.lower()] = value
    return row


def read_frame(
    path: str | os.PathLike,
    *,
    band: str | None = None,
    gain: float | None = None,
    dark_variance: float | None = None,
    psf: Any = None,
) -> SDSSFrame:
    """Read an SDSS corrected frame and derive its inverse-variance weight.

    Parameters
    ----------
    path : str or Path
        ``frame-{band}-{run:06d}-{camcol}-{field:04d}.fits`` or ``.fits.bz2``
        (compression is detected from the content, not the suffix).
    band : str, optional
        Filter, if neither the header (``FILTER``) nor the file name says.
    gain, dark_variance : float, optional
        Override the tabulated CCD values (e.g. from the CAS ``Field`` table).
    psf : Observation, GMix or profile, optional
        PSF to attach (SDSS keeps PSFs in separate psField files).

    Returns
    -------
    SDSSFrame

    Raises
    ------
    GalmixIOError
        If the file is missing, corrupt, or lacks the SDSS frame layout.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> from galmix.sdss.synthetic import write_synthetic_frame
    >>> d = pathlib.Path(tempfile.mkdtemp())
    >>> truth = write_synthetic_frame(d / "frame-r-003813-5-0023.fits.bz2", seed=1)
    >>> frame = read_frame(d / "frame-r-003813-5-0023.fits.bz2")
    >>> frame.band, frame.run, frame.camcol, frame.field, frame.gain
    ('r', 3813, 5, 23, 4.725)
    """
    spath = str(path)
    with open_fits_bytes(path) as hdul:
        if len(hdul) < 3:
            raise GalmixIOError(
                f"{spath!r} has {len(hdul)} HDU(s); an SDSS frame has the image (HDU0), "
                "calibration vector (HDU1) and sky grid (HDU2)"
            )
        header = hdul[0].header.copy()
        data0 = hdul[0].data
        if data0 is None or np.ndim(data0) != 2:
            raise GalmixIOError(f"{spath!r}: HDU0 must hold a 2-d image, got {np.shape(data0)}")
        # astropy has applied BSCALE/BZERO (uint16 / scaled int quirks); big-endian -> native
        image = np.array(data0, dtype=np.float64)
        ny, nx = image.shape

        data1 = hdul[1].data
        if data1 is None:
            raise GalmixIOError(f"{spath!r}: HDU1 (calibration vector) is empty")
        calib = np.array(data1, dtype=np.float64).ravel()
        if calib.shape[0] != nx:
            raise GalmixIOError(
                f"{spath!r}: calibration vector has {calib.shape[0]} values, image has {nx} columns"
            )
        if not np.all(np.isfinite(calib)) or np.any(calib <= 0):
            raise GalmixIOError(f"{spath!r}: calibration vector must be finite and > 0")

        sky_table = hdul[2].data
        if sky_table is None or not hasattr(sky_table, "columns") or len(sky_table) < 1:
            raise GalmixIOError(f"{spath!r}: HDU2 must be a binary table with the sky grid")
        allsky = np.squeeze(_column(sky_table, "ALLSKY", spath))
        xinterp = _column(sky_table, "XINTERP", spath).ravel()
        yinterp = _column(sky_table, "YINTERP", spath).ravel()
        if allsky.ndim != 2:
            raise GalmixIOError(
                f"{spath!r}: ALLSKY must be a 2-d grid (TDIM), got shape {allsky.shape}"
            )
        if xinterp.shape[0] != nx or yinterp.shape[0] != ny:
            raise GalmixIOError(
                f"{spath!r}: XINTERP/YINTERP have {xinterp.shape[0]}/{yinterp.shape[0]} values "
                f"for an image of {nx} x {ny} pixels"
            )
        astrans = _astrans_row(hdul[3]) if len(hdul) > 3 else None

    name_id = None
    try:
        name_id = parse_frame_filename(spath)
    except GalmixValueError:
        pass
    astr = astrans or {}

    def _pick(hdr_keys: tuple[str, ...], astr_key: str, name_attr: str) -> int | None:
        v = _header_int(header, *hdr_keys)
        if v is None and astr.get(astr_key) is not None:
            v = int(astr[astr_key])
        if v is None and name_id is not None:
            v = getattr(name_id, name_attr)
        return v

    run = _pick(("RUN",), "run", "run")
    camcol = _pick(("CAMCOL",), "camcol", "camcol")
    field_no = _pick(("FIELD", "FRAME"), "field", "field")
    fband = band
    if fband is None:
        f = header.get("FILTER")
        if isinstance(f, str) and f.strip().lower() in BANDS:
            fband = f.strip().lower()
        elif isinstance(astr.get("filter"), str) and astr["filter"].lower() in BANDS:
            fband = astr["filter"].lower()
        elif name_id is not None:
            fband = name_id.band
    if fband not in BANDS:
        raise GalmixIOError(f"{spath!r}: cannot tell the band (no FILTER keyword); pass band=")
    if run is None or camcol is None or field_no is None:
        raise GalmixIOError(
            f"{spath!r}: cannot tell run/camcol/field (no RUN/CAMCOL/FIELD keywords, no "
            "asTrans table, and the file is not named frame-B-RRRRRR-C-FFFF.fits)"
        )
    rerun = header.get("RERUN", astr.get("rerun"))
    rerun = None if rerun is None else str(rerun).strip()

    g = float(gain) if gain is not None else sdss_gain(fband, camcol, run)
    dv = (
        float(dark_variance)
        if dark_variance is not None
        else sdss_dark_variance(fband, camcol, run)
    )
    sky = interpolate_sky(allsky, xinterp, yinterp)
    err = error_image(image, calib, sky, g, dv)
    weight = inverse_variance_weight(err)

    wcs = None
    if header.get("CTYPE1") and header.get("CTYPE2"):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            wcs = WCS.from_fits(header)

    return SDSSFrame(
        image=_readonly(image),
        weight=_readonly(weight),
        wcs=wcs,
        band=fband,
        run=int(run),
        camcol=int(camcol),
        field=int(field_no),
        calib=_readonly(calib),
        sky=_readonly(sky),
        gain=g,
        dark_variance=dv,
        header=header,
        rerun=rerun,
        sky_grid=_readonly(allsky),
        xinterp=_readonly(xinterp),
        yinterp=_readonly(yinterp),
        astrans=astrans,
        psf=psf,
        path=spath,
    )


def read_field(
    directory: str | os.PathLike,
    run: int,
    camcol: int,
    field: int,
    bands: Any = BANDS,
    *,
    psf: Any = None,
    missing: str = "error",
) -> dict[str, SDSSFrame]:
    """Read the frames of one field, band by band.

    Files are found by :func:`galmix.sdss.naming.find_field_frames` (SDSS
    names, ``.fits.bz2`` or ``.fits``, or the seed's ``run-camcol-field-band.fits``).

    Parameters
    ----------
    directory : path
    run, camcol, field : int
    bands : iterable of str
    psf : mapping band -> PSF, or one PSF for all bands, optional
    missing : {"error", "skip"}
        What to do when a band's frame is absent.

    Returns
    -------
    dict band -> SDSSFrame
        In the order of ``bands``. ``MultiBandObservation({b: f.to_observation()
        for b, f in frames.items()})`` makes them a multi-band observation.

    Raises
    ------
    GalmixIOError
        If a band is missing and ``missing="error"``.
    """
    if missing not in ("error", "skip"):
        raise GalmixValueError(f"missing must be 'error' or 'skip', got {missing!r}")
    bands = list(bands)
    paths = find_field_frames(directory, run, camcol, field, bands=bands)
    lacking = [b for b in bands if b not in paths]
    if lacking and missing == "error":
        raise GalmixIOError(
            f"field {run}-{camcol}-{field}: no frame for band(s) {lacking} in {str(directory)!r}"
        )
    out = {}
    for b in bands:
        if b in paths:
            p = psf.get(b) if isinstance(psf, dict) else psf
            out[b] = read_frame(paths[b], band=b, psf=p)
    return out
