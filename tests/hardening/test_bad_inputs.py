"""Bad-input matrix: single-object calls raise typed errors naming the parameter,
batch calls flag and keep the row, nothing returns a silent NaN.

One test case per (entry point, bad input). The counts are reported in
docs/reliability.md.
"""

import math

import numpy as np
import pytest

from galmix import FLAGS, Jacobian, Observation
from galmix.errors import GalmixError

JAC = Jacobian.from_scale(0.2, x0=15.0, y0=15.0)


def _gauss_image(n=31, sigma=2.0, flux=100.0, noise=0.0, rng=None):
    y, x = np.mgrid[0:n, 0:n] - (n - 1) / 2.0
    im = flux * np.exp(-0.5 * (x**2 + y**2) / sigma**2) / (2 * np.pi * sigma**2)
    if noise:
        im = im + rng.normal(scale=noise, size=im.shape)
    return im


def _psf_obs():
    return Observation(_gauss_image(25, 1.5, 1.0), jacobian=Jacobian.from_scale(0.2, 12, 12))


def _obs(**kw):
    kw.setdefault("jacobian", JAC)
    return Observation(_gauss_image(), **kw)


# --------------------------------------------------------------------------- draw
class TestDraw:
    @pytest.fixture(autouse=True)
    def _imports(self):
        from galmix.profiles import Exponential, Gaussian
        from galmix.render import draw

        self.draw, self.Gaussian, self.Exponential = draw, Gaussian, Exponential

    @pytest.mark.parametrize("shape", [(0, 5), (-3, 4), (5,), "ab", (2.5, 3)])
    def test_bad_shape(self, shape):
        with pytest.raises((ValueError, TypeError)) as exc:
            self.draw(self.Gaussian(1.0, 1.0), JAC, shape)
        assert "shape" in str(exc.value)

    def test_bad_method(self):
        with pytest.raises(ValueError, match="method"):
            self.draw(self.Gaussian(1.0, 1.0), JAC, (8, 8), method="fft-ish")

    def test_bad_profile(self):
        with pytest.raises((TypeError, ValueError)) as exc:
            self.draw("galaxy", JAC, (8, 8))
        assert "profile" in str(exc.value)

    def test_bad_jacobian_type(self):
        with pytest.raises((TypeError, ValueError)) as exc:
            self.draw(self.Gaussian(1.0, 1.0), np.eye(2), (8, 8))
        assert "jacobian" in str(exc.value)

    @pytest.mark.parametrize("value", [np.nan, np.inf, -1.0, 0.0])
    def test_bad_size(self, value):
        with pytest.raises(ValueError) as exc:
            self.Exponential(1.0, half_light_radius=value)
        assert "half_light_radius" in str(exc.value)

    def test_nonfinite_flux(self):
        with pytest.raises(ValueError, match="flux"):
            self.Gaussian(np.nan, 1.0)

    @pytest.mark.parametrize("g", [(1.0, 0.0), (0.8, 0.8), (np.nan, 0.0)])
    def test_bad_shear(self, g):
        with pytest.raises(ValueError) as exc:
            self.Gaussian(1.0, 1.0).shear(*g)
        assert "g1" in str(exc.value) or "shear" in str(exc.value)


# ------------------------------------------------------------------------ moments
class TestMoments:
    @pytest.fixture(autouse=True)
    def _imports(self):
        from galmix.moments import adaptive_moments, gauss_moments

        self.gauss, self.adapt = gauss_moments, adaptive_moments

    @pytest.mark.parametrize("fwhm", [0.0, -1.0, np.nan, np.inf])
    def test_bad_fwhm_raises(self, fwhm):
        with pytest.raises(ValueError, match="fwhm"):
            self.gauss(_obs(), fwhm)

    def test_not_an_observation(self):
        with pytest.raises(TypeError, match="obs"):
            self.gauss(np.ones((5, 5)), 1.0)
        with pytest.raises(TypeError, match="obs"):
            self.adapt(np.ones((5, 5)))

    @pytest.mark.parametrize("which", ["gauss", "adapt"])
    def test_zero_image_flags_not_nan(self, which):
        obs = Observation(np.zeros((21, 21)), jacobian=Jacobian.from_scale(0.2, 10, 10))
        res = self.gauss(obs, 1.0) if which == "gauss" else self.adapt(obs)
        assert res.flags != 0
        assert not math.isnan(res.flux) or res.flags != 0

    @pytest.mark.parametrize("which", ["gauss", "adapt"])
    def test_negative_image_flags(self, which):
        obs = Observation(-_gauss_image(21), jacobian=Jacobian.from_scale(0.2, 10, 10))
        res = self.gauss(obs, 1.0) if which == "gauss" else self.adapt(obs)
        assert res.flags & (FLAGS.NO_FLUX | FLAGS.NONPOSITIVE_MOMENTS | FLAGS.NOT_CONVERGED)

    def test_pure_noise_adaptive_never_raises(self):
        rng = np.random.default_rng(3)
        for _ in range(10):
            obs = Observation(rng.normal(size=(21, 21)), jacobian=Jacobian.from_scale(0.2, 10, 10))
            res = self.adapt(obs)
            if res.flags == 0:
                assert np.isfinite([res.T, res.e1, res.e2, res.flux]).all()

    def test_mostly_masked(self):
        mask = np.ones((31, 31), bool)
        mask[0, 0] = False
        obs = Observation(_gauss_image(), mask=mask, jacobian=JAC)
        res = self.adapt(obs)
        assert res.flags != 0


# ----------------------------------------------------------------------- fitting
class TestFit:
    @pytest.fixture(autouse=True)
    def _imports(self):
        from galmix.fit import fit, fit_batch

        self.fit, self.fit_batch = fit, fit_batch

    def test_unknown_model(self):
        with pytest.raises(ValueError, match="model"):
            self.fit(_obs(psf=_psf_obs()), "blob")

    def test_not_an_observation(self):
        with pytest.raises(TypeError, match="obs"):
            self.fit(np.ones((5, 5)), "gauss")

    def test_bad_guess_key(self):
        with pytest.raises(ValueError, match="guess"):
            self.fit(_obs(psf=_psf_obs()), "gauss", guess={"radius": 1.0})

    def test_zero_image_flags(self):
        obs = Observation(np.zeros((31, 31)), jacobian=JAC, psf=_psf_obs())
        res = self.fit(obs, "exp")
        assert res.flags != 0

    def test_pure_noise_never_raises(self):
        rng = np.random.default_rng(7)
        obs = Observation(rng.normal(size=(31, 31)), jacobian=JAC, psf=_psf_obs())
        res = self.fit(obs, "sersic")
        if res.flags == 0:
            assert all(np.isfinite(v) for v in np.ravel(list(res.params.values())))

    def test_batch_keeps_bad_rows(self):
        rng = np.random.default_rng(1)
        good = Observation(_gauss_image(noise=0.01, rng=rng), jacobian=JAC, psf=_psf_obs())
        zero = Observation(np.zeros((31, 31)), jacobian=JAC, psf=_psf_obs())
        nopsf = Observation(_gauss_image(), jacobian=JAC)
        table = self.fit_batch([good, zero, nopsf, good], "exp")
        assert len(table) == 4
        assert table["flags"][0] == 0 and table["flags"][3] == 0
        assert table["flags"][1] != 0


def test_galmix_errors_are_builtin_subclasses_everywhere():
    # every public raise above is also a GalmixError, so users can catch one base
    with pytest.raises(GalmixError):
        Observation(np.ones((3, 3)), weight=-np.ones((3, 3)))
