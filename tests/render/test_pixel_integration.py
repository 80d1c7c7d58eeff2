"""Exact pixel integration, pixel response, windows, in-place and batch rendering."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.special import erf

from galmix.errors import GalmixTypeError, GalmixValueError
from galmix.geometry import Jacobian, PixelResponse
from galmix.profiles import Gaussian, GMix, PointSource, Sersic
from galmix.render import _kernels, draw, draw_batch, draw_scene

_GL_X, _GL_W = np.polynomial.legendre.leggauss(40)
PIX = Jacobian(1.0, 0.0, 0.0, 1.0)


def _brute_force(comp, shape, pixel=(0.0, 0.0, 1.0)):
    """Pixel integrals by a 40x40 tensor Gauss-Legendre rule on the density."""
    f, mx, my, sxx, sxy, syy = comp
    det = sxx * syy - sxy * sxy
    ny, nx = shape
    dx, dy, side = pixel
    out = np.zeros(shape)
    for j in range(ny):
        ys = j + dy + 0.5 * side * _GL_X
        for i in range(nx):
            xs = i + dx + 0.5 * side * _GL_X
            xx, yy = np.meshgrid(xs - mx, ys - my)
            chi2 = (syy * xx * xx - 2 * sxy * xx * yy + sxx * yy * yy) / det
            dens = np.exp(-0.5 * chi2) / (2 * math.pi * math.sqrt(det))
            out[j, i] = f * 0.25 * side * side * (_GL_W[:, None] * _GL_W[None, :] * dens).sum()
    return out


@settings(max_examples=25, deadline=None)
@given(
    sig_x=st.floats(0.3, 4.0),
    sig_y=st.floats(0.3, 4.0),
    rho=st.floats(-0.9, 0.9),
    mx=st.floats(4.0, 7.0),
    my=st.floats(4.0, 7.0),
)
def test_pixel_integral_matches_brute_force(sig_x, sig_y, rho, mx, my):
    comp = np.array([[1.0, mx, my, sig_x**2, rho * sig_x * sig_y, sig_y**2]])
    ours = np.zeros((12, 12))
    _kernels.add_pix(comp, PIX.as_array(), np.array([0.0, 0.0, 1.0]), ours, 0.0, 0.0)
    ref = _brute_force(comp[0], (12, 12))
    # quadrature path (narrow): < 1e-9 of the flux; Edgeworth path (sigma >=
    # 1 px): < 4e-6 of the peak
    assert np.abs(ours - ref).max() < max(2e-9, 4e-6 * ref.max())


@pytest.mark.parametrize("sigma", [0.02, 0.1, 0.5, 3.0])
def test_separable_erf_product(sigma):
    """Axis-aligned Gaussians: the pixel integral is a product of erf differences."""
    mx, my, sx, sy = 5.3, 4.8, sigma, 1.7 * sigma
    comp = np.array([[2.0, mx, my, sx * sx, 0.0, sy * sy]])
    ours = np.zeros((11, 11))
    _kernels.add_pix(comp, PIX.as_array(), np.array([0.0, 0.0, 1.0]), ours, 0.0, 0.0)
    edges = np.arange(12) - 0.5
    px = 0.5 * np.diff(erf((edges - mx) / (math.sqrt(2) * sx)))
    py = 0.5 * np.diff(erf((edges - my) / (math.sqrt(2) * sy)))
    np.testing.assert_allclose(ours, 2.0 * np.outer(py, px), rtol=0, atol=1e-9)


@pytest.mark.parametrize("sigma,rho", [(0.05, 0.8), (0.15, -0.6), (0.3, 0.95)])
def test_narrow_correlated_components(sigma, rho):
    comp = np.array([1.0, 5.2, 5.4, sigma**2, rho * sigma * 1.3 * sigma, (1.3 * sigma) ** 2])
    ours = np.zeros((11, 11))
    _kernels.add_pix(comp[None, :], PIX.as_array(), np.array([0.0, 0.0, 1.0]), ours, 0.0, 0.0)
    assert ours.sum() == pytest.approx(1.0, abs=1e-10)
    if sigma >= 0.15:
        ref = _brute_force(comp, (11, 11))
        assert np.abs(ours - ref).max() < 1e-7


def test_cmos_subpixel_response():
    pixel = PixelResponse(subpixel_loc=(-0.1, 0.15), subpixel_scale=0.6)
    comp = np.array([1.0, 5.1, 4.9, 1.2, 0.3, 0.8])
    ours = np.zeros((11, 11))
    _kernels.add_pix(comp[None, :], PIX.as_array(), pixel.as_array(), ours, 0.0, 0.0)
    ref = _brute_force(comp, (11, 11), pixel=(-0.1, 0.15, 0.6))
    assert np.abs(ours - ref).max() < 1e-9
    # a wide component goes through the Edgeworth path
    wide = np.array([1.0, 5.1, 4.9, 4.0, 1.0, 3.0])
    ours = np.zeros((11, 11))
    _kernels.add_pix(wide[None, :], PIX.as_array(), pixel.as_array(), ours, 0.0, 0.0)
    ref = _brute_force(wide, (11, 11), pixel=(-0.1, 0.15, 0.6))
    assert np.abs(ours - ref).max() < 1e-8 * ref.max()
    # a very wide source: every pixel collects fill_factor of its area's flux
    wide = draw(Gaussian(1.0, sigma=50.0), PIX.with_origin(5, 5), (11, 11), pixel=pixel)
    full = draw(Gaussian(1.0, sigma=50.0), PIX.with_origin(5, 5), (11, 11))
    np.testing.assert_allclose(wide / full, pixel.fill_factor, rtol=1e-3)


def test_flux_conservation_any_jacobian():
    for mat in (
        [[0.2, 0.0], [0.0, 0.2]],
        [[0.0, -0.15], [0.25, 0.05]],
        [[-0.2, 0.05], [0.0, 0.18]],
    ):
        jac = Jacobian.from_matrix(mat, 47.7, 46.2)
        for prof in (Sersic(3.0, 0.5, 1.0), Sersic(3.0, 0.3, 2.5).shear(0.3, 0.1)):
            for method in ("auto", "no_pixel"):
                im = draw(prof, jac, (96, 96), psf=Gaussian(1.0, sigma=0.3), method=method)
                assert im.sum() == pytest.approx(3.0, rel=1e-4)
    # a point source lands entirely in its pixel
    im = draw(PointSource(2.0), Jacobian.from_scale(0.2, 4.2, 3.9), (9, 9))
    assert im[4, 4] == pytest.approx(2.0) and im.sum() == pytest.approx(2.0)
    with pytest.raises(GalmixValueError, match="no_pixel"):
        draw(PointSource(2.0), Jacobian.from_scale(0.2), (9, 9), method="no_pixel")


@pytest.mark.parametrize("method", ["auto", "no_pixel"])
def test_window_and_add_in_place(method):
    jac = Jacobian(0.2, 0.02, -0.01, 0.21, x0=20.3, y0=18.6)
    prof = Sersic(1.0, 0.5, 1.5).shear(0.1, 0.2)
    psf = Gaussian(1.0, sigma=0.25)
    full = draw(prof, jac, (40, 44), psf=psf, method=method)
    image = np.zeros((40, 44))
    for window in [(0, 17, 0, 44), (17, 40, 0, 25), (17, 40, 25, 44)]:
        draw(prof, jac, (40, 44), psf=psf, method=method, image=image, window=window)
    np.testing.assert_allclose(image, full, rtol=0, atol=1e-15)
    # adding twice doubles
    draw(prof, jac, (40, 44), psf=psf, method=method, image=image)
    np.testing.assert_allclose(image, 2 * full, rtol=0, atol=1e-15)
    part = draw(prof, jac, (40, 44), psf=psf, method=method, window=(5, 9, 30, 33))
    assert np.all(part[:5] == 0) and np.allclose(part[5:9, 30:33], full[5:9, 30:33], atol=1e-15)


@pytest.mark.parametrize("method", ["auto", "no_pixel"])
def test_batch_equals_single(method):
    rng = np.random.default_rng(3)
    profs = [
        Sersic(rng.uniform(1, 3), rng.uniform(0.3, 0.8), rng.uniform(0.6, 5)).shear(0.1, -0.1)
        for _ in range(7)
    ]
    jacs = [Jacobian(0.2, 0.01 * i, 0.0, 0.2, x0=12 + 0.1 * i, y0=11.5) for i in range(7)]
    psf = Gaussian(1.0, sigma=0.3)
    batch = draw_batch(profs, jacs, (24, 24), psf=psf, method=method)
    for k in range(7):
        single = draw(profs[k], jacs[k], (24, 24), psf=psf, method=method)
        np.testing.assert_allclose(batch[k], single, rtol=0, atol=1e-15)


def test_argument_errors_name_parameter():
    jac = Jacobian.from_scale(0.2)
    with pytest.raises(GalmixValueError, match="method"):
        draw(Gaussian(1.0, sigma=1.0), jac, (5, 5), method="fft")
    with pytest.raises(GalmixTypeError, match="jacobian"):
        draw(Gaussian(1.0, sigma=1.0), np.eye(2), (5, 5))
    with pytest.raises(GalmixValueError, match="shape"):
        draw(Gaussian(1.0, sigma=1.0), jac, (0, 5))
    with pytest.raises(GalmixValueError, match="image shape"):
        draw(Gaussian(1.0, sigma=1.0), jac, (5, 5), image=np.zeros((4, 4)))
    with pytest.raises(GalmixTypeError, match="pixel"):
        draw(Gaussian(1.0, sigma=1.0), jac, (5, 5), pixel=(0, 0, 1))
    assert draw(GMix([[1.0, 0, 0, 0.1, 0, 0.1]]), jac, (3, 3)).shape == (3, 3)


def test_undersampled_devaucouleurs_central_pixel():
    """AstroPhot's default sampling is 23% off here; exact integration is not."""
    galsim = pytest.importorskip("galsim")
    jac = Jacobian.from_scale(1.0, 24.0, 24.0)
    ours = draw(Sersic(1.0, 2.0, 4.0), jac, (49, 49), method="auto")
    ref = galsim.ImageD(49, 49, xmin=0, ymin=0)
    galsim.Sersic(n=4.0, half_light_radius=2.0).drawImage(ref, scale=1.0, method="real_space")
    assert ours[24, 24] / ref.array[24, 24] - 1 == pytest.approx(0.0, abs=2e-3)
    assert np.abs(ours - ref.array).max() / ref.array.max() < 2e-3


def test_scene_equals_sum_of_stamps():
    jac = Jacobian(0.2, 0.01, 0.0, 0.19, x0=0.0, y0=0.0)
    gals = [Sersic(1.0 + i, 0.3, 1.0 + 0.5 * i).shift(1.5 * i + 1.0, 2.0) for i in range(5)]
    psf = Gaussian(1.0, sigma=0.25)
    scene = draw_scene(gals, jac, (25, 50), psf=psf)
    total = sum(draw(g, jac, (25, 50), psf=psf) for g in gals)
    np.testing.assert_allclose(scene, total, rtol=0, atol=1e-14)


@settings(max_examples=20, deadline=None)
@given(
    scale_u=st.floats(0.15, 0.3),
    scale_v=st.floats(0.15, 0.3),
    theta=st.floats(-3.2, 3.2),
    shear=st.floats(-0.2, 0.2),
    flip=st.booleans(),
)
def test_image_moments_match_gmix_moments_any_jacobian(scale_u, scale_v, theta, shear, flip):
    """Unweighted world moments of the rendered image equal the mixture's (+ pixel)."""
    c, s = math.cos(theta), math.sin(theta)
    mat = np.array([[c, -s], [s, c]]) @ np.array([[scale_u, shear * scale_u], [0.0, scale_v]])
    if flip:
        mat = mat @ np.array([[0.0, 1.0], [1.0, 0.0]])
    jac = Jacobian.from_matrix(mat, 40.3, 39.6)
    gm = Gaussian(2.0, sigma=0.6).shear(0.15, -0.05).shift(0.1, -0.2).gmix()
    for method in ("no_pixel", "auto"):
        im = draw(gm, jac, (81, 81), method=method)
        y, x = np.mgrid[0:81, 0:81]
        u, v = jac.to_world(x, y)
        f = im.sum()
        assert f == pytest.approx(2.0, rel=1e-6)
        mu, mv = (im * u).sum() / f, (im * v).sum() / f
        iuu = (im * (u - mu) ** 2).sum() / f
        ivv = (im * (v - mv) ** 2).sum() / f
        m = gm.moments()
        assert (mu, mv) == pytest.approx((m["u0"], m["v0"]), abs=1e-6)
        # the pixel adds its own second moments (M M^T / 12) when integrated
        pix = mat @ mat.T / 12.0 if method == "auto" else np.zeros((2, 2))
        sampling = 1e-3 if method == "no_pixel" else 1e-5
        assert iuu == pytest.approx(m["Iuu"] + pix[0, 0], rel=sampling + 1e-5)
        assert ivv == pytest.approx(m["Ivv"] + pix[1, 1], rel=sampling + 1e-5)


@settings(max_examples=20, deadline=None)
@given(
    theta=st.floats(-3.2, 3.2),
    g1=st.floats(-0.3, 0.3),
    g2=st.floats(-0.3, 0.3),
    flip=st.booleans(),
)
def test_transforming_profile_equals_transforming_jacobian(theta, g1, g2, flip):
    """draw(P.transform(A), J) == draw(P, A^-1 J): world and pixel maps compose."""
    c, s = math.cos(theta), math.sin(theta)
    a = np.array([[c, -s], [s, c]]) @ np.array([[1 + g1, g2], [g2, 1 - g1]])
    if flip:
        a = a @ np.array([[1.0, 0.0], [0.0, -1.0]])
    jac = Jacobian(0.2, 0.02, -0.01, 0.22, x0=20.4, y0=19.7)
    gm = Sersic(1.0, 0.5, 1.5).shear(0.1, 0.05).shift(0.1, 0.0).gmix()
    lhs = draw(gm.transform(a), jac, (40, 40), method="no_pixel")
    jac2 = Jacobian.from_matrix(np.linalg.solve(a, jac.matrix), jac.x0, jac.y0)
    rhs = draw(gm, jac2, (40, 40), method="no_pixel")
    np.testing.assert_allclose(lhs, rhs, rtol=1e-9, atol=1e-12 * rhs.max())


@settings(max_examples=60, deadline=None)
@given(
    sig_major=st.floats(0.4, 60.0),
    axis_ratio=st.floats(0.05, 1.0),
    theta=st.floats(0.0, math.pi),
    mx=st.floats(-40.0, 240.0),
    my=st.floats(-40.0, 140.0),
    shape=st.sampled_from([(100, 200), (37, 53), (200, 17)]),
)
def test_no_pixel_row_recurrence_matches_direct_exp(sig_major, axis_ratio, theta, mx, my, shape):
    """``no_pixel`` advances each row's start by multiplication from the previous row.

    Against direct ``exp`` evaluation at every pixel centre for large,
    elongated, rotated Gaussians partly off the image (rows clipped by the
    borders): the recurrence's drift stays at rounding level, and pixels beyond
    the chi^2 < 72 cut (value < e^-36 of the peak) are the only other difference.
    """
    c, s = math.cos(theta), math.sin(theta)
    a2, b2 = sig_major**2, (axis_ratio * sig_major) ** 2
    sxx = c * c * a2 + s * s * b2
    syy = s * s * a2 + c * c * b2
    sxy = c * s * (a2 - b2)
    comp = np.array([[3.0, mx, my, sxx, sxy, syy]])
    ours = np.zeros(shape)
    _kernels.add_nopix(comp, PIX.as_array(), ours, 0.0, 0.0)
    yy, xx = np.mgrid[0 : shape[0], 0 : shape[1]].astype(float)
    dx, dy = xx - mx, yy - my
    det = sxx * syy - sxy * sxy
    chi2 = (syy * dx * dx - 2 * sxy * dx * dy + sxx * dy * dy) / det
    peak = 3.0 / (2 * math.pi * math.sqrt(det))
    ref = peak * np.exp(-0.5 * chi2)
    assert np.abs(ours - ref).max() <= 1e-12 * peak + peak * math.exp(-36.0)
