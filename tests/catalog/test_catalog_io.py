"""Catalog writing (atomic, Parquet + FITS) and reading, with column docs."""

from __future__ import annotations

import os

import numpy as np
import pytest
from astropy.table import MaskedColumn, Table

from galmix.catalog import COLUMN_DOCS, annotate, column_doc, read_catalog, write_catalog
from galmix.errors import GalmixIOError, GalmixValueError


def _table():
    t = Table(
        {
            "id": np.arange(1, 4, dtype=np.int64),
            "x": [0.5, 1.5, 2.5],
            "flux_auto": [1.0, np.nan, 3.0],
            "r_flux_auto": [4.0, 5.0, 6.0],
            "flags": np.array([0, 2, 1 << 40], dtype=np.int64),
        }
    )
    t["ref_cls"] = MaskedColumn(["gal", "", "star"], mask=[False, True, False])
    t.meta["threshold"] = 1.5
    t.meta["bands"] = ["r"]
    return annotate(t, bands=["r"])


@pytest.mark.parametrize("fmt", ["parquet", "fits"])
def test_round_trip_keeps_values_units_and_docs(tmp_path, fmt):
    t = _table()
    paths = write_catalog(t, tmp_path, formats=(fmt,))
    back = read_catalog(paths[fmt])
    assert back.colnames == t.colnames
    for c in ("id", "x", "flux_auto", "r_flux_auto", "flags"):
        np.testing.assert_array_equal(np.asarray(back[c]), np.asarray(t[c]))
    assert back["flags"][2] == 1 << 40
    assert str(back["x"].unit) == "pix"
    assert back["r_flux_auto"].description.startswith("[r] Kron-like total flux")
    assert back.meta["threshold"] == 1.5
    assert back["ref_cls"][0] == "gal"
    if fmt == "parquet":
        assert back["ref_cls"].mask.tolist() == [False, True, False]
    # no temporary files are left behind
    assert sorted(os.listdir(tmp_path)) == [f"catalog.{fmt}"]


def test_failed_write_keeps_old_file(tmp_path):
    good = write_catalog(Table({"x": [1.0]}), tmp_path, formats=("parquet",))["parquet"]
    bad = Table({"x": [[1.0, 2.0]]})  # 2-d column: not writable to Parquet here
    with pytest.raises(GalmixIOError):
        write_catalog(bad, tmp_path, formats=("parquet",))
    assert read_catalog(good)["x"][0] == 1.0
    assert sorted(os.listdir(tmp_path)) == ["catalog.parquet"]


def test_bad_arguments(tmp_path):
    with pytest.raises(GalmixValueError, match="formats"):
        write_catalog(Table({"x": [1]}), tmp_path, formats=("csv",))
    with pytest.raises(GalmixValueError, match="name"):
        write_catalog(Table({"x": [1]}), tmp_path, name="a/b")
    with pytest.raises(GalmixIOError, match="no such file"):
        read_catalog(tmp_path / "missing.fits")
    (tmp_path / "junk.fits").write_text("not fits")
    with pytest.raises(GalmixIOError):
        read_catalog(tmp_path / "junk.fits")


def test_every_doc_has_unit_and_text():
    for name, (unit, text) in COLUMN_DOCS.items():
        assert isinstance(unit, str) and text, name
    assert column_doc("g_flux_aper_3_err", bands=["g"])[0] == "image units"
    assert column_doc("unknown_column") == ("", "")


def test_flag_bits_documented_in_files(tmp_path):
    import json

    import pyarrow.parquet as pq
    from astropy.io import fits

    from galmix.errors import FLAGS

    paths = write_catalog(Table({"flags": [int(FLAGS.EDGE)]}), tmp_path)
    hdr = fits.getheader(paths["fits"], 0)
    for f in FLAGS:
        assert hdr[f"FLGB{int(f).bit_length() - 1:02d}"] == f.name
    meta = json.loads(pq.read_schema(paths["parquet"]).metadata[b"galmix"])
    assert meta["flag_bits"]["EDGE"] == int(FLAGS.EDGE)
