"""``galmix measure``: detect and measure every object on FITS images (like ``sex image.fits``)."""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from galmix.errors import GalmixError

log = logging.getLogger("galmix.measure")


def register(sub: argparse._SubParsersAction) -> None:
    """Add the ``measure`` sub-command."""
    p = sub.add_parser(
        "measure",
        help="detect and measure objects on FITS images, write a catalog",
        description=(
            "Background, detection, segmentation, deblending, Kron and aperture photometry, "
            "adaptive moments and (with a PSF) model fits on one or more FITS images; writes "
            "DIR/catalog.parquet and DIR/catalog.fits. With several images, per-band columns "
            "get a '{band}_' prefix (band from the FILTER header or the file name); detection "
            "runs on the first image (or a chi2 coadd with --detect chi2). Give the images "
            "before options that take several values (--weight, --zeropoint, --apertures)."
        ),
    )
    p.add_argument("images", nargs="+", metavar="IMAGE.fits", help="FITS image(s)")
    p.add_argument(
        "--weight",
        nargs="+",
        default=None,
        metavar="W.fits",
        help="inverse-variance map(s), one per image (default: the global background rms)",
    )
    psf = p.add_mutually_exclusive_group()
    psf.add_argument(
        "--psf-fwhm",
        type=float,
        default=None,
        metavar="ARCSEC",
        help="Gaussian PSF FWHM in arcsec: enables model fits",
    )
    psf.add_argument(
        "--psf",
        default=None,
        metavar="PSF.fits",
        help="PSF image sampled like the images: enables model fits",
    )
    p.add_argument("--out", default="galmix-measure", metavar="DIR", help="output folder")
    p.add_argument(
        "--hdu", type=int, default=None, help="HDU of the images (default: first image HDU)"
    )
    p.add_argument(
        "--threshold",
        type=float,
        default=1.5,
        help="detection threshold in noise sigmas (default 1.5)",
    )
    p.add_argument("--minarea", type=int, default=5, help="minimum footprint area in pixels (5)")
    p.add_argument(
        "--detect",
        choices=("first", "chi2"),
        default="first",
        dest="detect_on",
        help="detection image: the first image or a chi2 coadd (default first)",
    )
    p.add_argument(
        "--zeropoint",
        type=float,
        nargs="+",
        default=None,
        metavar="ZP",
        help="AB zero point(s), one per image, for mag_auto (default: header MAGZERO/MAGZP/...)",
    )
    p.add_argument(
        "--apertures",
        type=float,
        nargs="*",
        default=(),
        metavar="R",
        help="circular aperture radii in pixels",
    )
    p.add_argument("--model", default="sersic", help="model for the fits (default sersic)")
    p.add_argument(
        "--fit-bands",
        choices=("first", "all"),
        default="first",
        help="fit the first image only (default) or every image",
    )
    p.add_argument(
        "--noise-map",
        action="store_true",
        help="without --weight, use the background rms map instead of its global value",
    )
    p.add_argument("--no-moments", action="store_true", help="skip adaptive moments")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Run ``galmix measure``; returns the exit code (2 for bad input)."""
    from galmix.catalog import write_catalog
    from galmix.catalog.measure import measure_images

    progress = None
    if not args.no_progress and sys.stderr.isatty():
        from tqdm import tqdm

        def progress(it, **kw):
            return tqdm(it, leave=False, **kw)

    try:
        result = measure_images(
            args.images,
            weights=args.weight,
            hdu=args.hdu,
            threshold=args.threshold,
            minarea=args.minarea,
            detect_on=args.detect_on,
            apertures_pixels=tuple(args.apertures or ()),
            psf_fwhm=args.psf_fwhm,
            psf=args.psf,
            zeropoints=args.zeropoint,
            moments=not args.no_moments,
            fit_model=args.model,
            fit_bands=args.fit_bands,
            noise="map" if args.noise_map else "global",
            progress=progress,
        )
        paths = write_catalog(result.catalog, Path(args.out))
    except GalmixError as exc:
        print(f"galmix measure: error: {exc}", file=sys.stderr)
        return 2
    for note in result.notes:
        log.warning(note)
    n = len(result.catalog)
    log.info("%d objects in %s (bands: %s)", n, paths["parquet"].parent, ", ".join(result.bands))
    print(f"{n} objects -> {paths['parquet']} and {paths['fits']}")
    return 0
