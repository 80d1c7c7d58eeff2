"""Pipeline benchmarks: frame to catalog, memory vs frame count, Dask efficiency.

Run ``python benchmarks/bench_pipeline.py [--quick]``. Prints Markdown tables
(machine info first) for ``benchmarks/RESULTS.md``:

1. ``frame``: a 5-band 2048x2048 simulated frame with ~2000 objects to catalog
   (registration, detection on the coadd, photometry, adaptive moments in
   every band, single-band Sersic fits), 4 tiles on 2 local processes. The
   simulation is not timed.
2. ``memory``: N frames (1024x1024, 3 bands) processed one after the other
   in one process (serial executor); time per frame and the process peak RSS
   after each frame (flat = no growth with frame count).
3. ``dask``: the same frame on the serial executor and on a Dask
   ``LocalCluster`` of 2 single-threaded workers; efficiency
   ``T_serial / (2 T_dask)``.
"""

from __future__ import annotations

import argparse
import os
import platform
import resource
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np


def _machine() -> str:
    import numpy

    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    load = os.getloadavg() if hasattr(os, "getloadavg") else ("?",)
    return (
        f"{cpu}, {os.cpu_count()} cores, Python {platform.python_version()}, numpy {numpy.__version__}, "
        f"load average at start {load[0]:.1f}"
    )


def _cpu_seconds() -> float:
    """User + system CPU time of this process and its waited-for children."""
    a = resource.getrusage(resource.RUSAGE_SELF)
    b = resource.getrusage(resource.RUSAGE_CHILDREN)
    return a.ru_utime + a.ru_stime + b.ru_utime + b.ru_stime


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def _simulate(
    d: Path, bands: str, size: int, n_gal: int, n_star: int, seed: int, overrides: dict
) -> Path:
    from galmix.sim import simulate_field

    field = simulate_field(
        bands=list(bands),
        shape=(size, size),
        n_galaxies=n_gal,
        n_stars=n_star,
        seed=seed,
        workers=2,
    )
    return field.write(d, config_overrides=overrides)


def bench_frame(root: Path, size: int, n_obj: int) -> list[str]:
    from galmix.pipeline.run import run_pipeline

    ov = {
        "tiles": {"size": 1024, "overlap": 64},
        "measurement": {
            "fit": {"model": "sersic", "multiband": False},
            "pixel_table": False,
            "metacal": False,
            "moments": True,
        },
        "photoz": {"train": False},
        "executor": {"kind": "processes", "workers": 2},
    }
    t0 = time.perf_counter()
    cfg = _simulate(root / "frame", "ugriz", size, int(n_obj * 0.9), int(n_obj * 0.1), 1, ov)
    t_sim = time.perf_counter() - t0
    # warm-up on a tiny frame so that numba caches are loaded/compiled in this environment
    warm = _simulate(root / "warm", "ugriz", 200, 5, 1, 2, {**ov, "executor": {"kind": "serial"}})
    run_pipeline(warm, progress=False, report=False)
    c0 = _cpu_seconds()
    t0 = time.perf_counter()
    res = run_pipeline(cfg, progress=False, report=False)
    t = time.perf_counter() - t0
    cpu = _cpu_seconds() - c0
    fits_ok = "n/a"
    try:
        from galmix.catalog import read_catalog
        from galmix.errors import FLAGS

        cat = read_catalog(res.catalog["parquet"])
        ff = np.asarray(cat["fit_flags"])
        ok = (ff & ~int(FLAGS.PARAM_AT_BOUND)) == 0
        fits_ok = f"{int(ok.sum())}/{len(cat)} ({int((ff == 0).sum())} with no flag)"
    except Exception:
        pass
    return [
        "| frame | bands | objects detected | fits converged | tiles | executor | wall time [s] "
        "| CPU time, all processes [s] | CPU / 2 cores [s] | (simulation, untimed) [s] |",
        "|---|---|---|---|---|---|---|---|---|---|",
        f"| {size}x{size} | 5 (ugriz) | {res.n_objects} | {fits_ok} | {res.n_tiles} | processes x2 "
        f"| {t:.1f} | {cpu:.1f} | {cpu / 2:.1f} | {t_sim:.1f} |",
    ]


def bench_memory(root: Path, n_frames: int, size: int) -> list[str]:
    from galmix.pipeline.run import run_pipeline

    ov = {
        "tiles": {"size": 512, "overlap": 48},
        "measurement": {"fit": {"model": "sersic", "multiband": False}, "pixel_table": False},
        "photoz": {"train": False},
        "executor": {"kind": "serial"},
    }
    cfgs = [_simulate(root / f"mem{i}", "gri", size, 250, 25, 10 + i, ov) for i in range(n_frames)]
    rows = [
        "| frames processed | time of this frame [s] | peak RSS after it [MB] |",
        "|---|---|---|",
    ]
    rows.append(f"| 0 (after simulation) | - | {_peak_rss_mb():.0f} |")
    for i, cfg in enumerate(cfgs):
        t0 = time.perf_counter()
        run_pipeline(cfg, progress=False, report=False)
        rows.append(f"| {i + 1} | {time.perf_counter() - t0:.1f} | {_peak_rss_mb():.0f} |")
    return rows


def bench_dask(root: Path, size: int, n_obj: int) -> list[str]:
    from galmix.pipeline.run import run_pipeline

    ov = {
        "tiles": {"size": size // 2, "overlap": 64},
        "measurement": {"fit": {"model": "sersic", "multiband": False}, "pixel_table": False},
        "photoz": {"train": False},
    }
    cfg = _simulate(root / "dask", "gri", size, int(n_obj * 0.9), int(n_obj * 0.1), 3, ov)
    times = {}
    for kind in ("serial", "processes"):
        out = root / f"dask-out-{kind}"
        t0 = time.perf_counter()
        run_pipeline(
            cfg,
            overrides={"executor": {"kind": kind, "workers": 2}, "output": str(out)},
            progress=False,
            report=False,
            resume=False,
        )
        times[kind] = time.perf_counter() - t0
    # Dask: cold (LocalCluster started by the run) and warm (an already running cluster)
    cold = root / "dask-out-dask"
    t0 = time.perf_counter()
    run_pipeline(
        cfg,
        overrides={"executor": {"kind": "dask", "workers": 2}, "output": str(cold)},
        progress=False,
        report=False,
        resume=False,
    )
    times["dask_cold"] = time.perf_counter() - t0
    from distributed import Client, LocalCluster

    warm = root / "dask-out-warm"
    with LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None
    ) as lc:
        with Client(lc):
            ov_w = {
                "executor": {"kind": "dask", "scheduler": lc.scheduler_address},
                "output": str(warm),
            }
            run_pipeline(cfg, overrides=ov_w, progress=False, report=False, resume=False)  # warm-up
            t0 = time.perf_counter()
            run_pipeline(cfg, overrides=ov_w, progress=False, report=False, resume=False)
            times["dask"] = time.perf_counter() - t0
    ref = (root / "dask-out-serial" / "catalog.parquet").read_bytes()
    same = all(
        (d / "catalog.parquet").read_bytes() == ref
        for d in (cold, warm, root / "dask-out-processes")
    )
    eff = times["serial"] / (2 * times["dask"])
    effc = times["serial"] / (2 * times["dask_cold"])
    effp = times["serial"] / (2 * times["processes"])
    return [
        "| frame | tiles | serial [s] | Dask, running 2-worker cluster [s] | efficiency "
        "| Dask incl. LocalCluster start [s] | efficiency | processes x2 incl. spawn [s] | efficiency "
        "| catalog files identical |",
        "|---|---|---|---|---|---|---|---|---|---|",
        f"| {size}x{size}, 3 bands, ~{n_obj} objects | 4 | {times['serial']:.1f} | {times['dask']:.1f} "
        f"| {eff:.2f} | {times['dask_cold']:.1f} | {effc:.2f} | {times['processes']:.1f} | {effp:.2f} "
        f"| {same} |",
    ]


def bench_registration(size: int) -> list[str]:
    """galmix.register (flux + exact variance) vs the seed-002 recipe (reproject image and error image)."""
    from astropy.wcs import WCS as AWCS
    from reproject import reproject_interp

    from galmix.pipeline.registration import register
    from galmix.sim import make_wcs_header

    rng = np.random.default_rng(0)
    w_in = AWCS(make_wcs_header((size, size), 0.2, rotation_deg=0.2, crpix_offset=(1.37, -2.61)))
    w_out = AWCS(make_wcs_header((size, size), 0.2))
    img = rng.normal(0.0, 1.0, (size, size))
    var = np.ones((size, size))
    t0 = time.perf_counter()
    reg = register(img, w_in, w_out, (size, size), variance=var)
    t_g = time.perf_counter() - t0
    t0 = time.perf_counter()
    _a, _ = reproject_interp((img, w_in), w_out, shape_out=(size, size))
    e, _ = reproject_interp((np.sqrt(var), w_in), w_out, shape_out=(size, size))
    t_r = time.perf_counter() - t0
    inner = (slice(10, -10), slice(10, -10))
    ratio = np.nanmean(e[inner] ** 2) / np.nanmean(reg.variance[inner])
    # empirical variance of the resampled unit-variance noise (one realisation, all pixels)
    emp = np.nanvar(reg.image[inner])
    return [
        "| case | code | time [s] | mean variance / empirical variance of resampled noise |",
        "|---|---|---|---|",
        f"| {size}x{size}, SIP, 0.2 deg rotation, dithered | galmix `register` (interp, flux + propagated variance) "
        f"| {t_g:.2f} | {np.nanmean(reg.variance[inner]) / emp:.3f} |",
        f"|  | seed 002 recipe: `reproject_interp` of image and of error image (reference) | {t_r:.2f} "
        f"| {ratio * np.nanmean(reg.variance[inner]) / emp:.3f} |",
    ]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="smaller frames (smoke test)")
    ap.add_argument("--only", choices=("frame", "memory", "dask", "registration"), default=None)
    args = ap.parse_args()
    root = Path(tempfile.mkdtemp(prefix="galmix-bench-"))
    print(f"machine: {_machine()}\n")
    try:
        if args.only in (None, "frame"):
            size, n = (1024, 500) if args.quick else (2048, 2000)
            print("\n".join(bench_frame(root, size, n)) + "\n")
        if args.only in (None, "memory"):
            print(
                "\n".join(bench_memory(root, 2 if args.quick else 4, 768 if args.quick else 1024))
                + "\n"
            )
        if args.only in (None, "registration"):
            print("\n".join(bench_registration(1024 if args.quick else 2048)) + "\n")
        if args.only in (None, "dask"):
            size, n = (512, 120) if args.quick else (2048, 1200)
            print("\n".join(bench_dask(root, size, n)) + "\n")
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
