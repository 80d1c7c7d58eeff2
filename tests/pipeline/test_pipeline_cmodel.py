"""CModel fits through the pipeline."""

from __future__ import annotations

import numpy as np

from galmix.pipeline.run import run_pipeline
from galmix.pipeline.store import read_parquet_table

from .conftest import tiny_overrides


def test_cmodel_fits_in_pipeline(tiny_field, tmp_path) -> None:
    """``fit.model: expdev`` (CModel, no centre errors) runs through the pipeline."""
    _, cfg = tiny_field
    ov = tiny_overrides(tmp_path / "cmodel")
    ov["measurement"] = {**ov["measurement"], "fit": {"model": "expdev", "multiband": False}}
    res = run_pipeline(cfg, overrides=ov, progress=False, report=False)
    cat = read_parquet_table(res.catalog["parquet"])
    ok = np.asarray(cat["fit_flags"]) == 0
    assert ok.sum() >= len(cat) // 2
    assert np.all(np.isfinite(np.asarray(cat["fit_chi2"])[ok]))
