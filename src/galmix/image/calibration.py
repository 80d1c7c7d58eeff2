"""Error images and weights from a frame's photometric calibration.

Survey pipelines such as SDSS publish images that are already
sky-subtracted and calibrated (e.g. in nanomaggies), together with what is
needed to undo both steps: a calibration vector (calibrated units per count,
flat field included, one value per column) and a coarse sky grid in counts
with the coordinates at which each image pixel falls on that grid. The noise
of a pixel is then recovered in counts ("data numbers", DN) and converted
back (SDSS frame data model, ``read_frame.pro`` of photoop)::

    dn     = img / cimg + sky                     # counts
    dn_err = sqrt(dn / gain + dark_variance)      # counts
    err    = dn_err * cimg                        # calibrated units

where ``cimg`` is the calibration vector repeated over rows, ``sky`` the
coarse sky grid bilinearly interpolated to full size (constant beyond its
edges), ``gain`` in electrons per count and ``dark_variance`` in counts^2
(read noise plus dark-current noise).

Nothing here is specific to SDSS; :mod:`galmix.sdss` supplies the SDSS
frame layout and the gain / dark-variance table.

Examples
--------
>>> import numpy as np
>>> img = np.zeros((3, 4))                      # sky-subtracted, calibrated
>>> calib = np.full(4, 0.005)                   # calibrated units per count
>>> sky = np.full((3, 4), 100.0)                # counts
>>> err = error_image(img, calib, sky, gain=4.0, dark_variance=1.0)
>>> round(float(err[0, 0]), 6)                  # sqrt(100/4 + 1) * 0.005
0.025495
"""

from __future__ import annotations

from typing import Any

import numpy as np

from galmix.errors import GalmixTypeError, GalmixValueError

__all__ = [
    "calibration_image",
    "counts_image",
    "error_image",
    "interpolate_sky",
    "inverse_variance_weight",
    "weight_from_calibration",
]


def _float_array(value: Any, name: str, ndim: int | tuple[int, ...]) -> np.ndarray:
    try:
        arr = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):
        raise GalmixTypeError(
            f"{name} must be an array of numbers, got {type(value).__name__}"
        ) from None
    dims = (ndim,) if isinstance(ndim, int) else ndim
    if arr.ndim not in dims:
        raise GalmixValueError(
            f"{name} must have {' or '.join(map(str, dims))} dimension(s), got shape {arr.shape}"
        )
    if arr.size == 0:
        raise GalmixValueError(f"{name} must not be empty, got shape {arr.shape}")
    return arr


def _positive_scalar(value: Any, name: str, allow_zero: bool = False) -> float:
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise GalmixTypeError(f"{name} must be a number, got {value!r}") from None
    if not np.isfinite(v) or v < 0 or (v == 0 and not allow_zero):
        cond = ">= 0" if allow_zero else "> 0"
        raise GalmixValueError(f"{name} must be finite and {cond}, got {value!r}")
    return v


def interpolate_sky(sky_grid: Any, xinterp: Any, yinterp: Any) -> np.ndarray:
    """Bilinearly interpolate a coarse sky grid to full image size.

    Equivalent to IDL's ``interpolate(allsky, xinterp, yinterp, /grid)``:
    ``xinterp[i]`` is the (0-based, fractional) column of the grid where image
    column ``i`` falls, ``yinterp[j]`` the grid row of image row ``j``.
    Positions beyond the grid's edges take the edge value (constant, not
    linear, extrapolation, as the SDSS data model requires).

    Parameters
    ----------
    sky_grid : array_like, shape ``(ny_grid, nx_grid)``
        The coarse sky values (e.g. SDSS ``ALLSKY``, counts), indexed ``[y, x]``.
    xinterp : array_like, shape ``(nx,)``
        Grid x coordinate of every image column.
    yinterp : array_like, shape ``(ny,)``
        Grid y coordinate of every image row.

    Returns
    -------
    ndarray, shape ``(ny, nx)``
        The sky at every image pixel, float64.

    Raises
    ------
    GalmixValueError
        If the inputs have the wrong dimensions or non-finite values.

    Examples
    --------
    >>> import numpy as np
    >>> grid = np.array([[0.0, 10.0], [20.0, 30.0]])
    >>> interpolate_sky(grid, [-1.0, 0.5, 1.0, 3.0], [0.5]).tolist()
    [[10.0, 15.0, 20.0, 20.0]]
    """
    grid = _float_array(sky_grid, "sky_grid", 2)
    xi = _float_array(xinterp, "xinterp", 1)
    yi = _float_array(yinterp, "yinterp", 1)
    for name, arr in (("sky_grid", grid), ("xinterp", xi), ("yinterp", yi)):
        if not np.all(np.isfinite(arr)):
            raise GalmixValueError(
                f"{name} has {int(np.count_nonzero(~np.isfinite(arr)))} non-finite value(s)"
            )
    ny_g, nx_g = grid.shape
    x0, x1, wx = _bilinear_index(xi, nx_g)
    y0, y1, wy = _bilinear_index(yi, ny_g)
    # separable: first along x for every grid row, then along y
    along_x = grid[:, x0] * (1.0 - wx) + grid[:, x1] * wx  # (ny_g, nx)
    return along_x[y0, :] * (1.0 - wy)[:, None] + along_x[y1, :] * wy[:, None]


def _bilinear_index(coord: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Lower/upper indices and weight of the upper one, clamped to ``[0, n-1]``."""
    c = np.clip(coord, 0.0, n - 1.0)
    lo = np.floor(c).astype(np.intp)
    lo = np.minimum(lo, max(n - 2, 0))
    hi = np.minimum(lo + 1, n - 1)
    w = c - lo
    if n == 1:
        w = np.zeros_like(c)
    return lo, hi, w


def calibration_image(calib: Any, shape: tuple[int, int]) -> np.ndarray:
    """Expand a per-column calibration vector to a full image.

    Parameters
    ----------
    calib : array_like, shape ``(nx,)`` or ``(ny, nx)``
        Calibrated units per count (flat field included) for every column
        (IDL ``calib # replicate(1., nrow)``), or already a full image.
    shape : tuple of int
        ``(ny, nx)`` of the image.

    Returns
    -------
    ndarray, shape ``(ny, nx)`` (a read-only broadcast view for 1-d input)

    Examples
    --------
    >>> calibration_image([1.0, 2.0], (3, 2))[:, 1].tolist()
    [2.0, 2.0, 2.0]
    """
    c = _float_array(calib, "calib", (1, 2))
    ny, nx = (int(shape[0]), int(shape[1]))
    if c.ndim == 1:
        if c.shape[0] != nx:
            raise GalmixValueError(
                f"calib has {c.shape[0]} values but the image has {nx} columns (shape {shape})"
            )
        return np.broadcast_to(c[None, :], (ny, nx))
    if c.shape != (ny, nx):
        raise GalmixValueError(f"calib shape {c.shape} does not match image shape {shape}")
    return c


def _check_calib(cimg: np.ndarray) -> None:
    if not np.all(np.isfinite(cimg)) or np.any(cimg <= 0):
        raise GalmixValueError(
            f"calib must be finite and > 0 (calibrated units per count), min is {np.nanmin(cimg)!r}"
        )


def _sky_image(sky: Any, shape: tuple[int, int]) -> np.ndarray:
    s = np.asarray(sky, dtype=np.float64)
    if s.ndim == 0:
        return np.broadcast_to(s, shape)
    if s.shape != shape:
        raise GalmixValueError(
            f"sky shape {s.shape} does not match image shape {shape}; interpolate the "
            "coarse grid first with interpolate_sky"
        )
    return s


def counts_image(image: Any, calib: Any, sky: Any = 0.0) -> np.ndarray:
    """Undo the calibration and sky subtraction: ``dn = image / cimg + sky``.

    Parameters
    ----------
    image : array_like, shape ``(ny, nx)``
        Sky-subtracted calibrated image.
    calib : array_like, shape ``(nx,)`` or ``(ny, nx)``
        Calibrated units per count.
    sky : float or array_like, shape ``(ny, nx)``
        Full-size sky in counts (see :func:`interpolate_sky`).

    Returns
    -------
    ndarray
        The image in counts (data numbers) as it left the detector.

    Examples
    --------
    >>> counts_image([[1.0, 2.0]], [0.5, 0.5], sky=10.0).tolist()
    [[12.0, 14.0]]
    """
    img = _float_array(image, "image", 2)
    cimg = calibration_image(calib, img.shape)
    _check_calib(cimg)
    return img / cimg + _sky_image(sky, img.shape)


def error_image(
    image: Any,
    calib: Any,
    sky: Any,
    gain: float,
    dark_variance: float,
) -> np.ndarray:
    """Per-pixel 1-sigma error of a calibrated, sky-subtracted image.

    ``dn = image / cimg + sky``, ``dn_err = sqrt(max(dn, 0) / gain +
    dark_variance)``, ``err = dn_err * cimg``. Counts below zero (possible
    only where noise dips below minus the sky) carry no Poisson variance, so
    ``dn`` is clipped at 0 there (the data model's formula is undefined).
    Non-finite image pixels give a non-finite error.

    Parameters
    ----------
    image : array_like, shape ``(ny, nx)``
        Sky-subtracted calibrated image (e.g. nanomaggies).
    calib : array_like, shape ``(nx,)`` or ``(ny, nx)``
        Calibrated units per count (> 0).
    sky : float or array_like, shape ``(ny, nx)``
        Sky in counts that was subtracted (full size; see
        :func:`interpolate_sky`).
    gain : float
        Electrons per count (> 0).
    dark_variance : float
        Read-noise plus dark-current variance in counts^2 (>= 0).

    Returns
    -------
    ndarray, shape ``(ny, nx)``
        The error in the image's calibrated units.

    Examples
    --------
    >>> import numpy as np
    >>> err = error_image(np.full((2, 2), 0.5), [0.01, 0.02], 200.0, 5.0, 1.0)
    >>> [round(float(e), 6) for e in err[0]]   # sqrt((50+200)/5+1)*0.01, sqrt((25+200)/5+1)*0.02
    [0.071414, 0.135647]
    """
    g = _positive_scalar(gain, "gain")
    dv = _positive_scalar(dark_variance, "dark_variance", allow_zero=True)
    img = _float_array(image, "image", 2)
    cimg = calibration_image(calib, img.shape)
    _check_calib(cimg)
    dn = img / cimg + _sky_image(sky, img.shape)
    with np.errstate(invalid="ignore"):
        var_dn = np.where(dn > 0, dn, 0.0) / g + dv
        var_dn = np.where(np.isfinite(dn), var_dn, np.nan)
    return np.sqrt(var_dn) * cimg


def inverse_variance_weight(error: Any) -> np.ndarray:
    """Inverse-variance weight ``1 / error**2``; 0 where the error is not finite or <= 0.

    Examples
    --------
    >>> import numpy as np
    >>> inverse_variance_weight([[0.5, np.nan, 0.0]]).tolist()
    [[4.0, 0.0, 0.0]]
    """
    err = _float_array(error, "error", 2)
    with np.errstate(invalid="ignore"):
        good = np.isfinite(err) & (err > 0)
    out = np.zeros_like(err)
    np.divide(1.0, err * err, out=out, where=good)
    return out


def weight_from_calibration(
    image: Any,
    calib: Any,
    sky: Any,
    gain: float,
    dark_variance: float,
) -> np.ndarray:
    """Inverse-variance weight of a calibrated image (see :func:`error_image`).

    Pixels whose image value is not finite get weight 0.

    Examples
    --------
    >>> import numpy as np
    >>> w = weight_from_calibration(np.zeros((1, 1)), [0.01], 96.0, 4.0, 1.0)
    >>> round(float(w[0, 0]), 3)   # 1 / (sqrt(96/4+1) * 0.01)**2
    400.0
    """
    return inverse_variance_weight(error_image(image, calib, sky, gain, dark_variance))
