"""PSF models as Gaussian mixtures: fits to PSF images and analytic PSFs.

Examples
--------
>>> from galmix.psf import moffat_gmix
>>> psf = moffat_gmix(fwhm=0.9, beta=3.0).shear(0.02, -0.01)
>>> round(psf.flux, 12)
1.0
"""

from galmix.psf.analytic import airy_gmix, fit_radial_mixture, kolmogorov_gmix, moffat_gmix
from galmix.psf.fit import PSFFitResult, fit_psf

__all__ = [
    "PSFFitResult",
    "airy_gmix",
    "fit_psf",
    "fit_radial_mixture",
    "kolmogorov_gmix",
    "moffat_gmix",
]
