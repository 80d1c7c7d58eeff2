"""Gain and dark variance of the SDSS imaging camera's CCDs.

The values are tabulated per camera column and filter in the SDSS data model
of the ``frame`` files
(https://data.sdss.org/datamodel/files/BOSS_PHOTOOBJ/frames/RERUN/RUN/CAMCOL/frame.html),
with a few run-dependent changes; they ship with galmix as
``galmix/sdss/data/gain_dark_variance.csv``.

Examples
--------
>>> sdss_gain("r", 5, 3813)
4.725
>>> sdss_dark_variance("i", 4, 1000), sdss_dark_variance("i", 4, 3813)
(6.25, 7.5625)
"""

from __future__ import annotations

import csv
import functools
from importlib import resources
from typing import Any

from galmix.errors import GalmixTypeError, GalmixValueError

__all__ = [
    "BANDS",
    "CCD_TABLE_SOURCE",
    "ccd_table",
    "sdss_dark_variance",
    "sdss_gain",
]

#: SDSS filters in wavelength order.
BANDS: tuple[str, ...] = ("u", "g", "r", "i", "z")

#: Where the gain / dark-variance values come from.
CCD_TABLE_SOURCE = (
    "SDSS data model, frame files: "
    "https://data.sdss.org/datamodel/files/BOSS_PHOTOOBJ/frames/RERUN/RUN/CAMCOL/frame.html"
)


@functools.cache
def _rows() -> tuple[tuple[str, int, str, int, float], ...]:
    text = resources.files("galmix.sdss").joinpath("data/gain_dark_variance.csv").read_text()
    lines = [ln for ln in text.splitlines() if ln.strip() and not ln.lstrip().startswith("#")]
    out = []
    for row in csv.DictReader(lines):
        out.append(
            (
                row["quantity"],
                int(row["camcol"]),
                row["band"],
                int(row["run_after"]),
                float(row["value"]),
            )
        )
    return tuple(out)


def ccd_table() -> Any:
    """The shipped table as an :class:`astropy.table.Table`.

    Columns ``quantity`` (``gain`` or ``dark_variance``), ``camcol``, ``band``,
    ``run_after`` (the row applies to runs > run_after) and ``value``.

    Examples
    --------
    >>> t = ccd_table()
    >>> len(t[t["quantity"] == "gain"])
    31
    """
    from astropy.table import Table

    rows = _rows()
    t = Table(rows=list(rows), names=("quantity", "camcol", "band", "run_after", "value"))
    t.meta["source"] = CCD_TABLE_SOURCE
    return t


def _check(band: Any, camcol: Any, run: Any) -> tuple[str, int, int]:
    if not isinstance(band, str) or band not in BANDS:
        raise GalmixValueError(f"band must be one of {', '.join(BANDS)}, got {band!r}")
    try:
        c = int(camcol)
        r = int(run)
    except (TypeError, ValueError):
        raise GalmixTypeError(
            f"camcol and run must be integers, got camcol={camcol!r}, run={run!r}"
        ) from None
    if c != camcol or not 1 <= c <= 6:
        raise GalmixValueError(f"camcol must be an integer in 1..6, got {camcol!r}")
    if r != run or r < 0:
        raise GalmixValueError(f"run must be a non-negative integer, got {run!r}")
    return band, c, r


def _lookup(quantity: str, band: Any, camcol: Any, run: Any) -> float:
    b, c, r = _check(band, camcol, run)
    best = None
    for q, cc, bb, after, value in _rows():
        if (
            q == quantity
            and cc == c
            and bb == b
            and r > after
            and (best is None or after > best[0])
        ):
            best = (after, value)
    if best is None:  # pragma: no cover - the table is complete
        raise GalmixValueError(f"no {quantity} tabulated for band={b!r}, camcol={c}, run={r}")
    return best[1]


def sdss_gain(band: str, camcol: int, run: int) -> float:
    """Gain (electrons per count) of the SDSS CCD for ``band`` in ``camcol`` during ``run``.

    Raises
    ------
    GalmixValueError
        For an unknown band or a camcol outside 1..6.

    Examples
    --------
    >>> sdss_gain("u", 2, 94), sdss_gain("u", 2, 3813)
    (1.595, 1.825)
    """
    return _lookup("gain", band, camcol, run)


def sdss_dark_variance(band: str, camcol: int, run: int) -> float:
    """Dark variance (counts^2: read noise plus dark current) of an SDSS CCD.

    Examples
    --------
    >>> sdss_dark_variance("g", 1, 3813)
    15.6025
    """
    return _lookup("dark_variance", band, camcol, run)
