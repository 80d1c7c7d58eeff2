"""Photo-z quality metrics: sigma_NMAD, outlier fraction, bias, PIT, coverage.

Examples
--------
>>> import numpy as np
>>> from galmix.photoz.metrics import metrics
>>> z = np.array([0.1, 0.2, 0.3, 0.4])
>>> m = metrics(z, z + 0.01 * (1 + z))
>>> round(m["bias"], 6), m["sigma_nmad"], m["outlier_fraction"]
(0.01, 0.0, 0.0)
"""

from __future__ import annotations

import numpy as np

from galmix.errors import GalmixValueError

__all__ = [
    "OUTLIER_THRESHOLD",
    "coverage",
    "metrics",
    "pdf_metrics",
    "pit_from_pdf",
]

#: |dz| above which an estimate is an outlier, dz = (z_phot - z_spec)/(1 + z_spec)
OUTLIER_THRESHOLD = 0.15


def _pair(z_true, z_pred) -> tuple[np.ndarray, np.ndarray]:
    zt = np.asarray(z_true, dtype=np.float64).ravel()
    zp = np.asarray(z_pred, dtype=np.float64).ravel()
    if zt.shape != zp.shape:
        raise GalmixValueError(
            f"z_true and z_pred must have the same length, got {zt.size} and {zp.size}"
        )
    if zt.size == 0:
        raise GalmixValueError("z_true is empty")
    if not (np.all(np.isfinite(zt)) and np.all(np.isfinite(zp))):
        raise GalmixValueError("z_true and z_pred must be finite")
    if np.any(zt <= -1):
        raise GalmixValueError(f"z_true must be > -1, got min {zt.min()}")
    return zt, zp


def metrics(z_true, z_pred) -> dict[str, float]:
    """Point-estimate quality of photometric redshifts.

    With ``dz = (z_pred - z_true) / (1 + z_true)``:

    * ``sigma_nmad = 1.4826 * median(|dz - median(dz)|)``
    * ``outlier_fraction`` = fraction with ``|dz| > 0.15``
    * ``bias = median(dz)``

    Parameters
    ----------
    z_true, z_pred : array_like
        Spectroscopic (true) and photometric redshifts, same length, finite.

    Returns
    -------
    dict with float ``sigma_nmad``, ``outlier_fraction``, ``bias``.

    Examples
    --------
    >>> metrics([0.1, 0.5], [0.1, 0.5 + 0.3])["outlier_fraction"]
    0.5
    """
    zt, zp = _pair(z_true, z_pred)
    dz = (zp - zt) / (1.0 + zt)
    med = float(np.median(dz))
    return {
        "sigma_nmad": float(1.4826 * np.median(np.abs(dz - med))),
        "outlier_fraction": float(np.mean(np.abs(dz) > OUTLIER_THRESHOLD)),
        "bias": med,
    }


def _check_pdf(pdf, z_grid) -> tuple[np.ndarray, np.ndarray]:
    g = np.asarray(z_grid, dtype=np.float64)
    p = np.atleast_2d(np.asarray(pdf, dtype=np.float64))
    if g.ndim != 1 or g.size < 2 or np.any(np.diff(g) <= 0):
        raise GalmixValueError("z_grid must be 1-d, strictly increasing, with >= 2 points")
    if p.shape[1] != g.size:
        raise GalmixValueError(f"pdf must have {g.size} columns (z_grid), got shape {p.shape}")
    return p, g


def _cdf_on_grid(p: np.ndarray, g: np.ndarray) -> np.ndarray:
    """Trapezoid-integrated, normalised CDF at the grid points (n, ng)."""
    dz = np.diff(g)
    inc = 0.5 * (p[:, 1:] + p[:, :-1]) * dz
    cdf = np.concatenate([np.zeros((p.shape[0], 1)), np.cumsum(inc, axis=1)], axis=1)
    tot = cdf[:, -1:]
    tot = np.where(tot > 0, tot, 1.0)
    return cdf / tot


def pit_from_pdf(z_true, pdf, z_grid) -> np.ndarray:
    """Probability integral transform ``CDF_i(z_true_i)`` of gridded PDFs.

    PDFs are normalised over the grid (trapezoid rule); the CDF is linearly
    interpolated between grid points. Calibrated PDFs give uniform PIT values.

    Examples
    --------
    >>> import numpy as np
    >>> g = np.linspace(0, 1, 101)
    >>> pit_from_pdf([0.5], np.ones((1, 101)), g)
    array([0.5])
    """
    p, g = _check_pdf(pdf, z_grid)
    zt = np.asarray(z_true, dtype=np.float64).ravel()
    if zt.size != p.shape[0]:
        raise GalmixValueError(f"z_true has {zt.size} values but pdf has {p.shape[0]} rows")
    cdf = _cdf_on_grid(p, g)
    idx = np.clip(np.searchsorted(g, zt) - 1, 0, g.size - 2)
    t = np.clip((zt - g[idx]) / (g[idx + 1] - g[idx]), 0.0, 1.0)
    rows = np.arange(zt.size)
    return cdf[rows, idx] * (1 - t) + cdf[rows, idx + 1] * t


def coverage(pit, levels=(0.68, 0.95)) -> dict[float, float]:
    """Fraction of true redshifts inside the central intervals of given mass.

    For a central interval of mass ``c`` the truth is inside when
    ``|PIT - 0.5| <= c / 2``; calibrated PDFs give ``coverage = c``.

    Examples
    --------
    >>> import numpy as np
    >>> coverage(np.array([0.1, 0.5, 0.9, 0.99]))
    {0.68: 0.25, 0.95: 0.75}
    """
    pit = np.asarray(pit, dtype=np.float64).ravel()
    return {float(c): round(float(np.mean(np.abs(pit - 0.5) <= c / 2)), 6) for c in levels}


def pdf_metrics(z_true, pdf, z_grid, levels=(0.68, 0.95)) -> dict:
    """PIT values and coverage of gridded PDFs.

    Returns a dict with ``pit`` (array), ``coverage_<c>`` for each level, and
    ``pit_ks`` (Kolmogorov-Smirnov distance of the PIT values from uniform).

    Examples
    --------
    >>> import numpy as np
    >>> g = np.linspace(0, 1, 201)
    >>> zt = np.random.default_rng(0).uniform(0, 1, 500)
    >>> out = pdf_metrics(zt, np.ones((500, 201)), g)
    >>> out["pit_ks"] < 0.1
    True
    """
    pit = pit_from_pdf(z_true, pdf, z_grid)
    out: dict = {"pit": pit}
    for c, v in coverage(pit, levels).items():
        out[f"coverage_{c:g}"] = v
    s = np.sort(pit)
    n = s.size
    ecdf_hi = np.arange(1, n + 1) / n
    ecdf_lo = np.arange(0, n) / n
    out["pit_ks"] = float(max(np.max(ecdf_hi - s), np.max(s - ecdf_lo)))
    return out
