"""Atomic writing and safe reading of catalogs (Parquet and FITS)."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from galmix.errors import GalmixIOError, GalmixValueError

__all__ = ["read_catalog", "write_catalog"]

_SUFFIX = {"parquet": ".parquet", "fits": ".fits"}


def _plain_table(table: Any) -> Any:
    """A copy whose meta is JSON/FITS friendly (scalars and strings only)."""
    from astropy.table import Table

    t = Table(table, copy=True)
    meta = {}
    for k, v in dict(t.meta).items():
        if isinstance(v, (bool, int, float, str, np.integer, np.floating, np.bool_)):
            meta[str(k)] = v.item() if hasattr(v, "item") else v
        elif isinstance(v, (list, tuple)) and all(isinstance(i, (int, float, str)) for i in v):
            meta[str(k)] = list(v)
    t.meta = meta
    return t


def write_catalog(
    table: Any,
    directory: str | os.PathLike,
    name: str = "catalog",
    formats: Sequence[str] = ("parquet", "fits"),
) -> dict[str, Path]:
    """Write a catalog as Parquet and/or FITS, atomically.

    Each file is written to a temporary name in ``directory`` and renamed
    into place, so readers never see a partial file and a killed run
    leaves either the old file or the new one. Column units and
    descriptions are kept (Parquet stores them in the astropy metadata,
    FITS in ``TUNITn``/``TCOMMn``).

    Parameters
    ----------
    table : astropy.table.Table
        The catalog.
    directory : str or Path
        Output folder (created if needed).
    name : str
        File stem: ``{name}.parquet`` and ``{name}.fits``.
    formats : sequence of {"parquet", "fits"}
        Which files to write.

    Returns
    -------
    dict
        format -> written path.

    Raises
    ------
    GalmixValueError
        For unknown formats or names containing a path separator.
    GalmixIOError
        If a file cannot be written.

    Examples
    --------
    >>> import tempfile
    >>> from astropy.table import Table
    >>> d = tempfile.mkdtemp()
    >>> paths = write_catalog(Table({"id": [1, 2], "x": [0.5, 3.0]}), d)
    >>> sorted(paths), list(read_catalog(paths["fits"])["x"])
    (['fits', 'parquet'], [np.float64(0.5), np.float64(3.0)])
    """
    formats = tuple(formats)
    for f in formats:
        if f not in _SUFFIX:
            raise GalmixValueError(f"formats must be among {sorted(_SUFFIX)}, got {f!r}")
    if not name or os.sep in name or (os.altsep and os.altsep in name):
        raise GalmixValueError(f"name must be a plain file stem, got {name!r}")
    out_dir = Path(directory)
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise GalmixIOError(f"directory {str(out_dir)!r} cannot be created: {exc}") from exc
    t = _plain_table(table)
    written = {}
    for fmt in formats:
        final = out_dir / f"{name}{_SUFFIX[fmt]}"
        fd, tmp = tempfile.mkstemp(prefix=f".{name}.", suffix=_SUFFIX[fmt] + ".tmp", dir=out_dir)
        os.close(fd)
        try:
            if fmt == "parquet":
                _write_parquet(t, tmp)
            else:
                _write_fits(t, tmp)
            os.replace(tmp, final)
        except Exception as exc:
            Path(tmp).unlink(missing_ok=True)
            raise GalmixIOError(f"cannot write {str(final)!r}: {exc}") from exc
        written[fmt] = final
    return written


def _write_fits(t: Any, path: str) -> None:
    import warnings

    from astropy.io import fits
    from astropy.io.fits.verify import VerifyWarning
    from astropy.units import UnitsWarning

    with warnings.catch_warnings():
        # long meta keys become HIERARCH cards, which is fine
        warnings.simplefilter("ignore", UnitsWarning)
        warnings.simplefilter("ignore", VerifyWarning)
        hdu = fits.table_to_hdu(t)
    for i, colname in enumerate(t.colnames, start=1):
        desc = getattr(t[colname], "description", None)
        if desc:
            # TCOMMn: column comment (FITS 4.0 reserved keyword)
            hdu.header[f"TCOMM{i}"] = str(desc)[:68]
    hdu.header["EXTNAME"] = "CATALOG"
    primary = fits.PrimaryHDU()
    # self-documenting flag columns: FLGBnn = name of bit nn
    for name, value, text in _flag_bits():
        # card = 8 key + 2 + value + " / " + comment <= 80 characters
        room = max(0, 80 - 10 - max(20, len(name) + 2) - 3)
        primary.header[f"FLGB{value.bit_length() - 1:02d}"] = (name, text[:room])
    primary.header.add_comment("flags columns: bitwise OR of the galmix FLAGS bits FLGBnn")
    fits.HDUList([primary, hdu]).writeto(path, overwrite=True)


def _flag_bits() -> list[tuple[str, int, str]]:
    from galmix.errors import FLAG_DESCRIPTIONS, FLAGS

    return [(f.name, int(f.value), FLAG_DESCRIPTIONS.get(f.name, "")) for f in FLAGS]


def read_catalog(path: str | os.PathLike) -> Any:
    """Read a catalog written by :func:`write_catalog` (Parquet or FITS).

    Parameters
    ----------
    path : str or Path
        A ``.parquet`` or ``.fits`` file.

    Returns
    -------
    astropy.table.Table

    Raises
    ------
    GalmixIOError
        If the file is missing or unreadable.
    """
    import warnings

    from astropy.table import Table

    p = Path(path)
    if not p.is_file():
        raise GalmixIOError(f"{str(p)!r}: no such file")
    suffix = p.suffix.lower()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            if suffix == ".parquet":
                return _read_parquet(p)
            if suffix in (".fits", ".fit", ".fts"):
                t = Table.read(p, format="fits", hdu=1)
                _restore_descriptions(t, p)
                return t
    except Exception as exc:
        raise GalmixIOError(f"cannot read catalog {str(p)!r}: {exc}") from exc
    raise GalmixIOError(f"{str(p)!r}: unknown catalog format (expected .parquet or .fits)")


def _restore_descriptions(t: Any, path: Path) -> None:
    from astropy.io import fits

    with fits.open(path, memmap=False) as hdul:
        hdr = hdul[1].header
    for i, colname in enumerate(t.colnames, start=1):
        comm = hdr.get(f"TCOMM{i}")
        if comm:
            t[colname].description = comm
    for key in list(t.meta):
        if key in ("COMMENT", "HISTORY", "EXTNAME") or str(key).startswith("TCOMM"):
            t.meta.pop(key, None)
    t.meta = {str(k).lower() if str(k).isupper() else k: v for k, v in t.meta.items()}


_PARQUET_META_KEY = b"galmix"


def _write_parquet(t: Any, path: str) -> None:
    """Parquet through pyarrow (no pandas), units/descriptions/meta as JSON metadata."""
    import json

    import pyarrow as pa
    import pyarrow.parquet as pq

    arrays = {}
    columns = {}
    for name in t.colnames:
        col = t[name]
        if col.ndim > 1:
            raise GalmixValueError(
                f"column {name!r} is multi-dimensional; Parquet output needs 1-d"
            )
        data = np.asarray(col)
        mask = np.asarray(getattr(col, "mask", np.zeros(len(col), bool)), dtype=bool)
        if data.dtype.kind in "US":
            arrays[name] = pa.array(data.astype(str).tolist(), mask=mask if mask.any() else None)
        else:
            arrays[name] = pa.array(data, mask=mask if mask.any() else None)
        columns[name] = {
            "unit": "" if col.unit is None else col.unit.to_string(),
            "description": col.description or "",
        }
    info = {
        "meta": dict(t.meta),
        "columns": columns,
        "flag_bits": {name: value for name, value, _ in _flag_bits()},
    }
    table = pa.table(arrays)
    table = table.replace_schema_metadata({_PARQUET_META_KEY: json.dumps(info).encode()})
    pq.write_table(table, path)


def _read_parquet(path: Path) -> Any:
    import json

    import astropy.units as u
    import pyarrow.parquet as pq
    from astropy.table import MaskedColumn, Table

    pt = pq.read_table(path)
    raw = (pt.schema.metadata or {}).get(_PARQUET_META_KEY)
    info = json.loads(raw) if raw else {"meta": {}, "columns": {}}
    t = Table(meta=info.get("meta", {}))
    for name in pt.column_names:
        chunked = pt.column(name)
        arr = chunked.to_numpy(zero_copy_only=False)
        if chunked.null_count:
            mask = chunked.is_null().to_numpy(zero_copy_only=False)
            t[name] = MaskedColumn(arr, mask=mask)
        else:
            t[name] = arr
        doc = info.get("columns", {}).get(name, {})
        if doc.get("unit"):
            try:
                t[name].unit = u.Unit(doc["unit"])
            except ValueError:
                pass
        if doc.get("description"):
            t[name].description = doc["description"]
    return t
