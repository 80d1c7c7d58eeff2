"""Diagnostic plots are written to files; matplotlib is imported lazily."""

from __future__ import annotations

import subprocess
import sys

from galmix.photoz.plots import diagnostic_plots


def test_diagnostic_plots_written(tmp_path, rng):
    z = rng.uniform(0.02, 0.4, 3000)
    zp = z + rng.normal(0, 0.015, z.size) * (1 + z)
    paths = diagnostic_plots(
        z, zp, tmp_path, mag=rng.uniform(14, 18, z.size), pit=rng.uniform(size=z.size)
    )
    assert set(paths) == {"zphot_zspec", "dz_mag", "pit"}
    for p in paths.values():
        with open(p, "rb") as fh:
            assert fh.read(8) == b"\x89PNG\r\n\x1a\n"


def test_import_does_not_load_matplotlib():
    code = "import sys, galmix.photoz; print('matplotlib' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
