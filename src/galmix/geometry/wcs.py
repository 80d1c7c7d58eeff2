"""Celestial WCS with distortions (TAN-SIP, TPV, ...), wrapping astropy."""

from __future__ import annotations

import os
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from galmix.errors import GalmixIOError, GalmixTypeError, GalmixValueError
from galmix.geometry.jacobian import Jacobian

__all__ = ["WCS", "read_header"]

_DEG2ARCSEC = 3600.0
# central-difference step in pixels for the local Jacobian
_STEP = 0.01


def read_header(path_or_header: Any, hdu: int | str = 0) -> Any:
    """Read a FITS header from a file, a header-only ``.hdr`` file or pass one through.

    Handles header files whose length is not a multiple of 2880 bytes (as
    written by some tools), which ``astropy.io.fits.Header.fromfile`` rejects.

    Parameters
    ----------
    path_or_header : str, Path, astropy.io.fits.Header or HDUList
        Where to read the header from.
    hdu : int or str
        HDU index or name for multi-extension files.

    Returns
    -------
    astropy.io.fits.Header
    """
    from astropy.io import fits

    if isinstance(path_or_header, fits.Header):
        return path_or_header
    if isinstance(path_or_header, fits.HDUList):
        return path_or_header[hdu].header
    if hasattr(path_or_header, "header") and isinstance(path_or_header.header, fits.Header):
        return path_or_header.header
    if not isinstance(path_or_header, (str, os.PathLike)):
        raise GalmixTypeError(
            "path_or_header must be a path, an astropy Header or HDUList, "
            f"got {type(path_or_header).__name__}"
        )
    path = Path(path_or_header)
    if not path.exists():
        raise GalmixIOError(f"path_or_header: no such file {str(path)!r}")
    raw = path.read_bytes()[:80]
    if not raw.startswith(b"SIMPLE") and not raw.startswith(b"XTENSION"):
        raise GalmixIOError(f"path_or_header: {str(path)!r} is not a FITS file or header")
    if path.stat().st_size % 2880 != 0 and hdu in (0, "PRIMARY"):
        # header-only file not padded to FITS blocks: parse the cards directly
        text = path.read_bytes().decode("ascii", errors="replace")
        return fits.Header.fromstring(text)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            with fits.open(path, memmap=False) as hdul:
                return hdul[hdu].header.copy()
    except (OSError, IndexError, KeyError, ValueError) as exc:
        if hdu not in (0, "PRIMARY"):
            raise GalmixIOError(f"cannot read HDU {hdu!r} of {str(path)!r}: {exc}") from exc
        try:
            text = path.read_bytes().decode("ascii", errors="replace")
            return fits.Header.fromstring(text)
        except Exception as exc2:  # pragma: no cover - defensive
            raise GalmixIOError(f"cannot read a FITS header from {str(path)!r}: {exc2}") from exc2


class WCS:
    """A celestial world coordinate system honouring the header's distortions.

    Wraps :class:`astropy.wcs.WCS` (which applies SIP, TPV, TNX/ZPX and
    lookup-table distortions). Pixel positions are 0-based ``(x, y)``;
    world positions are ``(ra, dec)`` in degrees.

    Parameters
    ----------
    astropy_wcs : astropy.wcs.WCS
        A celestial WCS.
    shape : tuple of int, optional
        ``(ny, nx)`` of the image it describes, if known.

    Examples
    --------
    >>> from astropy.io import fits
    >>> hdr = fits.Header({"CTYPE1": "RA---TAN", "CTYPE2": "DEC--TAN",
    ...                    "CRPIX1": 50.5, "CRPIX2": 50.5, "CRVAL1": 150.0,
    ...                    "CRVAL2": 2.0, "CD1_1": -0.2 / 3600, "CD1_2": 0.0,
    ...                    "CD2_1": 0.0, "CD2_2": 0.2 / 3600})
    >>> wcs = WCS.from_fits(hdr)
    >>> jac = wcs.jacobian(49.5, 49.5)
    >>> [round(float(c), 6) for c in jac.matrix.ravel()]
    [0.2, 0.0, 0.0, 0.2]
    """

    def __init__(
        self,
        astropy_wcs: Any,
        shape: tuple[int, int] | None = None,
        header_ctype: str | None = None,
    ) -> None:
        from astropy.wcs import WCS as AstropyWCS

        if not isinstance(astropy_wcs, AstropyWCS):
            raise GalmixTypeError(
                f"astropy_wcs must be an astropy.wcs.WCS, got {type(astropy_wcs).__name__}"
            )
        if not astropy_wcs.has_celestial or astropy_wcs.naxis != 2:
            ctype = list(astropy_wcs.wcs.ctype)
            raise GalmixValueError(f"WCS must be a 2-d celestial WCS, got CTYPE={ctype!r}")
        self._wcs = astropy_wcs
        # astropy rewrites TPV/TNX/ZPX as TAN internally: keep the header's type
        self._header_ctype = header_ctype or str(astropy_wcs.wcs.ctype[0])
        self.shape = None if shape is None else (int(shape[0]), int(shape[1]))

    # ------------------------------------------------------------------ I/O
    @classmethod
    def from_fits(cls, path_or_header: Any, hdu: int | str = 0) -> WCS:
        """Read the WCS of a FITS file, header file or ``astropy`` header.

        Parameters
        ----------
        path_or_header : str, Path, astropy.io.fits.Header, HDUList or astropy WCS
            The source.
        hdu : int or str
            HDU for multi-extension files.

        Raises
        ------
        GalmixIOError
            If the file cannot be read.
        GalmixValueError
            If the header has no celestial WCS or an unsupported projection.
        """
        from astropy.wcs import WCS as AstropyWCS

        if isinstance(path_or_header, AstropyWCS):
            return cls(path_or_header)
        header = read_header(path_or_header, hdu=hdu)
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                awcs = AstropyWCS(header, relax=True)
                awcs.all_pix2world(np.array([[1.0, 1.0]]), 0)
        except Exception as exc:
            raise GalmixValueError(
                f"path_or_header: cannot build a WCS from the header "
                f"(CTYPE1={header.get('CTYPE1')!r}): {exc}"
            ) from exc
        shape = None
        if header.get("NAXIS1") and header.get("NAXIS2"):
            shape = (int(header["NAXIS2"]), int(header["NAXIS1"]))
        if shape is None and header.get("ZNAXIS1"):
            shape = (int(header["ZNAXIS2"]), int(header["ZNAXIS1"]))
        return cls(
            awcs.celestial if awcs.naxis != 2 else awcs,
            shape=shape,
            header_ctype=str(header.get("CTYPE1", "")),
        )

    def to_header(self) -> Any:
        """The WCS as a FITS header (SIP kept with ``relax=True``)."""
        return self._wcs.to_header(relax=True)

    @property
    def astropy(self) -> Any:
        """The wrapped :class:`astropy.wcs.WCS`."""
        return self._wcs

    @property
    def has_distortion(self) -> bool:
        """True if the WCS has SIP, TPV or table distortions."""
        w = self._wcs
        if w.sip is not None or w.cpdis1 is not None or w.det2im1 is not None:
            return True
        ctype = self._header_ctype.upper()
        return any(t in ctype for t in ("SIP", "TPV", "TNX", "ZPX"))

    # ----------------------------------------------------------- transforms
    def pixel_to_world(self, x: Any, y: Any) -> tuple[Any, Any]:
        """0-based pixel ``(x, y)`` to ``(ra, dec)`` in degrees (vectorised)."""
        x = np.asarray(x, dtype=float)
        y = np.asarray(y, dtype=float)
        ra, dec = self._wcs.all_pix2world(x, y, 0)
        if np.ndim(ra) == 0:
            return float(ra), float(dec)
        return np.asarray(ra), np.asarray(dec)

    def world_to_pixel(self, ra: Any, dec: Any) -> tuple[Any, Any]:
        """``(ra, dec)`` in degrees to 0-based pixel ``(x, y)`` (vectorised)."""
        ra = np.asarray(ra, dtype=float)
        dec = np.asarray(dec, dtype=float)
        x, y = self._wcs.all_world2pix(
            ra, dec, 0, tolerance=1e-10, maxiter=100, adaptive=False, quiet=True
        )
        if np.ndim(x) == 0:
            return float(x), float(y)
        return np.asarray(x), np.asarray(y)

    def jacobian_elements(self, x: Any, y: Any) -> np.ndarray:
        """Local Jacobian elements at many positions.

        Returns
        -------
        ndarray, shape ``(..., 4)``
            ``dudx, dudy, dvdx, dvdy`` in arcsec per pixel, in the tangent
            plane at each position (``u`` west, ``v`` north).
        """
        x = np.asarray(x, dtype=float)
        y = np.asarray(y, dtype=float)
        x, y = np.broadcast_arrays(x, y)
        shp = x.shape
        xf = x.ravel()
        yf = y.ravel()
        h = _STEP
        ra0, dec0 = self._wcs.all_pix2world(xf, yf, 0)
        out = np.empty((xf.size, 4))
        for col, (dx, dy) in enumerate(((1, 0), (0, 1))):
            rap, decp = self._wcs.all_pix2world(xf + dx * h, yf + dy * h, 0)
            ram, decm = self._wcs.all_pix2world(xf - dx * h, yf - dy * h, 0)
            up, vp = _gnomonic(rap, decp, ra0, dec0)
            um, vm = _gnomonic(ram, decm, ra0, dec0)
            out[:, col] = (up - um) / (2 * h)
            out[:, 2 + col] = (vp - vm) / (2 * h)
        return out.reshape((*shp, 4))

    def jacobian(self, x: float, y: float) -> Jacobian:
        """Local :class:`Jacobian` at pixel ``(x, y)``, origin at ``(x, y)``.

        Includes the distortion: its determinant is the true pixel area there.
        """
        el = self.jacobian_elements(float(x), float(y))
        return Jacobian(el[0], el[1], el[2], el[3], x0=float(x), y0=float(y))

    def pixel_area_map(self, shape: tuple[int, int] | None = None) -> np.ndarray:
        """Pixel area (arcsec^2) at every pixel centre, shape ``(ny, nx)``.

        Large images are evaluated on a coarse grid and interpolated with a
        bicubic spline (distortion polynomials are smooth, so this is exact to
        far better than 1e-6 relative).
        """
        if shape is None:
            shape = self.shape
        if shape is None:
            raise GalmixValueError("shape is required: the WCS does not know its image size")
        ny, nx = (int(shape[0]), int(shape[1]))
        if ny <= 0 or nx <= 0:
            raise GalmixValueError(f"shape must be positive, got {shape!r}")
        if nx * ny <= 512 * 512:
            yy, xx = np.mgrid[0:ny, 0:nx].astype(float)
            el = self.jacobian_elements(xx, yy)
            return np.abs(el[..., 0] * el[..., 3] - el[..., 1] * el[..., 2])
        from scipy.interpolate import RectBivariateSpline

        step = 16
        gx = np.unique(np.concatenate([np.arange(0, nx, step), [nx - 1]])).astype(float)
        gy = np.unique(np.concatenate([np.arange(0, ny, step), [ny - 1]])).astype(float)
        yy, xx = np.meshgrid(gy, gx, indexing="ij")
        el = self.jacobian_elements(xx, yy)
        area = np.abs(el[..., 0] * el[..., 3] - el[..., 1] * el[..., 2])
        spline = RectBivariateSpline(gy, gx, area, kx=3, ky=3)
        return spline(np.arange(ny, dtype=float), np.arange(nx, dtype=float))

    def __repr__(self) -> str:
        ctype = "/".join(self._wcs.wcs.ctype)
        return f"WCS({ctype}, shape={self.shape}, distortion={self.has_distortion})"


def _gnomonic(ra: Any, dec: Any, ra0: Any, dec0: Any) -> tuple[Any, Any]:
    """Gnomonic projection about (ra0, dec0): ``u`` west, ``v`` north, arcsec."""
    r = np.radians
    ra, dec, ra0, dec0 = r(ra), r(dec), r(ra0), r(dec0)
    dra = ra - ra0
    cosc = np.sin(dec0) * np.sin(dec) + np.cos(dec0) * np.cos(dec) * np.cos(dra)
    xi = np.cos(dec) * np.sin(dra) / cosc
    eta = (np.cos(dec0) * np.sin(dec) - np.sin(dec0) * np.cos(dec) * np.cos(dra)) / cosc
    fac = np.degrees(1.0) * _DEG2ARCSEC
    return -xi * fac, eta * fac
