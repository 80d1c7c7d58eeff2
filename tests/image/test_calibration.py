"""Error images from calibration (issue 3 item 6), against hand computations and scipy."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.ndimage import map_coordinates

from galmix.errors import GalmixTypeError, GalmixValueError
from galmix.image.calibration import (
    calibration_image,
    counts_image,
    error_image,
    interpolate_sky,
    inverse_variance_weight,
    weight_from_calibration,
)


def _bilinear_by_hand(grid, x, y):
    """Textbook bilinear interpolation of one point with edge clamping, pure Python."""
    ny, nx = len(grid), len(grid[0])
    x = min(max(x, 0.0), nx - 1.0)
    y = min(max(y, 0.0), ny - 1.0)
    i0, j0 = math.floor(x), math.floor(y)
    i1, j1 = min(i0 + 1, nx - 1), min(j0 + 1, ny - 1)
    fx, fy = x - i0, y - j0
    return (
        grid[j0][i0] * (1 - fx) * (1 - fy)
        + grid[j0][i1] * fx * (1 - fy)
        + grid[j1][i0] * (1 - fx) * fy
        + grid[j1][i1] * fx * fy
    )


def test_interpolate_sky_matches_hand_computation():
    grid = [[1.0, 2.0, 3.0, 4.0], [5.0, 6.0, 7.0, 8.0], [9.0, 10.0, 11.0, 12.0]]
    xs = [-5.0, -0.4, 0.0, 0.1, 1.5, 2.25, 3.0, 3.7, 10.0]
    ys = [-4.0, 0.0, 0.5, 1.75, 2.0, 2.6, 9.0]
    out = interpolate_sky(grid, xs, ys)
    assert out.shape == (len(ys), len(xs))
    for j, y in enumerate(ys):
        for i, x in enumerate(xs):
            assert out[j, i] == pytest.approx(_bilinear_by_hand(grid, x, y), abs=1e-12)
    # corners beyond the edges: constant extrapolation
    assert out[0, 0] == 1.0
    assert out[-1, -1] == 12.0
    # the Celeste (Julia, 1-based) interp_sky test values shifted to 0-based
    np.testing.assert_allclose(
        interpolate_sky(np.array(grid).T, [-0.9, 1.5], [-0.5, 1.5, 3.0]).T,
        [[1.0, 2.5, 4.0], [7.0, 8.5, 10.0]],
        atol=1e-12,
    )


@settings(max_examples=40, deadline=None)
@given(
    ny=st.integers(1, 6),
    nx=st.integers(1, 7),
    seed=st.integers(0, 2**31 - 1),
)
def test_interpolate_sky_vs_scipy_map_coordinates(ny, nx, seed):
    rng = np.random.default_rng(seed)
    grid = rng.normal(100.0, 10.0, (ny, nx))
    xi = rng.uniform(-3.0, nx + 2.0, 11)
    yi = rng.uniform(-3.0, ny + 2.0, 9)
    out = interpolate_sky(grid, xi, yi)
    yy, xx = np.meshgrid(yi, xi, indexing="ij")
    # order=1 with mode="nearest": bilinear with edge values repeated outside
    ref = map_coordinates(grid, [yy.ravel(), xx.ravel()], order=1, mode="nearest").reshape(yy.shape)
    np.testing.assert_allclose(out, ref, rtol=1e-12, atol=1e-9)


def test_interpolate_sky_reproduces_linear_field_exactly():
    # a plane is reproduced exactly by bilinear interpolation inside the grid
    gy, gx = np.mgrid[0:5, 0:8].astype(float)
    grid = 3.0 + 0.5 * gx - 0.25 * gy
    xi = np.linspace(0, 7, 23)
    yi = np.linspace(0, 4, 13)
    out = interpolate_sky(grid, xi, yi)
    np.testing.assert_allclose(out, 3.0 + 0.5 * xi[None, :] - 0.25 * yi[:, None], rtol=1e-13)


def test_error_image_hand_computation():
    rng = np.random.default_rng(7)
    ny, nx = 4, 5
    img = rng.normal(0.5, 0.3, (ny, nx))
    calib = rng.uniform(0.004, 0.006, nx)
    sky = rng.uniform(80.0, 120.0, (ny, nx))
    gain, dv = 4.725, 0.81
    err = error_image(img, calib, sky, gain, dv)
    for j in range(ny):
        for i in range(nx):
            dn = img[j, i] / calib[i] + sky[j, i]
            expected = math.sqrt(dn / gain + dv) * calib[i]
            assert err[j, i] == pytest.approx(expected, rel=1e-13)
    w = weight_from_calibration(img, calib, sky, gain, dv)
    np.testing.assert_allclose(w, 1.0 / err**2, rtol=1e-13)


def test_error_image_negative_counts_clipped_and_nonfinite():
    img = np.array([[-10.0, np.nan, 0.0]])
    calib = np.array([0.01, 0.01, 0.01])
    err = error_image(img, calib, 5.0, gain=2.0, dark_variance=4.0)
    # dn = -1000 + 5 < 0 -> only the dark variance remains
    assert err[0, 0] == pytest.approx(math.sqrt(4.0) * 0.01)
    assert np.isnan(err[0, 1])
    assert err[0, 2] == pytest.approx(math.sqrt(5.0 / 2.0 + 4.0) * 0.01)
    w = inverse_variance_weight(err)
    assert w[0, 1] == 0.0 and w[0, 0] == pytest.approx(1.0 / (0.02**2))


def test_counts_image_round_trip():
    rng = np.random.default_rng(3)
    counts = rng.uniform(50, 500, (3, 6))
    calib = rng.uniform(0.003, 0.01, 6)
    sky = rng.uniform(40, 60, (3, 6))
    img = (counts - sky) * calib[None, :]
    np.testing.assert_allclose(counts_image(img, calib, sky), counts, rtol=1e-12)


def test_weight_statistics_match_simulated_noise():
    # noise drawn in counts with var = dn/gain + dv must have unit chi per pixel
    rng = np.random.default_rng(11)
    ny, nx = 200, 150
    calib = np.linspace(0.004, 0.006, nx)
    sky = np.full((ny, nx), 150.0)
    truth = np.zeros((ny, nx))
    truth[80:120, 50:100] = 2.0  # a bright patch
    gain, dv = 3.32, 15.6025
    dn = truth / calib + sky
    noisy = (dn + rng.standard_normal(dn.shape) * np.sqrt(dn / gain + dv) - sky) * calib
    w = weight_from_calibration(truth, calib, sky, gain, dv)
    chi = (noisy - truth) * np.sqrt(w)
    assert abs(np.std(chi) - 1.0) < 0.01
    assert abs(np.std(chi[80:120, 50:100]) - 1.0) < 0.03


def test_validation_errors_name_the_parameter():
    img = np.zeros((2, 3))
    with pytest.raises(GalmixValueError, match="gain"):
        error_image(img, np.ones(3), 1.0, gain=0.0, dark_variance=1.0)
    with pytest.raises(GalmixValueError, match="dark_variance"):
        error_image(img, np.ones(3), 1.0, gain=1.0, dark_variance=-1.0)
    with pytest.raises(GalmixValueError, match="calib"):
        error_image(img, np.ones(4), 1.0, gain=1.0, dark_variance=1.0)
    with pytest.raises(GalmixValueError, match="calib"):
        error_image(img, np.array([1.0, 0.0, 1.0]), 1.0, gain=1.0, dark_variance=1.0)
    with pytest.raises(GalmixValueError, match="sky"):
        error_image(img, np.ones(3), np.ones((3, 3)), gain=1.0, dark_variance=1.0)
    with pytest.raises(GalmixTypeError, match="gain"):
        error_image(img, np.ones(3), 1.0, gain="x", dark_variance=1.0)
    with pytest.raises(GalmixValueError, match="xinterp"):
        interpolate_sky(np.ones((2, 2)), [[0.0]], [0.0])
    with pytest.raises(GalmixValueError, match="sky_grid"):
        interpolate_sky(np.array([[1.0, np.nan]]), [0.0], [0.0])
    assert calibration_image([1.0, 2.0, 3.0], (2, 3)).shape == (2, 3)


@settings(max_examples=40, deadline=None)
@given(
    a=st.floats(0.1, 10.0),
    b=st.floats(-50.0, 50.0),
    seed=st.integers(0, 2**31 - 1),
)
def test_interpolate_sky_is_affine_equivariant(a, b, seed):
    # interpolation commutes with affine changes of the sky level
    rng = np.random.default_rng(seed)
    grid = rng.normal(100.0, 10.0, (4, 6))
    xi = rng.uniform(-2, 7, 13)
    yi = rng.uniform(-2, 5, 7)
    np.testing.assert_allclose(
        interpolate_sky(a * grid + b, xi, yi),
        a * interpolate_sky(grid, xi, yi) + b,
        rtol=1e-12,
        atol=1e-9,
    )


@settings(max_examples=40, deadline=None)
@given(scale=st.floats(0.01, 100.0), seed=st.integers(0, 2**31 - 1))
def test_error_image_scales_with_the_calibration(scale, seed):
    # the same counts calibrated with calib*scale: errors scale by `scale`, weights by 1/scale^2
    rng = np.random.default_rng(seed)
    calib = rng.uniform(0.003, 0.01, 5)
    counts = rng.uniform(0.0, 300.0, (3, 5))
    sky = rng.uniform(20.0, 200.0, (3, 5))
    img = (counts - sky) * calib
    e1 = error_image(img, calib, sky, 3.0, 2.0)
    e2 = error_image(img * scale, calib * scale, sky, 3.0, 2.0)
    np.testing.assert_allclose(e2, e1 * scale, rtol=1e-11)
    np.testing.assert_allclose(
        weight_from_calibration(img * scale, calib * scale, sky, 3.0, 2.0),
        weight_from_calibration(img, calib, sky, 3.0, 2.0) / scale**2,
        rtol=1e-11,
    )
