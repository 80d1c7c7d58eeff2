"""SDSS frame identifiers and file names.

A frame is named by its filter, run, camera column and field:
``frame-{band}-{run:06d}-{camcol}-{field:04d}.fits.bz2`` (SDSS data model).

Examples
--------
>>> frame_filename("r", 3813, 5, 23)
'frame-r-003813-5-0023.fits.bz2'
>>> parse_frame_filename("/data/frame-r-003813-5-0023.fits.bz2")
FrameID(band='r', run=3813, camcol=5, field=23)
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any, NamedTuple

from galmix.errors import GalmixTypeError, GalmixValueError
from galmix.sdss.ccd import BANDS

__all__ = [
    "FieldID",
    "FrameID",
    "check_field_id",
    "find_field_frames",
    "frame_filename",
    "parse_frame_filename",
]

_FRAME_RE = re.compile(r"frame-([ugriz])-(\d{6})-([1-6])-(\d{4})\.fits(?:\.bz2|\.gz)?$")


class FieldID(NamedTuple):
    """An SDSS imaging field: ``(run, camcol, field)``."""

    run: int
    camcol: int
    field: int

    def __str__(self) -> str:
        return f"{self.run}-{self.camcol}-{self.field}"


class FrameID(NamedTuple):
    """One frame: a field observed in one band."""

    band: str
    run: int
    camcol: int
    field: int

    @property
    def field_id(self) -> FieldID:
        return FieldID(self.run, self.camcol, self.field)


def _int(value: Any, name: str) -> int:
    if isinstance(value, bool):
        raise GalmixTypeError(f"{name} must be an integer, got {value!r}")
    try:
        iv = int(value)
    except (TypeError, ValueError):
        raise GalmixTypeError(f"{name} must be an integer, got {value!r}") from None
    try:
        if float(value) != iv:
            raise GalmixValueError(f"{name} must be an integer, got {value!r}")
    except (TypeError, ValueError):
        pass
    return iv


def check_field_id(run: Any, camcol: Any, field: Any) -> FieldID:
    """Validate and normalise a ``(run, camcol, field)`` triple.

    Raises
    ------
    GalmixValueError
        If run or field is negative or camcol is outside 1..6.

    Examples
    --------
    >>> check_field_id("3813", 5, 23.0)
    FieldID(run=3813, camcol=5, field=23)
    """
    r = _int(run, "run")
    c = _int(camcol, "camcol")
    f = _int(field, "field")
    if not 0 <= r <= 999999:
        raise GalmixValueError(f"run must be in 0..999999, got {run!r}")
    if not 1 <= c <= 6:
        raise GalmixValueError(f"camcol must be in 1..6, got {camcol!r}")
    if not 0 <= f <= 9999:
        raise GalmixValueError(f"field must be in 0..9999, got {field!r}")
    return FieldID(r, c, f)


def frame_filename(band: str, run: int, camcol: int, field: int, suffix: str = ".fits.bz2") -> str:
    """SDSS file name of a frame.

    Parameters
    ----------
    band : str
        One of ``u g r i z``.
    run, camcol, field : int
        The field.
    suffix : str
        ``".fits.bz2"`` (as served) or ``".fits"``.

    Examples
    --------
    >>> frame_filename("u", 94, 1, 7, suffix=".fits")
    'frame-u-000094-1-0007.fits'
    """
    if band not in BANDS:
        raise GalmixValueError(f"band must be one of {', '.join(BANDS)}, got {band!r}")
    fid = check_field_id(run, camcol, field)
    return f"frame-{band}-{fid.run:06d}-{fid.camcol}-{fid.field:04d}{suffix}"


def parse_frame_filename(path: str | Path) -> FrameID:
    """Band, run, camcol and field from an SDSS frame file name.

    Raises
    ------
    GalmixValueError
        If the name does not follow the SDSS pattern.
    """
    name = Path(path).name
    m = _FRAME_RE.search(name)
    if not m:
        raise GalmixValueError(
            f"path {str(path)!r} is not named like an SDSS frame "
            "(frame-[ugriz]-RRRRRR-C-FFFF.fits[.bz2])"
        )
    return FrameID(m.group(1), int(m.group(2)), int(m.group(3)), int(m.group(4)))


def find_field_frames(
    directory: str | os.PathLike,
    run: int,
    camcol: int,
    field: int,
    bands: Iterable[str] = BANDS,
) -> dict[str, Path]:
    """Locate a field's frames in ``directory``.

    Accepts the SDSS names (``frame-r-003813-5-0023.fits.bz2`` or ``.fits``)
    and the seed's local naming (``3813-5-23-r.fits``).

    Returns
    -------
    dict band -> Path
        Only the bands found.
    """
    d = Path(directory)
    fid = check_field_id(run, camcol, field)
    out = {}
    for b in bands:
        candidates = [
            d / frame_filename(b, *fid),
            d / frame_filename(b, *fid, suffix=".fits"),
            d / f"{fid.run}-{fid.camcol}-{fid.field}-{b}.fits",
        ]
        for c in candidates:
            if c.is_file():
                out[b] = c
                break
    return out
