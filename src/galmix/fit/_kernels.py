"""Numba kernels of the model fitter (plain float64/int64 arrays only).

Model
-----
A model is a list of *components* (one galaxy component, a point source,
...). Component ``c`` reads its parameters from the full parameter vector
``p`` through index tables (``-1`` = not used):

``c_ipar[c] = [i_u0, i_v0, i_logr, i_g1, i_g2, i_n]`` and
``c_iflux[c, b]`` = index of the flux of band ``b``.

``c_kind[c]``: 0 = fixed Gaussian mixture (``c_w[c, :K]``, ``c_s[c, :K]``:
weights and variances in units of the half-light radius squared, round),
1 = Sersic with free index ``n`` (mixture interpolated from the table
``tab_*`` with cubic Hermite interpolation in ``n``), 2 = point source.

A round component of half-light radius ``r = exp(logr)`` sheared by the
reduced shear ``(g1, g2)`` (GalSim convention, area preserving) has
covariances ``r^2 s_k M(g)`` with ``M = A A^T``,
``A = [[1+g1, g2], [g2, 1-g1]] / sqrt(1-g^2)``.

Exposures
---------
Exposure ``e`` of one object covers pixels ``e_pix[e]:e_pix[e+1]`` of the
packed pixel arrays ``pix_u, pix_v`` (world coordinates of the pixel
centres relative to the exposure's Jacobian origin, arcsec), ``pix_y``
(data), ``pix_w`` (sqrt of the inverse variance) and ``pix_c`` (1 when the
pixel is the right-hand neighbour of the previous one in the same row, which
lets the kernel evaluate ``exp`` by recurrence along rows; ``e_step[e]`` is
the world step ``(dudx, dvdx)`` between such neighbours). ``e_psf[e, :J]`` is
its PSF mixture ``[flux, u0, v0, Iuu, Iuv, Ivv]`` (world, unit total flux,
pixel covariance already added when the pixel response is modelled),
``e_sub[e, :S]`` the world offsets of the ``S`` sub-pixel samples that
represent the pixel response (a single zero offset when the pixel is a pure
Gaussian or when the PSF already includes it) and ``e_area[e]`` the factor
``|det J| * fill_factor / S`` converting surface brightness to flux per
pixel for one sample.

Everything is evaluated with exact analytic derivatives with respect to
every parameter in one pass over the pixels.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit, prange

# fast-math flags that cannot change a finite result: no reassociation, no
# FMA contraction, no reciprocal or approximate functions, whose use depends on
# how LLVM inlined and scheduled the code in the compiling process; results stay
# bit-identical whatever the process, cache state, thread count or executor
_FASTMATH = {"nnan", "ninf", "nsz"}

TWO_PI = 2.0 * math.pi
CHI_CUT = 60.0  # skip exp(-chi/2) below e^-30
REFRESH = 16  # exact exp every REFRESH pixels along a row (recurrence in between)

# gaussian table columns
_A = 0  # amplitude (flux * weight * psf flux * area)
_ANF = 1  # amplitude / flux
_ADN = 2  # d amplitude / dn
_MU = 3  # mu_u, mu_v (3, 4)
_SI = 5  # inverse covariance iuu, iuv, ivv (5, 6, 7)
_NRM = 8  # 1 / (2 pi sqrt(det))
_DS = 9  # dS/dtheta for theta in (logr, g1, g2, n): 4 x 3 (9..20)
_NCOL = 21


@njit(cache=True)
def hermite_table(tab_n, tab_y, tab_dy, n, out_y, out_dy):
    """Cubic Hermite interpolation of ``tab_y[:, k]`` (with slopes ``tab_dy``)."""
    nn = tab_n.shape[0]
    if n <= tab_n[0]:
        i = 0
    elif n >= tab_n[nn - 1]:
        i = nn - 2
    else:
        lo = 0
        hi = nn - 1
        while hi - lo > 1:
            mid = (lo + hi) // 2
            if tab_n[mid] > n:
                hi = mid
            else:
                lo = mid
        i = lo
    h = tab_n[i + 1] - tab_n[i]
    t = (n - tab_n[i]) / h
    if t < 0.0:
        t = 0.0
    if t > 1.0:
        t = 1.0
    t2 = t * t
    t3 = t2 * t
    h00 = 2 * t3 - 3 * t2 + 1
    h10 = t3 - 2 * t2 + t
    h01 = -2 * t3 + 3 * t2
    h11 = t3 - t2
    d00 = (6 * t2 - 6 * t) / h
    d10 = (3 * t2 - 4 * t + 1) / h
    d01 = (-6 * t2 + 6 * t) / h
    d11 = (3 * t2 - 2 * t) / h
    for k in range(tab_y.shape[1]):
        y0 = tab_y[i, k]
        y1 = tab_y[i + 1, k]
        m0 = tab_dy[i, k] * h
        m1 = tab_dy[i + 1, k] * h
        out_y[k] = h00 * y0 + h10 * m0 + h01 * y1 + h11 * m1
        out_dy[k] = d00 * y0 + d10 * m0 + d01 * y1 + d11 * m1


@njit(cache=True)
def shear_matrix(g1, g2, out):
    """``M = A A^T`` and its derivatives: out[0]=M, out[1]=dM/dg1, out[2]=dM/dg2 (uu, uv, vv)."""
    gsq = g1 * g1 + g2 * g2
    d = 1.0 - gsq
    n11 = 1.0 + 2.0 * g1 + gsq
    n12 = 2.0 * g2
    n22 = 1.0 - 2.0 * g1 + gsq
    out[0, 0] = n11 / d
    out[0, 1] = n12 / d
    out[0, 2] = n22 / d
    d2 = d * d
    # d/dg1: dN11 = 2+2g1, dN12 = 0, dN22 = -2+2g1, dD = -2g1
    out[1, 0] = ((2.0 + 2.0 * g1) * d + n11 * 2.0 * g1) / d2
    out[1, 1] = (n12 * 2.0 * g1) / d2
    out[1, 2] = ((-2.0 + 2.0 * g1) * d + n22 * 2.0 * g1) / d2
    # d/dg2: dN11 = 2g2, dN12 = 2, dN22 = 2g2, dD = -2g2
    out[2, 0] = (2.0 * g2 * d + n11 * 2.0 * g2) / d2
    out[2, 1] = (2.0 * d + n12 * 2.0 * g2) / d2
    out[2, 2] = (2.0 * g2 * d + n22 * 2.0 * g2) / d2


@njit(cache=True)
def component_mixture(
    c, p, c_ipar, c_kind, c_K, c_w, c_s, tab_n, tab_w, tab_s, tab_dw, tab_ds, w, s, dw, ds
):
    """Weights/variances (and d/dn) of component ``c``'s round mixture; returns K."""
    kind = c_kind[c]
    if kind == 2:
        w[0] = 1.0
        s[0] = 0.0
        dw[0] = 0.0
        ds[0] = 0.0
        return 1
    if kind == 1:
        n = p[c_ipar[c, 5]]
        hermite_table(tab_n, tab_w, tab_dw, n, w, dw)
        hermite_table(tab_n, tab_s, tab_ds, n, s, ds)
        return tab_w.shape[1]
    K = c_K[c]
    for k in range(K):
        w[k] = c_w[c, k]
        s[k] = c_s[c, k]
        dw[k] = 0.0
        ds[k] = 0.0
    return K


@njit(cache=True)
def build_gaussians(
    p,
    band,
    psf,
    npsf,
    c_ipar,
    c_iflux,
    c_kind,
    c_K,
    c_w,
    c_s,
    tab_n,
    tab_w,
    tab_s,
    tab_dw,
    tab_ds,
    area,
    gtab,
    gidx,
):
    """Fill the table of PSF-convolved Gaussians of one exposure; returns count.

    ``gidx[g] = [i_u0, i_v0, i_flux, i_logr, i_g1, i_g2, i_n]`` (parameter
    indices, -1 if absent).
    """
    C = c_ipar.shape[0]
    kmax = max(tab_w.shape[1], c_w.shape[1], 1)
    w = np.empty(kmax)
    s = np.empty(kmax)
    dw = np.empty(kmax)
    ds = np.empty(kmax)
    M = np.zeros((3, 3))
    ng = 0
    for c in range(C):
        if c_kind[c] == 3:  # sky: no Gaussians (added per pixel in the accumulation)
            continue
        K = component_mixture(
            c, p, c_ipar, c_kind, c_K, c_w, c_s, tab_n, tab_w, tab_s, tab_dw, tab_ds, w, s, dw, ds
        )
        iu0 = c_ipar[c, 0]
        iv0 = c_ipar[c, 1]
        ilr = c_ipar[c, 2]
        ig1 = c_ipar[c, 3]
        ig2 = c_ipar[c, 4]
        inn = c_ipar[c, 5]
        ifl = c_iflux[c, band]
        u0 = p[iu0]
        v0 = p[iv0]
        flux = p[ifl]
        point = c_kind[c] == 2
        if point:
            r2 = 0.0
            M[0, 0] = 1.0
            M[0, 1] = 0.0
            M[0, 2] = 1.0
            for a in range(1, 3):
                for b in range(3):
                    M[a, b] = 0.0
        else:
            r2 = math.exp(2.0 * p[ilr])
            g1 = p[ig1] if ig1 >= 0 else 0.0
            g2 = p[ig2] if ig2 >= 0 else 0.0
            shear_matrix(g1, g2, M)
        for k in range(K):
            for j in range(npsf):
                pf = psf[j, 0]
                Suu = r2 * s[k] * M[0, 0] + psf[j, 3]
                Suv = r2 * s[k] * M[0, 1] + psf[j, 4]
                Svv = r2 * s[k] * M[0, 2] + psf[j, 5]
                det = Suu * Svv - Suv * Suv
                if det <= 0.0:
                    det = 1e-300
                row = gtab[ng]
                anf = w[k] * pf * area
                row[_A] = anf * flux
                row[_ANF] = anf
                row[_ADN] = dw[k] * pf * area * flux
                row[_MU] = u0 + psf[j, 1]
                row[_MU + 1] = v0 + psf[j, 2]
                row[_SI] = Svv / det
                row[_SI + 1] = -Suv / det
                row[_SI + 2] = Suu / det
                row[_NRM] = 1.0 / (TWO_PI * math.sqrt(det))
                # dS/dlogr
                f = 2.0 * r2 * s[k]
                row[_DS + 0] = f * M[0, 0]
                row[_DS + 1] = f * M[0, 1]
                row[_DS + 2] = f * M[0, 2]
                # dS/dg1, dS/dg2
                f = r2 * s[k]
                row[_DS + 3] = f * M[1, 0]
                row[_DS + 4] = f * M[1, 1]
                row[_DS + 5] = f * M[1, 2]
                row[_DS + 6] = f * M[2, 0]
                row[_DS + 7] = f * M[2, 1]
                row[_DS + 8] = f * M[2, 2]
                # dS/dn
                f = r2 * ds[k]
                row[_DS + 9] = f * M[0, 0]
                row[_DS + 10] = f * M[0, 1]
                row[_DS + 11] = f * M[0, 2]
                gi = gidx[ng]
                gi[0] = iu0
                gi[1] = iv0
                gi[2] = ifl
                gi[3] = -1 if point else ilr
                gi[4] = -1 if point else ig1
                gi[5] = -1 if point else ig2
                gi[6] = inn
                ng += 1
    return ng


@njit(cache=True, fastmath=_FASTMATH)
def _accumulate_exposure(
    gtab,
    gidx,
    ng,
    col,
    sub,
    nsub,
    step,
    u,
    v,
    y,
    wt,
    cont,
    need_jac,
    model_out,
    grow,
    jtj,
    jtr,
    sky_val,
    sky_col,
):
    """Add one exposure's pixels to chi2, J^T J and J^T r; returns chi2 part.

    Gaussians outer, pixels inner (scalars hoisted), derivatives stored per
    free column, then J^T J / J^T r as dot products over pixels.
    """
    nfree = jtr.shape[0]
    npix = u.shape[0]
    m = np.zeros(npix)
    if need_jac:
        D = np.zeros((nfree, npix))
    else:
        D = np.zeros((0, 0))
    du_s = step[0]
    dv_s = step[1]
    for sidx in range(nsub):
        su = sub[sidx, 0]
        sv = sub[sidx, 1]
        for g in range(ng):
            A = gtab[g, _A]
            anf = gtab[g, _ANF]
            adn = gtab[g, _ADN]
            mu_u = gtab[g, _MU] - su
            mu_v = gtab[g, _MU + 1] - sv
            iuu = gtab[g, _SI]
            iuv = gtab[g, _SI + 1]
            ivv = gtab[g, _SI + 2]
            nrm = gtab[g, _NRM]
            # exp(-chi/2) along a pixel row by recurrence: E_{i+1} = E_i R_i,
            # R_{i+1} = R_i Q (chi is quadratic in the pixel index); exact exp
            # refreshed every REFRESH pixels, at row starts and after skipped pixels
            c0 = iuu * du_s * du_s + 2.0 * iuv * du_s * dv_s + ivv * dv_s * dv_s
            Q = math.exp(-c0)
            E = 0.0
            R = 0.0
            run = 0
            if need_jac:
                ia = gidx[g, 0]
                c0i = col[ia] if ia >= 0 else -1
                ia = gidx[g, 1]
                c1 = col[ia] if ia >= 0 else -1
                ia = gidx[g, 2]
                c2 = col[ia] if ia >= 0 else -1
                ia = gidx[g, 3]
                ct0 = col[ia] if ia >= 0 else -1
                ia = gidx[g, 4]
                ct1 = col[ia] if ia >= 0 else -1
                ia = gidx[g, 5]
                ct2 = col[ia] if ia >= 0 else -1
            else:
                c0i = c1 = c2 = ct0 = ct1 = ct2 = -1
            s00 = gtab[g, _DS + 0]
            s01 = gtab[g, _DS + 1]
            s02 = gtab[g, _DS + 2]
            s10 = gtab[g, _DS + 3]
            s11 = gtab[g, _DS + 4]
            s12 = gtab[g, _DS + 5]
            s20 = gtab[g, _DS + 6]
            s21 = gtab[g, _DS + 7]
            s22 = gtab[g, _DS + 8]
            s30 = gtab[g, _DS + 9]
            s31 = gtab[g, _DS + 10]
            s32 = gtab[g, _DS + 11]
            ct3 = -1
            if need_jac:
                ia = gidx[g, 6]
                ct3 = col[ia] if ia >= 0 else -1
            for i in range(npix):
                du = u[i] - mu_u
                dv = v[i] - mu_v
                au = iuu * du + iuv * dv
                av = iuv * du + ivv * dv
                chi = du * au + dv * av
                if chi > CHI_CUT:
                    run = 0
                    continue
                if run > 0 and cont[i] != 0 and run < REFRESH:
                    E = E * R
                    R = R * Q
                    run += 1
                else:
                    E = math.exp(-0.5 * chi)
                    R = math.exp(-(au * du_s + av * dv_s) - 0.5 * c0)
                    run = 1
                e = nrm * E
                G = A * e
                m[i] += G
                if not need_jac:
                    continue
                if c0i >= 0:
                    D[c0i, i] += G * au
                if c1 >= 0:
                    D[c1, i] += G * av
                if c2 >= 0:
                    D[c2, i] += anf * e
                hg = 0.5 * G
                quu = hg * (au * au - iuu)
                quv = hg * 2.0 * (au * av - iuv)
                qvv = hg * (av * av - ivv)
                if ct0 >= 0:
                    D[ct0, i] += quu * s00 + quv * s01 + qvv * s02
                if ct1 >= 0:
                    D[ct1, i] += quu * s10 + quv * s11 + qvv * s12
                if ct2 >= 0:
                    D[ct2, i] += quu * s20 + quv * s21 + qvv * s22
                if ct3 >= 0:
                    D[ct3, i] += quu * s30 + quv * s31 + qvv * s32 + adn * e
    if sky_val != 0.0 or sky_col >= 0:
        for i in range(npix):
            m[i] += sky_val
        if need_jac and sky_col >= 0:
            for i in range(npix):
                D[sky_col, i] += 1.0
    chi2 = 0.0
    r = np.empty(npix)
    for i in range(npix):
        ri = (y[i] - m[i]) * wt[i]
        r[i] = ri
        chi2 += ri * ri
    if model_out.shape[0] > 0:
        for i in range(npix):
            model_out[i] = m[i]
    if need_jac:
        for a in range(nfree):
            for i in range(npix):
                D[a, i] *= wt[i]
        for a in range(nfree):
            s = 0.0
            for i in range(npix):
                s += D[a, i] * r[i]
            jtr[a] += s
            for b in range(a + 1):
                s = 0.0
                for i in range(npix):
                    s += D[a, i] * D[b, i]
                jtj[a, b] += s
    return chi2


@njit(cache=True)
def evaluate(
    p,
    col,
    nfree,
    c_ipar,
    c_iflux,
    c_kind,
    c_K,
    c_w,
    c_s,
    tab_n,
    tab_w,
    tab_s,
    tab_dw,
    tab_ds,
    e_band,
    e_pix,
    e_psf,
    e_npsf,
    e_sub,
    e_nsub,
    e_area,
    e_step,
    pix_u,
    pix_v,
    pix_y,
    pix_w,
    pix_c,
    need_jac,
    model_out,
    jtj,
    jtr,
):
    """chi2 (and J^T J lower triangle + J^T r if need_jac) over all exposures."""
    E = e_band.shape[0]
    kmax = max(tab_w.shape[1], c_w.shape[1], 1)
    jmax = e_psf.shape[1]
    C = c_ipar.shape[0]
    gtab = np.empty((C * kmax * jmax, _NCOL))
    gidx = np.empty((C * kmax * jmax, 7), dtype=np.int64)
    grow = np.empty(max(nfree, 1))
    for a in range(nfree):
        jtr[a] = 0.0
        for b in range(nfree):
            jtj[a, b] = 0.0
    chi2 = 0.0
    empty = np.empty(0)
    for e in range(E):
        ng = build_gaussians(
            p,
            e_band[e],
            e_psf[e],
            e_npsf[e],
            c_ipar,
            c_iflux,
            c_kind,
            c_K,
            c_w,
            c_s,
            tab_n,
            tab_w,
            tab_s,
            tab_dw,
            tab_ds,
            e_area[e],
            gtab,
            gidx,
        )
        i0 = e_pix[e]
        i1 = e_pix[e + 1]
        mo = model_out[i0:i1] if model_out.shape[0] > 0 else empty
        sky_val = 0.0
        sky_col = -1
        for c in range(C):
            if c_kind[c] == 3:
                isky = c_iflux[c, e_band[e]]
                sky_val += p[isky]
                sky_col = col[isky]
        chi2 += _accumulate_exposure(
            gtab,
            gidx,
            ng,
            col,
            e_sub[e],
            e_nsub[e],
            e_step[e],
            pix_u[i0:i1],
            pix_v[i0:i1],
            pix_y[i0:i1],
            pix_w[i0:i1],
            pix_c[i0:i1],
            need_jac,
            mo,
            grow,
            jtj,
            jtr,
            sky_val,
            sky_col,
        )
    if need_jac:
        for a in range(nfree):
            for b in range(a + 1, nfree):
                jtj[a, b] = jtj[b, a]
    return chi2


@njit(cache=True)
def _project(p, lo, hi, g_pairs, gmax):
    """Clip ``p`` into its bounds and keep every |g| <= gmax."""
    for i in range(p.shape[0]):
        if p[i] < lo[i]:
            p[i] = lo[i]
        elif p[i] > hi[i]:
            p[i] = hi[i]
    for q in range(g_pairs.shape[0]):
        i1 = g_pairs[q, 0]
        i2 = g_pairs[q, 1]
        g = math.sqrt(p[i1] ** 2 + p[i2] ** 2)
        if g > gmax:
            p[i1] *= gmax / g
            p[i2] *= gmax / g


@njit(cache=True)
def _prior_terms(p, free_idx, prior_mu, prior_isig, jtj, jtr):
    chi2 = 0.0
    for a in range(free_idx.shape[0]):
        i = free_idx[a]
        if prior_isig[i] > 0.0:
            d = (p[i] - prior_mu[i]) * prior_isig[i]
            chi2 += d * d
            jtj[a, a] += prior_isig[i] ** 2
            jtr[a] -= d * prior_isig[i]
    return chi2


@njit(cache=True)
def _solve_small(A, b, x):
    """Solve ``A x = b`` by Gaussian elimination with partial pivoting; False if singular.

    Written out (not ``np.linalg.solve``) so the result does not depend on
    the LAPACK build, its threads or the arrays' memory alignment: every
    process gets the same bits (the pipeline's executors are bit-identical).
    """
    n = A.shape[0]
    m = A.copy()
    r = b.copy()
    for i in range(n):
        if not math.isfinite(r[i]):
            return False
        for j in range(n):
            if not math.isfinite(m[i, j]):
                return False
    for k in range(n):
        piv = k
        big = abs(m[k, k])
        for i in range(k + 1, n):
            if abs(m[i, k]) > big:
                big = abs(m[i, k])
                piv = i
        if big == 0.0:
            return False
        if piv != k:
            for j in range(n):
                t = m[k, j]
                m[k, j] = m[piv, j]
                m[piv, j] = t
            t = r[k]
            r[k] = r[piv]
            r[piv] = t
        for i in range(k + 1, n):
            f = m[i, k] / m[k, k]
            if f != 0.0:
                for j in range(k, n):
                    m[i, j] -= f * m[k, j]
                r[i] -= f * r[k]
    for i in range(n - 1, -1, -1):
        acc = r[i]
        for j in range(i + 1, n):
            acc -= m[i, j] * x[j]
        x[i] = acc / m[i, i]
        if not math.isfinite(x[i]):
            return False
    return True


@njit(cache=True)
def _inverse_small(A, out):
    """``out = A^-1`` column by column with :func:`_solve_small`; False if singular."""
    n = A.shape[0]
    e = np.zeros(n)
    col = np.empty(n)
    for c in range(n):
        e[:] = 0.0
        e[c] = 1.0
        if not _solve_small(A, e, col):
            return False
        for i in range(n):
            out[i, c] = col[i]
    return True


@njit(cache=True)
def lm_fit(
    p0,
    free_idx,
    lo,
    hi,
    g_pairs,
    gmax,
    prior_mu,
    prior_isig,
    maxiter,
    ftol,
    c_ipar,
    c_iflux,
    c_kind,
    c_K,
    c_w,
    c_s,
    tab_n,
    tab_w,
    tab_s,
    tab_dw,
    tab_ds,
    e_band,
    e_pix,
    e_psf,
    e_npsf,
    e_sub,
    e_nsub,
    e_area,
    e_step,
    pix_u,
    pix_v,
    pix_y,
    pix_w,
    pix_c,
    p_out,
    cov_out,
    info,
):
    """Levenberg-Marquardt minimisation of chi2 (+ Gaussian priors).

    ``info`` receives ``[chi2, nfev, niter, status, lambda, chi2_data]``;
    status: 0 converged, 1 max iterations, 2 non-finite chi2, 3 singular.
    ``cov_out`` (nfree x nfree) receives the inverse of the final
    (prior-augmented) J^T J.
    """
    P = p0.shape[0]
    nfree = free_idx.shape[0]
    col = np.full(P, -1, dtype=np.int64)
    for a in range(nfree):
        col[free_idx[a]] = a
    p = p0.copy()
    _project(p, lo, hi, g_pairs, gmax)
    jtj = np.zeros((nfree, nfree))
    jtr = np.zeros(nfree)
    jtj_t = np.zeros((nfree, nfree))
    jtr_t = np.zeros(nfree)
    A = np.zeros((nfree, nfree))
    empty = np.empty(0)
    chi2d = evaluate(
        p,
        col,
        nfree,
        c_ipar,
        c_iflux,
        c_kind,
        c_K,
        c_w,
        c_s,
        tab_n,
        tab_w,
        tab_s,
        tab_dw,
        tab_ds,
        e_band,
        e_pix,
        e_psf,
        e_npsf,
        e_sub,
        e_nsub,
        e_area,
        e_step,
        pix_u,
        pix_v,
        pix_y,
        pix_w,
        pix_c,
        True,
        empty,
        jtj,
        jtr,
    )
    chi2 = chi2d + _prior_terms(p, free_idx, prior_mu, prior_isig, jtj, jtr)
    nfev = 1
    lam = 1e-3
    status = 1
    niter = 0
    if not math.isfinite(chi2):
        status = 2
    else:
        pt = p.copy()
        while niter < maxiter:
            niter += 1
            for a in range(nfree):
                for b in range(nfree):
                    A[a, b] = jtj[a, b]
                d = jtj[a, a]
                if d <= 0.0:
                    d = 1e-12
                A[a, a] = jtj[a, a] + lam * d
            dp = np.zeros(nfree)
            ok = _solve_small(A, jtr, dp)
            if ok:
                for i in range(P):
                    pt[i] = p[i]
                for a in range(nfree):
                    pt[free_idx[a]] += dp[a]
                _project(pt, lo, hi, g_pairs, gmax)
                chi2d_t = evaluate(
                    pt,
                    col,
                    nfree,
                    c_ipar,
                    c_iflux,
                    c_kind,
                    c_K,
                    c_w,
                    c_s,
                    tab_n,
                    tab_w,
                    tab_s,
                    tab_dw,
                    tab_ds,
                    e_band,
                    e_pix,
                    e_psf,
                    e_npsf,
                    e_sub,
                    e_nsub,
                    e_area,
                    e_step,
                    pix_u,
                    pix_v,
                    pix_y,
                    pix_w,
                    pix_c,
                    True,
                    empty,
                    jtj_t,
                    jtr_t,
                )
                chi2_t = chi2d_t + _prior_terms(pt, free_idx, prior_mu, prior_isig, jtj_t, jtr_t)
                nfev += 1
            else:
                chi2_t = np.inf
            if math.isfinite(chi2_t) and chi2_t <= chi2:
                dchi = chi2 - chi2_t
                for i in range(P):
                    p[i] = pt[i]
                for a in range(nfree):
                    jtr[a] = jtr_t[a]
                    for b in range(nfree):
                        jtj[a, b] = jtj_t[a, b]
                chi2 = chi2_t
                chi2d = chi2d_t
                lam = max(lam * 0.1, 1e-10)
                if dchi <= ftol * max(chi2, 1.0):
                    status = 0
                    break
            else:
                lam *= 10.0
                if lam > 1e8:
                    # no downhill step even with tiny steps: at the minimum
                    status = 0
                    break
    # covariance
    for a in range(nfree):
        for b in range(nfree):
            cov_out[a, b] = np.nan
    if status != 2:
        good = True
        for a in range(nfree):
            if not (jtj[a, a] > 0.0):
                good = False
        if good:
            # scale to unit diagonal for conditioning
            sc = np.empty(nfree)
            for a in range(nfree):
                sc[a] = 1.0 / math.sqrt(jtj[a, a])
            for a in range(nfree):
                for b in range(nfree):
                    A[a, b] = jtj[a, b] * sc[a] * sc[b]
            Ai = np.empty((nfree, nfree))
            if _inverse_small(A, Ai):
                for a in range(nfree):
                    for b in range(nfree):
                        cov_out[a, b] = Ai[a, b] * sc[a] * sc[b]
                for a in range(nfree):
                    if not (cov_out[a, a] > 0.0) or not math.isfinite(cov_out[a, a]):
                        good = False
            else:
                good = False
        if not good and status == 0:
            status = 3
        elif not good:
            status = 3
    for i in range(P):
        p_out[i] = p[i]
    info[0] = chi2
    info[1] = nfev
    info[2] = niter
    info[3] = status
    info[4] = lam
    info[5] = chi2d


@njit(cache=True, parallel=True)
def lm_fit_batch(
    p0,
    free_idx,
    lo,
    hi,
    g_pairs,
    gmax,
    prior_mu,
    prior_isig,
    maxiter,
    ftol,
    c_ipar,
    c_iflux,
    c_kind,
    c_K,
    c_w,
    c_s,
    tab_n,
    tab_w,
    tab_s,
    tab_dw,
    tab_ds,
    o_exp,
    e_band,
    e_pix,
    e_psf,
    e_npsf,
    e_sub,
    e_nsub,
    e_area,
    e_step,
    pix_u,
    pix_v,
    pix_y,
    pix_w,
    pix_c,
    p_out,
    cov_out,
    info,
    skip,
):
    """:func:`lm_fit` for many objects in parallel (same model structure).

    Object ``o`` uses exposures ``o_exp[o]:o_exp[o+1]``; ``e_pix`` holds
    global pixel offsets. ``p0``/``lo``/``hi``/``prior_*`` are (Nobj, P).
    """
    nobj = p0.shape[0]
    for o in prange(nobj):
        if skip[o]:
            continue
        e0 = o_exp[o]
        e1 = o_exp[o + 1]
        q0 = e_pix[e0]
        epix = e_pix[e0 : e1 + 1] - q0
        q1 = e_pix[e1]
        lm_fit(
            p0[o],
            free_idx,
            lo[o],
            hi[o],
            g_pairs,
            gmax,
            prior_mu[o],
            prior_isig[o],
            maxiter,
            ftol,
            c_ipar,
            c_iflux,
            c_kind,
            c_K,
            c_w,
            c_s,
            tab_n,
            tab_w,
            tab_s,
            tab_dw,
            tab_ds,
            e_band[e0:e1],
            epix,
            e_psf[e0:e1],
            e_npsf[e0:e1],
            e_sub[e0:e1],
            e_nsub[e0:e1],
            e_area[e0:e1],
            e_step[e0:e1],
            pix_u[q0:q1],
            pix_v[q0:q1],
            pix_y[q0:q1],
            pix_w[q0:q1],
            pix_c[q0:q1],
            p_out[o],
            cov_out[o],
            info[o],
        )


@njit(cache=True)
def _admom_step(s, su, sv, suu, suv, svv, u0, v0, Iuu, Iuv, Ivv, det, lim):
    """One adaptive-moment update from weighted sums (shared by both loops).

    Returns ``(ok, u0, v0, Iuu, Iuv, Ivv)``; ``ok`` is False when the
    iteration must stop (no flux, centre beyond ``lim``, non-positive moments).
    """
    if not s > 0:
        return False, u0, v0, Iuu, Iuv, Ivv
    mu = su / s
    mv = sv / s
    muu = suu / s - mu * mu
    muv = suv / s - mu * mv
    mvv = svv / s - mv * mv
    nu0 = u0 + mu
    nv0 = v0 + mv
    if abs(nu0) > lim or abs(nv0) > lim:
        return False, u0, v0, Iuu, Iuv, Ivv
    mdet = muu * mvv - muv * muv
    if not mdet > 0:
        return False, u0, v0, Iuu, Iuv, Ivv
    # deconvolve the weight: C = (M^-1 - W^-1)^-1
    a11 = mvv / mdet - Ivv / det
    a12 = -muv / mdet + Iuv / det
    a22 = muu / mdet - Iuu / det
    adet = a11 * a22 - a12 * a12
    if a11 > 0 and a22 > 0 and adet > 0:
        return True, nu0, nv0, a22 / adet, -a12 / adet, a11 / adet
    return True, nu0, nv0, 2.0 * muu, 2.0 * muv, 2.0 * mvv


@njit(cache=True)
def adaptive_moments_nb(image, weight, jac, T0, niter, out):
    """Gaussian-weighted adaptive second moments around the Jacobian origin.

    ``jac = [dudx, dudy, dvdx, dvdy, x0, y0]``. ``out`` receives
    ``[flux, u0, v0, Iuu, Iuv, Ivv, ok]`` (world coordinates; the weight is
    deconvolved from the measured moments so ``I`` estimate the object's
    own covariance).
    """
    ny, nx = image.shape
    npix = 0
    for j in range(ny):
        for i in range(nx):
            if weight[j, i] > 0:
                npix += 1
    # the good pixels in row-major order, then the packed-pixel iteration
    u = np.empty(npix)
    v = np.empty(npix)
    y = np.empty(npix)
    k = 0
    for j in range(ny):
        for i in range(nx):
            if weight[j, i] > 0:
                x = i - jac[4]
                yy = j - jac[5]
                u[k] = jac[0] * x + jac[1] * yy
                v[k] = jac[2] * x + jac[3] * yy
                y[k] = image[j, i]
                k += 1
    lim = 0.25 * min(nx, ny) * math.sqrt(abs(jac[0] * jac[3] - jac[1] * jac[2]))
    _moments_packed(u, v, y, T0, lim, niter, out)


@njit(cache=True)
def _moments_packed(u, v, y, T0, lim, niter, out):
    """:func:`adaptive_moments_nb` on a packed list of good pixels (world coordinates)."""
    npix = u.shape[0]
    flux = 0.0
    for i in range(npix):
        flux += y[i]
    Iuu = 0.5 * T0
    Iuv = 0.0
    Ivv = 0.5 * T0
    u0 = 0.0
    v0 = 0.0
    ok = 0.0
    for _ in range(niter):
        det = Iuu * Ivv - Iuv * Iuv
        if not det > 0:
            break
        s = 0.0
        su = 0.0
        sv = 0.0
        suu = 0.0
        suv = 0.0
        svv = 0.0
        for i in range(npix):
            du = u[i] - u0
            dv = v[i] - v0
            chi = (Ivv * du * du - 2.0 * Iuv * du * dv + Iuu * dv * dv) / det
            if chi > 100.0:
                continue
            w = math.exp(-0.5 * chi) * y[i]
            s += w
            su += w * du
            sv += w * dv
            suu += w * du * du
            suv += w * du * dv
            svv += w * dv * dv
        good, u0, v0, Iuu, Iuv, Ivv = _admom_step(
            s, su, sv, suu, suv, svv, u0, v0, Iuu, Iuv, Ivv, det, lim
        )
        if not good:
            break
        ok = 1.0
    out[0] = flux
    out[1] = u0
    out[2] = v0
    out[3] = Iuu
    out[4] = Iuv
    out[5] = Ivv
    out[6] = ok


@njit(cache=True, parallel=True)
def moments_batch(e_pix, pix_u, pix_v, pix_y, exps, T0, lim, niter, out):
    """Adaptive moments of exposures ``exps`` (packed pixels) in parallel; -1 = skip."""
    for k in prange(exps.shape[0]):
        e = exps[k]
        if e < 0:
            continue
        i0 = e_pix[e]
        i1 = e_pix[e + 1]
        _moments_packed(pix_u[i0:i1], pix_v[i0:i1], pix_y[i0:i1], T0[k], lim[k], niter, out[k])
