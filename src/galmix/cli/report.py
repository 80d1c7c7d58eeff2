"""``galmix report DIR``: (re)build the HTML report of a pipeline run."""

from __future__ import annotations

import argparse

from galmix.errors import GalmixIOError


def register(sub: argparse._SubParsersAction) -> None:
    """Add the ``report`` sub-command."""
    p = sub.add_parser(
        "report",
        help="rebuild figures and report.html of a pipeline output folder",
        description="Read DIR/catalog.parquet (and truth_match.parquet) and write DIR/figures and DIR/report.html.",
    )
    p.add_argument("directory", metavar="DIR", help="output folder of galmix run / galmix demo")
    p.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from galmix.pipeline.report import write_report

    d = Path(args.directory)
    if not (d / "catalog.parquet").exists():
        raise GalmixIOError(f"DIR: no catalog.parquet in {str(d)!r}")
    path = write_report(d)
    print(f"galmix report: {path}")
    return 0
