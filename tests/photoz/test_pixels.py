"""Pixel vectors (contract F) and pixel -> object aggregation."""

from __future__ import annotations

import galsim
import numpy as np
import pytest
from astropy.table import Table, vstack
from scipy import stats

from galmix.errors import FLAGS, GalmixValueError
from galmix.photoz import aggregate_pixels, pixel_features, pixel_vectors


def _galsim_stamp(flux, hlr, scale, n=25):
    """A GalSim-rendered exponential galaxy (reference image, flux per pixel)."""
    gal = galsim.Exponential(flux=flux, half_light_radius=hlr)
    return gal.drawImage(nx=n, ny=n, scale=scale).array.astype(float)


def test_pixel_vectors_against_galsim_render():
    scale = 0.4
    images = {"g": _galsim_stamp(800.0, 1.0, scale), "r": _galsim_stamp(2000.0, 1.0, scale)}
    variances = {b: np.full(im.shape, 0.01) for b, im in images.items()}
    fp = images["r"] > 0.5
    t = pixel_vectors(images, variances, fp, 12, 12, scale, {"g": 22.5, "r": 22.5}, 5, z=0.2)
    assert len(t) == int(fp.sum())
    assert {"id", "mag_g", "magerr_g", "mag_r", "magerr_r", "dx", "dy", "r", "z"} <= set(t.colnames)
    # bright pixels (flux >> softening b ~ 0.1 nmgy): asinh magnitude == Pogson magnitude
    yy, xx = np.asarray(t["y"]), np.asarray(t["x"])
    bright = images["g"][yy, xx] > 20
    assert bright.sum() >= 9
    pog = 22.5 - 2.5 * np.log10(images["r"][yy, xx])
    np.testing.assert_allclose(t["mag_r"][bright], pog[bright], atol=1e-4)
    # same profile in both bands: constant colour 2.5 log10(2000/800)
    np.testing.assert_allclose((t["mag_g"] - t["mag_r"])[bright], 2.5 * np.log10(2.5), atol=1e-4)
    # faint pixels: softened asinh magnitudes are brighter than Pogson (finite at f -> 0)
    assert np.all(t["mag_r"][~bright] <= pog[~bright] + 1e-9)
    # geometry: arcsec offsets from the centre
    np.testing.assert_allclose(t["dx"], (xx - 12) * scale)
    np.testing.assert_allclose(t["r"], np.hypot((xx - 12) * scale, (yy - 12) * scale))
    np.testing.assert_allclose(
        t["magerr_r"][bright], 2.5 / np.log(10) * 0.1 / images["r"][yy, xx][bright], rtol=1e-4
    )
    assert np.all(t["id"] == 5) and np.all(t["z"] == 0.2) and np.all(t["flags"] == 0)


def test_pixel_vectors_negative_and_bad_pixels():
    img = {"r": np.array([[-3.0, 0.0, np.nan, 5.0]]), "i": np.ones((1, 4))}
    var = {"r": np.array([[1.0, 1.0, 1.0, 0.0]]), "i": np.ones((1, 4))}
    t = pixel_vectors(img, var, np.ones((1, 4), bool), 0, 0, 1.0, {"r": 22.5, "i": 22.5})
    assert len(t) == 4  # never drops a pixel
    assert np.all(np.isfinite(t["mag_r"])) and np.all(np.isfinite(t["magerr_r"]))
    assert t["mag_r"][0] > t["mag_r"][1]  # negative flux is fainter than zero flux
    assert t["flags"][2] & FLAGS.NONFINITE_PIXELS and t["flags"][3] & FLAGS.NO_WEIGHT
    assert t["flags"][0] == 0


def test_pixel_vectors_validation():
    with pytest.raises(GalmixValueError, match="zeropoints"):
        pixel_vectors(
            {"r": np.ones((2, 2))}, {"r": np.ones((2, 2))}, np.ones((2, 2), bool), 0, 0, 1.0, {}
        )
    with pytest.raises(GalmixValueError, match="shape"):
        pixel_vectors(
            {"r": np.ones((2, 3))},
            {"r": np.ones((2, 2))},
            np.ones((2, 2), bool),
            0,
            0,
            1.0,
            {"r": 22.5},
        )


def test_pixel_features_columns():
    t = Table(
        {
            "mag_g": [21.0],
            "mag_r": [20.0],
            "mag_i": [19.5],
            "magerr_g": [0.1],
            "magerr_r": [0.05],
            "magerr_i": [0.04],
            "r": [0.3],
        }
    )
    np.testing.assert_allclose(
        pixel_features(t, ["g", "r", "i"]), [[20.0, 1.0, 0.5, 0.1, 0.05, 0.04, 0.3]]
    )


def test_pixel_features_extra_columns():
    t = Table(
        {
            "mag_g": [21.0, 22.0],
            "mag_r": [20.0, 20.5],
            "magerr_g": [0.1, 0.2],
            "magerr_r": [0.05, 0.1],
            "r": [0.3, 0.6],
            "obj_g-r": [0.9, 0.9],
        }
    )
    F = pixel_features(t, ["g", "r"], with_errors=False, extra=["obj_g-r"])
    np.testing.assert_allclose(F, [[20.0, 1.0, 0.3, 0.9], [20.5, 1.5, 0.6, 0.9]])
    with pytest.raises(GalmixValueError, match="obj_u-g"):
        pixel_features(t, ["g", "r"], extra=["obj_u-g"])


def test_weighted_median_matches_repeated_median(rng):
    vals = rng.normal(size=15)
    w = rng.integers(1, 5, size=15)
    t = Table({"id": np.zeros(15, int)})
    out = aggregate_pixels(t, vals, weights=w.astype(float))
    assert out["z_phot"][0] == pytest.approx(np.median(np.repeat(vals, w)))
    assert out["n_pixels"][0] == 15


def test_inverse_variance_weighting_favours_bright_pixels():
    t = Table({"id": [1, 1, 1], "magerr_r": [0.01, 0.5, 0.5]})
    out = aggregate_pixels(t, np.array([0.30, 0.10, 0.12]))
    assert out["z_phot"][0] == pytest.approx(0.30)
    out2 = aggregate_pixels(t, np.array([0.30, 0.10, 0.12]), method="mean", weights=None)
    assert out2["z_phot"][0] == pytest.approx(np.mean([0.30, 0.10, 0.12]))


def test_product_of_gaussian_pdfs_peaks_at_inverse_variance_mean():
    g = np.linspace(0, 1, 20001)
    mu = np.array([0.30, 0.34, 0.31])
    sig = np.array([0.02, 0.04, 0.03])
    pdf = stats.norm.pdf(g[None, :], mu[:, None], sig[:, None])
    t = Table({"id": [3, 3, 3]})
    out = aggregate_pixels(t, pdf, method="product", weights=None, z_grid=g, pdf_floor=0.0)
    w = 1 / sig**2
    assert out["z_phot"][0] == pytest.approx(np.sum(w * mu) / np.sum(w), abs=1e-4)
    assert np.trapezoid(out["pdf"][0], g) == pytest.approx(1.0)


def test_aggregate_keeps_object_order_and_validates():
    t = vstack([Table({"id": [9, 9]}), Table({"id": [2]})])
    out = aggregate_pixels(t, np.array([0.1, 0.3, 0.5]), weights=None)
    assert out["id"].tolist() == [9, 2]
    with pytest.raises(GalmixValueError, match="rows"):
        aggregate_pixels(t, np.array([0.1]))
    with pytest.raises(GalmixValueError, match="method"):
        aggregate_pixels(t, np.array([0.1, 0.2, 0.3]), method="vote")
