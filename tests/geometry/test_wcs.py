"""WCS against astropy on every real distorted WCS in ../shared/data."""

import warnings

import numpy as np
import pytest
from astropy.io import fits
from astropy.wcs import WCS as AstropyWCS

from galmix import WCS
from galmix.errors import GalmixIOError, GalmixValueError
from galmix.geometry import read_header

FILES = [
    ("galsim/fits_files/sipsample.fits", (256, 256)),
    ("galsim/fits_files/tpv.fits", (512, 512)),
    ("galsim/fits_files/tnx.fits", (400, 400)),
    ("galsim/fits_files/zpx.fits", (512, 512)),
    ("astropy/sip-wcs.fits", (50, 100)),
    ("astropy/siponly.hdr", (4096, 2048)),
    ("astropy/tpvonly.hdr", (4096, 2048)),
    ("astropy/irac_sip.hdr", (256, 256)),
]


def _astropy(path):
    hdr = read_header(path)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return AstropyWCS(hdr, relax=True)


def _grid(shape, n=7):
    ny, nx = shape
    yy, xx = np.meshgrid(np.linspace(0, ny - 1, n), np.linspace(0, nx - 1, n), indexing="ij")
    return xx.ravel(), yy.ravel()


def _tangent_fd(aw, x, y, h=0.5):
    """Jacobian by 4th-order finite differences of astropy, in a local tangent plane."""
    from astropy.coordinates import SkyCoord

    ra0, dec0 = aw.all_pix2world(x, y, 0)
    c0 = SkyCoord(ra0, dec0, unit="deg")
    cols = []
    for dx, dy in ((1, 0), (0, 1)):
        acc_u = 0.0
        acc_v = 0.0
        for k, w in ((-2, 1 / 12), (-1, -8 / 12), (1, 8 / 12), (2, -1 / 12)):
            ra, dec = aw.all_pix2world(x + k * h * dx, y + k * h * dy, 0)
            off = c0.spherical_offsets_to(SkyCoord(ra, dec, unit="deg"))
            # spherical offsets: (east, north); u points west
            acc_u = acc_u + w * (-off[0].arcsec)
            acc_v = acc_v + w * off[1].arcsec
        cols.append((acc_u / h, acc_v / h))
    return np.array([[cols[0][0], cols[1][0]], [cols[0][1], cols[1][1]]])


@pytest.mark.parametrize("name,shape", FILES)
def test_pixel_world_round_trip_vs_astropy(shared_data, name, shape):
    path = shared_data / name
    wcs = WCS.from_fits(path)
    aw = _astropy(path)
    x, y = _grid(shape)
    ra, dec = wcs.pixel_to_world(x, y)
    ra_a, dec_a = aw.all_pix2world(x, y, 0)
    assert np.allclose(ra, ra_a, rtol=0, atol=1e-12)
    assert np.allclose(dec, dec_a, rtol=0, atol=1e-12)
    x2, y2 = wcs.world_to_pixel(ra, dec)
    assert np.max(np.abs(x2 - x)) < 1e-6
    assert np.max(np.abs(y2 - y)) < 1e-6


@pytest.mark.parametrize("name,shape", FILES)
def test_jacobian_and_area_vs_astropy_finite_differences(shared_data, name, shape):
    path = shared_data / name
    wcs = WCS.from_fits(path)
    aw = _astropy(path)
    x, y = _grid(shape, n=4)
    for xi, yi in zip(x, y):
        jac = wcs.jacobian(xi, yi)
        ref = _tangent_fd(aw, xi, yi)
        scale = np.max(np.abs(ref))
        assert np.max(np.abs(jac.matrix - ref)) / scale < 1e-4
        assert abs(abs(jac.det) / abs(np.linalg.det(ref)) - 1) < 1e-4
        assert jac.origin == (xi, yi)


def test_pixel_area_map_sipsample(shared_data):
    wcs = WCS.from_fits(shared_data / "galsim/fits_files/sipsample.fits")
    area = wcs.pixel_area_map()
    assert area.shape == (256, 256)
    # published in ../shared/data/README.md: 1.441-1.502 arcsec^2
    assert 1.43 < area.min() < 1.45
    assert 1.49 < area.max() < 1.51


def test_pixel_area_map_large_uses_interpolation(shared_data):
    wcs = WCS.from_fits(shared_data / "astropy/siponly.hdr")
    area = wcs.pixel_area_map()
    assert area.shape == (4096, 2048)
    aw = _astropy(shared_data / "astropy/siponly.hdr")
    for x, y in [(10.3, 4000.0), (1000.0, 2000.0), (2047.0, 0.0), (333.0, 1234.0)]:
        xi, yi = round(x), round(y)
        ref = abs(np.linalg.det(_tangent_fd(aw, float(xi), float(yi))))
        assert abs(area[yi, xi] / ref - 1) < 1e-4
    assert 1.015 < area.min() and area.max() < 1.026


def test_sip_and_tpv_headers_agree(shared_data):
    sip = WCS.from_fits(shared_data / "astropy/siponly.hdr")
    tpv = WCS.from_fits(shared_data / "astropy/tpvonly.hdr")
    x, y = _grid((4096, 2048), n=5)
    r1, d1 = sip.pixel_to_world(x, y)
    r2, d2 = tpv.pixel_to_world(x, y)
    assert np.max(np.abs(r1 - r2)) * 3600 < 1e-6
    assert np.max(np.abs(d1 - d2)) * 3600 < 1e-6


def test_reference_points_from_galsim(shared_data):
    # README reference: sipsample FITS (242, 75) -> 13:30:01.474154 +47:12:51.794474
    wcs = WCS.from_fits(shared_data / "galsim/fits_files/sipsample.fits")
    ra, dec = wcs.pixel_to_world(241.0, 74.0)
    ra_ref = (13 + 30 / 60 + 1.474154 / 3600) * 15
    dec_ref = 47 + 12 / 60 + 51.794474 / 3600
    assert abs(ra - ra_ref) * 3600 * np.cos(np.radians(dec)) < 1e-3
    assert abs(dec - dec_ref) * 3600 < 1e-3


def test_header_round_trip(shared_data):
    wcs = WCS.from_fits(shared_data / "galsim/fits_files/sipsample.fits")
    again = WCS.from_fits(wcs.to_header())
    x, y = _grid((256, 256))
    assert np.allclose(wcs.pixel_to_world(x, y), again.pixel_to_world(x, y), atol=1e-10)


def test_errors(tmp_path):
    with pytest.raises(GalmixIOError, match="no such file"):
        WCS.from_fits(tmp_path / "missing.fits")
    txt = tmp_path / "notfits.fits"
    txt.write_text("hello, I am not a FITS file\n" * 10)
    with pytest.raises(GalmixIOError, match="not a FITS"):
        WCS.from_fits(txt)
    nowcs = tmp_path / "nowcs.fits"
    fits.PrimaryHDU(np.zeros((4, 4))).writeto(nowcs)
    with pytest.raises(GalmixValueError, match="celestial"):
        WCS.from_fits(nowcs)
    bad = fits.Header({"CTYPE1": "RA---XYZ", "CTYPE2": "DEC--XYZ", "CRVAL1": 1.0, "CRVAL2": 1.0})
    with pytest.raises(GalmixValueError):
        WCS.from_fits(bad)


@pytest.mark.parametrize(
    "name",
    ["galsim/fits_files/sipsample.fits", "galsim/fits_files/tpv.fits", "astropy/sip-wcs.fits"],
)
def test_jacobian_matches_galsim_celestial_local_wcs(shared_data, name):
    galsim = pytest.importorskip("galsim")
    path = shared_data / name
    gw = galsim.FitsWCS(str(path))
    wcs = WCS.from_fits(path)
    for x, y in [(10.0, 20.0), (40.0, 35.0)]:
        # GalSim image coordinates are 1-based
        ref = gw.jacobian(galsim.PositionD(x + 1, y + 1)).getMatrix()
        got = wcs.jacobian(x, y).matrix
        assert np.max(np.abs(got - ref)) / np.max(np.abs(ref)) < 1e-5


@pytest.mark.parametrize(
    "name,expected",
    [
        ("galsim/fits_files/sipsample.fits", True),
        ("galsim/fits_files/tpv.fits", True),
        ("galsim/fits_files/tnx.fits", True),
        ("galsim/fits_files/zpx.fits", True),
        ("astropy/tpvonly.hdr", True),
    ],
)
def test_has_distortion(shared_data, name, expected):
    assert WCS.from_fits(shared_data / name).has_distortion is expected


def test_plain_tan_has_no_distortion():
    hdr = fits.Header(
        {
            "CTYPE1": "RA---TAN",
            "CTYPE2": "DEC--TAN",
            "CRPIX1": 1.0,
            "CRPIX2": 1.0,
            "CRVAL1": 10.0,
            "CRVAL2": 5.0,
            "CD1_1": -1e-4,
            "CD1_2": 0.0,
            "CD2_1": 0.0,
            "CD2_2": 1e-4,
        }
    )
    assert WCS.from_fits(hdr).has_distortion is False
