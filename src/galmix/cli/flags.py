"""``galmix flags``: explain a flag word or list every flag bit."""

from __future__ import annotations

import argparse

from galmix.errors import FLAG_DESCRIPTIONS, flag_names, flag_table


def register(sub: argparse._SubParsersAction) -> None:
    """Add the ``flags`` sub-command."""
    p = sub.add_parser(
        "flags",
        help="list the flag bits, or decode a flag word",
        description="List every named flag bit, or decode the given flag word(s).",
    )
    p.add_argument("words", nargs="*", type=int, help="flag words to decode")
    p.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    if not args.words:
        for name, value, text in flag_table():
            print(f"{value:>10d}  {name:<22s} {text}")
        return 0
    for word in args.words:
        names = flag_names(word)
        print(f"{word}: " + (", ".join(names) if names else "OK"))
        for n in names:
            print(f"    {n}: {FLAG_DESCRIPTIONS.get(n, 'unknown bit')}")
    return 0
