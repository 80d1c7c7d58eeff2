"""Sky background and noise estimation (SExtractor-style meshes, via ``sep``)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from galmix.detect._sep import as_c_float64, as_mask, import_sep
from galmix.errors import GalmixValueError

__all__ = ["Background", "estimate_background"]


@dataclass(frozen=True, eq=False)
class Background:
    """A smooth sky background and its per-pixel noise.

    Attributes
    ----------
    level : ndarray
        Background level at every pixel (image units), shape of the image.
    rms : ndarray
        Background noise (standard deviation per pixel), same shape.
    global_level : float
        Mean background level over the meshes.
    global_rms : float
        Mean background rms over the meshes.
    box_size : int
        Mesh size (pixels) actually used.
    filter_size : int
        Median-filter size (meshes) actually used.
    """

    level: np.ndarray
    rms: np.ndarray
    global_level: float
    global_rms: float
    box_size: int
    filter_size: int

    @property
    def variance(self) -> np.ndarray:
        """``rms**2``, the background variance per pixel."""
        return self.rms**2


def estimate_background(
    image: Any,
    mask: Any = None,
    box_size: int = 64,
    filter_size: int = 3,
) -> Background:
    """Estimate a smooth background and noise map, as SExtractor does.

    The image is cut into ``box_size`` meshes; in each, the mode of the
    sigma-clipped pixel histogram gives the level and the clipped standard
    deviation gives the rms; the mesh grid is median-filtered over
    ``filter_size`` meshes and interpolated with a bicubic spline
    (``sep.Background``). Non-finite pixels are always masked. A mesh is
    never larger than the image (small images get a single mesh along that
    axis, as in SExtractor).

    Parameters
    ----------
    image : array_like, 2-d
        The image (any real dtype; big-endian FITS data are fine).
    mask : array_like of bool, optional
        True where pixels are bad (excluded from the estimate).
    box_size : int
        Mesh size in pixels (SExtractor ``BACK_SIZE``).
    filter_size : int
        Median-filter size in meshes (SExtractor ``BACK_FILTERSIZE``).

    Returns
    -------
    Background

    Raises
    ------
    GalmixValueError
        If the image is not 2-d, is empty, has no finite unmasked pixel, or
        a size parameter is not a positive integer.

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(1)
    >>> img = 100.0 + rng.normal(0.0, 2.0, (128, 128))
    >>> bkg = estimate_background(img)
    >>> bool(abs(bkg.global_level - 100.0) < 0.2), bool(abs(bkg.global_rms - 2.0) < 0.1)
    (True, True)
    """
    sep = import_sep()
    data = as_c_float64(image, "image")
    if int(box_size) != box_size or box_size < 1:
        raise GalmixValueError(f"box_size must be a positive integer, got {box_size!r}")
    if int(filter_size) != filter_size or filter_size < 1:
        raise GalmixValueError(f"filter_size must be a positive integer, got {filter_size!r}")
    bad = ~np.isfinite(data)
    user = as_mask(mask, data.shape)
    if user is not None:
        bad |= user
    if bad.all():
        raise GalmixValueError("image has no finite, unmasked pixel to estimate a background")
    if bad.any():
        data = np.where(bad, 0.0, data)
    ny, nx = data.shape
    box = int(box_size)
    # as SExtractor: a mesh never exceeds the image
    bw = min(box, nx)
    bh = min(box, ny)
    fs = int(filter_size)
    if fs > 1:
        # the median filter must not be wider than the mesh grid
        fs_x = max(1, min(fs, -(-nx // bw)))
        fs_y = max(1, min(fs, -(-ny // bh)))
    else:
        fs_x = fs_y = 1
    bkg = sep.Background(
        data,
        mask=bad if bad.any() else None,
        bw=bw,
        bh=bh,
        fw=fs_x,
        fh=fs_y,
    )
    level = np.asarray(bkg.back(), dtype=np.float64)
    rms = np.asarray(bkg.rms(), dtype=np.float64)
    glob_level = float(bkg.globalback)
    glob_rms = float(bkg.globalrms)
    # meshes with too few good pixels give rms 0 or non-finite: fall back to
    # a robust global estimate so that thresholds stay meaningful
    good = np.isfinite(rms) & (rms > 0)
    if not good.all():
        fallback = glob_rms if glob_rms > 0 else _mad_std(data[~bad])
        rms = np.where(good, rms, fallback)
    if not np.isfinite(level).all():
        level = np.where(np.isfinite(level), level, glob_level)
    if not np.isfinite(glob_rms) or glob_rms <= 0:
        glob_rms = float(np.median(rms))
    return Background(
        level=level,
        rms=rms,
        global_level=glob_level,
        global_rms=glob_rms,
        box_size=min(bw, bh),
        filter_size=max(fs_x, fs_y),
    )


def _mad_std(values: np.ndarray) -> float:
    """Normalised median absolute deviation (robust sigma), > 0."""
    if values.size == 0:
        return 1.0
    med = np.median(values)
    s = 1.4826 * float(np.median(np.abs(values - med)))
    if not np.isfinite(s) or s <= 0:
        s = float(np.std(values)) or 1.0
    return s
