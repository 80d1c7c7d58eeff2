"""Every worked example in ``examples/`` runs (fast mode) and gives sane numbers.

The examples are the documentation's walkthroughs (docs/examples.md); running
them here keeps them from rotting. Each writes its figures into ``tmp_path``.
"""

from __future__ import annotations

import importlib.util
import math
import re
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
EXAMPLES = REPO / "examples"

pytest.importorskip("matplotlib")


def load_example(name: str):
    """Import ``examples/<name>.py`` as a module."""
    path = EXAMPLES / f"{name}.py"
    if not path.exists():
        pytest.skip(f"{path} not present (not a source checkout)")
    spec = importlib.util.spec_from_file_location(f"galmix_example_{name}", path)
    mod = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mod
    spec.loader.exec_module(mod)
    return mod


def assert_png(path: Path) -> None:
    path = Path(path)
    assert path.exists(), path
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert path.stat().st_size > 5000  # not an empty canvas


def test_imaging_data_model(tmp_path, shared_data):
    mod = load_example("imaging_data_model")
    res = mod.main(tmp_path, fast=True, data_dir=shared_data)
    assert_png(res["figure"])
    # the README: AEGIS PSF sums are 0.917-0.924; normalised to 1
    assert 0.91 < res["psf_sum_before"] < 0.93
    assert res["psf_sum_after"] == pytest.approx(1.0, abs=1e-12)
    assert res["roundtrip"]
    assert res["n_masked"] > 0
    assert res["noise_scaled_weight"] == pytest.approx(1e-16)
    # simulated correlated noise reproduces the file's variance and lag-1 correlation
    assert res["simulated_variance"] == pytest.approx(res["variance"], rel=0.1)
    assert res["lag1_simulated"] == pytest.approx(res["lag1_input"], abs=0.05)
    assert 5 < res["snr_max"] < 200


def test_sip_cmos_batch(tmp_path, shared_data):
    mod = load_example("sip_cmos_batch")
    res = mod.main(tmp_path, fast=True, data_dir=shared_data)
    for fig in res["figures"]:
        assert_png(fig)
    # data README: sipsample pixel area 1.441-1.502 arcsec^2 (astropy, 9x9 grid)
    assert res["area_min"] == pytest.approx(1.441, abs=0.003)
    assert res["area_max"] == pytest.approx(1.502, abs=0.003)
    assert res["area_check_max_rel"] < 1e-5  # vs finite differences of all_pix2world
    # GalSim-drawn Sersic stamps through the local SIP Jacobian
    assert res["n_batch_ok"] >= res["n_batch"] - 1
    assert res["median_hlr_ratio"] == pytest.approx(1.0, abs=0.03)
    assert res["median_n_ratio"] == pytest.approx(1.0, abs=0.05)
    assert res["median_flux_ratio"] == pytest.approx(1.0, abs=0.02)
    # CMOS: the image holds fill_factor = 0.64 of the flux; the response must be modelled
    assert res["cmos_image_sum"] == pytest.approx(640.0, rel=0.02)
    assert res["cmos_flags"] == 0
    assert res["cmos_flux_with_response"] == pytest.approx(1000.0, rel=0.05)
    assert res["cmos_flux_without_response"] < 700.0


def test_metacal_crazy_wcs(tmp_path):
    pytest.importorskip("galsim")
    mod = load_example("metacal_crazy_wcs")
    res = mod.main(tmp_path, fast=True)
    assert_png(res["figure"])
    # every kernel, every grid: m and c vanish (noiseless pairs, cubic estimator)
    assert res["max_abs_m"] < 1e-4
    assert res["max_abs_c"] < 1e-5
    assert res["max_abs_m_linear"] < 1e-3
    assert abs(res["m_seed_with_wcs"]) < 1e-3
    assert abs(res["m_crazy_with_wcs"]) < 1e-3
    # ignoring a rotated/flipped/sheared WCS is a bias of order unity
    assert abs(res["m_crazy_ignoring_wcs"]) > 0.1
    assert all(math.isfinite(v[0]) for v in res["table"].values())


def test_multiband_fitting(tmp_path, shared_data):
    pytest.importorskip("galsim")
    pytest.importorskip("pyarrow")
    mod = load_example("multiband_fitting")
    res = mod.main(tmp_path, fast=True, data_dir=shared_data)
    for fig in res["figures"].values():
        assert_png(fig)
    ser, cm = res["patch"]["sersic"], res["patch"]["expdev"]
    # most simulated objects are detected, fitted and matched to the truth
    assert ser["n_matched"] > 0.6 * ser["n_truth"]
    assert cm["n_matched"] > 0.6 * cm["n_truth"]
    # bright galaxies: Sersic magnitudes within a few hundredths of the truth
    assert abs(ser["median_dmag_r_bright_gal"]) < 0.08
    assert ser["sigma_mad_dmag_r_bright_gal"] < 0.15
    # CModel on Sersic galaxies: model mismatch, but no gross failure
    assert abs(cm["median_dmag_r_bright_gal"]) < 0.25
    # the real HST galaxy: converged, sensible structure, near-unit chi2/dof
    assert res["hst_sersic_flags"] == 0
    assert 0.5 < res["hst_sersic_n"] < 3.0
    assert 0.1 < res["hst_sersic_hlr"] < 1.0
    assert 0.9 < res["hst_sersic_chi2_per_dof"] < 2.0
    # F606W - F814W colour within 0.2 mag of the catalogue's MAG_AUTO colour
    assert abs(res["hst_colour_sersic"] - res["hst_colour_catalog"]) < 0.2


def test_pixel_photoz(tmp_path):
    pytest.importorskip("galsim")
    pytest.importorskip("sklearn")
    pytest.importorskip("pyarrow")
    mod = load_example("pixel_photoz")
    res = mod.main(tmp_path, fast=True)
    for fig in res["figures"].values():
        assert_png(fig)
    # read_frame's weight = the seed's per-pixel error formula (section 1.3)
    assert res["sdss_error_max_rel"] < 1e-12
    assert res["n_train_objects"] >= 20 and res["n_test_objects"] >= 15
    assert res["n_train_pixels"] > 1000
    # simulated colours carry redshift information: far better than guessing
    spread = res["z_range"][1] - res["z_range"][0]
    assert spread > 0.5
    pm, om = res["pixel_metrics"], res["object_metrics"]
    assert pm["sigma_nmad"] < 0.15 and pm["outlier_fraction"] < 0.25
    assert abs(pm["bias"]) < 0.05
    assert om["sigma_nmad"] < 0.15


HOWTO = sorted((REPO / "docs" / "howto").glob("*.md"))


@pytest.mark.parametrize("page", HOWTO, ids=[p.stem for p in HOWTO])
def test_howto_snippets_run(page, tmp_path, monkeypatch):
    """Every ```python block of a how-to page runs, in order, in one namespace."""
    import re

    pytest.importorskip("galsim")
    blocks = re.findall(r"```python\n(.*?)```", page.read_text(), re.S)
    monkeypatch.chdir(tmp_path)
    ns: dict = {"__name__": "__howto__"}
    for block in blocks:
        exec(compile(block, str(page), "exec"), ns)


MY_PAGES = [
    REPO / "docs" / n for n in ("index.md", "examples.md", "migration.md", "performance.md")
] + HOWTO


def _resolve(dotted: str):
    import importlib

    parts = dotted.split(".")
    for i in range(len(parts), 0, -1):
        try:
            obj = importlib.import_module(".".join(parts[:i]))
        except ImportError:
            continue
        for name in parts[i:]:
            obj = getattr(obj, name)
        return obj
    raise ImportError(dotted)


@pytest.mark.parametrize("page", MY_PAGES, ids=[p.stem for p in MY_PAGES])
def test_documented_names_exist(page):
    """Every ``galmix.x.y`` and ``obs.<attribute>`` named in the page exists."""
    import re

    from galmix import Observation

    if not page.exists():
        pytest.skip(f"{page} not present")
    text = page.read_text()
    dotted = set(re.findall(r"galmix(?:\.[A-Za-z_]\w*)+", text))
    missing = []
    for name in sorted(dotted):
        try:
            _resolve(name.rstrip("."))
        except (ImportError, AttributeError):
            missing.append(name)
    for attr in sorted(set(re.findall(r"`obs\.([A-Za-z_]\w*)", text))):
        if not hasattr(Observation, attr) and attr not in Observation.__dataclass_fields__:
            missing.append(f"obs.{attr}")
    assert not missing, missing


def test_documented_cli_commands_exist():
    """Every ``galmix <command>`` shown in the docs is a real sub-command."""
    import re

    from galmix.cli import build_parser

    parser = build_parser()
    sub = next(a for a in parser._actions if a.__class__.__name__ == "_SubParsersAction")
    text = "\n".join(p.read_text() for p in MY_PAGES if p.exists())
    shell = "\n".join(re.findall(r"```bash\n(.*?)```", text, re.S))
    used = set(re.findall(r"^\s*galmix ([a-z][a-z-]+)", shell, re.M))
    assert used, "no commands found"
    assert used <= set(sub.choices), used - set(sub.choices)


API_PAGES = {
    p: REPO / "docs" / "api" / f"{p}.md"
    for p in (
        "geometry image profiles render psf moments shear fit detect catalog photoz sdss "
        "sim pipeline plots"
    ).split()
}


@pytest.mark.parametrize("pkg", sorted(API_PAGES))
def test_api_page_lists_every_public_name(pkg):
    """The API reference documents every name a subpackage exports."""
    import importlib

    page = API_PAGES[pkg]
    if not page.exists():
        pytest.skip(f"{page} not present")
    mod = importlib.import_module(f"galmix.{pkg}")
    text = page.read_text()
    missing = [n for n in mod.__all__ if not re.search(rf"[.`]{re.escape(n)}\b", text)]
    assert not missing, f"docs/api/{pkg}.md lacks {missing}"


@pytest.mark.parametrize(
    "name",
    [
        "imaging_data_model",
        "sip_cmos_batch",
        "metacal_crazy_wcs",
        "multiband_fitting",
        "pixel_photoz",
    ],
)
def test_example_cli_help(name, capsys):
    """Each example has a command line with --out and --full."""
    mod = load_example(name)
    with pytest.raises(SystemExit) as exc:
        mod.cli(["--help"])
    assert exc.value.code == 0
    out = capsys.readouterr().out
    assert "--out" in out and ("--full" in out)
