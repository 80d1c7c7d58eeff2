"""Asinh magnitudes and the photometric feature transformer."""

from __future__ import annotations

import astropy.units as u
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from galmix.errors import GalmixValueError
from galmix.photoz import (
    SDSS_SOFTENING,
    FluxFeatures,
    flux_errors_from_ivar,
    luptitudes,
    photometry_matrix,
)
from galmix.photoz.features import MISSING_MAGERR

BANDS = ("u", "g", "r", "i", "z")
# Published SDSS asinh-magnitude table (SDSS photometry documentation,
# "asinh magnitudes"): m(f/f0 = 0) and m(f/f0 = 10 b) per band.
SDSS_M_ZERO = {"u": 24.63, "g": 25.11, "r": 24.80, "i": 24.36, "z": 22.83}
SDSS_M_10B = {"u": 22.12, "g": 22.60, "r": 22.29, "i": 21.85, "z": 20.32}


@pytest.mark.parametrize("band", BANDS)
def test_luptitude_matches_published_sdss_table(band):
    b = SDSS_SOFTENING[band]
    # flux in nanomaggies for f/f0 = 0 and 10 b
    m, _ = luptitudes(np.array([0.0, 10 * b * 1e9]), np.ones(2), b)
    assert m[0] == pytest.approx(SDSS_M_ZERO[band], abs=0.006)
    assert m[1] == pytest.approx(SDSS_M_10B[band], abs=0.006)


def test_bright_limit_is_ab_magnitude_from_astropy():
    flux_nmgy = np.array([1e3, 1e4, 3e5])
    ref = (flux_nmgy * 1e-9 * u.ABflux).to(u.ABmag).value  # 1 maggy = AB zero point
    m, e = luptitudes(flux_nmgy, 0.01 * flux_nmgy, SDSS_SOFTENING["r"])
    np.testing.assert_allclose(m, ref, atol=1e-6)
    # Pogson error 2.5/ln10 * sigma_f / f
    np.testing.assert_allclose(e, 2.5 / np.log(10) * 0.01, rtol=1e-6)


def test_zeropoint_scaling():
    # the same physical flux in two unit systems gives the same magnitude
    m1, _ = luptitudes(np.array([50.0]), np.array([1.0]), 1e-10, zeropoint=22.5)
    m2, _ = luptitudes(np.array([5000.0]), np.array([100.0]), 1e-10, zeropoint=27.5)
    np.testing.assert_allclose(m1, m2, atol=1e-12)


@settings(max_examples=60, deadline=None)
@given(
    st.floats(-1e4, 1e5, allow_nan=False),
    st.floats(0.01, 1e3),
    st.sampled_from(BANDS),
)
def test_luptitudes_finite_and_decreasing(f, dfl, band):
    b = SDSS_SOFTENING[band]
    m, e = luptitudes(np.array([f, f + dfl]), np.array([1.0, 1.0]), b)
    assert np.all(np.isfinite(m)) and np.all(np.isfinite(e)) and np.all(e > 0)
    assert m[1] < m[0]


def test_luptitudes_validation():
    with pytest.raises(GalmixValueError, match="softening"):
        luptitudes(np.ones(2), np.ones(2), 0.0)


def test_flux_errors_from_ivar():
    np.testing.assert_array_equal(
        flux_errors_from_ivar(np.array([4.0, 0.0, -1.0, np.nan])), [0.5, np.inf, np.inf, np.inf]
    )


def _raw(n=50, seed=0):
    rng = np.random.default_rng(seed)
    flux = rng.uniform(20, 200, size=(n, 5))
    err = 0.05 * flux
    return flux, err


def test_features_layout_and_extinction():
    flux, err = _raw()
    ext = np.tile([0.5, 0.4, 0.3, 0.2, 0.1], (flux.shape[0], 1))
    f0 = FluxFeatures(has_extinction=False).fit(photometry_matrix(flux, err))
    f1 = FluxFeatures(has_extinction=True).fit(photometry_matrix(flux, err, extinction=ext))
    a = f0.transform(photometry_matrix(flux, err))
    b = f1.transform(photometry_matrix(flux, err, extinction=ext))
    names = f0.feature_names()
    assert a.shape[1] == len(names) == 1 + 4 + 5 + 5
    # reference magnitude (r) shifts by A_r, colours by the extinction differences
    np.testing.assert_allclose(b[:, 0], a[:, 0] - 0.3)
    np.testing.assert_allclose(b[:, 1:5], a[:, 1:5] - 0.1)
    # magnitude errors are not affected by extinction
    np.testing.assert_allclose(b[:, 5:10], a[:, 5:10])


def test_features_two_sets_names():
    flux, err = _raw()
    X = photometry_matrix([flux, 0.8 * flux], [err, err])
    f = FluxFeatures(n_sets=2).fit(X)
    F = f.transform(X)
    assert F.shape[1] == len(f.feature_names())
    i = f.feature_names().index("set0-set1_g")
    # model minus Petrosian for f_petro = 0.8 f_model (bright: Pogson)
    np.testing.assert_allclose(F[:, i], 2.5 * np.log10(0.8), atol=2e-3)


def test_missing_values_are_flagged_not_dropped():
    flux, err = _raw(n=4)
    ivar = 1 / err**2
    ivar[1, 0] = 0.0  # unknown error in u
    flux[2, 1] = np.nan  # missing g flux
    flux[3, 0] = -5.0  # negative u flux (non-detection): a valid measurement
    X = photometry_matrix(flux, ivar=ivar)
    f = FluxFeatures().fit(X)
    F = f.transform(X)
    names = f.feature_names()
    assert np.all(np.isfinite(F)) and F.shape[0] == 4
    miss = F[:, [names.index(f"missing_{b}") for b in BANDS]]
    assert miss[1, 0] == 1 and miss[2, 1] == 1 and miss[3].sum() == 0 and miss[0].sum() == 0
    assert F[1, names.index("magerr_u")] == MISSING_MAGERR
    assert F[3, names.index("magerr_u")] < MISSING_MAGERR


def test_default_softening_for_unknown_bands():
    flux, err = _raw()
    X = photometry_matrix(flux[:, :2], err[:, :2])
    f = FluxFeatures(bands=("F606W", "F814W")).fit(X)
    np.testing.assert_allclose(f.softening_, 1.042 * np.median(err[:, :2], axis=0) * 1e-9)


def test_perturb_draws_from_errors(rng):
    flux = np.full((20000, 2), 100.0)
    err = np.tile([1.0, 3.0], (20000, 1))
    err[:10, 0] = np.inf  # missing: left alone
    X = photometry_matrix(flux, err)
    f = FluxFeatures(bands=("g", "r"))
    P = f.perturb(X, rng)
    np.testing.assert_array_equal(P[:10, 0], 100.0)
    d = P[10:, :2] - 100.0
    np.testing.assert_allclose(d.std(axis=0), [1.0, 3.0], rtol=0.03)
    np.testing.assert_allclose(d.mean(axis=0), 0.0, atol=0.06)
    np.testing.assert_array_equal(P[:, 2:], X[:, 2:])


def test_layout_errors():
    f = FluxFeatures()
    with pytest.raises(GalmixValueError, match="shape"):
        f.fit(np.ones((3, 7)))
    with pytest.raises(GalmixValueError, match="reference_band"):
        FluxFeatures(reference_band="y").fit(np.ones((3, 10)))
    with pytest.raises(GalmixValueError, match="exactly one"):
        photometry_matrix(np.ones((2, 2)))


def test_real_sdss_features_finite(gst_xz, gst_features):
    X, _z = gst_xz
    F = gst_features.fit(X).transform(X)
    assert F.shape == (10000, len(gst_features.feature_names()))
    assert np.all(np.isfinite(F))
    # the data README: MODELFLUX u <= 0 in 12 rows; these must stay finite and faint
    mu = F[:, 0] + F[:, 1] + F[:, 2]  # r + (u-g) + (g-r) = u
    assert np.sum(mu > 24.0) >= 12
