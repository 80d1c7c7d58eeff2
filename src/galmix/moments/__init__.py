"""Gaussian-weighted and adaptive second moments in world coordinates.

Examples
--------
>>> import numpy as np
>>> from galmix import Observation
>>> from galmix.moments import gauss_moments
>>> y, x = np.mgrid[0:25, 0:25] - 12.0
>>> res = gauss_moments(Observation(np.exp(-0.5 * (x**2 + y**2) / 4.0)), fwhm=4.0)
>>> res.flags
0
"""

from galmix.moments.moments import MomentsResult, adaptive_moments, gauss_moments

__all__ = ["MomentsResult", "adaptive_moments", "gauss_moments"]
