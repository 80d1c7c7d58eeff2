"""Helpers for render tests: Jacobians and GalSim reference renders."""

from __future__ import annotations

import math

import numpy as np
import pytest

galsim = pytest.importorskip("galsim")

_C, _S = math.cos(0.5), math.sin(0.5)
JACOBIANS = {
    "plain": np.array([[0.2, 0.0], [0.0, 0.2]]),
    "sheared": np.array([[0.21, 0.04], [0.04, 0.19]]),
    "rotated": 0.2 * np.array([[_C, -_S], [_S, _C]]),
    "flipped": np.array([[-0.2, 0.0], [0.0, 0.2]]),
    "nonsquare": np.array([[0.18, 0.03], [-0.02, 0.26]]),
}

# tight GalSim accuracy so the reference is better than our tolerances
GSPARAMS = galsim.GSParams(maximum_fft_size=16384, folding_threshold=1e-3, maxk_threshold=1e-4)


def galsim_draw(gsobj, matrix, shape, x0, y0, method):
    """Draw with GalSim so that world (0, 0) lands on 0-based pixel (x0, y0).

    GalSim puts the profile centre at the image's true centre plus
    ``offset``; for a 0-based image (xmin=ymin=0) of ``nx`` columns the true
    centre is ``(nx - 1)/2``.
    """
    ny, nx = shape
    image = galsim.ImageD(nx, ny, xmin=0, ymin=0)
    offset = (x0 - (nx - 1) / 2.0, y0 - (ny - 1) / 2.0)
    wcs = galsim.JacobianWCS(*np.asarray(matrix, dtype=float).ravel())
    gsobj.drawImage(image=image, wcs=wcs, method=method, offset=offset)
    return image.array.copy()
