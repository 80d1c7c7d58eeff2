"""Reading photometric catalogs (FITS, CSV, Parquet) into photo-z inputs.

Column specifications name either one *vector* column holding all bands
(e.g. SDSS ``MODELFLUX`` with 5 ugriz values) or a *template* with
``{band}`` expanded per band (e.g. ``flux_{band}`` -> ``flux_g``, ``flux_r``).

Examples
--------
>>> import numpy as np
>>> from astropy.table import Table
>>> from galmix.photoz.catalog import photometry_from_table
>>> t = Table({"flux_g": [10.0, 20.0], "flux_r": [30.0, 40.0],
...            "err_g": [1.0, 1.0], "err_r": [1.0, 1.0], "zspec": [0.1, 0.2]})
>>> X, z = photometry_from_table(t, ["g", "r"], ["flux_{band}"], flux_err=["err_{band}"],
...                              z="zspec")
>>> X.shape, z.tolist()
((2, 4), [0.1, 0.2])
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np
from astropy.table import Table

from galmix.errors import GalmixIOError, GalmixValueError
from galmix.photoz.features import flux_errors_from_ivar, photometry_matrix

__all__ = [
    "SDSS_GST_COLUMNS",
    "iter_table_chunks",
    "photometry_from_table",
    "read_table",
    "table_format",
]

#: column options for the kcorrect ``gst_tests_small.fits`` SDSS sample
#: (model and Petrosian ugriz fluxes in nanomaggies, ivars, extinction, Z)
SDSS_GST_COLUMNS = {
    "bands": ("u", "g", "r", "i", "z"),
    "flux": ("MODELFLUX", "PETROFLUX"),
    "ivar": ("MODELFLUX_IVAR", "PETROFLUX_IVAR"),
    "extinction": "EXTINCTION",
    "z": "Z",
}


def table_format(path: str | os.PathLike) -> str:
    """``fits``, ``csv`` or ``parquet`` from the file name.

    Examples
    --------
    >>> table_format("cat.fits.gz"), table_format("x.PARQUET"), table_format("a.csv")
    ('fits', 'parquet', 'csv')
    """
    name = str(path).lower()
    for ext, fmt in (
        (".parquet", "parquet"),
        (".pq", "parquet"),
        (".csv", "csv"),
        (".fits", "fits"),
        (".fit", "fits"),
        (".fits.gz", "fits"),
        (".fits.fz", "fits"),
    ):
        if name.endswith(ext):
            return fmt
    raise GalmixValueError(f"cannot tell the table format of {str(path)!r} (fits, csv, parquet)")


def read_table(path: str | os.PathLike, hdu: int = 1) -> Table:
    """Read a whole catalog (FITS table HDU ``hdu``, CSV or Parquet)."""
    path = Path(path)
    if not path.is_file():
        raise GalmixIOError(f"catalog {str(path)!r} does not exist")
    fmt = table_format(path)
    try:
        if fmt == "fits":
            return Table.read(path, hdu=hdu, format="fits")
        if fmt == "csv":
            return Table.read(path, format="ascii.csv")
        import pyarrow.parquet as pq

        return _arrow_to_table(pq.read_table(path))
    except (OSError, ValueError, KeyError, IndexError) as exc:
        raise GalmixIOError(f"cannot read catalog {str(path)!r}: {exc}") from None


def iter_table_chunks(
    path: str | os.PathLike, chunk_rows: int = 100_000, hdu: int = 1
) -> Iterator[Table]:
    """Yield a catalog in tables of at most ``chunk_rows`` rows.

    Parquet is read batch by batch and FITS through a memory map, so memory
    stays flat for any catalog size; CSV is read whole.
    """
    if int(chunk_rows) < 1:
        raise GalmixValueError(f"chunk_rows must be >= 1, got {chunk_rows!r}")
    path = Path(path)
    if not path.is_file():
        raise GalmixIOError(f"catalog {str(path)!r} does not exist")
    fmt = table_format(path)
    if fmt == "parquet":
        import pyarrow.parquet as pq

        pf = pq.ParquetFile(path)
        for batch in pf.iter_batches(batch_size=int(chunk_rows)):
            yield _arrow_to_table(batch)
    elif fmt == "fits":
        from astropy.io import fits

        with fits.open(path, memmap=True) as hdul:
            data = hdul[hdu].data
            n = 0 if data is None else len(data)
            for start in range(0, n, int(chunk_rows)):
                yield Table(np.array(data[start : start + int(chunk_rows)]))
    else:
        t = read_table(path, hdu=hdu)
        for start in range(0, len(t), int(chunk_rows)):
            yield t[start : start + int(chunk_rows)]


def _arrow_to_table(batch) -> Table:
    t = Table()
    for name, col in zip(batch.schema.names, batch.columns):
        arr = col.to_numpy(zero_copy_only=False)
        if arr.dtype == object and arr.size and isinstance(arr[0], np.ndarray):
            arr = np.stack(arr)
        t[name] = arr
    return t


def _block(table: Table, spec: str, bands: Sequence[str], what: str) -> np.ndarray:
    nb = len(bands)
    if spec in table.colnames:
        arr = np.asarray(table[spec], dtype=np.float64)
        if arr.ndim == 2 and arr.shape[1] == nb:
            return arr
        raise GalmixValueError(
            f"{what} column {spec!r} must be a vector column with {nb} values (one per band); "
            f"use a '{{band}}' template for per-band columns"
        )
    if "{band}" not in spec:
        raise GalmixValueError(f"{what} column {spec!r} not found in the catalog")
    cols = []
    for b in bands:
        name = spec.replace("{band}", b)
        if name not in table.colnames:
            raise GalmixValueError(f"{what} column {name!r} not found in the catalog")
        cols.append(np.asarray(table[name], dtype=np.float64))
    return np.column_stack(cols)


def photometry_from_table(
    table: Table,
    bands: Sequence[str],
    flux: Sequence[str],
    flux_err: Sequence[str] | None = None,
    ivar: Sequence[str] | None = None,
    extinction: str | None = None,
    extra: Sequence[str] = (),
    z: str | None = None,
) -> tuple[np.ndarray, np.ndarray | None]:
    """Raw photometry matrix (see :func:`~galmix.photoz.features.photometry_matrix`).

    Parameters
    ----------
    table : Table
    bands : sequence of str
    flux : sequence of column specs
        One spec per flux set.
    flux_err, ivar : sequence of column specs
        Errors or inverse variances, one per flux set (exactly one of the two).
    extinction : column spec, optional
    extra : column names, optional
        Pass-through features (sizes, fit colours, ...).
    z : column name, optional
        Redshift column (returned second, else ``None``).
    """
    bands = list(bands)
    flux = [flux] if isinstance(flux, str) else list(flux)
    if (flux_err is None) == (ivar is None):
        raise GalmixValueError("give exactly one of flux_err and ivar column specs")
    err_specs = flux_err if flux_err is not None else ivar
    err_specs = [err_specs] if isinstance(err_specs, str) else list(err_specs)
    if len(err_specs) != len(flux):
        raise GalmixValueError(
            f"need one error column spec per flux set ({len(flux)}), got {len(err_specs)}"
        )
    fluxes = [_block(table, s, bands, "flux") for s in flux]
    if flux_err is not None:
        errs = [_block(table, s, bands, "flux_err") for s in err_specs]
    else:
        errs = [flux_errors_from_ivar(_block(table, s, bands, "ivar")) for s in err_specs]
    ext = _block(table, extinction, bands, "extinction") if extinction else None
    ex = None
    if extra:
        for c in extra:
            if c not in table.colnames:
                raise GalmixValueError(f"extra column {c!r} not found in the catalog")
        ex = np.column_stack([np.asarray(table[c], dtype=np.float64) for c in extra])
    X = photometry_matrix(fluxes, errs, extinction=ext, extra=ex)
    zz = None
    if z is not None:
        if z not in table.colnames:
            raise GalmixValueError(f"redshift column {z!r} not found in the catalog")
        zz = np.asarray(table[z], dtype=np.float64)
    return X, zz
