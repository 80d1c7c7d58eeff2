"""Numba kernel: elliptical-aperture sums with SExtractor's neighbour correction.

Plain float64/int arrays only (no objects). Pixels of other objects
(segmentation label neither 0 nor the object's id) and bad pixels inside the
aperture are replaced by the pixel symmetric through the object's centre
(SExtractor ``MASK_TYPE CORRECT``); when that pixel is itself bad, outside
the image or another object's, the pixel contributes nothing. Pixels cut by
the aperture boundary are weighted by their covered fraction, estimated on
an ``nsub x nsub`` sub-grid (exact weight 1 or 0 for pixels entirely in or
out).
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit, prange

# status bits returned per aperture (mapped to galmix FLAGS by the caller)
STATUS_TRUNCATED = 1  # aperture extends beyond the image
STATUS_CORRECTED = 2  # pixels of other objects were replaced/dropped
STATUS_BAD = 4  # bad (masked) pixels were replaced/dropped
STATUS_EMPTY = 8  # no usable pixel


@njit(cache=True, parallel=True)
def ellipse_sums(
    data, var, seg, bad, x, y, cxx, cyy, cxy, rmax, ids, use_seg, gain, nsub, flux, fvar, status
):
    """Sum ``data`` and ``var`` in ellipses ``cxx dx^2 + cyy dy^2 + cxy dx dy <= 1``.

    Parameters are plain arrays: ``data``, ``var`` float64 (ny, nx); ``seg``
    int32 (ny, nx); ``bad`` uint8 (ny, nx); per object ``x``, ``y``,
    ``cxx``, ``cyy``, ``cxy`` (ellipse coefficients), ``rmax`` (bounding
    semi-axis in pixels), ``ids`` (segmentation label); ``use_seg`` 0/1;
    ``gain`` (<= 0: no Poisson term); ``nsub`` sub-grid size. Results are
    written into ``flux``, ``fvar`` (variance) and ``status``.
    """
    ny, nx = data.shape
    n = x.shape[0]
    step = 1.0 / nsub
    for k in prange(n):
        xc = x[k]
        yc = y[k]
        r = rmax[k]
        i0 = math.floor(xc - r - 0.5)
        i1 = math.ceil(xc + r + 0.5)
        j0 = math.floor(yc - r - 0.5)
        j1 = math.ceil(yc + r + 0.5)
        st = 0
        if i0 < 0 or j0 < 0 or i1 > nx - 1 or j1 > ny - 1:
            st |= STATUS_TRUNCATED
        i0 = max(i0, 0)
        j0 = max(j0, 0)
        i1 = min(i1, nx - 1)
        j1 = min(j1, ny - 1)
        a_xx = cxx[k]
        a_yy = cyy[k]
        a_xy = cxy[k]
        # half-diagonal of a pixel in ellipse-normalised units bounds the
        # boundary band where partial coverage must be computed
        s = math.sqrt(max(a_xx, a_yy) + 0.5 * abs(a_xy))
        band = 0.75 * s
        oid = ids[k]
        tot = 0.0
        tvar = 0.0
        used = 0.0
        for j in range(j0, j1 + 1):
            dy = j - yc
            for i in range(i0, i1 + 1):
                dx = i - xc
                r2 = a_xx * dx * dx + a_yy * dy * dy + a_xy * dx * dy
                rr = math.sqrt(r2) if r2 > 0 else 0.0
                if rr - band >= 1.0:
                    continue
                if rr + band <= 1.0:
                    w = 1.0
                else:
                    cnt = 0
                    for sj in range(nsub):
                        ddy = dy + (sj + 0.5) * step - 0.5
                        for si in range(nsub):
                            ddx = dx + (si + 0.5) * step - 0.5
                            if a_xx * ddx * ddx + a_yy * ddy * ddy + a_xy * ddx * ddy <= 1.0:
                                cnt += 1
                    w = cnt / (nsub * nsub)
                    if w == 0.0:
                        continue
                pi = i
                pj = j
                replace = False
                if bad[j, i]:
                    st |= STATUS_BAD
                    replace = True
                elif use_seg and seg[j, i] != 0 and seg[j, i] != oid:
                    st |= STATUS_CORRECTED
                    replace = True
                if replace:
                    # symmetric pixel through the centre
                    pi = math.floor(2.0 * xc - i + 0.5)
                    pj = math.floor(2.0 * yc - j + 0.5)
                    if pi < 0 or pj < 0 or pi > nx - 1 or pj > ny - 1:
                        continue
                    if bad[pj, pi]:
                        continue
                    if use_seg and seg[pj, pi] != 0 and seg[pj, pi] != oid:
                        continue
                v = data[pj, pi]
                tot += w * v
                tvar += w * var[pj, pi]
                used += w
        if used == 0.0:
            st |= STATUS_EMPTY
        if gain > 0.0 and tot > 0.0:
            tvar += tot / gain
        flux[k] = tot
        fvar[k] = tvar
        status[k] = st


def ellipse_coefficients(a: np.ndarray, b: np.ndarray, theta: np.ndarray, scale: np.ndarray):
    """``cxx, cyy, cxy`` of the ellipse with semi-axes ``a*scale``, ``b*scale``."""
    A = a * scale
    B = b * scale
    c = np.cos(theta)
    s = np.sin(theta)
    cxx = c * c / (A * A) + s * s / (B * B)
    cyy = s * s / (A * A) + c * c / (B * B)
    cxy = 2.0 * c * s * (1.0 / (A * A) - 1.0 / (B * B))
    return cxx, cyy, cxy


@njit(cache=True, parallel=True)
def windowed_centroids(data, seg, bad, x, y, sig, ids, use_seg, maxiter, xout, yout, niter):
    """SExtractor's ``XWIN``/``YWIN``: iterated Gaussian-windowed centroids.

    ``x_{k+1} = x_k + 2 sum(w I (x - x_k)) / sum(w I)`` with
    ``w = exp(-r^2 / (2 sig^2))`` over pixels within ``4 sig``; neighbours'
    and bad pixels replaced by their mirror image through the current
    centre (dropped when that is unusable too). Stops when the step is below
    1e-4 pixel or after ``maxiter`` iterations; a non-positive windowed flux
    leaves the starting position.
    """
    ny, nx = data.shape
    n = x.shape[0]
    for k in prange(n):
        xc = x[k]
        yc = y[k]
        s = sig[k]
        inv2s2 = 0.5 / (s * s)
        rmax = 4.0 * s
        r2max = rmax * rmax
        oid = ids[k]
        used = 0
        for _ in range(maxiter):
            used += 1
            i0 = max(math.floor(xc - rmax), 0)
            i1 = min(math.ceil(xc + rmax), nx - 1)
            j0 = max(math.floor(yc - rmax), 0)
            j1 = min(math.ceil(yc + rmax), ny - 1)
            sw = 0.0
            swx = 0.0
            swy = 0.0
            for j in range(j0, j1 + 1):
                dy = j - yc
                for i in range(i0, i1 + 1):
                    dx = i - xc
                    d2 = dx * dx + dy * dy
                    if d2 > r2max:
                        continue
                    pi = i
                    pj = j
                    if bad[j, i] or (use_seg and seg[j, i] != 0 and seg[j, i] != oid):
                        pi = math.floor(2.0 * xc - i + 0.5)
                        pj = math.floor(2.0 * yc - j + 0.5)
                        if pi < 0 or pj < 0 or pi > nx - 1 or pj > ny - 1:
                            continue
                        if bad[pj, pi] or (use_seg and seg[pj, pi] != 0 and seg[pj, pi] != oid):
                            continue
                    wv = math.exp(-d2 * inv2s2) * data[pj, pi]
                    sw += wv
                    swx += wv * dx
                    swy += wv * dy
            if sw <= 0.0:
                break
            stepx = 2.0 * swx / sw
            stepy = 2.0 * swy / sw
            xc += stepx
            yc += stepy
            if stepx * stepx + stepy * stepy < 1e-8:
                break
        xout[k] = xc
        yout[k] = yc
        niter[k] = used


@njit(cache=True, parallel=True)
def half_flux_radii(data, seg, bad, x, y, rmax, norm, ids, use_seg, frac, nsub, nbins, out):
    """Radius of the circle holding ``frac`` of ``norm`` (SExtractor ``FLUX_RADIUS``).

    The growth curve is accumulated in ``nbins`` radial bins out to ``rmax``
    on an ``nsub x nsub`` sub-pixel grid, with neighbours' and bad pixels
    replaced by their mirror image through the centre (dropped when that is
    unusable too), and interpolated linearly. NaN when the target is not
    reached or ``norm <= 0``.
    """
    ny, nx = data.shape
    n = x.shape[0]
    step = 1.0 / nsub
    for k in prange(n):
        out[k] = np.nan
        target = frac * norm[k]
        if not (target > 0.0):
            continue
        xc = x[k]
        yc = y[k]
        r = rmax[k]
        dr = r / nbins
        hist = np.zeros(nbins + 1)
        oid = ids[k]
        i0 = max(math.floor(xc - r - 1.0), 0)
        i1 = min(math.ceil(xc + r + 1.0), nx - 1)
        j0 = max(math.floor(yc - r - 1.0), 0)
        j1 = min(math.ceil(yc + r + 1.0), ny - 1)
        for j in range(j0, j1 + 1):
            for i in range(i0, i1 + 1):
                pi = i
                pj = j
                if bad[j, i] or (use_seg and seg[j, i] != 0 and seg[j, i] != oid):
                    pi = math.floor(2.0 * xc - i + 0.5)
                    pj = math.floor(2.0 * yc - j + 0.5)
                    if pi < 0 or pj < 0 or pi > nx - 1 or pj > ny - 1:
                        continue
                    if bad[pj, pi] or (use_seg and seg[pj, pi] != 0 and seg[pj, pi] != oid):
                        continue
                v = data[pj, pi] / (nsub * nsub)
                for sj in range(nsub):
                    ddy = j - yc + (sj + 0.5) * step - 0.5
                    for si in range(nsub):
                        ddx = i - xc + (si + 0.5) * step - 0.5
                        rr = math.sqrt(ddx * ddx + ddy * ddy)
                        b = int(rr / dr)
                        if b < nbins:
                            hist[b] += v
        cum = 0.0
        for b in range(nbins):
            new = cum + hist[b]
            if new >= target:
                f = (target - cum) / hist[b] if hist[b] > 0 else 0.0
                out[k] = (b + f) * dr
                break
            cum = new
