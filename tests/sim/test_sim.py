"""Simulations against analytic moments, astropy WCS and their own truth."""

from __future__ import annotations

import numpy as np
import pytest
from astropy.wcs import WCS as AWCS

from galmix.geometry import Jacobian
from galmix.sim import (
    flux_to_mag,
    galaxy_magnitudes,
    mag_to_flux,
    make_psf,
    make_wcs_header,
    simulate_field,
    simulate_multiband_stamp,
    simulate_stamp,
    star_magnitudes,
)


def _world_moments(obs):
    img = obs.image
    ny, nx = img.shape
    yy, xx = np.mgrid[0:ny, 0:nx].astype(float)
    u, v = obs.jacobian.to_world(xx, yy)
    f = img.sum()
    u0, v0 = (img * u).sum() / f, (img * v).sum() / f
    du, dv = u - u0, v - v0
    return (
        f,
        u0,
        v0,
        (img * du * du).sum() / f,
        (img * du * dv).sum() / f,
        (img * dv * dv).sum() / f,
    )


@pytest.mark.parametrize(
    "jac",
    [
        Jacobian(0.2, 0.0, 0.0, 0.2),
        Jacobian(0.21, 0.03, -0.02, 0.18),  # sheared, non-square pixels
        Jacobian(0.0, -0.2, 0.2, 0.0),  # rotated
        Jacobian(-0.2, 0.0, 0.0, 0.2),  # flipped
    ],
)
def test_stamp_moments_match_analytic(jac: Jacobian) -> None:
    """Gaussian (x) Gaussian PSF (x) pixel box: covariances add (independent reference)."""
    sigma, psf_sigma, g1, g2 = 0.5, 0.35, 0.2, -0.1
    psf = make_psf("gaussian", fwhm=psf_sigma * 2.3548200450309493)
    obs, _ = simulate_stamp(
        "gaussian",
        flux=250.0,
        half_light_radius=sigma * 1.1774100225154747,
        g1=g1,
        g2=g2,
        shape=(80, 80),
        jacobian=jac,
        psf=psf,
        offset=(0.3, -0.2),
    )
    f, u0, v0, iuu, iuv, ivv = _world_moments(obs)
    assert abs(f - 250.0) < 1e-3 * 250
    # centre: the Jacobian origin is the true centre
    assert abs(u0) < 2e-3 and abs(v0) < 2e-3
    gsq = g1 * g1 + g2 * g2
    a = np.array([[1 + g1, g2], [g2, 1 - g1]]) / np.sqrt(1 - gsq)
    cov = sigma**2 * a @ a.T + psf_sigma**2 * np.eye(2)
    m = jac.matrix
    cov += m @ (np.eye(2) / 12.0) @ m.T  # pixel response
    assert np.allclose([iuu, iuv, ivv], [cov[0, 0], cov[0, 1], cov[1, 1]], atol=2e-3)


def test_stamp_noise_and_weight() -> None:
    obs, _ = simulate_stamp("exponential", flux=0.0 + 1e-9, shape=(64, 64), noise_sigma=2.0, seed=4)
    assert abs(np.std(obs.image) - 2.0) < 0.1
    assert np.allclose(obs.weight, 0.25)
    assert obs.noise is not None and abs(np.std(obs.noise) - 2.0) < 0.1
    again, _ = simulate_stamp("exponential", flux=1e-9, shape=(64, 64), noise_sigma=2.0, seed=4)
    assert np.array_equal(obs.image, again.image)


def test_multiband_stamp() -> None:
    mb, truth = simulate_multiband_stamp({"g": 100.0, "r": 300.0}, noise_sigma={"g": 0.0, "r": 0.0})
    assert mb.bands == ["g", "r"]
    assert abs(mb["r"][0].image.sum() / mb["g"][0].image.sum() - 3.0) < 0.01
    assert truth["flux"] == {"g": 100.0, "r": 300.0}


def test_colour_model() -> None:
    z = np.linspace(0.0, 1.5, 31)
    red = galaxy_magnitudes(z, np.zeros_like(z), np.full_like(z, 20.0), ["u", "g", "r", "i"])
    blue = galaxy_magnitudes(z, np.ones_like(z), np.full_like(z, 20.0), ["u", "g", "r", "i"])
    assert np.allclose(red["r"], 20.0)
    # red galaxies are redder than blue ones at every z; the break makes u-g peak at low z
    assert np.all(red["g"] - red["r"] > blue["g"] - blue["r"])
    # the 4000 A break crosses g-r around z ~ 0.3: g-r grows from z=0 to z=0.35
    gr = red["g"] - red["r"]
    assert gr[7] > gr[0] + 0.5
    # stars: hotter = bluer
    s = star_magnitudes([3500.0, 6000.0, 10000.0], 18.0, ["g", "r"])
    assert np.all(np.diff(s["g"] - s["r"]) < 0)
    assert np.allclose(flux_to_mag(mag_to_flux(21.3, 30.0), 30.0), 21.3)


def test_wcs_header_sip_matches_plain_tan_at_crpix() -> None:
    h_sip = AWCS(make_wcs_header((1000, 1000), 0.2))
    h_tan = AWCS(make_wcs_header((1000, 1000), 0.2, sip=False))
    assert h_sip.sip is not None and h_tan.sip is None
    c = h_sip.all_pix2world([[499.5, 499.5]], 0)
    assert np.allclose(c, h_tan.all_pix2world([[499.5, 499.5]], 0), atol=1e-10)
    far_sip = h_sip.all_pix2world([[0.0, 0.0]], 0)
    far_tan = h_tan.all_pix2world([[0.0, 0.0]], 0)
    assert np.max(np.abs(far_sip - far_tan)) * 3600 > 0.03  # a quarter pixel or more at the corner


@pytest.fixture(scope="module")
def field():
    return simulate_field(bands=("g", "r", "i"), shape=(200, 220), n_galaxies=8, n_stars=6, seed=5)


def test_field_truth_and_noise(field) -> None:
    t = field.truth
    assert len(t) == 14 and t["is_star"].sum() == 6
    assert np.all(np.diff(t["id"]) == 1)
    for b in field.bands:
        assert field.images[b].shape == (200, 220)
        assert np.allclose(t[f"flux_{b}"], mag_to_flux(t[f"mag_{b}"], 30.0))
    gal = ~np.asarray(t["is_star"])
    assert np.all((t["z"][gal] > 0) & (t["hlr"][gal] > 0))
    # reference-band truth positions agree with astropy's WCS of the reference band
    x, y = field.wcs("r").world_to_pixel(np.asarray(t["ra"]), np.asarray(t["dec"]))
    assert np.allclose(x, t["x"], atol=1e-6) and np.allclose(y, t["y"], atol=1e-6)


def test_field_star_positions_and_fluxes_in_every_band(field) -> None:
    """Stars land where astropy's (dithered, rotated, SIP) WCS of each band puts them."""
    t = field.truth
    stars = np.flatnonzero(np.asarray(t["is_star"]))
    checked = 0
    for b in field.bands:
        img = field.images[b]
        x, y = field.wcs(b).world_to_pixel(np.asarray(t["ra"])[stars], np.asarray(t["dec"])[stars])
        for k, xs, ys in zip(stars, x, y):
            ix, iy = round(xs), round(ys)
            if not (14 <= ix < 220 - 14 and 14 <= iy < 200 - 14):
                continue
            # skip stars with a neighbour nearby
            others = np.hypot(np.asarray(t["x"]) - t["x"][k], np.asarray(t["y"]) - t["y"][k])
            if np.sort(others)[1] < 25:
                continue
            cut = img[iy - 12 : iy + 13, ix - 12 : ix + 13]
            yy, xx = np.mgrid[iy - 12 : iy + 13, ix - 12 : ix + 13]
            flux = float(t[f"flux_{b}"][k])
            assert abs(cut.sum() / flux - 1) < 0.05 + 5 * field.noise_sigma[b] * 25 / flux
            if flux > 3000:
                xc = (cut * xx).sum() / cut.sum()
                yc = (cut * yy).sum() / cut.sum()
                assert abs(xc - xs) < 0.05 and abs(yc - ys) < 0.05
                checked += 1
    assert checked >= 3


def test_field_is_deterministic_and_worker_independent(field) -> None:
    again = simulate_field(
        bands=("g", "r", "i"), shape=(200, 220), n_galaxies=8, n_stars=6, seed=5, workers=2
    )
    for b in field.bands:
        assert np.array_equal(field.images[b], again.images[b])
    other = simulate_field(bands=("g", "r", "i"), shape=(200, 220), n_galaxies=8, n_stars=6, seed=6)
    assert not np.array_equal(field.images["r"], other.images["r"])


def test_field_write_round_trip(field, tmp_path) -> None:
    from astropy.io import fits

    from galmix.pipeline.config import load_config

    cfg_path = field.write(tmp_path)
    cfg = load_config(cfg_path)
    assert cfg.band_names == ["g", "r", "i"] and cfg.reference_catalog is not None
    with fits.open(cfg.bands["i"].image) as hdul:
        assert np.allclose(
            hdul[0].data, field.images["i"], atol=1e-3 * np.abs(field.images["i"]).max()
        )
        assert hdul[0].header["CTYPE1"] == "RA---TAN-SIP"
    with fits.open(cfg.bands["i"].weight) as hdul:
        assert np.allclose(hdul[0].data, 1 / field.noise_sigma["i"] ** 2, rtol=1e-6)
    ref = cfg.reference_catalog
    from astropy.table import Table

    t = Table.read(ref.path, format="ascii.csv")
    assert set(t.colnames) >= {"ra", "dec", "z", "class"} and 0 < len(t) < 14


def test_field_observation(field) -> None:
    obs = field.observation("g")
    assert obs.psf is not None and abs(obs.psf.image.sum() - 1) < 1e-9
    assert abs(obs.jacobian.scale - 0.2) < 1e-3
