"""Render throughput of galmix against this machine's exp() ceiling and GalSim.

Run: ``python benchmarks/bench_render.py [--quick]``. Prints a Markdown table
(paste into ``benchmarks/RESULTS.md``). Single-threaded figures are per core.

Measured in the same run:

1. the exp() ceiling: exp() evaluations per second per core with numpy's
   SIMD ``np.exp`` and with a scalar numba loop (``math.exp``);
2. Gaussian evaluations per second per core for ``method="no_pixel"``
   (counting every pixel a component touches) and for the exact
   pixel-integrated ``method="auto"``;
3. images per second for a 6-component Sersic convolved with a
   3-component PSF on 48x48 stamps (single ``draw`` calls, raw kernel, and
   ``draw_batch`` on all threads), next to GalSim ``drawImage`` of the same
   model (Sersic convolved with a Moffat).
"""

from __future__ import annotations

import argparse
import math
import os
import platform
import time

import numba
import numpy as np
from numba import njit

from galmix.geometry import Jacobian
from galmix.profiles import Sersic
from galmix.psf import moffat_gmix
from galmix.render import _kernels, draw, draw_batch


@njit(cache=True, fastmath=True)
def _exp_loop(x, out):
    for i in range(x.size):
        out[i] = math.exp(x[i])


def best_rate(fn, count, repeat=5, min_time=0.2):
    """Best-of-``repeat`` rate (count per second) of ``fn``."""
    fn()
    best = 0.0
    for _ in range(repeat):
        n = 0
        t0 = time.perf_counter()
        while True:
            fn()
            n += 1
            dt = time.perf_counter() - t0
            if dt > min_time:
                break
        best = max(best, n * count / dt)
    return best


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true", help="shorter timings")
    args = ap.parse_args()
    min_time = 0.05 if args.quick else 0.2
    rows = []

    # 1. exp ceiling
    x = -np.random.default_rng(0).uniform(0, 30, 1_000_000)
    out = np.empty_like(x)
    r_np = best_rate(lambda: np.exp(x, out=out), x.size, min_time=min_time)
    r_nb = best_rate(lambda: _exp_loop(x, out), x.size, min_time=min_time)
    ceiling = max(r_np, r_nb)

    def remeasure_ceiling():
        # the machine is shared: re-measure the ceiling between measurements
        # and keep the best (fractions below are against the best, conservative)
        nonlocal ceiling, r_np, r_nb
        r_np = max(r_np, best_rate(lambda: np.exp(x, out=out), x.size, 3, min_time))
        r_nb = max(r_nb, best_rate(lambda: _exp_loop(x, out), x.size, 3, min_time))
        ceiling = max(r_np, r_nb)

    def interleaved(fn, count, rounds=6):
        # alternate kernel and ceiling timings so both see the same load
        best = 0.0
        for _ in range(rounds):
            best = max(best, best_rate(fn, count, 1, min_time))
            remeasure_ceiling()
        return best

    # 2. Gaussian evaluations per second (one core)
    numba.set_num_threads(1)
    jac = Jacobian.from_scale(1.0, 255.5, 255.5).as_array()
    gm = np.array([[1.0, 0.0, 0.0, 900.0, 100.0, 700.0]])  # covers most of 512^2
    image = np.zeros((512, 512))
    nev = _kernels.add_nopix(gm, jac, image, 0.0, 0.0)
    r = interleaved(lambda: _kernels.add_nopix(gm, jac, image, 0.0, 0.0), nev)
    rows.append(("no_pixel Gaussian evals (wide, 512^2)", r, "evals/s/core", r))
    # many small components (typical galaxy x PSF on stamps)
    jac48 = Jacobian.from_scale(0.2, 23.5, 23.5)
    gal = Sersic(1.0, 0.6, 2.0, ngauss=6).shear(0.2, 0.1)
    psf = moffat_gmix(0.8, 3.5, ngauss=3)
    conv = gal.gmix().convolve(psf).data
    stamp = np.zeros((48, 48))
    j48 = jac48.as_array()  # kernel inputs made once: time the kernel, not their set-up
    nev = _kernels.add_nopix(conv, j48, stamp, 0.0, 0.0)
    r = interleaved(lambda: _kernels.add_nopix(conv, j48, stamp, 0.0, 0.0), nev)
    rows.append(("no_pixel Gaussian evals (18 comps, 48^2)", r, "evals/s/core", r))
    pix = np.array([0.0, 0.0, 1.0])
    nev = _kernels.add_pix(conv, j48, pix, stamp, 0.0, 0.0)
    r = interleaved(lambda: _kernels.add_pix(conv, j48, pix, stamp, 0.0, 0.0), nev)
    rows.append(("auto: pixel evaluations (18 comps, 48^2)", r, "evals/s/core", r))

    # 3. images per second, 6-comp Sersic x 3-comp PSF, 48x48
    for method, code in (("no_pixel", 0), ("auto", 1)):
        r = best_rate(
            lambda m=method: draw(gal, jac48, (48, 48), psf=psf, method=m), 1, min_time=min_time
        )
        rows.append((f"draw() images, {method}, 48^2, 6x3 comps", r, "images/s/core", ""))
        ja = jac48.as_array()

        def kern(code=code, ja=ja):
            stamp[:] = 0.0
            if code == 0:
                _kernels.add_nopix(conv, ja, stamp, 0.0, 0.0)
            else:
                _kernels.add_pix(conv, ja, pix, stamp, 0.0, 0.0)

        r = best_rate(kern, 1, min_time=min_time)
        rows.append((f"kernel images, {method}, 48^2, 6x3 comps", r, "images/s/core", ""))
    numba.set_num_threads(numba.config.NUMBA_NUM_THREADS)
    nthreads = numba.config.NUMBA_NUM_THREADS
    numba.set_num_threads(nthreads)
    gals = [gal.shift(0.01 * i, 0.0) for i in range(256)]
    for method in ("no_pixel", "auto"):
        draw_batch(gals[:2], jac48, (48, 48), psf=psf, method=method)
        r = best_rate(
            lambda m=method: draw_batch(gals, jac48, (48, 48), psf=psf, method=m),
            len(gals),
            min_time=min_time,
        )
        rows.append((f"draw_batch images, {method}, {nthreads} threads", r, "images/s", ""))

    try:
        import galsim
    except ImportError:  # pragma: no cover
        galsim = None
    if galsim is not None:
        gobj = galsim.Convolve(
            galsim.Sersic(n=2.0, half_light_radius=0.6).shear(g1=0.2, g2=0.1),
            galsim.Moffat(beta=3.5, fwhm=0.8),
        )
        gim = galsim.ImageD(48, 48, scale=0.2)
        for method in ("no_pixel", "auto"):
            r = best_rate(
                lambda m=method: gobj.drawImage(image=gim, method=m), 1, min_time=min_time
            )
            rows.append((f"GalSim drawImage, {method}, 48^2 Sersic*Moffat", r, "images/s/core", ""))

    print(
        f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cpus, "
        f"numpy {np.__version__}, numba {numba.__version__}, python {platform.python_version()}"
    )
    print()
    rows.insert(0, ("exp() ceiling, numba scalar math.exp", r_nb, "evals/s/core", ""))
    rows.insert(0, ("exp() ceiling, numpy SIMD np.exp", r_np, "evals/s/core", ""))
    print("| measurement | rate | unit | fraction of exp ceiling |")
    print("|---|---:|---|---:|")
    for name, rate, unit, frac in rows:
        frac = f"{frac / ceiling:.0%}" if isinstance(frac, float) else frac
        print(f"| {name} | {rate:.3g} | {unit} | {frac} |")


if __name__ == "__main__":
    main()
