"""Kernel checks: analytic derivatives vs finite differences; renders vs GalSim/draw."""

from __future__ import annotations

import numpy as np
import pytest

from conftest import render_galsim
from galmix import Jacobian, Observation
from galmix.fit import _kernels as K
from galmix.fit.core import _kernel_args, _pack_args, model_images
from galmix.fit.data import make_exposures, pack_exposures
from galmix.fit.models import build_layout, parse_model

galsim = pytest.importorskip("galsim")

JAC = Jacobian(0.21, 0.03, -0.02, 0.19, 20.3, 18.7)  # sheared, rotated, non-square
SHAPE = (40, 42)


def _problem(model, p, scheme="sub4", psf=None, rng=None, bands=("",)):
    m = parse_model(model)
    lay = build_layout([m], list(bands))
    if psf is None:
        psf = np.array([[0.7, 0.01, -0.02, 0.03, 0.004, 0.025], [0.3, 0.0, 0.01, 0.09, -0.01, 0.1]])
    img = rng.normal(0.0, 1.0, SHAPE)
    obs = Observation(img, weight=np.full(SHAPE, 4.0), jacobian=JAC)
    exps = make_exposures([[obs]] * len(bands), psf, scheme)
    pk = pack_exposures(exps)
    # data = model + noise so residuals are realistic
    truth = model_images(lay, p, exps)
    obs2 = [
        Observation(t + 0.5 * rng.normal(size=SHAPE), weight=np.full(SHAPE, 4.0), jacobian=JAC)
        for t in truth
    ]
    exps = make_exposures([[o] for o in obs2], psf, scheme)
    pk = pack_exposures(exps)
    return lay, pk


def _chi2_grad(lay, pk, p):
    P = lay.nparams
    col = np.arange(P, dtype=np.int64)
    jtj = np.zeros((P, P))
    jtr = np.zeros(P)
    chi2 = K.evaluate(p, col, P, *_kernel_args(lay), *_pack_args(pk), True, np.empty(0), jtj, jtr)
    return chi2, jtr, jtj


@pytest.mark.parametrize(
    ("model", "p"),
    [
        ("sersic", [0.05, -0.1, 30.0, np.log(0.5), 0.2, -0.15, 2.3]),
        ("point+sersic", [0.05, -0.1, 5.0, 30.0, np.log(0.4), -0.3, 0.1, 1.2]),
        ("exp+dev", [0.0, 0.02, 20.0, np.log(0.6), 0.1, 0.1, 10.0, np.log(0.2), -0.1, 0.2]),
        ("sersic+sky", [0.05, -0.1, 30.0, np.log(0.5), 0.2, -0.15, 2.3, 0.3]),
    ],
)
def test_analytic_gradient_matches_finite_differences(model, p, rng):
    """d chi2 / dp = -2 J^T r from the kernel equals central differences."""
    p = np.array(p, dtype=float)
    lay, pk = _problem(model, p, rng=rng)
    p_eval = p * 1.03 + 0.01  # away from the optimum
    chi2, jtr, jtj = _chi2_grad(lay, pk, p_eval)
    for i in range(len(p)):
        h = 1e-6 * max(1.0, abs(p_eval[i]))
        pp, pm = p_eval.copy(), p_eval.copy()
        pp[i] += h
        pm[i] -= h
        num = (_chi2_grad(lay, pk, pp)[0] - _chi2_grad(lay, pk, pm)[0]) / (2 * h)
        assert -2 * jtr[i] == pytest.approx(num, rel=2e-4, abs=1e-5 * chi2), lay.names[i]
    # J^T J is the Gauss-Newton curvature: symmetric positive definite
    assert np.allclose(jtj, jtj.T)
    assert np.all(np.linalg.eigvalsh(jtj) > 0)


def test_model_matches_render_draw_auto():
    """Our 'sub4' pixel scheme agrees with galmix.render.draw(method='auto')."""
    from galmix.profiles import Sersic
    from galmix.render import draw

    psf = np.array([[1.0, 0.0, 0.0, 0.03, 0.0, 0.03]])
    prof = Sersic(10.0, 0.3, 1.5).shear(0.2, 0.1).shift(0.1, -0.05)
    ref = draw(prof, JAC, SHAPE, psf=psf, method="auto")
    lay = build_layout([parse_model("sersic")], [""])
    p = np.array([0.1, -0.05, 10.0, np.log(0.3), 0.2, 0.1, 1.5])
    obs = Observation(np.zeros(SHAPE), jacobian=JAC)
    for scheme, tol in (("sub4", 2e-5), ("gauss", 2e-3)):
        img = model_images(lay, p, make_exposures([[obs]], psf, scheme))[0]
        assert np.max(np.abs(img - ref)) < tol * ref.max(), scheme


@pytest.mark.parametrize("n", [0.5, 1.0, 2.0])
def test_model_matches_galsim(n):
    """PSF-convolved, pixel-integrated Sersic model vs GalSim drawImage(method='auto')."""
    psf = galsim.Gaussian(fwhm=0.5)
    gal = galsim.Sersic(n=n, half_light_radius=0.4, flux=10.0).shear(g1=-0.1, g2=0.25)
    gal = gal.shift(-0.07, 0.04)
    ref = render_galsim(gal, psf, JAC, SHAPE)
    lay = build_layout([parse_model("sersic")], [""])
    p = np.array([-0.07, 0.04, 10.0, np.log(0.4), -0.1, 0.25, n])
    s2 = psf.sigma**2
    mix = np.array([[1.0, 0.0, 0.0, s2, 0.0, s2]])
    obs = Observation(np.zeros(SHAPE), jacobian=JAC)
    img = model_images(lay, p, make_exposures([[obs]], mix, "sub4"))[0]
    # the mixture tables approximate the profile to ~1e-3 of the peak (their own
    # tests); the kernel itself is checked against render.draw to 2e-5 above
    assert np.max(np.abs(img - ref)) < 3e-3 * ref.max()
    # stamp sums differ by the mixture's truncated wings (0.2% beyond 10 hlr at n=2)
    assert img.sum() == pytest.approx(ref.sum(), rel=3e-3)


def test_hermite_table_interpolates_sersic_mixture():
    """The kernel's n-interpolation reproduces sersic_mixture(n) and its derivative."""
    from galmix.fit.models import sersic_table
    from galmix.profiles import sersic_mixture, sersic_mixture_deriv

    n_, tw, ts, tdw, tds = sersic_table()
    w = np.empty(tw.shape[1])
    dw = np.empty(tw.shape[1])
    v = np.empty(tw.shape[1])
    dv = np.empty(tw.shape[1])
    for n in (0.73, 1.91, 3.333, 5.55):
        K.hermite_table(n_, tw, tdw, n, w, dw)
        K.hermite_table(n_, ts, tds, n, v, dv)
        w_ref, v_ref = sersic_mixture(n)
        dw_ref, dv_ref = sersic_mixture_deriv(n)
        assert np.allclose(w, w_ref, atol=1e-6)
        assert np.allclose(v, v_ref, rtol=1e-5)
        assert np.allclose(dw, dw_ref, atol=1e-3)
        assert np.allclose(dv, dv_ref, rtol=1e-3, atol=1e-3 * np.abs(dv_ref).max())


def test_masked_pixels_break_row_recurrence_correctly(rng):
    """Model values on good pixels do not depend on which neighbours are masked."""
    lay = build_layout([parse_model("sersic")], [""])
    p = np.array([0.05, -0.1, 30.0, np.log(0.3), 0.2, -0.15, 2.3])
    psf = np.array([[1.0, 0.0, 0.0, 0.02, 0.0, 0.02]])
    full = Observation(np.zeros(SHAPE), jacobian=JAC)
    ref = model_images(lay, p, make_exposures([[full]], psf, "gauss"))[0]
    mask = rng.random(SHAPE) < 0.3
    holed = Observation(np.zeros(SHAPE), jacobian=JAC, mask=mask)
    exps = make_exposures([[holed]], psf, "gauss")
    pk = pack_exposures(exps)
    out = np.zeros(pk["pix_u"].shape[0])
    col = np.full(lay.nparams, -1, dtype=np.int64)
    K.evaluate(
        p, col, 0, *_kernel_args(lay), *_pack_args(pk), False, out, np.zeros((0, 0)), np.zeros(0)
    )
    assert np.allclose(out, ref[~mask], rtol=1e-12, atol=1e-14 * ref.max())


def test_cmos_pixel_response_matches_draw():
    """A CMOS sensitive sub-area (PixelResponse) is modelled like render.draw(pixel=...)."""
    from galmix import PixelResponse
    from galmix.profiles import Sersic
    from galmix.render import draw

    pix = PixelResponse(subpixel_loc=(0.1, -0.15), subpixel_scale=0.6)
    psf = np.array([[1.0, 0.0, 0.0, 0.03, 0.0, 0.03]])
    prof = Sersic(10.0, 0.35, 1.2).shear(-0.1, 0.2).shift(0.05, 0.02)
    ref = draw(prof, JAC, SHAPE, psf=psf, method="auto", pixel=pix)
    lay = build_layout([parse_model("sersic")], [""])
    p = np.array([0.05, 0.02, 10.0, np.log(0.35), -0.1, 0.2, 1.2])
    obs = Observation(np.zeros(SHAPE), jacobian=JAC, pixel=pix)
    img = model_images(lay, p, make_exposures([[obs]], psf, "sub4"))[0]
    assert np.max(np.abs(img - ref)) < 1e-4 * ref.max()
    assert img.sum() == pytest.approx(ref.sum(), rel=1e-6)


def test_sersic_table_is_built_once():
    from galmix.fit.models import sersic_table

    assert sersic_table() is sersic_table()
