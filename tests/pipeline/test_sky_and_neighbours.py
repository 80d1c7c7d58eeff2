"""Sky and neighbours in the pipeline: the object-masked second background pass
(background.mask_objects) and the refit with neighbours' models and the
model-based sky removed (measurement.fit.subtract_neighbours)."""

from __future__ import annotations

import numpy as np
import pytest

from galmix.pipeline.run import run_pipeline
from galmix.pipeline.store import read_parquet_table


def _dmag(out) -> np.ndarray:
    tm = read_parquet_table(out / "truth_match.parquet")
    ok = (
        (np.asarray(tm["match_id"]) >= 0)
        & ~np.asarray(tm["true_is_star"], bool)
        & (np.asarray(tm["fit_flags"]) == 0)
        & (np.asarray(tm["true_mag_r"]) < 22.0)
    )
    return -2.5 * np.log10(np.asarray(tm["fit_flux_r"])[ok] / np.asarray(tm["true_flux_r"])[ok])


@pytest.mark.slow
def test_masked_sky_and_neighbour_subtraction_reduce_flux_errors(tmp_path) -> None:
    """Sersic fluxes of a crowded field with zero sky (GalSim renders, 0.2"/px,
    60 galaxies in 400x400 px) against the truth. The old scheme (one unmasked
    mesh background, neighbours' footprints masked but their wings left in) is
    compared with the new scheme (object-masked background, then every object
    refit with its neighbours' models and the model-based sky removed,
    ``subtract_neighbours: true``): the new scheme's median bias of r < 22 galaxies is within 0.02 mag and its
    robust scatter is smaller."""
    from galmix.sim import simulate_field

    field = simulate_field(bands=("r",), shape=(400, 400), n_galaxies=60, n_stars=0, seed=3)
    cfg = field.write(tmp_path / "in")
    runs = {
        "default": {"measurement": {"fit": {"model": "sersic", "subtract_neighbours": True}}},
        "old": {
            "background": {"mask_objects": False},
            "measurement": {"fit": {"model": "sersic", "subtract_neighbours": False}},
        },
    }
    stats = {}
    for name, ov in runs.items():
        out = tmp_path / name
        meas = {"moments": False, "pixel_table": False, **ov.get("measurement", {})}
        run_pipeline(
            cfg,
            overrides={
                "output": str(out),
                "executor": {"kind": "serial"},
                "background": ov.get("background", {}),
                "measurement": meas,
                "photoz": {"model": None, "train": False},
            },
            progress=False,
            report=False,
        )
        d = _dmag(out)
        med = float(np.median(d))
        stats[name] = (med, float(1.4826 * np.median(np.abs(d - med))), len(d))
    assert stats["default"][2] >= 15, stats
    assert abs(stats["default"][0]) < 0.02, stats
    assert stats["default"][1] < 0.9 * stats["old"][1], stats
