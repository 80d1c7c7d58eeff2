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

``--ladder`` (the fitter's K=18 table) uses a structured parameterisation
instead: the log-widths of the K components lie on a cubic "ladder" in the
component index, ``ln sigma_k = c + s u_k + d u_k^2 + e u_k^3`` with ``u_k``
uniform in [-1, 1], and only the ladder's four coefficients and the K
log-weights are free per n. The radial residual is restricted to the radii a
fit sees (``R_LADDER`` = 0.003 to 30 hlr, where the components are spent on the
wings rather than on the unresolved core), the enclosed flux is matched out to
100 hlr, and a weak penalty on the second difference of the log-weights over
the component index keeps every weight positive and smooth (the true mixing
density of a Sersic profile, n >= 1/2, is smooth: ``exp(-b r^(1/n))`` is
completely monotone in ``r^2``). Continuation in n with small steps (0.01
below n = 0.7) follows one smooth branch down to n = 1/2, then Chebyshev series
in ``x(n)`` are fitted through the per-n solutions.
"""

from __future__ import annotations

import argparse
import math
from pathlib import Path

import numpy as np
from numpy.polynomial import chebyshev as C
from scipy.optimize import brentq, least_squares
from scipy.special import gammainc, gammaincinv, gammaln

NMIN, NMAX = 0.5, 6.5
# weight of the half-light-radius constraint and of the smoothness penalty
LAM_HLR = 30.0
MU_SMOOTH = 1e-6
NEAR_HALF_BOOST = 12.0
# "wide" tables (--wide): profile sampled out to R_WIDE half-light radii and
# the enclosed-flux curve L(<R) matched on NCUM radii out to R_WIDE too, with
# weight LAM_CUM, so the mixture keeps the untruncated profile's wings
R_WIDE = 100.0
NCUM = 60
LAM_CUM = 3.0
WIDE = False
LADDER = False
# ladder tables (--ladder): radial range of the profile residual, log-weight smoothness
R_LADDER = (0.003, 30.0)
MU_W = 1e-3
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


def sersic_enclosed(r, n):
    """Fraction of a Sersic profile's flux inside radius r (unit hlr)."""
    return gammainc(2.0 * n, sersic_b(n) * r ** (1.0 / n))


def radial_grid(n, nr=240):
    """Log-uniform radii and their area weights sqrt(r^2 dlnr)."""
    rmax = 8.0 if n <= 1 else 8.0 * (2.5 ** (n - 1))
    rmax = min(rmax, 2000.0)
    rmin = 1e-4
    if WIDE:
        rmax, nr = R_WIDE, max(nr, 320)
    if LADDER:  # the radii a fit sees (the ladder tables' profile range)
        rmin, rmax = R_LADDER
    lnr = np.linspace(math.log(rmin), math.log(rmax), nr)
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
        if WIDE:
            self.rc = np.geomspace(0.05, R_WIDE, NCUM)
            self.lc = sersic_enclosed(self.rc, n)
        else:
            self.rc = np.zeros(0)
            self.lc = np.zeros(0)
        self.lam_c = LAM_CUM / math.sqrt(NCUM)

    def resid(self, p):
        k = self.k
        logw, logv = p[:k], p[k:]
        g, w, v, _ = mixture(self.r, logw, logv)
        res = (g - self.f) * self.wr * self.norm
        d2 = logv[2:] - 2 * logv[1:-1] + logv[:-2]
        # the mixture's half-light radius must be 1: enclosed flux at r=1 is 1/2
        hlr = LAM_HLR * (np.dot(w, 1.0 - np.exp(-0.5 / v)) - 0.5)
        ec = 1.0 - np.exp(-0.5 * self.rc[:, None] ** 2 / v[None, :])
        cum = self.lam_c * (ec @ w - self.lc)
        return np.concatenate([res, self.reg * d2, [hlr], cum])


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
    # near n = 0.5 the components become degenerate (the exact answer is one
    # Gaussian) and the smooth representation needs extra weight there
    for pr in probs:
        pr.norm *= 1.0 + NEAR_HALF_BOOST * math.exp(-(pr.n - NMIN) / 0.1)
    xs = x_of_n(ngrid)
    tmat = C.chebvander(xs, deg1 - 1)  # (nn, deg+1)

    def unpack(p):
        return p[: k * deg1].reshape(k, deg1), p[k * deg1 :].reshape(k, deg1)

    # smoothness: second derivative in x of every log-weight and log-variance
    d2mat = np.array(
        [C.chebval(xs, C.chebder(np.eye(deg1)[d], 2)) for d in range(deg1)]
    ).T  # (nn, deg+1)
    smooth_mat = math.sqrt(MU_SMOOTH / len(ngrid)) * np.kron(np.eye(2 * k), d2mat)

    def fun(p):
        cw, cv = unpack(p)
        out = []
        for i, pr in enumerate(probs):
            logw = cw @ tmat[i]
            logv = cv @ tmat[i]
            out.append(pr.resid(np.concatenate([logw, logv])))
        out.append(smooth_mat @ p)
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
            e = np.exp(-0.5 / v)
            ee = 1.0 - e
            hw = LAM_HLR * w * (ee - np.dot(w, ee))
            hv = LAM_HLR * w * (-0.5 / v) * e
            jh = np.concatenate([np.kron(hw, tmat[i]), np.kron(hv, tmat[i])])[None, :]
            q = 0.5 * pr.rc[:, None] ** 2 / v[None, :]
            ecum = 1.0 - np.exp(-q)
            lcum = ecum @ w
            cw_ = pr.lam_c * w[None, :] * (ecum - lcum[:, None])
            cv_ = pr.lam_c * w[None, :] * (-q * np.exp(-q))
            nc = len(pr.rc)
            jcw = (cw_[:, :, None] * tmat[i][None, None, :]).reshape(nc, -1)
            jcv = (cv_[:, :, None] * tmat[i][None, None, :]).reshape(nc, -1)
            rows.append(np.vstack([top, jreg, jh, np.hstack([jcw, jcv])]))
        rows.append(smooth_mat)
        return np.vstack(rows)

    p0 = np.concatenate([coef_w.ravel(), coef_v.ravel()])
    sol = least_squares(fun, p0, jac=jac, method="trf", x_scale="jac", max_nfev=max_nfev)
    return unpack(sol.x)


def ladder_logv(q, k):
    """Log-variances of the ladder with coefficients q = (c, s, d, e)."""
    u = np.linspace(-1.0, 1.0, k)
    return 2.0 * (q[0] + q[1] * u + q[2] * u**2 + q[3] * u**3)


class LadderFit:
    """Per-n least squares of a ladder mixture (profile on R_LADDER, L(<R) to 100 hlr)."""

    def __init__(self, n, k, mu_w):
        self.n, self.k, self.mu_w = n, k, mu_w
        lnr = np.linspace(math.log(R_LADDER[0]), math.log(R_LADDER[1]), 320)
        self.r = np.exp(lnr)
        self.wr = self.r * math.sqrt(lnr[1] - lnr[0])
        self.f = sersic_profile(self.r, n)
        self.norm = 1.0 / math.sqrt(np.sum((self.f * self.wr) ** 2))
        self.rc = np.geomspace(0.05, R_WIDE, NCUM)
        self.lc = sersic_enclosed(self.rc, n)
        self.lam_c = LAM_CUM / math.sqrt(NCUM)

    def resid(self, p):
        logw, logv = p[4:], ladder_logv(p[:4], self.k)
        g, w, v, _ = mixture(self.r, logw, logv)
        res = (g - self.f) * self.wr * self.norm
        hlr = LAM_HLR * (np.dot(w, 1.0 - np.exp(-0.5 / v)) - 0.5)
        ec = 1.0 - np.exp(-0.5 * self.rc[:, None] ** 2 / v[None, :])
        cum = self.lam_c * (ec @ w - self.lc)
        smooth = self.mu_w * (logw[2:] - 2.0 * logw[1:-1] + logw[:-2])
        return np.concatenate([res, [hlr], cum, smooth])


def fit_ladder_one(n, k, p0, mu_w, fixed_ladder=False):
    prob = LadderFit(n, k, mu_w)
    if fixed_ladder:  # first the weights only (a start far from the solution)
        sol = least_squares(
            lambda lw: prob.resid(np.concatenate([p0[:4], lw])),
            p0[4:],
            method="lm",
            xtol=1e-14,
            ftol=1e-14,
            max_nfev=20000,
        )
        p0 = np.concatenate([p0[:4], sol.x])
    sol = least_squares(prob.resid, p0, method="lm", xtol=1e-14, ftol=1e-14, max_nfev=20000)
    p = sol.x.copy()
    lw = p[4:]
    p[4:] = lw - (np.log(np.sum(np.exp(lw - lw.max()))) + lw.max())  # normalise
    return p


def ladder_table(k, deg, mu_w):
    """Continuation fits of the ladder mixture and their Chebyshev series in x(n)."""
    # start at n = 1 from a straight ladder spanning the widths of the shipped
    # K=14 table's exponential, with its weights interpolated onto the ladder
    from galmix.profiles import sersic_mixture

    w14, v14 = sersic_mixture(1.0, 14)
    ls = 0.5 * np.log(v14)
    lw0 = np.log(np.interp(np.linspace(0.0, len(w14) - 1.0, k), np.arange(len(w14)), w14))
    p = np.concatenate([[0.5 * (ls[0] + ls[-1]), 0.5 * (ls[-1] - ls[0]), 0.0, 0.0], lw0])
    p = fit_ladder_one(1.0, k, p, mu_w, fixed_ladder=True)
    up = np.arange(1.0, NMAX + 1e-9, 0.05)
    down = np.concatenate([np.arange(1.0, 0.7, -0.05), np.arange(0.7, NMIN - 1e-9, -0.01)])
    sols = {}
    for seq in (up, down):
        q = p.copy()
        for n in seq:
            q = fit_ladder_one(float(n), k, q, mu_w)
            sols[round(float(n), 6)] = q
            print(f"n={n:.3f} done", flush=True)
    # n = 1/2 itself is singular (one Gaussian is exact, and a free fit jumps to
    # it, dropping the other weights to zero, which would make the series ring):
    # the series is fitted through n >= 0.51 and the joint polish (whose n grid
    # includes 1/2) brings the end point onto the profile
    ngrid = np.array([n for n in sorted(sols) if n > NMIN + 0.005])
    pars = np.array([sols[round(float(n), 6)] for n in ngrid])
    logw = pars[:, 4:]
    logv = np.array([ladder_logv(q[:4], k) for q in pars])
    xs = x_of_n(ngrid)
    coef_w = np.array([C.chebfit(xs, logw[:, j], deg) for j in range(k)])
    coef_v = np.array([C.chebfit(xs, logv[:, j], deg) for j in range(k)])
    return coef_w, coef_v


def report(ks=(6, 10)) -> None:
    """Markdown table of the shipped tables' accuracy per n (docs/profiles.md)."""
    import galsim

    from galmix.geometry import Jacobian
    from galmix.profiles import Gaussian, Sersic, sersic_mixture
    from galmix.render import draw

    mat = np.array([[0.2, 0.0], [0.0, 0.2]])
    jac = Jacobian.from_matrix(mat, 31.3, 32.1)
    gsp = galsim.GSParams(maximum_fft_size=16384, folding_threshold=1e-3, maxk_threshold=1e-4)
    wcs = galsim.JacobianWCS(*mat.ravel())
    offset = (31.3 - 31.5, 32.1 - 31.5)
    print("| n | K | badness | hlr - 1 | with PSF, auto | no PSF, auto | no PSF, no_pixel |")
    print("|---|---|---|---|---|---|---|")
    for n in (0.5, 0.7, 1.0, 1.5, 2.0, 2.5, 3.0, 4.0, 5.0, 6.0):
        for k in ks:
            w, v = sersic_mixture(n, k)
            lw, lv = np.log(w), np.log(v)
            hlr = brentq(
                lambda r, w=w, v=v: np.dot(w, 1 - np.exp(-0.5 * r * r / v)) - 0.5, 1e-3, 1e3
            )
            prof = Sersic(1.0, 0.8, n, ngauss=k).shear(0.2, -0.1).shift(0.05, -0.03)
            gprof = (
                galsim.Sersic(n=n, half_light_radius=0.8, gsparams=gsp)
                .shear(g1=0.2, g2=-0.1)
                .shift(0.05, -0.03)
            )
            errs = []
            for psf, method, gmethod in (
                (True, "auto", "auto"),
                (False, "auto", "real_space"),
                (False, "no_pixel", "no_pixel"),
            ):
                ours = draw(
                    prof,
                    jac,
                    (64, 64),
                    psf=Gaussian(1.0, sigma=0.3) if psf else None,
                    method=method,
                )
                gobj = (
                    galsim.Convolve(gprof, galsim.Gaussian(sigma=0.3, gsparams=gsp))
                    if psf
                    else gprof
                )
                ref = galsim.ImageD(64, 64, xmin=0, ymin=0)
                gobj.drawImage(image=ref, wcs=wcs, method=gmethod, offset=offset)
                errs.append(np.abs(ours - ref.array).max() / ref.array.max())
            print(
                f"| {n} | {k} | {badness(n, lw, lv):.1e} | {hlr - 1:+.0e} | "
                + " | ".join(f"{e:.1e}" for e in errs)
                + " |"
            )


def report_wings(ks=(10, 14)) -> None:
    """Markdown table: enclosed flux of the mixtures vs the untruncated profile."""
    from galmix.profiles import sersic_mixture

    radii = np.array([3.0, 10.0, 30.0, 100.0])
    rc = np.geomspace(0.1, R_WIDE, 200)
    print(
        "| n | true L(<3, 10, 30, 100 hlr) | "
        + " | ".join(f"K={k}: L(<3, 10, 30, 100) | K={k}: max dL" for k in ks)
        + " |"
    )
    print("|---|---|" + "---|---|" * len(ks))
    for n in (0.5, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 6.5):
        cells = [", ".join(f"{x:.4f}" for x in sersic_enclosed(radii, n))]
        for k in ks:
            w, v = sersic_mixture(n, k)
            enc = (1.0 - np.exp(-0.5 * radii[:, None] ** 2 / v[None, :])) @ w
            encc = (1.0 - np.exp(-0.5 * rc[:, None] ** 2 / v[None, :])) @ w
            cells.append(", ".join(f"{x:.4f}" for x in enc))
            cells.append(f"{np.abs(encc - sersic_enclosed(rc, n)).max():.1e}")
        print(f"| {n} | " + " | ".join(cells) + " |")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--k", type=int, default=10)
    ap.add_argument("--deg", type=int, default=14)
    ap.add_argument("--dn", type=float, default=0.05)
    ap.add_argument("--reg", type=float, default=3e-4)
    ap.add_argument("--polish", type=int, default=60)
    ap.add_argument(
        "--init", default=None, help="start the joint polish from this table (.npz) instead"
    )
    ap.add_argument(
        "--wide",
        action="store_true",
        help="fit the wings and the enclosed flux out to R_WIDE hlr (untruncated profile)",
    )
    ap.add_argument(
        "--ladder",
        action="store_true",
        help="structured ladder table for the fitter (profile on R_LADDER, see above)",
    )
    ap.add_argument("--report", action="store_true", help="print the accuracy table and exit")
    ap.add_argument("--report-k", type=int, nargs="+", default=[6, 10, 14], help="tables to report")
    ap.add_argument("--out-dir", default=str(OUT), help="where to write the table")
    args = ap.parse_args()
    if args.report:
        report(tuple(args.report_k))
        report_wings()
        return
    k = args.k
    global WIDE, LADDER
    WIDE = args.wide or args.ladder
    LADDER = args.ladder
    if args.ladder:
        coef_w, coef_v = ladder_table(k, args.deg, MU_W)
        ngrid = np.array(
            sorted(
                set(
                    np.round(
                        np.concatenate(
                            [
                                np.arange(1.0, NMAX + 1e-9, 0.05),
                                np.arange(1.0, 0.7, -0.05),
                                np.arange(0.7, NMIN - 1e-9, -0.01),
                            ]
                        ),
                        6,
                    )
                )
            )
        )
        if args.polish > 0:
            coef_w, coef_v = joint_polish(ngrid, coef_w, coef_v, args.reg, args.polish)
        params = {}
        _write(args, k, coef_w, coef_v, params)
        return

    # 1. continuation fits on a dense n grid
    up = np.arange(1.0, NMAX + 1e-9, args.dn)
    down = np.arange(1.0, NMIN - 1e-9, -args.dn)
    params = {}
    if args.init is None:
        vmax = 30.0 if WIDE else 2.0
        p_start = np.concatenate([np.zeros(k), 2 * np.log(np.geomspace(0.01, vmax, k))])
        for seq in (up, down):
            p = fit_one(1.0, k, p_start, args.reg)
            for n in seq:
                p = fit_one(float(n), k, p, args.reg)
                print(f"n={n:.3f} done", flush=True)
                params[round(float(n), 6)] = p
        ngrid = np.array(sorted(params))
        pars = np.array([params[round(float(n), 6)] for n in ngrid])

        # 2. smooth Chebyshev fits through the per-n solutions
        xs = x_of_n(ngrid)
        coef_w = np.array([C.chebfit(xs, pars[:, j], args.deg) for j in range(k)])
        coef_v = np.array([C.chebfit(xs, pars[:, k + j], args.deg) for j in range(k)])
    else:
        # continuation from an earlier smooth table (e.g. before a constraint
        # was added): keeps the component paths that table already follows
        with np.load(args.init) as z:
            coef_w, coef_v = z["coef_logw"].copy(), z["coef_logv"].copy()
        pad = args.deg + 1 - coef_w.shape[1]
        if pad > 0:  # raise the Chebyshev degree (zero higher coefficients)
            coef_w = np.pad(coef_w, ((0, 0), (0, pad)))
            coef_v = np.pad(coef_v, ((0, 0), (0, pad)))
        ngrid = np.array(sorted(set(np.round(np.concatenate([up, down]), 6))))

    # 3. joint polish of the smooth representation
    if args.polish > 0:
        coef_w, coef_v = joint_polish(ngrid, coef_w, coef_v, args.reg, args.polish)
    _write(args, k, coef_w, coef_v, params)


def _write(args, k, coef_w, coef_v, params) -> None:
    """Print the per-n accuracy of the smooth table and write the .npz."""
    for n in (0.5, 0.7, 1.0, 1.5, 2.0, 2.5, 3.0, 4.0, 5.0, 6.0):
        x = x_of_n(np.array([n]))
        tv = C.chebvander(x, coef_w.shape[1] - 1)[0]
        lw, lv = coef_w @ tv, coef_v @ tv
        raw = params.get(round(n, 6))
        bd_raw = badness(n, raw[:k], raw[k:]) if raw is not None else float("nan")
        w = np.exp(lw - lw.max())
        w /= w.sum()
        hlr = brentq(
            lambda r, w=w, lv=lv: np.dot(w, 1 - np.exp(-0.5 * r * r / np.exp(lv))) - 0.5, 1e-3, 1e3
        )
        print(
            f"n={n:4.2f} badness per-n fit={bd_raw:.3e} smooth={badness(n, lw, lv):.3e} "
            f"hlr-1={hlr - 1:+.2e}"
        )

    out = Path(args.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    path = out / f"sersic_gmix_k{k}.npz"
    np.savez(
        path,
        coef_logw=coef_w,
        coef_logv=coef_v,
        nmin=NMIN,
        nmax=NMAX,
        k=k,
        reg=args.reg,
        deg=args.deg,
        wide=WIDE,
        r_wide=R_WIDE if WIDE else 0.0,
        ladder=LADDER,
        r_profile=np.array(R_LADDER if LADDER else (1e-4, R_WIDE if WIDE else 0.0)),
    )
    print("wrote", path)


if __name__ == "__main__":
    main()
