"""Regenerate the API reference pages ``docs/api/<subpackage>.md``.

Every name in a subpackage's ``__all__`` gets a mkdocstrings block (classes
and functions) or a row in a table of constants. Run after adding public
names (``tests/test_examples.py`` fails when a page misses one)::

    python docs/api/make_api_pages.py
"""

from __future__ import annotations

import importlib
from pathlib import Path

HERE = Path(__file__).resolve().parent

TITLES = {
    "image": "Imaging data",
    "profiles": "Profiles and Gaussian mixtures",
    "render": "Rendering",
    "psf": "PSF models",
    "moments": "Moments",
    "shear": "Metacalibration and shear",
    "fit": "Model fitting",
    "detect": "Detection and photometry",
    "catalog": "Catalogs and matching",
    "photoz": "Photometric redshifts",
    "sdss": "SDSS data access",
    "sim": "Simulations",
    "pipeline": "Pipeline",
    "plots": "Diagnostic plots",
}
EXTRA = {
    "shear": (
        "Paired shear simulations (`galmix.shear.simulate`)",
        "galmix.shear.simulate",
        ("ShearSimConfig", "run_shear_bias", "simulate_pair", "jacobian_matrix"),
    ),
}


def page(pkg: str, title: str) -> str:
    mod = importlib.import_module(f"galmix.{pkg}")
    lines = [f"# {title} (`galmix.{pkg}`)", "", (mod.__doc__ or "").strip().splitlines()[0], ""]
    consts = []
    for name in mod.__all__:
        obj = getattr(mod, name)
        if callable(obj) or isinstance(obj, type):
            where = getattr(obj, "__module__", None) or f"galmix.{pkg}"
            if not where.startswith("galmix"):
                where = f"galmix.{pkg}"
            # the defining module: lazy re-exports are invisible to static analysis
            lines.append(f"::: {where}.{name}\n    options:\n      heading: galmix.{pkg}.{name}\n")
        else:
            consts.append(name)
    if consts:
        lines += ["## Constants", "", "| name | value |", "|---|---|"]
        for name in consts:
            value = repr(getattr(mod, name))
            value = (value[:77] + "...") if len(value) > 80 else value
            lines.append(f"| `{name}` | `{value.replace('|', chr(92) + '|')}` |")
        lines.append("")
    if pkg in EXTRA:
        head, where, names = EXTRA[pkg]
        lines += [f"## {head}", ""] + [f"::: {where}.{n}\n" for n in names]
    return "\n".join(lines) + "\n"


def main() -> None:
    for pkg, title in TITLES.items():
        (HERE / f"{pkg}.md").write_text(page(pkg, title))


if __name__ == "__main__":
    main()
