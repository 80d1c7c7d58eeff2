"""Background and noise estimation against known inputs."""

from __future__ import annotations

import numpy as np
import pytest

from galmix.detect import estimate_background
from galmix.errors import GalmixValueError


def test_flat_sky_level_and_rms(rng):
    img = 250.0 + rng.normal(0.0, 3.0, (256, 256))
    bkg = estimate_background(img)
    assert abs(bkg.global_level - 250.0) < 0.1
    # sigma-clipped rms is ~2 % low, as in SExtractor
    assert abs(bkg.global_rms - 3.0) < 0.1
    assert bkg.level.shape == img.shape and bkg.rms.shape == img.shape
    np.testing.assert_allclose(bkg.level, 250.0, atol=0.3)


def test_gradient_is_followed(rng):
    yy, xx = np.mgrid[0:256, 0:256]
    sky = 100.0 + 0.05 * xx - 0.03 * yy
    bkg = estimate_background(sky + rng.normal(0.0, 1.0, sky.shape), box_size=32)
    # a smooth linear gradient is reproduced away from the outermost meshes
    inner = (slice(32, -32), slice(32, -32))
    assert np.max(np.abs(bkg.level[inner] - sky[inner])) < 0.5


def test_sources_do_not_bias_background(rng):
    img = 10.0 + rng.normal(0.0, 1.0, (256, 256))
    yy, xx = np.mgrid[0:256, 0:256]
    for x0, y0 in [(40, 40), (120, 200), (200, 90)]:
        img += 300.0 * np.exp(-((xx - x0) ** 2 + (yy - y0) ** 2) / 8.0)
    bkg = estimate_background(img)
    assert abs(np.median(bkg.level) - 10.0) < 0.1


def test_nonfinite_and_masked_pixels_are_ignored(rng):
    img = 5.0 + rng.normal(0.0, 1.0, (128, 128))
    img[10:20, 10:20] = np.nan
    img[50, 50] = np.inf
    mask = np.zeros(img.shape, bool)
    img[100:110, 100:110] = 1e6
    mask[100:110, 100:110] = True
    bkg = estimate_background(img, mask=mask)
    assert np.isfinite(bkg.level).all() and np.isfinite(bkg.rms).all()
    assert abs(bkg.global_level - 5.0) < 0.1
    assert np.max(bkg.level) < 6.0


def test_small_image_and_big_endian_uint16():
    rng = np.random.default_rng(2)
    img = (3000 + rng.normal(0, 20, (50, 100))).astype(">u2")
    bkg = estimate_background(img)
    assert abs(bkg.global_level - 3000) < 2
    assert abs(bkg.global_rms - 20) < 2


@pytest.mark.parametrize(
    ("kwargs", "name"),
    [({"box_size": 0}, "box_size"), ({"filter_size": 1.5}, "filter_size")],
)
def test_bad_parameters_name_themselves(kwargs, name):
    with pytest.raises(GalmixValueError, match=name):
        estimate_background(np.zeros((32, 32)), **kwargs)


def test_bad_images():
    with pytest.raises(GalmixValueError, match="2-d"):
        estimate_background(np.zeros(10))
    with pytest.raises(GalmixValueError, match="no finite"):
        estimate_background(np.full((8, 8), np.nan))
