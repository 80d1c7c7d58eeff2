"""Moments against analytic Gaussian integrals on GalSim-drawn Jacobian grids."""

from __future__ import annotations

import math

import galsim
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from galmix import Jacobian, Observation
from galmix.errors import FLAGS, GalmixTypeError, GalmixValueError
from galmix.moments import adaptive_moments, gauss_moments

SIG_TO_FWHM = 2.0 * math.sqrt(2.0 * math.log(2.0))


def _shear(g1, g2):
    f = 1.0 / math.sqrt(1.0 - g1 * g1 - g2 * g2)
    return f * np.array([[1 + g1, g2], [g2, 1 - g1]])


def _jac_matrix(scale, g1, g2, theta, flip):
    rot = np.array([[math.cos(theta), -math.sin(theta)], [math.sin(theta), math.cos(theta)]])
    m = scale * _shear(g1, g2) @ rot
    if flip:
        m = m @ np.array([[0.0, 1.0], [1.0, 0.0]])
    return m


def _draw(obj, m, n):
    """No-pixel GalSim render (float64) on an odd n x n stamp; origin at the centre."""
    wcs = galsim.JacobianWCS(m[0, 0], m[0, 1], m[1, 0], m[1, 1])
    im = galsim.ImageD(n, n)
    obj.drawImage(im, wcs=wcs, method="no_pixel")
    c = (n - 1) / 2
    return im.array.copy(), Jacobian.from_matrix(m, x0=c, y0=c)


def _weighted_gaussian(flux, cov, mu, wcov):
    """Analytic moments of a Gaussian object times a Gaussian weight about 0."""
    ci = np.linalg.inv(cov)
    wi = np.linalg.inv(wcov)
    m = np.linalg.inv(ci + wi)
    mean = m @ ci @ mu
    # integral of w * I
    norm = flux * math.sqrt(np.linalg.det(m) / np.linalg.det(cov))
    norm *= math.exp(-0.5 * (mu @ ci @ mu - mean @ (ci + wi) @ mean))
    second = m + np.outer(mean, mean)
    return norm, mean, second


JAC_CASES = [
    (0.0, 0.0, 0.0, False),
    (-0.5, 0.0, 0.0, False),
    (0.2, -0.2, 0.0, False),
    (0.0, 0.5, 0.3, False),
    (0.2, 0.5, 1.1, True),
    (-0.5, -0.2, 2.5, True),
]


@pytest.mark.parametrize("wg1,wg2,theta,flip", JAC_CASES)
@pytest.mark.parametrize("offset", [(0.0, 0.0), (0.13, -0.08)])
def test_gauss_moments_exact(wg1, wg2, theta, flip, offset):
    m = _jac_matrix(0.1, wg1, wg2, theta, flip)
    flux, sigma, g1, g2 = 3.7, 0.6, 0.15, -0.25
    obj = galsim.Gaussian(sigma=sigma, flux=flux).shear(g1=g1, g2=g2).shift(*offset)
    img, jac = _draw(obj, m, 151)
    fwhm = 1.2
    res = gauss_moments(Observation(img, jacobian=jac), fwhm)
    s = _shear(g1, g2)
    cov = sigma**2 * s @ s.T
    wcov = (fwhm / SIG_TO_FWHM) ** 2 * np.eye(2)
    norm, mean, second = _weighted_gaussian(flux, cov, np.array(offset), wcov)
    assert res.flags == 0
    tt = second[0, 0] + second[1, 1]
    assert res.T == pytest.approx(tt, rel=1e-9, abs=1e-12)
    assert res.e1 == pytest.approx((second[0, 0] - second[1, 1]) / tt, abs=1e-9)
    assert res.e2 == pytest.approx(2 * second[0, 1] / tt, abs=1e-9)
    assert res.u0 == pytest.approx(mean[0], abs=1e-9)
    assert res.v0 == pytest.approx(mean[1], abs=1e-9)
    # matched-filter flux: sum(wI) / (sum(w^2)/sum(w)) with continuous integrals
    wflux = norm / (0.5)  # int w^2 / int w = 1/2 for a Gaussian weight of peak 1
    assert res.flux == pytest.approx(wflux, rel=1e-9)


@pytest.mark.parametrize("wg1,wg2,theta,flip", JAC_CASES)
def test_adaptive_moments_exact(wg1, wg2, theta, flip):
    m = _jac_matrix(0.1, wg1, wg2, theta, flip)
    flux, sigma, g1, g2 = 2.0, 0.5, -0.3, 0.2
    offset = (0.07, 0.04)
    obj = galsim.Gaussian(sigma=sigma, flux=flux).shear(g1=g1, g2=g2).shift(*offset)
    img, jac = _draw(obj, m, 101)
    res = adaptive_moments(Observation(img, jacobian=jac))
    s = _shear(g1, g2)
    cov = sigma**2 * s @ s.T
    tt = cov[0, 0] + cov[1, 1]
    assert res.flags == 0
    assert res.T == pytest.approx(tt, rel=1e-6)
    assert res.e1 == pytest.approx((cov[0, 0] - cov[1, 1]) / tt, abs=1e-6)
    assert res.e2 == pytest.approx(2 * cov[0, 1] / tt, abs=1e-6)
    assert res.u0 == pytest.approx(offset[0], abs=1e-6)
    assert res.v0 == pytest.approx(offset[1], abs=1e-6)
    assert res.flux == pytest.approx(flux, rel=1e-6)


def test_errors_match_monte_carlo():
    """Analytic errors agree with the scatter over noise realisations."""
    rng = np.random.default_rng(3)
    m = _jac_matrix(0.263, 0.1, -0.05, 0.4, False)
    img, jac = _draw(galsim.Gaussian(sigma=0.5, flux=100.0).shear(g1=0.1, g2=0.0), m, 33)
    noise = 0.5
    w = np.full(img.shape, 1 / noise**2)
    rows = []
    for _ in range(400):
        r = gauss_moments(Observation(img + rng.normal(0, noise, img.shape), w, jac), 1.2)
        rows.append((r.flux, r.T, r.e1, r.e2, r.flux_err, r.T_err, r.e1_err, r.e2_err))
    a = np.array(rows)
    for i in range(4):
        assert np.std(a[:, i]) == pytest.approx(np.mean(a[:, 4 + i]), rel=0.12)
    assert abs(np.mean(a[:, 2]) - gauss_moments(Observation(img, w, jac), 1.2).e1) < 0.01


def test_flags_not_exceptions():
    img = np.zeros((21, 21))
    res = gauss_moments(Observation(img), 3.0)
    assert res.flags & FLAGS.NO_FLUX
    assert math.isnan(res.T)
    res = gauss_moments(Observation(-np.ones((21, 21))), 3.0)
    assert res.flags & FLAGS.NO_FLUX
    res = adaptive_moments(Observation(-np.ones((21, 21))))
    assert res.flags != 0
    # a ring: positive flux but moments fine; a saddle gives non-positive moments
    y, x = np.mgrid[0:21, 0:21] - 10.0
    saddle = np.exp(-0.5 * (x**2 + y**2) / 4) * (1 + 0.3 * (x**2 - y**2))
    saddle[10, 10] += 50
    saddle -= 0.2 * (x**2 + y**2 < 4)
    res = adaptive_moments(Observation(np.exp(-0.5 * (x**2 + y**2) / 4)), maxiter=1)
    assert res.flags & FLAGS.NOT_CONVERGED
    res_all = adaptive_moments(Observation(np.exp(-0.5 * (x**2 + y**2) / 4)))
    assert res_all.flags == 0
    assert res_all.as_dict()["flags"] == 0


def test_bad_parameters_raise():
    obs = Observation(np.ones((5, 5)))
    with pytest.raises(GalmixValueError, match="fwhm"):
        gauss_moments(obs, -1.0)
    with pytest.raises(GalmixTypeError, match="obs"):
        gauss_moments(np.ones((5, 5)), 1.0)
    with pytest.raises(GalmixValueError, match="guess_T"):
        adaptive_moments(obs, guess_T=0.0)
    with pytest.raises(GalmixValueError, match="maxiter"):
        adaptive_moments(obs, maxiter=0)


def _blob(seed):
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:31, 0:31] - 15.0
    img = np.zeros((31, 31))
    for _ in range(3):
        a, b, c = rng.uniform(2, 9), rng.uniform(-1, 1), rng.uniform(2, 9)
        dx, dy = rng.uniform(-2, 2, 2)
        xx, yy = x - dx, y - dy
        rho = 0.8 * b / math.sqrt(a * c)  # |rho| < 1: positive-definite quadratic form
        img += rng.uniform(0.5, 2) * np.exp(-0.5 * (xx**2 / a + yy**2 / c + 2 * rho * xx * yy))
    return img + 0.01 * rng.normal(size=img.shape)


@settings(max_examples=40, deadline=None)
@given(
    theta=st.floats(-math.pi, math.pi),
    seed=st.integers(0, 1000),
    flip=st.booleans(),
    g1=st.floats(-0.4, 0.4),
    g2=st.floats(-0.4, 0.4),
)
def test_rotation_flip_equivariance(theta, seed, flip, g1, g2):
    """Rotating/flipping the world frame rotates/flips (e1, e2) exactly."""
    img = _blob(seed)
    m = _jac_matrix(0.2, g1, g2, 0.3, False)
    base = Jacobian.from_matrix(m, 15.0, 15.0)
    c, s = math.cos(theta), math.sin(theta)
    r = np.array([[c, -s], [s, c]])
    if flip:
        r = np.array([[1.0, 0.0], [0.0, -1.0]]) @ r
    rotated = Jacobian.from_matrix(r @ m, 15.0, 15.0)
    for fn in (lambda o: gauss_moments(o, 1.5), lambda o: adaptive_moments(o)):
        a = fn(Observation(img, jacobian=base))
        b = fn(Observation(img, jacobian=rotated))
        assert a.flags == 0 and b.flags == 0
        assert b.T == pytest.approx(a.T, rel=1e-7)
        assert b.flux == pytest.approx(a.flux, rel=1e-7)
        # spin-2: e -> R(2 theta) e, flip then conjugates
        c2, s2 = math.cos(2 * theta), math.sin(2 * theta)
        e1 = c2 * a.e1 - s2 * a.e2
        e2 = s2 * a.e1 + c2 * a.e2
        if flip:
            e2 = -e2
        assert b.e1 == pytest.approx(e1, abs=1e-7)
        assert b.e2 == pytest.approx(e2, abs=1e-7)
