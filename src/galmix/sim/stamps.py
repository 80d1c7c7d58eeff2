"""Single-object postage stamps with known truth, rendered with GalSim."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from galmix.errors import GalmixValueError
from galmix.geometry import Jacobian

__all__ = ["simulate_multiband_stamp", "simulate_stamp"]

_PROFILES = ("gaussian", "exponential", "devaucouleurs", "sersic", "point")


def _galsim_profile(profile: str, flux: float, half_light_radius: float, n: float) -> Any:
    import galsim

    if profile == "gaussian":
        return galsim.Gaussian(flux=flux, half_light_radius=half_light_radius)
    if profile == "exponential":
        return galsim.Exponential(flux=flux, half_light_radius=half_light_radius)
    if profile == "devaucouleurs":
        return galsim.DeVaucouleurs(flux=flux, half_light_radius=half_light_radius)
    if profile == "sersic":
        return galsim.Sersic(n=n, flux=flux, half_light_radius=half_light_radius)
    return galsim.DeltaFunction(flux=flux)


def simulate_stamp(
    profile: str = "exponential",
    flux: float = 1000.0,
    half_light_radius: float = 0.5,
    n: float = 1.0,
    g1: float = 0.0,
    g2: float = 0.0,
    shape: tuple[int, int] = (48, 48),
    jacobian: Jacobian | None = None,
    psf: Any = None,
    offset: tuple[float, float] = (0.0, 0.0),
    noise_sigma: float = 0.0,
    seed: int | None = None,
    rng: np.random.Generator | None = None,
    psf_size: int = 33,
    meta: Mapping[str, Any] | None = None,
) -> tuple[Any, dict[str, Any]]:
    """Render one (sheared, PSF-convolved, pixelised) galaxy with Gaussian noise.

    Parameters
    ----------
    profile : {"gaussian", "exponential", "devaucouleurs", "sersic", "point"}
    flux : float
        Total flux in image units.
    half_light_radius : float
        Arcsec (ignored for ``"point"``).
    n : float
        Sersic index for ``"sersic"``.
    g1, g2 : float
        Reduced shear applied to the profile (GalSim convention).
    shape : (ny, nx)
    jacobian : Jacobian, optional
        Pixel-to-world map (any non-singular matrix); its origin is ignored:
        the profile is centred on the stamp centre plus ``offset``. Default
        0.2 arcsec pixels.
    psf : galsim.GSObject, optional
        Default: Moffat (beta 3) of FWHM 0.8 arcsec (see
        :func:`galmix.sim.make_psf`).
    offset : (dx, dy)
        Pixel offset of the profile centre from the stamp centre.
    noise_sigma : float
        Standard deviation of the Gaussian noise per pixel.
    seed, rng
        Randomness for the noise (``rng`` wins if both are given).

    Returns
    -------
    obs : Observation
        Image, weight ``1/noise_sigma**2`` (ones when noiseless), Jacobian with
        origin at the true centre, PSF image observation, a ``noise`` image
        with the same statistics.
    truth : dict
        ``profile, flux, half_light_radius, n, g1, g2, x, y, u0, v0``.

    Examples
    --------
    >>> obs, truth = simulate_stamp("gaussian", flux=100.0, half_light_radius=0.4, seed=1)
    >>> round(float(obs.image.sum()), 1)
    100.0
    """
    import galsim

    from galmix.image import Observation
    from galmix.sim.psf import make_psf, psf_observation

    if profile not in _PROFILES:
        raise GalmixValueError(f"profile must be one of {_PROFILES}, got {profile!r}")
    if not np.isfinite(flux):
        raise GalmixValueError(f"flux must be finite, got {flux!r}")
    if profile != "point" and not half_light_radius > 0:
        raise GalmixValueError(f"half_light_radius must be positive, got {half_light_radius!r}")
    if not g1 * g1 + g2 * g2 < 1:
        raise GalmixValueError(f"|g| must be < 1, got g1={g1!r}, g2={g2!r}")
    if noise_sigma < 0:
        raise GalmixValueError(f"noise_sigma must be >= 0, got {noise_sigma!r}")
    ny, nx = int(shape[0]), int(shape[1])
    jac = jacobian if jacobian is not None else Jacobian.from_scale(0.2)
    psf = psf if psf is not None else make_psf("moffat", fwhm=0.8, beta=3.0)
    gal = _galsim_profile(profile, flux, half_light_radius, n)
    if g1 or g2:
        gal = gal.shear(g1=g1, g2=g2)
    conv = galsim.Convolve(gal, psf)
    gwcs = galsim.JacobianWCS(jac.dudx, jac.dudy, jac.dvdx, jac.dvdy)
    img = conv.drawImage(nx=nx, ny=ny, wcs=gwcs, offset=offset).array.astype(np.float64)
    xc = (nx - 1) / 2.0 + float(offset[0])
    yc = (ny - 1) / 2.0 + float(offset[1])
    gen = rng if rng is not None else np.random.default_rng(seed)
    if noise_sigma > 0:
        img = img + gen.normal(0.0, noise_sigma, img.shape)
        noise = gen.normal(0.0, noise_sigma, img.shape)
        weight = np.full(img.shape, 1.0 / noise_sigma**2)
    else:
        noise = None
        weight = np.ones(img.shape)
    jac_c = Jacobian(jac.dudx, jac.dudy, jac.dvdx, jac.dvdy, x0=xc, y0=yc)
    obs = Observation(
        img,
        weight=weight,
        jacobian=jac_c,
        psf=psf_observation(psf, jac, psf_size),
        noise=noise,
        meta=dict(meta or {}),
    )
    truth = {
        "profile": profile,
        "flux": float(flux),
        "half_light_radius": float(half_light_radius),
        "n": float(n),
        "g1": float(g1),
        "g2": float(g2),
        "x": xc,
        "y": yc,
        "u0": 0.0,
        "v0": 0.0,
    }
    return obs, truth


def simulate_multiband_stamp(
    fluxes: Mapping[str, float],
    psfs: Mapping[str, Any] | None = None,
    noise_sigma: Mapping[str, float] | float = 0.0,
    seed: int | None = None,
    bands_order: Sequence[str] | None = None,
    **kwargs: Any,
) -> tuple[Any, dict[str, Any]]:
    """One galaxy in several bands (same shape, per-band flux, PSF and noise).

    Returns
    -------
    mbobs : MultiBandObservation
    truth : dict
        As :func:`simulate_stamp`, with ``flux`` a dict band -> flux.

    Examples
    --------
    >>> mb, truth = simulate_multiband_stamp({"g": 50.0, "r": 100.0}, seed=2)
    >>> mb.bands
    ['g', 'r']
    """
    from galmix.image import MultiBandObservation

    bands = list(bands_order or fluxes)
    rng = np.random.default_rng(seed)
    out = {}
    truth: dict[str, Any] = {}
    for b in bands:
        sig = noise_sigma[b] if isinstance(noise_sigma, Mapping) else float(noise_sigma)
        obs, t = simulate_stamp(
            flux=float(fluxes[b]),
            psf=None if psfs is None else psfs[b],
            noise_sigma=sig,
            rng=rng,
            meta={"band": b},
            **kwargs,
        )
        out[b] = obs
        truth = t
    truth["flux"] = {b: float(fluxes[b]) for b in bands}
    return MultiBandObservation(out), truth
