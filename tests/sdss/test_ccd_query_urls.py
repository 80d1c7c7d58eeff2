"""Gain/dark-variance table, SQL builder, query-result reader and URL templates."""

from __future__ import annotations

import numpy as np
import pytest
from astropy.table import Table
from hypothesis import given, settings
from hypothesis import strategies as st

from galmix.errors import GalmixTypeError, GalmixValueError
from galmix.sdss import (
    BANDS,
    build_spec_query,
    ccd_table,
    frame_url,
    frame_urls,
    read_query_result,
    sdss_dark_variance,
    sdss_gain,
    unique_fields,
    validate_template,
)
from galmix.sdss.naming import frame_filename, parse_frame_filename


def _seed_gain(band, camcol, run):
    """The lookup of seed 002 (image-photo-z), an independent transcription of the data model."""
    lut = [
        {},
        {"u": 1.62, "g": 3.32, "r": 4.71, "i": 5.165, "z": 4.745},
        {"u": 1.595, "g": 3.855, "r": 4.6, "i": 6.565, "z": 5.155},
        {"u": 1.59, "g": 3.845, "r": 4.72, "i": 4.86, "z": 4.885},
        {"u": 1.6, "g": 3.995, "r": 4.76, "i": 4.885, "z": 4.775},
        {"u": 1.47, "g": 4.05, "r": 4.725, "i": 4.64, "z": 3.48},
        {"u": 2.17, "g": 4.035, "r": 4.895, "i": 4.76, "z": 4.69},
    ]
    if run > 1100:
        lut[2]["u"] = 1.825
    return lut[camcol][band]


def _seed_dark_variance(band, camcol, run):
    lut = [
        {},
        {"u": 9.61, "g": 15.6025, "r": 1.8225, "i": 7.84, "z": 0.81},
        {"u": 12.6025, "g": 1.44, "r": 1.0, "i": 5.76, "z": 1.0},
        {"u": 8.7025, "g": 1.3225, "r": 1.3225, "i": 4.6225, "z": 1.0},
        {"u": 12.6025, "g": 1.96, "r": 1.3225, "i": 6.25, "z": 9.61},
        {"u": 9.3025, "g": 1.1025, "r": 0.81, "i": 7.84, "z": 1.8225},
        {"u": 7.0225, "g": 1.8225, "r": 0.9025, "i": 5.0625, "z": 1.21},
    ]
    if run > 1500:
        lut[2]["i"] = 6.25
        lut[4]["i"] = 7.5625
        lut[4]["z"] = 12.6025
        lut[5]["z"] = 2.1025
    return lut[camcol][band]


@pytest.mark.parametrize("run", [94, 1100, 1101, 1500, 1501, 3813, 8162])
def test_ccd_table_matches_seed_lookup(run):
    for camcol in range(1, 7):
        for band in BANDS:
            assert sdss_gain(band, camcol, run) == _seed_gain(band, camcol, run)
            assert sdss_dark_variance(band, camcol, run) == _seed_dark_variance(band, camcol, run)


def test_ccd_table_errors_and_source():
    t = ccd_table()
    assert "frame.html" in t.meta["source"]
    assert len(t) == 60 + 5
    with pytest.raises(GalmixValueError, match="camcol"):
        sdss_gain("r", 7, 100)
    with pytest.raises(GalmixValueError, match="band"):
        sdss_gain("y", 1, 100)
    with pytest.raises(GalmixTypeError, match="camcol"):
        sdss_dark_variance("r", "one", 100)


# ------------------------------------------------------------------- SQL


def test_query_reproduces_seed_selection():
    sql = build_spec_query(
        ra=(180, 181), dec=(45, 46), top=10, into="objects_with_redshifts", data_release=10
    )
    lines = sql.splitlines()
    assert lines[0] == "SELECT TOP 10"
    for fragment in (
        "s.specObjID AS id",
        "s.z AS z",
        "s.zErr AS z_err",
        "s.class AS class",
        "p.run AS run",
        "p.camcol AS camcol",
        "p.field AS field",
        "p.dered_u AS mag_u",
        "p.dered_z AS mag_z",
        "p.modelMagErr_r AS magerr_r",
        "INTO mydb.objects_with_redshifts",
        "JOIN SpecPhotoAll AS sp ON s.specObjID = sp.specObjID",
        "JOIN PhotoObj AS p ON sp.objID = p.objID",
        "WHERE p.clean = 1",
        "AND s.zWarning = 0",
        "AND s.ra BETWEEN 180.0 AND 181.0",
        "AND s.dec BETWEEN 45.0 AND 46.0",
        "AND s.class IN ('GALAXY')",
        "DR10",
    ):
        assert fragment in sql, fragment
    # no limits: no WHERE clause beyond the quality cuts; no TOP
    sql2 = build_spec_query(classes=None, zwarning=None, clean=False)
    assert "WHERE" not in sql2 and sql2.startswith("SELECT\n")
    wrap = build_spec_query(ra=(350.0, 10.0))
    assert "(s.ra >= 350.0 OR s.ra <= 10.0)" in wrap
    assert "s.sciencePrimary = 1" in build_spec_query(science_primary=True)


@pytest.mark.parametrize(
    ("kwargs", "exc", "match"),
    [
        ({"top": "10; DROP TABLE x"}, GalmixTypeError, "top"),
        ({"top": 0}, GalmixValueError, "top"),
        ({"top": 2.5}, GalmixTypeError, "top"),
        ({"ra": ("180", 181)}, GalmixTypeError, "ra"),
        ({"ra": (180, 400)}, GalmixValueError, "ra"),
        ({"dec": (1, float("nan"))}, GalmixValueError, "dec"),
        ({"dec": (10, -10)}, GalmixValueError, "dec"),
        ({"z": 0.5}, GalmixTypeError, "z"),
        ({"classes": ["GALAXY' OR 1=1 --"]}, GalmixValueError, "classes"),
        ({"classes": []}, GalmixValueError, "classes"),
        ({"zwarning": "0 OR 1=1"}, GalmixTypeError, "zwarning"),
        ({"zwarning": -1}, GalmixValueError, "zwarning"),
        ({"into": "x; DROP TABLE y"}, GalmixValueError, "into"),
        ({"data_release": 7}, GalmixValueError, "data_release"),
        ({"clean": "yes"}, GalmixTypeError, "clean"),
    ],
)
def test_query_rejects_bad_parameters(kwargs, exc, match):
    with pytest.raises(exc, match=match):
        build_spec_query(**kwargs)


@settings(max_examples=60, deadline=None)
@given(
    a=st.floats(0, 360),
    b=st.floats(0, 360),
    d=st.floats(-90, 90),
    classes=st.lists(st.sampled_from(["galaxy", "QSO", "Star"]), min_size=1, max_size=3),
    top=st.one_of(st.none(), st.integers(1, 10**6)),
)
def test_query_text_only_holds_validated_tokens(a, b, d, classes, top):
    sql = build_spec_query(ra=(a, b), dec=(min(d, 0.0), max(d, 0.0)), classes=classes, top=top)
    body = sql.rsplit("\n--", 1)[0]
    assert ";" not in body and "--" not in body and "/*" not in body
    assert body.count("'") == 2 * len({c.upper() for c in classes})
    # every number in the WHERE clause round-trips to the input value
    assert repr(float(a)) in body and repr(float(b)) in body


# ------------------------------------------------------------ query result


SEED_CSV = """#Table1
id,ra,dec,redshift,redshiftError,class,run,camcol,field,u,g,r,i,z
1237,180.1,45.2,0.101,0.00002,GALAXY,3813,5,23,19.1,17.9,17.2,16.8,16.5
1238,180.2,45.3,0.202,0.00003,GALAXY,3813,5,23,20.1,18.9,18.0,17.6,17.3
1239,180.9,45.9,1.5,0.001,QSO,3813,5,24,19.0,18.9,18.8,18.7,18.6
1240,181.5,46.1,0.05,0.00001,GALAXY,94,1,7,18.1,17.0,16.4,16.0,15.8
"""


def test_read_seed_style_csv_and_unique_fields(tmp_path):
    p = tmp_path / "one_square_degree.csv"
    p.write_text(SEED_CSV)
    t = read_query_result(p)
    assert t.colnames == [
        "id", "ra", "dec", "z", "z_err", "class", "run", "camcol", "field",
        "mag_u", "mag_g", "mag_r", "mag_i", "mag_z",
    ]  # fmt: skip
    np.testing.assert_allclose(t["z"], [0.101, 0.202, 1.5, 0.05])
    np.testing.assert_allclose(t["mag_z"], [16.5, 17.3, 18.6, 15.8])
    assert list(t["class"]) == ["GALAXY", "GALAXY", "QSO", "GALAXY"]
    u = unique_fields(t)
    assert [
        (int(r["run"]), str(r["rerun"]), int(r["camcol"]), int(r["field"]), int(r["n_objects"]))
        for r in u
    ] == [
        (94, "301", 1, 7, 1),
        (3813, "301", 5, 23, 2),
        (3813, "301", 5, 24, 1),
    ]


def test_read_galmix_query_fits_result(tmp_path):
    t0 = Table(
        {
            "ID": np.array([1, 2, 3], dtype=np.int64),
            "RA": [10.0, 10.1, 10.2],
            "DEC": [0.0, 0.1, 0.2],
            "Z": [0.1, 0.2, 0.3],
            "Z_ERR": [1e-4, 1e-4, 1e-4],
            "CLASS": np.array([b"GALAXY  ", b"QSO     ", b"STAR    "]),
            "RUN": [756, 756, 756],
            "RERUN": np.array([b"301", b"301", b"301"]),
            "CAMCOL": [3, 3, 3],
            "FIELD": [100, 101, -1],  # the last row cannot name a frame
            **{f"MAG_{b.upper()}": [18.0, 19.0, 20.0] for b in BANDS},
        }
    )
    p = tmp_path / "result.fits"
    t0.write(p)
    t = read_query_result(p)
    assert "z" in t.colnames and "mag_u" in t.colnames and "class" in t.colnames
    assert list(t["class"]) == ["GALAXY", "QSO", "STAR"]
    u = unique_fields(t)
    assert len(u) == 2 and list(u["field"]) == [100, 101] and list(u["rerun"]) == ["301", "301"]


def test_read_query_result_errors(tmp_path):
    from galmix.errors import GalmixIOError

    with pytest.raises(GalmixIOError, match="no such file"):
        read_query_result(tmp_path / "none.csv")
    p = tmp_path / "bad.csv"
    p.write_text("a,b\n1,2\n")
    with pytest.raises(GalmixIOError, match="'ra'"):
        read_query_result(p)
    with pytest.raises(GalmixValueError, match="run"):
        unique_fields(Table({"camcol": [1], "field": [2]}))


# ------------------------------------------------------------------- URLs


def test_frame_urls_by_release():
    assert frame_url("r", 3813, 5, 23, data_release=10) == (
        "https://data.sdss.org/sas/dr10/boss/photoObj/frames/301/3813/5/frame-r-003813-5-0023.fits.bz2"
    )
    assert frame_url("u", 94, 1, 7, data_release=8).startswith(
        "https://data.sdss.org/sas/dr8/groups/boss/photoObj/frames/301/94/1/"
    )
    assert "/dr16/eboss/photoObj/frames/" in frame_url("g", 94, 1, 7, data_release=16)
    assert frame_url("r", 1000, 6, 27, data_release=18) == (
        "https://data.sdss.org/sas/dr18/prior-surveys/sdss4-dr17-eboss/photoObj/frames/301/1000/6/"
        "frame-r-001000-6-0027.fits.bz2"
    )
    with pytest.raises(GalmixValueError, match="data_release"):
        frame_url("r", 1000, 6, 27, data_release=19)
    assert frame_url("z", 94, 1, 7, base_url="http://mirror.example/sas/").startswith(
        "http://mirror.example/sas/dr17/"
    )
    # the seed's own URL construction for DR10
    run, camcol, field, band, rerun = "3813", "5", "23", "r", "301"
    seed = (
        "http://data.sdss3.org/sas/dr10/boss/photoObj/frames/" + rerun + "/" + run + "/" + camcol + "/frame-"
        + band + "-" + run.zfill(6) + "-" + camcol + "-" + field.zfill(4) + ".fits.bz2"
    )  # fmt: skip
    ours = frame_url("r", 3813, 5, 23, data_release=10, base_url="http://data.sdss3.org/sas")
    assert ours == seed


def test_templates_and_items(tmp_path):
    tpl = "http://127.0.0.1:9/{rerun}/{run}/{camcol}/frame-{band}-{run:06d}-{camcol}-{field:04d}.fits.bz2"
    assert sorted(validate_template(tpl)) == ["band", "camcol", "field", "rerun", "run"]
    for bad in ("{run.__class__}", "{band[0]}", "{user}", "{}", "{run!r}", "{run"):
        with pytest.raises(GalmixValueError, match="template"):
            validate_template(bad)
    fields = Table({"run": [3813, 94], "rerun": ["301", "301"], "camcol": [5, 1], "field": [23, 7]})
    items = frame_urls(fields, tmp_path, bands="gr", template=tpl)
    assert len(items) == 4
    assert items[0].url == "http://127.0.0.1:9/301/3813/5/frame-g-003813-5-0023.fits.bz2"
    assert items[0].path == tmp_path / "frame-g-003813-5-0023.fits.bz2"
    items2 = frame_urls(
        [(3813, 5, 23)],
        tmp_path,
        bands=["r"],
        filename_template="{run}-{camcol}-{field}-{band}.fits.bz2",
    )
    assert items2[0].path.name == "3813-5-23-r.fits.bz2"
    with pytest.raises(GalmixValueError, match="bands"):
        frame_urls([(1, 1, 1)], tmp_path, bands=["y"])
    with pytest.raises(GalmixValueError, match="camcol"):
        frame_url("r", 1, 9, 1)


@settings(max_examples=50, deadline=None)
@given(
    band=st.sampled_from(BANDS),
    run=st.integers(0, 999999),
    camcol=st.integers(1, 6),
    field=st.integers(0, 9999),
)
def test_filename_round_trip(band, run, camcol, field):
    name = frame_filename(band, run, camcol, field)
    assert tuple(parse_frame_filename(name)) == (band, run, camcol, field)
    assert frame_url(band, run, camcol, field).endswith("/" + name)


def test_large_spec_obj_ids_stay_exact(tmp_path):
    # DR8+ specObjIDs exceed int64 (e.g. eBOSS plates): kept exact as uint64
    p = tmp_path / "big.csv"
    p.write_text(
        "id,objid,ra,dec\n16984658719186958336,1237657070629290123,1.0,2.0\n299489677444933632,1,3.0,4.0\n"
    )
    t = read_query_result(p)
    assert t["id"].dtype == np.uint64 and int(t["id"][0]) == 16984658719186958336
    assert int(t["objid"][0]) == 1237657070629290123


def test_area_query_second_step():
    from galmix.sdss import build_area_query

    sql = build_area_query(
        "objects_with_redshifts", ra=(350, 10), dec=(-1, 1), into="one_square_degree"
    )
    assert sql.splitlines() == [
        "SELECT *",
        "INTO mydb.one_square_degree",
        "FROM mydb.objects_with_redshifts",
        "WHERE (ra >= 350.0 OR ra <= 10.0)",
        "  AND dec BETWEEN -1.0 AND 1.0",
    ]
    with pytest.raises(GalmixValueError, match="table"):
        build_area_query("x; DROP TABLE y", ra=(0, 1), dec=(0, 1))
    with pytest.raises(GalmixTypeError, match="ra"):
        build_area_query("t", ra=("0", 1), dec=(0, 1))
