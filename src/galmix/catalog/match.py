"""Cross-matching of catalogs on the sky (astropy) and in pixels, ASSOC-style."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from galmix.errors import FLAGS, GalmixValueError

__all__ = ["associate", "crossmatch", "crossmatch_pixels", "match_truth"]


def _radius(value: float, name: str) -> float:
    r = float(value)
    if not math.isfinite(r) or r <= 0:
        raise GalmixValueError(f"{name} must be positive and finite, got {value!r}")
    return r


def _coords(ra: Any, dec: Any, name: str) -> tuple[np.ndarray, np.ndarray]:
    ra = np.atleast_1d(np.asarray(ra, dtype=np.float64))
    dec = np.atleast_1d(np.asarray(dec, dtype=np.float64))
    if ra.shape != dec.shape or ra.ndim != 1:
        raise GalmixValueError(
            f"ra{name} and dec{name} must be 1-d of equal length, got {ra.shape} and {dec.shape}"
        )
    if np.any(np.abs(dec[np.isfinite(dec)]) > 90):
        raise GalmixValueError(f"dec{name} must be within [-90, 90] degrees")
    return ra, dec


def crossmatch(
    ra1: Any, dec1: Any, ra2: Any, dec2: Any, radius_arcsec: float, unique: bool = False
) -> tuple[np.ndarray, np.ndarray]:
    """Nearest counterpart in catalog 2 of every object of catalog 1.

    Parameters
    ----------
    ra1, dec1 : array_like
        Positions (degrees) of the catalog to match (e.g. detections).
    ra2, dec2 : array_like
        Positions (degrees) of the reference catalog.
    radius_arcsec : float
        Match radius.
    unique : bool
        If True, a reference object is given to at most one object of
        catalog 1 (the closest); the others get -1.

    Returns
    -------
    index : ndarray of int64
        Row in catalog 2 for each row of catalog 1, -1 when none lies
        within the radius (or the position is not finite).
    separation_arcsec : ndarray
        Separation to the nearest reference object (NaN when catalog 2 is
        empty or the position is not finite), also for non-matches.

    Examples
    --------
    >>> idx, sep = crossmatch([10.0, 10.1], [0.0, 0.0], [10.0001, 50.0], [0.0, 1.0], 1.0)
    >>> idx.tolist(), round(float(sep[0]), 2)
    ([0, -1], 0.36)
    """
    from astropy import units as u
    from astropy.coordinates import SkyCoord

    r = _radius(radius_arcsec, "radius_arcsec")
    ra1, dec1 = _coords(ra1, dec1, "1")
    ra2, dec2 = _coords(ra2, dec2, "2")
    n1 = ra1.size
    index = np.full(n1, -1, dtype=np.int64)
    separation = np.full(n1, np.nan)
    ok1 = np.isfinite(ra1) & np.isfinite(dec1)
    ok2 = np.flatnonzero(np.isfinite(ra2) & np.isfinite(dec2))
    if n1 == 0 or ok2.size == 0 or not ok1.any():
        return index, separation
    c1 = SkyCoord(ra1[ok1] * u.deg, dec1[ok1] * u.deg)
    c2 = SkyCoord(ra2[ok2] * u.deg, dec2[ok2] * u.deg)
    if ok2.size == 1:
        j = np.zeros(c1.size, dtype=np.int64)
        d = c1.separation(c2[0]).arcsec
    else:
        j, d2d, _ = c1.match_to_catalog_sky(c2)
        d = d2d.arcsec
    rows = np.flatnonzero(ok1)
    separation[rows] = d
    hit = d <= r
    index[rows[hit]] = ok2[np.asarray(j)[hit]]
    if unique:
        index = _make_unique(index, separation)
    return index, separation


def crossmatch_pixels(
    x1: Any, y1: Any, x2: Any, y2: Any, radius_pixels: float, unique: bool = False
) -> tuple[np.ndarray, np.ndarray]:
    """As :func:`crossmatch` for positions in one pixel frame (KD-tree).

    Examples
    --------
    >>> idx, d = crossmatch_pixels([0.0, 10.0], [0.0, 0.0], [0.5, 30.0], [0.0, 0.0], 2.0)
    >>> idx.tolist(), d.tolist()
    ([0, -1], [0.5, 9.5])
    """
    from scipy.spatial import cKDTree

    r = _radius(radius_pixels, "radius_pixels")
    p1 = np.column_stack(
        [np.atleast_1d(np.asarray(x1, float)), np.atleast_1d(np.asarray(y1, float))]
    )
    p2 = np.column_stack(
        [np.atleast_1d(np.asarray(x2, float)), np.atleast_1d(np.asarray(y2, float))]
    )
    index = np.full(len(p1), -1, dtype=np.int64)
    separation = np.full(len(p1), np.nan)
    ok1 = np.isfinite(p1).all(axis=1)
    ok2 = np.flatnonzero(np.isfinite(p2).all(axis=1))
    if len(p1) == 0 or ok2.size == 0 or not ok1.any():
        return index, separation
    tree = cKDTree(p2[ok2])
    d, j = tree.query(p1[ok1], k=1)
    rows = np.flatnonzero(ok1)
    separation[rows] = d
    hit = d <= r
    index[rows[hit]] = ok2[j[hit]]
    if unique:
        index = _make_unique(index, separation)
    return index, separation


def _make_unique(index: np.ndarray, separation: np.ndarray) -> np.ndarray:
    """Keep, for each reference row, only its closest claimant (ties: first row)."""
    out = index.copy()
    hit = np.flatnonzero(index >= 0)
    order = hit[np.lexsort((hit, separation[hit]))]
    seen: set[int] = set()
    for i in order:
        j = int(index[i])
        if j in seen:
            out[i] = -1
        else:
            seen.add(j)
    return out


def associate(
    catalog: Any,
    reference: Any,
    radius_arcsec: float,
    columns: Sequence[str] = (),
    *,
    ra: str = "ra",
    dec: str = "dec",
    ref_ra: str = "ra",
    ref_dec: str = "dec",
    prefix: str = "ref_",
    flags_column: str = "flags",
) -> Any:
    """Attach reference-catalog columns to every object, as SExtractor ASSOC.

    Every row of ``catalog`` is kept. Matched rows get the nearest reference
    object's ``columns`` (as ``{prefix}{name}``), ``match_id`` (reference
    row) and ``match_sep`` (arcsec); unmatched rows get ``match_id = -1``,
    NaN/masked values, and :attr:`FLAGS.NO_MATCH` OR-ed into
    ``flags_column`` (created if absent).

    Parameters
    ----------
    catalog, reference : astropy.table.Table (or anything Table accepts)
        The detections and the reference catalog.
    radius_arcsec : float
        Match radius.
    columns : sequence of str
        Reference columns to copy.
    ra, dec, ref_ra, ref_dec : str
        Position column names (degrees).
    prefix : str
        Prefix of copied columns.
    flags_column : str
        Flag column to update.

    Returns
    -------
    astropy.table.Table
        A new table, same rows and order as ``catalog``.

    Examples
    --------
    >>> from astropy.table import Table
    >>> cat = Table({"ra": [150.0, 150.01], "dec": [2.0, 2.0], "flags": [0, 0]})
    >>> ref = Table({"ra": [150.00002], "dec": [2.0], "z": [0.5]})
    >>> out = associate(cat, ref, 1.0, columns=["z"])
    >>> out["match_id"].tolist(), out["ref_z"][0], int(out["flags"][1])
    ([0, -1], np.float64(0.5), 2097152)
    """
    from astropy.table import MaskedColumn, Table

    cat = Table(catalog, copy=True)
    ref = reference if isinstance(reference, Table) else Table(reference)
    for table, cols, what in ((cat, (ra, dec), "catalog"), (ref, (ref_ra, ref_dec), "reference")):
        for c in cols:
            if c not in table.colnames:
                raise GalmixValueError(f"{what} has no column {c!r}")
    for c in columns:
        if c not in ref.colnames:
            raise GalmixValueError(f"columns: reference has no column {c!r}")
    idx, sep = crossmatch(cat[ra], cat[dec], ref[ref_ra], ref[ref_dec], radius_arcsec)
    hit = idx >= 0
    cat["match_id"] = idx
    cat["match_sep"] = np.where(hit, sep, np.nan)
    for c in columns:
        src = np.asarray(ref[c])
        take = src[np.where(hit, idx, 0)] if len(src) else np.zeros(len(cat), src.dtype)
        if src.dtype.kind == "f":
            cat[prefix + c] = np.where(hit, take, np.nan)
        else:
            cat[prefix + c] = MaskedColumn(take, mask=~hit)
    flags = (
        np.asarray(cat[flags_column], dtype=np.int64)
        if flags_column in cat.colnames
        else np.zeros(len(cat), np.int64)
    )
    cat[flags_column] = np.where(hit, flags, flags | int(FLAGS.NO_MATCH))
    return cat


def match_truth(
    catalog: Any,
    truth: Any,
    radius: float,
    *,
    frame: str = "sky",
    columns: Sequence[str] | None = None,
    prefix: str = "true_",
) -> Any:
    """One-to-one match of detections to a truth catalog (closest pairs win).

    Parameters
    ----------
    catalog, truth : astropy.table.Table
        Detections and truth, both with ``ra``/``dec`` (``frame="sky"``,
        ``radius`` in arcsec) or ``x``/``y`` (``frame="pixel"``, ``radius``
        in pixels).
    radius : float
        Match radius.
    columns : sequence of str, optional
        Truth columns to copy (default: all but the position columns).
    prefix : str
        Prefix of copied truth columns.

    Returns
    -------
    astropy.table.Table
        ``catalog`` with ``match_id`` (truth row or -1), ``match_sep`` and the
        truth columns; every detection is kept and unmatched ones carry
        :attr:`FLAGS.NO_MATCH`. The table meta records ``completeness``
        (fraction of truth objects matched) and ``purity`` (fraction of
        detections matched).

    Examples
    --------
    >>> from astropy.table import Table
    >>> det = Table({"x": [1.05, 1.3, 40.0], "y": [1.0, 1.0, 40.0]})
    >>> truth = Table({"x": [1.1, 20.0], "y": [1.0, 20.0], "flux": [5.0, 6.0]})
    >>> out = match_truth(det, truth, 1.0, frame="pixel")
    >>> out["match_id"].tolist(), out.meta["completeness"], round(out.meta["purity"], 3)
    ([0, -1, -1], 0.5, 0.333)
    """
    from astropy.table import MaskedColumn, Table

    cat = Table(catalog, copy=True)
    tru = truth if isinstance(truth, Table) else Table(truth)
    if frame == "sky":
        pos = ("ra", "dec")
        idx, sep = crossmatch(cat["ra"], cat["dec"], tru["ra"], tru["dec"], radius, unique=True)
    elif frame == "pixel":
        pos = ("x", "y")
        idx, sep = crossmatch_pixels(cat["x"], cat["y"], tru["x"], tru["y"], radius, unique=True)
    else:
        raise GalmixValueError(f"frame must be 'sky' or 'pixel', got {frame!r}")
    hit = idx >= 0
    cat["match_id"] = idx
    cat["match_sep"] = np.where(hit, sep, np.nan)
    if columns is None:
        columns = [c for c in tru.colnames if c not in pos]
    for c in columns:
        src = np.asarray(tru[c])
        take = src[np.where(hit, idx, 0)] if len(src) else np.zeros(len(cat), src.dtype)
        if src.dtype.kind == "f":
            cat[prefix + c] = np.where(hit, take, np.nan)
        else:
            cat[prefix + c] = MaskedColumn(take, mask=~hit)
    flags = (
        np.asarray(cat["flags"], dtype=np.int64)
        if "flags" in cat.colnames
        else np.zeros(len(cat), np.int64)
    )
    cat["flags"] = np.where(hit, flags, flags | int(FLAGS.NO_MATCH))
    cat.meta["completeness"] = float(hit.sum() / len(tru)) if len(tru) else float("nan")
    cat.meta["purity"] = float(hit.mean()) if len(cat) else float("nan")
    return cat
