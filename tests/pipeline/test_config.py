"""Config validation: unknown keys, wrong types, missing files and unsafe YAML name the key."""

from __future__ import annotations

from pathlib import Path

import pytest

from galmix.errors import ConfigError
from galmix.pipeline.config import load_config


@pytest.fixture
def inputs(tmp_path: Path) -> Path:
    for b in ("g", "r"):
        (tmp_path / f"img-{b}.fits").write_bytes(b"")
    return tmp_path


def _base(**extra):
    d = {
        "bands": {"g": {"image": "img-g.fits"}, "r": {"image": "img-r.fits", "psf": {"fwhm": 1.0}}}
    }
    d.update(extra)
    return d


def test_defaults_and_relative_paths(inputs: Path) -> None:
    cfg = load_config(_base(), base_dir=inputs)
    assert cfg.band_names == ["g", "r"]
    assert cfg.bands["g"].image == (inputs / "img-g.fits").resolve()
    assert cfg.registration.reference == "g" and cfg.registration.method == "interp"
    assert cfg.detection.band == "g"
    assert cfg.bands["r"].psf.model == "gaussian" and cfg.bands["r"].psf.fwhm == 1.0
    assert cfg.executor.kind == "serial" and cfg.tiles.size == 1024
    assert cfg.output == (inputs / "output").resolve()
    assert cfg.background.subtract and cfg.background.box_size == 64


def test_yaml_file_paths_relative_to_file(inputs: Path, tmp_path: Path) -> None:
    sub = tmp_path / "cfgdir"
    sub.mkdir()
    (sub / "c.yaml").write_text("bands:\n  g: {image: ../img-g.fits}\noutput: out\n")
    cfg = load_config(sub / "c.yaml")
    assert cfg.bands["g"].image.resolve() == (inputs / "img-g.fits").resolve()
    assert cfg.output == (sub / "out").resolve()


@pytest.mark.parametrize(
    ("change", "key"),
    [
        ({"colour": 1}, "'colour'"),
        ({"detection": {"band": "r", "thresh": 2}}, "'detection.thresh'"),
        ({"detection": {"threshold": "high"}}, "'detection.threshold'"),
        ({"detection": {"minarea": 2.5}}, "'detection.minarea'"),
        ({"detection": {"band": "y"}}, "'detection.band'"),
        ({"tiles": {"size": 512, "overlap": 300}}, "'tiles.overlap'"),
        ({"tiles": {"size": True}}, "'tiles.size'"),
        ({"executor": {"kind": "mpi"}}, "'executor.kind'"),
        ({"executor": {"workers": 0}}, "'executor.workers'"),
        ({"registration": {"method": "drizzle"}}, "'registration.method'"),
        ({"registration": {"reference": "i"}}, "'registration.reference'"),
        ({"measurement": {"moments": "yes"}}, "'measurement.moments'"),
        ({"measurement": {"apertures_arcsec": [1.0, -2.0]}}, "'measurement.apertures_arcsec[1]'"),
        ({"measurement": {"fit": {"model": "spline"}}}, "'measurement.fit.model'"),
        ({"reference_catalog": {"path": "nope.csv"}}, "'reference_catalog.path'"),
        ({"truth": {"ra": "ra"}}, "'truth.path'"),
        ({"photoz": {"train": True}}, "'photoz.train'"),
        ({"seed": -1}, "'seed'"),
        ({"background": {"subtract": "no"}}, "'background.subtract'"),
        ({"background": {"box_size": 4}}, "'background.box_size'"),
        ({"background": {"mesh": 64}}, "'background.mesh'"),
    ],
)
def test_errors_name_the_key(inputs: Path, change: dict, key: str) -> None:
    with pytest.raises(ConfigError, match=key.replace("[", r"\[").replace("]", r"\]")):
        load_config(_base(**change), base_dir=inputs)


def test_band_errors(inputs: Path) -> None:
    with pytest.raises(ConfigError, match=r"'bands.g.image'.*not found"):
        load_config({"bands": {"g": {"image": "missing.fits"}}}, base_dir=inputs)
    with pytest.raises(ConfigError, match=r"'bands.g.image'.*required"):
        load_config({"bands": {"g": {"weight": "img-r.fits"}}}, base_dir=inputs)
    with pytest.raises(ConfigError, match=r"'bands.g.psf.fwhm'"):
        load_config({"bands": {"g": {"image": "img-g.fits", "psf": {"fwhm": -1}}}}, base_dir=inputs)
    with pytest.raises(ConfigError, match=r"'bands.g.psf.bogus'"):
        load_config({"bands": {"g": {"image": "img-g.fits", "psf": {"bogus": 1}}}}, base_dir=inputs)
    with pytest.raises(ConfigError, match=r"'bands.g.format'"):
        load_config({"bands": {"g": {"image": "img-g.fits", "format": "hdf5"}}}, base_dir=inputs)
    with pytest.raises(ConfigError, match=r"'bands'"):
        load_config({"bands": {}}, base_dir=inputs)
    with pytest.raises(ConfigError, match=r"'bands'.*required"):
        load_config({}, base_dir=inputs)


def test_python_object_tag_is_not_executed(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    text = (
        "bands:\n  g: {image: x.fits}\n"
        f"seed: !!python/object/apply:os.system ['touch {marker}']\n"
    )
    (tmp_path / "evil.yaml").write_text(text)
    with pytest.raises(ConfigError, match="safe"):
        load_config(tmp_path / "evil.yaml")
    assert not marker.exists()


def test_missing_and_bad_files(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not found"):
        load_config(tmp_path / "nope.yaml")
    (tmp_path / "list.yaml").write_text("- 1\n- 2\n")
    with pytest.raises(ConfigError, match="mapping"):
        load_config(tmp_path / "list.yaml")


def test_fingerprint_ignores_executor(inputs: Path) -> None:
    a = load_config(_base(), base_dir=inputs)
    b = load_config(_base(executor={"kind": "dask", "workers": 4}), base_dir=inputs)
    c = load_config(_base(detection={"threshold": 3.0}), base_dir=inputs)
    assert a.fingerprint() == b.fingerprint()
    assert a.fingerprint() != c.fingerprint()


def test_overrides_merge_sections(inputs: Path) -> None:
    cfg = load_config(
        _base(executor={"kind": "processes"}),
        base_dir=inputs,
        overrides={"executor": {"workers": 3}},
    )
    assert cfg.executor.kind == "processes" and cfg.executor.workers == 3


@pytest.mark.parametrize(("subtract", "box"), [(True, 32), (True, 64), (False, 64)])
def test_background_section_controls_sky_subtraction(tmp_path: Path, subtract, box) -> None:
    """``background.subtract``/``box_size`` reach the band reader: a flat sky of 100."""
    import numpy as np
    from astropy.io import fits

    from galmix.pipeline.inputs import load_band_tile, reference_grid
    from galmix.pipeline.tiles import make_tiles
    from galmix.sim import make_wcs_header

    rng = np.random.default_rng(1)
    img = 100.0 + rng.normal(0.0, 1.0, (128, 128))
    fits.PrimaryHDU(img, header=make_wcs_header((128, 128), 0.2)).writeto(tmp_path / "r.fits")
    cfg = load_config(
        {
            "bands": {"r": {"image": "r.fits", "psf": {"fwhm": 1.0}}},
            "background": {"subtract": subtract, "box_size": box},
        },
        base_dir=tmp_path,
    )
    awcs, shape = reference_grid(cfg)
    tile = make_tiles(shape, 1024, 64)[0]
    bt = load_band_tile(cfg, "r", tile, awcs)
    expect = 0.0 if subtract else 100.0
    assert abs(float(np.median(bt.image)) - expect) < 0.1
    assert abs(bt.background_rms - 1.0) < 0.1
