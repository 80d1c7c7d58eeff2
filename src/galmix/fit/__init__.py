"""Model fitting: Levenberg-Marquardt fits of PSF-convolved Gaussian-mixture models.

Single objects (:func:`fit`), many objects in parallel (:func:`fit_batch`),
blends (:func:`fit_blend`), and GALFIT-style FITS output.
"""

from galmix.fit.batch import fit_batch
from galmix.fit.core import FitResult, LMSettings, fit
from galmix.fit.models import MODEL_NAMES, Model

__all__ = ["MODEL_NAMES", "FitResult", "LMSettings", "Model", "fit", "fit_batch"]
