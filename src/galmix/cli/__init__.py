"""The ``galmix`` command line.

Each sub-command lives in its own module of this package and exposes
``register(subparsers)``, which adds its parser and sets ``func`` (a callable
taking the parsed ``argparse.Namespace`` and returning an exit code).
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
from collections.abc import Sequence

from galmix import __version__
from galmix.errors import GalmixError

__all__ = ["build_parser", "main"]

# module names under galmix.cli, in the order shown by --help
_COMMAND_MODULES = (
    "demo",
    "run",
    "measure",
    "report",
    "shear_bias",
    "photoz",
    "sdss",
    "flags",
)


def build_parser() -> argparse.ArgumentParser:
    """The top-level argument parser with every available sub-command."""
    parser = argparse.ArgumentParser(
        prog="galmix",
        description=(
            "Pixel-level galaxy measurement: detection, photometry, moments, "
            "Gaussian-mixture model fits, metacalibration shears and photometric redshifts."
        ),
    )
    parser.add_argument("--version", action="version", version=f"galmix {__version__}")
    parser.add_argument(
        "-v", "--verbose", action="count", default=0, help="more log output (-vv for debug)"
    )
    parser.add_argument("-q", "--quiet", action="store_true", help="only warnings and errors")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in _COMMAND_MODULES:
        try:
            module = importlib.import_module(f"galmix.cli.{name}")
        except ModuleNotFoundError as exc:
            if exc.name == f"galmix.cli.{name}":
                continue
            raise
        module.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``galmix`` console script."""
    parser = build_parser()
    args = parser.parse_args(argv)
    level = logging.WARNING if args.quiet else (logging.DEBUG if args.verbose > 1 else logging.INFO)
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s")
    if not getattr(args, "func", None):
        parser.print_help()
        return 0 if args.command is None else 2
    try:
        return int(args.func(args) or 0)
    except GalmixError as exc:
        print(f"galmix {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:  # pragma: no cover - interactive
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
