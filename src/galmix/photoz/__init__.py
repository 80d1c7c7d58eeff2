"""Photometric redshifts: features, estimators, metrics, pixel-level photo-z.

Object level: catalog fluxes -> :class:`FluxFeatures` (asinh magnitudes,
colours, errors, missing-value flags) -> an estimator with scikit-learn's
``fit(X, z)`` / ``predict(X)`` protocol (:class:`KNNPhotoZ`,
:class:`RandomForestPhotoZ`, and the default :class:`GradientBoostingPhotoZ`
with ``predict_quantiles`` / ``predict_pdf``). Pixel level (image-photo-z):
:func:`pixel_vectors` -> per-pixel predictions -> :func:`aggregate_pixels`.
Quality: :func:`metrics` (sigma_NMAD, outlier fraction, bias),
:func:`pdf_metrics` (PIT, coverage), :func:`cross_validate`; plots in
:mod:`galmix.photoz.plots`; safe model files with :func:`save_model` /
:func:`load_model`.

Examples
--------
>>> import numpy as np
>>> from galmix.photoz import metrics
>>> metrics([0.1, 0.2], [0.1, 0.2])
{'sigma_nmad': 0.0, 'outlier_fraction': 0.0, 'bias': 0.0}
"""

from galmix.photoz.catalog import (
    SDSS_GST_COLUMNS,
    iter_table_chunks,
    photometry_from_table,
    read_table,
)
from galmix.photoz.estimators import (
    ESTIMATORS,
    GradientBoostingPhotoZ,
    KNNPhotoZ,
    RandomForestPhotoZ,
    default_estimator,
)
from galmix.photoz.features import (
    SDSS_SOFTENING,
    FluxFeatures,
    flux_errors_from_ivar,
    luptitudes,
    photometry_matrix,
)
from galmix.photoz.io import load_model, save_model
from galmix.photoz.metrics import coverage, metrics, pdf_metrics, pit_from_pdf
from galmix.photoz.pixels import aggregate_pixels, pixel_features, pixel_vectors
from galmix.photoz.validation import cross_validate

__all__ = [
    "ESTIMATORS",
    "SDSS_GST_COLUMNS",
    "SDSS_SOFTENING",
    "FluxFeatures",
    "GradientBoostingPhotoZ",
    "KNNPhotoZ",
    "RandomForestPhotoZ",
    "aggregate_pixels",
    "coverage",
    "cross_validate",
    "default_estimator",
    "flux_errors_from_ivar",
    "iter_table_chunks",
    "load_model",
    "luptitudes",
    "metrics",
    "pdf_metrics",
    "photometry_from_table",
    "photometry_matrix",
    "pit_from_pdf",
    "pixel_features",
    "pixel_vectors",
    "read_table",
    "save_model",
]
