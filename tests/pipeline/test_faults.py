"""Fault injection: killed Dask workers and killed runs at random points.

The final catalog must be bit-identical to an uninterrupted serial run.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from galmix.pipeline.run import run_pipeline
from galmix.pipeline.store import read_parquet_table

from .conftest import tiny_overrides


def _identical(a, b) -> None:
    assert a.colnames == b.colnames and len(a) == len(b)
    for c in a.colnames:
        x, y = np.asarray(a[c]), np.asarray(b[c])
        if x.dtype.kind == "f":
            assert np.array_equal(x.view(np.int64), y.view(np.int64)), c
        else:
            assert np.array_equal(x, y), c


@pytest.mark.slow
def test_dask_worker_killed_mid_run(serial_run, tiny_field, tmp_path) -> None:
    distributed = pytest.importorskip("distributed")
    _, cfg = tiny_field
    out = tmp_path / "dask-kill"
    cluster = distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None
    )
    client = distributed.Client(cluster)
    state = {"killed": False, "stop": False}

    def _killer() -> None:
        # kill a worker while it is computing a tile
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline and not state["stop"]:
            busy = [w for w, tasks in client.processing().items() if tasks]
            if busy:
                try:
                    client.run(os._exit, 1, workers=[busy[0]], wait=False)
                except Exception:
                    pass
                state["killed"] = True
                return
            time.sleep(0.05)

    # the pipeline runs in the main thread (astropy's config machinery wants
    # module-level call stacks); the fault is injected from a helper thread
    thread = threading.Thread(target=_killer, daemon=True)
    thread.start()
    ov = tiny_overrides(out, "dask")
    ov["executor"]["scheduler"] = cluster.scheduler_address
    try:
        res = run_pipeline(cfg, overrides=ov, progress=False, report=False)
    finally:
        state["stop"] = True
        thread.join(timeout=30)
        client.close()
        cluster.close()
    killed = state["killed"]
    assert killed, "no tile was ever seen running"
    _identical(
        read_parquet_table(serial_run.catalog["parquet"]),
        read_parquet_table(res.catalog["parquet"]),
    )


@pytest.mark.slow
@pytest.mark.parametrize("seed", [1, 2])
def test_sigkill_at_random_point_then_resume(serial_run, tiny_field, tmp_path, seed) -> None:
    _, cfg = tiny_field
    out = tmp_path / f"kill-{seed}"
    delay = float(np.random.default_rng(seed).uniform(0.5, 6.0))
    code = (
        "from pathlib import Path; from galmix.pipeline.run import run_pipeline; "
        "from tests.pipeline.conftest import tiny_overrides; "
        f"run_pipeline({str(cfg)!r}, overrides=tiny_overrides(Path({str(out)!r})), "
        "progress=False, report=False)"
    )
    import galmix

    # the child imports the same galmix (and these tests) as this process
    paths = [
        str(Path(__file__).resolve().parents[2]),
        str(Path(galmix.__file__).resolve().parents[1]),
        os.environ.get("PYTHONPATH", ""),
    ]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(paths)}
    proc = subprocess.Popen([sys.executable, "-c", code], env=env)
    try:
        proc.wait(timeout=delay)
    except subprocess.TimeoutExpired:
        proc.kill()  # SIGKILL: no cleanup handlers run
    proc.wait()
    # resumed tiles are computed in fresh worker processes (see conftest)
    res = run_pipeline(
        cfg, overrides=tiny_overrides(out, "processes"), progress=False, report=False
    )
    _identical(
        read_parquet_table(serial_run.catalog["parquet"]),
        read_parquet_table(res.catalog["parquet"]),
    )
    # nothing half-written is left behind under a final name
    leftovers = [p for p in out.rglob("*") if p.name.startswith(".") and "tmp" in p.name]
    assert not leftovers, leftovers


def test_resume_removes_temporaries_of_a_killed_run(tiny_field, tmp_path) -> None:
    """A SIGKILL between write and rename leaves hidden ``*.tmp`` files; resuming removes them."""
    _, cfg = tiny_field
    out = tmp_path / "planted"
    first = run_pipeline(cfg, overrides=tiny_overrides(out), progress=False, report=False)
    finals = sorted(p for p in out.rglob("*") if p.is_file() and not p.name.startswith("."))
    planted = [out / ".catalog.abc123.fits.tmp", out / ".manifest.json.99.deadbeef.tmp"]
    sub = next(p for p in out.rglob("*") if p.is_dir())
    planted.append(sub / ".tile.parquet.1.0badc0de.tmp")
    for p in planted:
        p.write_bytes(b"half-written")
    keep = out / ".notes"  # a hidden file that is not a galmix temporary stays
    keep.write_text("user file")
    res = run_pipeline(cfg, overrides=tiny_overrides(out), progress=False, report=False)
    assert not any(p.exists() for p in planted)
    assert keep.read_text() == "user file"
    assert sorted(p for p in out.rglob("*") if p.is_file() and not p.name.startswith(".")) == finals
    _identical(
        read_parquet_table(first.catalog["parquet"]), read_parquet_table(res.catalog["parquet"])
    )
