"""PSF models for simulations (GalSim objects) and their images."""

from __future__ import annotations

from typing import Any

import numpy as np

from galmix.errors import GalmixValueError
from galmix.geometry import Jacobian

__all__ = ["draw_psf_image", "make_psf", "psf_observation"]

_KINDS = ("gaussian", "moffat", "optical", "kolmogorov")


def make_psf(
    kind: str = "moffat",
    fwhm: float = 0.8,
    beta: float = 3.0,
    g1: float = 0.0,
    g2: float = 0.0,
    lam_nm: float = 620.0,
    diameter_m: float = 4.0,
    aberrations: dict[str, float] | None = None,
) -> Any:
    """A GalSim PSF object.

    Parameters
    ----------
    kind : {"gaussian", "moffat", "optical", "kolmogorov"}
        ``"optical"`` is a Kolmogorov atmosphere of the given ``fwhm``
        convolved with an obscured-aperture ``galsim.OpticalPSF`` of
        ``lam_nm`` / ``diameter_m`` with optional Zernike ``aberrations``
        (keys ``defocus``, ``astig1``, ``astig2``, ``coma1``, ``coma2``, in waves).
    fwhm : float
        Full width at half maximum (arcsec) of the Gaussian/Moffat/atmosphere.
    beta : float
        Moffat index.
    g1, g2 : float
        PSF shear (reduced shear, GalSim convention).

    Returns
    -------
    galsim.GSObject

    Examples
    --------
    >>> psf = make_psf("moffat", fwhm=1.0, beta=3.0)
    >>> round(psf.calculateFWHM(), 2)
    1.0
    """
    import galsim

    if kind not in _KINDS:
        raise GalmixValueError(f"kind must be one of {_KINDS}, got {kind!r}")
    if not (np.isfinite(fwhm) and fwhm > 0):
        raise GalmixValueError(f"fwhm must be positive, got {fwhm!r}")
    if kind == "gaussian":
        psf = galsim.Gaussian(fwhm=fwhm)
    elif kind == "moffat":
        if not beta > 1.1:
            raise GalmixValueError(f"beta must be > 1.1, got {beta!r}")
        psf = galsim.Moffat(beta=beta, fwhm=fwhm)
    elif kind == "kolmogorov":
        psf = galsim.Kolmogorov(fwhm=fwhm)
    else:
        ab = dict(aberrations or {})
        opt = galsim.OpticalPSF(
            lam=lam_nm, diam=diameter_m, obscuration=0.3, scale_unit=galsim.arcsec, **ab
        )
        psf = galsim.Convolve(galsim.Kolmogorov(fwhm=fwhm), opt)
    if g1 or g2:
        psf = psf.shear(g1=g1, g2=g2)
    return psf


def draw_psf_image(psf: Any, jacobian: Jacobian, size: int = 33) -> np.ndarray:
    """Pixel-convolved image of ``psf`` centred in an odd ``size`` stamp, unit sum."""
    import galsim

    size = int(size) | 1
    gwcs = galsim.JacobianWCS(jacobian.dudx, jacobian.dudy, jacobian.dvdx, jacobian.dvdy)
    img = psf.drawImage(nx=size, ny=size, wcs=gwcs).array.astype(np.float64)
    return img / img.sum()


def psf_observation(psf: Any, jacobian: Jacobian, size: int = 33) -> Any:
    """The PSF as an :class:`~galmix.image.Observation` (centred, unit sum)."""
    from galmix.image import Observation

    size = int(size) | 1
    img = draw_psf_image(psf, jacobian, size)
    c = (size - 1) / 2.0
    jac = Jacobian(jacobian.dudx, jacobian.dudy, jacobian.dvdx, jacobian.dvdy, x0=c, y0=c)
    return Observation(img, weight=np.full(img.shape, 1e6), jacobian=jac)
