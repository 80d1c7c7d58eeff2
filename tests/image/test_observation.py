"""Observation validation, derived maps, FITS round trip and noise generation."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from galmix import Jacobian, MultiBandObservation, Observation, PixelResponse
from galmix.errors import GalmixIOError, GalmixTypeError, GalmixValueError
from galmix.image import correlated_noise, noise_from_weight, read_observation, write_observation


def test_defaults():
    obs = Observation(np.ones((5, 7)))
    assert obs.shape == (5, 7)
    assert obs.jacobian.origin == (3.0, 2.0)
    assert obs.jacobian.matrix.tolist() == [[1.0, 0.0], [0.0, 1.0]]
    assert np.all(obs.weight == 1.0)
    assert not obs.mask.any()
    assert obs.pixel.is_full
    assert obs.image.dtype == np.float64
    with pytest.raises(ValueError):
        obs.image[0, 0] = 3.0  # read-only


def test_input_is_copied():
    img = np.ones((3, 3))
    obs = Observation(img)
    img[0, 0] = 5.0
    assert obs.image[0, 0] == 1.0


@pytest.mark.parametrize(
    "kwargs,match",
    [
        ({"weight": np.ones((4, 4))}, "weight shape"),
        ({"weight": np.full((5, 5), np.nan)}, "weight has"),
        ({"weight": -np.ones((5, 5))}, "weight must be >= 0"),
        ({"weight": np.zeros((5, 5))}, "weight is zero"),
        ({"mask": np.ones((5, 5), bool)}, "mask: every pixel"),
        ({"mask": np.zeros((3, 5), bool)}, "mask shape"),
        ({"noise": np.zeros((2, 2))}, "noise shape"),
    ],
)
def test_validation_errors_name_parameter(kwargs, match):
    with pytest.raises(GalmixValueError, match=match):
        Observation(np.ones((5, 5)), **kwargs)


def test_image_validation():
    with pytest.raises(GalmixValueError, match="image must be 2-d"):
        Observation(np.ones(5))
    with pytest.raises(GalmixTypeError, match="image"):
        Observation("not an image")
    with pytest.raises(GalmixTypeError, match="jacobian"):
        Observation(np.ones((3, 3)), jacobian=np.eye(2))
    with pytest.raises(GalmixTypeError, match="psf"):
        Observation(np.ones((3, 3)), psf=42)


def test_nonfinite_pixels_must_be_masked():
    img = np.ones((5, 5))
    img[2, 2] = np.nan
    with pytest.raises(GalmixValueError, match="non-finite"):
        Observation(img)
    obs = Observation(img, mask=~np.isfinite(img))
    assert obs.weight[2, 2] == 0 and obs.image[2, 2] == 0
    w = np.ones((5, 5))
    w[2, 2] = 0
    obs2 = Observation(img, weight=w)
    assert np.isfinite(obs2.image).all()


def test_mask_zeroes_weight_and_noise_maps():
    mask = np.zeros((4, 4), bool)
    mask[0, 0] = True
    obs = Observation(np.full((4, 4), 3.0), weight=np.full((4, 4), 4.0), mask=mask)
    assert obs.weight[0, 0] == 0
    assert np.isinf(obs.noise_map[0, 0])
    assert obs.noise_map[1, 1] == 0.5
    assert obs.signal_to_noise_map[1, 1] == 6.0
    assert obs.signal_to_noise_map[0, 0] == 0.0
    assert obs.signal_to_noise_max == 6.0


def test_from_noise_map_and_noise_scaling():
    nm = np.full((4, 4), 2.0)
    nm[1, 1] = np.inf
    obs = Observation.from_noise_map(np.ones((4, 4)), nm)
    assert obs.weight[0, 0] == 0.25 and obs.weight[1, 1] == 0
    m = np.zeros((4, 4), bool)
    m[3, 3] = True
    scaled = obs.with_noise_scaling(m, noise_value=1e4)
    assert scaled.image[3, 3] == 0.0 and scaled.weight[3, 3] == pytest.approx(1e-8)
    assert scaled.weight[0, 0] == 0.25


def test_psf_normalisation():
    psf = Observation(np.full((5, 5), 0.04 * 0.92))
    obs = Observation(np.ones((5, 5)), psf=psf).with_normalized_psf()
    assert obs.psf.image.sum() == pytest.approx(1.0)


def test_trimmed_moves_origin():
    jac = Jacobian(0.2, 0.0, 0.0, 0.2, x0=10.0, y0=8.0)
    obs = Observation(np.arange(400.0).reshape(20, 20), jacobian=jac)
    sub = obs.trimmed(5, 15, 6, 16)
    assert sub.jacobian.origin == (4.0, 3.0)
    assert sub.image[0, 0] == obs.image[5, 6]
    # the same pixel maps to the same world position
    assert sub.jacobian.to_world(1.0, 2.0) == obs.jacobian.to_world(7.0, 7.0)


def test_multiband():
    a = Observation(np.zeros((4, 4)))
    mb = MultiBandObservation({"g": a, "r": [a, a]})
    assert mb.bands == ["g", "r"] and mb.nexp("r") == 2 and len(mb) == 2
    with pytest.raises(GalmixValueError):
        MultiBandObservation({})
    with pytest.raises(GalmixTypeError, match="band 'g'"):
        MultiBandObservation({"g": [np.zeros((3, 3))]})


def test_fits_round_trip(tmp_path):
    rng = np.random.default_rng(3)
    mask = np.zeros((6, 8), bool)
    mask[1, 2] = True
    psf = Observation(rng.random((5, 5)), jacobian=Jacobian(0.1, 0.01, -0.02, 0.11, x0=2, y0=2))
    obs = Observation(
        rng.random((6, 8)),
        weight=rng.random((6, 8)) + 0.5,
        jacobian=Jacobian(-0.2, 0.03, 0.01, 0.21, x0=3.5, y0=2.25),
        psf=psf,
        mask=mask,
        noise=rng.normal(size=(6, 8)),
        meta={"band": "i", "id": 7},
        pixel=PixelResponse((-0.1, -0.1), 0.8),
        noise_correlation=np.eye(3),
    )
    path = write_observation(obs, tmp_path / "o.fits")
    back = read_observation(path)
    for name in ("image", "weight", "mask", "noise", "noise_correlation"):
        assert np.array_equal(getattr(back, name), getattr(obs, name)), name
    assert back.jacobian == obs.jacobian
    assert back.psf.jacobian == psf.jacobian
    assert np.array_equal(back.psf.image, psf.image)
    assert back.meta == {"band": "i", "id": 7}
    assert back.pixel == obs.pixel
    with pytest.raises(GalmixIOError, match="exists"):
        write_observation(obs, path)
    bad = tmp_path / "bad.fits"
    bad.write_text("not fits")
    with pytest.raises(GalmixIOError):
        read_observation(bad)


def test_noise_from_weight_statistics():
    w = np.full((300, 300), 1 / 9.0)
    w[:10] = 0
    n = noise_from_weight(w, rng=np.random.default_rng(5))
    assert np.all(n[:10] == 0)
    assert n[10:].std() == pytest.approx(3.0, rel=0.02)


def test_correlated_noise_matches_correlation_function():
    cf = np.zeros((5, 5))
    cf[2, 2] = 1.0
    cf[2, 1] = cf[2, 3] = 0.4
    cf[1, 2] = cf[3, 2] = 0.2
    n = correlated_noise((512, 512), cf, rng=np.random.default_rng(11))
    assert np.var(n) == pytest.approx(1.0, rel=0.05)
    assert np.mean(n[:, 1:] * n[:, :-1]) == pytest.approx(0.4, abs=0.03)
    assert np.mean(n[1:, :] * n[:-1, :]) == pytest.approx(0.2, abs=0.03)
    assert abs(np.mean(n[2:, 2:] * n[:-2, :-2])) < 0.03


def test_pixel_response_validation():
    with pytest.raises(GalmixValueError, match="subpixel_scale"):
        PixelResponse(subpixel_scale=1.5)
    with pytest.raises(GalmixValueError, match="outside the pixel"):
        PixelResponse((0.3, 0.0), 0.8)
    assert PixelResponse((-0.1, -0.1), 0.8).fill_factor == pytest.approx(0.64)


@given(
    st.integers(1, 12),
    st.integers(1, 12),
    st.floats(0.01, 100.0),
)
@settings(max_examples=50, deadline=None)
def test_noise_map_weight_inverse(ny, nx, sigma):
    obs = Observation.from_noise_map(np.zeros((ny, nx)), np.full((ny, nx), sigma))
    assert np.allclose(obs.noise_map, sigma, rtol=1e-12)
