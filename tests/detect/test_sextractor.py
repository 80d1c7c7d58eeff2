"""Side by side with SExtractor (Debian ``source-extractor``) on real survey frames.

Skipped when SExtractor is not installed. Both run with SExtractor's default
parameters (BACK_SIZE 64, BACK_FILTERSIZE 3, DETECT_THRESH 1.5, the 3x3
default.conv filter, DEBLEND 32/0.005, CLEAN, PHOT_AUTOPARAMS 2.5, 3.5) and
DETECT_MINAREA 5 (galmix's default; SExtractor's default.sex has 3). Without
a weight map both threshold on the global background rms.
"""

from __future__ import annotations

import numpy as np
import pytest

from galmix.catalog import crossmatch_pixels
from galmix.detect import detect, photometry, read_image
from galmix.detect.sextractor import find_sextractor, run_sextractor

pytestmark = pytest.mark.skipif(find_sextractor() is None, reason="source-extractor not installed")

FRAMES = {
    "sipsample": "galsim/fits_files/sipsample.fits",
    "tpv": "galsim/fits_files/tpv.fits",
    "sip-wcs": "astropy/sip-wcs.fits",
}


# bright = SExtractor S/N > 20; matched = galmix barycentre within 2 pixels.
@pytest.fixture(scope="module", params=sorted(FRAMES))
def side_by_side(request, shared_data):
    name = request.param
    path = shared_data / FRAMES[name]
    im = read_image(path)
    det = detect(im.data, mask=im.mask)
    # SExtractor reads the GAIN header keyword (GAIN_KEY) for the Poisson term
    phot = photometry(
        det.image, det.variance, det.catalog, det.segmentation, mask=det.mask, gain=im.gain
    )
    sex = run_sextractor(path, {"DETECT_MINAREA": 5})
    return name, det, phot, sex


def test_bright_detections_match(side_by_side):
    name, det, _phot, sex = side_by_side
    sx = np.asarray(sex["X_IMAGE"]) - 1.0
    sy = np.asarray(sex["Y_IMAGE"]) - 1.0
    bright = np.asarray(sex["FLUX_AUTO"]) > 20 * np.asarray(sex["FLUXERR_AUTO"])
    assert bright.sum() >= 1
    idx, _ = crossmatch_pixels(sx, sy, det.catalog["x"], det.catalog["y"], 2.0)
    # every bright SExtractor object is found, and nearly every faint one
    assert (idx[bright] >= 0).all(), name
    assert np.mean(idx >= 0) > 0.95, (name, np.mean(idx >= 0))
    # total numbers agree to 5 % (+-1 object on the small frame)
    assert abs(len(det.catalog) - len(sex)) <= max(1, 0.05 * len(sex))


def test_flux_auto_and_positions_agree(side_by_side):
    name, det, phot, sex = side_by_side
    sx = np.asarray(sex["X_IMAGE"]) - 1.0
    sy = np.asarray(sex["Y_IMAGE"]) - 1.0
    bright = np.asarray(sex["FLUX_AUTO"]) > 20 * np.asarray(sex["FLUXERR_AUTO"])
    idx, d = crossmatch_pixels(sx, sy, det.catalog["x"], det.catalog["y"], 2.0)
    sel = bright & (idx >= 0)
    assert sel.sum() >= 1
    ratio = np.asarray(phot["flux_auto"])[idx[sel]] / np.asarray(sex["FLUX_AUTO"])[sel]
    # blended objects included: neighbours are corrected by symmetry as in
    # SExtractor's MASK_TYPE CORRECT
    assert abs(np.median(ratio) - 1) < 0.01, (name, np.median(ratio))
    assert np.all(np.abs(ratio - 1) < 0.1), (name, ratio)
    # barycentres equal X_IMAGE - 1, windowed centroids XWIN_IMAGE - 1
    assert np.median(d[sel]) < 0.05
    # (windowed centroids of a few strongly blended objects differ by up to
    # a few pixels: SExtractor's iteration stops elsewhere)
    iso = sel & ((np.asarray(sex["FLAGS"]) & 3) == 0)
    if iso.any():
        dxw = np.asarray(phot["xwin"])[idx[iso]] - (np.asarray(sex["XWIN_IMAGE"])[iso] - 1)
        assert np.median(np.abs(dxw)) < 0.05
    # half-light radii (FLUX_RADIUS), neighbours corrected as in SExtractor
    rh = np.asarray(phot["flux_radius"])[idx[sel]] / np.asarray(sex["FLUX_RADIUS"])[sel]
    assert np.all(np.abs(rh - 1) < 0.05), (name, rh)
    # errors: same variance model (global background rms) and gain
    rerr = np.asarray(phot["flux_auto_err"])[idx[sel]] / np.asarray(sex["FLUXERR_AUTO"])[sel]
    assert abs(np.median(rerr) - 1) < 0.05
