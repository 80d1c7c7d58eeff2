"""Sersic mixtures: accuracy against the exact profile, half-light radius, smoothness in n."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.special import gammainc, gammaincinv, gammaln

from galmix.errors import GalmixValueError
from galmix.profiles import available_ngauss, sersic_mixture, sersic_mixture_deriv

N_GRID = [0.5, 0.6, 0.7, 0.85, 1.0, 1.25, 1.5, 2.0, 2.5, 3.0, 3.5, 4.0, 5.0, 6.0, 6.5]

# K=14 "wide" table (fitter default): also matches the enclosed flux to 100 hlr
BADNESS14 = [(1.0, 2e-6), (2.0, 1e-6), (3.0, 4e-6), (4.0, 2e-5), (6.5, 1e-4)]
ENCLOSED_MAX14 = 4e-3  # max |L_mix(<R) - L_true(<R)|, 0.1 <= R <= 100 hlr
# relative 2-d L2 error ("badness", docs/profiles.md) allowed per n for each K
BADNESS_MAX = {
    10: [(0.6, 3e-6), (1.0, 1e-6), (2.0, 5e-6), (3.0, 5e-5), (4.0, 2e-4), (6.5, 8e-4)],
    6: [(1.0, 5e-6), (2.0, 3e-4), (3.0, 2e-3), (4.0, 5e-3), (6.5, 2e-2)],
    14: BADNESS14,
}


def exact_sersic(r, n):
    """Unit-flux, unit-half-light-radius Sersic surface brightness."""
    b = gammaincinv(2 * n, 0.5)
    log_ie = -(math.log(2 * math.pi * n) + gammaln(2 * n) + b - 2 * n * math.log(b))
    return np.exp(log_ie - b * (r ** (1 / n) - 1))


def mixture_profile(r, w, v):
    return (w / (2 * math.pi * v) * np.exp(-0.5 * r[:, None] ** 2 / v)).sum(axis=1)


def badness(n, w, v):
    rmax = min(8.0 * 2.5 ** max(n - 1, 0), 2000.0)
    lnr = np.linspace(math.log(1e-4), math.log(rmax), 3000)
    r = np.exp(lnr)
    f = exact_sersic(r, n)
    g = mixture_profile(r, w, v)
    return float(np.sum((g - f) ** 2 * r * r) / np.sum(f * f * r * r))


def test_exact_profile_matches_galsim():
    galsim = pytest.importorskip("galsim")
    for n in (0.7, 1.0, 2.5, 4.0, 6.0):
        prof = galsim.Sersic(n=n, half_light_radius=1.0)
        for r in (0.05, 0.5, 1.0, 3.0):
            assert exact_sersic(np.array([r]), n)[0] == pytest.approx(prof.xValue(r, 0.0), rel=1e-5)


@pytest.mark.parametrize("ngauss", [6, 10, 14])
def test_weights_normalised_and_accuracy(ngauss):
    assert ngauss in available_ngauss()
    for n in N_GRID:
        w, v = sersic_mixture(n, ngauss)
        assert len(w) == ngauss and np.all(w > 0) and np.all(v > 0)
        assert w.sum() == pytest.approx(1.0, abs=1e-13)
        limit = next(lim for nmax, lim in BADNESS_MAX[ngauss] if n <= nmax)
        assert badness(n, w, v) < limit, n


@pytest.mark.parametrize("ngauss", [6, 10, 14, 18])
def test_half_light_radius_is_one(ngauss):
    from scipy.optimize import brentq

    for n in N_GRID:
        w, v = sersic_mixture(n, ngauss)
        hlr = brentq(lambda r, w=w, v=v: np.dot(w, 1 - np.exp(-0.5 * r * r / v)) - 0.5, 1e-3, 100.0)
        assert hlr == pytest.approx(1.0, abs=5e-4), n


# bound on |d^2 w / dn^2| of the weights: the K=18 ladder's weights, spread over
# the whole ladder, turn faster near n = 0.55 where they gather into one Gaussian
D2W_MAX = {6: 20.0, 10: 20.0, 14: 20.0, 18: 60.0}


@pytest.mark.parametrize("ngauss", [6, 10, 14, 18])
def test_smooth_in_n(ngauss):
    """The profile and the parameters of non-negligible components vary smoothly.

    Second finite differences on a fine n grid stay bounded (no kinks or
    jumps, unlike spline-interpolated tables: a kink of slope change s gives
    s / 0.002 here), and the profile at fixed radii changes by less than 5% per
    0.002 in n.
    """
    h = 0.002
    ns = np.arange(0.5, 6.5 - 1e-9, h)
    radii = np.array([0.05, 0.3, 1.0, 3.0])
    prof = []
    logv = []
    weights = []
    for n in ns:
        w, v = sersic_mixture(n, ngauss)
        prof.append(mixture_profile(radii, w, v))
        logv.append(np.log(v))
        weights.append(w)
    prof, logv, weights = np.array(prof), np.array(logv), np.array(weights)
    rel_step = np.abs(np.diff(np.log(prof), axis=0)).max()
    assert rel_step < 0.05
    d2 = np.abs(np.diff(np.log(prof), 2, axis=0)).max() / h**2
    assert d2 < 1000.0
    d2w = np.abs(np.diff(weights, 2, axis=0)).max() / h**2
    assert d2w < D2W_MAX[ngauss]
    big = weights[1:-1] > 1e-3
    d2v = np.abs(np.diff(logv, 2, axis=0))[big].max() / h**2
    assert d2v < 400.0


@pytest.mark.parametrize("ngauss", [10, 14, 18])
@pytest.mark.parametrize("n", [0.55, 1.0, 2.3, 4.0, 6.2])
def test_derivative_matches_finite_difference(n, ngauss):
    dw, dv = sersic_mixture_deriv(n, ngauss)
    eps = 1e-6
    w1, v1 = sersic_mixture(n + eps, ngauss)
    w0, v0 = sersic_mixture(n - eps, ngauss)
    np.testing.assert_allclose(dw, (w1 - w0) / (2 * eps), atol=1e-6)
    np.testing.assert_allclose(dv, (v1 - v0) / (2 * eps), rtol=1e-5, atol=1e-10)
    assert abs(dw.sum()) < 1e-12


def exact_enclosed(r, n):
    """Fraction of the untruncated Sersic flux inside r (unit hlr): P(2n, b r^(1/n))."""
    return gammainc(2 * n, gammaincinv(2 * n, 0.5) * r ** (1 / n))


@pytest.mark.parametrize("n", [0.5, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 6.5])
def test_wide_table_keeps_the_wings(n):
    """K=14 ("wide") table: the enclosed flux L(<R) follows the untruncated profile
    out to 100 hlr (the K=10 table holds 99.1 % of the n=4 flux at 10 hlr against
    96.2 % for the true profile)."""
    w, v = sersic_mixture(n, 14)
    radii = np.geomspace(0.1, 100.0, 40)
    enc = (w * (1 - np.exp(-0.5 * radii[:, None] ** 2 / v))).sum(axis=1)
    assert np.abs(enc - exact_enclosed(radii, n)).max() < ENCLOSED_MAX14


# K=18 "ladder" table (the fitter's default): relative 2-d L2 error on the radii a
# fit sees (0.003 to 30 hlr) and |L_mix(<R) - L_true(<R)| for 0.1 <= R <= 100 hlr
BADNESS18 = [(0.5, 2e-5), (0.6, 2e-6), (6.5, 1e-6)]
ENCLOSED_MAX18 = 1.5e-3


def badness_fit_range(n, w, v, rmin=0.003, rmax=30.0):
    lnr = np.linspace(math.log(rmin), math.log(rmax), 3000)
    r = np.exp(lnr)
    f = exact_sersic(r, n)
    g = mixture_profile(r, w, v)
    return float(np.sum((g - f) ** 2 * r * r) / np.sum(f * f * r * r))


@pytest.mark.parametrize("n", [*N_GRID, 0.51, 0.52, 0.55, 4.5, 5.5])
def test_ladder_table_accuracy(n):
    """K=18: weights positive and normalised, profile on 0.003-30 hlr and the
    enclosed flux to 100 hlr of the untruncated profile (what fits need)."""
    w, v = sersic_mixture(n, 18)
    assert len(w) == 18 and np.all(w > 0) and np.all(v > 0)
    assert w.sum() == pytest.approx(1.0, abs=1e-13)
    limit = next(lim for nmax, lim in BADNESS18 if n <= nmax)
    assert badness_fit_range(n, w, v) < limit
    radii = np.geomspace(0.1, 100.0, 40)
    enc = (w * (1 - np.exp(-0.5 * radii[:, None] ** 2 / v))).sum(axis=1)
    assert np.abs(enc - exact_enclosed(radii, n)).max() < ENCLOSED_MAX18


def test_ladder_table_resolves_high_n_wings():
    """Why the fitter moved from K=14 to K=18: between 3 and 20 hlr the K=14 n = 6
    mixture oscillates by up to 27 % about the profile, the K=18 one by 2 %."""
    r = np.geomspace(3.0, 20.0, 200)
    f = exact_sersic(r, 6.0)
    rel = {k: np.abs(mixture_profile(r, *sersic_mixture(6.0, k)) / f - 1).max() for k in (14, 18)}
    assert rel[14] > 0.2
    assert rel[18] < 0.025


def test_default_table_truncates_high_n():
    """Documents why the fitter uses K=14: K=10 misses >= 2.5 % of the n=4 flux at 10 hlr."""
    w, v = sersic_mixture(4.0, 10)
    enc10 = float(np.dot(w, 1 - np.exp(-50.0 / v)))
    assert enc10 - exact_enclosed(np.array([10.0]), 4.0)[0] > 0.025


def test_out_of_range():
    with pytest.raises(GalmixValueError, match="n must be"):
        sersic_mixture(0.4)
    with pytest.raises(GalmixValueError, match="n must be"):
        sersic_mixture(7.0)
    with pytest.raises(GalmixValueError, match="ngauss"):
        sersic_mixture(1.0, ngauss=3)
