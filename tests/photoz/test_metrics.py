"""Photo-z metrics against their definitions and scipy references."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from galmix.errors import GalmixValueError
from galmix.photoz import coverage, metrics, pdf_metrics, pit_from_pdf


def test_metrics_against_scipy(rng):
    zt = rng.uniform(0.02, 0.6, 5000)
    dz_true = rng.normal(0.003, 0.02, zt.size)
    dz_true[:40] = 0.4  # 0.8 % catastrophic outliers
    zp = zt + dz_true * (1 + zt)
    m = metrics(zt, zp)
    assert set(m) == {"sigma_nmad", "outlier_fraction", "bias"}
    dz = (zp - zt) / (1 + zt)
    # scipy's normal-scaled MAD uses 1/Phi^-1(3/4) = 1.482602...; API: 1.4826
    ref = stats.median_abs_deviation(dz, scale="normal")
    assert m["sigma_nmad"] == pytest.approx(ref * 1.4826 * stats.norm.ppf(0.75), rel=1e-12)
    assert m["sigma_nmad"] == pytest.approx(0.02, rel=0.05)
    assert m["outlier_fraction"] == pytest.approx(40 / 5000 + np.mean(np.abs(dz[40:]) > 0.15))
    assert m["bias"] == pytest.approx(np.median(dz))


def test_outlier_threshold_is_strict():
    zt = np.array([0.0, 0.0])
    assert metrics(zt, np.array([0.15, 0.1500001]))["outlier_fraction"] == 0.5


def test_metrics_validation():
    with pytest.raises(GalmixValueError, match="same length"):
        metrics([0.1, 0.2], [0.1])
    with pytest.raises(GalmixValueError, match="finite"):
        metrics([0.1], [np.nan])


def test_pit_of_gaussian_pdfs_matches_scipy(rng):
    g = np.linspace(-1, 2, 3001)
    mu = rng.uniform(0.2, 0.8, 50)
    sig = rng.uniform(0.02, 0.1, 50)
    pdf = stats.norm.pdf(g[None, :], mu[:, None], sig[:, None])
    zt = mu + rng.normal(0, 1, 50) * sig
    np.testing.assert_allclose(pit_from_pdf(zt, pdf, g), stats.norm.cdf(zt, mu, sig), atol=2e-4)


def test_calibrated_pdfs_give_nominal_coverage(rng):
    n = 4000
    g = np.linspace(-0.5, 1.5, 801)
    mu = rng.uniform(0.1, 0.9, n)
    sig = 0.05
    zt = mu + rng.normal(0, sig, n)
    pdf = stats.norm.pdf(g[None, :], mu[:, None], sig)
    out = pdf_metrics(zt, pdf, g)
    assert out["coverage_0.68"] == pytest.approx(0.6827, abs=0.025)
    assert out["coverage_0.95"] == pytest.approx(0.9545, abs=0.012)
    assert out["pit_ks"] < 0.03
    # over-confident PDFs (too narrow by 2) fail the same check
    narrow = stats.norm.pdf(g[None, :], mu[:, None], sig / 2)
    assert pdf_metrics(zt, narrow, g)["coverage_0.68"] < 0.45


def test_coverage_levels():
    assert coverage(np.array([0.5, 0.5, 0.0, 1.0]), levels=(0.5,)) == {0.5: 0.5}
