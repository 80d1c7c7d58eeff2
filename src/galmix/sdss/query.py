"""SQL for the SDSS spectroscopic training catalog, and reading its result.

:func:`build_spec_query` writes the query of the image-photo-z workflow:
objects with a spectroscopic redshift and clean photometry, with class,
redshift and error, run/camcol/field of the imaging frame, and the
extinction-corrected ugriz model magnitudes with their errors. The query is
meant to be run by the user on SkyServer (``SqlSearch``) or CasJobs; galmix
never contacts SDSS itself. Every parameter is validated before it reaches
the SQL text (numbers must be finite numbers, classes come from an
allowlist, table names are plain identifiers), so the query cannot be
injected into.

:func:`read_query_result` reads the CSV or FITS result into an astropy
:class:`~astropy.table.Table` with galmix column names, and
:func:`unique_fields` lists the distinct ``(run, rerun, camcol, field)``
frames to download.

Examples
--------
>>> sql = build_spec_query(ra=(180.0, 181.0), dec=(45.0, 46.0), top=10)
>>> sql.splitlines()[0]
'SELECT TOP 10'
>>> "s.zWarning = 0" in sql and "p.clean = 1" in sql
True
"""

from __future__ import annotations

import math
import os
import re
import warnings
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from galmix.errors import GalmixIOError, GalmixTypeError, GalmixValueError
from galmix.sdss.ccd import BANDS

__all__ = [
    "MAX_DATA_RELEASE",
    "MIN_DATA_RELEASE",
    "SPEC_CLASSES",
    "build_area_query",
    "build_spec_query",
    "read_query_result",
    "unique_fields",
]

#: Spectroscopic classes accepted by :func:`build_spec_query`.
SPEC_CLASSES: tuple[str, ...] = ("GALAXY", "QSO", "STAR")
#: Data releases with the SDSS-III/IV ``frame`` files and schema (DR8 ...).
MIN_DATA_RELEASE = 8
MAX_DATA_RELEASE = 19

_IDENT_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,63}$")


def _number(value: Any, name: str, lo: float | None = None, hi: float | None = None) -> float:
    if isinstance(value, (bool, str, bytes)) or value is None:
        raise GalmixTypeError(f"{name} must be a number, got {value!r}")
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise GalmixTypeError(f"{name} must be a number, got {value!r}") from None
    if not math.isfinite(v):
        raise GalmixValueError(f"{name} must be finite, got {value!r}")
    if (lo is not None and v < lo) or (hi is not None and v > hi):
        raise GalmixValueError(f"{name} must be in [{lo}, {hi}], got {value!r}")
    return v


def _integer(value: Any, name: str, lo: int | None = None, hi: int | None = None) -> int:
    if isinstance(value, (bool, str, bytes, float)) or value is None:
        if not (isinstance(value, float) and value.is_integer()):
            raise GalmixTypeError(f"{name} must be an integer, got {value!r}")
    try:
        v = int(value)
    except (TypeError, ValueError):
        raise GalmixTypeError(f"{name} must be an integer, got {value!r}") from None
    if (lo is not None and v < lo) or (hi is not None and v > hi):
        raise GalmixValueError(f"{name} must be in [{lo}, {hi}], got {value!r}")
    return v


def _fmt(v: float) -> str:
    """A number as SQL text (repr of a validated float: digits, '.', 'e', '-')."""
    text = repr(float(v))
    if not re.fullmatch(r"-?\d+(\.\d+)?(e[+-]?\d+)?", text):  # pragma: no cover - defensive
        raise GalmixValueError(f"cannot format {v!r} as an SQL number")
    return text


def _range(value: Any, name: str, lo: float, hi: float) -> tuple[float, float] | None:
    if value is None:
        return None
    if isinstance(value, (str, bytes)) or not isinstance(value, Sequence) or len(value) != 2:
        raise GalmixTypeError(f"{name} must be a (min, max) pair of numbers, got {value!r}")
    a = _number(value[0], f"{name}[0]", lo, hi)
    b = _number(value[1], f"{name}[1]", lo, hi)
    return a, b


def build_spec_query(
    *,
    ra: tuple[float, float] | None = None,
    dec: tuple[float, float] | None = None,
    z: tuple[float, float] | None = None,
    classes: Iterable[str] | None = ("GALAXY",),
    zwarning: int | None = 0,
    clean: bool = True,
    science_primary: bool = False,
    top: int | None = None,
    into: str | None = None,
    data_release: int = 17,
) -> str:
    """SQL selecting spectroscopic objects with clean photometry (seed 002).

    Parameters
    ----------
    ra : (min, max), optional
        Right ascension box in degrees, ``0 <= ra <= 360``; ``min > max``
        wraps through 0 (e.g. ``(350, 10)``).
    dec : (min, max), optional
        Declination range in degrees.
    z : (min, max), optional
        Spectroscopic redshift range.
    classes : iterable of str or None
        Spectroscopic classes to keep, from ``GALAXY``, ``QSO``, ``STAR``
        (case-insensitive); None keeps all.
    zwarning : int or None
        Required ``zWarning`` value (0 = no redshift warning); None: no cut.
    clean : bool
        Require ``PhotoObj.clean = 1`` (clean photometry).
    science_primary : bool
        Require ``SpecObj.sciencePrimary = 1`` (best spectrum of an object).
    top : int, optional
        Return at most this many rows (``SELECT TOP n``).
    into : str, optional
        CasJobs MyDB table to write into (``INTO mydb.<name>``); a plain
        identifier.
    data_release : int
        SDSS data release (DR8 or later; the schema used is common to all of
        them). Only recorded in a comment line.

    Returns
    -------
    str
        The query. Output columns: ``id`` (specObjID), ``objid``, ``ra``,
        ``dec``, ``z``, ``z_err``, ``zwarning``, ``class``, ``run``, ``rerun``,
        ``camcol``, ``field``, ``mag_u`` ... ``mag_z`` (extinction-corrected
        model magnitudes), ``magerr_u`` ... ``magerr_z``.

    Raises
    ------
    GalmixTypeError, GalmixValueError
        For a parameter of the wrong type or out of range (naming it).

    Examples
    --------
    >>> print(build_spec_query(classes=["galaxy", "QSO"], top=5).splitlines()[-2])
      AND s.class IN ('GALAXY', 'QSO')
    """
    dr = _integer(data_release, "data_release", MIN_DATA_RELEASE, MAX_DATA_RELEASE)
    ra_r = _range(ra, "ra", 0.0, 360.0)
    dec_r = _range(dec, "dec", -90.0, 90.0)
    z_r = _range(z, "z", -1.0, 20.0)
    if dec_r is not None and dec_r[0] > dec_r[1]:
        raise GalmixValueError(f"dec must be (min, max) with min <= max, got {dec!r}")
    if z_r is not None and z_r[0] > z_r[1]:
        raise GalmixValueError(f"z must be (min, max) with min <= max, got {z!r}")
    cls: list[str] | None = None
    if classes is not None:
        if isinstance(classes, (str, bytes)):
            classes = [classes]  # type: ignore[list-item]
        cls = []
        for c in classes:
            if not isinstance(c, str) or c.strip().upper() not in SPEC_CLASSES:
                raise GalmixValueError(
                    f"classes must be taken from {', '.join(SPEC_CLASSES)}, got {c!r}"
                )
            if c.strip().upper() not in cls:
                cls.append(c.strip().upper())
        if not cls:
            raise GalmixValueError("classes must not be empty (use None to keep every class)")
    zw = None if zwarning is None else _integer(zwarning, "zwarning", 0, 2**31 - 1)
    n_top = None if top is None else _integer(top, "top", 1, 10**9)
    if into is not None and (not isinstance(into, str) or not _IDENT_RE.match(into)):
        raise GalmixValueError(
            f"into must be a plain table name (letters, digits, underscore), got {into!r}"
        )
    if not isinstance(clean, bool) or not isinstance(science_primary, bool):
        raise GalmixTypeError("clean and science_primary must be booleans")

    select = ["s.specObjID AS id", "p.objID AS objid", "s.ra AS ra", "s.dec AS dec",
              "s.z AS z", "s.zErr AS z_err", "s.zWarning AS zwarning", "s.class AS class",
              "p.run AS run", "p.rerun AS rerun", "p.camcol AS camcol", "p.field AS field"]  # fmt: skip
    select += [f"p.dered_{b} AS mag_{b}" for b in BANDS]
    select += [f"p.modelMagErr_{b} AS magerr_{b}" for b in BANDS]
    lines = [f"SELECT TOP {n_top}" if n_top else "SELECT"]
    lines += [f"  {col}," for col in select[:-1]] + [f"  {select[-1]}"]
    if into:
        lines.append(f"INTO mydb.{into}")
    lines += [
        "FROM SpecObj AS s",
        "  JOIN SpecPhotoAll AS sp ON s.specObjID = sp.specObjID",
        "  JOIN PhotoObj AS p ON sp.objID = p.objID",
    ]
    where = []
    if clean:
        where.append("p.clean = 1")
    if zw is not None:
        where.append(f"s.zWarning = {zw}")
    if science_primary:
        where.append("s.sciencePrimary = 1")
    if ra_r is not None:
        a, b = ra_r
        if a <= b:
            where.append(f"s.ra BETWEEN {_fmt(a)} AND {_fmt(b)}")
        else:
            where.append(f"(s.ra >= {_fmt(a)} OR s.ra <= {_fmt(b)})")
    if dec_r is not None:
        where.append(f"s.dec BETWEEN {_fmt(dec_r[0])} AND {_fmt(dec_r[1])}")
    if z_r is not None:
        where.append(f"s.z BETWEEN {_fmt(z_r[0])} AND {_fmt(z_r[1])}")
    if cls is not None:
        where.append("s.class IN (" + ", ".join(f"'{c}'" for c in cls) + ")")
    if where:
        lines.append("WHERE " + where[0])
        lines += [f"  AND {w}" for w in where[1:]]
    # The comment goes last so that the first line is the SELECT.
    lines.append(f"-- galmix sdss query, DR{dr}: run on SkyServer SqlSearch or CasJobs")
    return "\n".join(lines)


# column renames from the seed's SQL (and CasJobs' capitalisation) to galmix names
_SEED_RENAMES = {
    "redshift": "z",
    "redshifterror": "z_err",
    "redshift_error": "z_err",
    "zerr": "z_err",
    "specobjid": "id",
}


def build_area_query(
    table: str,
    *,
    ra: tuple[float, float],
    dec: tuple[float, float],
    into: str | None = None,
) -> str:
    """SQL selecting a sky box from a CasJobs MyDB table (the seed's second step).

    The seed first writes every good object into MyDB
    (``build_spec_query(into="objects_with_redshifts")``), then cuts out the
    region to work on; this builds that second query.

    Parameters
    ----------
    table : str
        MyDB table name (plain identifier).
    ra, dec : (min, max)
        Box in degrees (``ra`` min > max wraps through 0).
    into : str, optional
        MyDB table for the result.

    Examples
    --------
    >>> print(build_area_query("objects_with_redshifts", ra=(180, 181), dec=(45, 46)))
    SELECT *
    FROM mydb.objects_with_redshifts
    WHERE ra BETWEEN 180.0 AND 181.0
      AND dec BETWEEN 45.0 AND 46.0
    """
    if not isinstance(table, str) or not _IDENT_RE.match(table):
        raise GalmixValueError(f"table must be a plain table name, got {table!r}")
    if into is not None and (not isinstance(into, str) or not _IDENT_RE.match(into)):
        raise GalmixValueError(f"into must be a plain table name, got {into!r}")
    ra_r = _range(ra, "ra", 0.0, 360.0)
    dec_r = _range(dec, "dec", -90.0, 90.0)
    if ra_r is None or dec_r is None:
        raise GalmixValueError("ra and dec ranges are required")
    if dec_r[0] > dec_r[1]:
        raise GalmixValueError(f"dec must be (min, max) with min <= max, got {dec!r}")
    lines = ["SELECT *"]
    if into:
        lines.append(f"INTO mydb.{into}")
    lines.append(f"FROM mydb.{table}")
    a, b = ra_r
    if a <= b:
        lines.append(f"WHERE ra BETWEEN {_fmt(a)} AND {_fmt(b)}")
    else:
        lines.append(f"WHERE (ra >= {_fmt(a)} OR ra <= {_fmt(b)})")
    lines.append(f"  AND dec BETWEEN {_fmt(dec_r[0])} AND {_fmt(dec_r[1])}")
    return "\n".join(lines)


# 64-bit object identifiers; SDSS specObjID can exceed the int64 range
_ID_COLUMNS = ("id", "objid", "specobjid", "bestobjid")


def read_query_result(path: str | os.PathLike) -> Any:
    """Read a SkyServer / CasJobs result (CSV or FITS) into an astropy Table.

    Column names are lower-cased and normalised to galmix's: ``z`` and
    ``z_err`` for the redshift, ``mag_<band>`` / ``magerr_<band>`` for
    magnitudes. A result of the seed's own query (columns ``redshift``,
    ``redshiftError`` and bare ``u g r i z`` magnitudes) is recognised and
    renamed. SkyServer's leading ``#Table1`` line and other ``#`` comment
    lines are skipped; byte strings (FITS) are decoded and stripped. Identifier
    columns (``id``, ``objid``, ``specobjid``) too large for int64 (specObjID
    from DR8 on) are kept exact as uint64.

    Parameters
    ----------
    path : str or Path
        ``.csv`` (or any text table astropy reads as CSV), ``.fits``/``.fit``,
        ``.ecsv`` or ``.parquet``.

    Returns
    -------
    astropy.table.Table

    Raises
    ------
    GalmixIOError
        If the file cannot be read or lacks ``ra``/``dec``.
    """
    from astropy.table import Table

    p = Path(path)
    if not p.exists():
        raise GalmixIOError(f"path: no such file {str(p)!r}")
    suffixes = "".join(p.suffixes).lower()
    try:
        if suffixes.endswith((".fits", ".fit", ".fits.gz", ".fit.gz")):
            t = Table.read(p)
        elif suffixes.endswith(".ecsv"):
            t = Table.read(p, format="ascii.ecsv")
        elif suffixes.endswith(".parquet"):
            t = Table.read(p, format="parquet")
        else:
            text = p.read_text(encoding="utf-8-sig")
            lines = [
                ln for ln in text.splitlines() if ln.strip() and not ln.lstrip().startswith("#")
            ]
            if not lines:
                raise GalmixIOError(f"path: {str(p)!r} holds no table")
            with warnings.catch_warnings():
                # specObjID exceeds int64 from DR8 on: astropy falls back to strings
                warnings.simplefilter("ignore")
                t = Table.read("\n".join(lines), format="ascii.csv")
    except GalmixIOError:
        raise
    except Exception as exc:
        raise GalmixIOError(f"path: cannot read the query result {str(p)!r}: {exc}") from exc
    t = Table(t, masked=False) if not t.has_masked_columns else t
    # names: lower case, then the seed's / CasJobs' variants
    lower = {name: name.strip().lower() for name in t.colnames}
    if len(set(lower.values())) != len(lower):
        raise GalmixIOError(f"path: {str(p)!r} has columns differing only in case: {t.colnames}")
    t.rename_columns(list(lower), list(lower.values()))
    seed_layout = "redshift" in t.colnames and all(b in t.colnames for b in ("u", "g", "r", "i"))
    if seed_layout:
        for b in BANDS:
            if b in t.colnames:
                t.rename_column(b, f"mag_{b}")
    for old, new in _SEED_RENAMES.items():
        if old in t.colnames and new not in t.colnames:
            t.rename_column(old, new)
    for b in BANDS:
        for old in (f"dered_{b}", f"modelmag_{b}"):
            if old in t.colnames and f"mag_{b}" not in t.colnames:
                t.rename_column(old, f"mag_{b}")
        for old in (f"modelmagerr_{b}", f"err_{b}"):
            if old in t.colnames and f"magerr_{b}" not in t.colnames:
                t.rename_column(old, f"magerr_{b}")
    for name in t.colnames:
        col = t[name]
        if col.dtype.kind == "S":
            t[name] = np.char.strip(np.char.decode(np.asarray(col), "ascii", "replace"))
        elif col.dtype.kind == "U":
            t[name] = np.char.strip(np.asarray(col))
    for name in _ID_COLUMNS:
        if name in t.colnames and t[name].dtype.kind == "U":
            values = [str(v).strip() for v in t[name]]
            if values and all(v.isdigit() and int(v) < 2**64 for v in values):
                t[name] = np.array([int(v) for v in values], dtype=np.uint64)
    for required in ("ra", "dec"):
        if required not in t.colnames:
            raise GalmixIOError(
                f"path: {str(p)!r} has no {required!r} column (columns: {t.colnames})"
            )
    t.meta["source"] = str(p)
    return t


def unique_fields(table: Any, rerun: str | int = 301) -> Any:
    """The distinct imaging fields of a catalog, with how many objects each holds.

    Parameters
    ----------
    table : astropy Table
        With integer columns ``run``, ``camcol``, ``field`` (and optionally
        ``rerun``).
    rerun : str or int
        Rerun for rows without one (301 for DR8 and later).

    Returns
    -------
    astropy.table.Table
        Columns ``run``, ``rerun`` (str), ``camcol``, ``field``, ``n_objects``,
        sorted by run, camcol, field. Rows with missing or invalid values are
        left out (they cannot name a frame).

    Examples
    --------
    >>> from astropy.table import Table
    >>> t = Table({"run": [3813, 3813, 94], "camcol": [5, 5, 1], "field": [23, 23, 7]})
    >>> u = unique_fields(t)
    >>> u["run"].tolist(), u["camcol"].tolist(), u["field"].tolist(), u["n_objects"].tolist()
    ([94, 3813], [1, 5], [7, 23], [1, 2])
    """
    from astropy.table import Table

    from galmix.sdss.naming import check_field_id

    for col in ("run", "camcol", "field"):
        if col not in table.colnames:
            raise GalmixValueError(f"table must have a {col!r} column, has {table.colnames}")
    counts: dict[tuple[int, str, int, int], int] = {}
    has_rerun = "rerun" in table.colnames
    for i in range(len(table)):
        try:
            vals = [table[c][i] for c in ("run", "camcol", "field")]
            if any(np.ma.is_masked(v) for v in vals):
                continue
            fid = check_field_id(*[int(v) for v in vals])
        except (GalmixValueError, GalmixTypeError, ValueError, TypeError):
            continue
        rr = str(table["rerun"][i]).strip() if has_rerun else str(rerun)
        if not rr or rr in ("--", "None") or not re.fullmatch(r"[0-9A-Za-z_]+", rr):
            rr = str(rerun)
        key = (fid.run, rr, fid.camcol, fid.field)
        counts[key] = counts.get(key, 0) + 1
    keys = sorted(counts)
    return Table(
        rows=[(*k, counts[k]) for k in keys] if keys else None,
        names=("run", "rerun", "camcol", "field", "n_objects"),
        dtype=(np.int64, str, np.int64, np.int64, np.int64),
    )
