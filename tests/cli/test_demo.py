"""``galmix demo`` end to end on a very small field."""

from __future__ import annotations

import numpy as np

from galmix.cli import main


def test_demo_small(tmp_path, capsys) -> None:
    out = tmp_path / "demo"
    rc = main(
        [
            "demo",
            "--out",
            str(out),
            "--bands",
            "gri",
            "--size",
            "240",
            "--n-galaxies",
            "14",
            "--n-stars",
            "3",
            "--executor",
            "serial",
            "--no-progress",
        ]
    )
    assert rc == 0
    text = capsys.readouterr().out
    assert "report" in text and "catalog" in text
    for name in (
        "catalog.parquet",
        "catalog.fits",
        "pixels.parquet",
        "report.html",
        "truth_match.parquet",
        "manifest.json",
        "inputs/config.yaml",
        "inputs/truth.parquet",
    ):
        assert (out / name).exists(), name
    html = (out / "report.html").read_text()
    assert "<img" in html and "figures/" in html
    assert (out / "figures" / "sizes.png").exists()
    from galmix.catalog import read_catalog

    cat = read_catalog(out / "catalog.parquet")
    assert len(cat) >= 10
    assert {"g_mag_auto", "r_mag_auto", "i_mag_auto", "fit_half_light_radius"} <= set(cat.colnames)
    assert np.isfinite(np.asarray(cat["r_mag_auto"], float)).mean() > 0.8
