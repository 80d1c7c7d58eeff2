"""``galmix run CONFIG``: the pipeline on the user's own images."""

from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction) -> None:
    """Add the ``run`` sub-command."""
    p = sub.add_parser(
        "run",
        help="run the pipeline described by a YAML config",
        description=(
            "Register, detect, cross-match and measure every object of the configured "
            "multi-band images, tile by tile (serial, local processes or Dask); a killed run "
            "resumes from its completed tiles. Writes the catalog, pixel table and report into "
            "the config's output folder. See docs/pipeline.md for the config schema."
        ),
    )
    p.add_argument("config", metavar="CONFIG.yaml", help="pipeline configuration")
    p.add_argument("--out", default=None, metavar="DIR", help="override the config's output folder")
    p.add_argument(
        "--executor",
        choices=("serial", "processes", "dask"),
        default=None,
        help="override executor.kind",
    )
    p.add_argument("--workers", type=int, default=None, help="override executor.workers")
    p.add_argument(
        "--scheduler",
        default=None,
        metavar="ADDRESS",
        help="Dask scheduler address (implies --executor dask); default a LocalCluster",
    )
    p.add_argument("--no-resume", action="store_true", help="recompute every tile")
    p.add_argument("--no-report", action="store_true", help="skip figures and report.html")
    p.add_argument(
        "--no-progress", action="store_true", help="no progress bar (also off when not a TTY)"
    )
    p.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    import os

    from galmix.pipeline.run import run_pipeline

    overrides: dict = {}
    ex: dict = {}
    if args.scheduler:
        ex["kind"] = "dask"
        ex["scheduler"] = args.scheduler
    if args.executor:
        ex["kind"] = args.executor
    if args.workers is not None:
        ex["workers"] = args.workers
    if ex:
        overrides["executor"] = ex
    if args.out:
        overrides["output"] = os.path.abspath(args.out)
    res = run_pipeline(
        args.config,
        overrides=overrides or None,
        progress=False if args.no_progress else None,
        resume=not args.no_resume,
        report=not args.no_report,
    )
    print(
        f"galmix run: {res.n_objects} objects, {res.n_tiles} tiles "
        f"({res.n_tiles - res.n_tiles_run} reused), {res.timings.get('total', 0):.1f} s"
    )
    print(f"  catalog : {res.catalog.get('parquet')}")
    if res.report:
        print(f"  report  : {res.report}")
    return 0
