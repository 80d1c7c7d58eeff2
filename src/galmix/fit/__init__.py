"""Model fitting: Levenberg-Marquardt fits of PSF-convolved Gaussian-mixture models.

Single objects (:func:`fit`), many objects in parallel (:func:`fit_batch`),
blends (:func:`fit_blend`, :func:`fit_groups`), result tables and
GALFIT-style FITS output (:func:`write_galfit_fits`).
"""

from galmix.fit.batch import fit_batch
from galmix.fit.blend import blend_table, fit_blend, fit_groups, group_objects
from galmix.fit.core import FitResult, LMSettings, fit, render_model
from galmix.fit.models import MODEL_NAMES, Model
from galmix.fit.output import galfit_parameters, results_table, write_galfit_fits

__all__ = [
    "MODEL_NAMES",
    "FitResult",
    "LMSettings",
    "Model",
    "blend_table",
    "fit",
    "fit_batch",
    "fit_blend",
    "fit_groups",
    "galfit_parameters",
    "group_objects",
    "render_model",
    "results_table",
    "write_galfit_fits",
]
