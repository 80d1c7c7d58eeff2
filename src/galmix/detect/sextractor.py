"""Run SExtractor (``source-extractor``/``sex``) for side-by-side comparisons."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from galmix.errors import GalmixRuntimeError

__all__ = ["find_sextractor", "run_sextractor"]

_DEFAULT_PARAMS = (
    "NUMBER",
    "X_IMAGE",
    "Y_IMAGE",
    "XWIN_IMAGE",
    "YWIN_IMAGE",
    "A_IMAGE",
    "B_IMAGE",
    "THETA_IMAGE",
    "ISOAREA_IMAGE",
    "FLUX_ISO",
    "FLUX_AUTO",
    "FLUXERR_AUTO",
    "KRON_RADIUS",
    "FLUX_RADIUS",
    "BACKGROUND",
    "FLAGS",
)

_SHARE_DIRS = (
    "/usr/share/source-extractor",
    "/usr/share/sextractor",
    "/usr/local/share/sextractor",
)


def find_sextractor() -> str | None:
    """Path of the SExtractor executable (``source-extractor`` or ``sex``), or None.

    Examples
    --------
    >>> find_sextractor() is None or find_sextractor().endswith(("source-extractor", "sex"))
    True
    """
    for name in ("source-extractor", "sex"):
        path = shutil.which(name)
        if path:
            return path
    return None


def _conv_file(workdir: Path) -> Path:
    for d in _SHARE_DIRS:
        p = Path(d) / "default.conv"
        if p.is_file():
            return p
    p = workdir / "default.conv"
    p.write_text("CONV NORM\n1 2 1\n2 4 2\n1 2 1\n")
    return p


def run_sextractor(
    image: str | os.PathLike,
    config: Mapping[str, Any] | None = None,
    params: Sequence[str] = _DEFAULT_PARAMS,
    executable: str | None = None,
    timeout: float = 300.0,
) -> Any:
    """Run SExtractor on a FITS image and return its catalog as a Table.

    Runs with SExtractor's built-in defaults (``BACK_SIZE 64``,
    ``DETECT_THRESH 1.5``, ``PHOT_AUTOPARAMS 2.5, 3.5``, ``default.conv``
    filter, ...) overridden by ``config`` (SExtractor keyword -> value),
    in a temporary directory. Positions stay in SExtractor's 1-based
    convention.

    Parameters
    ----------
    image : str or Path
        FITS image.
    config : mapping, optional
        Extra SExtractor options, e.g. ``{"DETECT_MINAREA": 5}``.
    params : sequence of str
        Output parameters.
    executable : str, optional
        Path of the program; default :func:`find_sextractor`.
    timeout : float
        Seconds before giving up.

    Returns
    -------
    astropy.table.Table

    Raises
    ------
    GalmixRuntimeError
        If SExtractor is not installed or fails.
    """
    from astropy.table import Table

    exe = executable or find_sextractor()
    if exe is None:
        raise GalmixRuntimeError("SExtractor (source-extractor or sex) is not installed")
    with tempfile.TemporaryDirectory(prefix="galmix-sex-") as tmp:
        work = Path(tmp)
        (work / "out.param").write_text("\n".join(params) + "\n")
        opts = {
            "CATALOG_NAME": str(work / "out.fits"),
            "CATALOG_TYPE": "FITS_1.0",
            "PARAMETERS_NAME": str(work / "out.param"),
            "FILTER_NAME": str(_conv_file(work)),
            "VERBOSE_TYPE": "QUIET",
            "CHECKIMAGE_TYPE": "NONE",
        }
        for key, value in (config or {}).items():
            if isinstance(value, (list, tuple)):
                value = ",".join(str(v) for v in value)
            opts[str(key).upper()] = str(value)
        cmd = [exe, str(Path(image).resolve()), "-c", os.devnull]
        for key, value in opts.items():
            cmd += [f"-{key}", value]
        try:
            proc = subprocess.run(
                cmd, cwd=work, capture_output=True, text=True, timeout=timeout, check=False
            )
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise GalmixRuntimeError(f"SExtractor failed to run: {exc}") from exc
        out = work / "out.fits"
        if proc.returncode != 0 or not out.is_file():
            raise GalmixRuntimeError(
                f"SExtractor exited with {proc.returncode}: {proc.stderr.strip()[-500:]}"
            )
        return Table.read(out, format="fits", hdu=1)
