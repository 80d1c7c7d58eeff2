"""Images to catalog in one call: the engine behind ``galmix measure``."""

from __future__ import annotations

import logging
import math
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from galmix._exact import matmul
from galmix.detect import Detections, FitsImage, detect, estimate_background, photometry, read_image
from galmix.errors import FLAGS, GalmixIOError, GalmixValueError

__all__ = ["MeasureResult", "measure_images"]

log = logging.getLogger(__name__)

# columns copied per band (prefixed with "{band}_" for several images)
_PHOT_COLUMNS = ("flux_auto", "flux_auto_err", "kron_radius", "kron_scale")
_SAME_GRID_TOL_PIX = 0.01


@dataclass
class MeasureResult:
    """Output of :func:`measure_images`.

    Attributes
    ----------
    catalog : astropy.table.Table
        One row per detected object (documented columns, see
        :data:`galmix.catalog.COLUMN_DOCS`).
    bands : list of str
        Band names, in input order (column prefixes when several).
    detections : Detections
        Detection result (segmentation map, background) on the detection image.
    images : list of FitsImage
        The images read.
    notes : list of str
        Human-readable remarks (what was skipped and why).
    """

    catalog: Any
    bands: list[str]
    detections: Detections
    images: list[FitsImage]
    notes: list[str] = field(default_factory=list)


def _unique_bands(images: Sequence[FitsImage]) -> list[str]:
    names: list[str] = []
    for im in images:
        name = im.band
        k = 2
        while name in names:
            name = f"{im.band}_{k}"
            k += 1
        names.append(name)
    return names


def _read_weight(path: str | os.PathLike, shape: tuple[int, int], hdu: int | None) -> np.ndarray:
    w = read_image(path, hdu=hdu)
    if w.shape != shape:
        raise GalmixValueError(
            f"weight {str(w.path)!r} has shape {w.shape}, its image has shape {shape}"
        )
    data = np.where(np.isfinite(w.data), w.data, 0.0)
    if (data < 0).any():
        raise GalmixValueError(
            f"weight {str(w.path)!r} has negative values (inverse variance expected)"
        )
    return data


def _same_grid(a: FitsImage, b: FitsImage) -> bool:
    if a.shape != b.shape:
        return False
    if a.wcs is None or b.wcs is None:
        return a.wcs is None and b.wcs is None
    ny, nx = a.shape
    xs = np.array([0.0, nx - 1.0, 0.0, nx - 1.0, (nx - 1) / 2])
    ys = np.array([0.0, 0.0, ny - 1.0, ny - 1.0, (ny - 1) / 2])
    ra, dec = a.wcs.pixel_to_world(xs, ys)
    xb, yb = b.wcs.world_to_pixel(ra, dec)
    return bool(np.all(np.hypot(xb - xs, yb - ys) < _SAME_GRID_TOL_PIX))


@dataclass(eq=False)
class _Band:
    image: FitsImage
    sub: np.ndarray  # background-subtracted, bad pixels 0
    variance: np.ndarray
    mask: np.ndarray
    background: Any


def _prepare_band(im: FitsImage, weight: np.ndarray | None, noise: str = "global") -> _Band:
    mask = im.mask.copy()
    if weight is not None:
        mask |= weight <= 0
    bkg = estimate_background(im.data, mask=mask)
    if weight is not None:
        with np.errstate(divide="ignore"):
            var = np.where(weight > 0, 1.0 / np.where(weight > 0, weight, 1.0), np.inf)
    elif noise == "global":
        # as SExtractor without a weight map: one rms for the whole image
        var = np.full(im.data.shape, bkg.global_rms**2)
    else:
        var = bkg.rms**2
    sub = np.where(mask, 0.0, im.data - bkg.level)
    return _Band(image=im, sub=np.ascontiguousarray(sub), variance=var, mask=mask, background=bkg)


def _chi2_detection_image(bands: Sequence[_Band]) -> tuple[np.ndarray, np.ndarray]:
    """sqrt(chi^2) coadd (Szalay et al. 1999) shifted to zero mean under pure noise.

    Returns the image and a mask; its noise is ~constant, so detection uses
    the background rms measured on it.
    """
    from scipy.special import gammaln

    chi2 = np.zeros(bands[0].sub.shape)
    nb = np.zeros(bands[0].sub.shape)
    for b in bands:
        good = ~b.mask & np.isfinite(b.variance)
        chi2 += np.where(good, b.sub**2 / np.where(good, b.variance, 1.0), 0.0)
        nb += good
    mask = nb == 0
    # mean of the chi distribution with k degrees of freedom
    k = np.maximum(nb, 1)
    mean_chi = np.sqrt(2.0) * np.exp(gammaln((k + 1) / 2) - gammaln(k / 2))
    img = np.sqrt(chi2) - mean_chi
    img[mask] = 0.0
    return img, mask


def _ellipse_to_frame(
    cat: Any, src_wcs: Any, dst_wcs: Any, xd: np.ndarray, yd: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Map detection ellipses (a, b, theta) into another image's pixel frame."""
    x = np.asarray(cat["x"], float)
    y = np.asarray(cat["y"], float)
    a = np.asarray(cat["a"], float)
    b = np.asarray(cat["b"], float)
    th = np.asarray(cat["theta"], float)
    c, s = np.cos(th), np.sin(th)
    cxx = a**2 * c**2 + b**2 * s**2
    cyy = a**2 * s**2 + b**2 * c**2
    cxy = (a**2 - b**2) * c * s
    js = src_wcs.jacobian_elements(x, y)
    jd = dst_wcs.jacobian_elements(np.nan_to_num(xd), np.nan_to_num(yd))
    a2 = np.empty_like(a)
    b2 = np.empty_like(b)
    t2 = np.empty_like(th)
    for i in range(len(x)):  # 2x2 algebra; cheap next to the photometry
        Js = js[i].reshape(2, 2)
        Jd = jd[i].reshape(2, 2)
        try:
            M = np.linalg.solve(Jd, Js)
        except np.linalg.LinAlgError:
            M = np.eye(2)
        C = np.array([[cxx[i], cxy[i]], [cxy[i], cyy[i]]])
        C2 = matmul(matmul(M, C), M.T)
        w, v = np.linalg.eigh(C2)
        a2[i] = math.sqrt(max(w[1], 1e-12))
        b2[i] = math.sqrt(max(w[0], 1e-12))
        t2[i] = math.atan2(v[1, 1], v[0, 1])
    t2 = (t2 + np.pi / 2) % np.pi - np.pi / 2
    return a2, b2, t2


def measure_images(
    paths: Sequence[str | os.PathLike],
    weights: Sequence[str | os.PathLike] | None = None,
    *,
    hdu: int | None = None,
    threshold: float = 1.5,
    minarea: int = 5,
    deblend_nthresh: int = 32,
    deblend_cont: float = 0.005,
    detect_on: str = "first",
    apertures_pixels: Sequence[float] = (),
    psf_fwhm: float | None = None,
    psf: str | os.PathLike | None = None,
    zeropoints: Sequence[float] | None = None,
    moments: bool = True,
    fit_model: str | None = "sersic",
    fit_bands: str = "first",
    noise: str = "global",
    progress: Callable[[Any], Any] | None = None,
) -> MeasureResult:
    """Detect and measure every object on one or more FITS images.

    Background, detection, segmentation and deblending on the detection
    image (the first image, or a chi^2 coadd of all images on a shared
    grid), then per image: Kron (AUTO) and aperture photometry with errors,
    windowed centroids, adaptive moments (when :mod:`galmix.moments` is
    available) and a PSF-convolved model fit (when a PSF is given and
    ``galmix.fit.fit_batch`` is available; otherwise ``fit_flags`` is
    ``NOT_MEASURED``). Images on the same pixel grid are measured at the same
    pixels with the detection segmentation; other images get the positions
    and ellipses mapped through RA/Dec. As in SExtractor, flux errors add a
    Poisson term when the image header has a ``GAIN`` (e-/unit), and
    objects with a pixel at or above the header's ``SATURATE`` level are
    flagged ``SATURATED``.

    Parameters
    ----------
    paths : sequence of path
        FITS images (the first one is the reference frame of ``x``, ``y``).
    weights : sequence of path, optional
        Inverse-variance maps, one per image; default: the background rms.
    hdu : int, optional
        HDU of the images (default: first 2-d image HDU).
    threshold, minarea, deblend_nthresh, deblend_cont
        Detection parameters (see :func:`galmix.detect.detect`).
    detect_on : {"first", "chi2"}
        Detection image.
    apertures_pixels : sequence of float
        Radii (pixels) of circular apertures.
    psf_fwhm : float, optional
        Gaussian PSF FWHM in arcsec (pixels without a WCS), enables fits.
    zeropoints : sequence of float, optional
        AB zero points, one per image, for ``mag_auto``/``mag_auto_err``;
        default: the header's ``MAGZERO``/``MAGZP``/``MAGZPT``/``ZEROPT``/
        ``PHOTZP`` when present (else no magnitude columns).
    psf : path, optional
        PSF image (FITS, sampled like the images), enables fits.
    moments : bool
        Measure adaptive moments.
    fit_model : str or None
        Model for the fits (``"sersic"``, ``"exp"``, ...); None: no fit.
    noise : {"global", "map"}
        Noise model without weight maps: the global background rms
        (SExtractor's default) or the interpolated rms map.
    fit_bands : {"first", "all"}
        Fit the first image only (default; per-band fluxes come from the
        AUTO photometry) or every image.
    progress : callable, optional
        Wraps iterables (e.g. ``tqdm``) for progress display.

    Returns
    -------
    MeasureResult

    Raises
    ------
    GalmixIOError
        Unreadable images.
    GalmixValueError
        Inconsistent inputs (weights count or shape, images on different
        grids without WCS, bad parameters).

    Examples
    --------
    >>> import numpy as np, tempfile, os
    >>> from astropy.io import fits
    >>> yy, xx = np.mgrid[0:64, 0:64]
    >>> img = 10 + 300 * np.exp(-((xx - 20.0) ** 2 + (yy - 40.0) ** 2) / 6.0)
    >>> img = img + np.random.default_rng(0).normal(0.0, 1.0, img.shape)
    >>> path = os.path.join(tempfile.mkdtemp(), "r.fits")
    >>> fits.PrimaryHDU(img).writeto(path)
    >>> res = measure_images([path], threshold=5.0, moments=False)
    >>> len(res.catalog), round(float(res.catalog["x"][0])), round(float(res.catalog["y"][0]))
    (1, 20, 40)
    >>> "ra" in res.catalog.colnames  # no WCS in this header
    False
    """
    from astropy.table import Table

    from galmix.catalog.columns import annotate

    if not paths:
        raise GalmixValueError("paths must name at least one image")
    if noise not in ("global", "map"):
        raise GalmixValueError(f"noise must be 'global' or 'map', got {noise!r}")
    if fit_bands not in ("first", "all"):
        raise GalmixValueError(f"fit_bands must be 'first' or 'all', got {fit_bands!r}")
    if detect_on not in ("first", "chi2"):
        raise GalmixValueError(f"detect_on must be 'first' or 'chi2', got {detect_on!r}")
    if zeropoints is not None and len(zeropoints) != len(paths):
        raise GalmixValueError(
            f"zeropoints: got {len(zeropoints)} value(s) for {len(paths)} image(s)"
        )
    if weights and len(weights) != len(paths):
        raise GalmixValueError(
            f"weights: got {len(weights)} weight map(s) for {len(paths)} image(s)"
        )
    wrap = progress or (lambda it, **kw: it)
    notes: list[str] = []
    images = [read_image(p, hdu=hdu) for p in paths]
    bands_names = _unique_bands(images)
    ref = images[0]
    same = [_same_grid(ref, im) for im in images]
    for im, ok in zip(images, same):
        if not ok and (im.wcs is None or ref.wcs is None):
            raise GalmixValueError(
                f"{im.path.name!r} is not on the pixel grid of {ref.path.name!r} and one of "
                "them has no WCS, so positions cannot be mapped"
            )
    bands = []
    for i, im in enumerate(images):
        w = _read_weight(weights[i], im.shape, hdu) if weights else None
        try:
            bands.append(_prepare_band(im, w, noise))
        except GalmixValueError as exc:
            raise GalmixValueError(f"{im.path.name}: {exc}") from exc

    # ---------------------------------------------------------- detection
    b0 = bands[0]
    if detect_on == "chi2" and len(bands) > 1:
        on_grid = [b for b, ok in zip(bands, same) if ok]
        if len(on_grid) < len(bands):
            notes.append("chi2 detection uses only the images on the first image's grid")
        det_img, det_mask = _chi2_detection_image(on_grid)
        det = detect(
            det_img,
            mask=det_mask,
            threshold=threshold,
            minarea=minarea,
            deblend_nthresh=deblend_nthresh,
            deblend_cont=deblend_cont,
        )
    else:
        det = detect(
            ref.data,
            variance=b0.variance,
            mask=b0.mask,
            threshold=threshold,
            minarea=minarea,
            deblend_nthresh=deblend_nthresh,
            deblend_cont=deblend_cont,
            background=b0.background,
        )
    dcat = det.catalog
    n = len(dcat)
    log.info("%s: %d objects detected", ref.path.name, n)
    cat = Table()
    for col in ("id", "x", "y"):
        cat[col] = dcat[col]
    if ref.wcs is not None and n:
        ra, dec = ref.wcs.pixel_to_world(np.asarray(dcat["x"]), np.asarray(dcat["y"]))
        cat["ra"] = np.atleast_1d(ra)
        cat["dec"] = np.atleast_1d(dec)
    elif ref.wcs is not None:
        cat["ra"] = np.zeros(0)
        cat["dec"] = np.zeros(0)
    # (no celestial WCS: read_image has logged a warning; no ra/dec columns)
    for col in ("a", "b", "theta", "npix", "peak", "flux_iso"):
        cat[col] = dcat[col]
    det_flags = np.asarray(dcat["flags"], dtype=np.int64).copy()

    # ---------------------------------------------------------- per band
    multi = len(images) > 1
    total_flags = det_flags.copy()
    for k_band, (band_name, band, ok) in enumerate(
        wrap(list(zip(bands_names, bands, same)), desc="bands")
    ):
        prefix = f"{band_name}_" if multi else ""
        im = band.image
        if ok:
            bcat = dcat
            seg = det.segmentation
        else:
            xb, yb = im.wcs.world_to_pixel(np.asarray(cat["ra"]), np.asarray(cat["dec"]))
            xb, yb = np.atleast_1d(xb), np.atleast_1d(yb)
            a2, b2, t2 = _ellipse_to_frame(dcat, ref.wcs, im.wcs, xb, yb)
            bcat = Table({"id": dcat["id"], "x": xb, "y": yb, "a": a2, "b": b2, "theta": t2})
            seg = _map_segmentation(det.segmentation, ref.wcs, im.wcs, im.shape)
        phot = photometry(
            band.sub,
            band.variance,
            bcat,
            segmentation=seg,
            apertures=apertures_pixels,
            mask=band.mask,
            gain=im.gain,
            windowed=band is b0,
        )
        bflags = np.asarray(phot["flags"], dtype=np.int64).copy()
        if band is b0:
            bflags |= det_flags
        elif seg is not None:
            bflags |= det_flags & int(
                FLAGS.BLENDED | FLAGS.EDGE | FLAGS.DETECTION_TRUNCATED | FLAGS.NONPOSITIVE_MOMENTS
            )
        bflags |= _saturated(im, seg, bcat)
        if band is b0:
            # windowed centroid and half-light radius in the reference frame
            cat["xwin"], cat["ywin"] = phot["xwin"], phot["ywin"]
            cat["flux_radius"] = phot["flux_radius"]
        if not ok:
            cat[prefix + "x"] = bcat["x"]
            cat[prefix + "y"] = bcat["y"]
        for col in _PHOT_COLUMNS:
            cat[prefix + col] = phot[col]
        zp = zeropoints[k_band] if zeropoints else _header_zeropoint(im.header)
        if zp is not None:
            f = np.asarray(phot["flux_auto"], float)
            e = np.asarray(phot["flux_auto_err"], float)
            pos = np.isfinite(f) & (f > 0)
            safe = np.where(pos, f, 1.0)
            cat[prefix + "mag_auto"] = np.where(pos, float(zp) - 2.5 * np.log10(safe), np.nan)
            cat[prefix + "mag_auto_err"] = np.where(pos, 2.5 / np.log(10) * e / safe, np.nan)
        for i in range(len(apertures_pixels)):
            cat[f"{prefix}flux_aper_{i}"] = phot[f"flux_aper_{i}"]
            cat[f"{prefix}flux_aper_{i}_err"] = phot[f"flux_aper_{i}_err"]
        xs = np.clip(
            np.round(np.nan_to_num(np.asarray(bcat["x"], float))).astype(int), 0, im.shape[1] - 1
        )
        ys = np.clip(
            np.round(np.nan_to_num(np.asarray(bcat["y"], float))).astype(int), 0, im.shape[0] - 1
        )
        off = (np.asarray(bflags) & int(FLAGS.OFF_IMAGE)) != 0
        cat[prefix + "background"] = np.where(off, np.nan, band.background.level[ys, xs])
        cat[prefix + "background_rms"] = np.where(off, np.nan, band.background.rms[ys, xs])
        if moments:
            mres = _measure_moments(band, bcat, seg, wrap, band_name)
            if mres is None:
                notes.append("galmix.moments unavailable: moments columns not written")
            else:
                for col, values in mres.items():
                    cat[prefix + col] = values
        want_fit = fit_bands == "all" or band is b0
        if fit_model and want_fit and (psf_fwhm is not None or psf is not None):
            fres, note = _fit_models(band, bcat, seg, fit_model, psf_fwhm, psf, wrap, band_name)
            if note:
                notes.append(note)
            for col, values in fres.items():
                cat[prefix + col] = values
        cat[prefix + "flags"] = bflags
        total_flags |= bflags
    if multi:
        cat["flags"] = total_flags
    cat["detection_flags"] = det_flags
    cat.meta["galmix_command"] = "measure"
    cat.meta["images"] = [str(im.path) for im in images]
    cat.meta["bands"] = list(bands_names)
    cat.meta["detect_on"] = detect_on if multi else "first"
    cat.meta["threshold"] = float(threshold)
    cat.meta["minarea"] = int(minarea)
    for i, r in enumerate(apertures_pixels):
        cat.meta[f"aper_{i}_radius_pix"] = float(r)
    annotate(cat, bands_names if multi else (), image_unit=ref.header.get("BUNIT"))
    return MeasureResult(
        catalog=cat, bands=list(bands_names), detections=det, images=images, notes=notes
    )


def _map_segmentation(seg: np.ndarray, src_wcs: Any, dst_wcs: Any, shape: tuple[int, int]) -> Any:
    """The detection segmentation resampled (nearest pixel) onto another image's grid.

    The pixel-to-pixel map goes through RA/Dec on a 16-pixel grid and is
    interpolated bilinearly (WCS distortions are smooth on that scale).
    Returns None if the mapping fails.
    """
    from scipy.ndimage import map_coordinates

    ny, nx = shape
    step = 16
    gx = np.unique(np.r_[np.arange(0, nx, step), nx - 1]).astype(float)
    gy = np.unique(np.r_[np.arange(0, ny, step), ny - 1]).astype(float)
    xx, yy = np.meshgrid(gx, gy)
    try:
        ra, dec = dst_wcs.pixel_to_world(xx.ravel(), yy.ravel())
        sx, sy = src_wcs.world_to_pixel(ra, dec)
    except Exception:  # fall back to no neighbour masking
        return None
    sx = np.asarray(sx, float).reshape(xx.shape)
    sy = np.asarray(sy, float).reshape(xx.shape)
    if not (np.isfinite(sx).all() and np.isfinite(sy).all()):
        return None
    # fractional grid coordinates of every destination pixel
    fy = np.interp(np.arange(ny), gy, np.arange(gy.size))
    fx = np.interp(np.arange(nx), gx, np.arange(gx.size))
    FY, FX = np.meshgrid(fy, fx, indexing="ij")
    px = map_coordinates(sx, [FY, FX], order=1, mode="nearest")
    py = map_coordinates(sy, [FY, FX], order=1, mode="nearest")
    ix = np.rint(px).astype(np.int64)
    iy = np.rint(py).astype(np.int64)
    inside = (ix >= 0) & (ix < seg.shape[1]) & (iy >= 0) & (iy < seg.shape[0])
    out = np.zeros(shape, dtype=np.int32)
    out[inside] = seg[iy[inside], ix[inside]]
    return out


_ZP_KEYS = ("MAGZERO", "MAGZP", "MAGZPT", "ZEROPT", "PHOTZP")


def _header_zeropoint(header: Any) -> float | None:
    for key in _ZP_KEYS:
        try:
            v = float(header[key])
        except (KeyError, TypeError, ValueError):
            continue
        if math.isfinite(v):
            return v
    return None


def _saturated(im: FitsImage, seg: np.ndarray | None, cat: Any) -> np.ndarray:
    """SATURATED bit for objects with a pixel at or above the image's SATURATE level."""
    out = np.zeros(len(cat), dtype=np.int64)
    if im.saturation is None or len(cat) == 0:
        return out
    hot = np.isfinite(im.data) & (im.data >= im.saturation)
    if not hot.any():
        return out
    if seg is not None:
        labels = np.unique(seg[hot])
        labels = labels[labels > 0]
        out[np.isin(np.asarray(cat["id"]), labels)] = int(FLAGS.SATURATED)
        return out
    yy, xx = np.nonzero(hot)
    x = np.asarray(cat["x"], float)
    y = np.asarray(cat["y"], float)
    r = 2.0 * np.asarray(cat["a"], float) + 1.0
    for i in range(len(cat)):
        if np.any((xx - x[i]) ** 2 + (yy - y[i]) ** 2 <= r[i] ** 2):
            out[i] = int(FLAGS.SATURATED)
    return out


def _stamp_bounds(
    x: float, y: float, half: int, shape: tuple[int, int]
) -> tuple[int, int, int, int]:
    xi, yi = round(x), round(y)
    return (
        max(0, yi - half),
        min(shape[0], yi + half + 1),
        max(0, xi - half),
        min(shape[1], xi + half + 1),
    )


def _stamp_half_size(a: float) -> int:
    """Half size of a measurement stamp: 5 footprint sigmas, 7 to 32 pixels."""
    if not math.isfinite(a):
        return 7
    return int(min(max(math.ceil(5.0 * a), 7), 32))


def _local_jacobian(wcs: Any, x: float, y: float, x0: float, y0: float) -> Any:
    from galmix.geometry import Jacobian

    if wcs is None:
        return Jacobian(1.0, 0.0, 0.0, 1.0, x0=x0, y0=y0)
    el = wcs.jacobian_elements(x, y)
    return Jacobian(float(el[0]), float(el[1]), float(el[2]), float(el[3]), x0=x0, y0=y0)


def _stamps(band: _Band, cat: Any, seg: np.ndarray | None, psf: Any = None) -> Any:
    """Yield ``(row, Observation or None, flags)`` for every catalog row.

    Stamps are cut around the rounded position, neighbours (segmentation)
    and bad pixels get zero weight, and the Jacobian is the local WCS
    Jacobian (computed for all objects in one vectorised call).
    """
    from galmix.geometry import Jacobian
    from galmix.image import Observation

    n = len(cat)
    x = np.asarray(cat["x"], float)
    y = np.asarray(cat["y"], float)
    a = np.asarray(cat["a"], float)
    ids = np.asarray(cat["id"])
    finite = np.isfinite(x) & np.isfinite(y)
    wcs = band.image.wcs
    if wcs is not None and finite.any():
        elements = np.full((n, 4), np.nan)
        elements[finite] = wcs.jacobian_elements(x[finite], y[finite])
    else:
        elements = np.tile([1.0, 0.0, 0.0, 1.0], (n, 1))
    shape = band.sub.shape
    for i in range(n):
        if not finite[i]:
            yield i, None, int(FLAGS.NOT_MEASURED | FLAGS.OFF_IMAGE)
            continue
        y0, y1, x0, x1 = _stamp_bounds(x[i], y[i], _stamp_half_size(a[i]), shape)
        if y1 - y0 < 5 or x1 - x0 < 5:
            yield i, None, int(FLAGS.NOT_MEASURED | FLAGS.STAMP_TOO_SMALL)
            continue
        var = band.variance[y0:y1, x0:x1]
        bad = band.mask[y0:y1, x0:x1] | ~np.isfinite(var) | (var <= 0)
        flags = 0
        if seg is not None:
            s = seg[y0:y1, x0:x1]
            neighbour = (s != 0) & (s != ids[i])
            if neighbour.any():
                flags |= int(FLAGS.NEIGHBOUR_MASKED)
                bad = bad | neighbour
        if bad.all():
            yield i, None, flags | int(FLAGS.ALL_MASKED | FLAGS.NOT_MEASURED)
            continue
        w = np.where(bad, 0.0, 1.0 / np.where(bad, 1.0, var))
        el = elements[i]
        try:
            jac = Jacobian(el[0], el[1], el[2], el[3], x0=x[i] - x0, y0=y[i] - y0)
            image = np.where(bad, 0.0, band.sub[y0:y1, x0:x1])
            if psf is None:
                # arrays built here are finite float64 with weight >= 0: the
                # validated constructor would only copy them again
                obs = Observation._trusted(image=image, weight=w, jacobian=jac, mask=bad)
            else:
                obs = Observation(image, weight=w, jacobian=jac, psf=psf)
        except (ValueError, TypeError):
            yield i, None, flags | int(FLAGS.BAD_JACOBIAN | FLAGS.NOT_MEASURED)
            continue
        yield i, obs, flags


# catalog-level convergence: 1e-6 relative in T, e and centre is far below
# the noise of any real object and ~4x faster than the 1e-9 default
_MOMENTS_TOL = 1e-6
_MOMENTS_MAXITER = 100


def _call_moments(fn: Any, obs: Any, guess_T: float) -> Any:
    if not (math.isfinite(guess_T) and guess_T > 0):
        guess_T = None
    try:
        return fn(obs, guess_T=guess_T, maxiter=_MOMENTS_MAXITER, tol=_MOMENTS_TOL)
    except TypeError:  # an older signature without tol
        return fn(obs, guess_T=guess_T)


def _measure_moments(
    band: _Band, cat: Any, seg: np.ndarray | None, wrap: Any, name: str
) -> dict | None:
    try:
        from galmix.moments import adaptive_moments
    except ImportError:
        return None
    n = len(cat)
    out = {
        k: np.full(n, np.nan)
        for k in ("moments_flux", "moments_T", "moments_e1", "moments_e2", "moments_s2n")
    }
    flags = np.zeros(n, dtype=np.int64)
    ids = np.asarray(cat["id"])
    # starting size from the footprint moments: a^2 + b^2 = x2 + y2 (pixels^2)
    a = np.asarray(cat["a"], float)
    b = np.asarray(cat["b"], float)
    for i, obs, f in wrap(_stamps(band, cat, seg), total=n, desc=f"moments {name}"):
        if obs is None:
            flags[i] = f
            continue
        try:
            guess_T = (a[i] ** 2 + b[i] ** 2) * abs(obs.jacobian.det)
            res = _call_moments(adaptive_moments, obs, guess_T)
        except Exception as exc:  # batch: never drop a row
            log.debug("moments failed for object %s: %s", ids[i], exc)
            flags[i] = int(FLAGS.MEASUREMENT_ERROR)
            continue
        # NEIGHBOUR_MASKED is informative; the measurement's own flags decide
        flags[i] = int(res.flags)
        out["moments_flux"][i] = res.flux
        out["moments_T"][i] = res.T
        out["moments_e1"][i] = res.e1
        out["moments_e2"][i] = res.e2
        out["moments_s2n"][i] = res.s2n
    out["moments_flags"] = flags
    return out


def _psf_object(band: _Band, psf_fwhm: float | None, psf_path: Any) -> Any:
    """PSF for the fits: a GMix/profile (Gaussian FWHM) or an Observation (image)."""
    if psf_path is not None:
        from galmix.image import Observation

        p = read_image(psf_path)
        data = np.where(np.isfinite(p.data), p.data, 0.0)
        if data.sum() <= 0:
            raise GalmixValueError(f"psf {str(psf_path)!r} has non-positive total flux")
        ny, nx = data.shape
        cy, cx = (ny - 1) / 2.0, (nx - 1) / 2.0
        jac = _local_jacobian(band.image.wcs, band.sub.shape[1] / 2, band.sub.shape[0] / 2, cx, cy)
        return Observation(data / data.sum(), jacobian=jac)
    from galmix.profiles import Gaussian

    sigma = float(psf_fwhm) / (2.0 * math.sqrt(2.0 * math.log(2.0)))
    return Gaussian(1.0, sigma)


def _fit_models(
    band: _Band, cat: Any, seg: Any, model: str, psf_fwhm: Any, psf_path: Any, wrap: Any, name: str
) -> tuple[dict, str | None]:
    n = len(cat)
    flags = np.full(n, int(FLAGS.NOT_MEASURED), dtype=np.int64)
    try:
        from galmix.fit import fit_batch
    except ImportError:
        return {"fit_flags": flags}, "galmix.fit.fit_batch unavailable: fits not measured"
    try:
        psf_obj = _psf_object(band, psf_fwhm, psf_path)
    except (GalmixIOError, GalmixValueError, ImportError) as exc:
        return {"fit_flags": flags | int(FLAGS.BAD_PSF)}, f"PSF unusable ({exc}): fits not measured"
    observations = []
    rows = []
    for i, obs, f in _stamps(band, cat, seg, psf=psf_obj):
        if obs is None:
            flags[i] |= f
            continue
        observations.append(obs)
        rows.append(i)
    out: dict[str, np.ndarray] = {"fit_flags": flags}
    if not observations:
        return out, None
    try:
        table = fit_batch(observations, model, ids=[int(cat["id"][i]) for i in rows])
    except Exception as exc:
        log.warning("model fits failed on band %s: %s", name, exc)
        return {"fit_flags": flags | int(FLAGS.FIT_FAILED)}, f"fit_batch failed: {exc}"
    rows_arr = np.asarray(rows)
    if "flags" in table.colnames:
        flags[rows_arr] = np.asarray(table["flags"], dtype=np.int64)
    for col in table.colnames:
        if col in ("flags", "id"):
            continue
        values = np.asarray(table[col])
        if values.ndim != 1 or values.dtype.kind not in "fiub":
            continue
        full = np.full(n, np.nan)
        full[rows_arr] = values
        out[f"fit_{col}"] = full
    out["fit_flags"] = flags
    return out, None
