"""Reading a band's pixels for one tile, registered onto the reference grid or native."""

from __future__ import annotations

import dataclasses
import math
import warnings
from typing import Any

import numpy as np

from galmix._exact import matmul
from galmix.errors import ConfigError, GalmixIOError
from galmix.pipeline.config import BandConfig, PipelineConfig
from galmix.pipeline.registration import map_pixels, pixel_coordinates, register
from galmix.pipeline.tiles import Tile

__all__ = ["BandTile", "load_band_tile", "reference_grid"]


@dataclasses.dataclass
class BandTile:
    """A band's data over one tile.

    Attributes
    ----------
    image, variance : ndarray
        Background-subtracted flux per pixel (NaN = no data) and variance
        (``inf`` = no data), on the band's pixel grid for this tile.
    awcs : astropy.wcs.WCS
        WCS of these arrays (0-based pixels).
    native : bool
        True when the arrays are on the band's own pixels (``registration:
        native``); False when on the reference tile grid.
    x_ref, y_ref : ndarray or None
        For native bands, the reference-tile pixel coordinates of every band
        pixel (to carry the segmentation over).
    zeropoint : float
    psf : Observation or None
    background_rms : float
    """

    name: str
    image: np.ndarray
    variance: np.ndarray
    awcs: Any
    native: bool
    zeropoint: float
    psf: Any
    background_rms: float
    x_ref: np.ndarray | None = None
    y_ref: np.ndarray | None = None
    #: the band's own cutout before background subtraction, the first-pass
    #: background level on it, and (for bands resampled onto the tile grid)
    #: the cutout's WCS: the object-masked second pass re-estimates the sky
    #: on these pixels (``galmix.pipeline.measure``)
    sky_image: np.ndarray | None = None
    sky_level: np.ndarray | None = None
    sky_awcs: Any = None


def _read_fits(band: BandConfig) -> tuple[Any, Any, float | None]:
    """(data array (memmap when possible), astropy WCS, header zeropoint)."""
    from astropy.io import fits
    from astropy.wcs import WCS as AWCS

    if band.format == "sdss":
        try:
            from galmix.sdss import read_frame
        except ImportError as exc:  # pragma: no cover - depends on peers
            raise ConfigError(
                f"config key 'bands.{band.name}.format': 'sdss' needs galmix.sdss ({exc})"
            ) from None
        fr = read_frame(band.image)
        var = np.where(fr.weight > 0, 1.0 / np.where(fr.weight > 0, fr.weight, 1.0), np.inf)
        return (fr.image, var), fr.wcs.astropy, 22.5
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            hdul = fits.open(band.image, memmap=True)
            hdu = hdul[band.hdu]
            data = hdu.data
            header = hdu.header
            awcs = AWCS(header, relax=True).celestial
    except (OSError, IndexError) as exc:
        raise GalmixIOError(
            f"bands.{band.name}.image: cannot read {str(band.image)!r}: {exc}"
        ) from exc
    if data is None or data.ndim != 2:
        raise ConfigError(
            f"config key 'bands.{band.name}.hdu': HDU {band.hdu} of {str(band.image)!r} is not a 2-d image"
        )
    if not awcs.has_celestial:
        raise ConfigError(f"config key 'bands.{band.name}.image': no celestial WCS in the header")
    zp = None
    for key in ("MAGZERO", "MAGZPT", "ZEROPT", "ZP"):
        if key in header:
            try:
                zp = float(header[key])
                break
            except (TypeError, ValueError):
                pass
    return data, awcs, zp


def _read_aux(path: Any, hdu: int, sl: tuple[slice, slice]) -> np.ndarray:
    from astropy.io import fits

    with fits.open(path, memmap=True) as hdul:
        return np.array(hdul[hdu].data[sl], dtype=np.float64)


def reference_grid(cfg: PipelineConfig) -> tuple[Any, tuple[int, int]]:
    """(astropy WCS, (ny, nx)) of the reference band."""
    data, awcs, _ = _read_fits(cfg.bands[cfg.registration.reference])
    arr = data[0] if isinstance(data, tuple) else data
    return awcs, (int(arr.shape[0]), int(arr.shape[1]))


def _psf_observation(band: BandConfig, awcs: Any, x: float, y: float) -> Any:
    if band.psf is None:
        return None
    from galmix.geometry import WCS, Jacobian
    from galmix.image import Observation

    if band.psf.image is None and band.psf.model in ("moffat", "gaussian"):
        # analytic mixture in world coordinates: exact for any Jacobian, no PSF fit needed
        gm = _analytic_psf(band.psf.model, band.psf.fwhm, band.psf.beta)
        if gm is not None:
            return gm
    jac = WCS(awcs).jacobian(x, y)
    if band.psf.image is not None:
        from astropy.io import fits

        with fits.open(band.psf.image) as hdul:
            img = np.array(hdul[band.psf.hdu].data, dtype=np.float64)
        img = np.where(np.isfinite(img), img, 0.0)
        s = img.sum()
        if not s > 0:
            raise ConfigError(
                f"config key 'bands.{band.name}.psf.image': PSF image sum is not positive"
            )
        img = img / s
    else:
        from galmix.sim.psf import draw_psf_image, make_psf

        kw = {"fwhm": band.psf.fwhm}
        if band.psf.model == "moffat":
            kw["beta"] = band.psf.beta
        img = draw_psf_image(make_psf(band.psf.model, **kw), jac, 41)
    ny, nx = img.shape
    pj = Jacobian(jac.dudx, jac.dudy, jac.dvdx, jac.dvdy, x0=(nx - 1) / 2, y0=(ny - 1) / 2)
    return Observation(img, weight=np.full(img.shape, 1e8), jacobian=pj, meta={"band": band.name})


def _analytic_psf(model: str, fwhm: float, beta: float) -> Any:
    """Unit-flux Gaussian-mixture PSF (``galmix.psf``/``galmix.profiles``), or None."""
    try:
        if model == "moffat":
            from galmix.psf import moffat_gmix

            return moffat_gmix(fwhm, beta)
        from galmix.profiles import Gaussian

        return Gaussian(1.0, fwhm / 2.3548200450309493).gmix()
    except (ImportError, AttributeError, TypeError, ValueError):  # pragma: no cover - peers
        return None


def _background(
    image: np.ndarray, variance: np.ndarray, box_size: int = 64, filter_size: int = 3
) -> tuple[np.ndarray, float]:
    """Background level map and global rms of ``image`` (NaNs ignored)."""
    bad = ~np.isfinite(image)
    try:
        from galmix.detect import estimate_background

        bg = estimate_background(
            np.where(bad, 0.0, image), mask=bad, box_size=box_size, filter_size=filter_size
        )
        return np.asarray(bg.level, dtype=np.float64), float(bg.global_rms)
    except ImportError:  # pragma: no cover - galmix.detect missing
        good = image[~bad]
        med = float(np.median(good)) if good.size else 0.0
        rms = float(1.4826 * np.median(np.abs(good - med))) if good.size else 1.0
        return np.full(image.shape, med), rms


def load_band_tile(
    cfg: PipelineConfig,
    band_name: str,
    tile: Tile,
    ref_awcs: Any,
    subtract_background: bool = True,
) -> BandTile:
    """Read (and register) one band over one tile.

    The reference band is cut directly; other bands are resampled onto the
    tile's reference grid with :func:`~galmix.pipeline.registration.register`
    (``interp``/``exact``), or cut on their own pixels (``native``) together
    with the reference-grid coordinates of every pixel.
    """
    band = cfg.bands[band_name]
    data, awcs, hdr_zp = _read_fits(band)
    variance_all = None
    if isinstance(data, tuple):  # sdss: (image, variance) in memory
        data, variance_all = data
    zp = band.zeropoint if band.zeropoint is not None else (hdr_zp if hdr_zp is not None else 22.5)
    ny, nx = data.shape
    tile_awcs = ref_awcs.slice((slice(tile.y0, tile.y1), slice(tile.x0, tile.x1)))
    method = cfg.registration.method
    is_ref = band_name == cfg.registration.reference
    tshape = tile.shape

    if is_ref:
        sl = (slice(tile.y0, tile.y1), slice(tile.x0, tile.x1))
    else:
        # bounding box of the tile in this band's pixels (edges sampled every 16 px)
        ty, tx = tshape
        xs = np.r_[np.arange(0, tx, 16), tx - 1].astype(float)
        ys = np.r_[np.arange(0, ty, 16), ty - 1].astype(float)
        ex = np.r_[xs, xs, np.zeros(ys.size), np.full(ys.size, tx - 1.0)]
        ey = np.r_[np.zeros(xs.size), np.full(xs.size, ty - 1.0), ys, ys]
        bx, by = map_pixels(tile_awcs, awcs, ex, ey)
        pad = 4
        fin = np.isfinite(bx) & np.isfinite(by)
        if fin.any():
            bx, by = bx[fin], by[fin]
            bx0 = int(max(0, np.floor(bx.min()) - pad))
            bx1 = int(min(nx, np.ceil(bx.max()) + pad + 1))
            by0 = int(max(0, np.floor(by.min()) - pad))
            by1 = int(min(ny, np.ceil(by.max()) + pad + 1))
        else:  # the band does not cover this tile
            bx0 = bx1 = by0 = by1 = 0
        if bx1 <= bx0 or by1 <= by0:
            bx0, bx1, by0, by1 = 0, 1, 0, 1
        sl = (slice(by0, by1), slice(bx0, bx1))
    img = np.array(data[sl], dtype=np.float64)
    if variance_all is not None:
        var = np.array(variance_all[sl], dtype=np.float64)
    elif band.weight is not None:
        w = _read_aux(band.weight, band.hdu, sl)
        with np.errstate(divide="ignore"):
            var = np.where(w > 0, 1.0 / np.where(w > 0, w, 1.0), np.inf)
    elif band.variance is not None:
        var = _read_aux(band.variance, band.hdu, sl)
        var = np.where(np.isfinite(var) & (var > 0), var, np.inf)
    else:
        var = None
    bgc = cfg.background
    level, rms = _background(
        img, var if var is not None else np.ones_like(img), bgc.box_size, bgc.filter_size
    )
    sky_image = sky_level = None
    if subtract_background and bgc.subtract:
        sky_image, sky_level = img, level
        img = img - level
    if var is None:
        var = np.full(img.shape, rms**2)
    var = np.where(np.isfinite(img), var, np.inf)
    cut_awcs = awcs.slice(sl)
    cy, cx = (tshape[0] - 1) / 2.0, (tshape[1] - 1) / 2.0

    if is_ref or method == "native":
        xr = yr = None
        if not is_ref:
            # reference-tile coordinates of every native pixel (for the segmentation)
            xr, yr = pixel_coordinates(cut_awcs, tile_awcs, img.shape)
        pwcs, px, py = (
            (tile_awcs, cx, cy)
            if is_ref
            else (cut_awcs, (img.shape[1] - 1) / 2, (img.shape[0] - 1) / 2)
        )
        return BandTile(
            name=band_name,
            image=img,
            variance=var,
            awcs=pwcs,
            native=not is_ref,
            zeropoint=float(zp),
            psf=_psf_observation(band, pwcs, px, py),
            background_rms=rms,
            x_ref=xr,
            y_ref=yr,
            sky_image=sky_image,
            sky_level=sky_level,
        )
    reg = register(img, cut_awcs, tile_awcs, tshape, variance=var, method=method)
    psf = _psf_observation(band, tile_awcs, cx, cy)
    if psf is not None:
        # the resampled image is the native one convolved with the
        # resampling kernel: the PSF of the registered band includes it
        bxc, byc = (float(v[0]) for v in map_pixels(tile_awcs, cut_awcs, [cx], [cy]))
        if not (math.isfinite(bxc) and math.isfinite(byc)):
            bxc = byc = 0.0
        psf = broaden_psf_for_resampling(psf, method, cut_awcs, bxc, byc, tile_awcs, cx, cy)
    return BandTile(
        name=band_name,
        image=reg.image,
        variance=reg.variance,
        awcs=tile_awcs,
        native=False,
        zeropoint=float(zp),
        psf=psf,
        background_rms=rms,
        sky_image=sky_image,
        sky_level=sky_level,
        sky_awcs=cut_awcs,
    )


#: ``(a, b)``: resampling with this method adds, on average over sub-pixel
#: phases, ``a J_in J_in^T - b J_out J_out^T`` to the PSF of a band whose models
#: integrate over the output pixel (``J`` the local Jacobians). A native pixel
#: integrates the sky over its box (variance 1/12 per axis). ``interp``
#: (bilinear) samples the tent interpolation of those values at the output
#: centre: box + tent (``E[t (1 - t)] = 1/6`` at a uniform phase ``t``) and no
#: output box, so ``a = 1/4, b = 1/12``. ``exact`` averages the piecewise-
#: constant input over the output pixel: box + hold box + output box, so
#: ``a = 1/6, b = 0``.
RESAMPLING_PSF_TERMS = {"interp": (0.25, 1.0 / 12.0), "exact": (1.0 / 6.0, 0.0)}


def broaden_psf_for_resampling(
    psf: Any,
    method: str,
    band_awcs: Any,
    x: float,
    y: float,
    out_awcs: Any,
    x_out: float,
    y_out: float,
) -> Any:
    """The PSF of a band after resampling with ``method`` (``interp``/``exact``).

    A native pixel value integrates the sky over the input pixel box; the
    resampled value applies the resampling kernel to those values; the
    models integrate over the *output* pixel. So, averaged over sub-pixel
    phases, the registered band's PSF is the native PSF convolved with a
    Gaussian of covariance ``a J_in J_in^T - b J_out J_out^T``
    (world coordinates; ``J`` the local Jacobians), clipped to be positive
    semi-definite; :data:`RESAMPLING_PSF_TERMS` derives the coefficients. Without it a fit on
    registered bands sees galaxies less concentrated than they are. A PSF
    image (which contains its pixel) is convolved with that Gaussian on its
    own grid and stays an image.

    Parameters
    ----------
    psf : GMix or Observation
        The band's PSF on the output grid.
    method : str
        ``interp`` or ``exact`` (anything else returns ``psf`` unchanged).
    band_awcs : astropy.wcs.WCS
        The band's own (input) WCS.
    x, y : float
        Input pixel where its local Jacobian is taken.
    out_awcs : astropy.wcs.WCS
        WCS of the output grid.
    x_out, y_out : float
        Output pixel where its local Jacobian is taken.

    Returns
    -------
    GMix or Observation

    Examples
    --------
    >>> from astropy.wcs import WCS as AWCS
    >>> from galmix.profiles import Gaussian
    >>> from galmix.sim import make_wcs_header
    >>> w = AWCS(make_wcs_header((64, 64), 0.2, sip=False))
    >>> psf = Gaussian(1.0, sigma=0.3).gmix()
    >>> out = broaden_psf_for_resampling(psf, "interp", w, 31.5, 31.5, w, 31.5, 31.5)
    >>> round(float(out.data[0, 3] - psf.data[0, 3]), 6)  # + (1/4 - 1/12) * 0.2**2
    0.006667
    """
    terms = RESAMPLING_PSF_TERMS.get(method)
    if terms is None or psf is None:
        return psf
    from galmix.geometry import WCS
    from galmix.profiles import GMix

    def _mat(awcs: Any, px: float, py: float) -> np.ndarray:
        j = WCS(awcs).jacobian(px, py)
        return np.array([[j.dudx, j.dudy], [j.dvdx, j.dvdy]], dtype=np.float64)

    m_in, m_out = _mat(band_awcs, x, y), _mat(out_awcs, x_out, y_out)
    # exactly rounded 2x2 algebra (no BLAS/LAPACK: every process gets the same bits)
    cov = terms[0] * matmul(m_in, m_in.T) - terms[1] * matmul(m_out, m_out.T)
    cxx, cyy, cxy = float(cov[0, 0]), float(cov[1, 1]), 0.5 * float(cov[0, 1] + cov[1, 0])
    if not (cxx >= 0.0 and cyy >= 0.0 and cxx * cyy - cxy * cxy >= 0.0):
        # clip to positive semi-definite: keep the non-negative eigen-direction
        half_tr, d = 0.5 * (cxx + cyy), math.hypot(0.5 * (cxx - cyy), cxy)
        lam = max(half_tr + d, 0.0)
        ang = 0.5 * math.atan2(2.0 * cxy, cxx - cyy)
        c, s_ = math.cos(ang), math.sin(ang)
        cxx, cyy, cxy = lam * c * c, lam * s_ * s_, lam * c * s_
    if not (cxx > 0.0 or cyy > 0.0):
        return psf
    cov = np.array([[cxx, cxy], [cxy, cyy]])
    if isinstance(psf, GMix):
        return psf.convolve(GMix(np.array([[1.0, 0.0, 0.0, cxx, cxy, cyy]])))
    if hasattr(psf, "image") and hasattr(psf, "jacobian"):
        # a PSF image (which contains its pixel) stays an image: convolved with
        # the kernel in Fourier space, on its own pixel grid
        try:
            return psf.replace(
                image=_convolve_gaussian(np.asarray(psf.image, float), cov, psf.jacobian)
            )
        except ValueError:  # keep the PSF if its grid is degenerate
            return psf
    return psf


def _convolve_gaussian(image: np.ndarray, cov: np.ndarray, jacobian: Any) -> np.ndarray:
    """``image`` convolved with a unit-flux Gaussian of world covariance ``cov``.

    The covariance is taken to the image's pixel frame (``M^-1 cov M^-T``, M
    the Jacobian matrix) and applied as an exact Gaussian transfer function to
    the zero-padded image (4 sigma of padding, so nothing wraps around).
    """
    m = np.array([[jacobian.dudx, jacobian.dudy], [jacobian.dvdx, jacobian.dvdy]], dtype=float)
    det = m[0, 0] * m[1, 1] - m[0, 1] * m[1, 0]
    if not (math.isfinite(det) and det != 0.0):
        raise ValueError("singular PSF Jacobian")
    minv = np.array([[m[1, 1], -m[0, 1]], [-m[1, 0], m[0, 0]]]) / det
    cp = matmul(matmul(minv, cov), minv.T)
    sig = math.sqrt(max(float(cp[0, 0]), float(cp[1, 1]), 0.0))
    pad = math.ceil(4.0 * sig) + 2
    a = np.pad(np.nan_to_num(image), pad)
    ky = np.fft.fftfreq(a.shape[0])[:, None]
    kx = np.fft.rfftfreq(a.shape[1])[None, :]
    q = cp[0, 0] * kx * kx + 2.0 * cp[0, 1] * kx * ky + cp[1, 1] * ky * ky
    out = np.fft.irfft2(np.fft.rfft2(a) * np.exp(-2.0 * math.pi**2 * q), s=a.shape)
    return out[pad:-pad, pad:-pad]
