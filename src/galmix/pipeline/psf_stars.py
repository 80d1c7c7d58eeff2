"""PSF images estimated from the stars of an image (``psf: {model: stars}``).

Bright, isolated, unflagged detections whose adaptive-moment size lies on
the stellar locus (the tight clump of the smallest objects: within 15 % of
the median size of the smallest third of bright objects) are cut out,
re-centred on their windowless barycentre with a cubic-spline shift,
normalised to unit flux and median-stacked. The result is a PSF image on the
band's native pixels (pixel response included), like a PSFEx zeroth order.
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np

from galmix.errors import GalmixRuntimeError

__all__ = ["estimate_psf_from_stars"]

log = logging.getLogger(__name__)


def estimate_psf_from_stars(
    image: np.ndarray,
    variance: np.ndarray | None = None,
    size: int = 41,
    min_snr: float = 50.0,
    max_stars: int = 200,
    isolation: float = 12.0,
) -> tuple[np.ndarray, int]:
    """Median stack of the stars of ``image``.

    Parameters
    ----------
    image : ndarray
        Flux image (background is estimated and subtracted here).
    variance : ndarray, optional
        Per-pixel variance (default: background rms squared).
    size : int
        Odd side of the PSF image.
    min_snr : float
        Minimum ``flux_auto / flux_auto_err`` of a star.
    max_stars : int
        Brightest candidates kept.
    isolation : float
        No other detection closer than this many pixels.

    Returns
    -------
    psf : ndarray, shape (size, size)
        Unit-sum PSF image centred on pixel ``(size // 2, size // 2)``.
    nstars : int
        Stars stacked.

    Raises
    ------
    GalmixRuntimeError
        When fewer than 3 stars are found.
    """
    from scipy.ndimage import shift as nd_shift
    from scipy.spatial import cKDTree

    from galmix.detect import detect, photometry

    size = int(size) | 1
    h = size // 2
    img = np.asarray(image, dtype=np.float64)
    det = detect(img, variance=variance, threshold=5.0, minarea=5)
    cat = det.catalog
    if len(cat) < 3:
        raise GalmixRuntimeError(f"PSF from stars: only {len(cat)} detections")
    sub = np.where(np.isfinite(img), img, 0.0) - det.background.level
    ph = photometry(sub, det.variance, cat, det.segmentation, windowed=False)
    x = np.asarray(cat["x"], float)
    y = np.asarray(cat["y"], float)
    flux = np.asarray(ph["flux_auto"], float)
    err = np.asarray(ph["flux_auto_err"], float)
    ny, nx = img.shape
    # second-moment size from the detection footprint (pixels^2)
    t_size = np.asarray(cat["a"], float) ** 2 + np.asarray(cat["b"], float) ** 2
    with np.errstate(divide="ignore", invalid="ignore"):
        snr = flux / err
    d, _ = cKDTree(np.column_stack([x, y])).query(np.column_stack([x, y]), k=2)
    ok = (
        (np.asarray(cat["flags"]) == 0)
        & (snr > min_snr)
        & (d[:, 1] > isolation)
        & (x > h + 2)
        & (x < nx - h - 3)
        & (y > h + 2)
        & (y < ny - h - 3)
        & np.isfinite(t_size)
    )
    if ok.sum() < 3:
        raise GalmixRuntimeError(f"PSF from stars: only {int(ok.sum())} bright isolated objects")
    ts = t_size[ok]
    small = np.sort(ts)[: max(3, ts.size // 3)]
    locus = np.median(small)
    star = ok & (np.abs(t_size / locus - 1) < 0.15)
    idx = np.flatnonzero(star)
    idx = idx[np.argsort(-flux[idx], kind="stable")][:max_stars]
    if idx.size < 3:
        raise GalmixRuntimeError(f"PSF from stars: only {idx.size} stars on the stellar locus")
    stack = []
    yy, xx = np.mgrid[-h : h + 1, -h : h + 1].astype(float)
    for k in idx:
        ix, iy = round(x[k]), round(y[k])
        cut = sub[iy - h : iy + h + 1, ix - h : ix + h + 1]
        if cut.shape != (size, size) or not np.all(np.isfinite(cut)):
            continue
        cut = cut / cut.sum()
        # shift the barycentre (inner 7x7) onto the central pixel
        w = (np.abs(xx) <= 3) & (np.abs(yy) <= 3)
        cx = (cut * xx)[w].sum() / cut[w].sum()
        cy = (cut * yy)[w].sum() / cut[w].sum()
        stack.append(nd_shift(cut, (-cy, -cx), order=3, mode="constant"))
    if len(stack) < 3:
        raise GalmixRuntimeError(f"PSF from stars: only {len(stack)} usable star stamps")
    psf = np.median(np.array(stack), axis=0)
    psf = np.where(np.isfinite(psf), psf, 0.0)
    psf /= psf.sum()
    log.info("PSF from %d stars (locus a^2+b^2 = %.2f px^2)", len(stack), locus)
    return psf, len(stack)


def psf_images_from_stars(cfg: Any, out_dir: Any) -> Any:
    """Estimate the PSF of every band configured with ``psf: {model: stars}``.

    Writes ``out_dir/psf/psf-<band>.fits`` and returns the configuration with
    those bands pointing at their PSF image.
    """
    import dataclasses
    from pathlib import Path

    from astropy.io import fits

    from galmix.pipeline.config import PSFConfig
    from galmix.pipeline.inputs import _read_fits

    bands = dict(cfg.bands)
    changed = False
    for name, band in cfg.bands.items():
        if band.psf is None or band.psf.model != "stars":
            continue
        data, _, _ = _read_fits(band)
        var = None
        if isinstance(data, tuple):
            data, var = data
        img = np.array(data, dtype=np.float64)
        psf, nstars = estimate_psf_from_stars(img, var)
        path = Path(out_dir) / "psf" / f"psf-{name}.fits"
        path.parent.mkdir(parents=True, exist_ok=True)
        hdu = fits.PrimaryHDU(psf)
        hdu.header["NSTARS"] = (nstars, "stars stacked by galmix")
        from galmix.pipeline.store import atomic_write

        atomic_write(path, lambda tmp, h=hdu: h.writeto(tmp))
        bands[name] = dataclasses.replace(band, psf=PSFConfig(image=path, hdu=0))
        changed = True
    return dataclasses.replace(cfg, bands=bands) if changed else cfg
