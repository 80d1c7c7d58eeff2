"""``galmix sdss``: SDSS catalog query, frame download and pipeline configs.

Sub-commands::

    galmix sdss query   --ra 180 181 --dec 45 46 --class GALAXY -o query.sql
    galmix sdss fields  result.csv
    galmix sdss fetch   result.csv --out frames/ [--dry-run]
    galmix sdss config  result.csv --frames frames/ --out configs/
    galmix sdss weight  frames/frame-r-*.fits.bz2 --out weights/
    galmix sdss synth   --out demo/            # synthetic frames + catalog, offline
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

import numpy as np

from galmix.errors import GalmixIOError, GalmixValueError

_FIELD_RE = re.compile(r"^(\d+)-([1-6])-(\d+)$")


def _field_arg(text: str) -> tuple[int, int, int]:
    m = _FIELD_RE.match(text.strip())
    if not m:
        raise argparse.ArgumentTypeError(
            f"field must be RUN-CAMCOL-FIELD (e.g. 3813-5-23), got {text!r}"
        )
    return int(m.group(1)), int(m.group(2)), int(m.group(3))


def _bands_arg(text: str) -> list[str]:
    from galmix.sdss.ccd import BANDS

    bands = list(text.replace(",", "").strip())
    if not bands or any(b not in BANDS for b in bands) or len(set(bands)) != len(bands):
        raise argparse.ArgumentTypeError(f"bands must be distinct letters of ugriz, got {text!r}")
    return bands


def register(sub: argparse._SubParsersAction) -> None:
    """Add the ``sdss`` sub-command and its own sub-commands."""
    p = sub.add_parser(
        "sdss",
        help="SDSS: build the catalog query, fetch frames, write pipeline configs",
        description=(
            "Survey data access for SDSS: write the SQL selecting spectroscopic objects with "
            "clean photometry (run it on SkyServer or CasJobs), list the fields of its result, "
            "download the corrected frames of those fields (parallel, resumable, retried), and "
            "write 'galmix run' configurations that read them with format: sdss."
        ),
    )
    p.set_defaults(func=lambda args: (p.print_help(), 0)[1])
    ss = p.add_subparsers(dest="sdss_command", metavar="SUBCOMMAND")

    q = ss.add_parser("query", help="print the SQL for the spectroscopic catalog")
    q.add_argument(
        "--ra", nargs=2, type=float, metavar=("MIN", "MAX"), help="RA range, deg (MIN > MAX wraps)"
    )
    q.add_argument("--dec", nargs=2, type=float, metavar=("MIN", "MAX"), help="Dec range, deg")
    q.add_argument("--z", nargs=2, type=float, metavar=("MIN", "MAX"), help="redshift range")
    q.add_argument(
        "--class",
        dest="classes",
        nargs="+",
        default=["GALAXY"],
        metavar="CLASS",
        help="spectroscopic classes: GALAXY QSO STAR, or 'all' (default GALAXY)",
    )
    q.add_argument("--zwarning", default="0", help="required zWarning (default 0), or 'any'")
    q.add_argument("--no-clean", action="store_true", help="do not require clean photometry")
    q.add_argument("--primary", action="store_true", help="only sciencePrimary spectra")
    q.add_argument("--top", type=int, default=None, help="at most N rows (SELECT TOP N)")
    q.add_argument("--into", default=None, metavar="TABLE", help="CasJobs: write INTO mydb.TABLE")
    q.add_argument(
        "--from-mydb",
        default=None,
        metavar="TABLE",
        help="instead: cut the --ra/--dec box out of a CasJobs MyDB table (seed's 2nd step)",
    )
    q.add_argument("--dr", type=int, default=17, help="data release (8 or later, default 17)")
    q.add_argument(
        "-o", "--output", default=None, metavar="FILE", help="write the SQL here (default stdout)"
    )
    q.set_defaults(func=_run_query)

    f = ss.add_parser("fields", help="list the distinct run-camcol-field of a query result")
    f.add_argument("catalog", help="query result (CSV or FITS)")
    f.add_argument("-o", "--output", default=None, metavar="FILE", help="also write them as CSV")
    f.set_defaults(func=_run_fields)

    g = ss.add_parser("fetch", help="download the frames of a query result's fields")
    g.add_argument("catalog", nargs="?", default=None, help="query result (CSV or FITS)")
    g.add_argument(
        "--field",
        type=_field_arg,
        action="append",
        default=[],
        metavar="R-C-F",
        help="a field (repeatable)",
    )
    g.add_argument(
        "--url-list",
        default=None,
        metavar="FILE",
        help="also fetch the URLs listed in FILE (one per line; any survey)",
    )
    g.add_argument(
        "--out", default="frames", metavar="DIR", help="download folder (default frames/)"
    )
    g.add_argument("--bands", type=_bands_arg, default=list("ugriz"), help="bands (default ugriz)")
    g.add_argument("--dr", type=int, default=17, help="data release for the SAS path (default 17)")
    g.add_argument("--rerun", default="301", help="rerun when the catalog has none (default 301)")
    g.add_argument(
        "--base-url", default=None, help="SAS root or mirror (default https://data.sdss.org/sas)"
    )
    g.add_argument(
        "--template",
        default=None,
        help="URL template with {base} {dr} {release_path} {rerun} {run} {camcol} {field} {band}",
    )
    g.add_argument(
        "--filename-template", default=None, help="local file name template (same fields)"
    )
    g.add_argument("--workers", type=int, default=4, help="parallel downloads (default 4)")
    g.add_argument("--retries", type=int, default=3, help="retries per file (default 3)")
    g.add_argument(
        "--backoff", type=float, default=1.0, help="first retry wait in seconds, doubling (1)"
    )
    g.add_argument("--timeout", type=float, default=60.0, help="socket timeout in seconds (60)")
    g.add_argument("--overwrite", action="store_true", help="fetch files that are already present")
    g.add_argument("--dry-run", action="store_true", help="only list what would be fetched")
    g.add_argument("--no-progress", action="store_true", help="no progress bar")
    g.set_defaults(func=_run_fetch)

    c = ss.add_parser("config", help="write one pipeline config per field (format: sdss)")
    c.add_argument("catalog", nargs="?", default=None, help="query result (reference catalog)")
    c.add_argument("--frames", required=True, metavar="DIR", help="folder with the frames")
    c.add_argument(
        "--field",
        type=_field_arg,
        action="append",
        default=[],
        metavar="R-C-F",
        help="field(s) without a catalog",
    )
    c.add_argument(
        "--out", default="configs", metavar="DIR", help="where the YAML files go (default configs/)"
    )
    c.add_argument(
        "--output-root", default=None, metavar="DIR", help="pipeline output root (default OUT/out)"
    )
    c.add_argument("--bands", type=_bands_arg, default=list("ugriz"), help="bands (default ugriz)")
    c.add_argument(
        "--psf-fwhm", type=float, default=None, metavar="ARCSEC", help="PSF FWHM for model fits"
    )
    c.add_argument("--detection-band", default=None, help="detection band (default r)")
    c.add_argument("--no-fit", action="store_true", help="no model fits (fit: false)")
    c.add_argument(
        "--radius", type=float, default=1.0, metavar="ARCSEC", help="catalog match radius (1)"
    )
    c.add_argument(
        "--missing",
        choices=("skip", "partial", "error"),
        default="skip",
        help="fields lacking a band: skip (default), use the bands found, or fail",
    )
    c.set_defaults(func=_run_config)

    w = ss.add_parser(
        "weight",
        help="write inverse-variance maps (and plain images) of SDSS frames",
        description=(
            "Read SDSS frames and write their calibration-based inverse-variance maps as "
            "FRAME.weight.fits (float32, with the WCS), e.g. for galmix measure --weight."
        ),
    )
    w.add_argument("frames", nargs="+", metavar="FRAME", help="frame-*.fits[.bz2] files")
    w.add_argument("--out", default=".", metavar="DIR", help="output folder (default .)")
    w.add_argument("--image", action="store_true", help="also write the image as plain FRAME.fits")
    w.add_argument("--overwrite", action="store_true", help="replace existing files")
    w.set_defaults(func=_run_weight)

    s = ss.add_parser(
        "synth", help="write synthetic SDSS-layout frames and a catalog (offline demo)"
    )
    s.add_argument("--out", default="sdss-synthetic", metavar="DIR", help="output folder")
    s.add_argument(
        "--field", type=_field_arg, default=(3813, 5, 23), metavar="R-C-F", help="field (3813-5-23)"
    )
    s.add_argument("--bands", type=_bands_arg, default=list("ugriz"), help="bands (default ugriz)")
    s.add_argument(
        "--shape", nargs=2, type=int, default=(150, 200), metavar=("NY", "NX"), help="image size"
    )
    s.add_argument("--nsources", type=int, default=8, help="number of galaxies")
    s.add_argument("--seed", type=int, default=0, help="random seed")
    s.add_argument("--no-compress", action="store_true", help="write .fits instead of .fits.bz2")
    s.set_defaults(func=_run_synth)


def _run_query(args: argparse.Namespace) -> int:
    from galmix.sdss.query import build_spec_query

    if args.from_mydb is not None:
        from galmix.sdss.query import build_area_query

        if not args.ra or not args.dec:
            raise GalmixValueError("--from-mydb needs --ra MIN MAX and --dec MIN MAX")
        sql = build_area_query(
            args.from_mydb, ra=tuple(args.ra), dec=tuple(args.dec), into=args.into
        )
        _emit(sql, args.output)
        return 0
    classes = None if [c.lower() for c in args.classes] == ["all"] else args.classes
    zw = None if str(args.zwarning).lower() == "any" else _int_or_error(args.zwarning, "zwarning")
    sql = build_spec_query(
        ra=tuple(args.ra) if args.ra else None,
        dec=tuple(args.dec) if args.dec else None,
        z=tuple(args.z) if args.z else None,
        classes=classes,
        zwarning=zw,
        clean=not args.no_clean,
        science_primary=args.primary,
        top=args.top,
        into=args.into,
        data_release=args.dr,
    )
    _emit(sql, args.output)
    return 0


def _emit(sql: str, output: str | None) -> None:
    if output:
        Path(output).write_text(sql + "\n")
        print(f"wrote {output}", file=sys.stderr)
    else:
        print(sql)


def _int_or_error(text: str, name: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise GalmixValueError(f"{name} must be an integer or 'any', got {text!r}") from None


def _fields_from(args: argparse.Namespace):
    from astropy.table import Table

    from galmix.sdss.query import read_query_result, unique_fields

    if args.catalog is None and not args.field:
        raise GalmixValueError(
            "give a query result (CATALOG) or at least one --field RUN-CAMCOL-FIELD"
        )
    tables = []
    if args.catalog is not None:
        tables.append(
            unique_fields(read_query_result(args.catalog), rerun=getattr(args, "rerun", "301"))
        )
    if args.field:
        rerun = str(getattr(args, "rerun", "301"))
        tables.append(
            Table(
                rows=[(r, rerun, c, f, 0) for r, c, f in args.field],
                names=("run", "rerun", "camcol", "field", "n_objects"),
            )
        )
    if len(tables) == 1:
        return tables[0]
    from astropy.table import vstack

    return vstack(tables)


def _run_fields(args: argparse.Namespace) -> int:
    from galmix.sdss.query import read_query_result, unique_fields

    fields = unique_fields(read_query_result(args.catalog))
    for row in fields:
        print(
            f"{row['run']}-{row['camcol']}-{row['field']}  rerun {row['rerun']}  objects {row['n_objects']}"
        )
    print(f"{len(fields)} field(s)", file=sys.stderr)
    if args.output:
        fields.write(args.output, format="ascii.csv", overwrite=True)
    return 0


def _run_fetch(args: argparse.Namespace) -> int:
    from galmix.sdss.download import download
    from galmix.sdss.urls import SAS_BASE_URL, frame_urls

    items = []
    fields = []
    if args.catalog is not None or args.field or args.url_list is None:
        fields = _fields_from(args)
        items = frame_urls(
            fields,
            args.out,
            bands=args.bands,
            rerun=args.rerun,
            data_release=args.dr,
            base_url=args.base_url or SAS_BASE_URL,
            template=args.template,
            filename_template=args.filename_template,
        )
    if args.url_list is not None:
        from galmix.sdss.download import items_from_urls

        try:
            lines = Path(args.url_list).read_text().splitlines()
        except OSError as exc:
            raise GalmixIOError(f"--url-list: cannot read {args.url_list!r}: {exc}") from exc
        items += items_from_urls(lines, args.out)
    report = download(
        items,
        workers=args.workers,
        retries=args.retries,
        backoff=args.backoff,
        timeout=args.timeout,
        overwrite=args.overwrite,
        dry_run=args.dry_run,
        progress=False if args.no_progress else None,
    )
    if args.dry_run:
        for r in report:
            print(f"{r.status:8s} {r.url} -> {r.path}")
    for r in report.failed:
        print(f"error: {r.error}", file=sys.stderr)
    print(
        f"{len(fields)} field(s), {len(report)} file(s): {len(report.downloaded)} downloaded, "
        f"{len(report.skipped)} already present, {len(report.planned)} planned, {len(report.failed)} failed",
        file=sys.stderr,
    )
    return 0 if report.ok else 1


def _run_config(args: argparse.Namespace) -> int:
    from galmix.sdss.config import find_field_frames, write_field_configs, write_pipeline_config

    common = {
        "psf_fwhm": args.psf_fwhm,
        "detection_band": args.detection_band,
        "match_radius_arcsec": args.radius,
        "fit": not args.no_fit,
    }
    written = []
    if args.catalog is not None:
        from galmix.sdss.query import read_query_result

        written += write_field_configs(
            read_query_result(args.catalog),
            args.frames,
            args.out,
            bands=args.bands,
            output_root=args.output_root,
            missing=args.missing,
            **common,
        )
    out = Path(args.out)
    root = Path(args.output_root) if args.output_root else out / "out"
    for run, camcol, field in args.field:
        frames = find_field_frames(args.frames, run, camcol, field, bands=args.bands)
        if len(frames) < len(args.bands):
            lacking = [b for b in args.bands if b not in frames]
            if args.missing == "error" or not frames:
                raise GalmixValueError(
                    f"field {run}-{camcol}-{field}: no frame for band(s) {lacking} in {args.frames}"
                )
            if args.missing == "skip":
                print(
                    f"skipping {run}-{camcol}-{field}: missing band(s) {lacking}", file=sys.stderr
                )
                continue
        stem = f"field-{run}-{camcol}-{field}"
        written.append(
            write_pipeline_config(out / f"{stem}.yaml", frames, output=root / stem, **common)
        )
    for w in written:
        print(w)
    print(
        f"{len(written)} config(s) written; run them with: galmix run CONFIG.yaml", file=sys.stderr
    )
    return 0 if written else 1


def _run_weight(args: argparse.Namespace) -> int:
    from galmix.sdss.frame import read_frame

    out = Path(args.out)
    for path in args.frames:
        fr = read_frame(path)
        stem = Path(path).name
        for suffix in (".bz2", ".gz", ".fits", ".fit"):
            stem = stem.removesuffix(suffix)
        image_path = out / f"{stem}.fits" if args.image else None
        written = fr.write_fits(image_path, out / f"{stem}.weight.fits", overwrite=args.overwrite)
        good = fr.weight > 0
        med_err = float(np.median(1.0 / np.sqrt(fr.weight[good]))) if good.any() else float("nan")
        print(
            f"{path}: band {fr.band} run {fr.run} camcol {fr.camcol} field {fr.field} "
            f"gain {fr.gain} dark_variance {fr.dark_variance} median error {med_err:.4g} nmgy -> "
            + ", ".join(str(w) for w in written)
        )
    return 0


def _run_synth(args: argparse.Namespace) -> int:
    from galmix.sdss.synthetic import write_synthetic_field

    run, camcol, field = args.field
    out = Path(args.out)
    frames, src = write_synthetic_field(
        out / "frames",
        run,
        camcol,
        field,
        bands=args.bands,
        nsources=args.nsources,
        compress=not args.no_compress,
        seed=args.seed,
        shape=tuple(args.shape),
    )
    cat = src.copy()
    cat["id"] = np.arange(1, len(cat) + 1)
    cat["z_err"] = np.full(len(cat), 1e-4)
    cat["class"] = ["GALAXY"] * len(cat)
    cat["run"] = run
    cat["rerun"] = "301"
    cat["camcol"] = camcol
    cat["field"] = field
    cat = cat["id", "ra", "dec", "z", "z_err", "class", "run", "rerun", "camcol", "field"]
    cat_path = out / "catalog.csv"
    cat.write(cat_path, format="ascii.csv", overwrite=True)
    for b, t in frames.items():
        print(f"{b}: {t.path}")
    print(f"catalog: {cat_path}")
    return 0
