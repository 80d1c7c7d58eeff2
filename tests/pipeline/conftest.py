"""A tiny simulated field and pipeline runs shared by the pipeline tests (built once)."""

from __future__ import annotations

from pathlib import Path

import pytest

TINY = {
    "bands": ("g", "r"),
    "shape": (220, 220),
    "n_galaxies": 14,
    "n_stars": 3,
    "seed": 11,
}


def tiny_overrides(out: Path, kind: str = "serial") -> dict:
    return {
        "output": str(out),
        "tiles": {"size": 110, "overlap": 16},
        "executor": {"kind": kind, "workers": 2, "scheduler": None},
        "measurement": {"stamp_size": 32, "apertures_arcsec": [1.0, 2.0]},
        "photoz": {"model": None, "train": False},
    }


@pytest.fixture(scope="session")
def tiny_field(tmp_path_factory) -> tuple[object, Path]:
    from galmix.sim import simulate_field

    d = tmp_path_factory.mktemp("tiny_field")
    field = simulate_field(**TINY)
    cfg = field.write(d, config_overrides={"tiles": {"size": 110, "overlap": 16}})
    return field, cfg


@pytest.fixture(scope="session")
def serial_run(tiny_field, tmp_path_factory):
    from galmix.pipeline.run import run_pipeline

    _, cfg = tiny_field
    out = tmp_path_factory.mktemp("serial_out")
    # The reference run happens in a fresh interpreter, as `galmix run` does:
    # results of a process that already ran other fits can differ in the last
    # bits (see docs/reliability.md, known issues); the other executors also
    # start fresh processes.
    import os
    import subprocess
    import sys

    import galmix

    code = (
        "from pathlib import Path; from galmix.pipeline.run import run_pipeline; "
        "from tests.pipeline.conftest import tiny_overrides; "
        f"run_pipeline({str(cfg)!r}, overrides=tiny_overrides(Path({str(out)!r})), "
        "progress=False, report=False)"
    )
    paths = [
        str(Path(__file__).resolve().parents[2]),
        str(Path(galmix.__file__).resolve().parents[1]),
        os.environ.get("PYTHONPATH", ""),
    ]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(paths)}
    # a first run fills numba's on-disk cache: code compiled in memory and code
    # loaded from the cache can differ in the last bits (docs/reliability.md),
    # and every later process (workers, resumes) loads from the cache
    warm = tmp_path_factory.mktemp("warm_out")
    subprocess.run(
        [sys.executable, "-c", code.replace(repr(str(out)), repr(str(warm)))],
        env=env,
        check=True,
        timeout=900,
    )
    subprocess.run([sys.executable, "-c", code], env=env, check=True, timeout=900)
    # resume in this process: every tile is already done, only the merge runs
    res = run_pipeline(cfg, overrides=tiny_overrides(out), progress=False, report=False)
    assert res.n_tiles_run == 0
    return res
