"""Pixel-level photo-z: per-pixel vectors and pixel -> object aggregation.

As in image-photo-z (seed 002), every pixel of an object's footprint becomes
a vector of magnitudes in all bands, their errors and its position in the
object; a model predicts a redshift (or PDF) per pixel and the pixel
estimates are combined per object.

Examples
--------
>>> import numpy as np
>>> from galmix.photoz.pixels import pixel_vectors
>>> img = {"g": np.full((3, 3), 2.0), "r": np.full((3, 3), 4.0)}
>>> var = {"g": np.ones((3, 3)), "r": np.ones((3, 3))}
>>> t = pixel_vectors(img, var, np.ones((3, 3), bool), 1, 1, 0.2, {"g": 22.5, "r": 22.5})
>>> len(t), t.colnames[:3]
(9, ['id', 'x', 'y'])
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
from astropy.table import Table

from galmix.errors import FLAGS, GalmixValueError
from galmix.photoz.features import MISSING_MAGERR, SDSS_SOFTENING, luptitudes

__all__ = ["aggregate_pixels", "pixel_features", "pixel_vectors"]


def _weighted_median(values: np.ndarray, weights: np.ndarray) -> float:
    order = np.argsort(values)
    v = values[order]
    w = weights[order]
    c = np.cumsum(w)
    half = 0.5 * c[-1]
    k = int(np.searchsorted(c, half))
    if np.isclose(c[k], half) and k + 1 < v.size:
        return 0.5 * (v[k] + v[k + 1])
    return float(v[k])


def pixel_vectors(
    images: Mapping[str, np.ndarray],
    variances: Mapping[str, np.ndarray],
    footprint: np.ndarray,
    x0: float,
    y0: float,
    pixel_scale: float,
    zeropoints: Mapping[str, float],
    object_id: int = 0,
    z: float | None = None,
    softening: Mapping[str, float] | None = None,
) -> Table:
    """One row of photometric features per footprint pixel of one object.

    Parameters
    ----------
    images, variances : mapping band -> 2-d array
        Registered images (flux per pixel) and their variances, same shape.
    footprint : bool 2-d array
        Pixels of the object (e.g. ``segmentation == id``).
    x0, y0 : float
        Object centre (0-based pixels).
    pixel_scale : float
        Arcsec per pixel (for ``dx``, ``dy``, ``r``).
    zeropoints : mapping band -> float
        AB magnitude of one image unit per band.
    object_id : int
        Written to column ``id``.
    z : float, optional
        Known redshift (training); adds column ``z``.
    softening : mapping band -> float, optional
        Asinh softening ``b`` in maggies. Default: :data:`SDSS_SOFTENING` for
        ugriz, else ``1.042 x`` the median pixel noise of the footprint in that
        band. Pass it explicitly to make luptitudes comparable across images.

    Returns
    -------
    astropy.table.Table
        Columns ``id``, ``x``, ``y`` (pixel indices), ``mag_<band>``,
        ``magerr_<band>`` (asinh magnitudes, finite for zero or negative
        flux; a pixel with non-finite value or variance <= 0 gets the
        zero-flux magnitude and ``magerr`` :data:`MISSING_MAGERR`), ``dx``,
        ``dy`` (arcsec from the centre along +x, +y), ``r`` (arcsec),
        ``flags`` (``NONFINITE_PIXELS`` or ``NO_WEIGHT`` for such pixels) and
        ``z`` when given.

    Examples
    --------
    >>> import numpy as np
    >>> img = {"r": np.array([[0.0, 1.0]]), "i": np.array([[1.0, -1.0]])}
    >>> var = {"r": np.ones((1, 2)), "i": np.ones((1, 2))}
    >>> t = pixel_vectors(img, var, np.ones((1, 2), bool), 0.0, 0.0, 0.4,
    ...                   {"r": 22.5, "i": 22.5}, object_id=7, z=0.3)
    >>> t["r"].tolist(), t["id"].tolist()
    ([0.0, 0.4], [7, 7])
    """
    bands = list(images)
    if not bands:
        raise GalmixValueError("images is empty")
    fp = np.asarray(footprint, dtype=bool)
    if fp.ndim != 2:
        raise GalmixValueError(f"footprint must be 2-d, got shape {fp.shape}")
    if not (np.isfinite(pixel_scale) and pixel_scale > 0):
        raise GalmixValueError(f"pixel_scale must be positive, got {pixel_scale!r}")
    for band in bands:
        if band not in variances:
            raise GalmixValueError(f"variances has no band {band!r}")
        if band not in zeropoints:
            raise GalmixValueError(f"zeropoints has no band {band!r}")
        for name, arr in (("images", images[band]), ("variances", variances[band])):
            if np.shape(arr) != fp.shape:
                raise GalmixValueError(
                    f"{name}[{band!r}] has shape {np.shape(arr)}, footprint has {fp.shape}"
                )
    yy, xx = np.nonzero(fp)
    t = Table()
    t["id"] = np.full(yy.size, int(object_id), dtype=np.int64)
    t["x"] = xx.astype(np.int32)
    t["y"] = yy.astype(np.int32)
    flags = np.zeros(yy.size, dtype=np.int64)
    given = dict(softening or {})
    for band in bands:
        f = np.asarray(images[band], dtype=np.float64)[yy, xx]
        v = np.asarray(variances[band], dtype=np.float64)[yy, xx]
        nonfinite = ~(np.isfinite(f) & np.isfinite(v))
        noweight = ~nonfinite & (v <= 0)
        flags |= np.where(nonfinite, int(FLAGS.NONFINITE_PIXELS), 0)
        flags |= np.where(noweight, int(FLAGS.NO_WEIGHT), 0)
        bad = nonfinite | noweight
        err = np.sqrt(np.where(bad, 0.0, v))
        zp = float(zeropoints[band])
        if band in given:
            b = float(given[band])
        elif band in SDSS_SOFTENING:
            b = SDSS_SOFTENING[band]
        else:
            good = err[~bad]
            sig = float(np.median(good)) if good.size else 1.0
            b = 1.042 * (sig if sig > 0 else 1.0) * 10.0 ** (-0.4 * zp)
        mag, magerr = luptitudes(np.where(bad, 0.0, f), err, b, zp)
        t[f"mag_{band}"] = mag
        t[f"magerr_{band}"] = np.where(bad, MISSING_MAGERR, magerr)
    dx = (xx - float(x0)) * pixel_scale
    dy = (yy - float(y0)) * pixel_scale
    t["dx"] = dx
    t["dy"] = dy
    t["r"] = np.hypot(dx, dy)
    t["flags"] = flags
    if z is not None:
        t["z"] = np.full(yy.size, float(z))
    return t


def pixel_features(
    table: Table, bands: Sequence[str], with_errors: bool = True, extra: Sequence[str] = ()
) -> np.ndarray:
    """Feature matrix of a pixel table: magnitude, colours, errors, radius.

    Columns: ``mag_<bands[middle]>``, adjacent colours, ``magerr_<band>``
    (when ``with_errors``), ``r`` and the ``extra`` columns (e.g. the
    object's integrated colours copied to each of its pixels, which gives
    every pixel the context of its object). Use it with any estimator built
    with ``features=None``.

    Examples
    --------
    >>> from astropy.table import Table
    >>> t = Table({"mag_g": [20.0], "mag_r": [19.0], "magerr_g": [0.1],
    ...            "magerr_r": [0.1], "r": [0.5]})
    >>> pixel_features(t, ["g", "r"]).tolist()
    [[19.0, 1.0, 0.1, 0.1, 0.5]]
    """
    bands = list(bands)
    if len(bands) < 1:
        raise GalmixValueError("bands is empty")
    for b in bands:
        for c in (f"mag_{b}", f"magerr_{b}"):
            if c not in table.colnames:
                raise GalmixValueError(f"pixel table has no column {c!r}")
    m = np.column_stack([np.asarray(table[f"mag_{b}"], dtype=np.float64) for b in bands])
    cols = [m[:, len(bands) // 2 : len(bands) // 2 + 1], m[:, :-1] - m[:, 1:]]
    if with_errors:
        cols.append(
            np.column_stack([np.asarray(table[f"magerr_{b}"], dtype=np.float64) for b in bands])
        )
    cols.append(np.asarray(table["r"], dtype=np.float64)[:, None])
    for c in extra:
        if c not in table.colnames:
            raise GalmixValueError(f"pixel table has no column {c!r}")
        cols.append(np.asarray(table[c], dtype=np.float64)[:, None])
    return np.hstack(cols)


def aggregate_pixels(
    pixel_table: Table,
    pixel_predictions: np.ndarray,
    method: str = "weighted_median",
    weights: np.ndarray | str | None = "inverse_variance",
    weight_band: str | None = None,
    z_grid: np.ndarray | None = None,
    pdf_floor: float = 1e-3,
) -> Table:
    """Combine per-pixel redshift estimates into one estimate per object.

    Parameters
    ----------
    pixel_table : Table
        Output of :func:`pixel_vectors` (possibly many objects stacked);
        needs column ``id`` (and ``magerr_<band>`` for inverse-variance weights).
    pixel_predictions : ndarray
        ``(n_pixels,)`` point estimates, or ``(n_pixels, n_grid)`` PDFs on
        ``z_grid`` for ``method="product"``.
    method : {"weighted_median", "mean", "product"}
        ``weighted_median`` of the pixel estimates (robust to stray pixels),
        weighted ``mean``, or ``product`` of the pixel PDFs (a flat floor of
        ``pdf_floor`` times each PDF's peak keeps one discordant pixel from
        vetoing the object); ``product`` returns the mode of the product.
    weights : "inverse_variance", None or ndarray
        ``inverse_variance`` = ``1/magerr^2`` in ``weight_band`` (default: the
        band with the smallest median error), i.e. high-S/N pixels count most.
    weight_band : str, optional
    z_grid : ndarray, optional
        Grid of the PDFs (``method="product"``).

    Returns
    -------
    Table
        ``id``, ``z_phot``, ``n_pixels`` (and ``pdf`` for ``product``), one row
        per distinct id in order of first appearance.

    Examples
    --------
    >>> import numpy as np
    >>> from astropy.table import Table
    >>> t = Table({"id": [1, 1, 1, 2]})
    >>> out = aggregate_pixels(t, np.array([0.1, 0.2, 0.9, 0.5]), weights=None)
    >>> out["z_phot"].tolist()
    [0.2, 0.5]
    """
    if "id" not in pixel_table.colnames:
        raise GalmixValueError("pixel_table has no column 'id'")
    ids = np.asarray(pixel_table["id"])
    pred = np.asarray(pixel_predictions, dtype=np.float64)
    if pred.shape[0] != ids.size:
        raise GalmixValueError(
            f"pixel_predictions has {pred.shape[0]} rows, pixel_table has {ids.size}"
        )
    methods = ("weighted_median", "mean", "product")
    if method not in methods:
        raise GalmixValueError(f"method must be one of {methods}, got {method!r}")
    if method == "product":
        if pred.ndim != 2 or z_grid is None or pred.shape[1] != np.size(z_grid):
            raise GalmixValueError(
                "method='product' needs pixel_predictions of shape (n_pixels, len(z_grid))"
            )
    elif pred.ndim != 1:
        raise GalmixValueError(f"pixel_predictions must be 1-d for {method!r}")
    if isinstance(weights, str):
        if weights != "inverse_variance":
            raise GalmixValueError(
                f"weights must be 'inverse_variance', None or an array, got {weights!r}"
            )
        errcols = [c for c in pixel_table.colnames if c.startswith("magerr_")]
        if weight_band is not None:
            col = f"magerr_{weight_band}"
            if col not in errcols:
                raise GalmixValueError(f"pixel_table has no column {col!r}")
        elif errcols:
            col = min(errcols, key=lambda c: float(np.median(pixel_table[c])))
        else:
            col = None
        if col is None:
            w = np.ones(ids.size)
        else:
            e = np.asarray(pixel_table[col], dtype=np.float64)
            w = 1.0 / np.maximum(e, 1e-6) ** 2
    elif weights is None:
        w = np.ones(ids.size)
    else:
        w = np.asarray(weights, dtype=np.float64)
        if w.shape != (ids.size,) or np.any(~np.isfinite(w)) or np.any(w < 0):
            raise GalmixValueError("weights must be finite, >= 0, one per pixel")
    uniq, first, inverse = np.unique(ids, return_index=True, return_inverse=True)
    order = np.argsort(first)
    out_ids = uniq[order]
    z_out = np.empty(out_ids.size)
    npix = np.empty(out_ids.size, dtype=np.int64)
    pdfs = None
    if method == "product":
        g = np.asarray(z_grid, dtype=np.float64)
        pdfs = np.empty((out_ids.size, g.size))
    for k, u in enumerate(order):
        sel = inverse == u
        npix[k] = int(sel.sum())
        ws = w[sel]
        if not np.any(ws > 0):
            ws = np.ones_like(ws)
        if method == "weighted_median":
            z_out[k] = _weighted_median(pred[sel], ws)
        elif method == "mean":
            z_out[k] = float(np.average(pred[sel], weights=ws))
        else:
            p = pred[sel]
            peak = np.max(p, axis=1, keepdims=True)
            p = np.maximum(p, pdf_floor * np.where(peak > 0, peak, 1.0))
            logp = np.sum(np.log(p) * (ws / ws.max())[:, None], axis=0)
            prod = np.exp(logp - logp.max())
            prod /= np.trapezoid(prod, g)
            pdfs[k] = prod
            z_out[k] = float(g[np.argmax(prod)])
    t = Table()
    t["id"] = out_ids
    t["z_phot"] = z_out
    t["n_pixels"] = npix
    if pdfs is not None:
        t["pdf"] = pdfs
    return t
