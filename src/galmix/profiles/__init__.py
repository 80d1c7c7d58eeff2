"""Profiles as Gaussian mixtures: :class:`GMix` and the Sersic family.

Examples
--------
>>> from galmix.profiles import Exponential, Gaussian
>>> gal = Exponential(1.0, half_light_radius=0.5).shear(0.1, 0.0)
>>> psf = Gaussian(1.0, sigma=0.3)
>>> obs_model = gal.gmix().convolve(psf)
>>> len(obs_model), round(obs_model.flux, 12)
(10, 1.0)
"""

from galmix.profiles.gmix import GMix, shear_matrix
from galmix.profiles.models import (
    DeVaucouleurs,
    Exponential,
    Gaussian,
    PointSource,
    Profile,
    Sersic,
)
from galmix.profiles.sersic import (
    DEFAULT_NGAUSS,
    SERSIC_N_RANGE,
    available_ngauss,
    sersic_mixture,
    sersic_mixture_deriv,
)

__all__ = [
    "DEFAULT_NGAUSS",
    "SERSIC_N_RANGE",
    "DeVaucouleurs",
    "Exponential",
    "GMix",
    "Gaussian",
    "PointSource",
    "Profile",
    "Sersic",
    "available_ngauss",
    "sersic_mixture",
    "sersic_mixture_deriv",
    "shear_matrix",
]
