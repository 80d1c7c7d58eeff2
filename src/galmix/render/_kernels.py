"""Numba kernels that render Gaussian mixtures onto pixel grids.

All kernels work on plain float64 arrays and trust their inputs (validation
is done by :mod:`galmix.render.draw`). Other subpackages may call them:

``gmix`` : (K, 6) array, rows ``[flux, u0, v0, Iuu, Iuv, Ivv]`` in world
    coordinates (arcsec, arcsec^2).
``jac`` : (6,) array ``[dudx, dudy, dvdx, dvdy, x0, y0]`` (see
    ``Jacobian.as_array``): ``u = dudx (x - x0) + dudy (y - y0)``, ...
``pixel`` : (3,) array ``[dx, dy, side]``: the sensitive square of side
    ``side`` (pixel units) centred ``(dx, dy)`` from each pixel centre
    (``PixelResponse.as_array``; ``[0, 0, 1]`` is the full pixel).
``image`` : 2-d float64 array ``[y, x]``; it may be a window (view) of a
    larger image whose pixel ``[0, 0]`` has global coordinates
    ``(xoff, yoff)``. Kernels ADD to ``image``.

Public kernels
--------------
``to_pixel_components(gmix, jac) -> (K, 6)``
    Components in pixel coordinates: ``[flux, x, y, Sxx, Sxy, Syy]``
    (flux unchanged; the density integrates to ``flux`` over pixel area).
``add_nopix(gmix, jac, image, xoff, yoff)``
    Surface brightness at pixel centres times pixel area ("no_pixel").
``add_pix(gmix, jac, pixel, image, xoff, yoff)``
    Integral over each pixel's sensitive area ("auto"). Components whose
    smallest axis is >= 1.0 pixel: Edgeworth expansion of the pixel box
    to 6th order (error < 4e-6 of the component's peak, 1.4e-7 at 1.5 px). Narrower ones:
    analytic (erf) along x of the conditional Gaussian at fixed y, adaptive
    Gauss-Legendre quadrature along y (the axes swap when that is cheaper),
    error < 1e-9 of the flux.
``add_batch(gmixes, ncomp, jacs, pixel, images, method)``
    Many stamps at once (``prange`` over objects); ``method`` 0 = no_pixel,
    1 = pixel-integrated. ``gmixes`` is (N, Kmax, 6), ``ncomp`` (N,) int64.
``eval_point(gmix, u, v)``
    Surface brightness (flux per arcsec^2) at one world position.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit, prange

# chi^2 beyond which a Gaussian is treated as zero (exp(-0.5*72) ~ 2e-16)
CHI2_CUT = 72.0
# half-extent in sigma of the quadrature domain (tail mass < 1e-16)
NSIG = 8.5
# components wider than this (pixels, smallest axis) use the Edgeworth path
EDGE_SIGMA = 1.0
# maximum number of quadrature sub-intervals per row
MAX_SUB = 24
# minimum pixel-space variance (px^2) so point sources stay finite
VAR_FLOOR = 1e-14


def _gl_table(nmax: int) -> tuple[np.ndarray, np.ndarray]:
    nodes = np.zeros((nmax + 1, nmax))
    weights = np.zeros((nmax + 1, nmax))
    for n in range(1, nmax + 1):
        x, w = np.polynomial.legendre.leggauss(n)
        nodes[n, :n] = x
        weights[n, :n] = w
    return nodes, weights


GL_NODES, GL_WEIGHTS = _gl_table(12)


@njit(cache=True)
def to_pixel_components(gmix, jac):
    """Mixture in pixel coordinates: rows ``[flux, x, y, Sxx, Sxy, Syy]``."""
    a, b, c, d, x0, y0 = jac[0], jac[1], jac[2], jac[3], jac[4], jac[5]
    det = a * d - b * c
    # inverse matrix (world -> pixel offsets)
    ia, ib, ic, id_ = d / det, -b / det, -c / det, a / det
    k = gmix.shape[0]
    out = np.empty((k, 6))
    for i in range(k):
        u, v = gmix[i, 1], gmix[i, 2]
        cuu, cuv, cvv = gmix[i, 3], gmix[i, 4], gmix[i, 5]
        out[i, 0] = gmix[i, 0]
        out[i, 1] = ia * u + ib * v + x0
        out[i, 2] = ic * u + id_ * v + y0
        r00 = ia * cuu + ib * cuv
        r01 = ia * cuv + ib * cvv
        r10 = ic * cuu + id_ * cuv
        r11 = ic * cuv + id_ * cvv
        out[i, 3] = r00 * ia + r01 * ib
        out[i, 4] = r00 * ic + r01 * id_
        out[i, 5] = r10 * ic + r11 * id_
    return out


@njit(cache=True)
def eval_point(gmix, u, v):
    """Surface brightness of ``gmix`` at world ``(u, v)`` (flux per arcsec^2)."""
    total = 0.0
    for i in range(gmix.shape[0]):
        cuu, cuv, cvv = gmix[i, 3], gmix[i, 4], gmix[i, 5]
        det = cuu * cvv - cuv * cuv
        if det <= 0.0:
            continue
        du = u - gmix[i, 1]
        dv = v - gmix[i, 2]
        chi2 = (cvv * du * du - 2.0 * cuv * du * dv + cuu * dv * dv) / det
        total += gmix[i, 0] * math.exp(-0.5 * chi2) / (2.0 * math.pi * math.sqrt(det))
    return total


@njit(cache=True, inline="always")
def _chain_row(buf, npx, val, r, q):
    """Add to ``buf[m]`` the Gaussian along a row, m < npx.

    ``val`` is the value at the first pixel and ``r`` the ratio to the next
    one; along a row ``v(x+1) = v(x) r(x)`` and ``r(x+1) = r(x) q``. Four
    independent multiply chains of stride 4 break the latency chain:
    ``v(x+4) = v(x) R(x)``, ``R(x+4) = R(x) q^16``, ``R(x) = r(x)^4 q^6``
    with ``r(x) = v(x+1)/v(x)``.
    """
    m0 = 0
    if npx >= 8:
        q2 = q * q
        q4 = q2 * q2
        q6 = q4 * q2
        q16 = q4 * q4 * q4 * q4
        r0 = r
        r1 = r0 * q
        r2 = r1 * q
        r3 = r2 * q
        v0 = val
        v1 = v0 * r0
        v2 = v1 * r1
        v3 = v2 * r2
        r0_2 = r0 * r0
        r1_2 = r1 * r1
        r2_2 = r2 * r2
        r3_2 = r3 * r3
        R0 = r0_2 * r0_2 * q6
        R1 = r1_2 * r1_2 * q6
        R2 = r2_2 * r2_2 * q6
        R3 = r3_2 * r3_2 * q6
        nblk = npx // 4
        for b in range(nblk):
            mb = 4 * b
            buf[mb] += v0
            buf[mb + 1] += v1
            buf[mb + 2] += v2
            buf[mb + 3] += v3
            v0 *= R0
            v1 *= R1
            v2 *= R2
            v3 *= R3
            R0 *= q16
            R1 *= q16
            R2 *= q16
            R3 *= q16
        m0 = 4 * nblk
        val = v0
        r = r0 * q4**nblk
    for m in range(m0, npx):
        buf[m] += val
        val *= r
        r *= q


@njit(cache=True, inline="always")
def _row_state(rec, xs, ys, val, r, sy, i0, j, dx, dy, norm, ixx, ixy, iyy, rq):
    """Value, x-ratio and y-ratio of a Gaussian at pixel ``(i0, j)`` (offsets ``dx, dy``).

    Advanced from the previous row's state at ``(xs, ys)`` by multiplication
    when ``rec`` (``r(x, y+1) = r e^-ixy``, ``r(x+1, y) = r q``,
    ``sy(x, y+1) = sy e^-iyy``, ``sy(x+1, y) = sy e^-ixy``; ``rq`` holds
    ``q, 1/q, e^-ixy, e^ixy, e^-iyy``), otherwise (first row, far jumps,
    extreme ellipses) from three ``exp``. Row-to-row drift is a few ulp per
    row; a row then costs no ``exp`` at all.
    """
    if not rec or j - ys > 4 or abs(i0 - xs) > 8:
        val = norm * math.exp(-0.5 * (ixx * dx * dx + 2.0 * ixy * dx * dy + iyy * dy * dy))
        r = math.exp(-0.5 * (ixx * (2.0 * dx + 1.0) + 2.0 * ixy * dy))
        sy = math.exp(-0.5 * (iyy * (2.0 * dy + 1.0) + 2.0 * ixy * dx))
        return i0, j, val, r, sy
    q, qinv, e_xy, e_xy_inv, e_yy = rq
    while ys < j:
        val *= sy
        r *= e_xy
        sy *= e_yy
        ys += 1
    while xs < i0:
        val *= r
        sy *= e_xy
        r *= q
        xs += 1
    while xs > i0:
        r *= qinv
        val /= r
        sy *= e_xy_inv
        xs -= 1
    return xs, ys, val, r, sy


@njit(cache=True, inline="always")
def _row_consts(ixx, ixy, iyy):
    """Constants of :func:`_row_state`, and whether its recurrence is safe here."""
    q = math.exp(-ixx)
    rec = ixx <= 1.0 and abs(ixy) < 30.0 and iyy < 60.0
    if not rec:
        return False, (q, 1.0, 1.0, 1.0, 1.0)
    e_xy = math.exp(-ixy)
    return True, (q, 1.0 / q, e_xy, 1.0 / e_xy, math.exp(-iyy))


@njit(cache=True, inline="always")
def _row_range(my, syy, yoff, ny):
    """Rows ``j0..j1`` where the minimum over x of chi^2 is below :data:`CHI2_CUT`."""
    hy = math.sqrt(CHI2_CUT * syy)
    return max(0, math.ceil(my - hy - yoff)), min(ny - 1, math.floor(my + hy - yoff))


@njit(cache=True, inline="always")
def _row_span(dy, mx, ixx, ixy, iyy, xoff, nx):
    """Columns ``i0..i1`` of a row (offset ``dy``) inside the chi^2 < cut ellipse.

    ``chi2(dx) = ixx dx^2 + 2 ixy dx dy + iyy dy^2``; ``i1 < i0`` when empty.
    """
    disc = ixy * ixy * dy * dy - ixx * (iyy * dy * dy - CHI2_CUT)
    if disc < 0.0:
        return 1, 0
    sq = math.sqrt(disc)
    dxc = -ixy * dy / ixx
    i0 = max(0, math.ceil(mx + dxc - sq / ixx - xoff))
    i1 = min(nx - 1, math.floor(mx + dxc + sq / ixx - xoff))
    return i0, i1


@njit(cache=True)
def _add_component_nopix(f, mx, my, sxx, sxy, syy, image, xoff, yoff):
    ny, nx = image.shape
    det = sxx * syy - sxy * sxy
    if det <= 0.0 or f == 0.0:
        return 0
    ixx = syy / det
    ixy = -sxy / det
    iyy = sxx / det
    norm = f / (2.0 * math.pi * math.sqrt(det))
    j0, j1 = _row_range(my, syy, yoff, ny)
    rec, rq = _row_consts(ixx, ixy, iyy)
    q = rq[0]
    have = False
    xs = ys = 0
    val = r = sy = 0.0
    nev = 0
    for j in range(j0, j1 + 1):
        dy = j + yoff - my
        i0, i1 = _row_span(dy, mx, ixx, ixy, iyy, xoff, nx)
        if i1 < i0:
            continue
        if ixx <= 1.0:
            dx = i0 + xoff - mx
            xs, ys, val, r, sy = _row_state(
                rec and have, xs, ys, val, r, sy, i0, j, dx, dy, norm, ixx, ixy, iyy, rq
            )
            have = True
            _chain_row(image[j, i0 : i1 + 1], i1 - i0 + 1, val, r, q)
        else:
            for i in range(i0, i1 + 1):
                dxi = i + xoff - mx
                image[j, i] += norm * math.exp(
                    -0.5 * (ixx * dxi * dxi + 2.0 * ixy * dxi * dy + iyy * dy * dy)
                )
        nev += i1 - i0 + 1
    return nev


@njit(cache=True)
def add_nopix(gmix, jac, image, xoff, yoff):
    """Add ``gmix`` sampled at pixel centres (times pixel area) to ``image``.

    Returns the number of Gaussian evaluations done.
    """
    pc = to_pixel_components(gmix, jac)
    nev = 0
    for k in range(pc.shape[0]):
        nev += _add_component_nopix(
            pc[k, 0], pc[k, 1], pc[k, 2], pc[k, 3], pc[k, 4], pc[k, 5], image, xoff, yoff
        )
    return nev


@njit(cache=True)
def _nodes_for(ratio):
    # Gauss-Legendre order for an interval of length `ratio` * (smallest
    # scale of the integrand); worst-case error < 3e-10 of the component flux
    if ratio <= 0.3:
        return 3
    if ratio <= 0.5:
        return 4
    if ratio <= 1.0:
        return 5
    if ratio <= 1.5:
        return 6
    return 7


@njit(cache=True)
def _add_component_edgeworth(f, mx, my, sxx, sxy, syy, pdx, pdy, side, image, xoff, yoff):
    """Pixel integral of a wide Gaussian by an Edgeworth expansion of the pixel box.

    The box (side ``s``) has cumulants ``k2 = s^2/12``, ``k4 = -s^4/120``,
    ``k6 = s^6/252``; so box * N(S) = [1 + k4/24 (d_x^4 + d_y^4)
    + k6/720 (d_x^6 + d_y^6)] N(S + k2 I) + O(s^8 / sigma^8). For
    sigma_min >= EDGE_SIGMA pixels the neglected terms are < 4e-6 of the peak (1.4e-7 at 1.5 px, 1e-9 at 3 px).
    """
    n_rows, n_cols = image.shape
    if f == 0.0:
        return 0
    k2 = side * side / 12.0
    c4 = -(side**4) / 120.0 / 24.0
    c6 = side**6 / 252.0 / 720.0
    axx = sxx + k2
    ayy = syy + k2
    axy = sxy
    det = axx * ayy - axy * axy
    pxx = ayy / det
    pxy = -axy / det
    pyy = axx / det
    norm = f * side * side / (2.0 * math.pi * math.sqrt(det))
    # sensitive-area centre of pixel (i, j) is (i + pdx, j + pdy)
    cx = mx - pdx
    cy = my - pdy
    j0, j1 = _row_range(cy, ayy, yoff, n_rows)
    pxx2 = pxx * pxx
    pyy2 = pyy * pyy
    pxx3 = pxx2 * pxx
    pyy3 = pyy2 * pyy
    buf = np.empty(n_cols)
    rec, rq = _row_consts(pxx, pxy, pyy)
    qx = rq[0]
    have = False
    xs = ys = 0
    val = r = sy = 0.0
    nev = 0
    for j in range(j0, j1 + 1):
        dy = j + yoff - cy
        i0, i1 = _row_span(dy, cx, pxx, pxy, pyy, xoff, n_cols)
        if i1 < i0:
            continue
        dx = i0 + xoff - cx
        npx = i1 - i0 + 1
        xs, ys, val, r, sy = _row_state(
            rec and have, xs, ys, val, r, sy, i0, j, dx, dy, norm, pxx, pxy, pyy, rq
        )
        have = True
        buf[:npx] = 0.0
        _chain_row(buf, npx, val, r, qx)
        # the polynomial factor: a = P d is linear along the row, so this
        # loop has no carried dependency and vectorises
        ax0 = pxx * dx + pxy * dy
        ay0 = pxy * dx + pyy * dy
        for m in range(npx):
            ax = ax0 + pxx * m
            ay = ay0 + pxy * m
            ax2 = ax * ax
            ay2 = ay * ay
            h4 = ax2 * ax2 - 6.0 * ax2 * pxx + 3.0 * pxx2 + ay2 * ay2 - 6.0 * ay2 * pyy + 3.0 * pyy2
            h6 = (
                ax2 * ax2 * ax2
                - 15.0 * ax2 * ax2 * pxx
                + 45.0 * ax2 * pxx2
                - 15.0 * pxx3
                + ay2 * ay2 * ay2
                - 15.0 * ay2 * ay2 * pyy
                + 45.0 * ay2 * pyy2
                - 15.0 * pyy3
            )
            image[j, i0 + m] += buf[m] * (1.0 + c4 * h4 + c6 * h6)
        nev += i1 - i0 + 1
    return nev


@njit(cache=True)
def _add_component_pix(f, mx, my, sxx, sxy, syy, pdx, pdy, side, image, xoff, yoff, transposed):
    """Pixel-integrate one pixel-space Gaussian; quadrature along image rows' axis.

    When ``transposed`` the image axes are swapped (image is [x, y] and the
    roles of (mx, sxx) and (my, syy) were swapped by the caller).
    """
    n_rows, n_cols = image.shape
    if f == 0.0:
        return 0
    syy = max(syy, VAR_FLOOR)
    sxx = max(sxx, VAR_FLOOR)
    sig_y = math.sqrt(syy)
    beta = sxy / syy
    cvar = sxx - sxy * beta
    if cvar < VAR_FLOOR:
        cvar = VAR_FLOOR
    s = math.sqrt(cvar)
    # smallest scale of the y-integrand: the marginal width, or the y-step
    # over which the conditional centre moves by one conditional sigma
    h = sig_y
    if beta != 0.0:
        h = min(h, s / abs(beta))
    inv_s_sqrt2 = 1.0 / (s * math.sqrt(2.0))
    norm_y = f / (sig_y * math.sqrt(2.0 * math.pi))
    half = 0.5 * side
    ylo_all = my - NSIG * sig_y
    yhi_all = my + NSIG * sig_y
    # row range that overlaps [ylo_all, yhi_all]
    j0 = max(0, math.floor(ylo_all - pdy + half - yoff))
    j1 = min(n_rows - 1, math.ceil(yhi_all - pdy - half - yoff))
    shared = side == 1.0 and pdx == 0.0
    edges = np.empty(n_cols + 1)
    elo = np.empty(n_cols)
    ehi = np.empty(n_cols)
    nev = 0
    for j in range(j0, j1 + 1):
        ya = j + yoff + pdy - half
        yb = ya + side
        if ya < ylo_all:
            ya = ylo_all
        if yb > yhi_all:
            yb = yhi_all
        if yb <= ya:
            continue
        length = yb - ya
        # sub-intervals of at most 2h, each with GL order from the ratio
        nsub = math.ceil(length / (2.0 * h))
        if nsub < 1:
            nsub = 1
        # cap for degenerate (line-like) components; they lose accuracy only
        if nsub > MAX_SUB:
            nsub = MAX_SUB
        sub = length / nsub
        nq = _nodes_for(sub / h)
        for m in range(nsub):
            a = ya + m * sub
            mid = a + 0.5 * sub
            for q in range(nq):
                yq = mid + 0.5 * sub * GL_NODES[nq, q]
                dy = yq - my
                wy = 0.5 * sub * GL_WEIGHTS[nq, q] * norm_y * math.exp(-0.5 * dy * dy / syy)
                if wy == 0.0:
                    continue
                xc = mx + beta * dy
                # columns with any mass
                lo = xc - NSIG * s
                hi = xc + NSIG * s
                i0 = max(0, math.floor(lo - pdx + half - xoff))
                i1 = min(n_cols - 1, math.ceil(hi - pdx - half - xoff))
                if i1 < i0:
                    continue
                if shared:
                    for i in range(i0, i1 + 2):
                        edges[i - i0] = math.erf((i + xoff - 0.5 - xc) * inv_s_sqrt2)
                    for i in range(i0, i1 + 1):
                        image[j, i] += 0.5 * wy * (edges[i - i0 + 1] - edges[i - i0])
                else:
                    for i in range(i0, i1 + 1):
                        xa = i + xoff + pdx - half
                        elo[i - i0] = math.erf((xa - xc) * inv_s_sqrt2)
                        ehi[i - i0] = math.erf((xa + side - xc) * inv_s_sqrt2)
                    for i in range(i0, i1 + 1):
                        image[j, i] += 0.5 * wy * (ehi[i - i0] - elo[i - i0])
                nev += i1 - i0 + 1
    return nev


@njit(cache=True)
def _add_pix_pc(pc, pixel, image, xoff, yoff):
    pdx, pdy, side = pixel[0], pixel[1], pixel[2]
    nev = 0
    for k in range(pc.shape[0]):
        f, mx, my, sxx, sxy, syy = pc[k, 0], pc[k, 1], pc[k, 2], pc[k, 3], pc[k, 4], pc[k, 5]
        # choose the quadrature axis with the larger smallest scale h:
        # for y-quadrature h = min(sig_y, s_x|y / |beta|)
        #                    = sqrt(syy) * min(1, sqrt(det) / |sxy|)
        sxx_f = max(sxx, VAR_FLOOR)
        syy_f = max(syy, VAR_FLOOR)
        det = max(sxx_f * syy_f - sxy * sxy, VAR_FLOOR * VAR_FLOOR)
        shrink = 1.0
        if sxy != 0.0:
            shrink = min(1.0, math.sqrt(det) / abs(sxy))
        hy = math.sqrt(syy_f) * shrink
        hx = math.sqrt(sxx_f) * shrink
        # smallest eigenvalue of the covariance (px^2)
        tr = 0.5 * (sxx_f + syy_f)
        lam_min = tr - math.sqrt(max(tr * tr - det, 0.0))
        # (the row recurrence there needs P_xx <= 1, i.e. lam_min + k2 >= 1)
        if lam_min >= EDGE_SIGMA * EDGE_SIGMA * side * side and lam_min + side * side / 12.0 >= 1.0:
            nev += _add_component_edgeworth(
                f, mx, my, sxx, sxy, syy, pdx, pdy, side, image, xoff, yoff
            )
        elif hy >= hx:
            nev += _add_component_pix(
                f, mx, my, sxx, sxy, syy, pdx, pdy, side, image, xoff, yoff, False
            )
        else:
            nev += _add_component_pix(
                f, my, mx, syy, sxy, sxx, pdy, pdx, side, image.T, yoff, xoff, True
            )
    return nev


@njit(cache=True)
def add_pix(gmix, jac, pixel, image, xoff, yoff):
    """Add ``gmix`` integrated over each pixel's sensitive area to ``image``.

    Returns the number of (row-node, column) evaluations done.
    """
    pc = to_pixel_components(gmix, jac)
    return _add_pix_pc(pc, pixel, image, xoff, yoff)


@njit(cache=True, parallel=True)
def add_batch(gmixes, ncomp, jacs, pixel, images, method):
    """Render N stamps in parallel (``prange`` over objects); adds to ``images``."""
    n = gmixes.shape[0]
    for t in prange(n):
        gm = gmixes[t, : ncomp[t]]
        if method == 0:
            add_nopix(gm, jacs[t], images[t], 0.0, 0.0)
        else:
            add_pix(gm, jacs[t], pixel, images[t], 0.0, 0.0)
