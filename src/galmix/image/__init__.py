"""Imaging data: observations, noise, FITS I/O and calibration-based error images."""

from galmix.image.observation import MultiBandObservation, Observation

__all__ = ["MultiBandObservation", "Observation"]
