"""Metacal shear bias on paired simulations: noiseless matrix and a large noisy run.

The big version of the tests in ``tests/shear/test_metacal.py`` (issue 8):
exponential galaxy (hlr 0.5"), Moffat PSF (beta 2.5, FWHM 0.9", sheared
(0.02, -0.01)), 0.263" pixels, paired +-0.02 shears, Gaussian-weighted
moments (FWHM 1.2"). Prints m and c with jackknife errors for every
Jacobian x kernel (noiseless, linear and cubic estimators) and, with
``--noisy-pairs N``, for noisy runs at ``--s2n``. Run::

    python benchmarks/bench_shear_bias.py [--noisy-pairs 20000] [--workers 2]
"""

from __future__ import annotations

import argparse
import os
import platform
import time

from galmix.shear.simulate import ShearSimConfig, jacobian_matrix, run_shear_bias

JACOBIANS = {
    "plain": jacobian_matrix(0.263),
    "ShearWCS g1=0.1": jacobian_matrix(0.263, 0.1),
    "rotated 40 deg": jacobian_matrix(0.263, 0.0, 0.0, 0.7),
    "flipped": jacobian_matrix(0.263, 0.0, 0.0, 0.0, True),
    "crazy": jacobian_matrix(0.263, 0.07, -0.12, 1.1, True),
}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--noiseless-pairs", type=int, default=8)
    ap.add_argument("--noisy-pairs", type=int, default=0)
    ap.add_argument("--s2n", type=float, default=50.0)
    ap.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--noisy-jacobians", default="plain,crazy")
    args = ap.parse_args()
    print(f"# {platform.machine()}, {os.cpu_count()} cpus, python {platform.python_version()}")
    print(f"\n# noiseless, {args.noiseless_pairs} pairs with random sub-pixel offsets")
    print(
        f"{'jacobian':<17s} {'kernel':<9s} {'m (linear)':>11s} {'m (cubic)':>11s} "
        f"{'c1':>10s} {'c2':>10s}"
    )
    for name, m in JACOBIANS.items():
        for kernel in ("gauss", "fitgauss", "dilate"):
            cfg = ShearSimConfig(matrix=(tuple(m[0]), tuple(m[1])), kernel=kernel)
            lin = run_shear_bias(cfg, args.noiseless_pairs, seed=1, workers=1)
            cub = run_shear_bias(cfg, args.noiseless_pairs, seed=1, workers=1, method="cubic")
            print(
                f"{name:<17s} {kernel:<9s} {lin.m:>+11.2e} {cub.m:>+11.2e} "
                f"{lin.c1:>+10.1e} {lin.c2:>+10.1e}"
            )
    if args.noisy_pairs:
        print(f"\n# S/N {args.s2n:g}, fixnoise, {args.noisy_pairs} pairs, {args.workers} workers")
        for name in args.noisy_jacobians.split(","):
            m = JACOBIANS[name]
            cfg = ShearSimConfig(matrix=(tuple(m[0]), tuple(m[1])), s2n=args.s2n)
            t0 = time.perf_counter()
            res = run_shear_bias(cfg, args.noisy_pairs, seed=7, workers=args.workers)
            dt = time.perf_counter() - t0
            print(
                f"{name:<17s} m = {res.m:+.2e} +/- {res.m_err:.1e}   "
                f"c1 = {res.c1:+.1e} +/- {res.c1_err:.1e}   c2 = {res.c2:+.1e} +/- "
                f"{res.c2_err:.1e}   ({dt:.0f} s, {2 * res.n / dt:.0f} obj/s incl. GalSim)"
            )


if __name__ == "__main__":
    main()
