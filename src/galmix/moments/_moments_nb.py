"""Numba kernels for Gaussian-weighted moments on plain float64 arrays.

All kernels work in world coordinates ``(u, v)`` given by a Jacobian array
``jac = [dudx, dudy, dvdx, dvdy, x0, y0]`` (see ``Jacobian.as_array``) and
skip pixels whose inverse-variance weight is not positive.

Result layout of :func:`weighted_moments` (``out`` of length ``NOUT``)::

    0 flags   1 flux   2 flux_err  3 T       4 T_err   5 e1     6 e2
    7 e1_err  8 e2_err 9 s2n      10 du     11 dv     12 Muu   13 Muv
   14 Mvv    15 sum_wI 16 npix

``Muu, Muv, Mvv`` are the weighted second moments about the weight centre
(normalised by ``sum_wI``), ``T = Muu + Mvv``, ``e1 = (Muu - Mvv)/T``,
``e2 = 2 Muv/T``; ``du, dv`` the weighted centroid offset from the weight
centre.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

NOUT = 17

# flag bits (values of galmix.errors.FLAGS, duplicated as plain ints for numba)
_NO_FLUX = 1 << 0
_NONPOSITIVE_MOMENTS = 1 << 1
_NO_WEIGHT = 1 << 9


@njit(cache=True)
def weighted_moments(image, weight, jac, uc, vc, wuu, wuv, wvv, out):
    """Moments with the Gaussian weight ``exp(-0.5 d^T W^{-1} d)``, ``d = (u-uc, v-vc)``.

    ``W = [[wuu, wuv], [wuv, wvv]]`` is the weight covariance (arcsec^2).
    Fills ``out`` (see the module docstring) and returns nothing.
    """
    for i in range(out.shape[0]):
        out[i] = 0.0
    det = wuu * wvv - wuv * wuv
    if not (det > 0.0) or not (wuu > 0.0):
        out[0] = _NONPOSITIVE_MOMENTS
        return
    iuu = wvv / det
    iuv = -wuv / det
    ivv = wuu / det
    dudx, dudy, dvdx, dvdy, x0, y0 = jac[0], jac[1], jac[2], jac[3], jac[4], jac[5]
    ny, nx = image.shape
    s_w = 0.0
    s_w2 = 0.0
    s_wi = 0.0
    s_u = 0.0
    s_v = 0.0
    s_uu = 0.0
    s_uv = 0.0
    s_vv = 0.0
    s_w2var = 0.0
    npix = 0
    for iy in range(ny):
        yy = iy - y0
        for ix in range(nx):
            wt = weight[iy, ix]
            if wt <= 0.0:
                continue
            xx = ix - x0
            du = dudx * xx + dudy * yy - uc
            dv = dvdx * xx + dvdy * yy - vc
            chi2 = iuu * du * du + 2.0 * iuv * du * dv + ivv * dv * dv
            if chi2 > 100.0:
                continue
            w = math.exp(-0.5 * chi2)
            wi = w * image[iy, ix]
            s_w += w
            s_w2 += w * w
            s_wi += wi
            s_u += wi * du
            s_v += wi * dv
            s_uu += wi * du * du
            s_uv += wi * du * dv
            s_vv += wi * dv * dv
            s_w2var += w * w / wt
            npix += 1
    out[15] = s_wi
    out[16] = npix
    if npix == 0 or s_w2 <= 0.0:
        out[0] = _NO_WEIGHT
        return
    norm = s_w / s_w2
    out[1] = s_wi * norm
    out[2] = math.sqrt(s_w2var) * norm
    if s_w2var > 0.0:
        out[9] = s_wi / math.sqrt(s_w2var)
    if not (s_wi > 0.0):
        out[0] = _NO_FLUX
        return
    muu = s_uu / s_wi
    muv = s_uv / s_wi
    mvv = s_vv / s_wi
    t = muu + mvv
    out[10] = s_u / s_wi
    out[11] = s_v / s_wi
    out[12] = muu
    out[13] = muv
    out[14] = mvv
    out[3] = t
    if not (t > 0.0) or muu * mvv - muv * muv <= 0.0:
        out[0] = _NONPOSITIVE_MOMENTS
        return
    e1 = (muu - mvv) / t
    e2 = 2.0 * muv / t
    out[5] = e1
    out[6] = e2
    # linear error propagation, second pass
    v_t = 0.0
    v_e1 = 0.0
    v_e2 = 0.0
    for iy in range(ny):
        yy = iy - y0
        for ix in range(nx):
            wt = weight[iy, ix]
            if wt <= 0.0:
                continue
            xx = ix - x0
            du = dudx * xx + dudy * yy - uc
            dv = dvdx * xx + dvdy * yy - vc
            chi2 = iuu * du * du + 2.0 * iuv * du * dv + ivv * dv * dv
            if chi2 > 100.0:
                continue
            w = math.exp(-0.5 * chi2)
            var = 1.0 / wt
            r2 = du * du + dv * dv
            a = r2 - t
            b = du * du - dv * dv - e1 * r2
            c = 2.0 * du * dv - e2 * r2
            w2v = w * w * var
            v_t += w2v * a * a
            v_e1 += w2v * b * b
            v_e2 += w2v * c * c
    out[4] = math.sqrt(v_t) / s_wi
    out[7] = math.sqrt(v_e1) / (t * s_wi)
    out[8] = math.sqrt(v_e2) / (t * s_wi)


@njit(cache=True)
def adaptive_moments(image, weight, jac, uc, vc, wuu, wuv, wvv, maxiter, tol, out, state):
    """Iterated elliptical-Gaussian-weight moments (adaptive moments).

    Starting from the weight ``(uc, vc, W)``, each iteration measures the
    weighted moments ``M`` and centroid shift ``dm`` and sets the new weight
    to the Gaussian that would produce them exactly,
    ``C = (M^{-1} - W^{-1})^{-1}`` and centre ``+ C M^{-1} dm`` (falling
    back to ``W = 2M``, centre ``+ 2 dm`` when ``C`` is not positive
    definite). Converged when the weight's ``T``, ``e`` and centre change by
    less than ``tol`` (relative to ``sqrt(T)`` for the centre).

    ``out`` gets the last weighted moments (layout of
    :func:`weighted_moments`); ``state`` (length 8) gets
    ``[uc, vc, Cuu, Cuv, Cvv, niter, converged, fallback_steps]``.
    """
    converged = 0
    nfall = 0
    it = 0
    for it in range(1, maxiter + 1):
        weighted_moments(image, weight, jac, uc, vc, wuu, wuv, wvv, out)
        if out[0] != 0.0:
            break
        muu, muv, mvv = out[12], out[13], out[14]
        # moments relative to the weighted centroid
        du, dv = out[10], out[11]
        muu_c = muu - du * du
        muv_c = muv - du * dv
        mvv_c = mvv - dv * dv
        mdet = muu_c * mvv_c - muv_c * muv_c
        if not (mdet > 0.0):
            out[0] = _NONPOSITIVE_MOMENTS
            break
        wdet = wuu * wvv - wuv * wuv
        # inverse matrices
        miuu, miuv, mivv = mvv_c / mdet, -muv_c / mdet, muu_c / mdet
        wiuu, wiuv, wivv = wvv / wdet, -wuv / wdet, wuu / wdet
        puu, puv, pvv = miuu - wiuu, miuv - wiuv, mivv - wivv
        pdet = puu * pvv - puv * puv
        if it <= 8 and pdet > 0.0 and puu > 0.0:
            cuu, cuv, cvv = pvv / pdet, -puv / pdet, puu / pdet
            # centre shift: C M^{-1} dm
            a0 = miuu * du + miuv * dv
            a1 = miuv * du + mivv * dv
            su = cuu * a0 + cuv * a1
            sv = cuv * a0 + cvv * a1
        else:
            cuu, cuv, cvv = 2.0 * muu_c, 2.0 * muv_c, 2.0 * mvv_c
            su = 2.0 * du
            sv = 2.0 * dv
            nfall += 1
        t_old = wuu + wvv
        t_new = cuu + cvv
        e1o = (wuu - wvv) / t_old
        e2o = 2.0 * wuv / t_old
        e1n = (cuu - cvv) / t_new
        e2n = 2.0 * cuv / t_new
        uc += su
        vc += sv
        wuu, wuv, wvv = cuu, cuv, cvv
        if (
            abs(t_new - t_old) < tol * t_old
            and abs(e1n - e1o) < tol
            and abs(e2n - e2o) < tol
            and su * su + sv * sv < tol * tol * t_new
        ):
            converged = 1
            weighted_moments(image, weight, jac, uc, vc, wuu, wuv, wvv, out)
            break
    state[0] = uc
    state[1] = vc
    state[2] = wuu
    state[3] = wuv
    state[4] = wvv
    state[5] = it
    state[6] = converged
    state[7] = nfall


@njit(cache=True)
def gauss_moments_many(images, weights, jac, uc, vc, wuu, wuv, wvv, out):
    """:func:`weighted_moments` for a stack ``images[n, ny, nx]`` (same Jacobian)."""
    tmp = np.empty(NOUT)
    for i in range(images.shape[0]):
        weighted_moments(images[i], weights[i], jac, uc, vc, wuu, wuv, wvv, tmp)
        for j in range(NOUT):
            out[i, j] = tmp[j]
