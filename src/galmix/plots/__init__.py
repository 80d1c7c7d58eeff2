"""Diagnostic figures (matplotlib, imported lazily).

Examples
--------
>>> import numpy as np
>>> from galmix.plots import sigma_mad
>>> sigma_mad(np.zeros(3))
0.0
"""

from galmix.plots.diagnostics import (
    chi_figure,
    colour_diff_figure,
    field_figure,
    mag_diff_figure,
    rebuild_figure,
    redshift_figure,
    running_stats,
    sigma_mad,
    size_figure,
)

__all__ = [
    "chi_figure",
    "colour_diff_figure",
    "field_figure",
    "mag_diff_figure",
    "rebuild_figure",
    "redshift_figure",
    "running_stats",
    "sigma_mad",
    "size_figure",
]
