"""Registration: resample a band onto a common pixel grid, with its variance.

Images hold flux per pixel. ``reproject`` resamples *surface brightness*,
so the image is divided by its pixel-area map before resampling and the
result multiplied by the output pixel areas: total flux is conserved even
when pixel scales or distortions differ.

Variance needs its own treatment, since a resampled pixel is a weighted sum
of input pixels, ``out = sum_i w_i x_i``, whose variance is
``sum_i w_i**2 var_i`` (not the interpolated variance, ``sum_i w_i var_i``).

- ``interp`` (default): values from :func:`reproject.reproject_interp`
  (bilinear); variances exactly propagated with the squared bilinear
  weights at the same input coordinates.
- ``exact``: values from :func:`reproject.reproject_exact` (flux-conserving
  polygon overlaps); variance approximated as the overlap-weighted mean
  input variance times ``min(1, A_in / A_out)`` (exact for output pixels
  that are whole multiples of input pixels or lie inside one input pixel).
- ``native``: no resampling (the pipeline measures each band on its own
  pixels and WCS).

In both resampling methods neighbouring output pixels become correlated;
per-pixel variances are right but their covariance is not recorded.
"""

from __future__ import annotations

import dataclasses
import warnings
from typing import Any

import numpy as np

from galmix._exact import snap_pixels
from galmix.errors import GalmixValueError

__all__ = ["Registered", "map_pixels", "pixel_coordinates", "register"]

_GRID_STEP = 16


@dataclasses.dataclass(frozen=True)
class Registered:
    """A band resampled onto the output grid.

    Attributes
    ----------
    image : ndarray
        Flux per output pixel (NaN outside the input footprint).
    variance : ndarray
        Per-pixel variance (``inf`` outside the footprint).
    footprint : ndarray of bool
        True where the output pixel is covered by the input.
    """

    image: np.ndarray
    variance: np.ndarray
    footprint: np.ndarray


def _astropy(wcs: Any) -> Any:
    return wcs.astropy if hasattr(wcs, "astropy") else wcs


def _area_map(awcs: Any, shape: tuple[int, int]) -> np.ndarray:
    from galmix.geometry import WCS

    return WCS(awcs, shape=shape).pixel_area_map(shape)


def map_pixels(from_awcs: Any, to_awcs: Any, x: Any, y: Any) -> tuple[np.ndarray, np.ndarray]:
    """Pixels of ``to_awcs`` at the pixels ``(x, y)`` of ``from_awcs`` (0-based).

    The exact transform (``all_pix2world`` then the iterative
    ``all_world2pix``, distortions included), rounded to 1e-7 pixel so that
    every process gets the same bits (:func:`galmix._exact.snap_pixels`).
    Points outside ``to_awcs``'s valid region come back non-finite.

    Examples
    --------
    >>> from astropy.wcs import WCS as AWCS
    >>> from galmix.sim import make_wcs_header
    >>> a = AWCS(make_wcs_header((100, 100), 0.2, sip=False))
    >>> b = AWCS(make_wcs_header((100, 100), 0.1, sip=False))  # same centre, half the pixel
    >>> x, y = map_pixels(a, b, [49.5, 59.5], [49.5, 49.5])
    >>> [round(float(v), 4) for v in x], [round(float(v), 4) for v in y]
    ([49.5, 69.5], [49.5, 49.5])
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ra, dec = from_awcs.all_pix2world(np.asarray(x, float), np.asarray(y, float), 0)
        xi, yi = to_awcs.all_world2pix(ra, dec, 0, tolerance=1e-10, maxiter=100, quiet=True)
    return snap_pixels(xi), snap_pixels(yi)


def pixel_coordinates(
    wcs_out: Any, wcs_in: Any, shape_out: tuple[int, int], step: int = _GRID_STEP
) -> tuple[np.ndarray, np.ndarray]:
    """Input-pixel coordinates ``(x_in, y_in)`` of every output pixel centre.

    The exact transform (astropy ``all_pix2world`` then ``all_world2pix``) is
    evaluated on a grid every ``step`` pixels and interpolated with a bicubic
    spline (WCS distortions are smooth polynomials, so the interpolation
    error is far below 1e-4 pixel).
    """
    from scipy.interpolate import RectBivariateSpline

    ao, ai = _astropy(wcs_out), _astropy(wcs_in)
    ny, nx = int(shape_out[0]), int(shape_out[1])
    gx = np.unique(np.r_[np.arange(0, nx, step), nx - 1]).astype(float)
    gy = np.unique(np.r_[np.arange(0, ny, step), ny - 1]).astype(float)
    xx, yy = np.meshgrid(gx, gy)
    xi, yi = map_pixels(ao, ai, xx.ravel(), yy.ravel())
    xi = xi.reshape(xx.shape)
    yi = yi.reshape(xx.shape)
    if len(gx) < 4 or len(gy) < 4:
        kx, ky = min(3, len(gx) - 1), min(3, len(gy) - 1)
    else:
        kx = ky = 3
    if len(gx) < 2 or len(gy) < 2:  # degenerate 1-pixel-wide grids: exact everywhere
        yy, xx = np.mgrid[0:ny, 0:nx].astype(float)
        x1, y1 = map_pixels(ao, ai, xx.ravel(), yy.ravel())
        return x1.reshape(ny, nx), y1.reshape(ny, nx)
    sx = RectBivariateSpline(gy, gx, xi, kx=ky, ky=kx)
    sy = RectBivariateSpline(gy, gx, yi, kx=ky, ky=kx)
    ax, ay = np.arange(ny, dtype=float), np.arange(nx, dtype=float)
    return sx(ax, ay), sy(ax, ay)


def _bilinear_squared(values: np.ndarray, xi: np.ndarray, yi: np.ndarray) -> np.ndarray:
    """``sum_i w_i**2 values_i`` with bilinear weights at ``(xi, yi)``; NaN outside."""
    ny, nx = values.shape
    x0 = np.floor(xi).astype(np.int64)
    y0 = np.floor(yi).astype(np.int64)
    fx = xi - x0
    fy = yi - y0
    out = np.zeros(xi.shape)
    inside = (xi >= -0.5) & (xi <= nx - 0.5) & (yi >= -0.5) & (yi <= ny - 0.5)
    for dy, wy in ((0, 1.0 - fy), (1, fy)):
        for dx, wx in ((0, 1.0 - fx), (1, fx)):
            xx = np.clip(x0 + dx, 0, nx - 1)
            yy = np.clip(y0 + dy, 0, ny - 1)
            w = wx * wy
            out += w * w * values[yy, xx]
    out[~inside] = np.nan
    return out


def register(
    image: np.ndarray,
    wcs_in: Any,
    wcs_out: Any,
    shape_out: tuple[int, int],
    variance: np.ndarray | None = None,
    method: str = "interp",
) -> Registered:
    """Resample a flux image (and its variance) from ``wcs_in`` onto ``wcs_out``.

    Parameters
    ----------
    image : ndarray, 2-d
        Flux per input pixel; NaN marks bad pixels.
    wcs_in, wcs_out : galmix WCS or astropy WCS
        Celestial WCS of the input and of the output grid (0-based pixels).
    shape_out : (ny, nx)
        Output shape.
    variance : ndarray, optional
        Per-pixel variance of ``image`` (``inf`` = no data). Default: zeros.
    method : {"interp", "exact"}

    Returns
    -------
    Registered

    Examples
    --------
    >>> import numpy as np
    >>> from galmix.sim import make_wcs_header
    >>> from astropy.wcs import WCS
    >>> w_in = WCS(make_wcs_header((60, 60), sip=False, crpix_offset=(0.4, -0.3)))
    >>> w_out = WCS(make_wcs_header((60, 60), sip=False))
    >>> img = np.ones((60, 60))
    >>> reg = register(img, w_in, w_out, (60, 60), variance=np.ones((60, 60)))
    >>> round(float(reg.image[30, 30]), 6), bool(reg.variance[30, 30] < 1)
    (1.0, True)
    """
    if method not in ("interp", "exact"):
        raise GalmixValueError(f"method must be 'interp' or 'exact', got {method!r}")
    image = np.asarray(image, dtype=np.float64)
    if image.ndim != 2:
        raise GalmixValueError(f"image must be 2-d, got shape {image.shape}")
    var = np.zeros_like(image) if variance is None else np.asarray(variance, dtype=np.float64)
    if var.shape != image.shape:
        raise GalmixValueError(f"variance shape {var.shape} != image shape {image.shape}")
    ai, ao = _astropy(wcs_in), _astropy(wcs_out)
    shape_out = (int(shape_out[0]), int(shape_out[1]))
    area_in = _area_map(ai, image.shape)
    area_out = _area_map(ao, shape_out)
    bad = ~np.isfinite(image) | ~np.isfinite(var)
    sb = np.where(bad, np.nan, image / area_in)
    vsb = np.where(bad, np.nan, var / area_in**2)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if method == "interp":
            from reproject import reproject_interp

            out_sb, fp = reproject_interp(
                (sb, ai),
                ao,
                shape_out=shape_out,
                order="bilinear",
                return_footprint=True,
                roundtrip_coords=False,
            )
            xi, yi = pixel_coordinates(ao, ai, shape_out)
            out_vsb = _bilinear_squared(np.where(bad, np.inf, vsb), xi, yi)
        else:
            from reproject import reproject_exact

            out_sb, fp = reproject_exact((sb, ai), ao, shape_out=shape_out, return_footprint=True)
            mean_v = reproject_exact((vsb, ai), ao, shape_out=shape_out, return_footprint=False)
            # approximate ratio A_in/A_out on the output grid from the local areas
            xi, yi = pixel_coordinates(ao, ai, shape_out)
            from scipy.ndimage import map_coordinates

            a_in_at = map_coordinates(area_in, [yi, xi], order=1, mode="nearest")
            out_vsb = mean_v * np.minimum(1.0, a_in_at / area_out)
    good = (fp > 0) & np.isfinite(out_sb) & np.isfinite(out_vsb)
    img_out = np.where(good, out_sb * area_out, np.nan)
    var_out = np.where(good, out_vsb * area_out**2, np.inf)
    return Registered(image=img_out, variance=var_out, footprint=good)
