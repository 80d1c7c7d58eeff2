"""PSF estimated from the stars of a simulated image vs the true (GalSim) PSF."""

from __future__ import annotations

import numpy as np
import pytest


def _weighted_T(img: np.ndarray, sigma: float = 3.0) -> float:
    """Second moment x^2 + y^2 (pixels^2) with a fixed Gaussian weight: robust to noisy wings."""
    n = img.shape[0]
    yy, xx = np.mgrid[0:n, 0:n] - n // 2
    w = img * np.exp(-0.5 * (xx**2 + yy**2) / sigma**2)
    return float((w * (xx**2 + yy**2)).sum() / w.sum())


@pytest.fixture(scope="module")
def starry(tmp_path_factory):
    from galmix.sim import simulate_field

    field = simulate_field(
        bands=("g", "r"), shape=(420, 420), n_galaxies=25, n_stars=45, seed=8, psf_fwhm={"r": 1.0}
    )
    d = tmp_path_factory.mktemp("starry")
    cfg = field.write(d)
    return field, cfg


def test_psf_from_stars_matches_truth(starry) -> None:
    from galmix.pipeline.psf_stars import estimate_psf_from_stars
    from galmix.sim import draw_psf_image, make_psf

    field, _ = starry
    psf, nstars = estimate_psf_from_stars(
        field.images["r"], np.full((420, 420), field.noise_sigma["r"] ** 2)
    )
    assert nstars >= 5
    jac = field.wcs("r").jacobian(209.5, 209.5)
    truth = draw_psf_image(make_psf("moffat", fwhm=1.0, beta=3.0), jac, 41)
    t_est, t_true = _weighted_T(psf), _weighted_T(truth)
    assert abs(t_est / t_true - 1) < 0.05
    assert abs(psf.max() / truth.max() - 1) < 0.1


def test_pipeline_with_psf_from_stars(starry, tmp_path) -> None:
    from galmix.pipeline.run import run_pipeline
    from galmix.pipeline.store import read_parquet_table

    _, cfg = starry
    ov = {
        "output": str(tmp_path / "out"),
        "bands": {
            "r": {"image": "image-r.fits", "psf": {"model": "stars"}},
            "g": {"image": "image-g.fits", "psf": {"model": "stars"}},
        },
        "measurement": {"fit": {"model": "sersic", "multiband": False}, "pixel_table": False},
        "detection": {"band": "r"},
        "photoz": {"train": False},
        "tiles": {"size": 512, "overlap": 32},
    }
    res = run_pipeline(cfg, overrides=ov, progress=False, report=False)
    assert (tmp_path / "out" / "psf" / "psf-r.fits").exists()
    tm = read_parquet_table(tmp_path / "out" / "truth_match.parquet")
    star = np.asarray(tm["true_is_star"], bool) & (np.asarray(tm["match_id"]) >= 0)
    star &= np.asarray(tm["true_mag_r"]) < 21
    hlr = np.asarray(tm["fit_half_light_radius"], float)[star]
    # stars fitted with the estimated PSF are (nearly) point-like
    assert star.sum() >= 5 and np.median(hlr) < 0.12
    assert res.n_objects > 40
