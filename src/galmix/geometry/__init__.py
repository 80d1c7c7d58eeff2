"""Geometry: the local :class:`Jacobian`, celestial :class:`WCS` and pixel response."""

from galmix.geometry.jacobian import Jacobian
from galmix.geometry.pixel import PixelResponse
from galmix.geometry.wcs import WCS, read_header

__all__ = ["WCS", "Jacobian", "PixelResponse", "read_header"]
