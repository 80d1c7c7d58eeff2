"""Benchmarks of galmix.fit, with AstroPhot side by side when it is importable.

Run (AstroPhot lives in a scratch venv created with --system-site-packages so
that galmix is importable there too):

    /tmp/peers-venv/bin/python benchmarks/bench_fit.py            # speed tables
    python benchmarks/bench_fit.py --accuracy                       # + bias / pulls
    python benchmarks/bench_fit.py --skip-speed --pulls             # pulls vs S/N

Prints Markdown tables (machine info first) for benchmarks/RESULTS.md:

1. single Sersic fit of a 64x64 stamp with a Gaussian PSF (galmix vs AstroPhot LM),
2. batched single-band Sersic fits of 48x48 stamps (fits/s, 1 and 2 threads),
3. scaling with stamp size, number of bands, model components, pixel scheme,
4. (--accuracy) bias at S/N 1000 across n and size, and pull widths at S/N 50,
5. (--pulls) pull widths of Sersic fits against S/N (50 to 1000).
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import time
from collections import Counter

import numpy as np

from galmix import Jacobian, MultiBandObservation, Observation
from galmix.errors import flag_names
from galmix.fit import LMSettings, fit, fit_batch

try:
    import galsim
except ImportError:  # pragma: no cover
    galsim = None

SCALE = 0.2
PSF_FWHM = 0.8


def machine_info() -> str:
    import numba

    try:
        load = os.getloadavg()
    except OSError:
        load = (float("nan"),) * 3
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return (
        f"{cpu}; {os.cpu_count()} cores; Python {platform.python_version()}; "
        f"numpy {np.__version__}; numba {numba.__version__}; "
        f"load average at start {load[0]:.1f}/{load[1]:.1f}/{load[2]:.1f}"
    )


def render(gal, n_pix, psf_fwhm=PSF_FWHM):
    psf = galsim.Gaussian(fwhm=psf_fwhm)
    return galsim.Convolve(gal, psf).drawImage(nx=n_pix, ny=n_pix, scale=SCALE).array, psf


def stamp(n_pix, rng, n=2.0, hlr=0.8, sigma=0.01, g=(0.2, -0.1)):
    gal = galsim.Sersic(n=n, half_light_radius=hlr, flux=100.0).shear(g1=g[0], g2=g[1])
    img, psf = render(gal, n_pix)
    img = img + rng.normal(0.0, sigma, img.shape)
    jac = Jacobian.from_scale(SCALE, (n_pix - 1) / 2, (n_pix - 1) / 2)
    s2 = psf.sigma**2
    mix = np.array([[1.0, 0.0, 0.0, s2, 0.0, s2]])
    obs = Observation(img, weight=np.full(img.shape, sigma**-2), jacobian=jac, psf=mix)
    return obs, img, psf


def timeit(fn, repeat):
    """Median wall time and median CPU time (process_time) of ``fn()``.

    The CPU time is immune to other processes sharing the cores; the wall time
    is what a user sees on a loaded machine.
    """
    fn()
    ts, cs = [], []
    for _ in range(repeat):
        c0 = time.process_time()
        t0 = time.perf_counter()
        fn()
        ts.append(time.perf_counter() - t0)
        cs.append(time.process_time() - c0)
    return statistics.median(ts), statistics.median(cs)


def bench_single(rng, repeat):
    obs, img, psf = stamp(64, rng)
    rows = []
    t, c = timeit(lambda: fit(obs, "sersic"), repeat)
    r = fit(obs, "sersic")
    rows.append(
        ("galmix fit(obs, 'sersic')", t, c, r.params["n"], r.params["half_light_radius"], r.nfev)
    )
    try:
        import astrophot as ap
        import torch

        torch.set_num_threads(2)
        pimg = psf.drawImage(nx=25, ny=25, scale=SCALE).array
        pimg /= pimg.sum()
        var = np.full(img.shape, 1.0 / obs.weight[0, 0])

        def run_ap(**modes):
            target = ap.TargetImage(
                data=img, pixelscale=SCALE, variance=var, psf=ap.PSFImage(data=pimg)
            )
            model = ap.Model(
                name="gal",
                model_type="sersic galaxy model",
                target=target,
                psf_convolve=True,
                **modes,
            )
            model.initialize()
            ap.fit.LM(model, verbose=0).fit()
            return model

        run_ap()  # warm-up (torch initialisation, JIT)
        for label, modes in (
            ("default modes", {}),
            (
                "integrate_mode='none', sampling_mode='midpoint'",
                {"integrate_mode": "none", "sampling_mode": "midpoint"},
            ),
        ):
            c0 = time.process_time()
            t0 = time.perf_counter()
            m = run_ap(**modes)
            t_ap = time.perf_counter() - t0
            c_ap = time.process_time() - c0
            q = float(m.q.value)
            re_circ = float(m.Re.value) * np.sqrt(q)  # AstroPhot Re is the semi-major axis
            rows.append(
                (
                    f"AstroPhot {ap.__version__} LM ({label}, 2 torch threads)",
                    t_ap,
                    c_ap,
                    float(m.n.value),
                    re_circ,
                    -1,
                )
            )
    except ImportError:
        rows.append(("AstroPhot (not installed: skipped)", np.nan, np.nan, np.nan, np.nan, -1))
    print('\n### Single Sersic fit, 64x64 stamp, Gaussian PSF (truth n=2, hlr=0.8")\n')
    print('| code | wall s per fit | CPU s per fit | n | hlr (") | model evaluations |')
    print("|---|---|---|---|---|---|")
    for name, t, c, n, hlr, nfev in rows:
        ev = nfev if nfev >= 0 else "-"
        print(f"| {name} | {t:.4f} | {c:.4f} | {n:.3f} | {hlr:.3f} | {ev} |")
    if len(rows) > 1 and np.isfinite(rows[1][1]):
        print(
            f"\nspeed-up over AstroPhot in this run: {rows[1][1] / rows[0][1]:.0f}x (wall), "
            f"{rows[1][2] / rows[0][2]:.0f}x (CPU)"
        )


def bench_batch(rng, nobj):
    obs = []
    for _ in range(nobj):
        n = rng.uniform(0.8, 4.0)
        hlr = rng.uniform(0.3, 1.2)
        g = rng.uniform(-0.3, 0.3, 2)
        obs.append(stamp(48, rng, n=n, hlr=hlr, g=g)[0])
    print(f"\n### Batched single-band Sersic fits, {nobj} stamps of 48x48\n")
    print(
        "| threads | wall time (s) | fits/s (wall) | CPU s per fit | fits/s per 2 cores (CPU) "
        "| flagged |"
    )
    print("|---|---|---|---|---|---|")
    fit_batch(obs[:4], "sersic")
    for nt in (1, 2):
        c0 = time.process_time()
        t0 = time.perf_counter()
        t = fit_batch(obs, "sersic", nthreads=nt)
        dt = time.perf_counter() - t0
        cpu = (time.process_time() - c0) / nobj
        names = Counter("+".join(flag_names(int(f))) for f in np.asarray(t["flags"]) if int(f) != 0)
        detail = ", ".join(f"{k} x{v}" for k, v in sorted(names.items()))
        print(
            f"| {nt} | {dt:.3f} | {nobj / dt:.0f} | {cpu * 1e3:.2f} ms | {2 / cpu:.0f} | "
            f"{int(np.sum(t['flags'] != 0))} ({detail or 'none'}) |"
        )


def bench_scaling(rng, repeat):
    print("\n### Scaling (single fits, median time per fit in ms)\n")
    print("| case | wall ms per fit | CPU ms per fit | model evaluations |")
    print("|---|---|---|---|")
    for n_pix in (32, 48, 64, 96, 128):
        obs = stamp(n_pix, rng)[0]
        t, c = timeit(lambda o=obs: fit(o, "sersic", model_images=False), repeat)
        r = fit(obs, "sersic", model_images=False)
        print(f"| sersic, stamp {n_pix}x{n_pix} | {1e3 * t:.2f} | {1e3 * c:.2f} | {r.nfev} |")
    # PSF given as an image: Gaussian (1-Gaussian mixture) vs Moffat beta=3
    # (mixture of up to 5 Gaussians of the pixel-convolved PSF, fit once per PSF)
    for pname, gpsf in (
        ("Gaussian", galsim.Gaussian(fwhm=PSF_FWHM)),
        ("Moffat beta=3", galsim.Moffat(beta=3.0, fwhm=PSF_FWHM)),
    ):
        pim = gpsf.drawImage(nx=41, ny=41, scale=SCALE).array
        pobs = Observation(pim, jacobian=Jacobian.from_scale(SCALE, 20.0, 20.0))
        gal = galsim.Sersic(n=2.0, half_light_radius=0.8, flux=100.0).shear(g1=0.2, g2=-0.1)
        im = galsim.Convolve(gal, gpsf).drawImage(nx=64, ny=64, scale=SCALE).array
        im = im + rng.normal(0.0, 0.01, im.shape)
        o = Observation(
            im,
            weight=np.full(im.shape, 1e4),
            jacobian=Jacobian.from_scale(SCALE, 31.5, 31.5),
            psf=pobs,
        )
        r = fit(o, "sersic", model_images=False)  # fits the PSF mixture once
        t, c = timeit(lambda o=o: fit(o, "sersic", model_images=False), repeat)
        print(f"| sersic, 64x64, {pname} PSF image | {1e3 * t:.2f} | {1e3 * c:.2f} | {r.nfev} |")
    base = stamp(48, rng)[0]
    for nb in (1, 3, 6):
        mb = MultiBandObservation({f"b{i}": stamp(48, rng)[0] for i in range(nb)})
        t, c = timeit(lambda m=mb: fit(m, "sersic", model_images=False), repeat)
        print(
            f"| sersic, 48x48, {nb} band(s) | {1e3 * t:.2f} | {1e3 * c:.2f} | "
            f"{fit(mb, 'sersic').nfev} |"
        )
    for model in ("point", "gauss", "exp", "dev", "sersic", "point+sersic", "exp+dev", "expdev"):
        t, c = timeit(lambda m=model: fit(base, m, model_images=False), repeat)
        print(f"| {model}, 48x48 | {1e3 * t:.2f} | {1e3 * c:.2f} | {fit(base, model).nfev} |")
    for scheme in ("gauss", "sub4"):
        s = LMSettings(pixel_scheme=scheme)
        t, c = timeit(lambda s=s: fit(base, "sersic", settings=s, model_images=False), repeat)
        print(f"| sersic, 48x48, pixel_scheme={scheme} | {1e3 * t:.2f} | {1e3 * c:.2f} | - |")


def noisy_stamps(gal, s2n, nreal, rng, n_pix=48):
    """``nreal`` noise realisations of ``gal`` (GalSim, Gaussian PSF) at optimal S/N ``s2n``."""
    img, psf = render(gal, n_pix, PSF_FWHM)
    sig = float(np.sqrt(np.sum(img**2))) / s2n
    s2 = psf.sigma**2
    c = (n_pix - 1) / 2
    jac = Jacobian.from_scale(SCALE, c, c)
    mix = np.array([[1.0, 0.0, 0.0, s2, 0.0, s2]])
    w = np.full(img.shape, sig**-2)
    return [
        Observation(img + rng.normal(0, sig, img.shape), weight=w, jacobian=jac, psf=mix)
        for _ in range(nreal)
    ]


def bench_accuracy(rng, nreal):
    print("\n### Bias at S/N 1000 vs GalSim (noise-free image, S/N-1000 weights)\n")
    print("| n | hlr/FWHM | scheme | dflux/flux | dhlr/hlr | dn | flux err | flags |")
    print("|---|---|---|---|---|---|---|---|")
    fw = 0.6
    for n in (0.5, 1.0, 2.0, 4.0, 6.0):
        for size in (0.5, 2.0, 5.0):
            hlr = size * fw
            n_pix = 64 if size < 5 else 96
            gal = galsim.Sersic(n=n, half_light_radius=hlr, flux=100.0).shear(g1=0.15, g2=-0.1)
            img, psf = render(gal, n_pix, fw)
            sig = float(np.sqrt(np.sum(img**2))) / 1000.0
            s2 = psf.sigma**2
            jac = Jacobian.from_scale(SCALE, (n_pix - 1) / 2, (n_pix - 1) / 2)
            obs = Observation(
                img,
                weight=np.full(img.shape, sig**-2),
                jacobian=jac,
                psf=np.array([[1.0, 0.0, 0.0, s2, 0.0, s2]]),
            )
            for scheme in ("gauss", "sub4"):
                r = fit(obs, "sersic", settings=LMSettings(pixel_scheme=scheme))
                p = r.params
                print(
                    f"| {n} | {size} | {scheme} | {p['flux'] / 100 - 1:+.4f} | "
                    f"{p['half_light_radius'] / hlr - 1:+.4f} | {p['n'] - n:+.3f} | "
                    f"{r.errors['flux'] / 100:.4f} | {r.flags} |"
                )
    print(f"\n### Pull widths over {nreal} noise realisations (48x48, S/N 50)\n")
    print(
        "| model (truth) | param | mean pull | pull width | width of ln(value) pulls | MAD width |"
    )
    print("|---|---|---|---|---|---|")
    for model, n in (("exp", 1.0), ("sersic", 1.5), ("sersic", 4.0)):
        gal = galsim.Sersic(n=n, half_light_radius=0.6, flux=100.0).shear(g1=0.2, g2=0.1)
        t = fit_batch(noisy_stamps(gal, 50.0, nreal, rng), model)
        ok = t["flags"] == 0
        # pulls around the mean (the n=4 table bias shifts the mean, not the width)
        for name in ("flux", "half_light_radius", "g1", "n"):
            if name not in t.colnames or (model == "exp" and name == "n"):
                continue
            v = np.asarray(t[name][ok])
            e = np.asarray(t[name + "_err"][ok])
            truth = {"flux": 100.0, "half_light_radius": 0.6, "g1": 0.2, "n": n}[name]
            pulls = (v - truth) / e
            if name == "g1":
                lnw = "-"
            else:  # errors of ln(value) are error/value
                lv = np.log(v)
                lnw = f"{np.std((lv - np.mean(lv)) / (e / v)):.3f}"
            mad = 1.4826 * np.median(np.abs((v - np.median(v)) / e))
            print(
                f"| {model} (n={n}) | {name} | {np.mean(pulls):+.2f} | "
                f"{np.std((v - np.mean(v)) / e):.3f} | {lnw} | {mad:.3f} |"
            )


def bench_pulls_vs_s2n(rng, nreal):
    """Pull widths (std of (value - mean) / error) against S/N: Fisher errors are
    the asymptotic (high S/N) errors; at low S/N the likelihood is skewed."""
    print(f'\n### Pull widths vs S/N ({nreal} noise realisations each, 48x48, hlr 0.6")\n')
    print("| model (truth) | S/N | flux | half_light_radius | g1 | n | flagged |")
    print("|---|---|---|---|---|---|---|")
    cases = (
        ("exp", 1.0, (10.0, 20.0, 50.0)),
        ("sersic", 1.5, (50.0, 100.0, 300.0, 1000.0)),
        ("sersic", 4.0, (50.0, 100.0, 300.0, 1000.0)),
    )
    for model, n, s2ns in cases:
        gal = galsim.Sersic(n=n, half_light_radius=0.6, flux=100.0).shear(g1=0.2, g2=0.1)
        for s2n in s2ns:
            t = fit_batch(noisy_stamps(gal, s2n, nreal, rng), model)
            ok = t["flags"] == 0
            cells = []
            for name in ("flux", "half_light_radius", "g1", "n"):
                if name not in t.colnames:
                    cells.append("-")
                    continue
                v = np.asarray(t[name][ok])
                e = np.asarray(t[name + "_err"][ok])
                cells.append(f"{np.std((v - np.mean(v)) / e):.3f}")
            print(f"| {model} (n={n}) | {s2n:.0f} | " + " | ".join(cells) + f" | {np.sum(~ok)} |")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=7)
    ap.add_argument("--nobj", type=int, default=1000)
    ap.add_argument("--accuracy", action="store_true")
    ap.add_argument("--nreal", type=int, default=400)
    ap.add_argument("--skip-speed", action="store_true")
    ap.add_argument("--pulls", action="store_true", help="pull widths against S/N")
    ap.add_argument("--nreal-pulls", type=int, default=1500)
    ap.add_argument("--single-only", action="store_true", help="only the single-fit table")
    args = ap.parse_args()
    if galsim is None:
        raise SystemExit("galsim is needed for the benchmark simulations")
    rng = np.random.default_rng(2026)
    print(f"Machine: {machine_info()}")
    if not args.skip_speed:
        bench_single(rng, args.repeat)
        if not args.single_only:
            bench_batch(rng, args.nobj)
            bench_scaling(rng, args.repeat)
    if args.accuracy:
        bench_accuracy(rng, args.nreal)
    if args.pulls:
        bench_pulls_vs_s2n(rng, args.nreal_pulls)


if __name__ == "__main__":
    main()
