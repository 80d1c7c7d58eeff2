"""End-to-end pipeline on a tiny simulated field: schema, truth, executors, resume."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from galmix.errors import FLAGS
from galmix.pipeline.run import run_pipeline
from galmix.pipeline.store import read_parquet_table, sha256_file

from .conftest import tiny_overrides


def _read(path: Path):
    return read_parquet_table(path)


def _assert_tables_identical(a, b) -> None:
    assert a.colnames == b.colnames
    assert len(a) == len(b)
    differ = []
    for c in a.colnames:
        x, y = np.asarray(a[c]), np.asarray(b[c])
        if x.dtype.kind == "f":
            # bitwise: same values and same NaN positions
            d = x.view(np.int64) != y.view(np.int64)
            if d.any():
                rel = np.nanmax(np.abs(x[d] - y[d]) / np.maximum(np.abs(x[d]), 1e-300))
                rows = np.flatnonzero(d)[:5].tolist()
                differ.append(f"{c} ({int(d.sum())} rows, e.g. {rows}, max rel {rel:.1e})")
        elif not np.array_equal(x, y):
            differ.append(c)
    assert not differ, "columns differ: " + "; ".join(differ)


def test_catalog_schema(serial_run) -> None:

    cat = _read(serial_run.catalog["parquet"])
    from galmix.catalog import read_catalog

    fits = read_catalog(serial_run.catalog["fits"])
    assert len(cat) == len(fits) == serial_run.n_objects > 5
    for col in ("id", "x", "y", "ra", "dec", "flags", "tile", "tile_id"):
        assert col in cat.colnames
    for b in ("g", "r"):
        for col in (
            "flux_auto",
            "flux_auto_err",
            "flux_aper_0",
            "flux_aper_1",
            "flags",
            "mag_auto",
            "am_T",
            "am_e1",
            "am_flags",
        ):
            assert f"{b}_{col}" in cat.colnames
        assert f"fit_flux_{b}" in cat.colnames
    assert "fit_half_light_radius" in cat.colnames and "fit_flags" in cat.colnames
    assert np.array_equal(np.asarray(cat["id"]), np.arange(1, len(cat) + 1))
    assert np.asarray(cat["flags"]).dtype.kind == "i"
    assert "ref_z" in cat.colnames and "ref_match_id" in cat.colnames
    assert np.allclose(np.asarray(fits["ra"]), np.asarray(cat["ra"]))
    # documented columns carry descriptions in the FITS file
    assert fits["flux_auto" if "flux_auto" in fits.colnames else "r_flux_auto"].description


def test_no_duplicates_across_tiles(serial_run) -> None:
    from scipy.spatial import cKDTree

    cat = _read(serial_run.catalog["parquet"])
    assert serial_run.n_tiles == 4
    pts = np.column_stack([cat["x"], cat["y"]])
    assert len(cKDTree(pts).query_pairs(1.5)) == 0


def test_truth_match_and_completeness(serial_run, tiny_field) -> None:
    field, _ = tiny_field
    tm = _read(serial_run.output / "truth_match.parquet")
    hit = np.asarray(tm["match_id"]) >= 0
    truth = field.truth
    # every bright (r < 22.5) object away from the edges is detected and matched
    bright = (
        (np.asarray(truth["mag_r"]) < 22.5)
        & (np.asarray(truth["x"]) > 8)
        & (np.asarray(truth["x"]) < 211)
    )
    matched_ids = set(np.asarray(tm["true_id"])[hit].tolist())
    missing = [int(i) for i in np.asarray(truth["id"])[bright] if int(i) not in matched_ids]
    assert not missing, missing
    m = tm[hit]
    # ASSOC cross-match with the reference (spectroscopic) catalog: right redshifts, no false matches
    ref = np.asarray(m["ref_match_id"]) >= 0
    assert ref.sum() >= 3
    assert np.allclose(np.asarray(m["ref_z"])[ref], np.asarray(m["true_z"])[ref])
    unmatched = np.asarray(tm["ref_match_id"]) < 0
    assert np.all(np.asarray(tm["flags"])[unmatched] & int(FLAGS.NO_MATCH))
    # positions agree with the truth (0.2 arcsec pixels) for bright matches
    b = np.asarray(m["true_mag_r"]) < 22
    sep = np.asarray(m["match_sep"])[b]
    assert np.median(sep) < 0.04 and np.mean(sep < 0.1) > 0.8
    # total fluxes: isolated stars' Kron magnitudes within 0.1 mag of the truth
    star = np.asarray(m["true_is_star"], bool) & b
    d = np.asarray(m["r_mag_auto"])[star] - np.asarray(m["true_mag_r"])[star]
    assert star.sum() >= 1 and np.all(np.abs(d) < 0.1)


@pytest.mark.slow
def test_executors_bit_identical(serial_run, tiny_field, tmp_path) -> None:
    _, cfg = tiny_field
    ref = _read(serial_run.catalog["parquet"])
    for kind in ("processes", "dask"):
        out = tmp_path / kind
        res = run_pipeline(cfg, overrides=tiny_overrides(out, kind), progress=False, report=False)
        _assert_tables_identical(ref, _read(res.catalog["parquet"]))
        for t in sorted((serial_run.output / "tiles").glob("tile-*.parquet")):
            assert sha256_file(t) == sha256_file(out / "tiles" / t.name), t.name


def test_resume_after_lost_and_corrupt_tiles(serial_run, tiny_field, tmp_path) -> None:
    import shutil

    _, cfg = tiny_field
    out = tmp_path / "resume"
    shutil.copytree(serial_run.output, out)
    tiles = sorted((out / "tiles").glob("tile-????.parquet"))
    tiles[0].unlink()  # a tile lost
    tiles[2].write_bytes(tiles[2].read_bytes()[:100])  # a tile half written
    # resumed tiles are computed in fresh worker processes (see conftest)
    res = run_pipeline(
        cfg, overrides=tiny_overrides(out, "processes"), progress=False, report=False
    )
    assert res.n_tiles_run == 2
    _assert_tables_identical(_read(serial_run.catalog["parquet"]), _read(res.catalog["parquet"]))
    # a second run reuses everything
    res2 = run_pipeline(cfg, overrides=tiny_overrides(out), progress=False, report=False)
    assert res2.n_tiles_run == 0


def test_resume_after_killed_process(serial_run, tiny_field, tmp_path) -> None:
    _, cfg = tiny_field
    out = tmp_path / "killed"
    code = (
        "import sys, json; from galmix.pipeline.run import run_pipeline; "
        "from tests.pipeline.conftest import tiny_overrides; from pathlib import Path; "
        f"run_pipeline({str(cfg)!r}, overrides=tiny_overrides(Path({str(out)!r})), progress=False, report=False)"
    )
    import galmix

    # the child imports the same galmix (and these tests) as this process
    paths = [
        str(Path(__file__).resolve().parents[2]),
        str(Path(galmix.__file__).resolve().parents[1]),
    ]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([*paths, os.environ.get("PYTHONPATH", "")])}
    proc = subprocess.Popen([sys.executable, "-c", code], env=env)
    manifest = out / "manifest.json"
    deadline = time.monotonic() + 300
    try:
        while time.monotonic() < deadline and proc.poll() is None:
            if manifest.exists():
                try:
                    done = json.loads(manifest.read_text()).get("tiles", {})
                except ValueError:
                    done = {}
                if len(done) >= 1:
                    break
            time.sleep(0.05)
    finally:
        proc.kill()
        proc.wait()
    done = json.loads(manifest.read_text()).get("tiles", {})
    assert len(done) >= 1
    # resumed tiles are computed in fresh worker processes (see conftest)
    res = run_pipeline(
        cfg, overrides=tiny_overrides(out, "processes"), progress=False, report=False
    )
    assert res.n_tiles_run == 4 - len(done)
    _assert_tables_identical(_read(serial_run.catalog["parquet"]), _read(res.catalog["parquet"]))


def test_config_change_invalidates_tiles(serial_run, tiny_field, tmp_path) -> None:
    import shutil

    _, cfg = tiny_field
    out = tmp_path / "changed"
    shutil.copytree(serial_run.output, out)
    ov = tiny_overrides(out)
    ov["detection"] = {"band": "coadd", "threshold": 3.0, "minarea": 5}
    res = run_pipeline(cfg, overrides=ov, progress=False, report=False)
    assert res.n_tiles_run == 4
    assert res.n_objects <= serial_run.n_objects


def test_native_registration_agrees_with_interp(serial_run, tiny_field, tmp_path) -> None:
    """Measuring the dithered band on its own pixels gives the same fluxes as resampling it."""
    _, cfg = tiny_field
    ov = tiny_overrides(tmp_path / "native")
    ov["registration"] = {"method": "native", "reference": "r"}
    ov["detection"] = {"band": "r"}
    ov["measurement"] = {**ov["measurement"], "fit": None}
    nat = _read(run_pipeline(cfg, overrides=ov, progress=False, report=False).catalog["parquet"])
    ov = tiny_overrides(tmp_path / "interp")
    ov["detection"] = {"band": "r"}
    ov["measurement"] = {**ov["measurement"], "fit": None}
    itp = _read(run_pipeline(cfg, overrides=ov, progress=False, report=False).catalog["parquet"])
    assert len(nat) == len(itp)
    assert np.array_equal(np.asarray(nat["x"]), np.asarray(itp["x"]))  # same detections (r band)
    f_nat = np.asarray(nat["g_flux_auto"], float)
    f_itp = np.asarray(itp["g_flux_auto"], float)
    err = np.asarray(itp["g_flux_auto_err"], float)
    ok = np.isfinite(f_nat) & np.isfinite(f_itp) & (f_itp > 20 * err)
    assert ok.sum() >= 4
    assert np.all(np.abs(f_nat[ok] / f_itp[ok] - 1) < 0.03)
    # native g-band moments see the band's own (unresampled) pixels
    assert np.isfinite(np.asarray(nat["g_am_T"], float)).sum() >= ok.sum()


def test_band_not_covering_field_is_off_image(tiny_field, tmp_path) -> None:
    from astropy.io import fits

    from galmix.sim import make_wcs_header

    _, cfg = tiny_field
    far = tmp_path / "far.fits"
    hdr = make_wcs_header((100, 100), 0.2, ra=10.0, dec=-30.0)
    fits.PrimaryHDU(np.random.default_rng(0).normal(size=(100, 100)), header=hdr).writeto(far)
    ov = tiny_overrides(tmp_path / "out")
    ov["measurement"] = {**ov["measurement"], "fit": None, "pixel_table": False}
    ov["detection"] = {"band": "r"}
    ov["bands"] = {"r": {"image": str(cfg.parent / "image-r.fits")}, "far": {"image": str(far)}}
    ov["reference_catalog"] = None
    ov["truth"] = None
    res = run_pipeline(cfg, overrides=ov, progress=False, report=False)
    cat = _read(res.catalog["parquet"])
    assert len(cat) > 5
    assert np.all(np.isnan(np.asarray(cat["far_flux_auto"], float)))
    assert np.all(np.asarray(cat["far_flags"]) & int(FLAGS.OFF_IMAGE))
    assert np.all(np.isfinite(np.asarray(cat["r_flux_auto"], float)))


def test_saved_photoz_model_is_applied(tiny_field, tmp_path) -> None:
    pytest.importorskip("galmix.photoz.io")
    from galmix.photoz.estimators import KNNPhotoZ
    from galmix.photoz.io import save_model

    _, cfg = tiny_field
    rng = np.random.default_rng(0)
    X = np.column_stack([rng.uniform(18, 25, 50), rng.uniform(0, 2, 50)])  # mag, g-r
    model = KNNPhotoZ(n_neighbors=3).fit(X, 0.5 * X[:, 1])
    path = tmp_path / "pz.npz"
    save_model(model, path)
    ov = tiny_overrides(tmp_path / "out")
    ov["photoz"] = {"model": str(path), "train": False}
    ov["measurement"] = {**ov["measurement"], "fit": None, "pixel_table": False}
    res = run_pipeline(cfg, overrides=ov, progress=False, report=False)
    cat = _read(res.catalog["parquet"])
    z = np.asarray(cat["photoz_z"], float)
    assert np.isfinite(z).all() and np.all((z >= 0) & (z <= 1.0))
