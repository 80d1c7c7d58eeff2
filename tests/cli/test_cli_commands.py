"""``galmix run`` and ``galmix report`` on a small simulated field; config errors exit 2."""

from __future__ import annotations

from galmix.cli import main


def test_run_and_report(tmp_path, capsys) -> None:
    from galmix.sim import simulate_field

    field = simulate_field(bands=("g", "r"), shape=(150, 150), n_galaxies=6, n_stars=2, seed=3)
    cfg = field.write(
        tmp_path / "in",
        config_overrides={
            "measurement": {"fit": None, "pixel_table": False},
            "photoz": {"train": False},
        },
    )
    out = tmp_path / "out"
    rc = main(["run", str(cfg), "--out", str(out), "--no-report", "--no-progress"])
    assert rc == 0
    assert (out / "catalog.parquet").exists() and not (out / "report.html").exists()
    assert "0 reused" in capsys.readouterr().out
    rc = main(["run", str(cfg), "--out", str(out), "--no-report", "--no-progress"])
    assert rc == 0 and "(1 reused)" in capsys.readouterr().out
    assert main(["report", str(out)]) == 0
    assert (out / "report.html").exists()


def test_run_bad_config_names_key(tmp_path, capsys) -> None:
    p = tmp_path / "bad.yaml"
    p.write_text("bands:\n  r: {image: nothere.fits}\n")
    assert main(["run", str(p)]) == 2
    assert "bands.r.image" in capsys.readouterr().err
    p.write_text("bands:\n  r: {image: bad.yaml}\ndetection: {treshold: 2}\n")
    assert main(["run", str(p)]) == 2
    assert "detection.treshold" in capsys.readouterr().err
