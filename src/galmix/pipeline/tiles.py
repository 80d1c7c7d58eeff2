"""Tiling with overlaps and deterministic deduplication of overlap objects.

The reference grid is cut into cores that partition it exactly; each tile is
its core grown by ``overlap`` pixels (clipped to the image). Objects are
detected and measured on the whole tile, but a tile only keeps objects whose
centroid lies in its core grown by a small ``margin``; the few objects kept
by two tiles are resolved by :func:`deduplicate`, which prefers the copy whose
centroid is farthest from its tile's outer edge (best measured), ties broken
by tile index. The result depends only on the tile outputs, never on the
order in which tiles finished.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np

from galmix.errors import GalmixValueError

__all__ = ["Tile", "deduplicate", "make_tiles"]


@dataclasses.dataclass(frozen=True)
class Tile:
    """One tile of the reference grid (0-based, half-open pixel ranges).

    Attributes
    ----------
    index : int
    x0, x1, y0, y1 : int
        Outer bounds (with overlap): pixels ``[y0:y1, x0:x1]``.
    cx0, cx1, cy0, cy1 : int
        Core bounds; cores partition the image.
    """

    index: int
    x0: int
    x1: int
    y0: int
    y1: int
    cx0: int
    cx1: int
    cy0: int
    cy1: int

    @property
    def shape(self) -> tuple[int, int]:
        return (self.y1 - self.y0, self.x1 - self.x0)

    @property
    def name(self) -> str:
        return f"tile-{self.index:04d}"

    def in_core(self, x: np.ndarray, y: np.ndarray, margin: float = 0.0) -> np.ndarray:
        """True for global positions inside the core grown by ``margin`` pixels.

        Pixel ``i`` covers ``[i - 0.5, i + 0.5)``, so cores tile the plane
        without gaps or double counting when ``margin`` is 0.
        """
        x = np.asarray(x, dtype=float)
        y = np.asarray(y, dtype=float)
        return (
            (x >= self.cx0 - 0.5 - margin)
            & (x < self.cx1 - 0.5 + margin)
            & (y >= self.cy0 - 0.5 - margin)
            & (y < self.cy1 - 0.5 + margin)
        )

    def edge_distance(self, x: np.ndarray, y: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
        """Distance (pixels) from global ``(x, y)`` to the nearest tile edge that is
        not an image edge (``inf`` for a single tile covering the image)."""
        x = np.asarray(x, dtype=float)
        y = np.asarray(y, dtype=float)
        ny, nx = shape
        d = np.full(x.shape, np.inf)
        if self.x0 > 0:
            d = np.minimum(d, x - (self.x0 - 0.5))
        if self.x1 < nx:
            d = np.minimum(d, (self.x1 - 0.5) - x)
        if self.y0 > 0:
            d = np.minimum(d, y - (self.y0 - 0.5))
        if self.y1 < ny:
            d = np.minimum(d, (self.y1 - 0.5) - y)
        return d


def make_tiles(shape: tuple[int, int], size: int, overlap: int) -> list[Tile]:
    """Tiles of about ``size`` pixels with ``overlap`` pixels on each side.

    Examples
    --------
    >>> tiles = make_tiles((1000, 1000), 512, 64)
    >>> len(tiles), tiles[0].x1, tiles[1].cx0
    (4, 564, 500)
    """
    ny, nx = int(shape[0]), int(shape[1])
    if ny < 1 or nx < 1:
        raise GalmixValueError(f"shape must be positive, got {shape!r}")
    if size < 1 or overlap < 0:
        raise GalmixValueError(f"size must be >= 1 and overlap >= 0, got {size!r}, {overlap!r}")
    ntx = max(1, math.ceil(nx / size))
    nty = max(1, math.ceil(ny / size))
    xe = [round(k * nx / ntx) for k in range(ntx + 1)]
    ye = [round(k * ny / nty) for k in range(nty + 1)]
    tiles = []
    for j in range(nty):
        for i in range(ntx):
            cx0, cx1, cy0, cy1 = xe[i], xe[i + 1], ye[j], ye[j + 1]
            tiles.append(
                Tile(
                    index=j * ntx + i,
                    x0=max(0, cx0 - overlap),
                    x1=min(nx, cx1 + overlap),
                    y0=max(0, cy0 - overlap),
                    y1=min(ny, cy1 + overlap),
                    cx0=cx0,
                    cx1=cx1,
                    cy0=cy0,
                    cy1=cy1,
                )
            )
    return tiles


def deduplicate(
    tile: np.ndarray,
    x: np.ndarray,
    y: np.ndarray,
    edge_distance: np.ndarray,
    radius: float = 2.0,
) -> np.ndarray:
    """Boolean mask of the rows to keep among objects kept by several tiles.

    Rows of *different* tiles whose centroids lie within ``radius`` pixels of
    each other are one object; of each group the row with the largest
    ``edge_distance`` is kept (ties: lowest tile index, then first row).

    Examples
    --------
    >>> keep = deduplicate(np.array([0, 1, 1]), np.array([10.0, 10.3, 50.0]),
    ...                    np.array([5.0, 5.1, 5.0]), np.array([3.0, 40.0, 9.0]))
    >>> keep.tolist()
    [False, True, True]
    """
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components
    from scipy.spatial import cKDTree

    tile = np.asarray(tile)
    n = len(tile)
    keep = np.ones(n, dtype=bool)
    if n < 2:
        return keep
    pts = np.column_stack([np.asarray(x, float), np.asarray(y, float)])
    pairs = cKDTree(pts).query_pairs(radius, output_type="ndarray")
    if len(pairs) == 0:
        return keep
    pairs = pairs[tile[pairs[:, 0]] != tile[pairs[:, 1]]]
    if len(pairs) == 0:
        return keep
    g = coo_matrix((np.ones(len(pairs)), (pairs[:, 0], pairs[:, 1])), shape=(n, n))
    _, labels = connected_components(g, directed=False)
    ed = np.asarray(edge_distance, float)
    involved = np.unique(pairs.ravel())
    for lab in np.unique(labels[involved]):
        members = np.flatnonzero(labels == lab)
        order = sorted(members, key=lambda k: (-ed[k], int(tile[k]), int(k)))
        keep[members] = False
        keep[order[0]] = True
    return keep
