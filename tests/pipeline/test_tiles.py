"""Tiling covers the image exactly once with cores; deduplication is deterministic."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from galmix.pipeline.tiles import deduplicate, make_tiles


@settings(max_examples=40, deadline=None)
@given(
    ny=st.integers(1, 700),
    nx=st.integers(1, 700),
    size=st.integers(64, 400),
    overlap=st.integers(0, 31),
)
def test_cores_partition_image(ny: int, nx: int, size: int, overlap: int) -> None:
    tiles = make_tiles((ny, nx), size, overlap)
    cover = np.zeros((ny, nx), dtype=int)
    for t in tiles:
        cover[t.cy0 : t.cy1, t.cx0 : t.cx1] += 1
        assert 0 <= t.x0 <= t.cx0 < t.cx1 <= t.x1 <= nx
        assert 0 <= t.y0 <= t.cy0 < t.cy1 <= t.y1 <= ny
        assert t.cx0 - t.x0 <= overlap and t.x1 - t.cx1 <= overlap
    assert np.all(cover == 1)
    # every continuous position belongs to exactly one core
    rng = np.random.default_rng(ny * 1000 + nx)
    x = rng.uniform(-0.5, nx - 0.5, 50)
    y = rng.uniform(-0.5, ny - 0.5, 50)
    owners = np.sum([t.in_core(x, y) for t in tiles], axis=0)
    assert np.all(owners == 1)


def test_dedup_keeps_best_copy_independent_of_order() -> None:
    rng = np.random.default_rng(1)
    n = 50
    x = rng.uniform(0, 100, n)
    y = rng.uniform(0, 100, n)
    # duplicate 10 objects in another tile with slightly shifted centroids
    dup = rng.choice(n, 10, replace=False)
    tile = np.r_[np.zeros(n, int), np.ones(10, int)]
    xx = np.r_[x, x[dup] + 0.3]
    yy = np.r_[y, y[dup] - 0.2]
    ed = np.r_[np.full(n, 5.0), np.where(np.arange(10) % 2 == 0, 50.0, 1.0)]
    keep = deduplicate(tile, xx, yy, ed, radius=1.0)
    # close pairs within one tile are never merged
    assert keep.sum() == n
    for k, i in enumerate(dup):
        if k % 2 == 0:
            assert not keep[i] and keep[n + k]
        else:
            assert keep[i] and not keep[n + k]
    perm = rng.permutation(len(tile))
    keep_p = deduplicate(tile[perm], xx[perm], yy[perm], ed[perm], radius=1.0)
    assert np.array_equal(keep_p, keep[perm])
