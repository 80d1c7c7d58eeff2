"""Fit the shipped Gaussian-mixture tables for Sersic profiles (smooth in n).

Writes ``src/galmix/profiles/data/sersic_gmix_k{K}.npz`` holding Chebyshev
coefficients (in ``x = 2 (ln n - ln nmin) / (ln nmax - ln nmin) - 1``) of the
log-weights (before normalisation, a softmax) and log-variances of ``K`` round
Gaussians that approximate a unit-flux, unit-half-light-radius Sersic profile.

Method (our own fits; no other project's table is used):

1. For each n on a dense grid (continuation from n=1 up to nmax and down to
   nmin) fit the mixture by least squares to the radial profile, with the
   residual weighted by area (``r dr``, i.e. the 2-d L2 norm), sampled
   log-uniformly in r, plus a weak penalty on the second difference of the
   log-variances over the component index (keeps the ladder of components
   regular, which makes the solution unique and smooth in n).
2. Fit Chebyshev series in ``x(n)`` through the per-n parameters.
3. Polish all Chebyshev coefficients jointly against all n at once, so the
   shipped mixture is exactly the smooth function that is evaluated.

Run ``python scripts/make_sersic_tables.py`` (a few minutes on one core).
"""

from __future__ import annotations

import argparse
import math
from pathlib import Path

import numpy as np
from numpy.polynomial import chebyshev as C
from scipy.optimize import least_squares
from scipy.special import gammaincinv, gammaln

NMIN, NMAX = 0.5, 6.5
OUT = Path(__file__).resolve().parents[1] / "src" / "galmix" / "profiles" / "data"


def sersic_b(n):
    """b_n with Gamma_inc(2n, b_n) = Gamma(2n)/2 (exact, via scipy)."""
    return gammaincinv(2.0 * n, 0.5)


def sersic_profile(r, n):
    """Unit-flux, unit-hlr Sersic surface brightness at radius r."""
    b = sersic_b(n)
    # flux = 2 pi n Gamma(2n) e^b / b^(2n) * I_e  (r_e = 1)
    log_ie = -(math.log(2 * math.pi * n) + gammaln(2 * n) + b - 2 * n * math.log(b))
    return np.exp(log_ie - b * (r ** (1.0 / n) - 1.0))


def radial_grid(n, nr=240):
    """Log-uniform radii and their area weights sqrt(r^2 dlnr)."""
    rmax = 8.0 if n <= 1 else 8.0 * (2.5 ** (n - 1))
    rmax = min(rmax, 2000.0)
    lnr = np.linspace(math.log(1e-4), math.log(rmax), nr)
    r = np.exp(lnr)
    dl = lnr[1] - lnr[0]
    return r, r * math.sqrt(dl)  # residual weight: sqrt(r * r dlnr) = r sqrt(dlnr)


def mixture(r, logw, logv):
    w = np.exp(logw - logw.max())
    w /= w.sum()
    v = np.exp(logv)
    g = (w[None, :] / (2 * math.pi * v[None, :])) * np.exp(-0.5 * r[:, None] ** 2 / v[None, :])
    return g.sum(axis=1), w, v, g


def x_of_n(n):
    return 2.0 * (np.log(n) - math.log(NMIN)) / (math.log(NMAX) - math.log(NMIN)) - 1.0


class NFit:
    def __init__(self, n, k, reg):
        self.n, self.k, self.reg = n, k, reg
        self.r, self.wr = radial_grid(n)
        self.f = sersic_profile(self.r, n)
        self.norm = 1.0 / math.sqrt(np.sum((self.f * self.wr) ** 2))

    def resid(self, p):
        k = self.k
        logw, logv = p[:k], p[k:]
        g = mixture(self.r, logw, logv)[0]
        res = (g - self.f) * self.wr * self.norm
        d2 = logv[2:] - 2 * logv[1:-1] + logv[:-2]
        return np.concatenate([res, self.reg * d2])


def fit_one(n, k, p0, reg):
    prob = NFit(n, k, reg)
    sol = least_squares(prob.resid, p0, method="lm", xtol=1e-14, ftol=1e-14, max_nfev=20000)
    p = sol.x.copy()
    p[:k] -= np.log(np.sum(np.exp(p[:k] - p[:k].max()))) + p[:k].max()  # normalise
    order = np.argsort(p[k:])
    return np.concatenate([p[:k][order], p[k:][order]])


def badness(n, logw, logv):
    r, wr = radial_grid(n, 2000)
    f = sersic_profile(r, n)
    g = mixture(r, logw, logv)[0]
    return float(np.sum(((g - f) * wr) ** 2) / np.sum((f * wr) ** 2))


def joint_polish(ngrid, coef_w, coef_v, reg, max_nfev):
    k, deg1 = coef_w.shape
    probs = [NFit(n, k, reg) for n in ngrid]
    xs = x_of_n(ngrid)
    tmat = C.chebvander(xs, deg1 - 1)  # (nn, deg+1)

    def unpack(p):
        return p[: k * deg1].reshape(k, deg1), p[k * deg1 :].reshape(k, deg1)

    def fun(p):
        cw, cv = unpack(p)
        out = []
        for i, pr in enumerate(probs):
            logw = cw @ tmat[i]
            logv = cv @ tmat[i]
            out.append(pr.resid(np.concatenate([logw, logv])))
        return np.concatenate(out)

    def jac(p):
        cw, cv = unpack(p)
        rows = []
        for i, pr in enumerate(probs):
            logw = cw @ tmat[i]
            logv = cv @ tmat[i]
            gsum, w, v, g = mixture(pr.r, logw, logv)
            s = pr.wr[:, None] * pr.norm
            # d g / d logw_j = g_j - w_j * gsum  (softmax)
            dw = (g - w[None, :] * gsum[:, None]) * s
            # d g_j / d logv_j = g_j (r^2/(2v) - 1)
            dv = g * (0.5 * pr.r[:, None] ** 2 / v[None, :] - 1.0) * s
            nr = len(pr.r)
            jw = (dw[:, :, None] * tmat[i][None, None, :]).reshape(nr, -1)
            jv = (dv[:, :, None] * tmat[i][None, None, :]).reshape(nr, -1)
            top = np.hstack([jw, jv])
            d2 = np.zeros((k - 2, k))
            for j in range(k - 2):
                d2[j, j : j + 3] = [1.0, -2.0, 1.0]
            jreg = np.hstack([np.zeros((k - 2, k * deg1)), reg * np.kron(d2, tmat[i][None, :])])
            rows.append(np.vstack([top, jreg]))
        return np.vstack(rows)

    p0 = np.concatenate([coef_w.ravel(), coef_v.ravel()])
    sol = least_squares(fun, p0, jac=jac, method="trf", x_scale="jac", max_nfev=max_nfev)
    return unpack(sol.x)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--k", type=int, default=10)
    ap.add_argument("--deg", type=int, default=14)
    ap.add_argument("--dn", type=float, default=0.05)
    ap.add_argument("--reg", type=float, default=3e-4)
    ap.add_argument("--polish", type=int, default=60)
    args = ap.parse_args()
    k = args.k

    # 1. continuation fits on a dense n grid
    up = np.arange(1.0, NMAX + 1e-9, args.dn)
    down = np.arange(1.0, NMIN - 1e-9, -args.dn)
    p_start = np.concatenate([np.zeros(k), 2 * np.log(np.geomspace(0.01, 2.0, k))])
    params = {}
    for seq in (up, down):
        p = fit_one(1.0, k, p_start, args.reg)
        for n in seq:
            p = fit_one(float(n), k, p, args.reg)
            params[round(float(n), 6)] = p
    ngrid = np.array(sorted(params))
    pars = np.array([params[round(float(n), 6)] for n in ngrid])

    # 2. smooth Chebyshev fits through the per-n solutions
    xs = x_of_n(ngrid)
    coef_w = np.array([C.chebfit(xs, pars[:, j], args.deg) for j in range(k)])
    coef_v = np.array([C.chebfit(xs, pars[:, k + j], args.deg) for j in range(k)])

    # 3. joint polish of the smooth representation
    if args.polish > 0:
        coef_w, coef_v = joint_polish(ngrid, coef_w, coef_v, args.reg, args.polish)

    # report
    for n in (0.5, 0.7, 1.0, 1.5, 2.0, 2.5, 3.0, 4.0, 5.0, 6.0):
        x = x_of_n(np.array([n]))
        tv = C.chebvander(x, coef_w.shape[1] - 1)[0]
        lw, lv = coef_w @ tv, coef_v @ tv
        raw = params.get(round(n, 6))
        bd_raw = badness(n, raw[:k], raw[k:]) if raw is not None else float("nan")
        print(f"n={n:4.2f} badness per-n fit={bd_raw:.3e} smooth={badness(n, lw, lv):.3e}")

    OUT.mkdir(parents=True, exist_ok=True)
    path = OUT / f"sersic_gmix_k{k}.npz"
    np.savez(
        path,
        coef_logw=coef_w,
        coef_logv=coef_v,
        nmin=NMIN,
        nmax=NMAX,
        k=k,
        reg=args.reg,
        deg=args.deg,
    )
    print("wrote", path)


if __name__ == "__main__":
    main()
