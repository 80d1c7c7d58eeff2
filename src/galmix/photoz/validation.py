"""Cross-validated photo-z predictions (the protocol behind galmix's numbers).

Protocol: ``sklearn.model_selection.KFold(n_splits, shuffle=True,
random_state=seed)``; for each fold a fresh clone of the estimator is fitted
on the training part only (any hyper-parameter choice inside the estimator,
such as early stopping, uses the training part only) and predicts the test
part. Metrics are computed once on the pooled out-of-fold predictions.

Examples
--------
>>> import numpy as np
>>> from galmix.photoz import KNNPhotoZ, cross_validate
>>> X = np.random.default_rng(0).uniform(size=(100, 2)); z = 0.2 * X[:, 0]
>>> out = cross_validate(KNNPhotoZ(n_neighbors=5), X, z, n_splits=2, seed=0)
>>> sorted(out)
['fold', 'metrics', 'z_pred']
"""

from __future__ import annotations

import numpy as np
from sklearn.base import clone
from sklearn.model_selection import KFold

from galmix.errors import GalmixValueError
from galmix.photoz.metrics import metrics, pdf_metrics

__all__ = ["cross_validate"]


def cross_validate(
    estimator,
    X,
    z,
    n_splits: int = 5,
    seed: int = 0,
    z_grid: np.ndarray | None = None,
) -> dict:
    """Out-of-fold predictions and metrics with shuffled K-fold splits.

    Parameters
    ----------
    estimator : galmix photo-z estimator (unfitted; cloned per fold)
    X, z : array_like
    n_splits : int
    seed : int
        ``random_state`` of the ``KFold`` shuffle.
    z_grid : ndarray, optional
        When given and the estimator has ``predict_pdf``, PDFs are predicted
        too and the result holds ``pit``, ``coverage_0.68``, ``coverage_0.95``
        and ``pit_ks`` (and ``pdf``).

    Returns
    -------
    dict with ``z_pred`` (out-of-fold), ``fold`` (fold index of each row),
    ``metrics`` (see :func:`~galmix.photoz.metrics.metrics`) and the PDF
    entries above when requested.
    """
    X = np.asarray(X, dtype=np.float64)
    z = np.asarray(z, dtype=np.float64).ravel()
    if X.shape[0] != z.size:
        raise GalmixValueError(f"X has {X.shape[0]} rows but z has {z.size} values")
    if not 2 <= int(n_splits) <= z.size:
        raise GalmixValueError(f"n_splits must be in [2, {z.size}], got {n_splits!r}")
    want_pdf = z_grid is not None and hasattr(estimator, "predict_pdf")
    z_pred = np.empty(z.size)
    fold = np.empty(z.size, dtype=np.int64)
    pdf = np.empty((z.size, np.size(z_grid))) if want_pdf else None
    kf = KFold(n_splits=int(n_splits), shuffle=True, random_state=int(seed))
    for k, (tr, te) in enumerate(kf.split(X)):
        model = clone(estimator).fit(X[tr], z[tr])
        z_pred[te] = model.predict(X[te])
        fold[te] = k
        if want_pdf:
            pdf[te] = model.predict_pdf(X[te], z_grid)
    out = {"z_pred": z_pred, "fold": fold, "metrics": metrics(z, z_pred)}
    if want_pdf:
        out["pdf"] = pdf
        out.update(pdf_metrics(z, pdf, z_grid))
    return out
