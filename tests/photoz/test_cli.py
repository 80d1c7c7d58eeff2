"""``galmix photoz train|predict|evaluate`` end to end on real SDSS rows."""

from __future__ import annotations

import numpy as np
import pytest
from astropy.table import Table

from galmix.cli import main
from galmix.photoz import read_table


@pytest.fixture(scope="module")
def small_catalogs(tmp_path_factory, gst_table):
    """Per-band CSV/Parquet/FITS catalogs made from 1500 real SDSS galaxies."""
    d = tmp_path_factory.mktemp("photoz_cli")
    t = gst_table[:1500]
    out = Table()
    out["objid"] = np.arange(len(t))
    for k, b in enumerate("ugriz"):
        out[f"flux_{b}"] = np.asarray(t["MODELFLUX"][:, k], float)
        out[f"ivar_{b}"] = np.asarray(t["MODELFLUX_IVAR"][:, k], float)
        out[f"ext_{b}"] = np.asarray(t["EXTINCTION"][:, k], float)
    out["zspec"] = np.asarray(t["Z"], float)
    paths = {}
    for name, fmt in (("train.csv", "ascii.csv"), ("test.parquet", "parquet")):
        part = out[:1000] if name.startswith("train") else out[1000:]
        paths[name] = d / name
        part.write(paths[name], format=fmt)
    paths["gst"] = d / "gst.fits"
    gst_table[:1500].write(paths["gst"])
    return d, paths


COLS = [
    "--bands",
    "u,g,r,i,z",
    "--flux",
    "flux_{band}",
    "--ivar",
    "ivar_{band}",
    "--extinction",
    "ext_{band}",
]


def test_train_predict_evaluate(small_catalogs, capsys):
    d, p = small_catalogs
    model = d / "knn.npz"
    assert (
        main(
            [
                "photoz",
                "train",
                "--catalog",
                str(p["train.csv"]),
                *COLS,
                "--z",
                "zspec",
                "--estimator",
                "knn",
                "--param",
                "n_neighbors=8",
                "--out",
                str(model),
            ]
        )
        == 0
    )
    out = d / "pred.parquet"
    # column options come from the model file; streamed in chunks of 128 rows
    assert (
        main(
            [
                "photoz",
                "predict",
                "--model",
                str(model),
                "--catalog",
                str(p["test.parquet"]),
                "--out",
                str(out),
                "--id-column",
                "objid",
                "--chunk-rows",
                "128",
            ]
        )
        == 0
    )
    pred = read_table(out)
    assert len(pred) == 500 and pred["objid"].tolist() == list(range(1000, 1500))
    assert np.all(np.isfinite(pred["z_phot"]))
    capsys.readouterr()
    assert (
        main(
            [
                "photoz",
                "evaluate",
                "--model",
                str(model),
                "--catalog",
                str(p["test.parquet"]),
                "--plots",
                str(d / "plots"),
            ]
        )
        == 0
    )
    text = capsys.readouterr().out
    assert "sigma_nmad" in text and "outlier_fraction" in text and "coverage_0.68" in text
    assert (d / "plots" / "photoz_knn_zphot_zspec.png").stat().st_size > 0
    # evaluate a column of existing predictions: table joined by hand
    test = read_table(p["test.parquet"])
    test["z_phot"] = pred["z_phot"]
    joined = d / "joined.fits"
    test.write(joined)
    capsys.readouterr()
    assert (
        main(
            [
                "photoz",
                "evaluate",
                "--catalog",
                str(joined),
                "--pred-column",
                "z_phot",
                "--z",
                "zspec",
                "--json",
                str(d / "m.json"),
            ]
        )
        == 0
    )
    line = capsys.readouterr().out.strip().splitlines()[1].split()
    assert float(line[2]) < 0.03  # sigma_nmad of kNN on 1000 training galaxies


def test_evaluate_cv_with_sdss_preset(small_catalogs, capsys):
    _, p = small_catalogs
    assert (
        main(
            [
                "photoz",
                "evaluate",
                "--catalog",
                str(p["gst"]),
                "--preset",
                "sdss-gst",
                "--cv",
                "2",
                "--estimator",
                "knn,rf",
                "--seed",
                "1",
            ]
        )
        == 0
    )
    text = capsys.readouterr().out
    assert "knn (2-fold)" in text and "rf (2-fold)" in text


def test_cli_errors(small_catalogs, capsys):
    d, p = small_catalogs
    assert (
        main(
            [
                "photoz",
                "train",
                "--catalog",
                str(p["train.csv"]),
                "--bands",
                "u,g",
                "--flux",
                "nope_{band}",
                "--ivar",
                "ivar_{band}",
                "--z",
                "zspec",
                "--out",
                str(d / "x.npz"),
            ]
        )
        == 2
    )
    assert "nope_u" in capsys.readouterr().err
    assert (
        main(
            [
                "photoz",
                "predict",
                "--model",
                str(d / "absent.npz"),
                "--catalog",
                str(p["train.csv"]),
                "--out",
                str(d / "o.csv"),
            ]
        )
        == 2
    )
