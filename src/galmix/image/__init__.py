"""Imaging data: observations, noise, FITS I/O and calibration-based error images."""

from galmix.image.calibration import (
    calibration_image,
    counts_image,
    error_image,
    interpolate_sky,
    inverse_variance_weight,
    weight_from_calibration,
)
from galmix.image.io import read_observation, write_observation
from galmix.image.noise import correlated_noise, noise_from_weight, power_spectrum_from_correlation
from galmix.image.observation import MultiBandObservation, Observation

__all__ = [
    "MultiBandObservation",
    "Observation",
    "calibration_image",
    "correlated_noise",
    "counts_image",
    "error_image",
    "interpolate_sky",
    "inverse_variance_weight",
    "noise_from_weight",
    "power_spectrum_from_correlation",
    "read_observation",
    "weight_from_calibration",
    "write_observation",
]
