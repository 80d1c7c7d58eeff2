"""Off-grid Fourier transforms against direct sums."""

from __future__ import annotations

import numpy as np
import pytest

from galmix.shear.kspace import KSpaceImage, centred_dft, output_frequencies


def _direct(img, k, c):
    y, x = np.mgrid[0 : img.shape[0], 0 : img.shape[1]]
    return np.array(
        [np.sum(img * np.exp(-1j * (kx * (x - c[0]) + ky * (y - c[1])))) for kx, ky in k.T]
    )


@pytest.mark.parametrize("shape", [(16, 16), (21, 17), (48, 48)])
@pytest.mark.parametrize("center", [None, (3.3, 9.7)])
def test_dtft_matches_direct_sum(shape, center, rng):
    img = rng.normal(size=shape) + 3.0
    c = ((shape[1] - 1) / 2, (shape[0] - 1) / 2) if center is None else center
    k = rng.uniform(-7.0, 7.0, size=(2, 60))  # beyond the first zone too
    got = KSpaceImage(np.stack([img, 2 * img]), c).evaluate(k)
    ref = _direct(img, k, c)
    scale = np.abs(img).sum()
    assert np.max(np.abs(got[0] - ref)) < 1e-6 * scale
    assert np.max(np.abs(got[1] - 2 * ref)) < 2e-6 * scale


def test_grid_dft_is_exact(rng):
    img = rng.normal(size=(12, 15))
    c = (7.0, 5.5)
    kk = output_frequencies(img.shape)
    ref = _direct(img, kk.reshape(2, -1), c).reshape(kk.shape[1:])
    np.testing.assert_allclose(centred_dft(img, c)[0], ref, atol=1e-10)
    got = KSpaceImage(img, c).evaluate(kk.reshape(2, -1)).reshape(kk.shape[1:])
    assert np.max(np.abs(got - ref)) < 1e-6 * np.abs(img).sum()
