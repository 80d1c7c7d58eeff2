"""``galmix shear-bias``: paired shear simulations -> multiplicative and additive bias."""

from __future__ import annotations

import argparse
import json
import math
import os
import time

from galmix.errors import GalmixValueError


def register(sub: argparse._SubParsersAction) -> None:
    """Add the ``shear-bias`` sub-command."""
    p = sub.add_parser(
        "shear-bias",
        help="measure metacal shear bias m and c on paired GalSim simulations",
        description=(
            "Simulate pairs of galaxies sheared by +g and -g (GalSim: exponential galaxy, "
            "Moffat PSF, any Jacobian and noise), run metacalibration with Gaussian-weighted "
            "moments, and print the multiplicative bias m and additive biases c1, c2 with "
            "jackknife errors."
        ),
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    p.add_argument("-n", "--npairs", type=int, default=200, help="number of +g/-g pairs")
    p.add_argument("--seed", type=int, default=0, help="master random seed")
    p.add_argument("-j", "--workers", type=int, default=os.cpu_count() or 1, help="processes")
    p.add_argument("--g1", type=float, default=0.02, help="true shear g1 of the + sample")
    p.add_argument("--g2", type=float, default=0.0, help="true shear g2 of the + sample")
    p.add_argument("--scale", type=float, default=0.263, help="pixel scale (arcsec)")
    p.add_argument("--wcs-g1", type=float, default=0.0, help="shear of the pixel grid")
    p.add_argument("--wcs-g2", type=float, default=0.0, help="shear of the pixel grid")
    p.add_argument("--wcs-theta", type=float, default=0.0, help="rotation of the grid (deg)")
    p.add_argument("--wcs-flip", action="store_true", help="flip the grid (det < 0)")
    p.add_argument(
        "--jacobian",
        type=str,
        default=None,
        metavar="DUDX,DUDY,DVDX,DVDY",
        help="explicit Jacobian (overrides --scale/--wcs-*)",
    )
    p.add_argument("--hlr", type=float, default=0.5, help="galaxy half-light radius (arcsec)")
    p.add_argument("--psf-fwhm", type=float, default=0.9, help="Moffat PSF FWHM (arcsec)")
    p.add_argument("--psf-beta", type=float, default=2.5, help="Moffat beta")
    p.add_argument("--psf-g1", type=float, default=0.02, help="PSF shear g1")
    p.add_argument("--psf-g2", type=float, default=-0.01, help="PSF shear g2")
    p.add_argument("--s2n", type=float, default=None, help="S/N (omit for noiseless)")
    p.add_argument("--stamp", type=int, default=48, help="stamp size (pixels)")
    p.add_argument(
        "--kernel", choices=("gauss", "fitgauss", "dilate"), default="gauss", help="metacal psf"
    )
    p.add_argument("--step", type=float, default=0.01, help="metacal shear step")
    p.add_argument("--no-fixnoise", action="store_true", help="disable fixnoise")
    p.add_argument("--weight-fwhm", type=float, default=1.2, help="moments weight FWHM (arcsec)")
    p.add_argument(
        "--method",
        choices=("linear", "cubic"),
        default="linear",
        help="shear estimator (cubic removes the g^3 nonlinearity)",
    )
    p.add_argument("--json", action="store_true", help="print the result as JSON")
    p.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    from galmix.shear.simulate import ShearSimConfig, jacobian_matrix, run_shear_bias

    if args.jacobian:
        try:
            vals = [float(v) for v in args.jacobian.split(",")]
        except ValueError:
            raise GalmixValueError(f"--jacobian must be 4 numbers, got {args.jacobian!r}") from None
        if len(vals) != 4:
            raise GalmixValueError(f"--jacobian must be 4 numbers, got {args.jacobian!r}")
        matrix = ((vals[0], vals[1]), (vals[2], vals[3]))
    else:
        m = jacobian_matrix(
            args.scale, args.wcs_g1, args.wcs_g2, math.radians(args.wcs_theta), args.wcs_flip
        )
        matrix = (tuple(m[0]), tuple(m[1]))
    if args.npairs < 2:
        raise GalmixValueError(f"--npairs must be >= 2, got {args.npairs}")
    cfg = ShearSimConfig(
        true_shear=(args.g1, args.g2),
        matrix=matrix,
        gal_hlr=args.hlr,
        psf_fwhm=args.psf_fwhm,
        psf_beta=args.psf_beta,
        psf_shear=(args.psf_g1, args.psf_g2),
        stamp_size=args.stamp,
        s2n=args.s2n,
        kernel=args.kernel,
        step=args.step,
        fixnoise=not args.no_fixnoise,
        weight_fwhm=args.weight_fwhm,
    )
    t0 = time.perf_counter()
    res = run_shear_bias(cfg, args.npairs, seed=args.seed, workers=args.workers, method=args.method)
    dt = time.perf_counter() - t0
    if args.json:
        out = res.as_dict()
        out.update(seconds=dt, jacobian=matrix, kernel=args.kernel, s2n=args.s2n)
        print(json.dumps(out))
        return 0
    (a, b), (c, d) = matrix
    print(f"# pairs    : {res.n}   (workers {args.workers}, {dt:.1f} s)")
    print(f"jacobian   : dudx={a:.6f} dudy={b:.6f} dvdx={c:.6f} dvdy={d:.6f}")
    print(f"kernel     : {args.kernel}   estimator: {args.method}   S/N: {args.s2n or 'noiseless'}")
    print(f"m  [1e-3]  : {res.m / 1e-3:+.4f} +/- {res.m_err / 1e-3:.4f}")
    print(f"c1 [1e-4]  : {res.c1 / 1e-4:+.4f} +/- {res.c1_err / 1e-4:.4f}")
    print(f"c2 [1e-4]  : {res.c2 / 1e-4:+.4f} +/- {res.c2_err / 1e-4:.4f}")
    return 0
