"""``format: sdss`` inputs: SDSS-style frames (calibrated image + error model) through the pipeline."""

from __future__ import annotations

import numpy as np
import pytest


def test_sdss_frames_to_catalog(tmp_path) -> None:
    sdss = pytest.importorskip("galmix.sdss.synthetic")
    from galmix.catalog import crossmatch
    from galmix.pipeline.run import run_pipeline
    from galmix.pipeline.store import read_parquet_table

    frames, sources = sdss.write_synthetic_field(
        tmp_path, bands=("g", "r"), nsources=5, compress=False, seed=2, shape=(240, 300)
    )
    cfg = {
        "output": str(tmp_path / "out"),
        "bands": {
            b: {"image": str(f.path), "format": "sdss", "psf": {"fwhm": 1.4}}
            for b, f in frames.items()
        },
        "detection": {"band": "r", "threshold": 3.0},
        "registration": {"method": "interp", "reference": "r"},
        "measurement": {"fit": None, "pixel_table": False},
        "tiles": {"size": 512, "overlap": 32},
    }
    res = run_pipeline(cfg, progress=False, report=False)
    cat = read_parquet_table(res.catalog["parquet"])
    idx, _ = crossmatch(sources["ra"], sources["dec"], cat["ra"], cat["dec"], 1.0)
    assert np.all(idx >= 0)
    # fluxes in nanomaggies, zero point 22.5
    assert np.all(np.asarray(cat["r_zeropoint"]) == 22.5)
    rel = np.asarray(cat["r_flux_auto"])[idx] / np.asarray(sources["flux"])
    assert np.all(np.abs(rel - 1) < 0.1)
    # errors from the SDSS calibration model are finite and positive
    assert np.all(np.asarray(cat["r_flux_auto_err"])[idx] > 0)
