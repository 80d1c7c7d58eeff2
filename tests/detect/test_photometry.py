"""Kron/aperture photometry against analytic integrals and GalSim truth."""

from __future__ import annotations

import math

import numpy as np
import pytest
from astropy.table import Table
from hypothesis import given, settings
from hypothesis import strategies as st

from galmix.catalog import match_truth
from galmix.detect import detect, photometry
from galmix.errors import FLAGS, GalmixValueError


def _gauss(shape, x0, y0, sigma, flux):
    yy, xx = np.mgrid[0 : shape[0], 0 : shape[1]]
    return (
        flux / (2 * np.pi * sigma**2) * np.exp(-((xx - x0) ** 2 + (yy - y0) ** 2) / (2 * sigma**2))
    )


def _gauss_pixel_integrated(shape, x0, y0, sigma, flux):
    """Exact pixel integrals of a round Gaussian (erf), independent of sep."""
    from scipy.special import erf

    def edges(n, c):
        e = (np.arange(n + 1) - 0.5 - c) / (math.sqrt(2) * sigma)
        return np.diff(0.5 * (1 + erf(e)))

    return flux * np.outer(edges(shape[0], y0), edges(shape[1], x0))


def test_aperture_flux_matches_analytic_gaussian_integral():
    sigma, flux = 4.0, 1000.0
    img = _gauss_pixel_integrated((81, 81), 40.2, 39.7, sigma, flux)
    cat = Table({"x": [40.2], "y": [39.7], "a": [sigma], "b": [sigma], "theta": [0.0]})
    radii = [6.0, 8.0, 12.0]
    phot = photometry(img, 1.0, cat, apertures=radii)
    yy, xx = np.mgrid[0:81, 0:81]
    sub = (np.arange(16) + 0.5) / 16 - 0.5
    for i, r in enumerate(radii):
        # (1) exact aperture sum: pixel value x fraction of the pixel inside the
        # circle, the fraction found by 16x16 supersampling (independent of sep)
        sx, sy = np.meshgrid(sub, sub)
        inside = (
            (xx[..., None, None] + sx - 40.2) ** 2 + (yy[..., None, None] + sy - 39.7) ** 2 <= r**2
        ).mean(axis=(-1, -2))
        assert phot[f"flux_aper_{i}"][0] == pytest.approx((img * inside).sum(), rel=2e-3)
        # (2) the analytic integral, up to the flux gradient inside rim pixels
        expected = flux * (1 - math.exp(-(r**2) / (2 * sigma**2)))
        assert phot[f"flux_aper_{i}"][0] == pytest.approx(expected, rel=1e-2)
        # error = sqrt(variance * area) for unit variance
        assert phot[f"flux_aper_{i}_err"][0] == pytest.approx(math.sqrt(math.pi * r**2), rel=0.02)


def test_kron_radius_of_gaussian_is_analytic():
    # r1 = sum(r I) / sum(I) over 6 sigma for a round Gaussian: sqrt(pi/2) sigma
    sigma = 3.0
    img = _gauss((121, 121), 60.0, 60.0, sigma, 1.0e4)
    cat = Table({"x": [60.0], "y": [60.0], "a": [sigma], "b": [sigma], "theta": [0.0]})
    phot = photometry(img, 1.0, cat)
    assert phot["kron_radius"][0] == pytest.approx(math.sqrt(math.pi / 2), rel=0.01)
    # scale = max(2.5 r1, 3.5) = 3.5 -> fraction 1 - exp(-3.5^2/2)
    assert phot["kron_scale"][0] == pytest.approx(3.5)
    assert phot["flux_auto"][0] == pytest.approx(1.0e4 * (1 - math.exp(-(3.5**2) / 2)), rel=2e-3)
    area = math.pi * (3.5 * sigma) ** 2
    assert phot["flux_auto_err"][0] == pytest.approx(math.sqrt(area), rel=0.02)
    # half-light radius of a Gaussian: sigma sqrt(2 ln 2)
    assert phot["flux_radius"][0] == pytest.approx(sigma * math.sqrt(2 * math.log(2)), rel=0.02)


def test_gain_adds_poisson_term():
    img = _gauss((61, 61), 30.0, 30.0, 2.0, 5000.0)
    cat = Table({"x": [30.0], "y": [30.0], "a": [2.0], "b": [2.0], "theta": [0.0]})
    p0 = photometry(img, 1.0, cat)
    p1 = photometry(img, 1.0, cat, gain=2.0)
    expected = math.sqrt(p0["flux_auto_err"][0] ** 2 + p0["flux_auto"][0] / 2.0)
    assert p1["flux_auto_err"][0] == pytest.approx(expected, rel=1e-6)


def test_errors_match_scatter_on_noise(rng):
    # the quoted error equals the scatter of aperture fluxes on pure noise
    img = rng.normal(0.0, 2.0, (400, 400))
    g = np.arange(20, 380, 20, dtype=float)
    xx, yy = np.meshgrid(g, g)
    n = xx.size
    cat = Table(
        {
            "x": xx.ravel(),
            "y": yy.ravel(),
            "a": np.full(n, 2.0),
            "b": np.full(n, 1.5),
            "theta": np.full(n, 0.3),
        }
    )
    phot = photometry(img, 4.0, cat, apertures=[4.0])
    fl = np.asarray(phot["flux_aper_0"])
    err = np.asarray(phot["flux_aper_0_err"])
    assert np.std(fl) / np.median(err) == pytest.approx(1.0, abs=0.15)


def test_flux_auto_recovers_galsim_fluxes(galsim_field):
    """AUTO fluxes recover the known fraction of the total (Bertin & Arnouts 1996)."""
    img, _, truth = galsim_field
    det = detect(img)
    phot = photometry(det.image, det.variance, det.catalog, det.segmentation)
    m = match_truth(det.catalog, truth, 2.0, frame="pixel")
    idx = np.asarray(m["match_id"])
    ok = idx >= 0
    bright = np.asarray(truth["flux_drawn"])[idx[ok]] > 1000.0
    ratio = np.asarray(phot["flux_auto"])[ok] / np.asarray(truth["flux_drawn"])[idx[ok]]
    kind = np.asarray(truth["kind"])[idx[ok]]
    # SExtractor's Kron aperture (k=2.5) captures ~94 % for exponentials,
    # ~90 % for de Vaucouleurs and ~95 % for Moffat(beta=3) stars
    for k, lo, hi in (("exp", 0.92, 0.98), ("dev", 0.85, 0.95), ("star", 0.93, 0.98)):
        sel = bright & (kind == k)
        assert sel.sum() >= 3
        assert lo < np.median(ratio[sel]) < hi, (k, np.median(ratio[sel]))
    assert (np.asarray(phot["flags"])[ok][bright] & FLAGS.NO_FLUX == 0).all()
    # windowed centroids are at least as good as barycentres for bright objects
    tx = np.asarray(truth["x"])[idx[ok]]
    assert np.median(np.abs(np.asarray(phot["xwin"])[ok] - tx)[bright]) < 0.05


def test_neighbours_masked_and_flagged(rng):
    img = _gauss((80, 80), 30.0, 40.0, 2.0, 2000.0) + _gauss((80, 80), 40.0, 40.0, 2.0, 2000.0)
    img = img + rng.normal(0.0, 0.5, img.shape)
    det = detect(img, threshold=5.0)
    assert len(det.catalog) == 2
    with_seg = photometry(det.image, det.variance, det.catalog, det.segmentation)
    without = photometry(det.image, det.variance, det.catalog)
    assert all(f & FLAGS.NEIGHBOUR_MASKED for f in with_seg["flags"])
    # masking the neighbour removes its light from the aperture
    single = 2000.0 * (1 - math.exp(-(3.5**2) / 2))
    assert np.all(np.abs(with_seg["flux_auto"] / single - 1) < 0.03)
    assert np.all(without["flux_auto"] > with_seg["flux_auto"])


def test_masked_pixels_are_area_corrected_and_flagged():
    img = _gauss((61, 61), 30.0, 30.0, 2.0, 1000.0)
    ref = photometry(
        img, 1.0, Table({"x": [30.0], "y": [30.0], "a": [2.0], "b": [2.0], "theta": [0.0]})
    )
    mask = np.zeros(img.shape, bool)
    mask[24, 30] = True  # a faint pixel on the aperture rim
    img2 = img.copy()
    img2[24, 30] = np.nan
    cat = Table({"x": [30.0], "y": [30.0], "a": [2.0], "b": [2.0], "theta": [0.0]})
    out = photometry(img2, 1.0, cat, mask=mask)
    assert out["flags"][0] & FLAGS.NONFINITE_PIXELS
    assert out["flux_auto"][0] == pytest.approx(ref["flux_auto"][0], rel=0.01)


def test_off_image_and_empty_catalogs():
    img = np.zeros((20, 20))
    cat = Table(
        {"x": [5.0, 50.0], "y": [5.0, 5.0], "a": [1.0, 1.0], "b": [1.0, 1.0], "theta": [0.0, 0.0]}
    )
    out = photometry(img, 1.0, cat, apertures=[2.0])
    assert len(out) == 2
    assert out["flags"][1] & FLAGS.OFF_IMAGE and np.isnan(out["flux_auto"][1])
    assert out["flags"][0] & FLAGS.NO_FLUX
    empty = photometry(img, 1.0, cat[:0], apertures=[2.0])
    assert len(empty) == 0 and "flux_aper_0" in empty.colnames


def test_bad_inputs_name_the_parameter():
    img = np.zeros((20, 20))
    cat = Table({"x": [5.0], "y": [5.0], "a": [1.0], "b": [1.0], "theta": [0.0]})
    with pytest.raises(GalmixValueError, match="variance"):
        photometry(img, np.ones((3, 3)), cat)
    with pytest.raises(GalmixValueError, match="apertures"):
        photometry(img, 1.0, cat, apertures=[-1.0])
    with pytest.raises(GalmixValueError, match="kron_factor"):
        photometry(img, 1.0, cat, kron_factor=0)
    with pytest.raises(GalmixValueError, match="'a'"):
        photometry(img, 1.0, Table({"x": [1.0], "y": [1.0]}))
    with pytest.raises(GalmixValueError, match="id"):
        photometry(img, 1.0, cat, segmentation=np.zeros((20, 20), np.int32))


def test_windowed_centroid_matches_sep_and_truth(rng):
    import sep

    img = _gauss_pixel_integrated((64, 64), 30.37, 27.81, 2.0, 5000.0)
    noisy = img + rng.normal(0.0, 0.5, img.shape)
    cat = Table({"x": [30.0], "y": [28.0], "a": [2.0], "b": [2.0], "theta": [0.0]})
    phot = photometry(noisy, 0.25, cat)
    sig = 2.0 * phot["flux_radius"][0] / 2.35
    xs, ys, _ = sep.winpos(noisy, np.array([30.0]), np.array([28.0]), np.array([sig]))
    assert abs(phot["xwin"][0] - xs[0]) < 0.01 and abs(phot["ywin"][0] - ys[0]) < 0.01
    assert abs(phot["xwin"][0] - 30.37) < 0.02 and abs(phot["ywin"][0] - 27.81) < 0.02


def test_neighbour_correction_protects_centroid_and_flux(rng):
    # a bright neighbour 9 pixels away: its pixels are replaced by the mirror
    # image of the target, so the target's flux and windowed centroid stay true
    img = _gauss_pixel_integrated((80, 80), 35.0, 40.0, 2.0, 2000.0)
    img = img + _gauss_pixel_integrated((80, 80), 44.0, 40.0, 2.5, 10000.0)
    img = img + rng.normal(0.0, 0.2, img.shape)
    det = detect(img, threshold=5.0)
    assert len(det.catalog) == 2
    phot = photometry(det.image, det.variance, det.catalog, det.segmentation)
    j = int(np.argmin(np.asarray(det.catalog["x"])))
    assert phot["flags"][j] & FLAGS.NEIGHBOUR_MASKED
    assert abs(phot["xwin"][j] - 35.0) < 0.1
    # SExtractor 2.25 gives 1952 on this image (galmix 1882); without the
    # correction the neighbour's light would be counted (~12000)
    assert abs(phot["flux_auto"][j] / 2000.0 - 1) < 0.08
    plain = photometry(det.image, det.variance, det.catalog)
    assert plain["flux_auto"][j] > 3 * phot["flux_auto"][j]


@settings(max_examples=20, deadline=None)
@given(
    scale=st.floats(0.1, 50.0),
    shift=st.tuples(st.integers(-10, 10), st.integers(-10, 10)),
    theta=st.floats(-1.5, 1.5),
)
def test_photometry_linear_and_translation_invariant(scale, shift, theta):
    """Fluxes scale with the image, errors do not; integer shifts change nothing."""
    rng = np.random.default_rng(11)
    base = _gauss_pixel_integrated((96, 96), 47.3, 46.6, 2.5, 3000.0)
    base = base + _gauss_pixel_integrated((96, 96), 55.0, 52.0, 1.5, 800.0)
    base = base + rng.normal(0.0, 0.3, base.shape)
    cat = Table({"id": [1], "x": [47.3], "y": [46.6], "a": [3.0], "b": [2.0], "theta": [theta]})
    seg = np.zeros(base.shape, np.int32)
    seg[49:56, 52:59] = 2  # a neighbour's footprint
    ref = photometry(base, 0.09, cat, seg, apertures=[4.0])
    scaled = photometry(base * scale, 0.09, cat, seg, apertures=[4.0])
    for col in ("flux_auto", "flux_aper_0"):
        assert scaled[col][0] == pytest.approx(scale * ref[col][0], rel=1e-9)
    assert scaled["flux_auto_err"][0] == pytest.approx(ref["flux_auto_err"][0], rel=1e-9)
    assert scaled["kron_radius"][0] == pytest.approx(ref["kron_radius"][0], rel=1e-6)
    dx, dy = shift
    moved = np.roll(np.roll(base, dy, axis=0), dx, axis=1)
    mseg = np.roll(np.roll(seg, dy, axis=0), dx, axis=1)
    mcat = Table(
        {"id": [1], "x": [47.3 + dx], "y": [46.6 + dy], "a": [3.0], "b": [2.0], "theta": [theta]}
    )
    out = photometry(moved, 0.09, mcat, mseg, apertures=[4.0])
    for col in ("flux_auto", "flux_aper_0", "flux_auto_err", "kron_radius"):
        assert out[col][0] == pytest.approx(ref[col][0], rel=1e-6)
    assert out["xwin"][0] - dx == pytest.approx(ref["xwin"][0], abs=1e-6)
