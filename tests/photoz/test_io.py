"""Safe model files: round trip, no pickle, format checks."""

from __future__ import annotations

import json

import numpy as np
import pytest

from galmix.errors import GalmixIOError
from galmix.photoz import (
    FluxFeatures,
    GradientBoostingPhotoZ,
    KNNPhotoZ,
    RandomForestPhotoZ,
    load_model,
    photometry_matrix,
    save_model,
)
from galmix.photoz.io import read_model_metadata


def _data(rng, n=300):
    flux = rng.uniform(20, 200, size=(n, 5))
    X = photometry_matrix(flux, 0.05 * flux)
    z = 0.001 * (flux[:, 2] - flux[:, 0]) + 0.3
    return X, z


@pytest.mark.parametrize(
    "est",
    [
        KNNPhotoZ(n_neighbors=4, features=FluxFeatures()),
        RandomForestPhotoZ(n_estimators=5, features=FluxFeatures()),
        GradientBoostingPhotoZ(
            n_members=2,
            n_realisations=1,
            max_iter=30,
            quantiles=(0.16, 0.84),
            features=FluxFeatures(softening={"u": 2e-10}),
        ),
    ],
)
def test_round_trip(tmp_path, rng, est, recwarn):
    X, z = _data(rng)
    est.fit(X, z)
    path = tmp_path / "model.npz"
    save_model(est, path, info={"note": "test"})
    back = load_model(path)
    assert type(back) is type(est)
    assert repr(back.get_params(deep=False)) == repr(est.get_params(deep=False))
    np.testing.assert_array_equal(back.predict(X), est.predict(X))
    assert not [w for w in recwarn if issubclass(w.category, RuntimeWarning)]
    meta = read_model_metadata(path)
    assert meta["info"] == {"note": "test"} and meta["n_train"] == 300


def test_no_pickle_in_file(tmp_path, rng):
    X, z = _data(rng)
    path = tmp_path / "m.npz"
    save_model(KNNPhotoZ(n_neighbors=3).fit(X, z), path)
    with np.load(path, allow_pickle=False) as data:
        for key in data.files:
            assert data[key].dtype != object
        assert json.loads(str(data["metadata"][()]))["format"] == "galmix-photoz-model"


def test_pickled_or_foreign_files_are_refused(tmp_path):
    evil = tmp_path / "evil.npz"
    np.savez(evil, metadata=np.array([{"a": 1}], dtype=object))
    with pytest.raises(GalmixIOError):
        load_model(evil)
    other = tmp_path / "other.npz"
    np.savez(other, metadata=np.array(json.dumps({"format": "something-else"})))
    with pytest.raises(GalmixIOError, match="not a galmix"):
        load_model(other)
    with pytest.raises(GalmixIOError):
        load_model(tmp_path / "missing.npz")


def test_unknown_estimator_name_refused(tmp_path, rng):
    X, z = _data(rng)
    path = tmp_path / "m.npz"
    save_model(KNNPhotoZ(n_neighbors=3).fit(X, z), path)
    with np.load(path, allow_pickle=False) as data:
        arrays = {k: data[k] for k in data.files}
    meta = json.loads(str(arrays["metadata"][()]))
    meta["estimator"] = "os.system"
    arrays["metadata"] = np.array(json.dumps(meta))
    np.savez(path, **arrays)
    with pytest.raises(ValueError, match="estimator must be one of"):
        load_model(path)
