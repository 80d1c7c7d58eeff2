"""Fixtures for the fit tests: GalSim (independent renderer) stamps."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from galmix import Jacobian, Observation

galsim = pytest.importorskip("galsim")


def render_galsim(
    gal,
    psf,
    jac: Jacobian,
    shape=(48, 48),
    method="auto",
):
    """Draw ``gal (x) psf`` with GalSim on the grid of ``jac`` (origin = world 0)."""
    ny, nx = shape
    wcs = galsim.JacobianWCS(jac.dudx, jac.dudy, jac.dvdx, jac.dvdy)
    im = galsim.ImageD(nx, ny, wcs=wcs)
    # GalSim centres the profile at the true centre of the image; shift so that
    # world (0, 0) sits at pixel (x0, y0) of our 0-based grid
    offset = (jac.x0 - (nx - 1) / 2.0, jac.y0 - (ny - 1) / 2.0)
    obj = galsim.Convolve(gal, psf) if psf is not None else gal
    obj.drawImage(image=im, method=method, offset=offset)
    return im.array.copy()


def gauss_psf_mixture(sigma: float) -> np.ndarray:
    """Round Gaussian PSF as a (1, 6) mixture array."""
    return np.array([[1.0, 0.0, 0.0, sigma**2, 0.0, sigma**2]])


#: ACS/WFC AB zero points (counts/s) used to compare with the catalogue MAG_AUTO
ACS_ZEROPOINTS = {"F606W": 26.486, "F814W": 25.937}


def load_aegis(directory: str | Path, band: str, row: int) -> tuple[Observation, dict]:
    """AEGIS stamp ``row`` (0-4) in ``band`` (``"F606W"``/``"F814W"``) as an Observation.

    The catalogue's ``NOISE_MEAN`` (sky level left in the stamps) is
    subtracted, the weight is ``1/NOISE_VARIANCE`` and the PSF image is
    attached with its own 0.03"/px Jacobian. Returns ``(obs, catalogue_row)``.
    """
    from astropy.io import fits
    from astropy.table import Table

    d = Path(directory)
    name = {"F606W": "F606w", "F814W": "F814w"}[band]
    cat = Table.read(d / f"AEGIS_{name}_catalog.fits")
    r = cat[row]
    gal = np.asarray(fits.getdata(d / r["GAL_FILENAME"].strip(), int(r["GAL_HDU"])), float)
    psf = np.asarray(fits.getdata(d / r["PSF_FILENAME"].strip(), int(r["PSF_HDU"])), float)
    s = float(r["PIXEL_SCALE"])
    ny, nx = psf.shape
    pobs = Observation(psf, jacobian=Jacobian(s, 0.0, 0.0, s, (nx - 1) / 2, (ny - 1) / 2))
    ny, nx = gal.shape
    obs = Observation(
        gal - float(r["NOISE_MEAN"]),
        weight=np.full(gal.shape, 1.0 / float(r["NOISE_VARIANCE"])),
        jacobian=Jacobian(s, 0.0, 0.0, s, (nx - 1) / 2, (ny - 1) / 2),
        psf=pobs,
        meta={"band": band, "ident": int(r["IDENT"])},
    )
    return obs, {k: r[k] for k in r.colnames}
