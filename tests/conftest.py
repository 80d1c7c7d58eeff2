"""Shared test fixtures."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("GALMIX_SHARED_DATA", REPO.parent / "shared" / "data"))


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The real test data of ``../shared/data`` (skips the test when absent)."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"shared test data not found at {SHARED_DATA}")
    return SHARED_DATA


@pytest.fixture
def rng() -> np.random.Generator:
    """A seeded random generator (fresh per test)."""
    return np.random.default_rng(12345)


_WARMUP = """
import tempfile
from pathlib import Path
from galmix.pipeline.run import run_pipeline
from galmix.sim import simulate_field
from tests.pipeline.conftest import TINY, tiny_overrides
with tempfile.TemporaryDirectory() as d:
    cfg = simulate_field(**TINY).write(Path(d) / "in", config_overrides={"tiles": {"size": 110, "overlap": 16}})
    run_pipeline(cfg, overrides=tiny_overrides(Path(d) / "out"), progress=False, report=False)
"""


def pytest_configure(config) -> None:
    """Fill numba's on-disk cache once, before any parallel test worker starts.

    Kernels compiled by several processes at the same moment (pytest-xdist
    workers on a cold cache) can end up as numerically different variants
    (last bits; docs/reliability.md, known issues), which the bit-identity
    tests of the pipeline then see. The controller process runs the tiny
    pipeline once in a subprocess so that every later process loads the same
    cached kernels.
    """
    if hasattr(config, "workerinput") or os.environ.get("GALMIX_TEST_NO_WARMUP"):
        return
    root = Path(__file__).resolve().parents[1]
    import galmix

    paths = [str(root), str(Path(galmix.__file__).resolve().parents[1])]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([*paths, os.environ.get("PYTHONPATH", "")])}
    with tempfile.TemporaryDirectory():
        subprocess.run(
            [sys.executable, "-c", _WARMUP],
            env=env,
            cwd=root,
            timeout=1200,
            check=False,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
