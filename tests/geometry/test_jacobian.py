"""Jacobian: validation, transforms, inverse, GalSim agreement, property tests."""

import math

import galsim
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from galmix import Jacobian
from galmix.errors import GalmixTypeError, GalmixValueError

finite = st.floats(-2.0, 2.0, allow_nan=False)


@st.composite
def jacobians(draw):
    m = [draw(finite) for _ in range(4)]
    det = m[0] * m[3] - m[1] * m[2]
    scale = max(abs(v) for v in m)
    if scale < 1e-3 or abs(det) < 1e-3 * scale * scale:
        m = [0.2, 0.0, 0.0, -0.3]
    return Jacobian(*m, x0=draw(st.floats(-50, 50)), y0=draw(st.floats(-50, 50)))


@given(jacobians(), st.floats(-100, 100), st.floats(-100, 100))
@settings(max_examples=200, deadline=None)
def test_round_trip(jac, x, y):
    u, v = jac.to_world(x, y)
    x2, y2 = jac.to_pixel(u, v)
    assert math.isclose(x2, x, abs_tol=1e-8)
    assert math.isclose(y2, y, abs_tol=1e-8)


@given(jacobians(), st.floats(-100, 100), st.floats(-100, 100))
@settings(max_examples=100, deadline=None)
def test_inverse_is_world_to_pixel(jac, u, v):
    inv = jac.inverse()
    assert np.allclose(inv.to_world(u, v), jac.to_pixel(u, v), atol=1e-8)
    back = inv.inverse()
    assert np.allclose(back.as_array(), jac.as_array(), rtol=1e-9, atol=1e-9)


def test_matches_galsim_jacobian_wcs():
    m = (0.21, -0.04, 0.07, 0.26)
    jac = Jacobian(*m, x0=3.0, y0=-2.0)
    gw = galsim.JacobianWCS(*m)
    for x, y in [(0, 0), (5.5, -3.25), (-10, 20)]:
        pos = gw.toWorld(galsim.PositionD(x - 3.0, y + 2.0))
        assert np.allclose(jac.to_world(x, y), (pos.x, pos.y), atol=1e-13)
    assert math.isclose(jac.det, gw.pixelArea(), rel_tol=1e-13)


def test_from_galsim_shear_wcs():
    gw = galsim.ShearWCS(0.263, galsim.Shear(g1=0.1, g2=0.0))
    jac = Jacobian.from_galsim(gw)
    gj = gw.jacobian()
    assert np.allclose(jac.matrix, [[gj.dudx, gj.dudy], [gj.dvdx, gj.dvdy]], atol=0)
    assert math.isclose(jac.scale, 0.263, rel_tol=1e-12)


def test_from_galsim_celestial_at_position():
    gw = galsim.TanWCS(
        galsim.AffineTransform(-0.2, 0.01, 0.02, 0.2, origin=galsim.PositionD(50, 50)),
        world_origin=galsim.CelestialCoord(150 * galsim.degrees, 2 * galsim.degrees),
    )
    jac = Jacobian.from_galsim(gw, image_pos=(60.0, 40.0), x0=59.0, y0=39.0)
    gj = gw.jacobian(galsim.PositionD(60.0, 40.0))
    assert np.allclose(jac.matrix, gj.getMatrix(), atol=1e-14)
    assert jac.origin == (59.0, 39.0)


@pytest.mark.parametrize(
    "m", [(0.2, 0.05, -0.03, 0.25), (0.1, 0.3, -0.2, 0.05), (-0.2, 0.01, 0.02, 0.19)]
)
def test_decomposition_matches_galsim(m):
    d = Jacobian(*m).decompose()
    scale, shear, theta, flip = galsim.JacobianWCS(*m).getDecomposition()
    assert math.isclose(d["scale"], scale, rel_tol=1e-12)
    assert math.isclose(d["g1"], shear.g1, abs_tol=1e-12)
    assert math.isclose(d["g2"], shear.g2, abs_tol=1e-12)
    assert math.isclose(d["rotation"], theta.rad, abs_tol=1e-12)
    assert d["flip"] == flip


def test_vectorised():
    jac = Jacobian(0.2, 0.0, 0.0, 0.2, x0=1, y0=1)
    u, v = jac.to_world(np.arange(3.0), np.zeros(3))
    assert np.allclose(u, [-0.2, 0.0, 0.2])
    assert np.allclose(v, -0.2)


def test_flip_negative_determinant():
    jac = Jacobian(-0.2, 0.0, 0.0, 0.2)
    assert jac.det < 0
    assert math.isclose(jac.scale, 0.2)


@pytest.mark.parametrize(
    "args",
    [(0, 0, 0, 0), (1, 2, 2, 4), (np.nan, 0, 0, 1), (1, 0, 0, np.inf)],
)
def test_singular_or_nonfinite_raises(args):
    with pytest.raises(GalmixValueError) as exc:
        Jacobian(*args)
    assert "Jacobian" in str(exc.value)


def test_nonnumeric_raises_typed():
    with pytest.raises(GalmixTypeError, match="dudx"):
        Jacobian("a", 0, 0, 1)


def test_with_origin_and_from_scale():
    jac = Jacobian.from_scale(0.2).with_origin(5, 6)
    assert jac.origin == (5.0, 6.0)
    assert jac.to_world(5, 6) == (0.0, 0.0)
    with pytest.raises(GalmixValueError, match="scale"):
        Jacobian.from_scale(-1)


def test_frozen():
    jac = Jacobian.from_scale(0.2)
    with pytest.raises(AttributeError):
        jac.dudx = 1.0
