"""Download URLs of SDSS frames, by data release or from a user template.

The Science Archive Server (SAS) keeps the DR8+ corrected frames at::

    {base}/{release_path}/{rerun}/{run}/{camcol}/frame-{band}-{run:06d}-{camcol}-{field:04d}.fits.bz2

with ``base = https://data.sdss.org/sas`` and ``release_path`` ``dr8/groups/boss/photoObj/frames``
(DR8), ``drN/boss/photoObj/frames`` (DR9-DR12), ``drN/eboss/photoObj/frames``
(DR13-DR17) or ``dr18/prior-surveys/sdss4-dr17-eboss/photoObj/frames`` (DR18).
The imaging did not change after DR9 (rerun 301), so any release gives the
same pixels.

A user template (for a mirror, a local archive or another survey) is a
Python format string using only the fields ``base``, ``dr``,
``release_path``, ``rerun``, ``run``, ``camcol``, ``field`` and ``band``,
with optional format specs (``{run:06d}``).

Examples
--------
>>> frame_url("r", 3813, 5, 23, data_release=17)
'https://data.sdss.org/sas/dr17/eboss/photoObj/frames/301/3813/5/frame-r-003813-5-0023.fits.bz2'
>>> frame_url("r", 3813, 5, 23, template="http://127.0.0.1:8000/{run}/frame-{band}-{field:04d}.fits")
'http://127.0.0.1:8000/3813/frame-r-0023.fits'
"""

from __future__ import annotations

import os
import re
import string
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from galmix.errors import GalmixTypeError, GalmixValueError
from galmix.sdss.ccd import BANDS
from galmix.sdss.naming import FieldID, check_field_id, frame_filename

__all__ = [
    "SAS_BASE_URL",
    "TEMPLATE_FIELDS",
    "frame_url",
    "frame_urls",
    "release_path",
    "validate_template",
]

#: Root of the SDSS Science Archive Server.
SAS_BASE_URL = "https://data.sdss.org/sas"
#: Fields a URL / file-name template may use.
TEMPLATE_FIELDS = frozenset(
    {"base", "dr", "release_path", "rerun", "run", "camcol", "field", "band"}
)

_DEFAULT_TEMPLATE = (
    "{base}/{release_path}/{rerun}/{run}/{camcol}/"
    "frame-{band}-{run:06d}-{camcol}-{field:04d}.fits.bz2"
)


def release_path(data_release: int) -> str:
    """SAS directory of the corrected frames for a data release (DR8 to DR18).

    Examples
    --------
    >>> release_path(8), release_path(10), release_path(16)
    ('dr8/groups/boss/photoObj/frames', 'dr10/boss/photoObj/frames', 'dr16/eboss/photoObj/frames')
    >>> release_path(18)
    'dr18/prior-surveys/sdss4-dr17-eboss/photoObj/frames'
    """
    if isinstance(data_release, bool) or not isinstance(data_release, int):
        raise GalmixTypeError(f"data_release must be an integer, got {data_release!r}")
    if data_release < 8:
        raise GalmixValueError(
            f"data_release must be >= 8 (frame files exist from DR8 on), got {data_release!r}"
        )
    if data_release > 18:
        raise GalmixValueError(
            f"data_release must be <= 18 (no known frame path for DR{data_release}; the "
            "imaging is unchanged since DR9, so use data_release=17 or a template), "
            f"got {data_release!r}"
        )
    if data_release == 8:
        return "dr8/groups/boss/photoObj/frames"
    if data_release <= 12:
        return f"dr{data_release}/boss/photoObj/frames"
    if data_release <= 17:
        return f"dr{data_release}/eboss/photoObj/frames"
    # DR18 moved the SDSS-I..IV imaging under "prior-surveys"
    return "dr18/prior-surveys/sdss4-dr17-eboss/photoObj/frames"


def validate_template(template: str) -> frozenset[str]:
    """Check a URL or file-name template; return the fields it uses.

    Raises
    ------
    GalmixValueError
        For unknown fields, positional fields (``{}``), attribute or index
        access (``{run.real}``, ``{band[0]}``) or a malformed template.

    Examples
    --------
    >>> sorted(validate_template("{base}/{run}/frame-{band}-{field:04d}.fits"))
    ['band', 'base', 'field', 'run']
    """
    if not isinstance(template, str) or not template:
        raise GalmixTypeError(f"template must be a non-empty string, got {template!r}")
    used = set()
    try:
        parsed = list(string.Formatter().parse(template))
    except ValueError as exc:
        raise GalmixValueError(f"template {template!r} is malformed: {exc}") from exc
    for _, name, spec, conv in parsed:
        if name is None:
            continue
        if name not in TEMPLATE_FIELDS:
            raise GalmixValueError(
                f"template {template!r} uses field {{{name}}}; allowed: "
                + ", ".join(sorted(TEMPLATE_FIELDS))
            )
        if (
            conv is not None
            or (spec and not re.fullmatch(r"[0-9<>^=+\- #,._a-zA-Z]*", spec))
            or "{" in (spec or "")
        ):
            raise GalmixValueError(
                f"template {template!r}: unsupported conversion or format spec for {{{name}}}"
            )
        used.add(name)
    return frozenset(used)


def _values(
    band: str, fid: FieldID, rerun: Any, data_release: int, base_url: str
) -> dict[str, Any]:
    if band not in BANDS:
        raise GalmixValueError(f"band must be one of {', '.join(BANDS)}, got {band!r}")
    rr = str(rerun).strip()
    if not re.fullmatch(r"[0-9A-Za-z_]+", rr):
        raise GalmixValueError(f"rerun must be alphanumeric (e.g. 301), got {rerun!r}")
    return {
        "base": str(base_url).rstrip("/"),
        "dr": data_release,
        "release_path": release_path(data_release),
        "rerun": rr,
        "run": fid.run,
        "camcol": fid.camcol,
        "field": fid.field,
        "band": band,
    }


def frame_url(
    band: str,
    run: int,
    camcol: int,
    field: int,
    *,
    rerun: str | int = 301,
    data_release: int = 17,
    base_url: str = SAS_BASE_URL,
    template: str | None = None,
) -> str:
    """URL of one corrected frame.

    Parameters
    ----------
    band, run, camcol, field
        The frame.
    rerun : str or int
        Photometric rerun (301 for DR8 and later).
    data_release : int
        DR8 or later; selects the SAS directory.
    base_url : str
        Root replacing ``https://data.sdss.org/sas`` (a mirror).
    template : str, optional
        A user template (see :func:`validate_template`).
    """
    fid = check_field_id(run, camcol, field)
    tpl = _DEFAULT_TEMPLATE if template is None else template
    validate_template(tpl)
    try:
        return tpl.format(**_values(band, fid, rerun, data_release, base_url))
    except (ValueError, TypeError) as exc:
        raise GalmixValueError(f"template {tpl!r} cannot be formatted: {exc}") from exc


def frame_urls(
    fields: Any,
    directory: str | os.PathLike,
    *,
    bands: Iterable[str] = BANDS,
    rerun: str | int = 301,
    data_release: int = 17,
    base_url: str = SAS_BASE_URL,
    template: str | None = None,
    filename_template: str | None = None,
) -> list[Any]:
    """Download items (URL + local path) for every field in every band.

    Parameters
    ----------
    fields : astropy Table or iterable
        A table with ``run``, ``camcol``, ``field`` (and optionally ``rerun``)
        columns, such as :func:`galmix.sdss.query.unique_fields` returns, or
        ``(run, camcol, field)`` tuples.
    directory : path
        Where the files go.
    bands : iterable of str
    rerun, data_release, base_url, template
        As in :func:`frame_url`.
    filename_template : str, optional
        Local file name (same fields as URL templates); default the SDSS
        name ``frame-{band}-{run:06d}-{camcol}-{field:04d}.fits.bz2``.

    Returns
    -------
    list of galmix.sdss.download.DownloadItem
    """
    from galmix.sdss.download import DownloadItem

    bands = list(bands)
    for b in bands:
        if b not in BANDS:
            raise GalmixValueError(f"bands must be taken from {', '.join(BANDS)}, got {b!r}")
    if filename_template is not None:
        validate_template(filename_template)
    rows: list[tuple[FieldID, Any]] = []
    colnames = getattr(fields, "colnames", None)
    if colnames is not None:
        for r in fields:
            fid = check_field_id(r["run"], r["camcol"], r["field"])
            rows.append((fid, r["rerun"] if "rerun" in colnames else rerun))
    else:
        for t in fields:
            if len(t) != 3:
                raise GalmixValueError(f"fields must hold (run, camcol, field) triples, got {t!r}")
            rows.append((check_field_id(*t), rerun))
    d = Path(directory)
    items = []
    for fid, rr in rows:
        for band in bands:
            url = frame_url(
                band,
                *fid,
                rerun=rr,
                data_release=data_release,
                base_url=base_url,
                template=template,
            )
            if filename_template is None:
                name = frame_filename(band, *fid)
            else:
                name = filename_template.format(**_values(band, fid, rr, data_release, base_url))
            items.append(DownloadItem(url=url, path=d / name))
    return items
