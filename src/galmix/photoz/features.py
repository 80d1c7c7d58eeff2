"""Photometric features: asinh magnitudes, colours, errors, missing values.

Fluxes become *asinh magnitudes* (Lupton, Gunn & Szalay 1999, "luptitudes",
as in the SDSS catalogues), which stay finite and smooth for faint, zero and
negative fluxes, so non-detections need no special casing; a flux whose error
is unknown (inverse variance <= 0, non-finite values) is *missing*: its
magnitude is set to the zero-flux luptitude, its error to
:data:`MISSING_MAGERR` and a per-band indicator column is set.

The estimators of :mod:`galmix.photoz` take a *raw photometry matrix* and
turn it into features with :class:`FluxFeatures`, so that they can redraw
fluxes from their errors during training. The layout of the raw matrix,
for ``nb`` bands and ``n_sets`` flux sets (e.g. model and Petrosian fluxes)::

    [flux_set0 (nb), flux_err_set0 (nb), flux_set1 (nb), flux_err_set1 (nb), ...,
     extinction (nb) if has_extinction, extra columns (n_extra)]

:func:`photometry_matrix` builds it.

Examples
--------
>>> import numpy as np
>>> from galmix.photoz.features import luptitudes
>>> mag, magerr = luptitudes(np.array([1000.0, 0.0, -1.0]), np.array([1.0, 1.0, 1.0]),
...                          softening=1.2e-10)
>>> np.round(mag, 3)
array([15.   , 24.802, 27.119])
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin

from galmix.errors import GalmixValueError

__all__ = [
    "MISSING_MAGERR",
    "SDSS_SOFTENING",
    "FluxFeatures",
    "flux_errors_from_ivar",
    "luptitudes",
    "photometry_matrix",
]

#: SDSS asinh-magnitude softening parameters ``b`` (in maggies, i.e. flux
#: relative to the AB zero point 3631 Jy) for ugriz, from the SDSS
#: photometry documentation (Lupton et al. 1999; Stoughton et al. 2002).
SDSS_SOFTENING: dict[str, float] = {
    "u": 1.4e-10,
    "g": 0.9e-10,
    "r": 1.2e-10,
    "i": 1.8e-10,
    "z": 7.4e-10,
}

#: magnitude error given to missing fluxes (unknown error)
MISSING_MAGERR = 10.0

_POGSON = 2.5 / np.log(10.0)


def flux_errors_from_ivar(ivar: np.ndarray) -> np.ndarray:
    """Flux errors ``1/sqrt(ivar)``; ``inf`` where ``ivar <= 0`` or non-finite.

    Examples
    --------
    >>> import numpy as np
    >>> flux_errors_from_ivar(np.array([4.0, 0.0]))
    array([0.5, inf])
    """
    ivar = np.asarray(ivar, dtype=np.float64)
    good = np.isfinite(ivar) & (ivar > 0)
    out = np.full(ivar.shape, np.inf)
    out[good] = 1.0 / np.sqrt(ivar[good])
    return out


def luptitudes(
    flux: np.ndarray,
    flux_err: np.ndarray,
    softening: float | np.ndarray,
    zeropoint: float = 22.5,
) -> tuple[np.ndarray, np.ndarray]:
    """Asinh magnitudes and their errors.

    ``m = -(2.5/ln 10) [asinh(f / 2b) + ln b]`` with ``f`` the flux in
    maggies (``flux * 10**(-0.4 zeropoint)``) and ``b`` the softening (in
    maggies); ``sigma_m = (2.5/ln 10) sigma_f / sqrt(f^2 + 4 b^2)``.
    For ``f >> b`` this is the Pogson magnitude ``zeropoint - 2.5 log10(flux)``.

    Parameters
    ----------
    flux, flux_err : ndarray
        Fluxes and 1-sigma errors in image units whose AB zero point is
        ``zeropoint`` (the default 22.5 is SDSS nanomaggies). Negative fluxes
        are fine. Non-finite fluxes or errors give NaN.
    softening : float or ndarray
        ``b`` in maggies, broadcast against ``flux`` (e.g. one per band along
        the last axis). See :data:`SDSS_SOFTENING`.
    zeropoint : float
        AB magnitude of one unit of ``flux``.

    Returns
    -------
    mag, magerr : ndarray

    Examples
    --------
    >>> import numpy as np
    >>> m, e = luptitudes(np.array([1e4]), np.array([10.0]), 1.2e-10)
    >>> round(float(m[0]), 6), round(float(e[0]), 6)
    (12.5, 0.001086)
    """
    b = np.asarray(softening, dtype=np.float64)
    if np.any(~np.isfinite(b)) or np.any(b <= 0):
        raise GalmixValueError(f"softening must be positive and finite, got {softening!r}")
    if not np.isfinite(zeropoint):
        raise GalmixValueError(f"zeropoint must be finite, got {zeropoint!r}")
    scale = 10.0 ** (-0.4 * zeropoint)
    f = np.asarray(flux, dtype=np.float64) * scale
    s = np.asarray(flux_err, dtype=np.float64) * scale
    mag = -_POGSON * (np.arcsinh(f / (2.0 * b)) + np.log(b))
    magerr = _POGSON * s / np.sqrt(f * f + 4.0 * b * b)
    return mag, magerr


def photometry_matrix(
    flux: Sequence[np.ndarray] | np.ndarray,
    flux_err: Sequence[np.ndarray] | np.ndarray | None = None,
    *,
    ivar: Sequence[np.ndarray] | np.ndarray | None = None,
    extinction: np.ndarray | None = None,
    extra: np.ndarray | None = None,
) -> np.ndarray:
    """Assemble the raw photometry matrix read by :class:`FluxFeatures`.

    Parameters
    ----------
    flux : ndarray (n, nb) or sequence of them
        One array per flux set (e.g. ``[modelflux, petroflux]``).
    flux_err, ivar : same shapes as ``flux``
        Errors, or inverse variances (exactly one of the two).
    extinction : ndarray (n, nb), optional
        Galactic extinction in magnitudes (subtracted from the magnitudes).
    extra : ndarray (n, k), optional
        Further features passed through unchanged (sizes, fit colours, ...).

    Returns
    -------
    ndarray (n, nb * (2 n_sets + [1]) + k), float64

    Examples
    --------
    >>> import numpy as np
    >>> photometry_matrix(np.ones((2, 3)), ivar=np.ones((2, 3))).shape
    (2, 6)
    """
    sets = [flux] if isinstance(flux, np.ndarray) else list(flux)
    if (flux_err is None) == (ivar is None):
        raise GalmixValueError("give exactly one of flux_err and ivar")
    if flux_err is not None:
        errs = [flux_err] if isinstance(flux_err, np.ndarray) else list(flux_err)
    else:
        ivs = [ivar] if isinstance(ivar, np.ndarray) else list(ivar)
        errs = [flux_errors_from_ivar(v) for v in ivs]
    if len(errs) != len(sets) or not sets:
        raise GalmixValueError(
            f"flux and errors must hold the same number of flux sets, got {len(sets)} and {len(errs)}"
        )
    cols = []
    shape = np.shape(sets[0])
    if len(shape) != 2:
        raise GalmixValueError(f"flux must be 2-d (n, nbands), got shape {shape}")
    for f, e in zip(sets, errs):
        f = np.asarray(f, dtype=np.float64)
        e = np.asarray(e, dtype=np.float64)
        if f.shape != shape or e.shape != shape:
            raise GalmixValueError(
                f"every flux/error array must have shape {shape}, got {f.shape} and {e.shape}"
            )
        cols += [f, e]
    if extinction is not None:
        ext = np.asarray(extinction, dtype=np.float64)
        if ext.shape != shape:
            raise GalmixValueError(f"extinction must have shape {shape}, got {ext.shape}")
        cols.append(ext)
    if extra is not None:
        ex = np.asarray(extra, dtype=np.float64)
        if ex.ndim == 1:
            ex = ex[:, None]
        if ex.shape[0] != shape[0]:
            raise GalmixValueError(f"extra must have {shape[0]} rows, got {ex.shape[0]}")
        cols.append(ex)
    return np.ascontiguousarray(np.hstack(cols))


class FluxFeatures(TransformerMixin, BaseEstimator):
    """Raw photometry matrix -> photo-z features (scikit-learn transformer).

    Features, in order:

    * the reference-band luptitude of flux set 0 (extinction corrected);
    * adjacent colours of set 0 (``m[b] - m[b+1]``);
    * luptitude errors of set 0 (when ``with_errors``);
    * per-band missing-value indicators of set 0 (when ``missing_indicator``);
    * for every further set ``s``: its reference-band luptitude, its adjacent
      colours and ``m_0[b] - m_s[b]`` for every band (e.g. model minus
      Petrosian magnitude, a concentration/size proxy);
    * the ``n_extra`` pass-through columns.

    Parameters
    ----------
    bands : sequence of str
        Band names in wavelength order (their number ``nb`` fixes the layout).
    n_sets : int
        Number of flux sets in the raw matrix.
    has_extinction : bool
        Whether the raw matrix carries an extinction block.
    n_extra : int
        Number of pass-through columns at the end.
    reference_band : str or None
        Band of the magnitude feature; default: the middle band.
    softening : mapping band -> float, optional
        Asinh softening ``b`` (maggies). Defaults: :data:`SDSS_SOFTENING` for
        ugriz, else ``1.042 x`` the median flux error of that band in the
        training data (Lupton et al. 1999), fixed at ``fit``.
    zeropoint : float
        AB magnitude of one flux unit (22.5: nanomaggies).
    with_errors, missing_indicator : bool
        Include magnitude errors / missing flags as features.

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> flux = rng.uniform(10, 100, size=(4, 5))
    >>> raw = photometry_matrix(flux, ivar=np.ones((4, 5)))
    >>> FluxFeatures().fit(raw).transform(raw).shape
    (4, 15)
    """

    def __init__(
        self,
        bands: Sequence[str] = ("u", "g", "r", "i", "z"),
        n_sets: int = 1,
        has_extinction: bool = False,
        n_extra: int = 0,
        reference_band: str | None = None,
        softening: Mapping[str, float] | None = None,
        zeropoint: float = 22.5,
        with_errors: bool = True,
        missing_indicator: bool = True,
    ):
        self.bands = bands
        self.n_sets = n_sets
        self.has_extinction = has_extinction
        self.n_extra = n_extra
        self.reference_band = reference_band
        self.softening = softening
        self.zeropoint = zeropoint
        self.with_errors = with_errors
        self.missing_indicator = missing_indicator

    # -- layout -------------------------------------------------------------
    @property
    def n_raw_columns(self) -> int:
        """Width of the raw photometry matrix this transformer expects."""
        nb = len(self.bands)
        return nb * (2 * int(self.n_sets) + int(bool(self.has_extinction))) + int(self.n_extra)

    def _check_raw(self, X) -> np.ndarray:
        X = np.asarray(X, dtype=np.float64)
        if X.ndim != 2 or X.shape[1] != self.n_raw_columns:
            raise GalmixValueError(
                f"X must have shape (n, {self.n_raw_columns}) for bands={list(self.bands)}, "
                f"n_sets={self.n_sets}, has_extinction={self.has_extinction}, "
                f"n_extra={self.n_extra}; got {X.shape}"
            )
        return X

    def _blocks(self, X):
        nb = len(self.bands)
        fluxes = [X[:, 2 * s * nb : (2 * s + 1) * nb] for s in range(self.n_sets)]
        errs = [X[:, (2 * s + 1) * nb : (2 * s + 2) * nb] for s in range(self.n_sets)]
        pos = 2 * self.n_sets * nb
        ext = None
        if self.has_extinction:
            ext = X[:, pos : pos + nb]
            pos += nb
        extra = X[:, pos : pos + int(self.n_extra)]
        return fluxes, errs, ext, extra

    # -- fit / transform ----------------------------------------------------
    def fit(self, X, y=None):
        """Fix the softening parameters and the reference band."""
        bands = list(self.bands)
        if len(bands) < 2:
            raise GalmixValueError(f"bands needs at least two bands, got {bands!r}")
        if int(self.n_sets) < 1:
            raise GalmixValueError(f"n_sets must be >= 1, got {self.n_sets!r}")
        X = self._check_raw(X)
        ref = self.reference_band if self.reference_band is not None else bands[len(bands) // 2]
        if ref not in bands:
            raise GalmixValueError(f"reference_band {ref!r} is not one of bands {bands!r}")
        self.reference_index_ = bands.index(ref)
        _, errs, _, _ = self._blocks(X)
        given = dict(self.softening or {})
        soft = np.empty(len(bands))
        scale = 10.0 ** (-0.4 * self.zeropoint)
        for k, band in enumerate(bands):
            if band in given:
                soft[k] = float(given[band])
            elif band in SDSS_SOFTENING:
                soft[k] = SDSS_SOFTENING[band]
            else:
                e = errs[0][:, k]
                e = e[np.isfinite(e) & (e > 0)]
                if e.size == 0:
                    raise GalmixValueError(
                        f"no finite flux errors in band {band!r} to set its softening; "
                        "pass softening={band: b}"
                    )
                soft[k] = 1.042 * float(np.median(e)) * scale
        if np.any(~np.isfinite(soft)) or np.any(soft <= 0):
            raise GalmixValueError(f"softening must be positive, got {dict(zip(bands, soft))}")
        self.softening_ = soft
        self.n_features_in_ = X.shape[1]
        return self

    def _mags(self, flux, err, ext):
        missing = ~(np.isfinite(flux) & np.isfinite(err) & (err > 0))
        f = np.where(missing, 0.0, flux)
        e = np.where(missing, 0.0, err)
        mag, magerr = luptitudes(f, e, self.softening_, self.zeropoint)
        if ext is not None:
            mag = mag - np.where(np.isfinite(ext), ext, 0.0)
        magerr = np.where(missing, MISSING_MAGERR, magerr)
        return mag, magerr, missing

    def transform(self, X) -> np.ndarray:
        """Feature matrix (float64, no NaN)."""
        X = self._check_raw(X)
        fluxes, errs, ext, extra = self._blocks(X)
        r = self.reference_index_
        m0, e0, miss0 = self._mags(fluxes[0], errs[0], ext)
        cols = [m0[:, r : r + 1], m0[:, :-1] - m0[:, 1:]]
        if self.with_errors:
            cols.append(e0)
        if self.missing_indicator:
            cols.append(miss0.astype(np.float64))
        for s in range(1, int(self.n_sets)):
            ms, _, _ = self._mags(fluxes[s], errs[s], ext)
            cols += [ms[:, r : r + 1], ms[:, :-1] - ms[:, 1:], m0 - ms]
        cols.append(extra)
        return np.hstack(cols)

    def feature_names(self) -> list[str]:
        """Names of the feature columns, in order.

        Examples
        --------
        >>> FluxFeatures(bands=("g", "r"), with_errors=False,
        ...              missing_indicator=False).feature_names()
        ['mag_r', 'g-r']
        """
        bands = list(self.bands)
        ref = self.reference_band if self.reference_band is not None else bands[len(bands) // 2]
        colours = [f"{a}-{b}" for a, b in itertools.pairwise(bands)]
        names = [f"mag_{ref}", *colours]
        if self.with_errors:
            names += [f"magerr_{b}" for b in bands]
        if self.missing_indicator:
            names += [f"missing_{b}" for b in bands]
        for s in range(1, int(self.n_sets)):
            names += [f"set{s}_mag_{ref}", *[f"set{s}_{c}" for c in colours]]
            names += [f"set0-set{s}_{b}" for b in bands]
        names += [f"extra_{k}" for k in range(int(self.n_extra))]
        return names

    def perturb(self, X, rng: np.random.Generator) -> np.ndarray:
        """Copy of the raw matrix with every flux redrawn from N(flux, flux_err).

        Fluxes with missing (non-finite or non-positive) errors are unchanged.

        Examples
        --------
        >>> import numpy as np
        >>> raw = photometry_matrix(np.full((3, 2), 10.0), np.full((3, 2), 1.0))
        >>> f = FluxFeatures(bands=("g", "r"))
        >>> f.perturb(raw, np.random.default_rng(1)).shape
        (3, 4)
        """
        X = self._check_raw(X).copy()
        nb = len(self.bands)
        for s in range(int(self.n_sets)):
            f = X[:, 2 * s * nb : (2 * s + 1) * nb]
            e = X[:, (2 * s + 1) * nb : (2 * s + 2) * nb]
            good = np.isfinite(e) & (e > 0) & np.isfinite(f)
            noise = rng.standard_normal(f.shape) * np.where(good, e, 0.0)
            f += noise
        return X
