"""Cross-matching against brute-force astropy separations; ASSOC and truth matching."""

from __future__ import annotations

import numpy as np
import pytest
from astropy import units as u
from astropy.coordinates import SkyCoord
from astropy.table import Table
from hypothesis import given, settings
from hypothesis import strategies as st

from galmix.catalog import associate, crossmatch, crossmatch_pixels, match_truth
from galmix.errors import FLAGS, GalmixValueError


def _brute_force(ra1, dec1, ra2, dec2, radius):
    c1 = SkyCoord(ra1 * u.deg, dec1 * u.deg)
    c2 = SkyCoord(ra2 * u.deg, dec2 * u.deg)
    idx = np.full(len(ra1), -1)
    sep = np.empty(len(ra1))
    for i in range(len(ra1)):
        d = c1[i].separation(c2).arcsec
        j = int(np.argmin(d))
        sep[i] = d[j]
        if d[j] <= radius:
            idx[i] = j
    return idx, sep


@pytest.mark.parametrize(
    ("ra0", "dec0"), [(150.0, 2.0), (0.0, -30.0), (359.999, 10.0), (45.0, 89.9)]
)
def test_crossmatch_equals_brute_force(rng, ra0, dec0):
    n = 200
    # reference over a 2' field, including the RA=0/360 wrap and near the pole
    dra = rng.uniform(-60, 60, n) / 3600 / np.cos(np.radians(dec0))
    ra2 = (ra0 + dra) % 360
    dec2 = dec0 + rng.uniform(-60, 60, n) / 3600
    pick = rng.choice(n, 120, replace=False)
    ra1 = (ra2[pick] + rng.normal(0, 0.5, 120) / 3600 / np.cos(np.radians(dec0))) % 360
    dec1 = dec2[pick] + rng.normal(0, 0.5, 120) / 3600
    idx, sep = crossmatch(ra1, dec1, ra2, dec2, 1.0)
    ridx, rsep = _brute_force(ra1, dec1, ra2, dec2, 1.0)
    np.testing.assert_array_equal(idx, ridx)
    np.testing.assert_allclose(sep, rsep, atol=1e-6)
    assert (idx >= 0).mean() > 0.5


def test_unique_keeps_closest_claimant():
    ra2, dec2 = np.array([10.0]), np.array([0.0])
    ra1 = np.array([10.0 + 0.3 / 3600, 10.0 + 0.1 / 3600, 10.0 - 0.2 / 3600])
    dec1 = np.zeros(3)
    idx, _ = crossmatch(ra1, dec1, ra2, dec2, 1.0, unique=True)
    assert idx.tolist() == [-1, 0, -1]
    idx, _ = crossmatch(ra1, dec1, ra2, dec2, 1.0)
    assert idx.tolist() == [0, 0, 0]


def test_empty_and_nonfinite_inputs():
    idx, sep = crossmatch([1.0, np.nan], [1.0, 0.0], [], [], 1.0)
    assert idx.tolist() == [-1, -1] and np.isnan(sep).all()
    idx, sep = crossmatch([1.0, np.nan], [1.0, 0.0], [1.0], [1.0], 1.0)
    assert idx.tolist() == [0, -1]
    with pytest.raises(GalmixValueError, match="radius_arcsec"):
        crossmatch([1.0], [1.0], [1.0], [1.0], 0.0)
    with pytest.raises(GalmixValueError, match="dec1"):
        crossmatch([1.0], [95.0], [1.0], [1.0], 1.0)


def test_associate_keeps_every_row_and_flags_unmatched():
    cat = Table({"ra": [150.0, 150.01, 150.02], "dec": [2.0, 2.0, 2.0], "flags": [0, 4, 0]})
    ref = Table(
        {
            "ra": [150.02 + 0.2 / 3600, 150.0],
            "dec": [2.0, 2.0 + 0.1 / 3600],
            "z": [0.7, 0.3],
            "cls": np.array(["gal", "star"]),
        }
    )
    out = associate(cat, ref, 1.0, columns=["z", "cls"])
    assert len(out) == 3
    assert out["match_id"].tolist() == [1, -1, 0]
    np.testing.assert_allclose(out["ref_z"], [0.3, np.nan, 0.7])
    assert out["ref_cls"].mask.tolist() == [False, True, False]
    assert out["flags"].tolist() == [0, 4 | int(FLAGS.NO_MATCH), 0]
    assert out["match_sep"][0] == pytest.approx(0.1, abs=1e-6)
    with pytest.raises(GalmixValueError, match="'nope'"):
        associate(cat, ref, 1.0, columns=["nope"])


def test_match_truth_completeness_purity():
    truth = Table({"x": [10.0, 50.0, 90.0, 130.0], "y": [10.0] * 4, "flux": [1.0, 2.0, 3.0, 4.0]})
    det = Table({"x": [10.2, 49.5, 200.0], "y": [10.0, 10.3, 10.0], "flags": [0, 0, 0]})
    out = match_truth(det, truth, 1.5, frame="pixel")
    assert out["match_id"].tolist() == [0, 1, -1]
    assert out.meta["completeness"] == pytest.approx(0.5)
    assert out.meta["purity"] == pytest.approx(2 / 3)
    assert out["true_flux"][1] == 2.0 and np.isnan(out["true_flux"][2])
    assert out["flags"][2] & FLAGS.NO_MATCH


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 10_000), n1=st.integers(1, 40), n2=st.integers(1, 40))
def test_pixel_match_is_permutation_equivariant(seed, n1, n2):
    rng = np.random.default_rng(seed)
    x1, y1 = rng.uniform(0, 50, (2, n1))
    x2, y2 = rng.uniform(0, 50, (2, n2))
    idx, d = crossmatch_pixels(x1, y1, x2, y2, 5.0)
    perm = rng.permutation(n2)
    idx_p, d_p = crossmatch_pixels(x1, y1, x2[perm], y2[perm], 5.0)
    np.testing.assert_allclose(d, d_p)
    back = np.where(idx_p >= 0, perm[np.maximum(idx_p, 0)], -1)
    # identical unless two reference points are exactly equidistant
    assert np.mean(back == idx) > 0.95
    # separations are the true nearest distances
    dd = np.hypot(x1[:, None] - x2[None, :], y1[:, None] - y2[None, :]).min(axis=1)
    np.testing.assert_allclose(d, dd, atol=1e-12)
