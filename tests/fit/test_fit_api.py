"""API behaviour: models, fixed/priors/bounds, flags, batch robustness, blends, outputs."""

from __future__ import annotations

import numpy as np
import pytest
from astropy.io import fits
from hypothesis import given, settings
from hypothesis import strategies as st

from conftest import gauss_psf_mixture, render_galsim
from galmix import Jacobian, MultiBandObservation, Observation
from galmix.errors import FLAGS, GalmixTypeError, GalmixValueError
from galmix.fit import (
    LMSettings,
    blend_table,
    fit,
    fit_batch,
    fit_blend,
    fit_groups,
    galfit_parameters,
    group_objects,
    results_table,
    write_galfit_fits,
)

galsim = pytest.importorskip("galsim")

PSF = galsim.Gaussian(fwhm=0.6)
MIX = gauss_psf_mixture(PSF.sigma)
JAC = Jacobian.from_scale(0.2, 23.5, 23.5)


def _obs(gal, jac=JAC, shape=(48, 48), sigma=1e-3, rng=None):
    img = render_galsim(gal, PSF, jac, shape)
    if rng is not None:
        img = img + rng.normal(0, sigma, shape)
    return Observation(img, weight=np.full(shape, sigma**-2), jacobian=jac, psf=MIX)


def test_point_source_flux_and_centre():
    star = galsim.DeltaFunction(flux=25.0).shift(0.13, -0.21)
    res = fit(_obs(star), "point")
    assert res.flags == 0
    assert res.params["flux"] == pytest.approx(25.0, rel=5e-4)  # Gaussian pixel scheme
    assert (res.params["u0"], res.params["v0"]) == pytest.approx((0.13, -0.21), abs=1e-4)
    assert set(res.params) >= {"flux", "u0", "v0"} and "half_light_radius" not in res.params


def test_point_plus_sersic_separates_nucleus():
    gal = galsim.Add(
        galsim.DeltaFunction(flux=10.0), galsim.Exponential(flux=40.0, half_light_radius=0.8)
    )
    res = fit(_obs(gal), "point+sersic")
    p = res.params
    assert p["flux_point"] == pytest.approx(10.0, rel=0.02)
    assert p["flux_sersic"] == pytest.approx(40.0, rel=0.01)
    assert p["flux"] == pytest.approx(50.0, rel=2e-3)
    assert p["n_sersic"] == pytest.approx(1.0, abs=0.03)


def test_expdev_cmodel():
    """CModel: a pure disc gets frac_dev ~ 0; a composite is fit better than by exp or dev."""
    jac = Jacobian.from_scale(0.2, 31.5, 31.5)
    disc = galsim.Exponential(flux=30.0, half_light_radius=0.9).shear(g1=0.2, g2=0.1)
    res = fit(_obs(disc, shape=(64, 64), jac=jac), "expdev")
    assert res.model == "expdev" and res.flags == 0
    assert res.params["frac_dev"] < 0.03
    assert res.params["flux"] == pytest.approx(30.0, rel=5e-3)
    assert res.params["g1"] == pytest.approx(0.2, abs=2e-3)
    gal = galsim.Add(
        galsim.Exponential(flux=30.0, half_light_radius=0.9),
        galsim.DeVaucouleurs(flux=20.0, half_light_radius=0.4),
    )
    obs = _obs(gal, shape=(64, 64), jac=jac)
    res = fit(obs, "expdev")
    assert res.chi2 < res.extra["exp"].chi2 and res.chi2 < res.extra["dev"].chi2
    assert 0.0 < res.params["frac_dev"] < 1.0
    assert res.model_image.shape == (64, 64)
    # the simultaneous bulge + disc model recovers the components
    bd = fit(obs, "exp+dev")
    assert bd.params["flux_exp"] == pytest.approx(30.0, rel=0.05)
    assert bd.params["flux_dev"] == pytest.approx(20.0, rel=0.1)
    assert bd.params["half_light_radius_exp"] == pytest.approx(0.9, rel=0.05)


def test_fixed_parameters_and_bounds():
    gal = galsim.Sersic(n=2.5, half_light_radius=0.6, flux=30.0)
    obs = _obs(gal)
    res = fit(obs, "sersic", fixed={"n": 4.0, "g1": 0.0})
    assert "n" not in res.free_params and "g1" not in res.free_params
    assert res.params["n"] == 4.0 and res.params["g1"] == 0.0
    assert res.errors["n"] == 0.0
    assert res.covariance.shape == (len(res.free_params),) * 2
    res = fit(obs, "sersic", bounds={"n": (0.5, 2.0)})
    assert res.params["n"] == pytest.approx(2.0)
    assert res.flags & FLAGS.PARAM_AT_BOUND


def test_prior_pulls_faint_object(rng):
    gal = galsim.Exponential(flux=3.0, half_light_radius=0.5)
    obs = _obs(gal, sigma=0.05, rng=rng)
    free = fit(obs, "exp")
    tight = fit(obs, "exp", priors={"g1": (0.0, 1e-3), "half_light_radius": (0.5, 0.01)})
    assert abs(tight.params["g1"]) < 2e-3 < abs(free.params["g1"]) + 2e-3
    assert tight.errors["half_light_radius"] < 0.011
    assert tight.params["half_light_radius"] == pytest.approx(0.5, abs=0.02)


def test_psf_as_image_observation():
    """A PSF image (with its own Jacobian) is fitted once as a mixture (pixel included)."""
    pjac = Jacobian.from_scale(0.1, 12.0, 12.0)  # finer PSF grid than the image
    pimg = PSF.drawImage(nx=25, ny=25, scale=0.1, method="no_pixel").array
    psf_obs = Observation(pimg, jacobian=pjac)
    gal = galsim.Gaussian(flux=20.0, half_light_radius=0.5).shear(g1=0.1, g2=0.0)
    img = render_galsim(gal, PSF, JAC, (48, 48), method="no_pixel")
    obs = Observation(img, weight=np.full(img.shape, 1e6), jacobian=JAC, psf=psf_obs)
    res = fit(obs, "gauss")
    assert res.flags == 0
    assert res.params["flux"] == pytest.approx(20.0, rel=2e-3)
    assert res.params["half_light_radius"] == pytest.approx(0.5, rel=5e-3)


def test_errors_raise_for_bad_arguments():
    obs = _obs(galsim.Gaussian(flux=1.0, sigma=0.3))
    with pytest.raises(GalmixValueError, match="model component"):
        fit(obs, "sersicc")
    with pytest.raises(GalmixValueError, match="unknown parameter 'nn'"):
        fit(obs, "sersic", fixed={"nn": 1.0})
    with pytest.raises(GalmixTypeError, match="obs must be"):
        fit(np.zeros((4, 4)), "gauss")
    with pytest.raises(GalmixValueError, match="pixel_scheme"):
        LMSettings(pixel_scheme="exact")
    with pytest.raises(GalmixValueError, match="half_light_radius must be > 0"):
        fit(obs, "gauss", guess={"half_light_radius": -1.0})


def test_batch_never_stops_and_flags_bad_rows(rng):
    good = _obs(galsim.Exponential(flux=10.0, half_light_radius=0.5), sigma=0.01, rng=rng)
    empty = Observation(np.zeros((48, 48)), jacobian=JAC, psf=MIX)  # no flux at all
    nopsf = good.replace(psf=None)
    inputs = [good, "not an observation", empty, nopsf, good]
    t = fit_batch(inputs, "sersic", ids=[10, 11, 12, 13, 14])
    assert len(t) == 5 and list(t["id"]) == [10, 11, 12, 13, 14]
    assert t["flags"][0] == 0 and t["flags"][4] == 0
    assert t["flags"][1] & FLAGS.BAD_INPUT
    assert t["flags"][3] & FLAGS.BAD_PSF
    assert t["flux"][0] == pytest.approx(t["flux"][4])
    assert np.isnan(t["flux"][1])
    for col in ("flux_err", "half_light_radius", "n", "chi2", "dof", "nfev"):
        assert col in t.colnames


def test_batch_matches_single_fits(rng):
    obs = [
        _obs(galsim.Sersic(n=n, flux=10.0, half_light_radius=0.5), sigma=0.01, rng=rng)
        for n in (1.0, 2.0, 3.0)
    ]
    t = fit_batch(obs, "sersic", nthreads=2)
    for k, o in enumerate(obs):
        r = fit(o, "sersic")
        assert t["flux"][k] == pytest.approx(r.params["flux"], rel=1e-8)
        assert t["n_err"][k] == pytest.approx(r.errors["n"], rel=1e-6)
        assert t["dof"][k] == r.dof


def test_multiband_batch_and_single_consistent(rng):
    gal = galsim.Exponential(flux=1.0, half_light_radius=0.5)
    mb = MultiBandObservation(
        {b: _obs(gal * f, sigma=0.01, rng=rng) for b, f in (("g", 5.0), ("r", 9.0))}
    )
    r = fit(mb, "exp")
    assert set(r.params["flux"]) == {"g", "r"}
    assert r.params["flux"]["r"] / r.params["flux"]["g"] == pytest.approx(1.8, rel=0.02)
    t = fit_batch([mb, mb], "expdev")
    assert t["flux_g"][0] == pytest.approx(t["flux_g"][1])
    assert "frac_dev" in t.colnames


def test_blend_of_two_galaxies_and_groups():
    jac = Jacobian.from_scale(0.2, 39.5, 24.5)
    gal = galsim.Add(
        galsim.Exponential(flux=20.0, half_light_radius=0.5).shift(-1.0, 0.1),
        galsim.Sersic(n=2.0, flux=12.0, half_light_radius=0.4)
        .shear(g1=0.2, g2=0.0)
        .shift(0.9, -0.2),
        galsim.Gaussian(flux=8.0, sigma=0.3).shift(5.0, 0.0),  # isolated third object
    )
    img = render_galsim(gal, PSF, jac, (50, 80))
    obs = Observation(img, weight=np.full(img.shape, 1e4), jacobian=jac, psf=MIX)
    res = fit_blend(obs, [(-0.9, 0.0), (0.8, -0.1), (5.1, 0.0)], ["exp", "sersic", "gauss"])
    t = blend_table(res, ids=["a", "b", "c"])
    assert res.flags == int(FLAGS.BLENDED)
    assert list(t["flux"]) == pytest.approx([20.0, 12.0, 8.0], rel=5e-3)
    assert t["n"][1] == pytest.approx(2.0, abs=0.05)
    assert list(t["model"]) == ["exp", "sersic", "gauss"]
    assert list(t["group_members"]) == ["a,b,c"] * 3
    x, y = jac.to_pixel(np.array([-1.0, 0.9, 5.0]), np.array([0.1, -0.2, 0.0]))
    labels = group_objects(x, y, radius=12.0)
    assert labels.tolist() == [0, 0, 1]
    tg = fit_groups(obs, x, y, "sersic", radius=12.0, ids=[1, 2, 3])
    assert list(tg["id"]) == [1, 2, 3]
    assert list(tg["group_size"]) == [2, 2, 1]
    assert tg["flux"][2] == pytest.approx(8.0, rel=0.02)


def test_galfit_block_and_tables(tmp_path):
    jac = Jacobian(-0.2, 0.0, 0.0, 0.2, 23.5, 23.5)  # east-left FITS orientation
    gal = galsim.Sersic(n=1.5, half_light_radius=0.6, flux=100.0).shear(g1=0.0, g2=0.3)
    res = fit(_obs(gal, jac=jac), "sersic")
    path = tmp_path / "block.fits"
    write_galfit_fits(res, path, zeropoint=25.0)
    with fits.open(path) as hdul:
        assert [h.name for h in hdul[1:]] == ["INPUT", "MODEL", "RESIDUAL"]
        h = hdul["MODEL"].header
        assert np.allclose(
            hdul["INPUT"].data - hdul["MODEL"].data, hdul["RESIDUAL"].data, atol=1e-5
        )
    assert h["COMP_1"] == "sersic"
    assert float(h["1_MAG"].split()[0]) == pytest.approx(25.0 - 5.0, abs=2e-3)
    assert float(h["1_XC"].split()[0]) == pytest.approx(24.5, abs=1e-3)  # 1-based
    q = (1 - 0.3) / (1 + 0.3)
    assert float(h["1_AR"]) == pytest.approx(q, abs=2e-3)
    assert float(h["1_RE"].split()[0]) == pytest.approx(0.6 / np.sqrt(q) / 0.2, rel=5e-3)
    # g2 > 0: major axis along u = v (45 deg in world); u points to -x here, so the
    # major axis runs from +x,-y ... i.e. 135 deg from +x -> GALFIT PA (from up) = 45
    assert abs(float(h["1_PA"])) == pytest.approx(45.0, abs=0.5)
    assert h["CHI2NU"] == pytest.approx(res.chi2_per_dof)
    t = results_table([res, res], ids=[7, 8])
    t.write(tmp_path / "fits.parquet")
    assert list(t["id"]) == [7, 8] and "n_err" in t.colnames
    assert galfit_parameters(res)["NDOF"] == res.dof


@settings(max_examples=8, deadline=None)
@given(
    theta=st.floats(0.0, 2 * np.pi),
    flip=st.booleans(),
    scale=st.floats(0.15, 0.3),
)
def test_fit_invariant_to_pixel_grid_orientation(theta, flip, scale):
    """The same sky through any rotated / flipped pixel grid gives the same world parameters."""
    c, s = np.cos(theta), np.sin(theta)
    m = scale * np.array([[c, -s], [s, c]])
    if flip:
        m = m @ np.array([[0.0, 1.0], [1.0, 0.0]])
    jac = Jacobian(m[0, 0], m[0, 1], m[1, 0], m[1, 1], 24.0, 23.0)
    gal = galsim.Exponential(flux=30.0, half_light_radius=0.6).shear(g1=0.2, g2=-0.15)
    gal = gal.shift(0.05, 0.1)
    res = fit(_obs(gal, jac=jac), "exp", settings=LMSettings(pixel_scheme="sub4"))
    p = res.params
    assert p["flux"] == pytest.approx(30.0, rel=1e-3)
    assert p["half_light_radius"] == pytest.approx(0.6, rel=2e-3)
    assert (p["g1"], p["g2"]) == pytest.approx((0.2, -0.15), abs=1e-3)
    assert (p["u0"], p["v0"]) == pytest.approx((0.05, 0.1), abs=1e-3)


def test_low_s2n_batch_is_robust(rng):
    """At S/N ~10 every row comes back; unflagged rows have finite values and errors."""
    gal = galsim.Sersic(n=1.5, half_light_radius=0.5, flux=1.0)
    img = render_galsim(gal, PSF, JAC, (48, 48))
    sigma = float(np.sqrt(np.sum(img**2))) / 10.0
    obs = [
        Observation(
            img + rng.normal(0, sigma, img.shape),
            weight=np.full(img.shape, sigma**-2),
            jacobian=JAC,
            psf=MIX,
        )
        for _ in range(40)
    ]
    t = fit_batch(obs, "sersic")
    assert len(t) == 40
    ok = t["flags"] == 0
    assert ok.sum() >= 20
    for col in ("flux", "flux_err", "half_light_radius_err", "n_err"):
        assert np.all(np.isfinite(t[col][ok]))
    # flux pulls stay sane even at S/N 10
    pulls = (t["flux"][ok] - 1.0) / t["flux_err"][ok]
    assert 0.6 < np.std(pulls) < 1.6


def test_multiband_multi_exposure_with_profile_psfs(rng):
    """Bands with several exposures each; PSFs given as galmix profiles."""
    from galmix.profiles import Gaussian

    gal = galsim.Exponential(flux=1.0, half_light_radius=0.5).shear(g1=-0.1, g2=0.15)
    c, s = np.cos(1.1), np.sin(1.1)
    jacs = [JAC, Jacobian(0.22 * c, -0.22 * s, 0.22 * s, 0.22 * c, 21.0, 22.5)]
    bands = {}
    for b, f in (("g", 6.0), ("r", 10.0)):
        exps = []
        for jac in jacs:
            img = f * render_galsim(gal, PSF, jac, (48, 48))
            exps.append(
                Observation(
                    img + rng.normal(0, 1e-3, img.shape),
                    weight=np.full(img.shape, 1e6),
                    jacobian=jac,
                    psf=Gaussian(1.0, PSF.sigma),
                )
            )
        bands[b] = exps
    mb = MultiBandObservation(bands)
    res = fit(mb, "exp")
    assert res.flags == 0 and len(res.model_images) == 4
    assert res.params["flux"]["g"] == pytest.approx(6.0, rel=2e-3)
    assert res.params["flux"]["r"] == pytest.approx(10.0, rel=2e-3)
    assert (res.params["g1"], res.params["g2"]) == pytest.approx((-0.1, 0.15), abs=2e-3)
    t = fit_batch([mb, mb], "exp")
    assert t["flux_r"][1] == pytest.approx(res.params["flux"]["r"], rel=1e-8)


def test_flags_singular_covariance_and_maxiter():
    star = galsim.DeltaFunction(flux=10.0)
    obs = _obs(star)
    # a zero-flux Sersic has no information on its size/shape/n: singular J^T J
    res = fit(obs, "point+sersic", fixed={"flux_sersic": 0.0})
    assert res.flags & FLAGS.SINGULAR_COVARIANCE
    assert np.isnan(res.errors["n_sersic"])
    res = fit(obs, "gauss", settings=LMSettings(maxiter=1, ntry=1))
    assert res.flags & FLAGS.MAXITER and res.flags & FLAGS.NOT_CONVERGED


def test_sky_component(rng, tmp_path):
    """A constant sky level per band is fit linearly alongside the galaxy."""
    gal = galsim.Exponential(flux=20.0, half_light_radius=0.6).shear(g1=0.1, g2=0.0)
    img = render_galsim(gal, PSF, JAC, (48, 48)) + 0.01
    obs = Observation(
        img + rng.normal(0, 1e-3, img.shape), weight=np.full(img.shape, 1e6), jacobian=JAC, psf=MIX
    )
    res = fit(obs, "exp+sky")
    assert res.flags == 0
    assert res.params["sky"] == pytest.approx(0.01, abs=1e-4)
    assert res.params["flux"] == pytest.approx(20.0, rel=3e-3)  # sky not in the flux
    assert "half_light_radius" in res.params  # plain names next to a sky
    biased = fit(obs, "exp")
    assert biased.params["flux"] > 21.0
    write_galfit_fits(res, tmp_path / "sky.fits")
    assert fits.getheader(tmp_path / "sky.fits", 2)["COMP_2"] == "sky"
    mb = MultiBandObservation({"g": obs, "r": obs.replace(image=obs.image + 0.02)})
    t = fit_batch([mb], "sersic+sky")
    assert t["sky_r"][0] - t["sky_g"][0] == pytest.approx(0.02, abs=1e-4)
    assert t["flux_r"][0] == pytest.approx(t["flux_g"][0], rel=1e-3)


def test_batch_chunks_give_identical_rows(rng):
    obs = [
        _obs(galsim.Exponential(flux=f, half_light_radius=0.5), sigma=0.01, rng=rng)
        for f in (5.0, 8.0, 11.0, 14.0, 17.0)
    ]
    obs[2] = "bad"
    whole = fit_batch(obs, "exp", ids=list("abcde"))
    chunked = fit_batch(obs, "exp", ids=list("abcde"), chunk_size=2)
    assert list(chunked["id"]) == list("abcde")
    assert np.array_equal(whole["flags"], chunked["flags"])
    good = whole["flags"] == 0
    assert np.allclose(whole["flux"][good], chunked["flux"][good], rtol=1e-12)


def test_render_model_reproduces_fit_model_images(rng):
    """render_model(obs, model, fit.params) draws exactly the fitter's model image,
    single- and multi-band; missing parameters are a clear error."""
    from galmix import MultiBandObservation
    from galmix.errors import GalmixValueError
    from galmix.fit import render_model

    jac = Jacobian(0.21, 0.03, -0.02, 0.19, 20.3, 18.7)
    psf = np.array([[0.7, 0.0, 0.0, 0.03, 0.004, 0.025], [0.3, 0.0, 0.0, 0.09, -0.01, 0.1]])
    yy, xx = np.mgrid[0:40, 0:42]
    img = 50 * np.exp(-0.5 * ((xx - 20.3) ** 2 + (yy - 18.7) ** 2) / 6.0)
    obs = Observation(
        img + rng.normal(0, 0.5, img.shape), weight=np.full(img.shape, 4.0), jacobian=jac
    )
    res = fit(obs, "sersic", psf=psf)
    drawn = render_model(obs, "sersic", res.params, psf=psf)[0]
    np.testing.assert_allclose(drawn, res.model_images[0], rtol=1e-12, atol=1e-12 * drawn.max())
    mb = MultiBandObservation({"g": obs, "r": obs.replace(image=0.5 * obs.image)})
    res2 = fit(mb, "exp", psf=psf)
    drawn2 = render_model(mb, "exp", res2.params, psf=psf)
    for a, b in zip(drawn2, res2.model_images):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-12 * a.max())
    bad = dict(res.params)
    del bad["n"]
    with pytest.raises(GalmixValueError, match="'n'"):
        render_model(obs, "sersic", bad, psf=psf)
    with pytest.raises(GalmixTypeError, match="params must be a mapping"):
        render_model(obs, "sersic", [1.0, 2.0], psf=psf)
    with pytest.raises(GalmixValueError, match="half_light_radius"):
        render_model(obs, "sersic", {**res.params, "half_light_radius": -1.0}, psf=psf)


@settings(max_examples=25, deadline=None)
@given(
    flux=st.floats(0.1, 1e4),
    scale=st.floats(0.1, 10.0),
    n=st.floats(0.6, 6.0),
    shift=st.integers(-3, 3),
    g1=st.floats(-0.5, 0.5),
)
def test_render_model_linear_in_flux_and_shift_equivariant(flux, scale, n, shift, g1):
    """render_model is linear in flux, and moving the centre by whole pixels
    (plain-scale Jacobian) moves the image by whole pixels."""
    from galmix.fit import render_model

    psf = np.array([[1.0, 0.0, 0.0, 0.04, 0.0, 0.04]])
    obs = Observation(np.zeros((48, 48)), jacobian=Jacobian.from_scale(0.2, 23.5, 23.5))
    p = {"u0": 0.0, "v0": 0.0, "flux": flux, "half_light_radius": 0.5, "g1": g1, "g2": 0.1, "n": n}
    a = render_model(obs, "sersic", p, psf=psf)[0]
    b = render_model(obs, "sersic", {**p, "flux": scale * flux}, psf=psf)[0]
    np.testing.assert_allclose(b, scale * a, rtol=1e-12, atol=1e-12 * abs(b).max())
    c = render_model(obs, "sersic", {**p, "u0": 0.2 * shift}, psf=psf)[0]
    np.testing.assert_allclose(
        c[8:40, 8 + shift : 40 + shift], a[8:40, 8:40], rtol=1e-9, atol=1e-12 * a.max()
    )
