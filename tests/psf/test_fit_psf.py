"""``fit_psf`` and analytic PSF mixtures against GalSim renders and real HST PSFs."""

from __future__ import annotations

import numpy as np
import pytest

from galmix.errors import FLAGS, GalmixTypeError, GalmixValueError
from galmix.geometry import Jacobian
from galmix.image import Observation
from galmix.psf import airy_gmix, fit_psf, kolmogorov_gmix, moffat_gmix
from galmix.render import draw

galsim = pytest.importorskip("galsim")

MATRICES = {
    "nonsquare": np.array([[0.18, 0.03], [-0.02, 0.22]]),
    "flipped": np.array([[0.0, 0.2], [0.2, 0.0]]),
}
G1, G2 = 0.05, 0.02
E1, E2 = 2 * G1 / (1 + G1**2 + G2**2), 2 * G2 / (1 + G1**2 + G2**2)


def _render(obj, mat, shape=(33, 33), x0=16.2, y0=15.7):
    ny, nx = shape
    im = galsim.ImageD(nx, ny, xmin=0, ymin=0)
    obj.drawImage(
        image=im,
        wcs=galsim.JacobianWCS(*mat.ravel()),
        offset=(x0 - (nx - 1) / 2, y0 - (ny - 1) / 2),
    )
    return im.array.copy(), Jacobian.from_matrix(mat, x0, y0)


def _resid(res, image, jac):
    model = draw(res.gmix.with_flux(res.flux).shift(*res.centroid), jac, image.shape)
    return float(np.abs(model - image).max() / image.max())


@pytest.mark.parametrize("name", sorted(MATRICES))
def test_gaussian_psf_exact(name):
    sigma = 0.4
    image, jac = _render(galsim.Gaussian(sigma=sigma).shear(g1=G1, g2=G2), MATRICES[name])
    res = fit_psf(Observation(image, jacobian=jac), ngauss=1)
    assert res.flags == 0
    gsq = G1**2 + G2**2
    assert res.T == pytest.approx(2 * sigma**2 * (1 + gsq) / (1 - gsq), rel=1e-4)
    assert res.e1 == pytest.approx(E1, abs=1e-4)
    assert res.e2 == pytest.approx(E2, abs=1e-4)
    # GalSim puts the centre at world (0, 0) = the Jacobian origin
    assert np.hypot(*res.centroid) < 1e-5
    assert res.gmix.flux == pytest.approx(1.0)
    assert res.flux == pytest.approx(1.0, rel=1e-4)


@pytest.mark.parametrize("name", sorted(MATRICES))
@pytest.mark.parametrize("kind", ["moffat", "kolmogorov"])
def test_moffat_kolmogorov_three_gaussians(name, kind):
    obj = (
        galsim.Moffat(beta=3.5, fwhm=0.8) if kind == "moffat" else galsim.Kolmogorov(fwhm=0.8)
    ).shear(g1=G1, g2=G2)
    image, jac = _render(obj, MATRICES[name])
    res = fit_psf(Observation(image, jacobian=jac), ngauss=3)
    assert res.flags == 0
    assert _resid(res, image, jac) < 3e-3
    assert res.e1 == pytest.approx(E1, abs=3e-3)
    assert res.e2 == pytest.approx(E2, abs=3e-3)


def test_optical_psf_flags_zero_and_fits_core():
    obj = galsim.OpticalPSF(lam_over_diam=0.25, defocus=0.2, obscuration=0.2)
    image, jac = _render(obj, MATRICES["nonsquare"])
    res = fit_psf(Observation(image, jacobian=jac), ngauss=4)
    assert res.flags == 0
    assert _resid(res, image, jac) < 0.15
    assert res.flux == pytest.approx(image.sum(), rel=0.05)


def test_noisy_moffat(rng):
    image, jac = _render(
        galsim.Moffat(beta=3.5, fwhm=0.8).shear(g1=G1, g2=G2), MATRICES["nonsquare"]
    )
    image = 1000.0 * image
    sigma = 0.5
    noisy = image + rng.normal(0.0, sigma, image.shape)
    obs = Observation(noisy, weight=np.full(image.shape, sigma**-2), jacobian=jac)
    res = fit_psf(obs, ngauss=3)
    assert res.flags == 0
    assert 0.85 < res.chi2 / res.dof < 1.15
    assert res.flux == pytest.approx(1000.0, rel=0.02)


class _Raw:
    """Duck-typed PSF observation that bypasses Observation validation."""

    def __init__(self, image, weight, jacobian):
        self.image, self.weight, self.jacobian = image, weight, jacobian


def test_bad_data_sets_flags_never_raises():
    jac = Jacobian.from_scale(0.2, 10, 10)
    zero = np.zeros((21, 21))
    res = fit_psf(_Raw(zero, np.ones_like(zero), jac))
    assert res.flags & FLAGS.PSF_FIT_FAILED and res.flags & FLAGS.NO_FLUX and res.gmix is None
    res = fit_psf(_Raw(np.full((21, 21), np.nan), np.ones((21, 21)), jac))
    assert res.flags & FLAGS.PSF_FIT_FAILED and res.flags & FLAGS.NONFINITE_PIXELS
    res = fit_psf(_Raw(np.ones((21, 21)), np.zeros((21, 21)), jac))
    assert res.flags & FLAGS.NO_WEIGHT
    with pytest.raises(GalmixTypeError, match="psf_obs"):
        fit_psf(np.ones((5, 5)))
    with pytest.raises(GalmixValueError, match="ngauss"):
        fit_psf(_Raw(zero, zero, jac), ngauss=9)


def test_real_hst_psfs(shared_data):
    fits = pytest.importorskip("astropy.io.fits")
    folder = shared_data / "galsim" / "real_comparison_images"
    for fname in ("AEGIS_F606w_PSF_images_01.fits", "AEGIS_F814w_PSF_images_02.fits"):
        with fits.open(folder / fname) as hdul:
            images = [np.asarray(h.data, dtype=np.float64) for h in hdul if h.data is not None]
        for image in images:
            ny, nx = image.shape
            jac = Jacobian.from_scale(0.03, (nx - 1) / 2, (ny - 1) / 2)
            res = fit_psf(Observation(image, jacobian=jac), ngauss=3)
            assert res.flags == 0
            assert _resid(res, image, jac) < 0.1
            # three Gaussians miss part of the extended Tiny Tim wings
            assert res.flux == pytest.approx(image.sum(), rel=0.1)
            assert 0.05 < np.sqrt(res.T / 2) * 2.355 < 0.2  # ACS FWHM ~ 0.1 arcsec


@pytest.mark.parametrize("beta,ngauss,tol", [(2.5, 5, 1e-3), (3.5, 5, 3e-4), (5.0, 7, 1e-5)])
def test_moffat_gmix_matches_galsim(beta, ngauss, tol):
    jac = Jacobian.from_scale(0.05, 40.0, 40.0)
    ours = draw(moffat_gmix(0.8, beta, ngauss=ngauss), jac, (81, 81), method="no_pixel")
    ref = galsim.ImageD(81, 81)
    galsim.Moffat(beta=beta, fwhm=0.8).drawImage(ref, scale=0.05, method="no_pixel")
    assert np.abs(ours - ref.array).max() / ref.array.max() < tol


def test_airy_gmix_core():
    jac = Jacobian.from_scale(0.05, 40.0, 40.0)
    ours = draw(airy_gmix(0.3, ngauss=4), jac, (81, 81), method="no_pixel")
    ref = galsim.ImageD(81, 81)
    galsim.Airy(lam_over_diam=0.3).drawImage(ref, scale=0.05, method="no_pixel")
    assert np.abs(ours - ref.array).max() / ref.array.max() < 0.06
    assert ours.sum() == pytest.approx(ref.array.sum(), rel=0.01)
    with pytest.raises(GalmixValueError, match="beta"):
        moffat_gmix(1.0, 1.0)


def test_pure_noise_never_raises(rng):
    jac = Jacobian.from_scale(0.2, 12.0, 12.0)
    for seed in range(3):
        noise = np.random.default_rng(seed).normal(0.0, 1.0, (25, 25))
        res = fit_psf(Observation(noise, weight=np.ones((25, 25)), jacobian=jac), ngauss=2)
        assert isinstance(res.flags, int)
        if res.flags == 0:
            assert np.isfinite(res.T) and res.gmix is not None


def test_kolmogorov_gmix_matches_galsim():
    jac = Jacobian.from_scale(0.05, 40.0, 40.0)
    ours = draw(kolmogorov_gmix(0.8, ngauss=5), jac, (81, 81), method="no_pixel")
    ref = galsim.ImageD(81, 81)
    galsim.Kolmogorov(fwhm=0.8).drawImage(ref, scale=0.05, method="no_pixel")
    assert np.abs(ours - ref.array).max() / ref.array.max() < 3e-4


def test_fit_psf_components_stay_on_the_image_for_undersampled_psf():
    """An undersampled optical PSF (lambda/D = 1.25 px): no component runs off
    the stamp (centres used to land 100 px away with flags 0) and the size
    stays of the order of the image's own second moments."""
    galsim = pytest.importorskip("galsim")
    psf = galsim.OpticalPSF(lam_over_diam=0.25, obscuration=0.3)
    img = psf.drawImage(nx=41, ny=41, scale=0.2).array
    obs = Observation(img, jacobian=Jacobian.from_scale(0.2, 20.0, 20.0))
    yy, xx = np.mgrid[0:41, 0:41] - 20.0
    t_img = float(np.sum(img * (xx**2 + yy**2)) / img.sum()) * 0.04
    for method in ("auto", "no_pixel"):
        for ng in (1, 2, 3):
            res = fit_psf(obs, ngauss=ng, method=method)
            data = np.asarray(res.gmix.data)
            assert np.all(np.abs(data[:, 1:3]) <= 4.1), (method, ng)
            assert 0 < res.T < 2 * t_img, (method, ng, res.T, t_img)


def test_fit_psf_flags_an_image_it_cannot_describe(rng):
    """Positive noise is no PSF: the mixture's relative residual is above 1/2
    and PSF_FIT_FAILED is set instead of a silent success."""
    obs = Observation(rng.exponential(1.0, (25, 25)), jacobian=Jacobian.from_scale(0.2, 12.0, 12.0))
    res = fit_psf(obs, ngauss=2)
    assert res.flags & FLAGS.PSF_FIT_FAILED
