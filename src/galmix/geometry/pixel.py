"""Pixel response: which part of each pixel is sensitive to light."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from galmix.errors import GalmixValueError

__all__ = ["PixelResponse"]


@dataclass(frozen=True)
class PixelResponse:
    """Sensitive area of a pixel, in pixel units.

    The default is the full square pixel (a CCD). A CMOS sensor with
    in-pixel electronics is described, as in AstroPhot's
    ``CMOSTargetImage``, by a square sensitive sub-pixel of side
    ``subpixel_scale`` (in units of the pixel side) centred at
    ``subpixel_loc`` (offset ``(dx, dy)`` from the pixel centre, in pixels).
    Rendering with ``method="auto"`` integrates the surface brightness over
    this sub-area, so image values are the flux collected by the sensitive
    area (a uniform sky of surface brightness ``S`` gives
    ``S * subpixel_scale**2 * |det J|`` per pixel).

    Parameters
    ----------
    subpixel_loc : tuple of float
        ``(dx, dy)`` offset of the sensitive area's centre from the pixel
        centre; the sub-pixel must lie inside the pixel.
    subpixel_scale : float
        Side of the sensitive square, ``0 < subpixel_scale <= 1``.

    Examples
    --------
    >>> cmos = PixelResponse(subpixel_loc=(-0.1, -0.1), subpixel_scale=0.8)
    >>> cmos.fill_factor
    0.6400000000000001
    >>> PixelResponse().is_full
    True
    """

    subpixel_loc: tuple[float, float] = (0.0, 0.0)
    subpixel_scale: float = 1.0

    def __post_init__(self) -> None:
        try:
            loc = tuple(float(c) for c in self.subpixel_loc)
        except (TypeError, ValueError):
            raise GalmixValueError(
                f"subpixel_loc must be a pair of numbers, got {self.subpixel_loc!r}"
            ) from None
        if len(loc) != 2 or not all(math.isfinite(c) for c in loc):
            raise GalmixValueError(
                f"subpixel_loc must be two finite numbers, got {self.subpixel_loc!r}"
            )
        scale = float(self.subpixel_scale)
        if not (math.isfinite(scale) and 0.0 < scale <= 1.0):
            raise GalmixValueError(f"subpixel_scale must be in (0, 1], got {self.subpixel_scale!r}")
        half = scale / 2.0
        for c, name in zip(loc, ("x", "y")):
            if c - half < -0.5 - 1e-12 or c + half > 0.5 + 1e-12:
                raise GalmixValueError(
                    f"subpixel_loc {name}={c!r} with subpixel_scale={scale!r} puts the "
                    "sensitive area outside the pixel"
                )
        object.__setattr__(self, "subpixel_loc", loc)
        object.__setattr__(self, "subpixel_scale", scale)

    @property
    def fill_factor(self) -> float:
        """Fraction of the pixel area that is sensitive."""
        return self.subpixel_scale**2

    @property
    def is_full(self) -> bool:
        """True for the full square pixel (no sub-pixel structure)."""
        return self.subpixel_scale == 1.0 and self.subpixel_loc == (0.0, 0.0)

    def as_array(self) -> np.ndarray:
        """``[dx, dy, side]`` as float64, for numba kernels."""
        return np.array([self.subpixel_loc[0], self.subpixel_loc[1], self.subpixel_scale])
