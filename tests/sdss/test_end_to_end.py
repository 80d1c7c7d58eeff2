"""Query result -> field list -> download from loopback -> read frames -> pipeline config.

Everything through the ``galmix sdss`` command line, on synthetic frames in the
SDSS layout served by a local HTTP server that fails and truncates some
responses.
"""

from __future__ import annotations

import numpy as np
import pytest
import yaml

from galmix.cli import main
from galmix.sdss import build_spec_query, frame_filename, read_frame
from galmix.sdss.synthetic import write_synthetic_field

FIELDS = [(3813, 5, 23), (3813, 5, 24)]
BANDS = ["g", "r", "i"]


@pytest.fixture
def served_fields(tmp_path, http_server):
    """Synthetic frames of two fields published under the DR17 SAS layout."""
    src_dir = tmp_path / "sas-files"
    rows = []
    frames = {}
    for k, (run, camcol, field) in enumerate(FIELDS):
        truth, sources = write_synthetic_field(
            src_dir,
            run,
            camcol,
            field,
            bands=BANDS,
            seed=k,
            shape=(60, 80),
            nsources=3,
            dec=45.5 + 0.01 * k,
        )
        for band, t in truth.items():
            url_path = f"/sas/dr17/eboss/photoObj/frames/301/{run}/{camcol}/{t.path.name}"
            http_server.files[url_path] = t.path.read_bytes()
            frames[(band, run, camcol, field)] = t
        for i, s in enumerate(sources):
            rows.append(
                f"{1000 * (k + 1) + i},{s['ra']:.7f},{s['dec']:.7f},{s['z']},0.0001,GALAXY,{run},{camcol},{field},"
                "19.0,18.0,17.5,17.2,17.0"
            )
    csv = (
        "#Table1\nid,ra,dec,redshift,redshiftError,class,run,camcol,field,u,g,r,i,z\n"
        + "\n".join(rows)
        + "\n"
    )
    result = tmp_path / "one_square_degree.csv"
    result.write_text(csv)
    return result, frames


def test_query_to_pipeline_config(tmp_path, http_server, served_fields, capsys, monkeypatch):
    result, frames = served_fields
    monkeypatch.chdir(tmp_path)
    base = http_server.url + "/sas"
    flaky = f"/sas/dr17/eboss/photoObj/frames/301/3813/5/{frame_filename('r', 3813, 5, 23)}"
    cut = f"/sas/dr17/eboss/photoObj/frames/301/3813/5/{frame_filename('i', 3813, 5, 24)}"
    http_server.behaviour[flaky] = {"fail": 2, "status": 502}
    http_server.behaviour[cut] = {"truncate": 1}

    # 1. the SQL the user runs on CasJobs
    assert main(["sdss", "query", "--ra", "180", "181", "--dec", "45", "46", "--top", "10"]) == 0
    sql = capsys.readouterr().out.strip()
    assert sql == build_spec_query(ra=(180.0, 181.0), dec=(45.0, 46.0), top=10)

    # 2. its result -> distinct fields
    assert main(["sdss", "fields", str(result)]) == 0
    out = capsys.readouterr().out
    assert "3813-5-23  rerun 301  objects 3" in out and "3813-5-24" in out

    # 3. dry run: nothing requested
    args = ["sdss", "fetch", str(result), "--out", "frames", "--bands", "gri", "--base-url", base]
    args += ["--no-progress", "--backoff", "0", "--retries", "3", "--timeout", "10"]
    assert main([*args, "--dry-run"]) == 0
    listing = capsys.readouterr().out
    assert listing.count("planned") == 6 and http_server.log == []
    assert f"{base}/dr17/eboss/photoObj/frames/301/3813/5/frame-g-003813-5-0023.fits.bz2" in listing

    # 4. download (two workers; one file fails twice with 502, one is truncated once)
    assert main([*args, "--workers", "2"]) == 0
    err = capsys.readouterr().err
    assert "6 downloaded" in err and "0 failed" in err
    assert http_server.counts[flaky] == 3
    assert [r for p, r in http_server.log if p == cut][
        1
    ] is not None  # resumed with a Range request
    for (band, run, camcol, field), truth in frames.items():
        got = tmp_path / "frames" / frame_filename(band, run, camcol, field)
        assert got.read_bytes() == truth.path.read_bytes()
    assert sorted(p.name for p in (tmp_path / "frames").iterdir()) == sorted(
        frame_filename(b, *f) for b in BANDS for f in FIELDS
    )

    # 5. again: everything present, nothing requested
    n = len(http_server.log)
    assert main(args) == 0
    assert "6 already present" in capsys.readouterr().err and len(http_server.log) == n

    # 6. the frames read back with their calibration weights
    for (band, run, camcol, field), truth in frames.items():
        fr = read_frame(tmp_path / "frames" / frame_filename(band, run, camcol, field))
        assert (fr.band, fr.run, fr.camcol, fr.field) == (band, run, camcol, field)
        np.testing.assert_allclose(fr.sky, truth.sky, rtol=1e-12)
        chi = (fr.image - truth.image) * np.sqrt(fr.weight)
        assert 0.9 < np.std(chi) < 1.1

    # 7. one pipeline config per field, format: sdss, reference catalog of that field
    assert main(["sdss", "config", str(result), "--frames", "frames", "--out", "cfg", "--bands", "gri",
                 "--psf-fwhm", "1.4"]) == 0  # fmt: skip
    written = capsys.readouterr().out.split()
    assert [p.rsplit("/", 1)[-1] for p in written] == [
        "field-3813-5-23.yaml",
        "field-3813-5-24.yaml",
    ]
    cfg_path = tmp_path / "cfg" / "field-3813-5-23.yaml"
    cfg = yaml.safe_load(cfg_path.read_text())
    assert list(cfg["bands"]) == BANDS
    for band in BANDS:
        spec = cfg["bands"][band]
        assert (
            spec["format"] == "sdss" and spec["zeropoint"] == 22.5 and spec["psf"] == {"fwhm": 1.4}
        )
        assert (cfg_path.parent / spec["image"]).resolve() == (
            tmp_path / "frames" / frame_filename(band, *FIELDS[0])
        ).resolve()
    assert cfg["detection"]["band"] == "r" and cfg["registration"] == {
        "method": "interp",
        "reference": "r",
    }
    ref = cfg["reference_catalog"]
    assert ref["columns"] == ["z", "z_err", "class"]
    from astropy.table import Table

    ref_table = Table.read(cfg_path.parent / ref["path"], format="ascii.csv")
    assert len(ref_table) == 3 and set(ref_table["field"]) == {23} and "z" in ref_table.colnames

    # 8. the pipeline's own loader accepts it (when the pipeline package is present)
    config_mod = pytest.importorskip("galmix.pipeline.config")
    loaded = config_mod.load_config(cfg_path)
    assert all(loaded.bands[b].format == "sdss" for b in BANDS)


@pytest.mark.slow
def test_pipeline_runs_on_fetched_frames(tmp_path, http_server, served_fields, capsys, monkeypatch):
    """The written config runs through the pipeline; detections get their redshifts."""
    pipeline = pytest.importorskip("galmix.pipeline")
    if not hasattr(pipeline, "run_pipeline"):
        pytest.skip("galmix.pipeline has no run_pipeline")
    result, frames = served_fields
    monkeypatch.chdir(tmp_path)
    args = ["sdss", "fetch", str(result), "--out", "frames", "--bands", "gri", "--no-progress"]
    assert main([*args, "--base-url", http_server.url + "/sas"]) == 0
    assert main(["sdss", "config", str(result), "--frames", "frames", "--out", "cfg", "--bands", "gri",
                 "--no-fit"]) == 0  # fmt: skip
    capsys.readouterr()
    cfg_path = tmp_path / "cfg" / "field-3813-5-23.yaml"
    assert yaml.safe_load(cfg_path.read_text())["measurement"]["fit"] is False
    res = pipeline.run_pipeline(cfg_path, progress=False, report=False)
    from astropy.table import Table

    cat = Table.read(res.catalog["fits"])
    truth = frames[("r", 3813, 5, 23)].sources
    assert len(cat) >= len(truth)
    # every simulated galaxy is detected and carries its spectroscopic redshift
    zcol = "ref_z" if "ref_z" in cat.colnames else "z"
    matched = np.asarray(cat[zcol], dtype=float)
    for z in truth["z"]:
        assert np.any(np.isclose(matched, z, atol=1e-6)), z


def test_frames_users_already_have(tmp_path, capsys):
    """Seed-style local names (run-camcol-field-band.fits), no catalog: --field."""
    truth, _ = write_synthetic_field(
        tmp_path / "src", 94, 1, 7, bands=["r", "i"], shape=(40, 50), compress=False
    )
    local = tmp_path / "images"
    local.mkdir()
    for band, t in truth.items():
        (local / f"94-1-7-{band}.fits").write_bytes(t.path.read_bytes())
    code = main(["sdss", "config", "--frames", str(local), "--field", "94-1-7", "--bands", "ri", "--out",
                 str(tmp_path / "cfg")])  # fmt: skip
    assert code == 0
    cfg = yaml.safe_load((tmp_path / "cfg" / "field-94-1-7.yaml").read_text())
    assert (
        cfg["bands"]["i"]["image"].endswith("images/94-1-7-i.fits")
        and "reference_catalog" not in cfg
    )
    # a missing band is skipped (exit 1 when nothing is written) or an error
    assert main(["sdss", "config", "--frames", str(local), "--field", "94-1-7", "--bands", "gri", "--out",
                 str(tmp_path / "cfg2")]) == 1  # fmt: skip
    assert main(["sdss", "config", "--frames", str(local), "--field", "94-1-7", "--bands", "gri", "--out",
                 str(tmp_path / "cfg3"), "--missing", "error"]) == 2  # fmt: skip
    assert "band(s) ['g']" in capsys.readouterr().err


def test_fetch_reports_failures_with_exit_code(tmp_path, http_server, capsys):
    code = main(["sdss", "fetch", "--field", "1-1-1", "--bands", "r", "--out", str(tmp_path / "f"),
                 "--base-url", http_server.url, "--no-progress", "--retries", "0"])  # fmt: skip
    assert code == 1
    err = capsys.readouterr().err
    assert "HTTP 404" in err and "frame-r-000001-1-0001.fits.bz2" in err and "1 failed" in err
    # bad parameters are reported as errors, not tracebacks
    assert main(["sdss", "query", "--class", "GALAXY'--"]) == 2
    assert "classes" in capsys.readouterr().err


def test_fetch_plain_url_list(tmp_path, http_server, capsys):
    http_server.files["/other/survey/img_001.fits"] = b"SIMPLE  = T"
    http_server.files["/other/survey/img_002.fits"] = b"SIMPLE  = F"
    lst = tmp_path / "urls.txt"
    lst.write_text(
        "# other survey\n"
        + "\n".join(http_server.url + f"/other/survey/img_00{i}.fits" for i in (1, 2))
        + "\n"
    )
    code = main(
        ["sdss", "fetch", "--url-list", str(lst), "--out", str(tmp_path / "o"), "--no-progress"]
    )
    assert code == 0 and "2 downloaded" in capsys.readouterr().err
    assert (tmp_path / "o" / "img_002.fits").read_bytes() == b"SIMPLE  = F"


def test_weight_command_writes_maps_with_wcs(r_frame, tmp_path, capsys):
    from astropy.io import fits

    code = main(["sdss", "weight", str(r_frame.path), "--out", str(tmp_path), "--image"])
    assert code == 0
    assert "band r run 3813 camcol 5 field 23 gain 4.725" in capsys.readouterr().out
    frame = read_frame(r_frame.path)
    with fits.open(tmp_path / "frame-r-003813-5-0023.weight.fits") as h:
        w = h[0].data
        hdr = h[0].header
    np.testing.assert_allclose(w, frame.weight, rtol=1e-6)
    assert hdr["BUNIT"] == "nanomaggy-2" and hdr["CTYPE1"] == "RA---TAN" and hdr["FILTER"] == "r"
    assert hdr["CRVAL1"] == frame.header["CRVAL1"] and hdr["CD1_1"] == frame.header["CD1_1"]
    img = fits.getdata(tmp_path / "frame-r-003813-5-0023.fits")
    np.testing.assert_allclose(img, frame.image, rtol=1e-6, atol=1e-12)
    # refuses to overwrite unless asked
    assert main(["sdss", "weight", str(r_frame.path), "--out", str(tmp_path)]) == 2
    assert main(["sdss", "weight", str(r_frame.path), "--out", str(tmp_path), "--overwrite"]) == 0
