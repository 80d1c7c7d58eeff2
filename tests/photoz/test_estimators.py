"""Photo-z estimators: protocol, PDFs, determinism, and accuracy on real SDSS galaxies."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats
from sklearn.base import clone

from galmix.errors import GalmixValueError
from galmix.photoz import (
    FluxFeatures,
    GradientBoostingPhotoZ,
    KNNPhotoZ,
    RandomForestPhotoZ,
    cross_validate,
    default_estimator,
    metrics,
)

FAST_BOOST = {
    "n_members": 2,
    "n_realisations": 1,
    "learning_rate": 0.15,
    "max_iter": 200,
    "quantiles": (0.16, 0.84),
}


def _toy(rng, n=3000, noise=0.03):
    """z depends smoothly on two features; Gaussian noise of known width."""
    X = rng.uniform(0, 1, size=(n, 2))
    z_mean = 0.1 + 0.4 * X[:, 0] + 0.1 * np.sin(3 * X[:, 1])
    return X, z_mean, z_mean + rng.normal(0, noise, n)


def test_sklearn_protocol_clone_and_params():
    feats = FluxFeatures(n_sets=2, has_extinction=True)
    for est in (KNNPhotoZ(features=feats), RandomForestPhotoZ(), default_estimator(feats)):
        c = clone(est)
        assert type(c) is type(est)
        assert repr(c.get_params(deep=False)) == repr(est.get_params(deep=False))
        assert not hasattr(c, "train_X_")


def test_boost_recovers_median_and_calibrated_quantiles(rng):
    X, _z_mean, z = _toy(rng, n=1500)
    Xt, zmt, zt = _toy(rng, n=1500)
    m = GradientBoostingPhotoZ(**FAST_BOOST, random_state=1).fit(X, z)
    pred = m.predict(Xt)
    # point estimate close to the noise-free truth (much better than the noise)
    assert np.std(pred - zmt) < 0.012
    Q = m.predict_quantiles(Xt)
    assert m.quantile_levels == (0.16, 0.5, 0.84)
    assert np.all(np.diff(Q, axis=1) >= 0)
    # the 16/84 quantiles of N(z_mean, 0.03) are z_mean -+ 0.03
    np.testing.assert_allclose(np.median(Q[:, 2] - Q[:, 0]), 0.06, rtol=0.2)
    # PIT of fresh draws: calibrated within a few per cent
    pit = m.predict_cdf(Xt, zt)
    assert np.mean(np.abs(pit - 0.5) <= 0.34) == pytest.approx(0.68, abs=0.06)
    assert stats.kstest(pit, "uniform").statistic < 0.08


def test_boost_pdf_consistent_with_cdf(rng):
    X, _, z = _toy(rng, n=1000)
    m = GradientBoostingPhotoZ(**FAST_BOOST).fit(X, z)
    # fine grid: the PDF is piecewise smooth (kinks at knots) and the grid integral
    # converges to the exact CDF
    g = np.linspace(-0.3, 1.2, 30001)
    pdf = m.predict_pdf(X[:20], g)
    np.testing.assert_allclose(np.trapezoid(pdf, g, axis=1), 1.0, atol=1e-9)
    # rows are renormalised on the grid: compare ratios of integrals with CDF differences
    n = 20
    lo = m.predict_cdf(X[:n], np.full(n, g[0]))
    hi = m.predict_cdf(X[:n], np.full(n, g[-1]))
    mid = m.predict_cdf(X[:n], z[:n])
    cdf_num = np.array([np.trapezoid(p[g <= v], g[g <= v]) for p, v in zip(pdf, z[:n])])
    np.testing.assert_allclose(cdf_num, (mid - lo) / (hi - lo), atol=2e-3)
    # the quantiles invert the CDF
    Q = m.predict_quantiles(X[:n], levels=(0.1, 0.5, 0.9))
    for j, level in enumerate((0.1, 0.5, 0.9)):
        np.testing.assert_allclose(m.predict_cdf(X[:n], Q[:, j]), level, atol=1e-6)


def test_knn_pdf_normalised_and_centred(rng):
    X, _zm, z = _toy(rng, n=2000, noise=0.01)
    m = KNNPhotoZ(n_neighbors=20).fit(X, z)
    g = np.linspace(0, 1, 1001)
    pdf = m.predict_pdf(X[:50], g)
    np.testing.assert_allclose(np.trapezoid(pdf, g, axis=1), 1.0, atol=1e-6)
    mean = np.trapezoid(pdf * g, g, axis=1)
    np.testing.assert_allclose(mean, m.predict(X[:50]), atol=0.01)


def test_chunked_prediction_equals_one_shot(rng):
    X, _, z = _toy(rng, n=600)
    for est in (
        KNNPhotoZ(n_neighbors=5),
        RandomForestPhotoZ(n_estimators=10),
        GradientBoostingPhotoZ(**FAST_BOOST),
    ):
        a = clone(est).set_params(chunk_size=10**6).fit(X, z).predict(X)
        b = clone(est).set_params(chunk_size=37).fit(X, z).predict(X)
        np.testing.assert_array_equal(a, b)


def test_deterministic_for_fixed_seed(rng):
    X, _, z = _toy(rng, n=800)
    feats = None
    a = GradientBoostingPhotoZ(**FAST_BOOST, random_state=3, features=feats).fit(X, z).predict(X)
    b = GradientBoostingPhotoZ(**FAST_BOOST, random_state=3, features=feats).fit(X, z).predict(X)
    np.testing.assert_array_equal(a, b)


def test_input_validation(rng):
    X, _, z = _toy(rng, n=100)
    with pytest.raises(GalmixValueError, match="one value per row"):
        KNNPhotoZ().fit(X, z[:-1])
    with pytest.raises(GalmixValueError, match="n_neighbors"):
        KNNPhotoZ(n_neighbors=1000).fit(X, z)
    with pytest.raises(GalmixValueError, match="quantiles"):
        GradientBoostingPhotoZ(quantiles=(0.5,)).fit(X, z)
    m = KNNPhotoZ(n_neighbors=3).fit(X, z)
    with pytest.raises(GalmixValueError, match="columns"):
        m.predict(np.ones((2, 5)))


def test_real_sdss_boost_beats_baselines(gst_subsample, gst_features):
    """2-fold CV on 3000 real SDSS galaxies (the full 5-fold run is in benchmarks/)."""
    X, z = gst_subsample
    knn = KNNPhotoZ(
        n_neighbors=10,
        features=FluxFeatures(
            n_sets=2, has_extinction=True, with_errors=False, missing_indicator=False
        ),
    )
    boost = default_estimator(gst_features, **FAST_BOOST)
    r_knn = cross_validate(knn, X, z, n_splits=2, seed=0)["metrics"]
    r_boost = cross_validate(boost, X, z, n_splits=2, seed=0)["metrics"]
    assert r_boost["sigma_nmad"] < 0.0160
    assert r_boost["outlier_fraction"] < 0.01
    assert abs(r_boost["bias"]) < 0.003
    assert r_boost["sigma_nmad"] < r_knn["sigma_nmad"]


def test_error_perturbation_is_used(gst_subsample, gst_features):
    """With features, members see perturbed copies: training rows are tripled."""
    X, z = gst_subsample
    m = GradientBoostingPhotoZ(
        n_members=1,
        n_realisations=2,
        max_iter=5,
        validation_fraction=None,
        quantiles=(),
        features=gst_features,
    ).fit(X[:500], z[:500])
    assert m.members_[0]._n_features == len(gst_features.feature_names())
    assert m.n_iter_ == [5]
    r = metrics(z[500:1000], m.predict(X[500:1000]))
    assert np.isfinite(r["sigma_nmad"])
