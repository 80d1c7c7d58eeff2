"""GalSim-simulated fields with known truth for detection/photometry tests."""

from __future__ import annotations

import numpy as np
import pytest

PIXEL_SCALE = 0.2  # arcsec
NOISE_SIGMA = 1.0
SKY = 100.0


def simulate_field(
    seed: int = 7,
    size: int = 384,
    n_gal: int = 60,
    n_star: int = 15,
    min_sep: float = 18.0,
    psf_fwhm: float = 0.8,
):
    """A sky-noise-limited field of exponential/de Vaucouleurs galaxies and stars.

    Objects are drawn with GalSim (Moffat PSF, pixel-integrated) at random
    non-overlapping positions (separation >= ``min_sep`` pixels). Returns
    ``(image_with_sky_and_noise, noiseless_image, truth)`` where truth holds
    0-based ``x``, ``y``, ``flux`` and ``kind``.
    """
    import galsim
    from astropy.table import Table

    rng = np.random.default_rng(seed)
    psf = galsim.Moffat(beta=3.0, fwhm=psf_fwhm)
    image = galsim.ImageD(size, size, scale=PIXEL_SCALE)
    xs, ys = [], []
    n = n_gal + n_star
    while len(xs) < n:
        x, y = rng.uniform(20, size - 21, 2)
        if all((x - a) ** 2 + (y - b) ** 2 >= min_sep**2 for a, b in zip(xs, ys)):
            xs.append(x)
            ys.append(y)
    rows = []
    for i in range(n):
        flux = float(10 ** rng.uniform(2.3, 4.3))
        if i < n_gal:
            hlr = float(rng.uniform(0.25, 0.7))
            if rng.uniform() < 0.7:
                gal = galsim.Exponential(half_light_radius=hlr, flux=flux)
                kind = "exp"
            else:
                gal = galsim.DeVaucouleurs(half_light_radius=hlr, flux=flux, trunc=8 * hlr)
                kind = "dev"
            g = rng.uniform(-0.3, 0.3, 2)
            gal = gal.shear(g1=g[0], g2=g[1])
        else:
            gal = galsim.DeltaFunction(flux=flux)
            hlr = 0.0
            kind = "star"
        obj = galsim.Convolve(gal, psf)
        x, y = xs[i], ys[i]
        ix, iy = int(np.floor(x + 0.5)), int(np.floor(y + 0.5))
        stamp = obj.drawImage(
            nx=63, ny=63, scale=PIXEL_SCALE, offset=(x - ix, y - iy), dtype=np.float64
        )
        stamp.setCenter(ix + 1, iy + 1)  # GalSim is 1-based
        b = stamp.bounds & image.bounds
        image[b] += stamp[b]
        rows.append((x, y, stamp.array.sum(), flux, hlr, kind))
    truth = Table(rows=rows, names=("x", "y", "flux_drawn", "flux", "hlr", "kind"))
    clean = image.array.copy()
    noisy = clean + SKY + rng.normal(0.0, NOISE_SIGMA, clean.shape)
    return noisy, clean, truth


@pytest.fixture(scope="session")
def galsim_field():
    pytest.importorskip("galsim")
    return simulate_field()
