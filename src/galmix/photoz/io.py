"""Safe persistence of photo-z models (no pickle).

A model file is a NumPy ``.npz`` archive read with ``allow_pickle=False``
holding only numeric arrays and one JSON string:

``metadata``
    JSON: ``format`` (``"galmix-photoz-model"``), ``format_version`` (1),
    ``estimator`` (a key of :data:`~galmix.photoz.estimators.ESTIMATORS`),
    ``params`` (the estimator's constructor parameters; a ``features``
    transformer is stored as ``{"class": "FluxFeatures", "params": {...}}``),
    ``galmix_version``, ``sklearn_version``, ``numpy_version``, ``n_train``,
    and any user ``info``.
``train_X``, ``train_z``
    The raw training matrix and redshifts.
``check_X``, ``check_pred``
    Up to 64 training rows and the fitted model's predictions for them.

Loading *re-fits* the estimator from the stored training set and
hyper-parameters. Every galmix estimator is deterministic for a fixed
``random_state``, so the re-fitted model is the saved one; ``load_model``
verifies this on ``check_X`` and warns when predictions differ (e.g. after a
scikit-learn upgrade changed its algorithms). This is slower than
deserialising trees but robust: no code or object graph is ever read from the
file, and the format does not depend on scikit-learn internals.

Examples
--------
>>> import numpy as np, tempfile, os
>>> from galmix.photoz import KNNPhotoZ, save_model, load_model
>>> X = np.arange(30.0).reshape(15, 2); z = X[:, 0] / 100
>>> path = os.path.join(tempfile.mkdtemp(), "m.npz")
>>> save_model(KNNPhotoZ(n_neighbors=2).fit(X, z), path)
>>> float(load_model(path).predict(X[:1])[0]) == float(KNNPhotoZ(n_neighbors=2).fit(X, z).predict(X[:1])[0])
True
"""

from __future__ import annotations

import json
import os
import tempfile
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from galmix.errors import GalmixIOError, GalmixValueError
from galmix.photoz.estimators import ESTIMATORS
from galmix.photoz.features import FluxFeatures

__all__ = ["FORMAT", "FORMAT_VERSION", "load_model", "model_from_spec", "save_model"]

FORMAT = "galmix-photoz-model"
FORMAT_VERSION = 1
_CHECK_ROWS = 64
_TRANSFORMERS = {"FluxFeatures": FluxFeatures}


def _to_json(value: Any) -> Any:
    if isinstance(value, FluxFeatures):
        return {"class": "FluxFeatures", "params": _to_json(value.get_params(deep=False))}
    if isinstance(value, dict):
        return {str(k): _to_json(v) for k, v in value.items()}
    if isinstance(value, (tuple, list)):
        return [_to_json(v) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    raise GalmixValueError(f"cannot store parameter value {value!r} of type {type(value).__name__}")


def _from_json(value: Any) -> Any:
    if isinstance(value, dict):
        if set(value) == {"class", "params"}:
            cls = _TRANSFORMERS.get(value["class"])
            if cls is None:
                raise GalmixIOError(f"unknown transformer class {value['class']!r} in model file")
            return cls(**_from_json(value["params"]))
        return {k: _from_json(v) for k, v in value.items()}
    if isinstance(value, list):
        return tuple(_from_json(v) for v in value)
    return value


def _estimator_name(model) -> str:
    for name, cls in ESTIMATORS.items():
        if type(model) is cls:
            return name
    raise GalmixValueError(
        f"model must be one of {sorted(c.__name__ for c in ESTIMATORS.values())}, "
        f"got {type(model).__name__}"
    )


def model_from_spec(estimator: str, params: dict) -> Any:
    """Build an (unfitted) estimator from a registry name and JSON-like params.

    Examples
    --------
    >>> model_from_spec("knn", {"n_neighbors": 3}).n_neighbors
    3
    """
    cls = ESTIMATORS.get(estimator)
    if cls is None:
        raise GalmixValueError(f"estimator must be one of {sorted(ESTIMATORS)}, got {estimator!r}")
    params = _from_json(params)
    try:
        return cls(**params)
    except TypeError as exc:
        raise GalmixValueError(f"invalid parameters for {estimator!r}: {exc}") from None


def save_model(model, path: str | os.PathLike, info: dict | None = None) -> None:
    """Write a fitted galmix estimator to ``path`` (npz, see module docs).

    The write is atomic (temporary file + rename).
    """
    import sklearn

    import galmix

    if not hasattr(model, "train_X_"):
        raise GalmixValueError("model is not fitted")
    name = _estimator_name(model)
    X = np.asarray(model.train_X_, dtype=np.float64)
    z = np.asarray(model.train_z_, dtype=np.float64)
    check_X = X[: min(_CHECK_ROWS, X.shape[0])]
    meta = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "estimator": name,
        "params": _to_json(model.get_params(deep=False)),
        "galmix_version": getattr(galmix, "__version__", "unknown"),
        "sklearn_version": sklearn.__version__,
        "numpy_version": np.__version__,
        "n_train": int(X.shape[0]),
        "info": _to_json(info or {}),
    }
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=path.name + ".", suffix=".tmp.npz", dir=path.parent)
    os.close(fd)
    try:
        with open(tmp, "wb") as fh:
            np.savez_compressed(
                fh,
                metadata=np.array(json.dumps(meta)),
                train_X=X,
                train_z=z,
                check_X=check_X,
                check_pred=model.predict(check_X),
            )
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def read_model_metadata(path: str | os.PathLike) -> dict:
    """The JSON metadata of a model file (without re-fitting)."""
    try:
        with np.load(path, allow_pickle=False) as data:
            meta = json.loads(str(data["metadata"][()]))
    except (OSError, ValueError, KeyError) as exc:
        raise GalmixIOError(f"cannot read photo-z model {str(path)!r}: {exc}") from None
    if meta.get("format") != FORMAT:
        raise GalmixIOError(f"{str(path)!r} is not a galmix photo-z model file")
    if int(meta.get("format_version", -1)) > FORMAT_VERSION:
        raise GalmixIOError(
            f"{str(path)!r} has format_version {meta.get('format_version')}, "
            f"this galmix reads <= {FORMAT_VERSION}"
        )
    return meta


def load_model(path: str | os.PathLike, verify: bool = True):
    """Re-create a saved estimator by re-fitting it on its stored training set.

    Parameters
    ----------
    path : path-like
    verify : bool
        Compare predictions on the stored check rows with the saved ones and
        warn (``RuntimeWarning``) if they differ by more than 1e-6.
    """
    meta = read_model_metadata(path)
    model = model_from_spec(meta["estimator"], meta["params"])
    with np.load(path, allow_pickle=False) as data:
        X = np.array(data["train_X"], dtype=np.float64)
        z = np.array(data["train_z"], dtype=np.float64)
        check_X = np.array(data["check_X"], dtype=np.float64)
        check_pred = np.array(data["check_pred"], dtype=np.float64)
    model.fit(X, z)
    model.model_info_ = meta
    if verify and check_X.size:
        diff = float(np.max(np.abs(model.predict(check_X) - check_pred)))
        if diff > 1e-6:
            warnings.warn(
                f"re-fitted photo-z model from {str(path)!r} differs from the saved one by up "
                f"to {diff:.3g} in z (saved with scikit-learn {meta.get('sklearn_version')})",
                RuntimeWarning,
                stacklevel=2,
            )
    return model
