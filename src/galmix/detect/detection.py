"""Source detection, segmentation and deblending (SExtractor algorithm via ``sep``)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from galmix.detect._sep import as_c_float64, as_mask, ensure_buffers, import_sep
from galmix.detect.background import Background, estimate_background
from galmix.errors import FLAGS, GalmixValueError

__all__ = ["Detections", "detect", "gaussian_kernel", "sep_flags_to_galmix"]

# sep object flags (sep.h)
_SEP_OBJ_MERGED = 0x0001
_SEP_OBJ_TRUNC = 0x0002
_SEP_OBJ_DOVERFLOW = 0x0004
_SEP_OBJ_SINGU = 0x0008
_SEP_APER_TRUNC = 0x0010
_SEP_APER_HASMASKED = 0x0020
_SEP_APER_ALLMASKED = 0x0040
_SEP_APER_NONPOSITIVE = 0x0080


def sep_flags_to_galmix(sep_flags: Any) -> np.ndarray:
    """Translate ``sep`` object/aperture flag words to :data:`galmix.errors.FLAGS` bits.

    ``MERGED`` -> ``BLENDED``; ``TRUNC`` -> ``EDGE | DETECTION_TRUNCATED``;
    ``DOVERFLOW`` -> ``MEASUREMENT_ERROR``; ``SINGU`` -> ``NONPOSITIVE_MOMENTS``;
    ``APER_TRUNC`` -> ``APERTURE_TRUNCATED``; ``APER_ALLMASKED`` -> ``ALL_MASKED``;
    ``APER_NONPOSITIVE`` -> ``NO_FLUX``. (``APER_HASMASKED`` is resolved by
    the caller into ``NONFINITE_PIXELS`` or ``NEIGHBOUR_MASKED``.)

    Examples
    --------
    >>> from galmix.errors import flag_names
    >>> flag_names(int(sep_flags_to_galmix([3])[0]))
    ['BLENDED', 'DETECTION_TRUNCATED', 'EDGE']
    """
    f = np.asarray(sep_flags, dtype=np.int64)
    out = np.zeros(f.shape, dtype=np.int64)
    table = (
        (_SEP_OBJ_MERGED, FLAGS.BLENDED),
        (_SEP_OBJ_TRUNC, FLAGS.EDGE | FLAGS.DETECTION_TRUNCATED),
        (_SEP_OBJ_DOVERFLOW, FLAGS.MEASUREMENT_ERROR),
        (_SEP_OBJ_SINGU, FLAGS.NONPOSITIVE_MOMENTS),
        (_SEP_APER_TRUNC, FLAGS.APERTURE_TRUNCATED),
        (_SEP_APER_ALLMASKED, FLAGS.ALL_MASKED),
        (_SEP_APER_NONPOSITIVE, FLAGS.NO_FLUX),
    )
    for sep_bit, gm_bit in table:
        out[(f & sep_bit) != 0] |= int(gm_bit)
    return out


def gaussian_kernel(fwhm_pixels: float) -> np.ndarray:
    """A normalised, odd-sized Gaussian detection kernel of the given FWHM.

    The Gaussian is sampled at pixel centres on ``n x n`` pixels with
    ``n = 2 floor(0.75 fwhm) + 1`` (3, 5, 7 for FWHM 2, 3, 4), the
    sizes of SExtractor's ``gauss_*.conv`` filters. For FWHM = 2 this is
    exactly SExtractor's ``default.conv`` (``[[1,2,1],[2,4,2],[1,2,1]]``).

    Examples
    --------
    >>> k = gaussian_kernel(2.0)
    >>> (k * 16).round(12).tolist()
    [[1.0, 2.0, 1.0], [2.0, 4.0, 2.0], [1.0, 2.0, 1.0]]
    """
    fwhm = float(fwhm_pixels)
    if not math.isfinite(fwhm) or fwhm <= 0:
        raise GalmixValueError(f"filter_fwhm_pixels must be positive, got {fwhm_pixels!r}")
    half = max(1, math.floor(0.75 * fwhm))
    sigma = fwhm / (2.0 * math.sqrt(2.0 * math.log(2.0)))
    r = np.arange(-half, half + 1, dtype=np.float64)
    p = np.exp(-0.5 * (r / sigma) ** 2)
    k = np.outer(p, p)
    return k / k.sum()


@dataclass(frozen=True, eq=False)
class Detections:
    """Result of :func:`detect`.

    Attributes
    ----------
    catalog : astropy.table.Table
        One row per object: ``id`` (1-based, equal to its segmentation
        label), ``x``, ``y`` (0-based flux-weighted barycentre over the
        footprint, SExtractor ``X_IMAGE - 1``), ``a``, ``b`` (pixels),
        ``theta`` (radians, counter-clockwise from +x), ``npix``, ``peak``,
        ``flags`` (galmix FLAGS) and extra SExtractor-like columns
        (``x2``, ``y2``, ``xy``, ``flux_iso``, ``xpeak``, ``ypeak``,
        ``xmin``, ``xmax``, ``ymin``, ``ymax``).
    segmentation : ndarray of int32
        0 = sky, otherwise the object's ``id``.
    background : Background
        The background that was subtracted (zero level if none was).
    image : ndarray
        The background-subtracted image detection ran on (non-finite and
        masked pixels set to 0).
    variance : ndarray
        Per-pixel variance used for the threshold.
    mask : ndarray of bool
        Bad pixels (user mask, non-finite pixels, zero weight).
    """

    catalog: Any
    segmentation: np.ndarray
    background: Background
    image: np.ndarray
    variance: np.ndarray
    mask: np.ndarray

    def __len__(self) -> int:
        return len(self.catalog)


def detect(
    image: Any,
    variance: Any = None,
    mask: Any = None,
    threshold: float = 1.5,
    minarea: int = 5,
    deblend_nthresh: int = 32,
    deblend_cont: float = 0.005,
    filter_fwhm_pixels: float | None = 2.0,
    subtract_background: bool = True,
    *,
    background: Background | None = None,
    box_size: int = 64,
    filter_size: int = 3,
    clean: bool = True,
    clean_param: float = 1.0,
    noise: str = "global",
) -> Detections:
    """Detect, segment and deblend sources, as SExtractor does.

    The background (:func:`estimate_background`) is subtracted, the image is
    filtered with a Gaussian of ``filter_fwhm_pixels`` (matched filter when
    the noise varies), pixels above ``threshold`` times the noise are
    grouped into 8-connected footprints of at least ``minarea`` pixels and
    deblended with ``deblend_nthresh`` sub-thresholds and a minimum contrast
    ``deblend_cont``; spurious detections near bright objects are cleaned.

    Parameters
    ----------
    image : array_like, 2-d
        The image. Non-finite pixels are masked automatically.
    variance : array_like or float, optional
        Per-pixel noise variance. Default: from the background estimate,
        see ``noise``. Pixels with non-finite or non-positive variance are
        masked.
    mask : array_like of bool, optional
        True where pixels are bad.
    threshold : float
        Detection threshold in units of the noise sigma (``DETECT_THRESH``).
    minarea : int
        Minimum footprint area in pixels (``DETECT_MINAREA``).
    deblend_nthresh, deblend_cont : int, float
        Deblending sub-thresholds and minimum contrast; ``deblend_cont=1``
        disables deblending.
    filter_fwhm_pixels : float or None
        FWHM of the Gaussian detection filter; None or 0: no filtering.
    subtract_background : bool
        Estimate and subtract a background first (else the image is taken
        as background-subtracted and the noise is estimated from it).
    background : Background, optional
        A precomputed background to subtract instead of estimating one.
    box_size, filter_size : int
        Background mesh parameters for :func:`estimate_background`.
    clean, clean_param : bool, float
        SExtractor ``CLEAN`` and ``CLEAN_PARAM``.
    noise : {"global", "map"}
        Without ``variance``: threshold on the global background rms (as
        SExtractor does without a weight map; robust where extended light
        inflates the local rms) or on the interpolated rms map.

    Returns
    -------
    Detections

    Raises
    ------
    GalmixValueError
        For invalid images or parameters (the message names the parameter).

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> yy, xx = np.mgrid[0:64, 0:64]
    >>> img = 500 * np.exp(-((xx - 20.3) ** 2 + (yy - 40.6) ** 2) / 8.0)
    >>> img = img + rng.normal(0.0, 1.0, img.shape)
    >>> det = detect(img, threshold=5.0)
    >>> len(det.catalog), round(float(det.catalog["x"][0]), 1), round(float(det.catalog["y"][0]), 1)
    (1, 20.3, 40.6)
    >>> int(det.segmentation[40, 20]) == int(det.catalog["id"][0])
    True
    """
    from astropy.table import Table

    sep = import_sep()
    data = as_c_float64(image, "image")
    for name, value in (("threshold", threshold), ("deblend_cont", deblend_cont)):
        if not math.isfinite(float(value)) or float(value) <= 0:
            raise GalmixValueError(f"{name} must be positive and finite, got {value!r}")
    if noise not in ("global", "map"):
        raise GalmixValueError(f"noise must be 'global' or 'map', got {noise!r}")
    if int(minarea) != minarea or minarea < 1:
        raise GalmixValueError(f"minarea must be a positive integer, got {minarea!r}")
    if int(deblend_nthresh) != deblend_nthresh or deblend_nthresh < 1:
        raise GalmixValueError(
            f"deblend_nthresh must be a positive integer, got {deblend_nthresh!r}"
        )

    bad = ~np.isfinite(data)
    user = as_mask(mask, data.shape)
    if user is not None:
        bad |= user
    var = None
    if variance is not None:
        var = np.asarray(variance, dtype=np.float64)
        if var.ndim == 0:
            var = np.full(data.shape, float(var))
        if var.shape != data.shape:
            raise GalmixValueError(
                f"variance must be a scalar or have shape {data.shape}, got {var.shape}"
            )
        bad |= ~np.isfinite(var) | (var <= 0)
    if bad.all():
        raise GalmixValueError("image has no finite, unmasked pixel")

    if background is not None:
        if not isinstance(background, Background) or background.level.shape != data.shape:
            raise GalmixValueError("background must be a Background of the image's shape")
        bkg = background
    elif subtract_background:
        bkg = estimate_background(data, mask=bad, box_size=box_size, filter_size=filter_size)
    elif var is not None:
        # background already subtracted and noise known: no estimate needed
        rms = np.sqrt(np.where(bad, np.nan, var))
        good_rms = rms[~bad]
        bkg = Background(
            level=np.zeros_like(data),
            rms=np.where(bad, np.median(good_rms), rms),
            global_level=0.0,
            global_rms=float(np.median(good_rms)),
            box_size=int(box_size),
            filter_size=int(filter_size),
        )
    else:
        bkg = _zero_background(data, bad, box_size, filter_size)
    sub = data - bkg.level if (background is not None or subtract_background) else data.copy()
    sub[bad] = 0.0
    sub = np.ascontiguousarray(sub)
    if var is None:
        var = np.full(data.shape, bkg.global_rms**2) if noise == "global" else bkg.rms**2
    var = np.ascontiguousarray(np.where(bad, np.inf, var))

    kernel = None
    if filter_fwhm_pixels:
        kernel = gaussian_kernel(filter_fwhm_pixels)
    ensure_buffers(sep, data.size)
    objects, seg = sep.extract(
        sub,
        float(threshold),
        var=var,
        mask=bad if bad.any() else None,
        minarea=int(minarea),
        filter_kernel=kernel,
        filter_type="conv",
        deblend_nthresh=int(deblend_nthresh),
        deblend_cont=float(deblend_cont),
        clean=bool(clean),
        clean_param=float(clean_param),
        segmentation_map=True,
    )
    n = len(objects)
    seg = np.ascontiguousarray(seg, dtype=np.int32)
    flags = sep_flags_to_galmix(objects["flag"]) if n else np.zeros(0, np.int64)
    a = np.asarray(objects["a"], dtype=np.float64)
    b = np.asarray(objects["b"], dtype=np.float64)
    theta = np.asarray(objects["theta"], dtype=np.float64)
    # degenerate shapes (single-row/column footprints): keep a usable ellipse
    badshape = ~np.isfinite(a) | ~np.isfinite(b) | ~np.isfinite(theta) | (b <= 0)
    if badshape.any():
        flags[badshape] |= int(FLAGS.NONPOSITIVE_MOMENTS)
        a = np.where(badshape, np.maximum(np.nan_to_num(a, nan=0.5), 0.5), a)
        b = np.where(badshape, np.minimum(np.maximum(np.nan_to_num(b, nan=0.5), 0.5), a), b)
        theta = np.where(np.isfinite(theta), theta, 0.0)
    # footprints that touch masked pixels
    if bad.any() and n:
        touch = _labels_touching(seg, bad)
        if touch.size:
            flags[touch - 1] |= int(FLAGS.NONFINITE_PIXELS)
    cat = Table()
    cat["id"] = np.arange(1, n + 1, dtype=np.int64)
    cat["x"] = np.asarray(objects["x"], dtype=np.float64)
    cat["y"] = np.asarray(objects["y"], dtype=np.float64)
    cat["a"] = a
    cat["b"] = b
    cat["theta"] = theta
    cat["npix"] = np.asarray(objects["npix"], dtype=np.int64)
    cat["peak"] = np.asarray(objects["peak"], dtype=np.float64)
    cat["flags"] = flags
    cat["x2"] = np.asarray(objects["x2"], dtype=np.float64)
    cat["y2"] = np.asarray(objects["y2"], dtype=np.float64)
    cat["xy"] = np.asarray(objects["xy"], dtype=np.float64)
    cat["flux_iso"] = np.asarray(objects["flux"], dtype=np.float64)
    cat["xpeak"] = np.asarray(objects["xpeak"], dtype=np.int64)
    cat["ypeak"] = np.asarray(objects["ypeak"], dtype=np.int64)
    for col in ("xmin", "xmax", "ymin", "ymax"):
        cat[col] = np.asarray(objects[col], dtype=np.int64)
    return Detections(
        catalog=cat,
        segmentation=seg,
        background=bkg,
        image=sub,
        variance=var,
        mask=bad,
    )


def _zero_background(data: np.ndarray, bad: np.ndarray, box: int, fs: int) -> Background:
    """Zero background level with the noise measured on the image."""
    est = estimate_background(data, mask=bad, box_size=box, filter_size=fs)
    return Background(
        level=np.zeros_like(data),
        rms=est.rms,
        global_level=0.0,
        global_rms=est.global_rms,
        box_size=est.box_size,
        filter_size=est.filter_size,
    )


def _labels_touching(seg: np.ndarray, bad: np.ndarray) -> np.ndarray:
    """Segmentation labels whose footprint contains or borders a bad pixel."""
    from scipy.ndimage import binary_dilation

    near = binary_dilation(bad, structure=np.ones((3, 3), bool))
    labels = np.unique(seg[near])
    return labels[labels > 0].astype(np.int64)
