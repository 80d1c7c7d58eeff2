"""The local affine pixel-to-world map (:class:`Jacobian`)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from galmix.errors import GalmixTypeError, GalmixValueError

__all__ = ["Jacobian"]


@dataclass(frozen=True)
class Jacobian:
    """Local affine map from pixel ``(x, y)`` to world ``(u, v)`` in arcsec.

    ``u = dudx (x - x0) + dudy (y - y0)`` and
    ``v = dvdx (x - x0) + dvdy (y - y0)``. ``u`` points west (−RA) and ``v``
    north, as in GalSim, so a north-up east-left image has a positive
    determinant. Any real matrix with a non-zero determinant is legal:
    sheared, rotated, flipped (negative determinant) and non-square pixels.

    Parameters
    ----------
    dudx, dudy, dvdx, dvdy : float
        Matrix elements in arcsec per pixel.
    x0, y0 : float, optional
        Pixel position (0-based) that maps to world ``(0, 0)``.

    Raises
    ------
    GalmixValueError
        If an element is non-finite or the matrix is singular.

    Examples
    --------
    >>> jac = Jacobian(0.2, 0.0, 0.0, 0.2, x0=10.0, y0=10.0)
    >>> jac.to_world(11.0, 10.0)
    (0.2, 0.0)
    >>> jac.det, jac.scale
    (0.04000000000000001, 0.2)
    """

    dudx: float
    dudy: float
    dvdx: float
    dvdy: float
    x0: float = 0.0
    y0: float = 0.0

    def __post_init__(self) -> None:
        for name in ("dudx", "dudy", "dvdx", "dvdy", "x0", "y0"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float, np.number)):
                try:
                    value = float(value)
                except (TypeError, ValueError):
                    raise GalmixTypeError(
                        f"Jacobian {name} must be a real number, got {value!r}"
                    ) from None
            value = float(value)
            if not math.isfinite(value):
                raise GalmixValueError(f"Jacobian {name} must be finite, got {value!r}")
            object.__setattr__(self, name, value)
        det = self.dudx * self.dvdy - self.dudy * self.dvdx
        norm = max(abs(self.dudx), abs(self.dudy), abs(self.dvdx), abs(self.dvdy))
        if norm == 0.0 or abs(det) <= 1e-14 * norm * norm:
            raise GalmixValueError(
                "Jacobian matrix is singular: "
                f"dudx={self.dudx!r}, dudy={self.dudy!r}, dvdx={self.dvdx!r}, "
                f"dvdy={self.dvdy!r} (det={det!r})"
            )

    # ------------------------------------------------------------------ basics
    @classmethod
    def from_scale(cls, scale: float, x0: float = 0.0, y0: float = 0.0) -> Jacobian:
        """Square pixels of side ``scale`` arcsec, north up, east left.

        Examples
        --------
        >>> Jacobian.from_scale(0.263).matrix.tolist()
        [[0.263, 0.0], [0.0, 0.263]]
        """
        scale = float(scale)
        if not math.isfinite(scale) or scale <= 0:
            raise GalmixValueError(f"scale must be a positive finite number, got {scale!r}")
        return cls(scale, 0.0, 0.0, scale, x0=x0, y0=y0)

    @classmethod
    def from_matrix(cls, matrix: Any, x0: float = 0.0, y0: float = 0.0) -> Jacobian:
        """Build from a 2x2 matrix ``[[dudx, dudy], [dvdx, dvdy]]``.

        Examples
        --------
        >>> Jacobian.from_matrix([[0.1, 0.0], [0.0, -0.1]]).det
        -0.010000000000000002
        """
        m = np.asarray(matrix, dtype=float)
        if m.shape != (2, 2):
            raise GalmixValueError(f"matrix must have shape (2, 2), got {m.shape}")
        return cls(m[0, 0], m[0, 1], m[1, 0], m[1, 1], x0=x0, y0=y0)

    @classmethod
    def from_galsim(
        cls, wcs: Any, image_pos: Any = None, x0: float | None = None, y0: float | None = None
    ) -> Jacobian:
        """Local Jacobian of any GalSim WCS at ``image_pos``.

        Parameters
        ----------
        wcs : galsim.BaseWCS
            Any GalSim WCS (pixel scale, shear, Jacobian or celestial).
        image_pos : galsim.PositionD or tuple, optional
            Position (GalSim image coordinates) at which to linearise; needed
            for non-uniform WCSs.
        x0, y0 : float, optional
            Origin of the returned Jacobian (0-based pixels); default 0.

        Examples
        --------
        >>> import galsim
        >>> jac = Jacobian.from_galsim(galsim.PixelScale(0.2))
        >>> jac.matrix.tolist()
        [[0.2, 0.0], [0.0, 0.2]]
        """
        if not hasattr(wcs, "jacobian"):
            raise GalmixTypeError(f"wcs must be a GalSim WCS, got {type(wcs).__name__}")
        if image_pos is not None and not hasattr(image_pos, "x"):
            import galsim

            image_pos = galsim.PositionD(*image_pos)
        gjac = wcs.jacobian(image_pos=image_pos) if image_pos is not None else wcs.jacobian()
        return cls(
            gjac.dudx,
            gjac.dudy,
            gjac.dvdx,
            gjac.dvdy,
            x0=0.0 if x0 is None else x0,
            y0=0.0 if y0 is None else y0,
        )

    def to_galsim(self) -> Any:
        """The matrix as a ``galsim.JacobianWCS`` (origin not included)."""
        import galsim

        return galsim.JacobianWCS(self.dudx, self.dudy, self.dvdx, self.dvdy)

    @property
    def matrix(self) -> np.ndarray:
        """The 2x2 matrix ``[[dudx, dudy], [dvdx, dvdy]]``."""
        return np.array([[self.dudx, self.dudy], [self.dvdx, self.dvdy]])

    @property
    def det(self) -> float:
        """Determinant (arcsec^2 per pixel, signed; negative for flips)."""
        return self.dudx * self.dvdy - self.dudy * self.dvdx

    @property
    def area(self) -> float:
        """Pixel area in arcsec^2 (``|det|``)."""
        return abs(self.det)

    @property
    def scale(self) -> float:
        """Linear pixel scale ``sqrt(|det|)`` in arcsec."""
        return math.sqrt(abs(self.det))

    @property
    def origin(self) -> tuple[float, float]:
        """``(x0, y0)``: the pixel position of world ``(0, 0)``."""
        return (self.x0, self.y0)

    # ------------------------------------------------------------ transforms
    def to_world(self, x: Any, y: Any) -> tuple[Any, Any]:
        """Map pixel positions to world offsets ``(u, v)`` (vectorised).

        Examples
        --------
        >>> Jacobian(0.0, 0.1, 0.1, 0.0).to_world(1.0, 2.0)
        (0.2, 0.1)
        """
        dx = np.subtract(x, self.x0)
        dy = np.subtract(y, self.y0)
        u = self.dudx * dx + self.dudy * dy
        v = self.dvdx * dx + self.dvdy * dy
        if np.ndim(u) == 0:
            return float(u), float(v)
        return u, v

    def to_pixel(self, u: Any, v: Any) -> tuple[Any, Any]:
        """Map world offsets ``(u, v)`` to pixel positions (vectorised).

        Examples
        --------
        >>> jac = Jacobian(0.2, 0.05, -0.03, 0.25, x0=4.0, y0=5.0)
        >>> [round(c, 12) for c in jac.to_pixel(*jac.to_world(1.5, -2.0))]
        [1.5, -2.0]
        """
        det = self.det
        u = np.asarray(u, dtype=float)
        v = np.asarray(v, dtype=float)
        x = (self.dvdy * u - self.dudy * v) / det + self.x0
        y = (-self.dvdx * u + self.dudx * v) / det + self.y0
        if np.ndim(x) == 0:
            return float(x), float(y)
        return x, y

    def inverse(self) -> Jacobian:
        """The world-to-pixel map as a Jacobian.

        ``jac.inverse().to_world(u, v)`` equals ``jac.to_pixel(u, v)``, and
        ``jac.inverse().inverse() == jac`` up to rounding.

        Examples
        --------
        >>> jac = Jacobian(0.25, 0.0, 0.0, 0.5, x0=3.0, y0=1.0)
        >>> jac.inverse().to_world(0.0, 0.0)
        (3.0, 1.0)
        """
        det = self.det
        a, b = self.dvdy / det, -self.dudy / det
        c, d = -self.dvdx / det, self.dudx / det
        # origin of the inverse: the world point that maps to pixel (0, 0)
        u0 = -(self.dudx * self.x0 + self.dudy * self.y0)
        v0 = -(self.dvdx * self.x0 + self.dvdy * self.y0)
        return Jacobian(a, b, c, d, x0=u0, y0=v0)

    def with_origin(self, x0: float, y0: float) -> Jacobian:
        """Same matrix, new origin ``(x0, y0)`` in pixels.

        Examples
        --------
        >>> Jacobian.from_scale(0.2).with_origin(5, 6).origin
        (5.0, 6.0)
        """
        return Jacobian(self.dudx, self.dudy, self.dvdx, self.dvdy, x0=x0, y0=y0)

    def compose(self, other: Jacobian) -> Jacobian:
        """Matrix product ``self.matrix @ other.matrix`` (origin of ``other``)."""
        m = self.matrix @ other.matrix
        return Jacobian.from_matrix(m, x0=other.x0, y0=other.y0)

    def as_array(self) -> np.ndarray:
        """``[dudx, dudy, dvdx, dvdy, x0, y0]`` as float64, for numba kernels."""
        return np.array([self.dudx, self.dudy, self.dvdx, self.dvdy, self.x0, self.y0])

    def decompose(self) -> dict[str, float]:
        """Decompose into ``scale``, ``shear`` ``(g1, g2)``, ``rotation`` (rad), ``flip``.

        Follows GalSim's ``JacobianWCS.getDecomposition``:
        ``M = scale * Shear(g) * Rotation(theta) * F`` with ``F`` the identity
        or the axis swap ``[[0, 1], [1, 0]]`` applied first (GalSim's choice).
        """
        m = self.matrix
        flip = self.det < 0
        if flip:
            m = m @ np.array([[0.0, 1.0], [1.0, 0.0]])
        # polar decomposition m = S R with S symmetric positive definite
        # (columns of m rotated); R = rotation
        a, b, c, d = m[0, 0], m[0, 1], m[1, 0], m[1, 1]
        theta = math.atan2(c - b, a + d)
        ct, st = math.cos(theta), math.sin(theta)
        rinv = np.array([[ct, st], [-st, ct]])
        s = m @ rinv
        scale = math.sqrt(abs(np.linalg.det(s)))
        s = s / scale
        # s = (1/sqrt(1-g^2)) [[1+g1, g2], [g2, 1-g1]]
        denom = (s[0, 0] + s[1, 1]) / 2
        g1 = (s[0, 0] - s[1, 1]) / 2 / denom
        g2 = s[0, 1] / denom
        return {
            "scale": float(scale),
            "g1": float(g1),
            "g2": float(g2),
            "rotation": float(theta),
            "flip": bool(flip),
        }
