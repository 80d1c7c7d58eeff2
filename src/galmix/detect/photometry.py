"""Kron (AUTO) and circular-aperture photometry, windowed centroids (via ``sep``)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from galmix.detect._sep import as_c_float64, as_mask, import_sep
from galmix.detect.detection import _SEP_APER_HASMASKED, sep_flags_to_galmix
from galmix.errors import FLAGS, GalmixValueError

__all__ = ["photometry"]

# SExtractor integrates the Kron first moment over 6 isophotal "radii"
_KRON_INTEGRATION_RADIUS = 6.0
# sub-grid for the covered fraction of pixels cut by an aperture boundary
# (SExtractor uses 5x5; 11x11 keeps the error well below 0.1 %)
_NSUB = 11


def photometry(
    image: Any,
    variance: Any,
    catalog: Any,
    segmentation: Any = None,
    apertures: Sequence[float] = (),
    kron_factor: float = 2.5,
    min_radius: float = 3.5,
    mask: Any = None,
    *,
    gain: float | None = None,
    background: Any = None,
    windowed: bool = True,
) -> Any:
    """Kron ("AUTO") total fluxes, aperture fluxes and their errors, per object.

    As SExtractor's ``FLUX_AUTO``: the first-moment radius ``r1`` is measured
    inside the detection ellipse scaled by 6; the flux is summed in the
    ellipse ``(a, b, theta)`` scaled by ``max(kron_factor * r1, min_radius)``
    (both ``r1`` and ``min_radius`` in units of ``a`` and ``b``). Pixels of
    other objects (from ``segmentation``) and masked pixels inside an
    aperture are replaced by the pixel symmetric through the object's centre
    (SExtractor's ``MASK_TYPE CORRECT``), or dropped when that one is
    unusable too; pixels cut by an aperture boundary count with their
    covered fraction. Errors are the square root of the summed variance
    plus, if ``gain`` is given, the Poisson term ``flux / gain``. The
    half-light radius and windowed centroid use the same correction.

    Parameters
    ----------
    image : array_like, 2-d
        Background-subtracted image (unless ``background`` is given).
    variance : array_like or float
        Per-pixel noise variance of ``image``.
    catalog : astropy.table.Table or Mapping
        Columns ``x``, ``y``, ``a``, ``b``, ``theta`` (and ``id`` when
        ``segmentation`` is given), e.g. :attr:`Detections.catalog`.
    segmentation : array_like of int, optional
        Segmentation map whose labels are the catalog ``id`` values.
    apertures : sequence of float
        Radii (pixels) of circular apertures (columns ``flux_aper_<i>``).
    kron_factor : float
        ``k`` of ``PHOT_AUTOPARAMS`` (2.5).
    min_radius : float
        Minimum Kron scale in units of ``a``, ``b`` (3.5).
    mask : array_like of bool, optional
        Bad pixels; non-finite image pixels are always masked.
    gain : float, optional
        Image units to Poisson counts (electrons per unit); None: no Poisson
        term (SExtractor's ``GAIN 0``).
    background : Background or array_like, optional
        Subtracted from ``image`` first.
    windowed : bool
        Also measure ``flux_radius`` (half-light radius, pixels) and the
        windowed centroid ``xwin``, ``ywin`` (SExtractor ``XWIN_IMAGE - 1``).

    Returns
    -------
    astropy.table.Table
        Same row order as ``catalog``: ``flux_auto``, ``flux_auto_err``,
        ``kron_radius`` (``r1``, units of ``a``), ``kron_scale`` (applied
        scale), ``flux_aper_<i>``, ``flux_aper_<i>_err``, optional
        ``flux_radius``, ``xwin``, ``ywin``, and ``flags`` (FLAGS bits:
        ``NO_FLUX``, ``APERTURE_TRUNCATED``, ``NONFINITE_PIXELS`` when the
        Kron aperture contains masked pixels, ``NEIGHBOUR_MASKED`` when it
        contains pixels of other objects, ``ALL_MASKED``).

    Raises
    ------
    GalmixValueError
        If shapes disagree or the catalog lacks a column.

    Examples
    --------
    >>> import numpy as np
    >>> from astropy.table import Table
    >>> yy, xx = np.mgrid[0:64, 0:64]
    >>> img = 1000.0 / (2 * np.pi * 4.0) * np.exp(-((xx - 30) ** 2 + (yy - 32) ** 2) / 8.0)
    >>> cat = Table({"x": [30.0], "y": [32.0], "a": [2.0], "b": [2.0], "theta": [0.0]})
    >>> phot = photometry(img, 1.0, cat, apertures=[3.0])
    >>> round(float(phot["flux_auto"][0]), 1), round(float(phot["flux_auto_err"][0]), 1)
    (997.5, 12.4)
    """
    from astropy.table import Table

    sep = import_sep()
    data = as_c_float64(image, "image")
    if background is not None:
        level = getattr(background, "level", background)
        data = np.ascontiguousarray(data - np.asarray(level, dtype=np.float64))
    shape = data.shape
    var = np.asarray(variance, dtype=np.float64)
    if var.ndim == 0:
        var = np.full(shape, float(var))
    if var.shape != shape:
        raise GalmixValueError(f"variance must be a scalar or have shape {shape}, got {var.shape}")
    bad = ~np.isfinite(data) | ~np.isfinite(var) | (var < 0)
    user = as_mask(mask, shape)
    if user is not None:
        bad |= user
    if bad.any():
        data = np.where(bad, 0.0, data)
        var = np.where(bad, 0.0, var)
    var = np.ascontiguousarray(var)
    for name, value in (("kron_factor", kron_factor), ("min_radius", min_radius)):
        if not math.isfinite(float(value)) or float(value) <= 0:
            raise GalmixValueError(f"{name} must be positive and finite, got {value!r}")
    radii = [float(r) for r in apertures]
    for r in radii:
        if not math.isfinite(r) or r <= 0:
            raise GalmixValueError(f"apertures must be positive radii in pixels, got {r!r}")
    if gain is not None and (not math.isfinite(float(gain)) or float(gain) <= 0):
        raise GalmixValueError(f"gain must be positive, got {gain!r}")

    cols = {}
    for name in ("x", "y", "a", "b", "theta"):
        try:
            cols[name] = np.ascontiguousarray(np.asarray(catalog[name], dtype=np.float64))
        except (KeyError, ValueError) as exc:
            raise GalmixValueError(f"catalog must have a numeric column {name!r}") from exc
    n = len(cols["x"])
    out = Table()
    flags = np.zeros(n, dtype=np.int64)
    if n == 0:
        for name in ("flux_auto", "flux_auto_err", "kron_radius", "kron_scale"):
            out[name] = np.zeros(0)
        for i in range(len(radii)):
            out[f"flux_aper_{i}"] = np.zeros(0)
            out[f"flux_aper_{i}_err"] = np.zeros(0)
        if windowed:
            for name in ("flux_radius", "xwin", "ywin"):
                out[name] = np.zeros(0)
        out["flags"] = flags
        return out

    x, y = cols["x"], cols["y"]
    a, b, theta = _sanitise_ellipse(cols["a"], cols["b"], cols["theta"])
    seg_kw: dict[str, Any] = {}
    seg = None
    ids = np.zeros(n, dtype=np.int32)
    if segmentation is not None:
        seg = np.ascontiguousarray(np.asarray(segmentation), dtype=np.int32)
        if seg.shape != shape:
            raise GalmixValueError(f"segmentation must have shape {shape}, got {seg.shape}")
        try:
            ids = np.ascontiguousarray(np.asarray(catalog["id"]), dtype=np.int32)
        except KeyError as exc:
            raise GalmixValueError("catalog must have an 'id' column with segmentation") from exc
        seg_kw = {"segmap": seg, "seg_id": ids}
    mask_kw: dict[str, Any] = {"mask": bad} if bad.any() else {}

    # objects whose centre is off the image cannot be measured
    off = ~np.isfinite(x) | ~np.isfinite(y)
    off |= (x < -0.5) | (x > shape[1] - 0.5) | (y < -0.5) | (y > shape[0] - 0.5)
    if off.any():
        flags[off] |= int(FLAGS.OFF_IMAGE | FLAGS.NOT_MEASURED)
        x = np.where(off, 0.0, x)
        y = np.where(off, 0.0, y)

    kron, kflag = sep.kron_radius(
        data, x, y, a, b, theta, _KRON_INTEGRATION_RADIUS, **mask_kw, **seg_kw
    )
    kron = np.asarray(kron, dtype=np.float64)
    scale = kron_factor * kron
    scale = np.where(np.isfinite(scale) & (scale > min_radius), scale, min_radius)
    # SExtractor-faithful sums: other objects' and bad pixels replaced by
    # their mirror image through the centre (MASK_TYPE CORRECT)
    flux, fvar, status = _corrected_sums(data, var, seg, bad, ids, x, y, a, b, theta, scale, gain)
    ferr = np.sqrt(fvar)
    flags |= sep_flags_to_galmix(np.asarray(kflag, dtype=np.int64) & ~_SEP_APER_HASMASKED)
    flags |= _status_flags(status)
    bad_flux = ~np.isfinite(flux) | (flux <= 0)
    flags[bad_flux] |= int(FLAGS.NO_FLUX)
    out["flux_auto"] = flux
    out["flux_auto_err"] = ferr
    out["kron_radius"] = kron
    out["kron_scale"] = scale

    for i, r in enumerate(radii):
        rr = np.full(n, r)
        f, fv, st = _corrected_sums(data, var, seg, bad, ids, x, y, rr, rr, np.zeros(n), 1.0, gain)
        out[f"flux_aper_{i}"] = f
        out[f"flux_aper_{i}_err"] = np.sqrt(fv)
        flags |= _status_flags(st) & int(FLAGS.APERTURE_TRUNCATED)

    if windowed:
        # flux_auto is the normalisation, so its aperture bounds the search
        rmax = np.maximum(a * scale, 3.0)
        norm = np.where(bad_flux, np.nan, flux)
        rhalf = _half_flux_radius(data, seg, bad, ids, x, y, rmax, np.nan_to_num(norm, nan=0.0))
        rhalf = np.asarray(rhalf, dtype=np.float64)
        rhalf = np.where(bad_flux | ~np.isfinite(rhalf), np.nan, rhalf)
        sig = 2.0 * np.where(np.isfinite(rhalf) & (rhalf > 0), rhalf, 1.0) / 2.35
        xw, yw = _windowed(data, seg, bad, ids, x, y, sig)
        xw = np.asarray(xw, dtype=np.float64)
        yw = np.asarray(yw, dtype=np.float64)
        # the windowed centroid must stay near the barycentre
        wild = ~np.isfinite(xw) | ~np.isfinite(yw) | (np.hypot(xw - x, yw - y) > 2.0 * a + 1.0)
        out["flux_radius"] = rhalf
        out["xwin"] = np.where(wild, x, xw)
        out["ywin"] = np.where(wild, y, yw)
    if off.any():
        for name in out.colnames:
            out[name][off] = np.nan
    out["flags"] = flags
    return out


def _corrected_sums(
    data: np.ndarray,
    var: np.ndarray,
    seg: np.ndarray | None,
    bad: np.ndarray,
    ids: np.ndarray,
    x: np.ndarray,
    y: np.ndarray,
    a: np.ndarray,
    b: np.ndarray,
    theta: np.ndarray,
    scale: Any,
    gain: float | None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    from galmix.detect._photometry_nb import ellipse_coefficients, ellipse_sums

    n = len(x)
    scale = np.broadcast_to(np.asarray(scale, dtype=np.float64), (n,))
    cxx, cyy, cxy = ellipse_coefficients(a, b, theta, scale)
    flux = np.empty(n)
    fvar = np.empty(n)
    status = np.zeros(n, dtype=np.int64)
    seg_arr = seg if seg is not None else np.zeros((1, 1), dtype=np.int32)
    ellipse_sums(
        data,
        var,
        seg_arr,
        np.ascontiguousarray(bad, dtype=np.uint8),
        np.ascontiguousarray(x, dtype=np.float64),
        np.ascontiguousarray(y, dtype=np.float64),
        np.ascontiguousarray(cxx),
        np.ascontiguousarray(cyy),
        np.ascontiguousarray(cxy),
        np.ascontiguousarray(np.maximum(a, b) * scale, dtype=np.float64),
        np.ascontiguousarray(ids, dtype=np.int32),
        1 if seg is not None else 0,
        float(gain) if gain else 0.0,
        _NSUB,
        flux,
        fvar,
        status,
    )
    return flux, fvar, status


def _windowed(
    data: np.ndarray,
    seg: np.ndarray | None,
    bad: np.ndarray,
    ids: np.ndarray,
    x: np.ndarray,
    y: np.ndarray,
    sig: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    from galmix.detect._photometry_nb import windowed_centroids

    n = len(x)
    xw = np.empty(n)
    yw = np.empty(n)
    nit = np.zeros(n, dtype=np.int64)
    windowed_centroids(
        data,
        seg if seg is not None else np.zeros((1, 1), dtype=np.int32),
        np.ascontiguousarray(bad, dtype=np.uint8),
        np.ascontiguousarray(x, dtype=np.float64),
        np.ascontiguousarray(y, dtype=np.float64),
        np.ascontiguousarray(sig, dtype=np.float64),
        np.ascontiguousarray(ids, dtype=np.int32),
        1 if seg is not None else 0,
        16,
        xw,
        yw,
        nit,
    )
    return xw, yw


def _half_flux_radius(
    data: np.ndarray,
    seg: np.ndarray | None,
    bad: np.ndarray,
    ids: np.ndarray,
    x: np.ndarray,
    y: np.ndarray,
    rmax: np.ndarray,
    norm: np.ndarray,
) -> np.ndarray:
    from galmix.detect._photometry_nb import half_flux_radii

    out = np.empty(len(x))
    half_flux_radii(
        data,
        seg if seg is not None else np.zeros((1, 1), dtype=np.int32),
        np.ascontiguousarray(bad, dtype=np.uint8),
        np.ascontiguousarray(x, dtype=np.float64),
        np.ascontiguousarray(y, dtype=np.float64),
        np.ascontiguousarray(rmax, dtype=np.float64),
        np.ascontiguousarray(norm, dtype=np.float64),
        np.ascontiguousarray(ids, dtype=np.int32),
        1 if seg is not None else 0,
        0.5,
        5,
        400,
        out,
    )
    return out


def _status_flags(status: np.ndarray) -> np.ndarray:
    from galmix.detect import _photometry_nb as K

    out = np.zeros(status.shape, dtype=np.int64)
    table = (
        (K.STATUS_TRUNCATED, FLAGS.APERTURE_TRUNCATED),
        (K.STATUS_CORRECTED, FLAGS.NEIGHBOUR_MASKED),
        (K.STATUS_BAD, FLAGS.NONFINITE_PIXELS),
        (K.STATUS_EMPTY, FLAGS.ALL_MASKED | FLAGS.NO_FLUX),
    )
    for bit, flag in table:
        out[(status & bit) != 0] |= int(flag)
    return out


def _sanitise_ellipse(
    a: np.ndarray, b: np.ndarray, theta: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Ellipses sep accepts: ``a >= b > 0``, ``theta`` in ``[-pi/2, pi/2]``."""
    a = np.where(np.isfinite(a) & (a > 0), a, 1.0)
    b = np.where(np.isfinite(b) & (b > 0), b, a)
    swap = b > a
    a, b = np.where(swap, b, a), np.where(swap, a, b)
    theta = np.where(np.isfinite(theta), theta, 0.0) + np.where(swap, np.pi / 2, 0.0)
    theta = (theta + np.pi / 2) % np.pi - np.pi / 2
    return (
        np.ascontiguousarray(a, dtype=np.float64),
        np.ascontiguousarray(b, dtype=np.float64),
        np.ascontiguousarray(theta, dtype=np.float64),
    )
