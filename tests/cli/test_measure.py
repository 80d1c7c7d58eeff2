"""``galmix measure`` end to end on real frames, multi-band inputs and bad files."""

from __future__ import annotations

import logging

import numpy as np
import pytest
from astropy.io import fits
from astropy.wcs import WCS as AstropyWCS

from galmix.catalog import read_catalog
from galmix.cli import main
from galmix.errors import FLAGS

REQUIRED = ("id", "x", "y", "ra", "dec", "flux_auto", "flux_auto_err", "flags")


def _run(*argv):
    return main(["measure", *map(str, argv), "--no-progress"])


@pytest.mark.parametrize(
    "rel",
    ["galsim/fits_files/sipsample.fits", "galsim/fits_files/tpv.fits", "astropy/sip-wcs.fits"],
)
def test_real_frames_with_defaults(shared_data, tmp_path, rel):
    path = shared_data / rel
    assert _run(path, "--out", tmp_path) == 0
    cat = read_catalog(tmp_path / "catalog.parquet")
    cat_fits = read_catalog(tmp_path / "catalog.fits")
    assert len(cat) == len(cat_fits) > 5
    for col in REQUIRED:
        assert col in cat.colnames, col
        np.testing.assert_array_equal(np.asarray(cat[col]), np.asarray(cat_fits[col]))
    np.testing.assert_array_equal(cat["id"], np.arange(1, len(cat) + 1))
    # ra/dec are the header WCS (astropy, distortions included) at 0-based x, y
    hdr = fits.getheader(path)
    ra, dec = AstropyWCS(hdr).all_pix2world(cat["x"], cat["y"], 0)
    np.testing.assert_allclose(cat["ra"], ra, atol=1e-9)
    np.testing.assert_allclose(cat["dec"], dec, atol=1e-9)
    bright = np.asarray(cat["flux_auto"]) > 20 * np.asarray(cat["flux_auto_err"])
    assert bright.sum() >= 1
    assert str(cat["x"].unit) == "pix" and str(cat["ra"].unit) == "deg"
    # schema: every column is documented, in both files
    for c in cat.colnames:
        assert cat[c].description, c
        assert cat_fits[c].description, c


def test_nan_pixels_flag_touching_objects(shared_data, tmp_path):
    path = shared_data / "galsim/fits_files/sipsample.fits"
    data = fits.getdata(path)
    assert np.isnan(data).sum() == 25
    assert _run(path, "--out", tmp_path) == 0
    cat = read_catalog(tmp_path / "catalog.fits")
    nanflag = (np.asarray(cat["flags"]) & FLAGS.NONFINITE_PIXELS) != 0
    assert 0 < nanflag.sum() < len(cat)
    # every object whose footprint contains a NaN pixel's neighbour is flagged:
    # check with an independent test of the Kron ellipse around each NaN pixel
    yy, xx = np.nonzero(np.isnan(data))
    x, y = np.asarray(cat["x"]), np.asarray(cat["y"])
    a, b, th = np.asarray(cat["a"]), np.asarray(cat["b"]), np.asarray(cat["theta"])
    s = np.asarray(cat["kron_scale"])
    inside = np.zeros(len(cat), bool)
    for px, py in zip(xx, yy):
        dx, dy = px - x, py - y
        u = (dx * np.cos(th) + dy * np.sin(th)) / (a * s)
        v = (-dx * np.sin(th) + dy * np.cos(th)) / (b * s)
        inside |= u**2 + v**2 < 0.9  # clearly inside the aperture
    assert nanflag[inside].all()
    assert np.isfinite(cat["flux_auto"]).all()


def test_saturated_objects_flagged(shared_data, tmp_path):
    path = shared_data / "galsim/fits_files/tpv.fits"
    assert _run(path, "--out", tmp_path) == 0
    cat = read_catalog(tmp_path / "catalog.parquet")
    sat = (np.asarray(cat["flags"]) & FLAGS.SATURATED) != 0
    # tpv.fits has SATURATE = 44000 and one star peaking at ~63900 counts
    assert sat.sum() >= 1
    data = fits.getdata(path)
    j = int(np.argmax(cat["peak"]))
    assert sat[j] and data.max() >= 44000


def _blank_header(nx, ny, band=None, crval=(150.0, 2.0), crpix_shift=(0.0, 0.0)):
    w = AstropyWCS(naxis=2)
    w.wcs.ctype = ["RA---TAN", "DEC--TAN"]
    w.wcs.crval = list(crval)
    w.wcs.crpix = [nx / 2 + crpix_shift[0], ny / 2 + crpix_shift[1]]
    w.wcs.cd = np.array([[-0.2, 0.0], [0.0, 0.2]]) / 3600
    hdr = w.to_header()
    if band:
        hdr["FILTER"] = band
    return hdr


def _field(rng, fluxes, shape=(128, 160)):
    yy, xx = np.mgrid[0 : shape[0], 0 : shape[1]]
    pos = [(30.3, 40.2), (100.7, 30.9), (70.1, 90.6), (130.4, 100.2)]
    img = np.zeros(shape)
    for (x0, y0), f in zip(pos, fluxes):
        img += f / (2 * np.pi * 4.0) * np.exp(-((xx - x0) ** 2 + (yy - y0) ** 2) / 8.0)
    return img + 50.0 + rng.normal(0, 1.0, shape), pos


def test_multiband_same_grid_prefixes_and_colours(tmp_path, rng):
    fluxes_g = np.array([2000.0, 3000.0, 4000.0, 5000.0])
    colour = np.array([1.5, 0.5, 2.0, 1.0])
    g, pos = _field(rng, fluxes_g)
    r, _ = _field(rng, fluxes_g * colour)
    hdr_g = _blank_header(160, 128, band="g")
    hdr_r = _blank_header(160, 128, band="r")
    fits.PrimaryHDU(g.astype(np.float32), header=hdr_g).writeto(tmp_path / "a.fits")
    fits.PrimaryHDU(r.astype(np.float32), header=hdr_r).writeto(tmp_path / "b.fits")
    for detect_on in ("first", "chi2"):
        out = tmp_path / detect_on
        assert (
            main(
                [
                    "measure",
                    str(tmp_path / "a.fits"),
                    str(tmp_path / "b.fits"),
                    "--out",
                    str(out),
                    "--detect",
                    detect_on,
                    "--no-progress",
                ]
            )
            == 0
        )
        cat = read_catalog(out / "catalog.parquet")
        assert len(cat) == 4
        for col in (
            "g_flux_auto",
            "g_flux_auto_err",
            "r_flux_auto",
            "g_flags",
            "r_flags",
            "flags",
            "ra",
            "dec",
        ):
            assert col in cat.colnames
        order = np.argsort(np.asarray(cat["x"]))
        ratio = np.asarray(cat["r_flux_auto"])[order] / np.asarray(cat["g_flux_auto"])[order]
        truth = colour[np.argsort([p[0] for p in pos])]
        np.testing.assert_allclose(ratio, truth, rtol=0.03)


def test_multiband_different_wcs_maps_through_radec(tmp_path, rng):
    fluxes = np.array([2000.0, 3000.0, 4000.0, 5000.0])
    img, _ = _field(rng, fluxes)
    fits.PrimaryHDU(img, header=_blank_header(160, 128, band="g")).writeto(tmp_path / "g.fits")
    # the i-band frame is a crop: pixel (x, y) of g is (x - 7, y - 5) of i
    crop = img[5:125, 7:150] * 2.0
    hdr_i = _blank_header(160, 128, band="i", crpix_shift=(-7.0, -5.0))
    fits.PrimaryHDU(crop, header=hdr_i).writeto(tmp_path / "i.fits")
    assert _run(tmp_path / "g.fits", tmp_path / "i.fits", "--out", tmp_path / "o") == 0
    cat = read_catalog(tmp_path / "o" / "catalog.fits")
    np.testing.assert_allclose(cat["i_x"], np.asarray(cat["x"]) - 7.0, atol=1e-6)
    np.testing.assert_allclose(cat["i_y"], np.asarray(cat["y"]) - 5.0, atol=1e-6)
    np.testing.assert_allclose(
        np.asarray(cat["i_flux_auto"]) / np.asarray(cat["g_flux_auto"]), 2.0, rtol=0.03
    )


def test_no_wcs_gives_no_radec_and_a_warning(tmp_path, rng, caplog):
    img, _ = _field(rng, [3000.0, 3000.0, 3000.0, 3000.0])
    fits.PrimaryHDU(img).writeto(tmp_path / "nowcs.fits")
    with caplog.at_level(logging.WARNING):
        assert _run(tmp_path / "nowcs.fits", "--out", tmp_path / "o") == 0
    cat = read_catalog(tmp_path / "o" / "catalog.parquet")
    assert len(cat) == 4
    assert "ra" not in cat.colnames and "dec" not in cat.colnames
    assert any("WCS" in rec.getMessage() for rec in caplog.records)


def test_bad_files_exit_2_with_message(tmp_path, shared_data, capsys):
    text = tmp_path / "notes.fits"
    text.write_text("this is not a FITS file\n")
    raw = (shared_data / "galsim/fits_files/sipsample.fits").read_bytes()
    (tmp_path / "trunc.fits").write_bytes(raw[:150_000])
    (tmp_path / "header_only.fits").write_bytes(raw[:5760])
    fits.PrimaryHDU(np.full((32, 32), np.nan)).writeto(tmp_path / "allnan.fits")
    fits.PrimaryHDU(np.zeros((3, 16, 16))).writeto(tmp_path / "cube.fits")
    for bad, words in (
        (tmp_path / "allnan.fits", "allnan.fits: image has no finite"),
        (tmp_path / "cube.fits", "no 2-d image"),
        (text, "not a FITS file"),
        (tmp_path / "trunc.fits", "trunc.fits"),
        (tmp_path / "header_only.fits", "header_only.fits"),
        (tmp_path / "missing.fits", "no such file"),
    ):
        assert _run(bad, "--out", tmp_path / "o") == 2
        err = capsys.readouterr().err
        assert "error" in err and words in err, err
        assert "Traceback" not in err
    assert not (tmp_path / "o" / "catalog.parquet").exists()


def test_weight_and_psf_options(tmp_path, rng):
    img, _ = _field(rng, [3000.0, 3000.0, 3000.0, 3000.0])
    fits.PrimaryHDU(img, header=_blank_header(160, 128)).writeto(tmp_path / "im.fits")
    fits.PrimaryHDU(np.full(img.shape, 0.25)).writeto(tmp_path / "w.fits")
    assert (
        _run(
            tmp_path / "im.fits",
            "--weight",
            tmp_path / "w.fits",
            "--psf-fwhm",
            "0.8",
            "--out",
            tmp_path / "o",
        )
        == 0
    )
    cat = read_catalog(tmp_path / "o" / "catalog.parquet")
    # inverse variance 1/4 -> sigma 2 per pixel: errors twice the measured-noise ones
    assert _run(tmp_path / "im.fits", "--out", tmp_path / "p") == 0
    ref = read_catalog(tmp_path / "p" / "catalog.parquet")
    assert len(cat) == len(ref) == 4
    np.testing.assert_allclose(
        np.asarray(cat["flux_auto_err"]) / np.asarray(ref["flux_auto_err"]), 2.0, rtol=0.1
    )
    # with a PSF the fit columns exist; NOT_MEASURED only if the fitter is absent
    assert "fit_flags" in cat.colnames
    try:
        from galmix.fit import fit_batch  # noqa: F401
    except ImportError:
        assert (np.asarray(cat["fit_flags"]) & FLAGS.NOT_MEASURED).all()
    else:
        # Gaussian objects of flux 3000 (sigma 2 pix = 0.4") seen through a
        # Gaussian PSF of FWHM 0.8": a Gaussian fit recovers the total flux
        # (PARAM_AT_BOUND may be set: these objects are barely resolved)
        bad = np.asarray(cat["fit_flags"]) & ~int(FLAGS.PARAM_AT_BOUND)
        assert (bad == 0).all()
        np.testing.assert_allclose(np.asarray(cat["fit_flux"]), 3000.0, rtol=0.03)
    # mismatched weight count
    assert (
        _run(
            tmp_path / "im.fits",
            tmp_path / "im.fits",
            "--weight",
            tmp_path / "w.fits",
            "--out",
            tmp_path / "q",
        )
        == 2
    )


def test_fit_bands_option(tmp_path, rng):
    g, _ = _field(rng, [3000.0] * 4)
    r, _ = _field(rng, [6000.0] * 4)
    fits.PrimaryHDU(g, header=_blank_header(160, 128, band="g")).writeto(tmp_path / "g.fits")
    fits.PrimaryHDU(r, header=_blank_header(160, 128, band="r")).writeto(tmp_path / "r.fits")
    common = [tmp_path / "g.fits", tmp_path / "r.fits", "--psf-fwhm", "0.8", "--model", "gauss"]
    assert _run(*common, "--out", tmp_path / "first") == 0
    cat = read_catalog(tmp_path / "first" / "catalog.parquet")
    assert "g_fit_flags" in cat.colnames and "r_fit_flags" not in cat.colnames
    assert _run(*common, "--fit-bands", "all", "--out", tmp_path / "all") == 0
    cat = read_catalog(tmp_path / "all" / "catalog.parquet")
    assert "g_fit_flags" in cat.colnames and "r_fit_flags" in cat.colnames
    try:
        from galmix.fit import fit_batch  # noqa: F401
    except ImportError:
        return
    np.testing.assert_allclose(
        np.asarray(cat["r_fit_flux"]) / np.asarray(cat["g_fit_flux"]), 2.0, rtol=0.05
    )


def test_segmentation_mapped_to_other_grid():
    """The detection segmentation resampled through RA/Dec equals the crop."""
    from galmix.catalog.measure import _map_segmentation
    from galmix.geometry import WCS

    rng = np.random.default_rng(4)
    seg = rng.integers(0, 5, (128, 160)).astype(np.int32)
    src = WCS.from_fits(_blank_header(160, 128))
    dst = WCS.from_fits(_blank_header(160, 128, crpix_shift=(-7.0, -5.0)))
    out = _map_segmentation(seg, src, dst, (120, 143))
    np.testing.assert_array_equal(out, seg[5:125, 7:150])


def test_zeropoint_gives_magnitudes(tmp_path, rng):
    img, _ = _field(rng, [3000.0] * 4)
    hdr = _blank_header(160, 128, band="r")
    hdr["MAGZERO"] = 30.0
    fits.PrimaryHDU(img, header=hdr).writeto(tmp_path / "r.fits")
    assert _run(tmp_path / "r.fits", "--out", tmp_path / "h") == 0
    cat = read_catalog(tmp_path / "h" / "catalog.parquet")
    f = np.asarray(cat["flux_auto"])
    np.testing.assert_allclose(cat["mag_auto"], 30.0 - 2.5 * np.log10(f), rtol=1e-12)
    np.testing.assert_allclose(
        cat["mag_auto_err"], 1.0857362047581294 * np.asarray(cat["flux_auto_err"]) / f, rtol=1e-9
    )
    assert _run(tmp_path / "r.fits", "--zeropoint", "25", "--out", tmp_path / "z") == 0
    cat = read_catalog(tmp_path / "z" / "catalog.parquet")
    np.testing.assert_allclose(cat["mag_auto"], 25.0 - 2.5 * np.log10(f), rtol=1e-12)
