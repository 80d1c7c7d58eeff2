"""Property tests (hypothesis): invariances of metrics, features and aggregation."""

from __future__ import annotations

import numpy as np
from astropy.table import Table
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from galmix.photoz import FluxFeatures, aggregate_pixels, metrics, photometry_matrix

zs = arrays(np.float64, st.integers(5, 60), elements=st.floats(0.0, 2.0))


@settings(max_examples=50, deadline=None)
@given(zs, st.integers(0, 2**32 - 1))
def test_metrics_invariant_under_row_permutation(z, seed):
    rng = np.random.default_rng(seed)
    zp = z + rng.normal(0, 0.05, z.size)
    perm = rng.permutation(z.size)
    a, b = metrics(z, zp), metrics(z[perm], zp[perm])
    for k in a:
        assert np.isclose(a[k], b[k], rtol=0, atol=1e-15)


@settings(max_examples=40, deadline=None)
@given(st.floats(0.5, 50.0), st.integers(0, 2**32 - 1))
def test_bright_colours_invariant_under_grey_scaling(scale, seed):
    """Colours of bright sources do not change when every flux is scaled alike."""
    rng = np.random.default_rng(seed)
    flux = rng.uniform(1e4, 1e5, size=(5, 5))
    f = FluxFeatures(with_errors=False, missing_indicator=False)
    a = f.fit(photometry_matrix(flux, 0.01 * flux)).transform(photometry_matrix(flux, 0.01 * flux))
    b = f.transform(photometry_matrix(scale * flux, 0.01 * scale * flux))
    np.testing.assert_allclose(b[:, 1:], a[:, 1:], atol=1e-6)  # colours
    np.testing.assert_allclose(b[:, 0], a[:, 0] - 2.5 * np.log10(scale), atol=1e-6)


@settings(max_examples=40, deadline=None)
@given(st.integers(1, 30), st.integers(0, 2**32 - 1))
def test_aggregation_invariant_under_pixel_order(npix, seed):
    rng = np.random.default_rng(seed)
    ids = rng.integers(0, 4, npix)
    z = rng.uniform(0, 1, npix)
    w = rng.uniform(0.1, 2, npix)
    perm = rng.permutation(npix)
    a = aggregate_pixels(Table({"id": ids}), z, weights=w)
    b = aggregate_pixels(Table({"id": ids[perm]}), z[perm], weights=w[perm])
    da = dict(zip(a["id"].tolist(), a["z_phot"].tolist()))
    db = dict(zip(b["id"].tolist(), b["z_phot"].tolist()))
    assert da == db
    # the weighted median lies within the pixel estimates of its object
    for i, v in da.items():
        assert z[ids == i].min() <= v <= z[ids == i].max()
