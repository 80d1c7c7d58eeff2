"""A redshift-dependent colour model, so that photometric redshifts are learnable.

Galaxies have a rest-frame spectral energy distribution (AB magnitudes as a
function of rest wavelength) made of a power law in ``f_nu`` and a smooth
4000 Angstrom break whose strength depends on a spectral type ``t`` in
``[0, 1]`` (0 = red, passive; 1 = blue, star-forming). Observed colours come
from redshifting that SED through the band centres, so the break moves
through the bands with redshift. Stars are black bodies.

The model is deliberately simple: it is smooth, monotonic enough in ``z``
for a machine-learning photo-z to learn, and cheap to evaluate.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from galmix.errors import GalmixValueError

__all__ = [
    "BAND_WAVELENGTHS_NM",
    "band_wavelength",
    "flux_to_mag",
    "galaxy_magnitudes",
    "mag_to_flux",
    "star_magnitudes",
]

#: Effective wavelengths (nm) of the usual optical bands (SDSS ugriz, LSST y).
BAND_WAVELENGTHS_NM: dict[str, float] = {
    "u": 355.0,
    "g": 475.0,
    "r": 625.0,
    "i": 770.0,
    "z": 910.0,
    "y": 1000.0,
}

_BREAK_NM = 400.0
_BREAK_WIDTH_NM = 18.0


def band_wavelength(band: str) -> float:
    """Effective wavelength (nm) of ``band``; names like ``"r"``, ``"hsc-i"`` work."""
    key = band.strip()[-1:].lower() if band not in BAND_WAVELENGTHS_NM else band
    if key not in BAND_WAVELENGTHS_NM:
        raise GalmixValueError(
            f"band must end with one of {sorted(BAND_WAVELENGTHS_NM)}, got {band!r}"
        )
    return BAND_WAVELENGTHS_NM[key]


def _rest_sed_mag(lam_rest_nm: np.ndarray, sed_type: np.ndarray) -> np.ndarray:
    """Rest-frame AB magnitude (arbitrary zero point) of the galaxy SED."""
    t = np.clip(sed_type, 0.0, 1.0)
    beta = 2.2 - 1.8 * t  # f_nu ~ lambda^beta: red galaxies rise to the red
    depth = 1.6 - 1.2 * t  # 4000 A break amplitude in magnitudes
    step = 1.0 / (1.0 + np.exp((lam_rest_nm - _BREAK_NM) / _BREAK_WIDTH_NM))
    return -2.5 * beta * np.log10(lam_rest_nm / 500.0) + depth * step


def galaxy_magnitudes(
    z: Sequence[float] | np.ndarray,
    sed_type: Sequence[float] | np.ndarray,
    mag_ref: Sequence[float] | np.ndarray,
    bands: Sequence[str],
    ref_band: str = "r",
) -> dict[str, np.ndarray]:
    """Apparent AB magnitudes in every band for galaxies at redshift ``z``.

    Parameters
    ----------
    z : array_like
        Redshifts (>= 0).
    sed_type : array_like
        Spectral type in ``[0, 1]`` (0 red, 1 blue).
    mag_ref : array_like
        Apparent magnitude in ``ref_band``.
    bands : sequence of str
        Bands to compute.
    ref_band : str
        Band in which ``mag_ref`` is given.

    Returns
    -------
    dict
        band -> array of magnitudes.

    Examples
    --------
    >>> m = galaxy_magnitudes([0.05, 0.35], [0.0, 0.0], [20.0, 20.0], ["g", "r", "i"])
    >>> bool(m["g"][1] - m["r"][1] > m["g"][0] - m["r"][0])  # the 4000 A break enters g
    True
    """
    z = np.atleast_1d(np.asarray(z, dtype=float))
    t = np.broadcast_to(np.asarray(sed_type, dtype=float), z.shape)
    mref = np.broadcast_to(np.asarray(mag_ref, dtype=float), z.shape)
    if np.any(~np.isfinite(z)) or np.any(z < 0):
        raise GalmixValueError("z must be finite and >= 0")
    lam_ref = band_wavelength(ref_band)
    m_ref_rest = _rest_sed_mag(lam_ref / (1.0 + z), t)
    out = {}
    for b in bands:
        lam = band_wavelength(b)
        out[b] = mref + _rest_sed_mag(lam / (1.0 + z), t) - m_ref_rest
    return out


def star_magnitudes(
    temperature: Sequence[float] | np.ndarray,
    mag_ref: Sequence[float] | np.ndarray,
    bands: Sequence[str],
    ref_band: str = "r",
) -> dict[str, np.ndarray]:
    """Apparent AB magnitudes of black-body stars of the given temperature (K).

    Examples
    --------
    >>> m = star_magnitudes([4000.0, 10000.0], [18.0, 18.0], ["g", "r"])
    >>> bool(m["g"][0] - m["r"][0] > m["g"][1] - m["r"][1])  # cool stars are redder
    True
    """
    temp = np.atleast_1d(np.asarray(temperature, dtype=float))
    mref = np.broadcast_to(np.asarray(mag_ref, dtype=float), temp.shape)
    h_over_k = 6.62607015e-34 / 1.380649e-23
    c = 2.99792458e8

    def mag_nu(lam_nm: float) -> np.ndarray:
        nu = c / (lam_nm * 1e-9)
        bnu = nu**3 / np.expm1(h_over_k * nu / temp)
        return -2.5 * np.log10(bnu)

    ref = mag_nu(band_wavelength(ref_band))
    return {b: mref + mag_nu(band_wavelength(b)) - ref for b in bands}


def mag_to_flux(mag: np.ndarray | float, zeropoint: float) -> np.ndarray:
    """Flux in image units for AB magnitude ``mag`` and zero point ``zeropoint``."""
    return 10.0 ** (-0.4 * (np.asarray(mag, dtype=float) - zeropoint))


def flux_to_mag(flux: np.ndarray | float, zeropoint: float) -> np.ndarray:
    """AB magnitude of ``flux`` (NaN for non-positive flux)."""
    f = np.asarray(flux, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(f > 0, zeropoint - 2.5 * np.log10(np.where(f > 0, f, 1.0)), np.nan)


def _check_bands(bands: Sequence[str] | Mapping[str, object]) -> list[str]:
    bl = list(bands)
    if not bl:
        raise GalmixValueError("bands must name at least one band")
    for b in bl:
        band_wavelength(b)
    return bl
