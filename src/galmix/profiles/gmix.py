"""The Gaussian mixture (:class:`GMix`): the common currency of models and PSFs."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from galmix.errors import GalmixTypeError, GalmixValueError
from galmix.profiles._gmix_nb import convolve_nb, transform_nb

__all__ = ["GMix", "shear_matrix"]


def shear_matrix(g1: float, g2: float) -> np.ndarray:
    """The area-preserving GalSim shear matrix for reduced shear ``(g1, g2)``.

    ``A = (1/sqrt(1-|g|^2)) [[1+g1, g2], [g2, 1-g1]]``; positions map as
    ``p -> A p`` and covariances as ``C -> A C A^T``.

    Raises
    ------
    GalmixValueError
        If ``|g| >= 1`` or a component is not finite.

    Examples
    --------
    >>> a = shear_matrix(0.1, 0.0)
    >>> round(float(np.linalg.det(a)), 12)
    1.0
    """
    g1 = float(g1)
    g2 = float(g2)
    gsq = g1 * g1 + g2 * g2
    if not (math.isfinite(g1) and math.isfinite(g2)) or gsq >= 1.0:
        raise GalmixValueError(f"shear (g1, g2) must be finite with |g| < 1, got ({g1!r}, {g2!r})")
    f = 1.0 / math.sqrt(1.0 - gsq)
    return f * np.array([[1.0 + g1, g2], [g2, 1.0 - g1]])


def _readonly(a: np.ndarray) -> np.ndarray:
    a.setflags(write=False)
    return a


class GMix:
    """An immutable mixture of 2-d Gaussians in world coordinates (arcsec).

    Parameters
    ----------
    data : array_like, shape (K, 6)
        One row per component: ``[flux, u0, v0, Iuu, Iuv, Ivv]``, with the
        centre ``(u0, v0)`` in arcsec and the covariance ``[[Iuu, Iuv],
        [Iuv, Ivv]]`` in arcsec^2. Covariances must be positive
        semi-definite (zero for a point source). Fluxes may be negative.

    Raises
    ------
    GalmixTypeError
        If ``data`` is not numeric.
    GalmixValueError
        If the shape is wrong, a value is not finite or a covariance is not
        positive semi-definite.

    Examples
    --------
    >>> gm = GMix([[1.0, 0.0, 0.0, 0.5, 0.0, 0.5]])
    >>> gm.flux, gm.T
    (1.0, 1.0)
    >>> sheared = gm.shear(0.2, 0.0)
    >>> round(sheared.moments()["e1"], 6)
    0.384615
    >>> gm.convolve(gm).T
    2.0
    """

    __slots__ = ("_data",)

    def __init__(self, data: Any) -> None:
        try:
            arr = np.array(data, dtype=np.float64, copy=True)
        except (TypeError, ValueError):
            raise GalmixTypeError(
                f"GMix data must be a numeric array of shape (K, 6), got {type(data).__name__}"
            ) from None
        if arr.ndim == 1 and arr.size == 6:
            arr = arr.reshape(1, 6)
        if arr.ndim != 2 or arr.shape[1] != 6 or arr.shape[0] < 1:
            raise GalmixValueError(f"GMix data must have shape (K, 6) with K >= 1, got {arr.shape}")
        if not np.all(np.isfinite(arr)):
            raise GalmixValueError("GMix data must be finite, got non-finite values")
        iuu, iuv, ivv = arr[:, 3], arr[:, 4], arr[:, 5]
        tol = 1e-12 * np.maximum(np.abs(iuu) + np.abs(ivv), 1e-300)
        if np.any(iuu < 0) or np.any(ivv < 0) or np.any(iuu * ivv - iuv * iuv < -tol * tol):
            bad = int(
                np.flatnonzero((iuu < 0) | (ivv < 0) | (iuu * ivv - iuv * iuv < -tol * tol))[0]
            )
            raise GalmixValueError(
                f"GMix component {bad} covariance [Iuu, Iuv, Ivv]={arr[bad, 3:].tolist()} "
                "is not positive semi-definite"
            )
        self._data = _readonly(arr)

    @classmethod
    def _trusted(cls, arr: np.ndarray) -> GMix:
        """Wrap an already-validated float64 (K, 6) array (no copy, no checks)."""
        obj = cls.__new__(cls)
        obj._data = _readonly(np.ascontiguousarray(arr, dtype=np.float64))
        return obj

    # ------------------------------------------------------------------ access
    @property
    def data(self) -> np.ndarray:
        """Read-only float64 array (K, 6): ``[flux, u0, v0, Iuu, Iuv, Ivv]``."""
        return self._data

    def __len__(self) -> int:
        return self._data.shape[0]

    @property
    def ngauss(self) -> int:
        """Number of components."""
        return self._data.shape[0]

    def __repr__(self) -> str:
        return f"GMix(ngauss={len(self)}, flux={self.flux:.6g}, T={self.T:.6g})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, GMix) and np.array_equal(self._data, other._data)

    def __hash__(self) -> int:
        return hash(self._data.tobytes())

    def __add__(self, other: Any) -> GMix:
        if not hasattr(other, "gmix"):
            return NotImplemented
        return GMix._trusted(np.vstack([self._data, other.gmix().data]))

    def gmix(self) -> GMix:
        """Return ``self`` (so mixtures and profiles are interchangeable)."""
        return self

    @property
    def flux(self) -> float:
        """Total flux."""
        return float(self._data[:, 0].sum())

    @property
    def centroid(self) -> tuple[float, float]:
        """Flux-weighted centre ``(u0, v0)`` in arcsec."""
        f = self._data[:, 0]
        ftot = f.sum()
        if ftot == 0.0:
            raise GalmixValueError("centroid of a GMix with zero total flux is undefined")
        return (
            float((f * self._data[:, 1]).sum() / ftot),
            float((f * self._data[:, 2]).sum() / ftot),
        )

    def moments(self) -> dict[str, float]:
        """Unweighted moments of the whole mixture.

        Returns
        -------
        dict
            ``flux``, ``u0``, ``v0``, ``Iuu``, ``Iuv``, ``Ivv`` (about the
            centroid), ``T = Iuu + Ivv``, ``e1 = (Iuu - Ivv)/T``, ``e2 = 2 Iuv/T``.

        Examples
        --------
        >>> GMix([[2.0, 1.0, 0.0, 1.0, 0.0, 1.0]]).moments()["T"]
        2.0
        """
        d = self._data
        f = d[:, 0]
        ftot = float(f.sum())
        if ftot == 0.0:
            raise GalmixValueError("moments of a GMix with zero total flux are undefined")
        u0 = float((f * d[:, 1]).sum() / ftot)
        v0 = float((f * d[:, 2]).sum() / ftot)
        du = d[:, 1] - u0
        dv = d[:, 2] - v0
        iuu = float((f * (d[:, 3] + du * du)).sum() / ftot)
        iuv = float((f * (d[:, 4] + du * dv)).sum() / ftot)
        ivv = float((f * (d[:, 5] + dv * dv)).sum() / ftot)
        t = iuu + ivv
        e1 = (iuu - ivv) / t if t != 0 else 0.0
        e2 = 2.0 * iuv / t if t != 0 else 0.0
        return {
            "flux": ftot,
            "u0": u0,
            "v0": v0,
            "Iuu": iuu,
            "Iuv": iuv,
            "Ivv": ivv,
            "T": t,
            "e1": e1,
            "e2": e2,
        }

    @property
    def T(self) -> float:
        """``Iuu + Ivv`` of the whole mixture about its centroid (arcsec^2)."""
        return self.moments()["T"]

    # -------------------------------------------------------------- transforms
    def transform(self, matrix: Any) -> GMix:
        """Apply a linear map ``A`` about the world origin: ``p -> A p``, ``C -> A C A^T``.

        Flux is unchanged (the surface brightness is divided by ``|det A|``).
        """
        a = np.asarray(matrix, dtype=np.float64)
        if a.shape != (2, 2) or not np.all(np.isfinite(a)):
            raise GalmixValueError(f"matrix must be a finite 2x2 array, got {a!r}")
        return GMix._trusted(_transform(self._data, a))

    def shear(self, g1: float, g2: float) -> GMix:
        """Shear by reduced shear ``(g1, g2)`` (GalSim convention, area preserving).

        Examples
        --------
        >>> gm = GMix([[1.0, 0.0, 0.0, 1.0, 0.0, 1.0]]).shear(0.0, 0.3)
        >>> round(gm.moments()["e2"], 6)
        0.550459
        """
        return GMix._trusted(_transform(self._data, shear_matrix(g1, g2)))

    def rotate(self, theta: float) -> GMix:
        """Rotate counter-clockwise (from +u toward +v) by ``theta`` radians about the origin.

        Examples
        --------
        >>> gm = GMix([[1.0, 1.0, 0.0, 2.0, 0.0, 1.0]]).rotate(np.pi / 2)
        >>> np.round(gm.data, 12).tolist()
        [[1.0, 0.0, 1.0, 1.0, 0.0, 2.0]]
        """
        c, s = math.cos(float(theta)), math.sin(float(theta))
        return GMix._trusted(_transform(self._data, np.array([[c, -s], [s, c]])))

    def dilate(self, factor: float) -> GMix:
        """Scale linear sizes (and positions) by ``factor``, keeping the flux.

        Examples
        --------
        >>> GMix([[1.0, 0.0, 0.0, 1.0, 0.0, 1.0]]).dilate(2.0).T
        8.0
        """
        factor = float(factor)
        if not (math.isfinite(factor) and factor > 0):
            raise GalmixValueError(f"dilate factor must be positive and finite, got {factor!r}")
        return GMix._trusted(_transform(self._data, np.eye(2) * factor))

    def shift(self, du: float, dv: float) -> GMix:
        """Move every component by ``(du, dv)`` arcsec.

        Examples
        --------
        >>> GMix([[1.0, 0.0, 0.0, 1.0, 0.0, 1.0]]).shift(0.5, -1.0).centroid
        (0.5, -1.0)
        """
        du, dv = float(du), float(dv)
        if not (math.isfinite(du) and math.isfinite(dv)):
            raise GalmixValueError(f"shift (du, dv) must be finite, got ({du!r}, {dv!r})")
        d = self._data.copy()
        d[:, 1] += du
        d[:, 2] += dv
        return GMix._trusted(d)

    def with_flux(self, flux: float) -> GMix:
        """Rescale all component fluxes so the total is ``flux``.

        Examples
        --------
        >>> GMix([[1.0, 0, 0, 1, 0, 1], [3.0, 0, 0, 2, 0, 2]]).with_flux(2.0).data[:, 0].tolist()
        [0.5, 1.5]
        """
        flux = float(flux)
        if not math.isfinite(flux):
            raise GalmixValueError(f"flux must be finite, got {flux!r}")
        total = self.flux
        if total == 0.0:
            raise GalmixValueError("cannot rescale a GMix whose total flux is zero")
        d = self._data.copy()
        d[:, 0] *= flux / total
        return GMix._trusted(d)

    def convolve(self, other: Any) -> GMix:
        """Analytic convolution with another mixture or profile (e.g. a PSF).

        The result has ``K * L`` components: fluxes multiply, centres and
        covariances add. Convolving with a unit-flux PSF keeps the flux.

        Examples
        --------
        >>> gal = GMix([[1.0, 0.0, 0.0, 1.0, 0.0, 1.0]])
        >>> psf = GMix([[1.0, 0.0, 0.0, 0.5, 0.1, 0.5]])
        >>> gal.convolve(psf).data.tolist()
        [[1.0, 0.0, 0.0, 1.5, 0.1, 1.5]]
        """
        if not hasattr(other, "gmix"):
            raise GalmixTypeError(
                f"other must be a GMix or a profile with .gmix(), got {type(other).__name__}"
            )
        return GMix._trusted(convolve_data(self._data, other.gmix().data))


def _transform(d: np.ndarray, a: np.ndarray) -> np.ndarray:
    return transform_nb(np.ascontiguousarray(d, dtype=np.float64), np.asarray(a, dtype=np.float64))


def convolve_data(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Convolve two (K, 6) mixture arrays: returns a (K*L, 6) array."""
    return convolve_nb(
        np.ascontiguousarray(a, dtype=np.float64), np.ascontiguousarray(b, dtype=np.float64)
    )
