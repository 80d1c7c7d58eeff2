"""galmix: pixel-level galaxy measurement.

Images with any WCS, PSF, noise and mask in; catalogs of fluxes, structural
parameters, unbiased shears and photometric redshifts out.
"""

from galmix import _numba_cache  # noqa: F401  (must precede numba imports)
from galmix.errors import FLAGS, flag_names
from galmix.geometry import WCS, Jacobian, PixelResponse
from galmix.image import MultiBandObservation, Observation

__version__ = "0.1.0"

__all__ = [
    "FLAGS",
    "WCS",
    "Jacobian",
    "MultiBandObservation",
    "Observation",
    "PixelResponse",
    "__version__",
    "flag_names",
]
