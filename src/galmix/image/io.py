"""FITS read/write of an :class:`~galmix.image.Observation` in one multi-extension file."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy as np

from galmix.errors import GalmixIOError, GalmixTypeError
from galmix.geometry import Jacobian, PixelResponse
from galmix.image.observation import Observation

__all__ = ["read_observation", "write_observation"]

_JAC_KEYS = ("GMJDUDX", "GMJDUDY", "GMJDVDX", "GMJDVDY", "GMJX0", "GMJY0")


def _jac_cards(header: Any, jac: Jacobian) -> None:
    for key, value in zip(_JAC_KEYS, jac.as_array()):
        header[key] = (float(value), "galmix Jacobian (arcsec/pixel, 0-based origin)")


def _jac_from(header: Any) -> Jacobian | None:
    if not all(k in header for k in _JAC_KEYS):
        return None
    v = [float(header[k]) for k in _JAC_KEYS]
    return Jacobian(*v[:4], x0=v[4], y0=v[5])


def write_observation(
    obs: Observation, path: str | os.PathLike, wcs: Any = None, overwrite: bool = False
) -> Path:
    """Write an observation (image, weight, mask, noise, PSF, Jacobian, WCS) to FITS.

    Extensions: ``SCI`` (image; WCS header if ``wcs`` given), ``WEIGHT``,
    ``MASK`` (uint8, 1 = bad), optional ``NOISE``, ``NCORR`` (noise
    correlation), ``PSF`` (PSF image with its own Jacobian). Metadata that is
    JSON-serialisable is stored as a JSON string (never pickled). The file is
    written to a temporary name and renamed, so a partial file never appears.

    Parameters
    ----------
    obs : Observation
        What to write.
    path : str or Path
        Output file.
    wcs : galmix.geometry.WCS, optional
        Celestial WCS of the image, written into the ``SCI`` header.
    overwrite : bool
        Replace an existing file.

    Returns
    -------
    Path
        The written path.

    Examples
    --------
    >>> import numpy as np, tempfile, os
    >>> obs = Observation(np.arange(12.0).reshape(3, 4), meta={"band": "r"})
    >>> p = write_observation(obs, os.path.join(tempfile.mkdtemp(), "obs.fits"))
    >>> read_observation(p).meta["band"]
    'r'
    """
    from astropy.io import fits

    if not isinstance(obs, Observation):
        raise GalmixTypeError(f"obs must be an Observation, got {type(obs).__name__}")
    path = Path(path)
    if path.exists() and not overwrite:
        raise GalmixIOError(f"path {str(path)!r} exists (pass overwrite=True)")
    hdr = fits.Header()
    if wcs is not None:
        hdr.update(wcs.to_header())
    _jac_cards(hdr, obs.jacobian)
    hdr["GMPIXDX"] = obs.pixel.subpixel_loc[0]
    hdr["GMPIXDY"] = obs.pixel.subpixel_loc[1]
    hdr["GMPIXSC"] = obs.pixel.subpixel_scale
    try:
        meta_json = json.dumps(obs.meta, default=str)
    except (TypeError, ValueError):
        meta_json = "{}"
    hdus = [fits.PrimaryHDU(np.asarray(obs.image), header=hdr)]
    hdus[0].header["EXTNAME"] = "SCI"
    hdus.append(fits.ImageHDU(np.asarray(obs.weight), name="WEIGHT"))
    hdus.append(fits.ImageHDU(np.asarray(obs.mask, dtype=np.uint8), name="MASK"))
    if obs.noise is not None:
        hdus.append(fits.ImageHDU(np.asarray(obs.noise), name="NOISE"))
    if obs.noise_correlation is not None:
        hdus.append(fits.ImageHDU(np.asarray(obs.noise_correlation), name="NCORR"))
    if isinstance(obs.psf, Observation):
        phdr = fits.Header()
        _jac_cards(phdr, obs.psf.jacobian)
        hdus.append(fits.ImageHDU(np.asarray(obs.psf.image), header=phdr, name="PSF"))
    meta_hdu = fits.BinTableHDU.from_columns(
        [fits.Column(name="META", format=f"{max(len(meta_json), 1)}A", array=[meta_json])],
        name="META",
    )
    hdus.append(meta_hdu)
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    fits.HDUList(hdus).writeto(tmp, overwrite=True)
    os.replace(tmp, path)
    return path


def read_observation(path: str | os.PathLike) -> Observation:
    """Read an observation written by :func:`write_observation`.

    Raises
    ------
    GalmixIOError
        If the file is missing, not FITS, or lacks the ``SCI`` extension.
    """
    from astropy.io import fits

    path = Path(path)
    if not path.exists():
        raise GalmixIOError(f"path: no such file {str(path)!r}")
    try:
        with fits.open(path, memmap=False) as hdul:
            names = [h.name for h in hdul]
            if "SCI" not in names:
                raise GalmixIOError(
                    f"{str(path)!r} has no SCI extension (not a galmix observation)"
                )
            sci = hdul["SCI"]
            image = np.asarray(sci.data, dtype=float)
            jac = _jac_from(sci.header)
            pixel = PixelResponse(
                (float(sci.header.get("GMPIXDX", 0.0)), float(sci.header.get("GMPIXDY", 0.0))),
                float(sci.header.get("GMPIXSC", 1.0)),
            )
            weight = np.asarray(hdul["WEIGHT"].data, dtype=float) if "WEIGHT" in names else None
            mask = np.asarray(hdul["MASK"].data) != 0 if "MASK" in names else None
            noise = np.asarray(hdul["NOISE"].data, dtype=float) if "NOISE" in names else None
            ncorr = np.asarray(hdul["NCORR"].data, dtype=float) if "NCORR" in names else None
            psf = None
            if "PSF" in names:
                ph = hdul["PSF"]
                psf = Observation(np.asarray(ph.data, dtype=float), jacobian=_jac_from(ph.header))
            meta: dict = {}
            if "META" in names:
                raw = hdul["META"].data["META"][0]
                raw = raw.decode() if isinstance(raw, bytes) else str(raw)
                try:
                    meta = json.loads(raw) if raw.strip() else {}
                except json.JSONDecodeError:
                    meta = {}
    except OSError as exc:
        raise GalmixIOError(f"cannot read {str(path)!r} as FITS: {exc}") from exc
    return Observation(
        image,
        weight=weight,
        jacobian=jac,
        psf=psf,
        mask=mask,
        noise=noise,
        meta=meta,
        pixel=pixel,
        noise_correlation=ncorr,
    )
