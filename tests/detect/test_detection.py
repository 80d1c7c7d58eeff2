"""Detection, segmentation and deblending on GalSim fields with known truth."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from galmix.catalog import match_truth
from galmix.detect import detect, gaussian_kernel
from galmix.errors import FLAGS, GalmixValueError


def test_completeness_and_positions_on_galsim_field(galsim_field):
    img, _, truth = galsim_field
    det = detect(img)
    matched = match_truth(det.catalog, truth, 2.0, frame="pixel")
    idx = np.asarray(matched["match_id"])
    found = np.zeros(len(truth), bool)
    found[idx[idx >= 0]] = True
    bright = np.asarray(truth["flux_drawn"]) > 1000.0  # S/N > ~50 in 1-sigma noise
    assert bright.sum() > 20
    assert found[bright].all()
    assert found.mean() > 0.9
    # no spurious detections on this non-overlapping field (noise peaks are
    # rejected by the 5-pixel minimum area at 1.5 sigma only most of the time)
    assert matched.meta["purity"] > 0.9
    ok = idx >= 0
    dx = np.asarray(matched["x"])[ok] - np.asarray(truth["x"])[idx[ok]]
    dy = np.asarray(matched["y"])[ok] - np.asarray(truth["y"])[idx[ok]]
    b = bright[idx[ok]]
    # barycentres of bright, symmetric-on-average objects are unbiased
    assert np.median(np.hypot(dx, dy)[b]) < 0.1
    assert abs(np.mean(dx[b])) < 0.05 and abs(np.mean(dy[b])) < 0.05


def test_segmentation_labels_equal_ids(galsim_field):
    img, _, _ = galsim_field
    det = detect(img)
    cat = det.catalog
    assert det.segmentation.dtype == np.int32
    labels = np.unique(det.segmentation)
    np.testing.assert_array_equal(labels[labels > 0], np.asarray(cat["id"]))
    # every barycentre of a compact object lies on its own footprint
    xi = np.round(np.asarray(cat["x"])).astype(int)
    yi = np.round(np.asarray(cat["y"])).astype(int)
    own = det.segmentation[yi, xi] == np.asarray(cat["id"])
    assert own.mean() > 0.95
    # npix is the footprint size
    counts = np.bincount(det.segmentation.ravel(), minlength=len(cat) + 1)[1:]
    np.testing.assert_array_equal(counts, np.asarray(cat["npix"]))


def test_barycentre_matches_footprint_moments(rng):
    yy, xx = np.mgrid[0:64, 0:64]
    img = 1000.0 * np.exp(-((xx - 31.3) ** 2 / 18.0 + (yy - 29.6) ** 2 / 8.0))
    det = detect(img + rng.normal(0, 1.0, img.shape), threshold=3.0)
    assert len(det.catalog) == 1
    row = det.catalog[0]
    foot = det.segmentation == row["id"]
    w = det.image * foot
    xbar = (w * xx).sum() / w.sum()
    ybar = (w * yy).sum() / w.sum()
    # sep accumulates differently from this float64 sum at the 1e-3 pixel level
    assert abs(row["x"] - xbar) < 0.005 and abs(row["y"] - ybar) < 0.005
    assert abs(row["x"] - 31.3) < 0.02 and abs(row["y"] - 29.6) < 0.02
    # second moments: a along x, sigma_x = 3, sigma_y = 2 (truncated at threshold)
    assert row["a"] > row["b"]
    assert abs(np.cos(row["theta"])) > 0.99


def test_deblending_separates_close_pair(rng):
    yy, xx = np.mgrid[0:80, 0:80]
    img = 800.0 * np.exp(-((xx - 34.0) ** 2 + (yy - 40.0) ** 2) / 8.0)
    img += 500.0 * np.exp(-((xx - 44.0) ** 2 + (yy - 40.0) ** 2) / 8.0)
    img += rng.normal(0, 1.0, img.shape)
    det = detect(img, threshold=3.0)
    assert len(det.catalog) == 2
    assert all(f & FLAGS.BLENDED for f in det.catalog["flags"])
    nodeb = detect(img, threshold=3.0, deblend_cont=1.0)
    assert len(nodeb.catalog) == 1


def test_nan_pixels_masked_and_flagged(rng):
    yy, xx = np.mgrid[0:64, 0:64]
    img = 500.0 * np.exp(-((xx - 20.0) ** 2 + (yy - 20.0) ** 2) / 8.0)
    img += 500.0 * np.exp(-((xx - 45.0) ** 2 + (yy - 45.0) ** 2) / 8.0)
    img += rng.normal(0, 1.0, img.shape)
    img[21, 22] = np.nan
    det = detect(img, threshold=3.0)
    assert len(det.catalog) == 2
    flags = {(round(r["x"]), round(r["y"])): int(r["flags"]) for r in det.catalog}
    assert flags[(20, 20)] & FLAGS.NONFINITE_PIXELS
    assert not flags[(45, 45)] & FLAGS.NONFINITE_PIXELS
    assert det.mask[21, 22] and det.image[21, 22] == 0.0


def test_edge_objects_flagged(rng):
    yy, xx = np.mgrid[0:64, 0:64]
    img = 500.0 * np.exp(-((xx - 1.0) ** 2 + (yy - 30.0) ** 2) / 8.0)
    det = detect(img + rng.normal(0, 1.0, img.shape), threshold=3.0)
    assert len(det.catalog) == 1
    assert det.catalog["flags"][0] & FLAGS.EDGE


def test_pure_noise_gives_few_detections(rng):
    det = detect(rng.normal(0.0, 1.0, (256, 256)), threshold=3.0)
    assert len(det.catalog) <= 2


def test_variance_map_sets_threshold(rng):
    # a source visible at 10 sigma disappears when its variance is raised 100x
    yy, xx = np.mgrid[0:64, 0:64]
    img = 30.0 * np.exp(-((xx - 32.0) ** 2 + (yy - 32.0) ** 2) / 8.0)
    img = img + rng.normal(0, 1.0, img.shape)
    var = np.ones(img.shape)
    assert len(detect(img, variance=var, threshold=5.0, subtract_background=False).catalog) == 1
    assert (
        len(detect(img, variance=100 * var, threshold=5.0, subtract_background=False).catalog) == 0
    )


def test_kernel_is_sextractor_default():
    np.testing.assert_allclose(
        gaussian_kernel(2.0) * 16, [[1, 2, 1], [2, 4, 2], [1, 2, 1]], atol=1e-12
    )


@pytest.mark.parametrize(
    ("kwargs", "name"),
    [
        ({"threshold": -1.0}, "threshold"),
        ({"minarea": 0}, "minarea"),
        ({"deblend_cont": 0.0}, "deblend_cont"),
        ({"deblend_nthresh": 0}, "deblend_nthresh"),
        ({"filter_fwhm_pixels": -2.0}, "filter_fwhm_pixels"),
        ({"variance": np.ones((3, 3))}, "variance"),
        ({"mask": np.ones((3, 3), bool)}, "mask"),
    ],
)
def test_bad_parameters_name_themselves(kwargs, name):
    with pytest.raises(GalmixValueError, match=name):
        detect(np.zeros((32, 32)), **kwargs)


@settings(max_examples=15, deadline=None)
@given(
    x0=st.floats(15.0, 48.0),
    y0=st.floats(15.0, 48.0),
    flip=st.booleans(),
    transpose=st.booleans(),
)
def test_detection_is_equivariant_under_flips(x0, y0, flip, transpose):
    """Flipping/transposing the image moves the barycentre accordingly."""
    rng = np.random.default_rng(5)
    yy, xx = np.mgrid[0:64, 0:64]
    img = 400.0 * np.exp(-((xx - x0) ** 2 / 10.0 + (yy - y0) ** 2 / 6.0))
    img = img + rng.normal(0, 1.0, img.shape)
    ref = detect(img, threshold=4.0, subtract_background=False).catalog
    out = img
    if flip:
        out = out[:, ::-1]
    if transpose:
        out = out.T
    cat = detect(np.ascontiguousarray(out), threshold=4.0, subtract_background=False).catalog
    assert len(ref) == len(cat) == 1
    x, y = float(ref["x"][0]), float(ref["y"][0])
    if flip:
        x = 63.0 - x
    if transpose:
        x, y = y, x
    assert abs(float(cat["x"][0]) - x) < 1e-6 and abs(float(cat["y"][0]) - y) < 1e-6
