"""Bad-input matrix, part 2: metacal, detection, catalogs, configs, files, photo-z.

Untrusted input (FITS, YAML, catalogs, model files) must give clear typed
errors and must never execute anything.
"""

import math

import numpy as np
import pytest

from galmix import Jacobian, Observation
from galmix.errors import ConfigError, GalmixError, GalmixIOError


def _gauss(n=33, sigma=2.0, flux=100.0):
    y, x = np.mgrid[0:n, 0:n] - (n - 1) / 2.0
    return flux * np.exp(-0.5 * (x**2 + y**2) / sigma**2) / (2 * np.pi * sigma**2)


def _psf(n=25, sigma=1.5, flux=1.0):
    c = (n - 1) / 2.0
    return Observation(_gauss(n, sigma, flux), jacobian=Jacobian.from_scale(0.263, c, c))


def _gal(**kw):
    kw.setdefault("psf", _psf())
    kw.setdefault("jacobian", Jacobian.from_scale(0.263, 16, 16))
    return Observation(_gauss(33, 2.5), **kw)


# ------------------------------------------------------------------------- metacal
class TestMetacal:
    @pytest.fixture(autouse=True)
    def _imports(self):
        from galmix.shear import metacal, reconvolve

        self.metacal, self.reconvolve = metacal, reconvolve

    def test_missing_psf(self):
        with pytest.raises((ValueError, TypeError)) as exc:
            self.metacal(_gal(psf=None), rng=np.random.default_rng(1))
        assert "psf" in str(exc.value)

    def test_bad_kernel_name(self):
        with pytest.raises(ValueError, match="psf"):
            self.metacal(_gal(), psf="gaussian-ish", rng=np.random.default_rng(1))

    @pytest.mark.parametrize("step", [0.0, -0.01, np.nan, 1.5])
    def test_bad_step(self, step):
        with pytest.raises(ValueError, match="step"):
            self.metacal(_gal(), step=step, rng=np.random.default_rng(1))

    def test_bad_type_name(self):
        with pytest.raises(ValueError, match="types"):
            self.metacal(_gal(), types=("noshear", "3p"), rng=np.random.default_rng(1))

    @pytest.mark.parametrize("flux", [0.0, -1.0])
    def test_nonpositive_psf_flux(self, flux):
        psf = Observation(
            _gauss(25, 1.5, 1.0) * flux if flux else np.zeros((25, 25)),
            jacobian=Jacobian.from_scale(0.263, 12, 12),
        )
        with pytest.raises(ValueError, match="psf"):
            self.metacal(_gal(psf=psf), rng=np.random.default_rng(1))

    def test_psf_far_off_centre_is_finite_or_raises(self):
        img = np.zeros((25, 25))
        img[:, :] = _gauss(25, 1.5, 1.0)[:, :]
        img = np.roll(np.roll(img, 10, axis=0), 10, axis=1)
        psf = Observation(img, jacobian=Jacobian.from_scale(0.263, 12, 12))
        try:
            out = self.metacal(_gal(psf=psf), rng=np.random.default_rng(1))
        except GalmixError:
            return
        for o in out.values():
            assert np.isfinite(o.image).all()

    def test_stamp_smaller_than_psf(self):
        gal = Observation(
            _gauss(9, 1.5), jacobian=Jacobian.from_scale(0.263, 4, 4), psf=_psf(41, 3.0)
        )
        try:
            out = self.metacal(gal, rng=np.random.default_rng(2))
        except GalmixError as exc:
            assert "psf" in str(exc).lower() or "shape" in str(exc).lower()
            return
        for o in out.values():
            assert np.isfinite(o.image).all()

    def test_bad_target_psf(self):
        with pytest.raises((TypeError, ValueError)) as exc:
            self.reconvolve(_gal(), "round")
        assert "target_psf" in str(exc.value)

    def test_masked_stamp_stays_finite(self):
        mask = np.zeros((33, 33), bool)
        mask[10:20, 5:8] = True
        out = self.metacal(_gal(mask=mask), rng=np.random.default_rng(4))
        for o in out.values():
            assert np.isfinite(o.image).all() and np.isfinite(o.weight).all()


# ----------------------------------------------------------------- detection & I/O
class TestDetectAndFiles:
    def test_detect_bad_image(self):
        from galmix.detect import detect

        with pytest.raises((ValueError, TypeError)) as exc:
            detect(np.ones(10))
        assert "image" in str(exc.value)

    def test_detect_empty_image_gives_empty_catalog(self):
        from galmix.detect import detect

        det = detect(
            np.random.default_rng(0).normal(size=(64, 64)),
            variance=np.ones((64, 64)),
            threshold=50.0,
        )
        assert len(det.catalog) == 0
        assert det.segmentation.max() == 0

    def test_photometry_empty_catalog(self):
        from galmix.detect import detect, photometry

        img = np.random.default_rng(0).normal(size=(64, 64))
        det = detect(img, variance=np.ones((64, 64)), threshold=50.0)
        phot = photometry(img, np.ones((64, 64)), det.catalog, det.segmentation)
        assert len(phot) == 0

    def test_read_image_text_file(self, tmp_path):
        from galmix.detect import read_image

        p = tmp_path / "image.fits"
        p.write_text("SIMPLE? no, this is a text file\n")
        with pytest.raises(GalmixIOError):
            read_image(p)

    def test_read_image_truncated(self, tmp_path):
        from astropy.io import fits

        from galmix.detect import read_image

        p = tmp_path / "trunc.fits"
        fits.PrimaryHDU(np.ones((200, 200), dtype=np.float32)).writeto(p)
        data = p.read_bytes()
        p.write_bytes(data[: len(data) // 3])
        with pytest.raises(GalmixIOError):
            read_image(p)

    def test_crossmatch_empty(self):
        from galmix.catalog import crossmatch

        idx, sep = crossmatch(np.array([]), np.array([]), np.array([1.0]), np.array([1.0]), 1.0)
        assert len(idx) == 0 and len(sep) == 0
        idx, sep = crossmatch(np.array([1.0]), np.array([1.0]), np.array([]), np.array([]), 1.0)
        assert idx.tolist() == [-1]

    def test_read_catalog_corrupt(self, tmp_path):
        from galmix.catalog import read_catalog

        p = tmp_path / "catalog.parquet"
        p.write_bytes(b"PAR1 definitely not parquet")
        with pytest.raises(GalmixError):
            read_catalog(p)


# ------------------------------------------------------------------------- configs
HOSTILE = """
output: out
bands:
  r:
    image: !!python/object/apply:os.system ["touch {marker}"]
"""


class TestConfig:
    @pytest.fixture(autouse=True)
    def _imports(self):
        from galmix.pipeline.config import load_config

        self.load = load_config

    def test_hostile_yaml_tag_does_not_execute(self, tmp_path):
        marker = tmp_path / "pwned"
        cfg = tmp_path / "c.yaml"
        cfg.write_text(HOSTILE.format(marker=marker))
        with pytest.raises(ConfigError):
            self.load(cfg)
        assert not marker.exists()

    def test_unknown_key_named(self, tmp_path):
        (tmp_path / "r.fits").write_bytes(b"")
        with pytest.raises(ConfigError, match="detecton"):
            self.load(
                {"output": "o", "bands": {"r": {"image": "r.fits"}}, "detecton": {}},
                base_dir=tmp_path,
                check_files=False,
            )

    def test_wrong_type_named(self, tmp_path):
        with pytest.raises(ConfigError, match="threshold"):
            self.load(
                {
                    "output": "o",
                    "bands": {"r": {"image": "r.fits"}},
                    "detection": {"threshold": "high"},
                },
                base_dir=tmp_path,
                check_files=False,
            )

    def test_missing_file_named(self, tmp_path):
        with pytest.raises(ConfigError, match="image"):
            self.load({"output": "o", "bands": {"r": {"image": "missing.fits"}}}, base_dir=tmp_path)

    def test_not_a_mapping(self, tmp_path):
        cfg = tmp_path / "c.yaml"
        cfg.write_text("- just\n- a list\n")
        with pytest.raises(ConfigError):
            self.load(cfg)

    def test_invalid_yaml(self, tmp_path):
        cfg = tmp_path / "c.yaml"
        cfg.write_text("output: [unclosed\n")
        with pytest.raises(ConfigError):
            self.load(cfg)


# -------------------------------------------------------------------------- photo-z
class TestPhotoz:
    def test_metrics_length_mismatch(self):
        from galmix.photoz import metrics

        with pytest.raises(ValueError):
            metrics([0.1, 0.2], [0.1])

    def test_metrics_values(self):
        from galmix.photoz import metrics

        z = np.array([0.1, 0.2, 0.3, 0.4])
        zp = np.array([0.1, 0.2, 0.3, 0.9])
        m = metrics(z, zp)
        dz = (zp - z) / (1 + z)
        assert math.isclose(m["bias"], float(np.median(dz)))
        assert math.isclose(m["outlier_fraction"], 0.25)
        assert math.isclose(m["sigma_nmad"], 1.4826 * float(np.median(np.abs(dz - np.median(dz)))))

    def test_model_file_is_not_unpickled(self, tmp_path):
        import pickle

        from galmix.photoz import load_model

        marker = tmp_path / "pwned"

        class Evil:
            def __reduce__(self):
                import os

                return (os.system, (f"touch {marker}",))

        p = tmp_path / "model.npz"
        p.write_bytes(pickle.dumps(Evil()))
        with pytest.raises(GalmixError):
            load_model(p)
        assert not marker.exists()
