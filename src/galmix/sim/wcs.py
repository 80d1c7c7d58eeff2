"""FITS WCS headers for simulated images (TAN and TAN-SIP)."""

from __future__ import annotations

from typing import Any

import numpy as np

from galmix.errors import GalmixValueError

__all__ = ["DEFAULT_SIP", "make_wcs_header"]

#: Mild quadratic SIP distortion (about 0.25-0.4 pixel at 500 px from CRPIX).
DEFAULT_SIP: dict[str, float] = {
    "A_2_0": 1.5e-6,
    "A_1_1": 5.0e-7,
    "A_0_2": -1.0e-6,
    "B_2_0": -8.0e-7,
    "B_1_1": -6.0e-7,
    "B_0_2": 1.2e-6,
}


def make_wcs_header(
    shape: tuple[int, int],
    pixel_scale: float = 0.2,
    ra: float = 150.0,
    dec: float = 2.0,
    rotation_deg: float = 0.0,
    crpix_offset: tuple[float, float] = (0.0, 0.0),
    sip: dict[str, float] | bool | None = True,
) -> Any:
    """A celestial FITS header (north up, east left, optionally rotated, with SIP).

    Parameters
    ----------
    shape : (ny, nx)
        Image shape; ``CRPIX`` is the image centre (plus ``crpix_offset``).
    pixel_scale : float
        Arcsec per pixel.
    ra, dec : float
        Reference point (degrees).
    rotation_deg : float
        Rotation of the pixel grid on the sky.
    crpix_offset : (dx, dy)
        Shift of the reference pixel (dithers between bands).
    sip : dict, True, False or None
        SIP ``A_p_q``/``B_p_q`` coefficients (order 2 or 3); ``True`` uses
        :data:`DEFAULT_SIP`; ``False``/``None`` gives a plain TAN header.

    Returns
    -------
    astropy.io.fits.Header

    Examples
    --------
    >>> h = make_wcs_header((100, 100), sip=False)
    >>> h["CTYPE1"]
    'RA---TAN'
    """
    from astropy.io import fits

    ny, nx = int(shape[0]), int(shape[1])
    if ny < 1 or nx < 1:
        raise GalmixValueError(f"shape must be positive, got {shape!r}")
    if not pixel_scale > 0:
        raise GalmixValueError(f"pixel_scale must be positive, got {pixel_scale!r}")
    th = np.deg2rad(rotation_deg)
    s = pixel_scale / 3600.0
    cd = s * np.array([[-np.cos(th), np.sin(th)], [np.sin(th), np.cos(th)]])
    coeffs = DEFAULT_SIP if sip is True else (sip or {})
    suffix = "-SIP" if coeffs else ""
    h = fits.Header()
    h["NAXIS"] = 2
    h["NAXIS1"] = nx
    h["NAXIS2"] = ny
    h["CTYPE1"] = "RA---TAN" + suffix
    h["CTYPE2"] = "DEC--TAN" + suffix
    h["CRPIX1"] = (nx + 1) / 2.0 + float(crpix_offset[0])
    h["CRPIX2"] = (ny + 1) / 2.0 + float(crpix_offset[1])
    h["CRVAL1"] = float(ra)
    h["CRVAL2"] = float(dec)
    h["CD1_1"] = cd[0, 0]
    h["CD1_2"] = cd[0, 1]
    h["CD2_1"] = cd[1, 0]
    h["CD2_2"] = cd[1, 1]
    h["CUNIT1"] = "deg"
    h["CUNIT2"] = "deg"
    h["RADESYS"] = "ICRS"
    h["EQUINOX"] = 2000.0
    if coeffs:
        order = max(int(k.split("_")[1]) + int(k.split("_")[2]) for k in coeffs)
        h["A_ORDER"] = order
        h["B_ORDER"] = order
        for k, v in coeffs.items():
            h[k] = float(v)
    return h
