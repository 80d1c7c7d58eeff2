"""Synthetic frames in exactly the SDSS ``frame`` file layout.

Real SDSS frames cannot be downloaded in tests, so this module writes small
frames with the same HDU structure, column names, data types and header
keywords as the files on the SAS (see :mod:`galmix.sdss.frame`), with a known
truth: the noise-free image, the sky, the calibration vector and the exact
per-pixel variance. Noise is drawn in counts with variance
``dn / gain + dark_variance``, as the data model describes it.

Quirks reproduced on request: bzip2 compression (by file suffix),
FLOATCOMPRESS-like truncation of the float mantissa to 10 bits (as SDSS
does), images stored as scaled 16-bit integers (``image_dtype="int16"`` or
``"uint16"``, read back through BSCALE/BZERO) or float64, a calibration vector
stored as a ``(1, nx)`` image, a sky grid shorter than the frame in y (so the
interpolation must extrapolate at constant value), and an optional TAN-SIP WCS.

Examples
--------
>>> import tempfile, pathlib
>>> d = pathlib.Path(tempfile.mkdtemp())
>>> truth = write_synthetic_frame(d / "frame-g-000094-1-0007.fits", band="g",
...                               run=94, camcol=1, field=7, seed=3)
>>> truth.image.shape, truth.sky_grid.shape
((150, 200), (19, 25))
"""

from __future__ import annotations

import bz2
import dataclasses
import io
import os
import warnings
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from galmix.errors import GalmixIOError, GalmixTypeError, GalmixValueError
from galmix.image.calibration import error_image, interpolate_sky
from galmix.sdss.ccd import BANDS, sdss_dark_variance, sdss_gain
from galmix.sdss.naming import check_field_id, frame_filename

__all__ = [
    "SDSS_FRAME_SHAPE",
    "SDSS_SKY_GRID_SHAPE",
    "SyntheticFrame",
    "make_frame_hdus",
    "write_synthetic_field",
    "write_synthetic_frame",
]

#: ``(ny, nx)`` of a real SDSS frame (1489 rows of 2048 columns).
SDSS_FRAME_SHAPE = (1489, 2048)
#: ``(ny, nx)`` of a typical ALLSKY grid (IDL ``[256, 192]``).
SDSS_SKY_GRID_SHAPE = (192, 256)

# typical sky level (counts per pixel) and calibration (nanomaggies per count)
_SKY_COUNTS = {"u": 30.0, "g": 60.0, "r": 120.0, "i": 170.0, "z": 150.0}
_NMGY_PER_COUNT = {"u": 0.0100, "g": 0.0037, "r": 0.0048, "i": 0.0066, "z": 0.0300}
# small offsets between the bands' pointings (the five filters are read at
# different times as the sky drifts over the camera), arcsec
_BAND_OFFSET = {
    "u": (-1.2, 0.4),
    "g": (-0.6, 0.2),
    "r": (0.0, 0.0),
    "i": (0.6, -0.2),
    "z": (1.2, -0.4),
}

_ASTRANS_COLUMNS = (
    "A", "B", "C", "D", "E", "F",
    "DROW0", "DROW1", "DROW2", "DROW3",
    "DCOL0", "DCOL1", "DCOL2", "DCOL3",
    "CSROW", "CSCOL", "CCROW", "CCCOL", "RICUT", "MJD", "AIRMASS",
)  # fmt: skip


@dataclass(frozen=True, eq=False)
class SyntheticFrame:
    """What a synthetic frame was made of.

    Attributes
    ----------
    image : ndarray
        Noise-free sky-subtracted image, nanomaggies.
    noisy_image : ndarray
        The image written to HDU0 (float64, before any storage rounding).
    sky : ndarray
        Full-size sky in counts (interpolated from ``sky_grid``).
    sky_grid, xinterp, yinterp, calib : ndarray
        The contents of HDU1/HDU2 (float64 copies).
    gain, dark_variance : float
    variance : ndarray
        True per-pixel variance in nanomaggies^2 (from the noise-free counts).
    header : astropy.io.fits.Header
        HDU0 header (with the WCS).
    sources : astropy.table.Table
        ``ra``, ``dec`` (deg), ``x``, ``y`` (0-based pixels), ``flux``
        (nanomaggies), ``sigma`` (arcsec, intrinsic Gaussian), ``z``.
    path : Path or None
    """

    image: np.ndarray
    noisy_image: np.ndarray
    sky: np.ndarray
    sky_grid: np.ndarray
    xinterp: np.ndarray
    yinterp: np.ndarray
    calib: np.ndarray
    gain: float
    dark_variance: float
    variance: np.ndarray
    header: Any
    sources: Any
    path: Path | None = None


def _floatcompress(x: np.ndarray, bits: int = 10) -> np.ndarray:
    """Keep ``bits`` significant binary digits of the mantissa (SDSS FLOATCOMPRESS-like)."""
    m, e = np.frexp(x)
    return np.ldexp(np.round(m * 2.0**bits) / 2.0**bits, e)


def _wcs_header(
    shape: tuple[int, int],
    ra: float,
    dec: float,
    pixel_scale: float,
    rotation_deg: float,
    sip: bool,
) -> Any:
    from astropy.io import fits

    ny, nx = shape
    s = pixel_scale / 3600.0
    th = np.radians(rotation_deg)
    # north up, east left (CD1_1 < 0) rotated by rotation_deg
    cd = np.array([[-s * np.cos(th), s * np.sin(th)], [s * np.sin(th), s * np.cos(th)]])
    hdr = fits.Header()
    hdr["CTYPE1"] = ("RA---TAN-SIP" if sip else "RA---TAN", "WCS header type")
    hdr["CTYPE2"] = ("DEC--TAN-SIP" if sip else "DEC--TAN", "WCS header type")
    hdr["CUNIT1"] = ("deg", "WCS header units")
    hdr["CUNIT2"] = ("deg", "WCS header units")
    hdr["CRPIX1"] = ((nx + 1) / 2.0, "Column Pixel Coordinate of Reference")
    hdr["CRPIX2"] = ((ny + 1) / 2.0, "Row Pixel Coordinate of Reference")
    hdr["CRVAL1"] = (float(ra), "RA (deg) at reference point")
    hdr["CRVAL2"] = (float(dec), "DEC (deg) at reference point")
    hdr["CD1_1"] = float(cd[0, 0])
    hdr["CD1_2"] = float(cd[0, 1])
    hdr["CD2_1"] = float(cd[1, 0])
    hdr["CD2_2"] = float(cd[1, 1])
    hdr["RADECSYS"] = ("ICRS", "International Celestial Ref. System")  # SDSS's (old) spelling
    hdr["EQUINOX"] = 2000.0
    if sip:
        hdr["A_ORDER"] = 2
        hdr["B_ORDER"] = 2
        hdr["A_0_2"] = 2.0e-6
        hdr["A_1_1"] = -1.5e-6
        hdr["A_2_0"] = 3.0e-6
        hdr["B_0_2"] = -2.5e-6
        hdr["B_1_1"] = 1.0e-6
        hdr["B_2_0"] = 1.5e-6
    return hdr


def _gaussian_image(
    shape: tuple[int, int], x: float, y: float, sigma_pix: float, flux: float
) -> np.ndarray:
    """A round Gaussian integrated exactly over square pixels (0-based centres)."""
    from scipy.special import erf

    ny, nx = shape
    xe = np.arange(nx + 1) - 0.5
    ye = np.arange(ny + 1) - 0.5
    cx = 0.5 * erf((xe - x) / (np.sqrt(2.0) * sigma_pix))
    cy = 0.5 * erf((ye - y) / (np.sqrt(2.0) * sigma_pix))
    return flux * np.outer(np.diff(cy), np.diff(cx))


def _as_rng(rng: Any, seed: Any) -> np.random.Generator:
    if rng is not None:
        if not isinstance(rng, np.random.Generator):
            raise GalmixTypeError(f"rng must be a numpy.random.Generator, got {type(rng).__name__}")
        return rng
    return np.random.default_rng(seed)


def _default_sources(
    ra: float,
    dec: float,
    shape: tuple[int, int],
    pixel_scale: float,
    rng: np.random.Generator,
    n: int,
) -> Any:
    from astropy.table import Table

    ny, nx = shape
    half_x = 0.35 * nx * pixel_scale / 3600.0
    half_y = 0.35 * ny * pixel_scale / 3600.0
    ddec = rng.uniform(-half_y, half_y, n)
    dra = rng.uniform(-half_x, half_x, n) / np.cos(np.radians(dec))
    return Table(
        {
            "ra": ra + dra,
            "dec": dec + ddec,
            "flux": rng.uniform(5.0, 60.0, n),
            "sigma": rng.uniform(0.3, 1.2, n),
            "z": np.round(rng.uniform(0.02, 0.6, n), 4),
        }
    )


def make_frame_hdus(
    band: str = "r",
    run: int = 3813,
    camcol: int = 5,
    field: int = 23,
    *,
    rerun: str = "301",
    shape: tuple[int, int] = (150, 200),
    bin_size: int = 8,
    ra: float = 180.5,
    dec: float = 45.5,
    pixel_scale: float = 0.396,
    rotation_deg: float = 90.0,
    sip: bool = False,
    sources: Any = None,
    nsources: int = 6,
    psf_fwhm: float = 1.4,
    sky_counts: float | None = None,
    nmgy_per_count: float | None = None,
    noise: bool = True,
    image_dtype: str = "float32",
    floatcompress: bool = True,
    calib_2d: bool = False,
    short_sky_grid: bool = True,
    astrans: bool = True,
    rng: np.random.Generator | None = None,
    seed: int | None = None,
) -> tuple[Any, SyntheticFrame]:
    """Build the HDUs of a synthetic SDSS frame and its truth.

    Parameters
    ----------
    band, run, camcol, field, rerun
        Identity (written to the header and asTrans table; gain and dark
        variance come from the SDSS table for this band/camcol/run).
    shape : tuple of int
        ``(ny, nx)``; SDSS uses ``(1489, 2048)``, the default is small.
    bin_size : int
        Image pixels per sky-grid cell (8 in SDSS).
    ra, dec : float
        Pointing of the image centre, degrees.
    pixel_scale : float
        Arcsec per pixel.
    rotation_deg : float
        Rotation of the pixel grid from north-up/east-left; the default 90
        gives the CD matrix of real frames (``CD1_1 ~ 0``, ``CD1_2 ~ +0.396"``:
        SDSS scans along great circles, so columns run along declination).
    sip : bool
        Write a ``TAN-SIP`` WCS with small quadratic distortion.
    sources : astropy Table or mapping of columns, optional
        ``ra``, ``dec``, ``flux`` (nanomaggies, this band), ``sigma`` (arcsec,
        intrinsic Gaussian width); optional ``z``. Default: ``nsources`` random
        ones.
    psf_fwhm : float
        Gaussian PSF FWHM in arcsec.
    sky_counts, nmgy_per_count : float, optional
        Mean sky (counts) and calibration; default typical SDSS values.
    noise : bool
        Add noise with variance ``dn / gain + dark_variance`` (counts).
    image_dtype : {"float32", "float64", "int16", "uint16"}
        Storage of HDU0 (SDSS: float32; the integer types are scaled with
        BSCALE/BZERO).
    floatcompress : bool
        Truncate float32 pixel values to 10 significant bits, as SDSS does.
    calib_2d : bool
        Store HDU1 as a ``(1, nx)`` image instead of a vector.
    short_sky_grid : bool
        Make ALLSKY end before the last image rows (constant extrapolation).
    astrans : bool
        Add the HDU3 asTrans table.
    rng, seed
        Random generator or seed (sources and noise).

    Returns
    -------
    (astropy.io.fits.HDUList, SyntheticFrame)
    """
    from astropy.io import fits
    from astropy.table import Table
    from astropy.wcs import WCS as AstropyWCS

    if band not in BANDS:
        raise GalmixValueError(f"band must be one of {', '.join(BANDS)}, got {band!r}")
    fid = check_field_id(run, camcol, field)
    ny, nx = (int(shape[0]), int(shape[1]))
    if ny < 4 or nx < 4:
        raise GalmixValueError(f"shape must be at least (4, 4), got {shape!r}")
    if int(bin_size) < 1:
        raise GalmixValueError(f"bin_size must be >= 1, got {bin_size!r}")
    if image_dtype not in ("float32", "float64", "int16", "uint16"):
        raise GalmixValueError(
            f"image_dtype must be float32, float64, int16 or uint16, got {image_dtype!r}"
        )
    gen = _as_rng(rng, seed)
    gain = sdss_gain(band, fid.camcol, fid.run)
    dvar = sdss_dark_variance(band, fid.camcol, fid.run)
    b = int(bin_size)

    # --- sky grid (counts) and its interpolation coordinates
    nxg = int(np.ceil(nx / b))
    y_off = 2 * b  # the grid starts two cells before the frame (runs are continuous)
    nyg_full = int(np.ceil((ny + y_off) / b)) + 2
    nyg = nyg_full - 4 if short_sky_grid else nyg_full
    xinterp = (np.arange(nx) - (b - 1) / 2.0) / b
    yinterp = (np.arange(ny) + y_off - (b - 1) / 2.0) / b
    level = _SKY_COUNTS[band] if sky_counts is None else float(sky_counts)
    gy, gx = np.mgrid[0:nyg, 0:nxg].astype(float)
    sky_grid = level * (
        1.0 + 0.04 * np.sin(2 * np.pi * gx / max(nxg, 2)) + 0.03 * (gy / max(nyg - 1, 1)) - 0.015
    )
    sky_grid = sky_grid.astype(np.float32).astype(np.float64)
    xinterp = xinterp.astype(np.float32).astype(np.float64)
    yinterp = yinterp.astype(np.float32).astype(np.float64)
    sky = interpolate_sky(sky_grid, xinterp, yinterp)

    # --- calibration vector (nanomaggies per count): calibration x flat field
    c0 = _NMGY_PER_COUNT[band] if nmgy_per_count is None else float(nmgy_per_count)
    xs = np.arange(nx)
    calib = c0 * (1.0 + 0.02 * np.cos(2 * np.pi * xs / nx) + 0.003 * gen.standard_normal(nx))
    calib = calib.astype(np.float32).astype(np.float64)

    # --- WCS and sources
    dra_arcsec, ddec_arcsec = _BAND_OFFSET[band]
    ra_b = ra + dra_arcsec / 3600.0 / np.cos(np.radians(dec))
    dec_b = dec + ddec_arcsec / 3600.0
    whdr = _wcs_header((ny, nx), ra_b, dec_b, pixel_scale, rotation_deg, sip)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # RADECSYS -> RADESYS "fix" notice
        awcs = AstropyWCS(whdr)
    if sources is None:
        src = _default_sources(ra, dec, (ny, nx), pixel_scale, gen, int(nsources))
    else:
        src = Table(sources) if not isinstance(sources, Table) else sources.copy()
        for col in ("ra", "dec", "flux", "sigma"):
            if col not in src.colnames:
                raise GalmixValueError(f"sources must have a column {col!r}, has {src.colnames}")
    sx, sy = awcs.all_world2pix(np.asarray(src["ra"], float), np.asarray(src["dec"], float), 0)
    src["x"] = sx
    src["y"] = sy
    psf_sigma = psf_fwhm / (2.0 * np.sqrt(2.0 * np.log(2.0)))
    truth_img = np.zeros((ny, nx))
    for k in range(len(src)):
        sig_pix = np.hypot(float(src["sigma"][k]), psf_sigma) / pixel_scale
        truth_img += _gaussian_image(
            (ny, nx), float(sx[k]), float(sy[k]), sig_pix, float(src["flux"][k])
        )

    # --- noise in counts, then back to calibrated sky-subtracted units
    counts_true = truth_img / calib[None, :] + sky
    var_counts = np.maximum(counts_true, 0.0) / gain + dvar
    counts = counts_true + (gen.standard_normal((ny, nx)) * np.sqrt(var_counts) if noise else 0.0)
    noisy = (counts - sky) * calib[None, :]
    variance = error_image(truth_img, calib, sky, gain, dvar) ** 2

    stored = noisy.astype(np.float32)
    if floatcompress and image_dtype == "float32":
        stored = _floatcompress(stored.astype(np.float64)).astype(np.float32)

    # --- HDU0
    hdr = fits.Header()
    hdr["ORIGIN"] = ("SDSS", "galmix synthetic frame in the SDSS frame layout")
    hdr["TELESCOP"] = "2.5m"
    hdr["RUN"] = (fid.run, "Imaging run number")
    # real frames carry the field number as FRAME (there is no FIELD keyword)
    hdr["FRAME"] = (fid.field, "Frame sequence number within the run")
    hdr["CAMCOL"] = (fid.camcol, "Column in the imaging camera")
    hdr["FILTER"] = (band, "filter used")
    hdr["RERUN"] = (str(rerun), "Photometric reduction version")
    hdr["EXPTIME"] = (53.907456, "Exposure time (seconds)")
    hdr["NODE"] = (95.0, "RA of the great circle's ascending node (deg)")
    hdr["INCL"] = (45.0, "Great circle's inclination wrt cel. eq. (deg)")
    hdr["BUNIT"] = ("nanomaggy", "1 nanomaggy = 3.631e-6 Jy")
    hdr["NMGY"] = (float(np.mean(calib)), "Calibration factor [nMgy per count]")
    hdr["NMGYIVAR"] = (
        1.0 / (0.01 * float(np.mean(calib))) ** 2,
        "Calibration factor inverse variance",
    )
    hdr.update(whdr)
    hdr["HISTORY"] = "galmix.sdss.synthetic: not real SDSS data"
    if image_dtype == "float32":
        hdu0 = fits.PrimaryHDU(stored, header=hdr)
    elif image_dtype == "float64":
        hdu0 = fits.PrimaryHDU(noisy.astype(np.float64), header=hdr)
    else:
        hdu0 = fits.PrimaryHDU(noisy.astype(np.float64), header=hdr)
        lo, hi = float(np.min(noisy)), float(np.max(noisy))
        bscale = (hi - lo) / 65000.0 if hi > lo else 1.0
        if image_dtype == "int16":
            hdu0.scale("int16", bscale=bscale, bzero=lo + 32768.0 * bscale)
        else:
            # unsigned 16-bit: stored int16 with BZERO = 32768 for the integer part
            q = np.round((noisy - lo) / bscale).astype(np.uint16)
            raw = (q.astype(np.int32) - 32768).astype(np.int16)
            hdu0 = fits.PrimaryHDU(raw, header=hdr)
            hdu0.header["BSCALE"] = bscale
            hdu0.header["BZERO"] = 32768.0 * bscale + lo
            hdu0.header["HISTORY"] = "uint16 pixels: value = BZERO + BSCALE * (stored)"

    # --- HDU1: calibration vector
    cal32 = calib.astype(np.float32)
    hdu1 = fits.ImageHDU(cal32[None, :] if calib_2d else cal32)

    # --- HDU2: sky grid table (IDL ALLSKY[nx_grid, ny_grid] -> TDIM '(nxg,nyg)')
    cols = [
        fits.Column(
            name="ALLSKY",
            format=f"{nxg * nyg}E",
            dim=f"({nxg},{nyg})",
            array=sky_grid.astype(np.float32)[None, :, :],
        ),
        fits.Column(name="XINTERP", format=f"{nx}E", array=xinterp.astype(np.float32)[None, :]),
        fits.Column(name="YINTERP", format=f"{ny}E", array=yinterp.astype(np.float32)[None, :]),
    ]
    hdu2 = fits.BinTableHDU.from_columns(cols)
    hdus = [hdu0, hdu1, hdu2]

    # --- HDU3: asTrans (mu/nu great-circle coordinates, linear terms ~ pixel scale)
    if astrans:
        s = pixel_scale / 3600.0
        vals = {
            "A": ra, "B": 0.0, "C": s, "D": dec, "E": s, "F": 0.0,
            "DROW0": 0.0, "DROW1": 0.0, "DROW2": 0.0, "DROW3": 0.0,
            "DCOL0": 0.0, "DCOL1": 0.0, "DCOL2": 0.0, "DCOL3": 0.0,
            "CSROW": 0.0, "CSCOL": 0.0, "CCROW": 0.0, "CCCOL": 0.0,
            "RICUT": 0.3, "MJD": 53000.0, "AIRMASS": 1.2,
        }  # fmt: skip
        tcols = [
            fits.Column(name="RUN", format="J", array=np.array([fid.run], np.int32)),
            fits.Column(name="RERUN", format="3A", array=np.array([str(rerun)[:3]])),
            fits.Column(name="CAMCOL", format="J", array=np.array([fid.camcol], np.int32)),
            fits.Column(name="FILTER", format="1A", array=np.array([band])),
            fits.Column(name="NODE", format="D", array=np.array([95.0])),
            fits.Column(name="INCL", format="D", array=np.array([45.0])),
            fits.Column(name="NAXIS", format="2J", array=np.array([[nx, ny]], np.int32)),
            fits.Column(name="FIELD", format="J", array=np.array([fid.field], np.int32)),
        ]
        tcols += [
            fits.Column(name=n, format="D", array=np.array([vals[n]])) for n in _ASTRANS_COLUMNS
        ]
        tcols += [
            fits.Column(name="MUERR", format="E", array=np.array([0.03], np.float32)),
            fits.Column(name="NUERR", format="E", array=np.array([0.03], np.float32)),
        ]
        hdus.append(fits.BinTableHDU.from_columns(tcols))

    truth = SyntheticFrame(
        image=truth_img,
        noisy_image=noisy,
        sky=sky,
        sky_grid=sky_grid,
        xinterp=xinterp,
        yinterp=yinterp,
        calib=calib,
        gain=gain,
        dark_variance=dvar,
        variance=variance,
        header=hdr,
        sources=src,
    )
    return fits.HDUList(hdus), truth


def _write_hdul(hdul: Any, path: Path, overwrite: bool) -> None:
    if path.exists() and not overwrite:
        raise GalmixIOError(f"path: {str(path)!r} exists (pass overwrite=True)")
    buf = io.BytesIO()
    hdul.writeto(buf)
    data = buf.getvalue()
    if path.suffix == ".bz2":
        data = bz2.compress(data, compresslevel=9)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)


def write_synthetic_frame(
    path: str | os.PathLike, *, overwrite: bool = True, **kwargs: Any
) -> SyntheticFrame:
    """Write a synthetic SDSS frame to ``path`` (bzip2-compressed if it ends in ``.bz2``).

    Keyword arguments are those of :func:`make_frame_hdus`; band, run, camcol
    and field default to the values in an SDSS-style file name.

    Returns
    -------
    SyntheticFrame
        The truth, with ``path`` set.
    """
    from galmix.sdss.naming import parse_frame_filename

    p = Path(path)
    try:
        fid = parse_frame_filename(p)
        for key, value in zip(("band", "run", "camcol", "field"), fid):
            kwargs.setdefault(key, value)
    except GalmixValueError:
        pass
    hdul, truth = make_frame_hdus(**kwargs)
    _write_hdul(hdul, p, overwrite)
    return dataclasses.replace(truth, path=p)


def write_synthetic_field(
    directory: str | os.PathLike,
    run: int = 3813,
    camcol: int = 5,
    field: int = 23,
    *,
    bands: Iterable[str] = BANDS,
    sources: Any = None,
    nsources: int = 6,
    compress: bool = True,
    seed: int | None = 0,
    band_fluxes: Mapping[str, float] | None = None,
    **kwargs: Any,
) -> tuple[dict[str, SyntheticFrame], Any]:
    """Write one field in several bands, with the same sources in every band.

    Parameters
    ----------
    directory : path
        Where to write ``frame-{band}-{run:06d}-{camcol}-{field:04d}.fits[.bz2]``.
    run, camcol, field : int
    bands : iterable of str
    sources : astropy Table, optional
        ``ra``, ``dec``, ``flux`` (r-band nanomaggies), ``sigma``; default random.
    compress : bool
        Write ``.fits.bz2`` (as the SAS serves them) or ``.fits``.
    seed : int
        Seed for sources and noise (each band gets its own stream).
    band_fluxes : mapping, optional
        Flux scale per band relative to the ``flux`` column (default a
        red-galaxy-like colour).
    **kwargs
        Passed to :func:`make_frame_hdus` (``shape``, ``ra``, ``dec``, ...).

    Returns
    -------
    (dict band -> SyntheticFrame, astropy.table.Table of sources)
    """
    from astropy.table import Table

    seq = np.random.SeedSequence(seed)
    children = seq.spawn(len(tuple(bands)) + 1)
    src_rng = np.random.default_rng(children[0])
    shape = kwargs.get("shape", (150, 200))
    ra = kwargs.get("ra", 180.5)
    dec = kwargs.get("dec", 45.5)
    scale = kwargs.get("pixel_scale", 0.396)
    src = (
        _default_sources(ra, dec, shape, scale, src_rng, nsources)
        if sources is None
        else Table(sources)
    )
    colours = {"u": 0.15, "g": 0.45, "r": 1.0, "i": 1.3, "z": 1.5}
    if band_fluxes is not None:
        colours.update(band_fluxes)
    out = {}
    suffix = ".fits.bz2" if compress else ".fits"
    d = Path(directory)
    for child, band in zip(children[1:], bands):
        bsrc = src.copy()
        bsrc["flux"] = np.asarray(src["flux"], float) * colours[band]
        path = d / frame_filename(band, run, camcol, field, suffix=suffix)
        out[band] = write_synthetic_frame(
            path,
            band=band,
            run=run,
            camcol=camcol,
            field=field,
            sources=bsrc,
            rng=np.random.default_rng(child),
            **kwargs,
        )
    return out, src
