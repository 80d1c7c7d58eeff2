"""SDSS frame reader on synthetic frames in the SDSS layout.

References: astropy's own FITS reader (bz2) and WCS, scipy's map_coordinates
for the bilinear sky, the data model's error recipe written out by hand, and
the simulation truth for the noise statistics.
"""

from __future__ import annotations

import bz2
import gzip
import io
import shutil
import warnings

import numpy as np
import pytest
from astropy.io import fits
from astropy.wcs import WCS as AstropyWCS
from astropy.wcs import FITSFixedWarning
from scipy.ndimage import map_coordinates

from galmix.errors import GalmixIOError
from galmix.image import Observation
from galmix.sdss import read_frame
from galmix.sdss.synthetic import make_frame_hdus, write_synthetic_frame


def _reference_from_astropy(path, gain, dark_variance):
    """Image, sky and weight computed independently from astropy's reading of the file."""
    with fits.open(path) as hdul:  # astropy decompresses bz2 itself
        img = np.asarray(hdul[0].data, dtype=float)
        calib = np.asarray(hdul[1].data, dtype=float).ravel()
        row = hdul[2].data[0]
        allsky = np.asarray(row["ALLSKY"], dtype=float)
        xi = np.asarray(row["XINTERP"], dtype=float)
        yi = np.asarray(row["YINTERP"], dtype=float)
        header = hdul[0].header.copy()
    yy, xx = np.meshgrid(yi, xi, indexing="ij")
    sky = map_coordinates(allsky, [yy.ravel(), xx.ravel()], order=1, mode="nearest").reshape(
        yy.shape
    )
    cimg = np.outer(np.ones(img.shape[0]), calib)
    dn = img / cimg + sky
    err = np.sqrt(dn / gain + dark_variance) * cimg
    return img, calib, allsky, sky, 1.0 / err**2, header


def test_reader_against_independent_computation(r_frame):
    frame = read_frame(r_frame.path)
    assert (frame.band, frame.run, frame.camcol, frame.field, frame.rerun) == (
        "r",
        3813,
        5,
        23,
        "301",
    )
    # gain / dark variance of r, camcol 5 in the SDSS data model table
    assert frame.gain == 4.725 and frame.dark_variance == 0.81
    img, calib, allsky, sky, weight, _ = _reference_from_astropy(r_frame.path, 4.725, 0.81)
    assert frame.image.dtype == np.float64 and frame.image.flags.writeable is False
    np.testing.assert_array_equal(frame.image, img)
    np.testing.assert_array_equal(frame.calib, calib)
    assert frame.sky_grid.shape == allsky.shape == (19, 25)  # [y, x] from TDIM (25, 19)
    np.testing.assert_allclose(frame.sky, sky, rtol=1e-12)
    np.testing.assert_allclose(frame.weight, weight, rtol=1e-10)
    # the stored image is the simulated one up to FLOATCOMPRESS (10 significant bits)
    diff = np.abs(frame.image - r_frame.noisy_image)
    assert np.all(diff <= np.abs(r_frame.noisy_image) * 2.0**-10 + 1e-12)
    np.testing.assert_allclose(frame.sky, r_frame.sky, rtol=1e-12)


def test_sky_is_constant_beyond_the_grid(r_frame):
    frame = read_frame(r_frame.path)
    ny_grid = frame.sky_grid.shape[0]
    beyond = frame.yinterp >= ny_grid - 1
    assert beyond.sum() > 5  # the synthetic grid is short in y, as at the ends of real runs
    rows = frame.sky[beyond]
    np.testing.assert_array_equal(rows, np.broadcast_to(rows[0], rows.shape))
    assert frame.xinterp[0] < 0  # first columns extrapolate too
    np.testing.assert_array_equal(frame.sky[:, 0], frame.sky[:, 1])


def test_weight_matches_simulated_noise(r_frame):
    frame = read_frame(r_frame.path)
    chi = (frame.image - r_frame.image) * np.sqrt(frame.weight)
    assert abs(np.mean(chi)) < 0.03
    assert abs(np.std(chi) - 1.0) < 0.02
    # per-pixel variance agrees with the true one (noisy dn vs true dn: few percent)
    ratio = (1.0 / frame.weight) / r_frame.variance
    assert abs(np.median(ratio) - 1.0) < 0.005
    # brighter pixels get larger errors (Poisson term)
    bright = r_frame.image > 0.5
    assert bright.sum() > 10
    assert np.median(frame.error[bright]) > 1.2 * np.median(frame.error[~bright])


def test_wcs_matches_astropy(tmp_path):
    for sip in (False, True):
        truth = write_synthetic_frame(
            tmp_path / f"frame-g-000094-1-0007-{sip}.fits", band="g", run=94, camcol=1, field=7,
            sip=sip, rotation_deg=-70.0, seed=1,
        )  # fmt: skip
        frame = read_frame(truth.path)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FITSFixedWarning)  # RADECSYS, as in real SDSS headers
            aw = AstropyWCS(fits.getheader(truth.path))
        x = np.array([0.0, 10.5, 100.0, 199.0])
        y = np.array([0.0, 140.0, 75.25, 149.0])
        ra, dec = frame.wcs.pixel_to_world(x, y)
        ra_ref, dec_ref = aw.all_pix2world(x, y, 0)
        np.testing.assert_allclose(ra, ra_ref, rtol=0, atol=1e-11)
        np.testing.assert_allclose(dec, dec_ref, rtol=0, atol=1e-11)
        # the sources were placed with astropy's world->pixel
        xs, ys = frame.wcs.world_to_pixel(truth.sources["ra"], truth.sources["dec"])
        np.testing.assert_allclose(xs, truth.sources["x"], atol=1e-6)
        np.testing.assert_allclose(ys, truth.sources["y"], atol=1e-6)
        obs = frame.to_observation()
        if not sip:
            assert obs.jacobian.det == pytest.approx(0.396**2, rel=1e-6)
            # rotated by -70 deg from north-up: dudx = s cos(th), dvdx = s sin(th) in (u west, v north)
            th = np.radians(-70.0)
            np.testing.assert_allclose(
                obs.jacobian.matrix,
                0.396 * np.array([[np.cos(th), -np.sin(th)], [np.sin(th), np.cos(th)]]),
                atol=2e-6,
            )


@pytest.mark.parametrize(
    ("kwargs", "name", "tol_scale"),
    [
        ({"image_dtype": "float64", "floatcompress": False}, "frame-i-003813-5-0023.fits", 0.0),
        ({"image_dtype": "int16"}, "frame-i-003813-5-0023.fits.bz2", 1.0),
        ({"image_dtype": "uint16", "calib_2d": True}, "frame-i-003813-5-0023.fits.bz2", 1.0),
    ],
)
def test_storage_quirks(tmp_path, kwargs, name, tol_scale):
    truth = write_synthetic_frame(tmp_path / name, seed=5, **kwargs)
    frame = read_frame(truth.path)
    hdr = fits.getheader(truth.path)
    # half a quantisation step, plus float32 rounding of the scaled values (astropy
    # returns BSCALE/BZERO-scaled 16-bit data as float32)
    tol = tol_scale * (
        hdr.get("BSCALE", 0.0) * 0.5 + 4e-7 * abs(hdr.get("BZERO", 0.0))
    ) + 1e-6 * np.abs(truth.noisy_image)
    assert np.all(np.abs(frame.image - truth.noisy_image) <= tol)
    assert frame.image.dtype == np.float64 and frame.calib.shape == (200,)
    assert frame.band == "i" and frame.gain == 4.64 and frame.dark_variance == 7.84


def test_raw_uint16_image_does_not_wrap(tmp_path):
    # unsigned 16-bit pixels (BZERO = 32768): values above 32767 and arithmetic
    # in float64, not in uint16 (where 100 - 200 would wrap to 65436)
    hdul, _ = make_frame_hdus(seed=2, shape=(20, 24))
    raw = np.arange(20 * 24, dtype=np.uint16).reshape(20, 24) * 130
    new0 = fits.PrimaryHDU(raw, header=hdul[0].header, uint=True)
    for key in ("BSCALE", "BZERO"):
        new0.header.remove(key, ignore_missing=True)
    new0.header["EXTEND"] = True
    hdul[0] = new0
    path = tmp_path / "frame-r-003813-5-0023.fits"
    hdul.writeto(path)
    assert fits.getheader(path)["BZERO"] == 32768
    frame = read_frame(path)
    np.testing.assert_array_equal(frame.image, raw.astype(np.float64))
    assert frame.image.max() > 32767
    assert np.all(np.diff(frame.image.ravel()) > 0)


def test_compression_detected_from_content(r_frame, tmp_path):
    raw = bz2.decompress(r_frame.path.read_bytes())
    ref = read_frame(r_frame.path)
    # bzip2 data under a plain .fits name (renamed download)
    p1 = tmp_path / "frame-r-003813-5-0023.fits"
    shutil.copy(r_frame.path, p1)
    # gzip and plain
    p2 = tmp_path / "some-name.fits.gz"
    p2.write_bytes(gzip.compress(raw))
    p3 = tmp_path / "plain.fits"
    p3.write_bytes(raw)
    for p in (p1, p2, p3):
        f = read_frame(p)
        np.testing.assert_array_equal(f.image, ref.image)
        np.testing.assert_array_equal(f.weight, ref.weight)
        assert (f.run, f.camcol, f.field, f.band) == (3813, 5, 23, "r")


def test_identity_fallbacks(tmp_path):
    hdul, _ = make_frame_hdus(
        band="z", run=1234, camcol=4, field=99, seed=3, astrans=False, shape=(16, 24)
    )
    for key in ("RUN", "CAMCOL", "FRAME", "FILTER"):
        del hdul[0].header[key]
    named = tmp_path / "frame-z-001234-4-0099.fits"
    hdul.writeto(named)
    f = read_frame(named)
    assert (f.band, f.run, f.camcol, f.field) == ("z", 1234, 4, 99)
    assert f.astrans is None
    # run 1234 < 1500: the early z dark variance of camcol 4
    assert f.dark_variance == 9.61
    anonymous = tmp_path / "anonymous.fits"
    hdul.writeto(anonymous)
    with pytest.raises(GalmixIOError, match="band"):
        read_frame(anonymous)
    with pytest.raises(GalmixIOError, match="run/camcol/field"):
        read_frame(anonymous, band="z")


def test_astrans_and_overrides(r_frame):
    f = read_frame(r_frame.path, gain=2.0, dark_variance=3.0, psf="dummy-psf")
    assert f.gain == 2.0 and f.dark_variance == 3.0
    assert (
        f.astrans["filter"] == "r" and f.astrans["run"] == 3813 and f.astrans["naxis"] == [200, 150]
    )
    assert set(f.astrans) >= {"a", "b", "c", "d", "e", "f", "node", "incl", "ricut", "muerr"}
    img, calib, _, sky, _, _ = _reference_from_astropy(r_frame.path, 4.725, 0.81)
    err = np.sqrt((img / calib + sky) / 2.0 + 3.0) * calib
    np.testing.assert_allclose(f.weight, 1.0 / err**2, rtol=1e-10)
    np.testing.assert_allclose(f.counts, img / calib + sky, rtol=1e-12)


def test_bad_pixels_and_observation(tmp_path):
    hdul, _ = make_frame_hdus(seed=4, shape=(30, 40))
    data = np.array(hdul[0].data, dtype=np.float32)
    data[3, 5] = np.nan
    hdul[0].data = data
    path = tmp_path / "frame-r-003813-5-0023.fits"
    hdul.writeto(path)
    f = read_frame(path)
    assert f.weight[3, 5] == 0.0 and f.mask[3, 5]
    assert np.all(f.weight[~f.mask] > 0)
    extra = np.zeros(f.shape, bool)
    extra[0, 0] = True
    obs = f.to_observation(mask=extra, x=10.0, y=12.0)
    assert isinstance(obs, Observation)
    assert obs.weight[3, 5] == 0.0 and obs.weight[0, 0] == 0.0 and obs.image[3, 5] == 0.0
    good = ~f.mask & ~extra
    np.testing.assert_array_equal(obs.image[good], f.image[good])
    np.testing.assert_array_equal(obs.weight[good], f.weight[good])
    assert obs.jacobian.origin == (10.0, 12.0)
    assert obs.meta["band"] == "r" and obs.meta["zeropoint"] == 22.5 and obs.meta["wcs"] is f.wcs


def test_corrupt_inputs_raise_io_errors(r_frame, tmp_path):
    with pytest.raises(GalmixIOError, match="no such file"):
        read_frame(tmp_path / "missing.fits.bz2")
    trunc = tmp_path / "frame-r-003813-5-0023.fits.bz2"
    trunc.write_bytes(r_frame.path.read_bytes()[:5000])
    with pytest.raises(GalmixIOError, match="truncated or corrupt"):
        read_frame(trunc)
    text = tmp_path / "notfits.fits"
    text.write_text("hello")
    with pytest.raises(GalmixIOError, match="not a FITS"):
        read_frame(text)
    hdul, _ = make_frame_hdus(seed=1, shape=(10, 12))
    two = tmp_path / "two.fits"
    fits.HDUList(hdul[:2]).writeto(two)
    with pytest.raises(GalmixIOError, match="HDU"):
        read_frame(two)
    # XINTERP of the wrong length
    hdul, _ = make_frame_hdus(seed=1, shape=(10, 12))
    cols = hdul[2].columns
    bad_cols = fits.ColDefs(
        [
            cols["ALLSKY"],
            fits.Column(name="XINTERP", format="5E", array=np.zeros((1, 5), np.float32)),
            cols["YINTERP"],
        ]
    )
    hdul[2] = fits.BinTableHDU.from_columns(bad_cols)
    bad = tmp_path / "frame-r-003813-5-0023.fits"
    buf = io.BytesIO()
    hdul.writeto(buf)
    bad.write_bytes(buf.getvalue())
    with pytest.raises(GalmixIOError, match="XINTERP"):
        read_frame(bad)


def test_read_field_multiband(tmp_path):
    from galmix.image import MultiBandObservation
    from galmix.sdss import read_field
    from galmix.sdss.synthetic import write_synthetic_field

    truth, sources = write_synthetic_field(
        tmp_path, 94, 1, 7, bands=["g", "r"], shape=(40, 60), nsources=2, seed=3
    )
    psfs = {b: Observation(np.ones((5, 5)) / 25.0) for b in "gr"}
    frames = read_field(tmp_path, 94, 1, 7, bands=["g", "r"], psf=psfs)
    assert list(frames) == ["g", "r"] and frames["g"].psf is psfs["g"]
    # same sky positions in both bands although the pointings differ slightly
    for b, f in frames.items():
        x, y = f.wcs.world_to_pixel(sources["ra"], sources["dec"])
        np.testing.assert_allclose(x, truth[b].sources["x"], atol=1e-6)
        np.testing.assert_allclose(y, truth[b].sources["y"], atol=1e-6)
    dx = (
        frames["g"].wcs.world_to_pixel(sources["ra"][0], sources["dec"][0])[0]
        - frames["r"].wcs.world_to_pixel(sources["ra"][0], sources["dec"][0])[0]
    )
    assert abs(dx) > 0.5  # the bands are offset by more than half a pixel (like SDSS)
    mb = MultiBandObservation({b: f.to_observation() for b, f in frames.items()})
    assert mb.bands == ["g", "r"] and mb["r"][0].psf is psfs["r"]
    with pytest.raises(GalmixIOError, match=r"band\(s\) \['i'\]"):
        read_field(tmp_path, 94, 1, 7, bands=["g", "i"])
    assert list(read_field(tmp_path, 94, 1, 7, bands=["g", "i"], missing="skip")) == ["g"]
