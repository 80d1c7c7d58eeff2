"""GMix algebra against analytic results and GalSim's transformations."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from galmix.errors import GalmixTypeError, GalmixValueError
from galmix.profiles import Gaussian, GMix, PointSource, Sersic, shear_matrix

galsim = pytest.importorskip("galsim")


def test_shear_matches_galsim_shear_matrix():
    for g1, g2 in [(0.1, 0.0), (0.0, 0.3), (-0.2, 0.25)]:
        ours = shear_matrix(g1, g2)
        ref = galsim.Shear(g1=g1, g2=g2).getMatrix()
        np.testing.assert_allclose(ours, ref, atol=1e-14)


def test_sheared_gaussian_moments_match_galsim_hsm():
    sigma, g1, g2 = 0.5, 0.15, -0.1
    gm = Gaussian(1.0, sigma=sigma).shear(g1, g2).gmix()
    m = gm.moments()
    # analytic: T = 2 sigma^2 (1+|g|^2)/(1-|g|^2); distortion e = 2g/(1+|g|^2)
    gsq = g1 * g1 + g2 * g2
    assert m["T"] == pytest.approx(2 * sigma**2 * (1 + gsq) / (1 - gsq), rel=1e-12)
    assert m["e1"] == pytest.approx(2 * g1 / (1 + gsq), rel=1e-12)
    assert m["e2"] == pytest.approx(2 * g2 / (1 + gsq), rel=1e-12)


def test_convolve_adds_covariances_and_multiplies_flux():
    a = GMix([[2.0, 0.1, 0.0, 1.0, 0.2, 1.5], [1.0, 0.0, 0.0, 0.5, 0.0, 0.5]])
    b = GMix([[0.5, 0.0, 0.3, 0.3, 0.0, 0.3]])
    c = a.convolve(b)
    assert c.flux == pytest.approx(a.flux * b.flux)
    # moments of a convolution add (for normalised mixtures)
    ma, mb, mc = a.moments(), b.moments(), c.moments()
    for key in ("Iuu", "Iuv", "Ivv"):
        assert mc[key] == pytest.approx(ma[key] + mb[key], rel=1e-12)
    assert mc["u0"] == pytest.approx(ma["u0"] + mb["u0"])


def test_rotate_dilate_shift_with_flux():
    gm = Sersic(2.0, 0.7, 2.0).gmix().shear(0.2, 0.0)
    r = gm.rotate(math.pi / 2)
    assert r.moments()["e1"] == pytest.approx(-gm.moments()["e1"], rel=1e-12)
    assert gm.dilate(3.0).T == pytest.approx(9.0 * gm.T, rel=1e-12)
    assert gm.shift(1.0, -2.0).centroid == pytest.approx((1.0, -2.0))
    assert gm.with_flux(5.0).flux == pytest.approx(5.0)
    assert gm.gmix() is gm


def test_profile_transform_matches_gmix_transform():
    prof = Sersic(1.0, 0.6, 3.0).shift(0.1, 0.2).shear(0.1, -0.2).rotate(0.3).dilate(1.5)
    gm = Sersic(1.0, 0.6, 3.0).gmix().shift(0.1, 0.2).shear(0.1, -0.2).rotate(0.3).dilate(1.5)
    np.testing.assert_allclose(prof.gmix().data, gm.data, rtol=1e-12, atol=1e-15)


def test_validation_names_parameter():
    with pytest.raises(GalmixValueError, match="shape"):
        GMix(np.zeros((2, 5)))
    with pytest.raises(GalmixValueError, match="positive semi-definite"):
        GMix([[1.0, 0, 0, -1.0, 0, 1.0]])
    with pytest.raises(GalmixTypeError):
        GMix("abc")
    with pytest.raises(GalmixValueError, match="shear"):
        shear_matrix(0.8, 0.8)
    with pytest.raises(GalmixValueError, match="half_light_radius"):
        Sersic(1.0, -1.0, 2.0)
    with pytest.raises(GalmixValueError, match="n must be"):
        Sersic(1.0, 1.0, 0.2)
    assert PointSource(1.0).gmix().T == 0.0


@settings(max_examples=30, deadline=None)
@given(
    g1=st.floats(-0.6, 0.6),
    g2=st.floats(-0.6, 0.6),
    theta=st.floats(-3.2, 3.2),
)
def test_shear_preserves_flux_and_area(g1, g2, theta):
    if g1 * g1 + g2 * g2 >= 0.8:
        return
    gm = Gaussian(1.3, sigma=0.4).gmix()
    s = gm.shear(g1, g2).rotate(theta)
    assert s.flux == pytest.approx(1.3)
    d = s.data[0]
    # determinant of the covariance is preserved by shear and rotation
    assert d[3] * d[5] - d[4] ** 2 == pytest.approx(0.4**4, rel=1e-10)
