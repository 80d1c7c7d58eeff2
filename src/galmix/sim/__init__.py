"""GalSim-backed simulations with known truth: stamps and multi-band fields.

Used by the demo, the tests and the benchmarks; nothing is downloaded.

Examples
--------
>>> from galmix.sim import simulate_stamp
>>> obs, truth = simulate_stamp("exponential", flux=500.0, half_light_radius=0.5, seed=3)
>>> obs.image.shape
(48, 48)
"""

from galmix.sim.colors import (
    BAND_WAVELENGTHS_NM,
    band_wavelength,
    flux_to_mag,
    galaxy_magnitudes,
    mag_to_flux,
    star_magnitudes,
)
from galmix.sim.field import (
    DEFAULT_DEPTHS,
    DEFAULT_PSF_FWHM,
    SimulatedField,
    sample_population,
    simulate_field,
)
from galmix.sim.psf import draw_psf_image, make_psf, psf_observation
from galmix.sim.stamps import simulate_multiband_stamp, simulate_stamp
from galmix.sim.wcs import DEFAULT_SIP, make_wcs_header

__all__ = [
    "BAND_WAVELENGTHS_NM",
    "DEFAULT_DEPTHS",
    "DEFAULT_PSF_FWHM",
    "DEFAULT_SIP",
    "SimulatedField",
    "band_wavelength",
    "draw_psf_image",
    "flux_to_mag",
    "galaxy_magnitudes",
    "mag_to_flux",
    "make_psf",
    "make_wcs_header",
    "psf_observation",
    "sample_population",
    "simulate_field",
    "simulate_multiband_stamp",
    "simulate_stamp",
    "star_magnitudes",
]
