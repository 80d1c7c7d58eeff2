"""Metacalibration and reconvolution against GalSim renders and analytic identities."""

from __future__ import annotations

import math

import galsim
import numpy as np
import pytest

from galmix import Jacobian, Observation
from galmix.errors import GalmixTypeError, GalmixValueError
from galmix.moments import adaptive_moments, gauss_moments
from galmix.profiles import Gaussian
from galmix.shear import MetacalPlan, metacal, metacal_batch, reconvolve, rotate_world
from galmix.shear.simulate import ShearSimConfig, jacobian_matrix, run_shear_bias

JACOBIANS = {
    "plain": jacobian_matrix(0.263),
    "shearwcs": jacobian_matrix(0.263, 0.1, 0.0),
    "rotated": jacobian_matrix(0.263, 0.0, 0.0, 0.7),
    "flipped": jacobian_matrix(0.263, 0.0, 0.0, 0.0, True),
    "crazy": jacobian_matrix(0.263, 0.07, -0.12, 1.1, True) @ np.diag([1.1, 0.9]),
}

HIGH_ACC = galsim.GSParams(folding_threshold=1e-5, maxk_threshold=1e-5, kvalue_accuracy=1e-7)


def _wcs(m):
    return galsim.JacobianWCS(m[0, 0], m[0, 1], m[1, 0], m[1, 1])


def _obs(m, gal, psf, n=48, npsf=33, offset=(0.0, 0.0)):
    wcs = _wcs(m)
    img = (
        galsim.Convolve(gal, psf, gsparams=HIGH_ACC)
        .drawImage(nx=n, ny=n, wcs=wcs, dtype=np.float64, offset=galsim.PositionD(*offset))
        .array
    )
    pimg = psf.drawImage(nx=npsf, ny=npsf, wcs=wcs, dtype=np.float64).array
    c, pc = (n - 1) / 2, (npsf - 1) / 2
    jac = Jacobian.from_matrix(m, c + offset[0], c + offset[1])
    return Observation(
        img, jacobian=jac, psf=Observation(pimg, jacobian=Jacobian.from_matrix(m, pc, pc))
    )


@pytest.mark.parametrize("name", list(JACOBIANS))
@pytest.mark.parametrize("g", [(0.0, 0.0), (0.02, -0.01)])
def test_reconvolve_matches_galsim(name, g):
    """Deconvolve, shear and reconvolve == GalSim render of the sheared galaxy."""
    m = JACOBIANS[name]
    gal = galsim.Exponential(half_light_radius=0.4, flux=10.0)
    psf = galsim.Gaussian(fwhm=0.7).shear(g1=0.05, g2=0.02)
    obs = _obs(m, gal, psf, n=49)
    target = galsim.Gaussian(sigma=0.5)
    ref = (
        galsim.Convolve(gal.shear(g1=g[0], g2=g[1]), target, gsparams=HIGH_ACC)
        .drawImage(nx=49, ny=49, wcs=_wcs(m), dtype=np.float64)
        .array
    )
    out = reconvolve(obs, Gaussian(1.0, 0.5), g1=g[0], g2=g[1])
    assert np.max(np.abs(out.image - ref)) < 3e-5 * ref.max()
    a = gauss_moments(out, 1.2)
    b = gauss_moments(Observation(ref, jacobian=obs.jacobian), 1.2)
    assert a.e1 == pytest.approx(b.e1, abs=2e-7)
    assert a.e2 == pytest.approx(b.e2, abs=2e-7)
    assert a.T == pytest.approx(b.T, rel=1e-6)


def test_reconvolve_to_image_target_and_other_grid():
    """An image target is the output's effective PSF; other output grids work too."""
    m = JACOBIANS["crazy"]
    gal = galsim.Exponential(half_light_radius=0.4, flux=10.0).shear(g1=0.1, g2=0.05)
    psf = galsim.Gaussian(fwhm=0.7)
    obs = _obs(m, gal, psf, n=49)
    target = galsim.Moffat(beta=3.5, fwhm=1.1)
    timg = target.drawImage(nx=41, ny=41, wcs=_wcs(m), dtype=np.float64).array
    tobs = Observation(timg, jacobian=Jacobian.from_matrix(m, 20, 20))
    out = reconvolve(obs, tobs)
    ref = (
        galsim.Convolve(gal, target, gsparams=HIGH_ACC)
        .drawImage(nx=49, ny=49, wcs=_wcs(m), dtype=np.float64)
        .array
    )
    assert np.max(np.abs(out.image - ref)) < 2e-3 * ref.max()
    # onto a square 0.2" grid of another size
    m2 = jacobian_matrix(0.2)
    jac2 = Jacobian.from_matrix(m2, 30.0, 30.0)
    out2 = reconvolve(obs, Gaussian(1.0, 0.5), g1=0.01, jacobian=jac2, shape=(61, 61))
    ref2 = (
        galsim.Convolve(gal.shear(g1=0.01, g2=0.0), galsim.Gaussian(sigma=0.5))
        .drawImage(nx=61, ny=61, wcs=_wcs(m2), dtype=np.float64)
        .array
    )
    assert np.max(np.abs(out2.image - ref2)) < 1e-4 * ref2.max()


@pytest.mark.parametrize("name", ["shearwcs", "crazy"])
def test_rotate_world_is_a_world_rotation(name):
    """90-degree rotation on sheared/non-square pixels == GalSim render of the rotated object."""
    m = JACOBIANS[name]
    obj = galsim.Gaussian(sigma=0.9, flux=5.0).shear(g1=0.3, g2=-0.1).shift(0.1, 0.05)
    img = obj.drawImage(nx=64, ny=64, wcs=_wcs(m), method="no_pixel", dtype=np.float64).array
    c = 31.5
    obs = Observation(img, jacobian=Jacobian.from_matrix(m, c, c))
    rot = rotate_world(obs, math.pi / 2)
    ref = (
        obj.rotate(90 * galsim.degrees)
        .drawImage(nx=64, ny=64, wcs=_wcs(m), method="no_pixel", dtype=np.float64)
        .array
    )
    assert np.max(np.abs(rot - ref)) < 1e-6 * ref.max()
    # a pixel permutation would be wrong here
    assert np.max(np.abs(np.rot90(img) - ref)) > 1e-2 * ref.max()


@pytest.mark.parametrize("name", ["crazy", "rotated", "plain"])
def test_fixnoise_is_rotate_metacal_rotate_back(name):
    """The fixnoise term equals R^-1 M R applied to a (band-limited) noise field."""
    m = JACOBIANS[name]
    n = 48
    c = (n - 1) / 2
    jac = Jacobian.from_matrix(m, c, c)
    rng = np.random.default_rng(5)
    # smooth random field (band-limited well inside every rotated Nyquist zone)
    field = galsim.Gaussian(sigma=0.6)
    noise = np.zeros((n, n))
    for _ in range(30):
        u, v = rng.uniform(-2, 2, 2)
        noise += (
            rng.normal()
            * field.shift(u, v)
            .drawImage(nx=n, ny=n, wcs=_wcs(m), method="no_pixel", dtype=np.float64)
            .array
        )
    psf = Gaussian(1.0, 0.35).shear(0.1, -0.05)  # not round: the PSF rotation matters
    zero = Observation(np.zeros((n, n)), jacobian=jac, psf=psf, noise=noise)
    plan = MetacalPlan(psf, jac, (n, n), kernel=Gaussian(1.0, 0.6), types=("1p",))
    got = plan.apply(zero, keep_noise=False)["1p"].image
    # step by step: rotate the noise by +90 deg in world, metacal (shear g1=+step,
    # no pixel added), rotate back by -90 deg
    rot = rotate_world(Observation(noise, jacobian=jac), math.pi / 2)
    plan1 = MetacalPlan(psf, jac, (n, n), kernel=Gaussian(1.0, 0.6), types=("1p",), fixnoise=False)
    sheared = plan1.apply(Observation(rot, jacobian=jac, psf=psf), keep_noise=False)["1p"].image
    # (the same, unrotated PSF is deconvolved, as for the image); rotate back
    ref = rotate_world(Observation(sheared, jacobian=jac), -math.pi / 2)
    assert np.max(np.abs(got - ref)) < 1e-4 * np.max(np.abs(ref))
    # all five types at once (noise evaluated together with the image) agree
    full = MetacalPlan(psf, jac, (n, n), kernel=Gaussian(1.0, 0.6)).apply(zero, keep_noise=False)
    np.testing.assert_allclose(full["1p"].image, got, rtol=0, atol=1e-12 * np.abs(got).max())


@pytest.mark.parametrize("kernel", ["gauss", "fitgauss", "dilate"])
@pytest.mark.parametrize("name", list(JACOBIANS))
def test_noiseless_bias(kernel, name):
    """Paired +-0.02 shears, Moffat PSF sheared (0.02, -0.01): |m| < 1e-3, |c| < 1e-4."""
    m = JACOBIANS[name]
    cfg = ShearSimConfig(matrix=(tuple(m[0]), tuple(m[1])), kernel=kernel, fixnoise=False)
    res = run_shear_bias(cfg, npairs=2, seed=3)
    assert abs(res.m) < 1e-3
    assert abs(res.c1) < 1e-4 and abs(res.c2) < 1e-4
    # stretch: the cubic estimator removes the g^3 nonlinearity
    res3 = run_shear_bias(cfg, npairs=2, seed=3, method="cubic")
    assert abs(res3.m) < 1e-4
    assert abs(res3.c1) < 1e-4 and abs(res3.c2) < 1e-4


def test_linear_estimator_nonlinearity_is_detected():
    """The linear estimator's m ~ 3.6e-4 (g^2 term) must be visible: the test can fail."""
    cfg = ShearSimConfig(offset=False)
    res = run_shear_bias(cfg, npairs=2)
    assert 2e-4 < res.m < 5e-4


def test_noisy_bias_small():
    """S/N 50 with fixnoise: m consistent with zero (small version of the benchmark)."""
    cfg = ShearSimConfig(s2n=50.0, stamp_size=40)
    res = run_shear_bias(cfg, npairs=150, seed=11, workers=1)
    assert res.m_err < 0.05
    assert abs(res.m) < 3 * res.m_err + 1e-3
    assert abs(res.c1) < 4 * res.c1_err and abs(res.c2) < 4 * res.c2_err


def test_gmix_psf_input_is_unbiased():
    m = JACOBIANS["crazy"]
    gal = galsim.Exponential(half_light_radius=0.5).shear(g1=0.02, g2=0.0)
    gpsf = galsim.Gaussian(sigma=0.4)
    obs = _obs(m, gal, gpsf)
    obs = obs.replace(psf=Gaussian(1.0, 0.4))
    res = {t: gauss_moments(o, 1.2) for t, o in metacal(obs, fixnoise=False).items()}
    obs_m = _obs(m, galsim.Exponential(half_light_radius=0.5).shear(g1=-0.02, g2=0.0), gpsf)
    obs_m = obs_m.replace(psf=Gaussian(1.0, 0.4))
    res_m = {t: gauss_moments(o, 1.2) for t, o in metacal(obs_m, fixnoise=False).items()}
    r = 0.5 * ((res["1p"].e1 - res["1m"].e1) + (res_m["1p"].e1 - res_m["1m"].e1)) / 0.02
    mbias = (res["noshear"].e1 - res_m["noshear"].e1) / 2 / r / 0.02 - 1
    assert abs(mbias) < 1e-3


def test_outputs_and_noise_weight():
    m = JACOBIANS["shearwcs"]
    n = 48
    jac = Jacobian.from_matrix(m, (n - 1) / 2, (n - 1) / 2)
    psf = galsim.Moffat(beta=2.5, fwhm=0.9)
    pimg = psf.drawImage(nx=33, ny=33, wcs=_wcs(m), dtype=np.float64).array
    psf_obs = Observation(pimg, jacobian=Jacobian.from_matrix(m, 16, 16))
    sigma = 0.1
    rng = np.random.default_rng(2)
    obs = Observation(
        rng.normal(0, sigma, (n, n)), weight=np.full((n, n), sigma**-2), jacobian=jac, psf=psf_obs
    )
    out = metacal(obs, rng=rng)
    assert sorted(out) == ["1m", "1p", "2m", "2p", "noshear"]
    o = out["1p"]
    assert o.meta["metacal_type"] == "1p" and o.meta["metacal_shear"] == (0.01, 0.0)
    assert o.jacobian == obs.jacobian and o.shape == obs.shape
    assert o.noise is not None and o.noise.shape == obs.shape
    # the new PSF is the round kernel on the PSF grid
    assert isinstance(o.psf, Observation)
    assert float(o.psf.image.sum()) == pytest.approx(1.0, abs=1e-6)
    pm = adaptive_moments(o.psf)
    assert abs(pm.e1) < 1e-6 and abs(pm.e2) < 1e-6
    kern = o.psf.meta["kernel_gmix"]
    assert pm.T == pytest.approx(kern[0, 3] + kern[0, 5], rel=1e-6)
    # weight reflects the variance of the processed (image + fixnoise) noise
    var = np.var(np.concatenate([out[t].image.ravel() for t in out]))
    assert var * o.weight[0, 0] == pytest.approx(1.0, rel=0.15)
    var_n = np.var(np.concatenate([out[t].noise.ravel() for t in out]))
    assert var_n == pytest.approx(var, rel=0.2)


def test_correlated_noise_input():
    m = JACOBIANS["plain"]
    n = 40
    jac = Jacobian.from_matrix(m, (n - 1) / 2, (n - 1) / 2)
    xi = np.zeros((5, 5))
    xi[2, 2] = 1.0
    xi[2, 1] = xi[2, 3] = 0.4
    obs = Observation(np.zeros((n, n)), jacobian=jac, psf=Gaussian(1.0, 0.4), noise_correlation=xi)
    from galmix.shear.metacal import _make_noise

    rng = np.random.default_rng(1)
    fields = np.array([_make_noise(obs, rng) for _ in range(200)])
    lag1 = np.mean(fields[:, :, 1:] * fields[:, :, :-1])
    lag0 = np.mean(fields**2)
    assert lag0 == pytest.approx(1.0, rel=0.05)
    assert lag1 == pytest.approx(0.4, abs=0.04)
    assert np.mean(fields[:, 1:, :] * fields[:, :-1, :]) == pytest.approx(0.0, abs=0.03)
    out = metacal(obs, rng=1)
    assert np.all(np.isfinite(out["2m"].image))


def test_invalid_arguments():
    obs = Observation(np.zeros((20, 20)), psf=Gaussian(1.0, 1.0))
    with pytest.raises(GalmixValueError, match="psf"):
        metacal(obs, psf="boxcar")
    with pytest.raises(GalmixValueError, match="type"):
        metacal(obs, types=("noshear", "3p"))
    with pytest.raises(GalmixValueError, match="step"):
        metacal(obs, step=-0.01)
    with pytest.raises(GalmixValueError, match="psf"):
        metacal(Observation(np.zeros((20, 20))))
    with pytest.raises(GalmixTypeError, match="obs"):
        metacal(np.zeros((20, 20)))
    with pytest.raises(GalmixTypeError, match="target_psf"):
        reconvolve(obs, "wide")
    plan = MetacalPlan(Gaussian(1.0, 1.0), obs.jacobian, (20, 20))
    with pytest.raises(GalmixValueError, match="shape"):
        plan.apply(Observation(np.zeros((21, 20)), psf=Gaussian(1.0, 1.0)))


def test_with_pixel_output_is_unbiased_but_carries_pixel_anisotropy():
    """Integrating over the (sheared) output pixels keeps m; c gets the pixel's shape."""
    m = JACOBIANS["crazy"]
    res = {}
    for with_pixel in (False, True):
        e = {}
        for sign in (1, -1):
            gal = galsim.Exponential(half_light_radius=0.5).shear(g1=0.02 * sign, g2=0.0)
            obs = _obs(m, gal, galsim.Moffat(beta=2.5, fwhm=0.9))
            mc = metacal(obs, fixnoise=False, keep_noise=False, with_pixel=with_pixel)
            e[sign] = {t: gauss_moments(o, 1.2) for t, o in mc.items()}
        r11 = sum(e[s]["1p"].e1 - e[s]["1m"].e1 for s in (1, -1)) / 0.04
        r22 = sum(e[s]["2p"].e2 - e[s]["2m"].e2 for s in (1, -1)) / 0.04
        mb = (e[1]["noshear"].e1 - e[-1]["noshear"].e1) / 2 / r11 / 0.02 - 1
        cb = (e[1]["noshear"].e2 + e[-1]["noshear"].e2) / 2 / r22
        res[with_pixel] = (mb, cb)
    assert abs(res[False][0]) < 1e-3 and abs(res[True][0]) < 1e-3
    assert abs(res[False][1]) < 1e-5
    assert abs(res[True][1]) > 1e-3  # the world-anisotropic pixel leaks into e2


def test_metacal_batch_equals_per_call():
    m = JACOBIANS["shearwcs"]
    gal = galsim.Exponential(half_light_radius=0.5)
    obs = _obs(m, gal, galsim.Moffat(beta=2.5, fwhm=0.9))
    obs = obs.replace(weight=np.full(obs.shape, 100.0))
    stamps = [obs, obs.replace(image=obs.image * 2), obs]
    batch = metacal_batch(stamps, rng=np.random.default_rng(9))
    gen = np.random.default_rng(9)
    single = [metacal(o, rng=gen) for o in stamps]
    for b, s in zip(batch, single):
        for t in b:
            np.testing.assert_allclose(b[t].image, s[t].image, rtol=0, atol=1e-12)
            np.testing.assert_allclose(b[t].noise, s[t].noise, rtol=0, atol=1e-12)


def test_psf_image_on_another_grid():
    """A PSF image sampled on a finer, rotated grid: its pixel is swapped for the image's."""
    m = JACOBIANS["shearwcs"]
    gal = galsim.Exponential(half_light_radius=0.4, flux=10.0).shear(g1=0.05, g2=0.0)
    psf = galsim.Gaussian(fwhm=0.7).shear(g1=0.03, g2=0.02)
    n = 49
    img = (
        galsim.Convolve(gal, psf, gsparams=HIGH_ACC)
        .drawImage(nx=n, ny=n, wcs=_wcs(m), dtype=np.float64)
        .array
    )
    mp = jacobian_matrix(0.1, 0.0, 0.0, 0.3)
    pimg = psf.drawImage(nx=65, ny=65, wcs=_wcs(mp), dtype=np.float64).array
    obs = Observation(
        img,
        jacobian=Jacobian.from_matrix(m, 24, 24),
        psf=Observation(pimg, jacobian=Jacobian.from_matrix(mp, 32, 32)),
    )
    out = reconvolve(obs, Gaussian(1.0, 0.5), g1=0.01)
    ref = (
        galsim.Convolve(gal.shear(g1=0.01, g2=0.0), galsim.Gaussian(sigma=0.5), gsparams=HIGH_ACC)
        .drawImage(nx=n, ny=n, wcs=_wcs(m), dtype=np.float64)
        .array
    )
    assert np.max(np.abs(out.image - ref)) < 1e-4 * ref.max()


@pytest.mark.parametrize("wcs_g", [(0.1, 0.0), (0.1, 0.1)])
@pytest.mark.parametrize("kernel", ["gauss", "fitgauss"])
def test_seed_000_crazy_wcs(wcs_g, kernel):
    """ngmix issue #72 set-up: Gaussian PSF FWHM 0.9", 33x33 stamps, ShearWCS(0.263, g)."""
    wcs = galsim.ShearWCS(0.263, galsim.Shear(g1=wcs_g[0], g2=wcs_g[1])).jacobian()
    m = wcs.getMatrix()
    psf = galsim.Gaussian(fwhm=0.9)
    e = {}
    for sign in (1, -1):
        gal = galsim.Exponential(half_light_radius=0.5).shear(g1=0.02 * sign, g2=0.0)
        obs = _obs(m, gal, psf, n=33, npsf=33, offset=(0.21, -0.33))
        mc = metacal(obs, psf=kernel, fixnoise=False, keep_noise=False)
        e[sign] = {t: gauss_moments(o, 1.2) for t, o in mc.items()}
    r11 = sum(e[s]["1p"].e1 - e[s]["1m"].e1 for s in (1, -1)) / 0.04
    r22 = sum(e[s]["2p"].e2 - e[s]["2m"].e2 for s in (1, -1)) / 0.04
    mbias = (e[1]["noshear"].e1 - e[-1]["noshear"].e1) / 2 / r11 / 0.02 - 1
    cbias = (e[1]["noshear"].e2 + e[-1]["noshear"].e2) / 2 / r22
    assert abs(mbias) < 1e-3  # ngmix reported -0.2 to -0.39 here
    assert abs(cbias) < 1e-4
