"""Render profiles and Gaussian mixtures onto pixel grids (public API)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from galmix.errors import GalmixTypeError, GalmixValueError
from galmix.geometry import Jacobian, PixelResponse
from galmix.render import _kernels

__all__ = ["METHODS", "as_gmix_data", "draw", "draw_batch", "draw_scene"]

METHODS = ("auto", "no_pixel")
_METHOD_CODE = {"no_pixel": 0, "auto": 1}


def as_gmix_data(obj: Any, name: str = "profile") -> np.ndarray:
    """(K, 6) float64 mixture array of a profile, a GMix or a raw array.

    Examples
    --------
    >>> as_gmix_data([[1.0, 0, 0, 1, 0, 1]]).shape
    (1, 6)
    """
    if hasattr(obj, "gmix"):
        obj = obj.gmix()
    data = getattr(obj, "data", obj)
    if hasattr(obj, "image") and hasattr(obj, "jacobian"):
        raise GalmixTypeError(
            f"{name} is an image (Observation); fit it first with galmix.psf.fit_psf"
        )
    try:
        arr = np.asarray(data, dtype=np.float64)
    except (TypeError, ValueError):
        raise GalmixTypeError(
            f"{name} must be a profile, a GMix or a (K, 6) array, got {type(obj).__name__}"
        ) from None
    if arr.ndim == 1 and arr.size == 6:
        arr = arr.reshape(1, 6)
    if arr.ndim != 2 or arr.shape[1] != 6:
        raise GalmixValueError(f"{name} mixture must have shape (K, 6), got {arr.shape}")
    if not np.all(np.isfinite(arr)):
        raise GalmixValueError(f"{name} mixture has non-finite values")
    return np.ascontiguousarray(arr)


def _convolved(model: Any, psf: Any) -> np.ndarray:
    data = as_gmix_data(model, "profile")
    if psf is None:
        return data
    pdata = as_gmix_data(psf, "psf")
    k, l = data.shape[0], pdata.shape[0]
    out = np.empty((k * l, 6))
    out[:, 0] = np.repeat(data[:, 0], l) * np.tile(pdata[:, 0], k)
    for j in range(1, 6):
        out[:, j] = np.repeat(data[:, j], l) + np.tile(pdata[:, j], k)
    return out


def _jac_array(jacobian: Any) -> np.ndarray:
    if isinstance(jacobian, Jacobian):
        return jacobian.as_array()
    raise GalmixTypeError(f"jacobian must be a galmix Jacobian, got {type(jacobian).__name__}")


def _shape(shape: Any) -> tuple[int, int]:
    try:
        ny, nx = shape
        if any(isinstance(s, bool) or int(s) != s for s in (ny, nx)):
            raise ValueError
        ny, nx = int(ny), int(nx)
    except (TypeError, ValueError):
        raise GalmixValueError(f"shape must be two integers (ny, nx), got {shape!r}") from None
    if ny < 1 or nx < 1:
        raise GalmixValueError(f"shape must be positive, got {shape!r}")
    return ny, nx


def _pixel_array(pixel: Any) -> np.ndarray:
    if pixel is None:
        return np.array([0.0, 0.0, 1.0])
    if not isinstance(pixel, PixelResponse):
        raise GalmixTypeError(f"pixel must be a PixelResponse, got {type(pixel).__name__}")
    return pixel.as_array()


def _method(method: str) -> int:
    if method not in _METHOD_CODE:
        raise GalmixValueError(f"method must be one of {METHODS}, got {method!r}")
    return _METHOD_CODE[method]


def draw(
    profile: Any,
    jacobian: Jacobian,
    shape: Sequence[int],
    psf: Any = None,
    method: str = "auto",
    pixel: PixelResponse | None = None,
    image: np.ndarray | None = None,
    window: Sequence[int] | None = None,
) -> np.ndarray:
    """Render a profile (optionally PSF-convolved) onto a pixel grid.

    Parameters
    ----------
    profile : Profile, GMix or (K, 6) array
        The model in world coordinates (arcsec); centred on world (0, 0)
        unless shifted. World (0, 0) is at the Jacobian origin.
    jacobian : Jacobian
        Pixel-to-world map (any non-singular matrix: sheared, rotated,
        flipped or non-square pixels).
    shape : (ny, nx)
        Image shape.
    psf : Profile or GMix, optional
        Convolved analytically with the profile.
    method : {"auto", "no_pixel"}
        ``"auto"`` integrates the surface brightness over each pixel's
        sensitive area exactly (as GalSim ``drawImage(method="auto")``
        convolves with the pixel); ``"no_pixel"`` samples the surface
        brightness at pixel centres times the pixel area.
    pixel : PixelResponse, optional
        Sensitive sub-area of the pixels (CMOS); default the full pixel.
        Only used by ``"auto"``.
    image : ndarray, optional
        Existing float64 image of shape ``shape``: the model is ADDED to it
        in place and it is returned.
    window : (y0, y1, x0, x1), optional
        Only render pixels ``[y0:y1, x0:x1]`` (others are left untouched).

    Returns
    -------
    ndarray (ny, nx)
        Flux per pixel.

    Raises
    ------
    GalmixTypeError, GalmixValueError
        For invalid arguments (each message names the parameter).

    Examples
    --------
    >>> from galmix.geometry import Jacobian
    >>> from galmix.profiles import Exponential, Gaussian
    >>> jac = Jacobian.from_scale(0.2, x0=15.0, y0=15.0)
    >>> im = draw(Exponential(1.0, half_light_radius=0.3), jac, (31, 31), psf=Gaussian(1.0, sigma=0.3))
    >>> round(float(im.sum()), 4)
    1.0
    """
    code = _method(method)
    ny, nx = _shape(shape)
    jac = _jac_array(jacobian)
    pix = _pixel_array(pixel)
    data = _convolved(profile, psf)
    if code == 0 and np.any(data[:, 3] * data[:, 5] - data[:, 4] ** 2 <= 0.0):
        raise GalmixValueError(
            "method='no_pixel' cannot sample a point-like component (zero covariance); "
            "give a psf or use method='auto'"
        )
    if image is None:
        out = np.zeros((ny, nx))
    else:
        if not isinstance(image, np.ndarray) or image.dtype != np.float64:
            raise GalmixTypeError("image must be a float64 numpy array")
        if image.shape != (ny, nx):
            raise GalmixValueError(f"image shape {image.shape} does not match shape {(ny, nx)}")
        if not image.flags.writeable:
            raise GalmixValueError("image must be writeable")
        out = image
    y0, y1, x0, x1 = 0, ny, 0, nx
    if window is not None:
        try:
            y0, y1, x0, x1 = (int(w) for w in window)
        except (TypeError, ValueError):
            raise GalmixValueError(f"window must be (y0, y1, x0, x1), got {window!r}") from None
        y0, y1 = max(0, y0), min(ny, y1)
        x0, x1 = max(0, x0), min(nx, x1)
        if y1 <= y0 or x1 <= x0:
            return out
    view = out[y0:y1, x0:x1]
    if code == 0:
        _kernels.add_nopix(data, jac, view, float(x0), float(y0))
    else:
        _kernels.add_pix(data, jac, pix, view, float(x0), float(y0))
    return out


def draw_batch(
    profiles: Sequence[Any],
    jacobians: Jacobian | Sequence[Jacobian],
    shape: Sequence[int],
    psf: Any = None,
    method: str = "auto",
    pixel: PixelResponse | None = None,
) -> np.ndarray:
    """Render many stamps at once, in parallel over objects.

    Parameters
    ----------
    profiles : sequence of Profile / GMix / (K, 6) arrays
        One model per stamp.
    jacobians : Jacobian or sequence of Jacobian
        One shared Jacobian, or one per stamp.
    shape : (ny, nx)
        Shape of every stamp.
    psf : Profile / GMix or sequence of them, optional
        One shared PSF, or one per stamp.
    method, pixel :
        As in :func:`draw`.

    Returns
    -------
    ndarray (N, ny, nx)

    Examples
    --------
    >>> from galmix.geometry import Jacobian
    >>> from galmix.profiles import Gaussian
    >>> jac = Jacobian.from_scale(1.0, x0=10.0, y0=10.0)
    >>> ims = draw_batch([Gaussian(1.0, sigma=1.5), Gaussian(2.0, sigma=2.0)], jac, (21, 21))
    >>> ims.shape, [round(float(s), 4) for s in ims.sum(axis=(1, 2))]
    ((2, 21, 21), [1.0, 2.0])
    """
    code = _method(method)
    ny, nx = _shape(shape)
    pix = _pixel_array(pixel)
    n = len(profiles)
    if isinstance(jacobians, Jacobian):
        jacs = np.tile(jacobians.as_array(), (n, 1))
    else:
        if len(jacobians) != n:
            raise GalmixValueError(f"jacobians has {len(jacobians)} entries for {n} profiles")
        jacs = np.array([_jac_array(j) for j in jacobians]).reshape(n, 6)
    if psf is None or hasattr(psf, "gmix") or isinstance(psf, np.ndarray):
        psfs = [psf] * n
    else:
        psfs = list(psf)
        if len(psfs) != n:
            raise GalmixValueError(f"psf has {len(psfs)} entries for {n} profiles")
    datas = [_convolved(p, q) for p, q in zip(profiles, psfs)]
    if code == 0:
        for d in datas:
            if np.any(d[:, 3] * d[:, 5] - d[:, 4] ** 2 <= 0.0):
                raise GalmixValueError(
                    "method='no_pixel' cannot sample a point-like component; give a psf"
                )
    kmax = max((d.shape[0] for d in datas), default=1)
    gm = np.zeros((n, kmax, 6))
    ncomp = np.zeros(n, dtype=np.int64)
    for i, d in enumerate(datas):
        gm[i, : d.shape[0]] = d
        ncomp[i] = d.shape[0]
    images = np.zeros((n, ny, nx))
    if n:
        _kernels.add_batch(gm, ncomp, jacs, pix, images, code)
    return images


def draw_scene(
    profiles: Sequence[Any],
    jacobian: Jacobian,
    shape: Sequence[int],
    psf: Any = None,
    method: str = "auto",
    pixel: PixelResponse | None = None,
    image: np.ndarray | None = None,
) -> np.ndarray:
    """Render many objects into one image (a scene), each with its own position.

    Each object is rendered only where it has light (every component is
    clipped to its chi^2 < 72 ellipse), so a scene of N small objects on a
    large image costs about N stamps, not N full images.

    Parameters
    ----------
    profiles : sequence of Profile / GMix
        Objects in world coordinates relative to the Jacobian origin (use
        ``.shift(du, dv)`` to place them).
    jacobian, shape, psf, method, pixel, image :
        As in :func:`draw`; ``psf`` is shared by all objects.

    Examples
    --------
    >>> from galmix.geometry import Jacobian
    >>> from galmix.profiles import Gaussian
    >>> jac = Jacobian.from_scale(0.2, x0=0.0, y0=0.0)
    >>> gals = [Gaussian(1.0, sigma=0.3).shift(2.0 * i, 2.0) for i in range(1, 5)]
    >>> im = draw_scene(gals, jac, (20, 60))
    >>> round(float(im.sum()), 6)
    4.0
    """
    if len(profiles) == 0:
        ny, nx = _shape(shape)
        return np.zeros((ny, nx)) if image is None else image
    data = np.vstack([as_gmix_data(p, "profiles") for p in profiles])
    return draw(data, jacobian, shape, psf=psf, method=method, pixel=pixel, image=image)
