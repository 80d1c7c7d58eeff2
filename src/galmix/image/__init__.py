"""Imaging data: observations, noise, FITS I/O and calibration-based error images."""

from galmix.image.io import read_observation, write_observation
from galmix.image.noise import correlated_noise, noise_from_weight, power_spectrum_from_correlation
from galmix.image.observation import MultiBandObservation, Observation

__all__ = [
    "MultiBandObservation",
    "Observation",
    "correlated_noise",
    "noise_from_weight",
    "power_spectrum_from_correlation",
    "read_observation",
    "write_observation",
]
