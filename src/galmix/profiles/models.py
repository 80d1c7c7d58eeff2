"""Surface-brightness profiles (world coordinates, arcsec) as Gaussian mixtures."""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from galmix._exact import matmul, matvec
from galmix.errors import GalmixTypeError, GalmixValueError
from galmix.profiles.gmix import GMix, _transform, shear_matrix
from galmix.profiles.sersic import DEFAULT_NGAUSS, sersic_mixture

__all__ = ["DeVaucouleurs", "Exponential", "Gaussian", "PointSource", "Profile", "Sersic"]

_IDENTITY = (1.0, 0.0, 0.0, 1.0)
FWHM_PER_SIGMA = 2.0 * math.sqrt(2.0 * math.log(2.0))
HLR_PER_SIGMA = math.sqrt(2.0 * math.log(2.0))


def _real(value: Any, name: str, positive: bool = False) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.number)):
        raise GalmixTypeError(f"{name} must be a real number, got {type(value).__name__}")
    value = float(value)
    if not math.isfinite(value) or (positive and value <= 0.0):
        kind = "positive and finite" if positive else "finite"
        raise GalmixValueError(f"{name} must be {kind}, got {value!r}")
    return value


@dataclass(frozen=True)
class Profile:
    """Base of the analytic profiles: a round profile, then a linear map and a shift.

    ``transform`` is the 2x2 matrix ``(a, b, c, d)`` = ``[[a, b], [c, d]]``
    applied to the round profile (about its centre); ``offset`` is the
    centre ``(u0, v0)`` in arcsec. Use :meth:`shear`, :meth:`rotate`,
    :meth:`dilate` and :meth:`shift` rather than setting them directly.
    """

    flux: float
    transform: tuple[float, float, float, float] = field(default=_IDENTITY, kw_only=True)
    offset: tuple[float, float] = field(default=(0.0, 0.0), kw_only=True)

    def __post_init__(self) -> None:
        object.__setattr__(self, "flux", _real(self.flux, "flux"))
        t = tuple(_real(v, "transform") for v in self.transform)
        if len(t) != 4 or t[0] * t[3] - t[1] * t[2] == 0.0:
            raise GalmixValueError(f"transform must be 4 numbers of a regular matrix, got {t!r}")
        o = tuple(_real(v, "offset") for v in self.offset)
        if len(o) != 2:
            raise GalmixValueError(f"offset must be (du, dv), got {o!r}")
        object.__setattr__(self, "transform", t)
        object.__setattr__(self, "offset", o)

    # round components: (weights summing to 1, variances in arcsec^2)
    def _round(self) -> tuple[np.ndarray, np.ndarray]:  # pragma: no cover - abstract
        raise NotImplementedError

    def gmix(self) -> GMix:
        """The Gaussian mixture of this profile (world coordinates)."""
        w, v = self._round()
        d = np.zeros((len(w), 6))
        d[:, 0] = self.flux * w
        d[:, 3] = v
        d[:, 5] = v
        if self.transform != _IDENTITY:
            d = _transform(d, np.array(self.transform).reshape(2, 2))
        d[:, 1] += self.offset[0]
        d[:, 2] += self.offset[1]
        return GMix._trusted(d)

    def _apply(self, a: np.ndarray) -> Profile:
        t = matmul(a, np.array(self.transform).reshape(2, 2))
        o = matvec(a, np.array(self.offset))
        return replace(self, transform=tuple(t.ravel().tolist()), offset=tuple(o.tolist()))

    def shear(self, g1: float, g2: float) -> Profile:
        """Shear by reduced shear ``(g1, g2)`` about the world origin (GalSim convention)."""
        return self._apply(shear_matrix(g1, g2))

    def rotate(self, theta: float) -> Profile:
        """Rotate counter-clockwise by ``theta`` radians about the world origin."""
        c, s = math.cos(float(theta)), math.sin(float(theta))
        return self._apply(np.array([[c, -s], [s, c]]))

    def dilate(self, factor: float) -> Profile:
        """Scale sizes and positions by ``factor`` at fixed flux."""
        return self._apply(np.eye(2) * _real(factor, "factor", positive=True))

    def shift(self, du: float, dv: float) -> Profile:
        """Move the centre by ``(du, dv)`` arcsec."""
        du, dv = _real(du, "du"), _real(dv, "dv")
        return replace(self, offset=(self.offset[0] + du, self.offset[1] + dv))

    def with_flux(self, flux: float) -> Profile:
        """Same profile with total flux ``flux``."""
        return replace(self, flux=flux)

    def convolve(self, other: Any) -> GMix:
        """Analytic convolution with a PSF (profile or GMix); returns a GMix."""
        return self.gmix().convolve(other)


@dataclass(frozen=True)
class Gaussian(Profile):
    """Round Gaussian ``flux * exp(-r^2 / 2 sigma^2) / (2 pi sigma^2)``.

    Examples
    --------
    >>> g = Gaussian(2.0, sigma=0.5).shear(0.1, 0.0)
    >>> g.gmix().flux
    2.0
    >>> round(Gaussian.from_fwhm(1.0, 1.0).sigma, 6)
    0.424661
    """

    sigma: float = 1.0

    def __post_init__(self) -> None:
        super().__post_init__()
        object.__setattr__(self, "sigma", _real(self.sigma, "sigma", positive=True))

    @classmethod
    def from_fwhm(cls, flux: float, fwhm: float) -> Gaussian:
        """Gaussian with the given full width at half maximum (arcsec)."""
        return cls(flux, sigma=_real(fwhm, "fwhm", positive=True) / FWHM_PER_SIGMA)

    fwhm = from_fwhm  # alias, as ``Gaussian.fwhm(flux, fwhm)``

    @property
    def half_light_radius(self) -> float:
        """Half-light radius of the round profile (arcsec)."""
        return self.sigma * HLR_PER_SIGMA

    def _round(self) -> tuple[np.ndarray, np.ndarray]:
        return np.ones(1), np.array([self.sigma**2])


@dataclass(frozen=True)
class Sersic(Profile):
    """Sersic profile ``I(r) ~ exp(-b_n (r/r_e)^(1/n))`` as a smooth-in-n mixture.

    Parameters
    ----------
    flux : float
        Total flux.
    half_light_radius : float
        Half-light radius ``r_e`` of the round profile (arcsec).
    n : float
        Sersic index, ``0.5 <= n <= 6.5``.
    ngauss : int, optional (keyword)
        Number of Gaussian components of the approximation.

    Examples
    --------
    >>> s = Sersic(1.0, half_light_radius=0.5, n=2.5).shear(0.2, -0.1).shift(0.1, 0.0)
    >>> gm = s.gmix()
    >>> len(gm), round(gm.flux, 12), [round(c, 12) for c in gm.centroid]
    (10, 1.0, [0.1, 0.0])
    """

    half_light_radius: float = 1.0
    n: float = 1.0
    ngauss: int = field(default=DEFAULT_NGAUSS, kw_only=True)

    def __post_init__(self) -> None:
        super().__post_init__()
        object.__setattr__(
            self, "half_light_radius", _real(self.half_light_radius, "half_light_radius", True)
        )
        object.__setattr__(self, "n", _real(self.n, "n", positive=True))
        sersic_mixture(self.n, self.ngauss)  # validates n and ngauss

    def _round(self) -> tuple[np.ndarray, np.ndarray]:
        w, v = sersic_mixture(self.n, self.ngauss)
        return w, v * self.half_light_radius**2


@dataclass(frozen=True)
class Exponential(Sersic):
    """Exponential disk: a Sersic profile with ``n = 1``.

    Examples
    --------
    >>> round(Exponential(3.0, half_light_radius=1.0).gmix().flux, 12)
    3.0
    """

    n: float = field(default=1.0, init=False)


@dataclass(frozen=True)
class DeVaucouleurs(Sersic):
    """De Vaucouleurs profile: a Sersic profile with ``n = 4``.

    Examples
    --------
    >>> DeVaucouleurs(1.0, half_light_radius=2.0).n
    4.0
    """

    n: float = field(default=4.0, init=False)


@dataclass(frozen=True)
class PointSource(Profile):
    """A point source (delta function); draw it with a PSF.

    Examples
    --------
    >>> PointSource(5.0).shift(0.2, 0.0).gmix().data.tolist()
    [[5.0, 0.2, 0.0, 0.0, 0.0, 0.0]]
    """

    def _round(self) -> tuple[np.ndarray, np.ndarray]:
        return np.ones(1), np.zeros(1)
