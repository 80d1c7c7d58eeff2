"""Documentation (unit, description) of every catalog column galmix writes."""

from __future__ import annotations

import re
from typing import Any

__all__ = ["COLUMN_DOCS", "annotate", "column_doc"]

#: column name -> (unit, description). Per-band columns carry a ``{band}_``
#: prefix in multi-band catalogs; :func:`column_doc` strips it.
COLUMN_DOCS: dict[str, tuple[str, str]] = {
    "id": ("", "object number, 1-based; equals the label in the segmentation map"),
    "x": (
        "pix",
        "0-based x of the flux-weighted barycentre over the detection footprint (SExtractor X_IMAGE - 1)",
    ),
    "y": (
        "pix",
        "0-based y of the flux-weighted barycentre over the detection footprint (SExtractor Y_IMAGE - 1)",
    ),
    "xwin": ("pix", "0-based windowed centroid x (SExtractor XWIN_IMAGE - 1)"),
    "ywin": ("pix", "0-based windowed centroid y (SExtractor YWIN_IMAGE - 1)"),
    "ra": ("deg", "right ascension of (x, y) through the image WCS (ICRS/FK5 as in the header)"),
    "dec": ("deg", "declination of (x, y) through the image WCS"),
    "a": ("pix", "semi-major axis of the footprint's second moments (SExtractor A_IMAGE)"),
    "b": ("pix", "semi-minor axis of the footprint's second moments (SExtractor B_IMAGE)"),
    "theta": ("rad", "position angle of the major axis, counter-clockwise from +x"),
    "x2": ("pix2", "footprint second moment <x^2> (SExtractor X2_IMAGE)"),
    "y2": ("pix2", "footprint second moment <y^2> (SExtractor Y2_IMAGE)"),
    "xy": ("pix2", "footprint second moment <xy> (SExtractor XY_IMAGE)"),
    "npix": ("pix", "number of pixels in the detection footprint above threshold"),
    "peak": ("image units", "peak background-subtracted pixel value in the footprint"),
    "xpeak": ("pix", "0-based x of the brightest pixel"),
    "ypeak": ("pix", "0-based y of the brightest pixel"),
    "xmin": ("pix", "footprint bounding box: smallest x (0-based)"),
    "xmax": ("pix", "footprint bounding box: largest x (0-based)"),
    "ymin": ("pix", "footprint bounding box: smallest y (0-based)"),
    "ymax": ("pix", "footprint bounding box: largest y (0-based)"),
    "flux_iso": ("image units", "isophotal flux: sum over the footprint (SExtractor FLUX_ISO)"),
    "flux_auto": (
        "image units",
        "Kron-like total flux in an elliptical aperture (SExtractor FLUX_AUTO)",
    ),
    "flux_auto_err": (
        "image units",
        "1-sigma error of flux_auto from the variance map (plus Poisson term when a gain is known)",
    ),
    "kron_radius": ("", "Kron first-moment radius r1 in units of a, b (SExtractor KRON_RADIUS)"),
    "kron_scale": ("", "scale of the AUTO ellipse in units of a, b: max(2.5 r1, 3.5)"),
    "flux_radius": (
        "pix",
        "radius of the circle holding half of flux_auto (SExtractor FLUX_RADIUS)",
    ),
    "flux_aper": ("image units", "flux in a circular aperture (radius in the table meta)"),
    "flux_aper_err": ("image units", "1-sigma error of the aperture flux"),
    "mag_auto": ("mag", "-2.5 log10(flux_auto) + zeropoint (NaN for non-positive flux)"),
    "mag_auto_err": ("mag", "1.0857 flux_auto_err / flux_auto"),
    "background": ("image units", "local background level at (x, y) that was subtracted"),
    "background_rms": ("image units", "background noise per pixel at (x, y)"),
    "snr_auto": ("", "flux_auto / flux_auto_err"),
    "flags": (
        "",
        "bitwise OR of galmix FLAGS from detection and photometry (decode with `galmix flags WORD`); 0 = clean",
    ),
    "detection_flags": ("", "FLAGS set by detection and segmentation"),
    "moments_flags": ("", "FLAGS from the adaptive-moments measurement"),
    "moments_flux": ("image units", "adaptive-moments flux"),
    "moments_T": (
        "arcsec2",
        "adaptive-moments size T = Iuu + Ivv (world coordinates; pix2 without WCS)",
    ),
    "moments_e1": ("", "adaptive-moments ellipticity e1 = (Iuu - Ivv) / T"),
    "moments_e2": ("", "adaptive-moments ellipticity e2 = 2 Iuv / T"),
    "moments_s2n": ("", "adaptive-moments signal-to-noise"),
    "fit_flags": (
        "",
        "FLAGS from the PSF-convolved model fit (NOT_MEASURED when no PSF or fitter)",
    ),
    "fit_flux": ("image units", "total flux of the fitted model"),
    "fit_flux_err": ("image units", "1-sigma error of fit_flux"),
    "fit_half_light_radius": ("arcsec", "half-light radius of the fitted model"),
    "fit_half_light_radius_err": ("arcsec", "1-sigma error of fit_half_light_radius"),
    "fit_n": ("", "Sersic index of the fitted model"),
    "fit_n_err": ("", "1-sigma error of fit_n"),
    "fit_g1": ("", "reduced shear g1 of the fitted model"),
    "fit_g2": ("", "reduced shear g2 of the fitted model"),
    "fit_chi2": ("", "chi^2 of the fit"),
    "fit_dof": ("", "degrees of freedom of the fit"),
    "match_id": ("", "row index of the matched reference/truth object (-1: none)"),
    "match_sep": (
        "arcsec",
        "separation to the matched reference/truth object (pix for pixel matches)",
    ),
}


def _base_name(name: str) -> str:
    return re.sub(r"^flux_aper_\d+", "flux_aper", name)


def column_doc(name: str, bands: tuple[str, ...] | list[str] = ()) -> tuple[str, str]:
    """Unit and description of a column, stripping a ``{band}_`` prefix.

    Parameters
    ----------
    name : str
        Column name, e.g. ``"r_flux_auto"`` or ``"flux_aper_1_err"``.
    bands : sequence of str
        Band prefixes that may appear.

    Returns
    -------
    (unit, description)
        ``("", "")`` for unknown columns.

    Examples
    --------
    >>> column_doc("r_flux_auto", bands=["r"])[0]
    'image units'
    >>> column_doc("flux_aper_2_err")[1]
    '1-sigma error of the aperture flux'
    """
    for band in sorted(bands, key=len, reverse=True):
        rest = name[len(band) + 1 :]
        if name.startswith(band + "_") and _base_name(rest) in COLUMN_DOCS:
            unit, text = COLUMN_DOCS[_base_name(rest)]
            return unit, f"[{band}] {text}"
    return COLUMN_DOCS.get(_base_name(name), ("", ""))


def annotate(
    table: Any, bands: tuple[str, ...] | list[str] = (), image_unit: str | None = None
) -> Any:
    """Set ``unit`` and ``description`` on every documented column (in place).

    Parameters
    ----------
    table : astropy.table.Table
        The catalog.
    bands : sequence of str
        Band prefixes used in column names.
    image_unit : str, optional
        Unit of the image pixels (e.g. the FITS ``BUNIT``) for flux columns;
        unparseable units are only recorded in the description.

    Examples
    --------
    >>> from astropy.table import Table
    >>> t = annotate(Table({"x": [1.0], "flux_auto": [2.0]}))
    >>> str(t["x"].unit), t["x"].description[:8]
    ('pix', '0-based ')
    """
    import astropy.units as u

    for name in table.colnames:
        unit, text = column_doc(name, bands)
        col = table[name]
        if unit == "image units":
            if image_unit:
                try:
                    col.unit = u.Unit(image_unit)
                except ValueError:
                    text = f"{text} [{image_unit}]"
        elif unit:
            col.unit = u.Unit(unit)
        if text:
            col.description = text
    return table
