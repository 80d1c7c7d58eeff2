"""Safe reading of a survey image (pixels, bad-pixel mask, header, WCS) from FITS."""

from __future__ import annotations

import logging
import os
import re
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from galmix.errors import GalmixIOError, GalmixValueError

__all__ = ["FitsImage", "read_image"]

log = logging.getLogger(__name__)


@dataclass(frozen=True, eq=False)
class FitsImage:
    """An image read from FITS.

    Attributes
    ----------
    data : ndarray
        float64 pixels ``[y, x]`` (BSCALE/BZERO applied); bad pixels keep
        their value (NaN stays NaN) and are listed in ``mask``.
    mask : ndarray of bool
        True where the pixel is not finite.
    header : astropy.io.fits.Header
        The image HDU's header.
    wcs : galmix.geometry.WCS or None
        Celestial WCS, None when the header has none.
    band : str
        ``FILTER`` (or ``BAND``/``FILTNAM``) header value, else the file stem.
    path : Path
        The file.
    hdu : int
        The HDU the pixels came from.
    saturation : float or None
        ``SATURATE`` header value (image units), if any.
    gain : float or None
        ``GAIN`` header value (e-/unit), if any.
    """

    data: np.ndarray
    mask: np.ndarray
    header: Any
    wcs: Any
    band: str
    path: Path
    hdu: int
    saturation: float | None
    gain: float | None

    @property
    def shape(self) -> tuple[int, int]:
        """``(ny, nx)``."""
        return self.data.shape  # type: ignore[return-value]


def read_image(path: str | os.PathLike, hdu: int | None = None) -> FitsImage:
    """Read a 2-d image, its header and WCS from a FITS file, safely.

    Parameters
    ----------
    path : str or Path
        FITS file (optionally gzip-compressed, or tile-compressed).
    hdu : int, optional
        HDU index; default: the first HDU holding a 2-d image.

    Returns
    -------
    FitsImage

    Raises
    ------
    GalmixIOError
        If the file is missing, not FITS, truncated or holds no 2-d image
        (the message names the file and the problem).

    Examples
    --------
    >>> import numpy as np, tempfile, os
    >>> from astropy.io import fits
    >>> p = os.path.join(tempfile.mkdtemp(), "img.fits")
    >>> fits.PrimaryHDU(np.ones((4, 5), dtype=">f4")).writeto(p)
    >>> im = read_image(p)
    >>> im.data.shape, im.data.dtype.name, im.wcs is None, im.band
    ((4, 5), 'float64', True, 'img')
    """
    from astropy.io import fits

    p = Path(path)
    if not p.is_file():
        raise GalmixIOError(f"{str(p)!r}: no such file")
    with open(p, "rb") as fh:
        head = fh.read(80)
    if head[:2] == b"\x1f\x8b":
        pass  # gzip: astropy decompresses
    elif not head.startswith(b"SIMPLE  ="):
        raise GalmixIOError(f"{str(p)!r} is not a FITS file (no SIMPLE card at the start)")
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            with fits.open(p, memmap=False, lazy_load_hdus=False) as hdul:
                index = _choose_hdu(hdul, hdu, p)
                h = hdul[index]
                data = h.data
                header = h.header.copy()
                if data is None:
                    raise GalmixIOError(f"{str(p)!r}: HDU {index} holds no data")
                data = np.array(data, dtype=np.float64)
        for w in caught:
            msg = str(w.message)
            if "truncated" in msg.lower():
                raise GalmixIOError(f"{str(p)!r} is truncated: {msg}")
    except GalmixIOError:
        raise
    except Exception as exc:
        raise GalmixIOError(f"cannot read {str(p)!r} as a FITS image: {exc}") from exc
    data = np.squeeze(data)
    if data.ndim != 2:
        raise GalmixIOError(f"{str(p)!r}: HDU {index} is not a 2-d image (shape {data.shape})")
    mask = ~np.isfinite(data)
    wcs = _read_wcs(header, p)
    return FitsImage(
        data=data,
        mask=mask,
        header=header,
        wcs=wcs,
        band=_band_name(header, p),
        path=p,
        hdu=index,
        saturation=_positive_float(header.get("SATURATE")),
        gain=_positive_float(header.get("GAIN")),
    )


def _choose_hdu(hdul: Any, hdu: int | None, path: Path) -> int:
    if hdu is not None:
        if not -len(hdul) <= int(hdu) < len(hdul):
            raise GalmixIOError(f"{str(path)!r} has {len(hdul)} HDU(s); hdu={hdu} does not exist")
        return int(hdu) % len(hdul)
    for i, h in enumerate(hdul):
        if getattr(h, "is_image", False) and h.header.get("NAXIS", 0) >= 2:
            shape = getattr(h, "shape", ())
            if len([s for s in shape if s > 1]) == 2:
                return i
        if type(h).__name__ == "CompImageHDU":
            return i
    raise GalmixIOError(f"{str(path)!r} holds no 2-d image HDU")


def _read_wcs(header: Any, path: Path) -> Any:
    from galmix.geometry import WCS

    if not any(str(header.get(k, "")).strip() for k in ("CTYPE1", "CTYPE2")):
        log.warning("%s: no WCS in the header; catalog will have no ra/dec", path.name)
        return None
    try:
        wcs = WCS.from_fits(header)
    except (ValueError, TypeError, OSError) as exc:
        log.warning("%s: unusable WCS (%s); catalog will have no ra/dec", path.name, exc)
        return None
    return wcs


_BAND_KEYS = ("FILTER", "BAND", "FILTNAM", "FILTER1", "FILTNAME")


def _band_name(header: Any, path: Path) -> str:
    for key in _BAND_KEYS:
        value = header.get(key)
        if value is not None and str(value).strip():
            return _clean_name(str(value))
    stem = path.name
    for suffix in (".gz", ".fz", ".fits", ".fit", ".fts"):
        if stem.lower().endswith(suffix):
            stem = stem[: -len(suffix)]
    return _clean_name(stem)


def _clean_name(text: str) -> str:
    """A band name usable as a column prefix (letters, digits, underscore)."""
    name = re.sub(r"[^0-9A-Za-z_]+", "_", text.strip()).strip("_")
    if not name:
        name = "band"
    if name[0].isdigit():
        name = "b" + name
    return name


def _positive_float(value: Any) -> float | None:
    try:
        v = float(value)
    except (TypeError, ValueError):
        return None
    if not np.isfinite(v) or v <= 0:
        return None
    return v


def _check_shape(name: str, array: np.ndarray, shape: tuple[int, ...]) -> None:
    if array.shape != shape:
        raise GalmixValueError(f"{name} must have shape {shape}, got {array.shape}")
