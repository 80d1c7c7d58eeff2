"""Metacalibration and PSF reconvolution in Fourier space, correct for any Jacobian.

Algorithm (all in the pixel frame of the image, frequencies ``q`` in
radians per pixel, world frequencies ``kappa = J^{-T} q``):

1. The centred DTFT of the image, ``I(q)``, is evaluated exactly at any
   ``q`` (:class:`~galmix.shear.kspace.KSpaceImage`); so is the effective
   PSF ``psi(q)`` (the PSF image, which contains the pixel; or a PSF
   mixture times the pixel box).
2. Deconvolved and sheared by ``A`` in *world* coordinates, the galaxy is
   ``I(B q) / psi(B q)`` with ``B = J^T A^T J^{-T}``.
3. It is reconvolved with the target kernel ``Gamma(kappa)`` *and the
   image's own pixel response* ``box(q)`` in the image frame, and
   resampled with an inverse FFT (no further pixel):
   ``O(q) = Gamma(J^{-T} q) box(q) I(B q) / psi(B q)``.

Because the pixel is re-applied in the grid's own frame, sheared,
rotated, flipped and non-square pixels are all handled exactly (compare
ngmix issue #72, where a Gaussian kernel built without the pixel and a
pixel put back in the wrong frame gave m ~ -0.2 for a sheared WCS).

``fixnoise`` adds ``R^{-1} M_A R n``: a noise field ``n`` rotated by 90
degrees *in world coordinates*, metacal'd with the same shear, and rotated
back, all composed into a single Fourier evaluation (a 90-degree pixel
rotation is not a world rotation for sheared or non-square pixels). The
noise term's shear is then ``R^{-1} A R`` (the opposite shear), which
cancels the shear the operation imprints on the image noise.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np
import scipy.fft

from galmix.errors import GalmixTypeError, GalmixValueError
from galmix.geometry import Jacobian, PixelResponse
from galmix.image import Observation
from galmix.shear._operators import (
    GMixPSF,
    ImagePSF,
    Target,
    as_gmix_data,
    psf_model,
)
from galmix.shear.kspace import KSpaceImage, centred_dft, output_frequencies

__all__ = [
    "METACAL_TYPES",
    "MetacalPlan",
    "metacal",
    "metacal_batch",
    "reconvolve",
    "rotate_world",
]

#: shear of each metacal type, in units of ``step``
METACAL_TYPES: dict[str, tuple[float, float]] = {
    "noshear": (0.0, 0.0),
    "1p": (1.0, 0.0),
    "1m": (-1.0, 0.0),
    "2p": (0.0, 1.0),
    "2m": (0.0, -1.0),
    # double steps, for the nonlinear (g^3) response correction
    "1p2": (2.0, 0.0),
    "1m2": (-2.0, 0.0),
    "2p2": (0.0, 2.0),
    "2m2": (0.0, -2.0),
}

DEFAULT_TYPES = ("noshear", "1p", "1m", "2p", "2m")
PSF_KINDS = ("gauss", "fitgauss", "dilate")

#: world rotation by +90 degrees (u -> v)
_ROT90 = np.array([[0.0, -1.0], [1.0, 0.0]])

# thresholds of the round Gaussian kernel for psf="gauss" (GalSim's test values):
# find the smallest |kappa| where the effective PSF falls below SMALL_KVAL and
# make the Gaussian SMALLER_KVAL there, then dilate by (1 + 2 |g|)
SMALL_KVAL = 1.0e-2
SMALLER_KVAL = 3.0e-3


def shear_matrix(g1: float, g2: float) -> np.ndarray:
    """GalSim's area-preserving shear matrix for reduced shear ``(g1, g2)``."""
    gsq = g1 * g1 + g2 * g2
    if not (math.isfinite(g1) and math.isfinite(g2)) or gsq >= 1.0:
        raise GalmixValueError(f"shear (g1, g2) must be finite with |g| < 1, got ({g1!r}, {g2!r})")
    f = 1.0 / math.sqrt(1.0 - gsq)
    return f * np.array([[1.0 + g1, g2], [g2, 1.0 - g1]])


def _bmat(jm: np.ndarray, a: np.ndarray, jm_out: np.ndarray | None = None) -> np.ndarray:
    """``J^T A^T J_out^{-T}``: output-grid frequencies -> input-grid frequencies."""
    jo = jm if jm_out is None else jm_out
    return jm.T @ a.T @ np.linalg.inv(jo).T


def _safe_ratio(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    scale = np.max(np.abs(den)) if den.size else 1.0
    ok = np.abs(den) > 1e-10 * scale
    out = np.zeros(np.broadcast(num, den).shape, dtype=np.complex128)
    np.divide(num, den, out=out, where=ok)
    return out


def _noise_gain(h: np.ndarray, nx: int) -> float:
    """Variance multiplier ``mean |H|^2`` of white noise through the rfft-grid filter ``h``."""
    p = np.abs(h) ** 2
    w = np.full(p.shape[-1], 2.0)
    w[0] = 1.0
    if nx % 2 == 0:
        w[-1] = 1.0
    return float(np.sum(p * w) / (p.shape[0] * nx))


def _check_obs(obs: Any) -> Observation:
    if not isinstance(obs, Observation):
        raise GalmixTypeError(f"obs must be a galmix Observation, got {type(obs).__name__}")
    return obs


def _rng(rng: Any) -> np.random.Generator:
    if rng is None:
        return np.random.default_rng()
    if isinstance(rng, np.random.Generator):
        return rng
    if isinstance(rng, (int, np.integer)):
        return np.random.default_rng(int(rng))
    raise GalmixTypeError(f"rng must be a numpy Generator, an int seed or None, got {rng!r}")


def _target_for(
    kind: str, model: ImagePSF | GMixPSF, jacobian: Jacobian, shape, step: float, max_shear: float
) -> Target:
    """The reconvolution kernel for ``psf=kind``."""
    dil = 1.0 + 2.0 * max_shear * step
    if kind == "gauss":
        q, val = model.sizing_samples(shape)
        jinv_t = np.linalg.inv(jacobian.matrix).T
        kap = jinv_t @ q
        k2 = kap[0] ** 2 + kap[1] ** 2
        small = (val < SMALL_KVAL) | (np.abs(q[0]) >= math.pi) | (np.abs(q[1]) >= math.pi)
        ksq_max = float(np.min(k2[small])) if np.any(small) else math.inf
        # the image's own Nyquist boundary counts as "small" (beyond it the
        # sampled image carries no information)
        t = np.linspace(-math.pi, math.pi, 401)
        edge = np.concatenate(
            [
                np.stack([np.full_like(t, math.pi), t]),
                np.stack([t, np.full_like(t, math.pi)]),
            ],
            axis=1,
        )
        ke = jinv_t @ edge
        ksq_max = min(ksq_max, float(np.min(ke[0] ** 2 + ke[1] ** 2)))
        sigma2 = -2.0 * math.log(SMALLER_KVAL) / ksq_max
        return Target.gaussian(math.sqrt(sigma2) * dil)
    if kind in ("fitgauss", "dilate"):
        t, e1, e2 = _effective_psf_moments(model, jacobian)
        if kind == "fitgauss":
            return Target.gaussian(math.sqrt(t / 2.0) * dil)
        # the effective (pixel-convolved) PSF, symmetrised under 90-degree world
        # rotations (so its quadrupole, hence its shape leakage, vanishes) and
        # dilated enough to stay wider than the sheared PSF in every direction
        e = min(math.hypot(e1, e2), 0.9)
        g = e / (1.0 + math.sqrt(1.0 - e * e))
        d = dil * (1.0 + g) / (1.0 - g)
        jt = jacobian.matrix.T
        jtr = jt @ _ROT90

        def kval(kap: np.ndarray) -> np.ndarray:
            return 0.5 * (model.kvalue(jt @ (kap * d)) + model.kvalue(jtr @ (kap * d)))

        return Target(kval, None, "dilate")
    raise GalmixValueError(f"psf must be one of {PSF_KINDS} or a PSF, got {kind!r}")


def _effective_psf_moments(model: ImagePSF | GMixPSF, jacobian: Jacobian):
    """``(T, e1, e2)`` of the pixel-convolved PSF (adaptive moments of the image)."""
    if isinstance(model, ImagePSF):
        from galmix.moments import adaptive_moments

        res = adaptive_moments(model.obs)
        if res.flags != 0:
            raise GalmixValueError(
                f"adaptive moments of the PSF image failed (flags={res.flags}); "
                "cannot size the metacal kernel"
            )
        return res.T, res.e1, res.e2
    d = model.data
    f = d[:, 0] / d[:, 0].sum()
    uc, vc = np.sum(f * d[:, 1]), np.sum(f * d[:, 2])
    iuu = float(np.sum(f * (d[:, 3] + (d[:, 1] - uc) ** 2)))
    ivv = float(np.sum(f * (d[:, 5] + (d[:, 2] - vc) ** 2)))
    iuv = float(np.sum(f * (d[:, 4] + (d[:, 1] - uc) * (d[:, 2] - vc))))
    # the pixel's own second moments: J J^T / 12
    pm = jacobian.matrix @ jacobian.matrix.T / 12.0
    iuu, iuv, ivv = iuu + pm[0, 0], iuv + pm[0, 1], ivv + pm[1, 1]
    t = iuu + ivv
    return t, (iuu - ivv) / t, 2.0 * iuv / t


def _grid_permutation(p: np.ndarray, shape: tuple[int, int]):
    """Index arrays mapping the rfft grid ``q`` to ``P q`` when ``P`` permutes the grid."""
    ny, nx = shape
    pi = np.rint(p)
    if ny != nx or float(np.max(np.abs(p - pi))) > 1e-9:
        return None
    jy = np.fft.fftfreq(ny, 1.0 / ny).astype(np.int64)
    jx = np.arange(nx // 2 + 1)
    gx, gy = np.meshgrid(jx, jy)
    px = (pi[0, 0] * gx + pi[0, 1] * gy).astype(np.int64) % nx
    py = (pi[1, 0] * gx + pi[1, 1] * gy).astype(np.int64) % ny
    return (py, px)


def _hermitian_full(h: np.ndarray, nx: int) -> np.ndarray:
    """Full ``(ny, nx)`` spectrum from its rfft half, using ``H(-q) = conj H(q)``."""
    ny, nh = h.shape
    full = np.empty((ny, nx), dtype=np.complex128)
    full[:, :nh] = h
    jx = np.arange(nh, nx)
    jy = (-np.arange(ny)) % ny
    full[:, nh:] = np.conj(h[jy][:, nx - jx])
    return full


@dataclass
class _TypeOp:
    g: tuple[float, float]
    pts: np.ndarray | None  # image-frame points for the signal (None = on grid)
    h: np.ndarray  # T(q) / psi(B q) on the output rfft grid
    npts: np.ndarray | None  # points for the fixnoise term (None = on grid)
    hn: np.ndarray | None  # fixnoise filter
    noise_filter: np.ndarray  # sqrt(|h|^2 + |hn|^2): amplitude filter of the output noise


class MetacalPlan:
    """Precomputed per-PSF work of :func:`metacal` for one grid and PSF.

    Building a plan evaluates the PSF transforms, the reconvolution kernel
    and the per-type filters once; :meth:`apply` then only transforms the
    image (and noise). Reuse a plan for many stamps that share the PSF,
    the Jacobian matrix and the stamp shape (the Jacobian origin may
    differ). The plan holds no hidden global state.

    Parameters
    ----------
    psf : Observation or GMix-like
        The PSF (as ``obs.psf``).
    jacobian : Jacobian
        The image grid (only the matrix is used).
    shape : tuple of int
        Stamp shape ``(ny, nx)``.
    pixel : PixelResponse
        The image's pixel response.
    kernel : {"gauss", "fitgauss", "dilate"} or GMix/profile/Observation
        Reconvolution kernel, named as the ``psf`` argument of :func:`metacal`.
    step, types, fixnoise
        As in :func:`metacal`.

    Examples
    --------
    >>> import numpy as np
    >>> from galmix import Jacobian, Observation
    >>> from galmix.profiles import Gaussian
    >>> jac = Jacobian.from_scale(0.263, 16, 16)
    >>> plan = MetacalPlan(Gaussian(1.0, 0.4), jac, (33, 33))
    >>> sorted(plan.apply(Observation(np.zeros((33, 33)), jacobian=jac, psf=Gaussian(1.0, 0.4)),
    ...                   rng=1))
    ['1m', '1p', '2m', '2p', 'noshear']
    """

    def __init__(
        self,
        psf: Any,
        jacobian: Jacobian,
        shape: tuple[int, int],
        pixel: PixelResponse | None = None,
        kernel: Any = "gauss",
        step: float = 0.01,
        types: Iterable[str] = DEFAULT_TYPES,
        fixnoise: bool = True,
        with_pixel: bool = False,
    ) -> None:
        if not isinstance(jacobian, Jacobian):
            raise GalmixTypeError(f"jacobian must be a Jacobian, got {type(jacobian).__name__}")
        step = float(step)
        if not (math.isfinite(step) and 0 < step < 0.25):
            raise GalmixValueError(f"step must be in (0, 0.25), got {step!r}")
        types = tuple(types)
        if not types:
            raise GalmixValueError("types must name at least one metacal type")
        for t in types:
            if t not in METACAL_TYPES:
                raise GalmixValueError(
                    f"types: unknown metacal type {t!r}; known: {sorted(METACAL_TYPES)}"
                )
        pixel = PixelResponse() if pixel is None else pixel
        ny, nx = int(shape[0]), int(shape[1])
        if ny < 4 or nx < 4:
            raise GalmixValueError(f"shape must be at least 4x4, got {shape!r}")
        self.shape = (ny, nx)
        self.matrix = jacobian.matrix
        self.pixel = pixel
        self.step = step
        self.types = types
        self.fixnoise = bool(fixnoise)
        self.with_pixel = bool(with_pixel)
        self.psf = psf
        self.jacobian = jacobian
        model = psf_model(psf, jacobian, pixel)
        max_shear = max(math.hypot(*METACAL_TYPES[t]) for t in types)
        max_shear = max(max_shear, 1.0)
        if isinstance(kernel, str):
            target = _target_for(kernel, model, jacobian, self.shape, step, max_shear)
        elif isinstance(kernel, Target):
            target = kernel
        elif isinstance(kernel, Observation):
            # a PSF image is the effective PSF of the output (pixel included,
            # swapped for this grid's pixel when its grid differs)
            eff = ImagePSF(kernel, jacobian, pixel)
            jt = jacobian.matrix.T
            target = Target(lambda kap: eff.kvalue(jt @ kap), None, "image")
        else:
            data = as_gmix_data(kernel)
            if data is None:
                raise GalmixTypeError(
                    "psf must be 'gauss', 'fitgauss', 'dilate', an Observation or a GMix, "
                    f"got {type(kernel).__name__}"
                )
            target = Target.from_gmix(data)
        self.target = target
        jm = self.matrix
        pix = None if pixel.is_full else pixel.as_array()
        kk = output_frequencies(self.shape)
        self._kshape = kk.shape[1:]
        q = kk.reshape(2, -1)
        self._q = q
        t_grid = target.kvalue_on_grid(q, jm, pix, self.with_pixel)
        rinv = _ROT90.T
        # The fixnoise filter is H'_A(q) = H_A(P q) with P = B(R^-1). When P is an
        # integer matrix on a square stamp (square pixels, any rotation/flip), P
        # permutes the frequency grid and H' is a re-indexing of H; otherwise the
        # PSF is evaluated at B(R^-1 A) q.
        perm = self.fixnoise and _grid_permutation(_bmat(jm, rinv), self.shape)
        geo = []
        psf_pts = []
        t_n = None
        if self.fixnoise and perm is None:
            t_n = target.kvalue_on_grid(_bmat(jm, rinv) @ q, jm, pix, self.with_pixel)
        for t in types:
            s1, s2 = METACAL_TYPES[t]
            g = (s1 * step, s2 * step)
            a = shear_matrix(*g)
            pts = None if g == (0.0, 0.0) else _bmat(jm, a) @ q
            psf_pts.append(q if pts is None else pts)
            npts = None
            if self.fixnoise:
                # R^{-1} M_A R: noise at B(R^-1 A R) q, PSF at B(R^-1 A) q, kernel at B(R^-1) q
                npts = None if g == (0.0, 0.0) else _bmat(jm, rinv @ a @ _ROT90) @ q
                if perm is None:
                    psf_pts.append(_bmat(jm, rinv @ a) @ q)
            geo.append((t, g, pts, npts))
        npt = q.shape[1]
        psi_all = model.kvalue(np.concatenate(psf_pts, axis=1))
        ops: dict[str, _TypeOp] = {}
        gain = None
        i = 0
        for t, g, pts, npts in geo:
            h = _safe_ratio(t_grid, psi_all[i * npt : (i + 1) * npt]).reshape(self._kshape)
            i += 1
            hn = None
            if self.fixnoise:
                if perm is None:
                    psi_n = psi_all[i * npt : (i + 1) * npt]
                    i += 1
                    hn = _safe_ratio(t_n, psi_n).reshape(self._kshape)
                else:
                    hn = _hermitian_full(h, nx)[perm]
            nf = np.abs(h) ** 2 + (np.abs(hn) ** 2 if hn is not None else 0.0)
            ops[t] = _TypeOp(g, pts, h, npts, hn, np.sqrt(nf))
            if t == "noshear" or gain is None:
                gain = _noise_gain(h, nx) + (_noise_gain(hn, nx) if hn is not None else 0.0)
        self._ops = ops
        # where each type's noise points coincide with some type's image points:
        # R^-1 S(g) R = S(-g) for the 90-degree rotation R
        self._noise_src = None
        if self.fixnoise:
            index = {ops[t].g: j for j, t in enumerate(types)}
            src = []
            for t in types:
                g = ops[t].g
                if ops[t].npts is None:
                    src.append(None)
                    continue
                j = index.get((-g[0], -g[1]))
                if j is None or ops[types[j]].pts is None:
                    src = None
                    break
                src.append(j)
            self._noise_src = src
        self.noise_gain = float(gain)
        self._psf_out = None

    # ------------------------------------------------------------------ outputs
    def new_psf(self) -> Observation:
        """The effective PSF of the metacal images, as a PSF image Observation.

        Drawn on ``obs.psf``'s grid when the input PSF is an image, else on a
        grid with the image's Jacobian matrix and shape. It includes the
        pixel only when the plan was made ``with_pixel=True``.
        """
        if self._psf_out is not None:
            return self._psf_out
        psf = self.psf
        if isinstance(psf, Observation):
            jac, shape, pixel = psf.jacobian, psf.shape, psf.pixel
        else:
            ny, nx = self.shape
            jac = self.jacobian.with_origin((nx - 1) / 2.0, (ny - 1) / 2.0)
            shape, pixel = self.shape, self.pixel
        img = self.target.draw(jac, shape, pixel, self.with_pixel)
        meta = {"kernel": self.target.name}
        if self.target.gmix_data is not None:
            meta["kernel_gmix"] = self.target.gmix_data.copy()
        out = Observation._trusted(
            image=_ro(img),
            weight=_ro(np.ones(shape)),
            jacobian=jac,
            mask=_ro(np.zeros(shape, dtype=bool)),
            meta=meta,
            pixel=pixel,
        )
        self._psf_out = out
        return out

    def check(self, obs: Observation) -> None:
        """Raise unless ``obs`` has this plan's shape and Jacobian matrix."""
        if obs.shape != self.shape:
            raise GalmixValueError(f"obs shape {obs.shape} differs from the plan's {self.shape}")
        if float(np.max(np.abs(obs.jacobian.matrix - self.matrix))) > 1e-12 * float(
            np.max(np.abs(self.matrix))
        ):
            raise GalmixValueError("obs.jacobian matrix differs from the plan's")

    def apply(
        self,
        obs: Observation,
        rng: Any = None,
        noise: np.ndarray | None = None,
        keep_noise: bool = True,
    ) -> dict[str, Observation]:
        """Metacal images of ``obs`` (see :func:`metacal`)."""
        self.check(obs)
        rng_ = None
        c = obs.jacobian.origin
        need_noise = self.fixnoise or keep_noise
        var = None
        if need_noise:
            rng_ = _rng(rng)
        nz = noise if noise is not None else obs.noise
        img_stack = [obs.image]
        noise_stack = []
        if self.fixnoise:
            noise_stack.append(nz if nz is not None else _make_noise(obs, rng_))
        # the returned noise realisation: a fresh noise field filtered on the grid
        # by the exact output noise filter sqrt(|H|^2 + |H'|^2) (same power
        # spectrum as the image's processed noise, no off-grid evaluation)
        z_noise = None
        if keep_noise:
            z_noise = scipy.fft.rfft2(_make_noise(obs, rng_), workers=1)
        img_stack = np.asarray(img_stack)
        # exact transforms on the grid (for unsheared operators), interpolated elsewhere
        grid_img = centred_dft(img_stack, c)
        grid_n = None
        if noise_stack:
            noise_stack = np.asarray(noise_stack)
            grid_n = centred_dft(noise_stack, c)
        kk = output_frequencies(self.shape)
        phase_out = np.exp(-1j * (kk[0] * c[0] + kk[1] * c[1]))
        out: dict[str, Observation] = {}
        w = obs.weight
        with np.errstate(divide="ignore"):
            var = np.where(w > 0, 1.0 / np.where(w > 0, w, 1.0), 0.0)
        weight_out = _ro(np.where(w > 0, 1.0 / np.maximum(var * self.noise_gain, 1e-300), 0.0))
        new_psf = self.new_psf()
        # off-grid transforms of every type in one call per stack
        f_n_all = None
        if self.fixnoise and self._noise_src is not None:
            # the noise is needed at the image's point sets (the 90-degree rotated
            # shear of 1p is 1m, ...): one kernel call for image and noise
            both = np.concatenate([img_stack, noise_stack])
            f_all = _batch_eval(both, c, [self._ops[t].pts for t in self.types])
            ni = img_stack.shape[0]
            f_img_all = [None if f is None else f[:ni] for f in f_all]
            f_n_all = [None if j is None else f_all[j][ni:] for j in self._noise_src]
        else:
            f_img_all = _batch_eval(img_stack, c, [self._ops[t].pts for t in self.types])
            if self.fixnoise:
                f_n_all = _batch_eval(noise_stack, c, [self._ops[t].npts for t in self.types])
        for j, t in enumerate(self.types):
            op = self._ops[t]
            f_img = grid_img if f_img_all[j] is None else f_img_all[j].reshape((-1, *self._kshape))
            spec = f_img * op.h
            if self.fixnoise:
                f_n = grid_n if f_n_all[j] is None else f_n_all[j].reshape((-1, *self._kshape))
                spec = spec + f_n * op.hn
            spec *= phase_out
            if z_noise is not None:
                spec = np.concatenate([spec, (z_noise * op.noise_filter)[None]])
            res = scipy.fft.irfft2(spec, s=self.shape, axes=(-2, -1), workers=1)
            image = res[0]
            noise_out = res[1] if keep_noise else None
            if obs.mask.any():
                image[obs.mask] = 0.0
                if noise_out is not None:
                    noise_out[obs.mask] = 0.0
            meta = dict(obs.meta)
            meta["metacal_type"] = t
            meta["metacal_shear"] = op.g
            out[t] = Observation._trusted(
                image=_ro(image),
                weight=weight_out,
                jacobian=obs.jacobian,
                psf=new_psf,
                mask=obs.mask,
                noise=None if noise_out is None else _ro(noise_out),
                meta=meta,
                pixel=obs.pixel,
                noise_correlation=None,
            )
        return out


def _batch_eval(stack: np.ndarray, center, pts_list: list) -> list:
    """Evaluate ``stack`` at every non-None point set with one kernel call."""
    todo = [p for p in pts_list if p is not None]
    if not todo:
        return [None] * len(pts_list)
    vals = KSpaceImage(stack, center).evaluate(np.concatenate(todo, axis=1))
    out = []
    i = 0
    for p in pts_list:
        if p is None:
            out.append(None)
        else:
            n = p.shape[1]
            out.append(vals[:, i : i + n])
            i += n
    return out


def _ro(a: np.ndarray) -> np.ndarray:
    a.setflags(write=False)
    return a


def _make_noise(obs: Observation, rng: np.random.Generator) -> np.ndarray:
    """A noise realisation with the image's statistics (weight map or correlation)."""
    shape = obs.shape
    w = obs.weight
    sig = np.where(w > 0, 1.0 / np.sqrt(np.where(w > 0, w, 1.0)), 0.0)
    white = rng.standard_normal(shape)
    if obs.noise_correlation is None:
        return white * sig
    # correlated noise: filter white noise by sqrt of the power spectrum of the
    # correlation function (normalised to the correlation's zero lag)
    xi = np.asarray(obs.noise_correlation)
    ny, nx = shape
    cy, cx = xi.shape[0] // 2, xi.shape[1] // 2
    grid = np.zeros(shape)
    for dy in range(-min(cy, ny // 2), min(cy, ny // 2) + 1):
        for dx in range(-min(cx, nx // 2), min(cx, nx // 2) + 1):
            grid[dy % ny, dx % nx] += xi[cy + dy, cx + dx]
    power = np.clip(np.real(scipy.fft.fft2(grid)), 0.0, None)
    field = np.real(scipy.fft.ifft2(scipy.fft.fft2(white) * np.sqrt(power)))
    xi0 = xi[cy, cx]
    rel = sig / math.sqrt(xi0) if xi0 > 0 else sig
    if np.all(w > 0) and np.allclose(sig, sig.flat[0]):
        # weight consistent with the correlation's zero lag: use the correlation as given
        return field
    return field * rel


def metacal(
    obs: Observation,
    psf: Any = "gauss",
    step: float = 0.01,
    types: Iterable[str] = DEFAULT_TYPES,
    fixnoise: bool = True,
    rng: Any = None,
    keep_noise: bool = True,
    with_pixel: bool = False,
) -> dict[str, Observation]:
    """Metacalibration images: deconvolve, shear by +-step in world coordinates, reconvolve.

    Each output image is ``obs``'s galaxy, deconvolved by its PSF, sheared
    by ``(g1, g2)`` in world coordinates about the world origin (the
    Jacobian origin), reconvolved with a kernel slightly larger than the
    PSF, and pixelated with the image's own pixel response on the same
    grid. The Fourier transforms of the image and the PSF are evaluated
    exactly at the sheared frequencies (no interpolant), so the result is
    unbiased for any Jacobian: sheared, rotated, flipped or non-square
    pixels.

    Parameters
    ----------
    obs : Observation
        The stamp, with ``obs.psf`` an Observation (PSF image with its own
        Jacobian, centred on its origin) or a GMix/profile (pre-pixel PSF).
    psf : {"gauss", "fitgauss", "dilate"} or GMix/profile/Observation
        Reconvolution kernel. ``"gauss"``: round Gaussian sized from the
        pixel-convolved PSF's Fourier transform (it is at most 0.3 of the
        PSF's value where the PSF falls to 1e-2, and negligible at the
        Nyquist frequency), dilated by ``1 + 2 |g|``. ``"fitgauss"``: round
        Gaussian with the adaptive-moment size of the PSF image, dilated
        by ``1 + 2 |g|``. ``"dilate"``: the pixel-convolved PSF itself,
        averaged with its 90-degree world rotation (so it has no
        quadrupole and leaks no PSF shape into the galaxy shapes), dilated
        by ``(1 + 2 |g|)(1 + g_psf)/(1 - g_psf)`` to stay wider than the
        sheared PSF. Any other PSF is used as given.
    step : float
        Shear step ``|g|`` of the ``1p``/``1m``/``2p``/``2m`` images.
    types : iterable of str
        Names from :data:`METACAL_TYPES` (``"noshear"``, ``"1p"``,
        ``"1m"``, ``"2p"``, ``"2m"``, and the double steps ``"1p2"`` ...).
    fixnoise : bool
        Add a noise field rotated by 90 degrees in world coordinates and
        metacal'd with the same shear, cancelling the correlated-noise
        shear response; the output weight accounts for the doubled noise.
        The field is ``obs.noise`` when given, else simulated from the
        weight map (and ``obs.noise_correlation`` when present).
    rng : numpy.random.Generator or int, optional
        Randomness for simulated noise; ``None`` draws a fresh generator
        (pass one for reproducible results).
    keep_noise : bool
        Also return, as each output's ``noise``, an independent realisation
        of the output image's noise (for later detection/metadetection): a
        fresh noise field (weight map / correlation) filtered by the exact
        output noise filter ``sqrt(|H|^2 + |H'|^2)`` of that type, so it
        has the power spectrum of the image's processed noise.
    with_pixel : bool
        Integrate the reconvolved image over the output pixels (in the
        grid's own frame) instead of sampling it at the pixel centres. The
        default ``False`` keeps the output PSF exactly the (round) kernel:
        the kernel is sized from the *pixel-convolved* PSF, so it already
        contains the pixel's smoothing, and a second pixel would add the
        pixel's world-frame anisotropy (non-square or sheared pixels) as an
        additive PSF term. Both choices give unbiased responses.

    Returns
    -------
    dict of str to Observation
        One Observation per type: same grid, mask and Jacobian as ``obs``,
        ``psf`` the reconvolution kernel (drawn like ``obs.psf``), weight
        rescaled for the processed noise, ``meta["metacal_type"]`` and
        ``meta["metacal_shear"]``.

    Raises
    ------
    GalmixTypeError, GalmixValueError
        For a missing or invalid PSF, unknown types or kernel names, or an
        invalid step.

    Examples
    --------
    >>> import numpy as np
    >>> from galmix import Jacobian, Observation
    >>> from galmix.profiles import Gaussian
    >>> jac = Jacobian.from_scale(0.263, 20, 20)
    >>> obs = Observation(np.zeros((41, 41)), jacobian=jac, psf=Gaussian(1.0, 0.4))
    >>> out = metacal(obs, rng=np.random.default_rng(1))
    >>> out["1p"].meta["metacal_shear"]
    (0.01, 0.0)
    """
    obs = _check_obs(obs)
    if obs.psf is None:
        raise GalmixValueError("obs.psf is None: metacal needs the PSF")
    plan = MetacalPlan(
        obs.psf,
        obs.jacobian,
        obs.shape,
        pixel=obs.pixel,
        kernel=psf,
        step=step,
        types=types,
        fixnoise=fixnoise,
        with_pixel=with_pixel,
    )
    return plan.apply(obs, rng=rng, keep_noise=keep_noise)


def metacal_batch(
    observations: Iterable[Observation],
    psf: Any = "gauss",
    step: float = 0.01,
    types: Iterable[str] = DEFAULT_TYPES,
    fixnoise: bool = True,
    rng: Any = None,
    keep_noise: bool = True,
    with_pixel: bool = False,
) -> list[dict[str, Observation]]:
    """:func:`metacal` for many stamps, doing the per-PSF work once per distinct PSF.

    Stamps sharing the same PSF object, Jacobian matrix, shape and pixel
    response share one :class:`MetacalPlan`, built within this call only
    (no global cache). Results are identical to calling :func:`metacal`
    on each stamp with the same random generator.

    Returns
    -------
    list of dict
        One ``{type: Observation}`` per input, in order.

    Examples
    --------
    >>> import numpy as np
    >>> from galmix import Jacobian, Observation
    >>> from galmix.profiles import Gaussian
    >>> jac = Jacobian.from_scale(0.263, 16, 16)
    >>> psf = Gaussian(1.0, 0.4)
    >>> stamps = [Observation(np.zeros((33, 33)), jacobian=jac, psf=psf) for _ in range(3)]
    >>> len(metacal_batch(stamps, rng=1))
    3
    """
    rng_ = _rng(rng)
    types = tuple(types)
    plans: dict[tuple, MetacalPlan] = {}
    out = []
    for obs in observations:
        obs = _check_obs(obs)
        if obs.psf is None:
            raise GalmixValueError("obs.psf is None: metacal needs the PSF")
        key = (id(obs.psf), obs.jacobian.matrix.tobytes(), obs.shape, obs.pixel)
        plan = plans.get(key)
        if plan is None or plan.psf is not obs.psf:
            plan = MetacalPlan(
                obs.psf,
                obs.jacobian,
                obs.shape,
                pixel=obs.pixel,
                kernel=psf,
                step=step,
                types=types,
                fixnoise=fixnoise,
                with_pixel=with_pixel,
            )
            plans[key] = plan
        out.append(plan.apply(obs, rng=rng_, keep_noise=keep_noise))
    return out


def reconvolve(
    obs: Observation,
    target_psf: Any,
    g1: float = 0.0,
    g2: float = 0.0,
    jacobian: Jacobian | None = None,
    shape: tuple[int, int] | None = None,
    pixel: PixelResponse | None = None,
) -> Observation:
    """Deconvolve the PSF, shear by ``(g1, g2)`` in world coordinates, reconvolve with a target.

    The primitive under :func:`metacal`, also the tool for PSF
    homogenisation across bands. The output image is the galaxy convolved
    with ``target_psf`` and integrated over the pixels of the output grid
    (``jacobian``, ``shape``; default those of ``obs``).

    Parameters
    ----------
    obs : Observation
        Image with ``obs.psf`` (PSF image Observation or GMix/profile).
    target_psf : Observation or GMix/profile
        The new PSF. An Observation is a PSF image with its own Jacobian
        (its pixel is divided out, since the output grid's pixel is applied);
        a GMix/profile is the pre-pixel PSF. It must be wider than the
        (sheared) original PSF in every direction, or noise is amplified.
    g1, g2 : float
        World-coordinate reduced shear applied to the deconvolved galaxy.
    jacobian : Jacobian, optional
        Output grid (its origin is the world origin of the output).
    shape : tuple of int, optional
        Output shape ``(ny, nx)``.
    pixel : PixelResponse, optional
        Output pixel response; default ``obs.pixel``.

    Returns
    -------
    Observation
        With ``psf=target_psf``, weight scaled by the white-noise variance
        gain of the filter (uniform, from the median input variance, when the
        grid changes; the per-pixel variance is then the continuum estimate,
        good to ~10 %; the output noise is correlated) and ``noise``
        transformed the same way when ``obs.noise`` is given.

    Examples
    --------
    >>> import numpy as np
    >>> from galmix import Jacobian, Observation
    >>> from galmix.profiles import Gaussian
    >>> jac = Jacobian.from_scale(0.2, 15, 15)
    >>> obs = Observation(np.zeros((31, 31)), jacobian=jac, psf=Gaussian(1.0, 0.3))
    >>> reconvolve(obs, Gaussian(1.0, 0.5), g1=0.02).shape
    (31, 31)
    """
    obs = _check_obs(obs)
    if obs.psf is None:
        raise GalmixValueError("obs.psf is None: reconvolve needs the PSF")
    if target_psf is None:
        raise GalmixValueError("target_psf must be an Observation or a GMix, got None")
    jac_out = obs.jacobian if jacobian is None else jacobian
    if not isinstance(jac_out, Jacobian):
        raise GalmixTypeError(f"jacobian must be a Jacobian, got {type(jac_out).__name__}")
    shape_out = obs.shape if shape is None else (int(shape[0]), int(shape[1]))
    pix_out = obs.pixel if pixel is None else pixel
    same_grid = (
        shape_out == obs.shape
        and np.allclose(jac_out.matrix, obs.jacobian.matrix, rtol=1e-12, atol=0)
        and pix_out == obs.pixel
    )
    a = shear_matrix(float(g1), float(g2))
    model = psf_model(obs.psf, obs.jacobian, obs.pixel)
    jm, jo = obs.jacobian.matrix, jac_out.matrix
    kk = output_frequencies(shape_out)
    q = kk.reshape(2, -1)
    pts = _bmat(jm, a, jo) @ q
    if isinstance(target_psf, Observation):
        # a PSF image is the output's effective PSF (its pixel is swapped for
        # the output grid's when the grids differ)
        t_grid = ImagePSF(target_psf, jac_out, pix_out).kvalue(q)
    else:
        data = as_gmix_data(target_psf)
        if data is None:
            raise GalmixTypeError(
                f"target_psf must be an Observation or a GMix/profile, got {type(target_psf).__name__}"
            )
        pix = None if pix_out.is_full else pix_out.as_array()
        t_grid = Target.from_gmix(data).kvalue_on_grid(q, jo, pix, True)
    h = _safe_ratio(t_grid, model.kvalue(pts)).reshape(kk.shape[1:])
    stack = [obs.image] if obs.noise is None else [obs.image, obs.noise]
    c = obs.jacobian.origin
    if same_grid and g1 == 0.0 and g2 == 0.0:
        f = centred_dft(np.asarray(stack), c)
    else:
        f = KSpaceImage(np.asarray(stack), c).evaluate(pts).reshape((-1, *kk.shape[1:]))
    spec = f * h * np.exp(-1j * (kk[0] * jac_out.x0 + kk[1] * jac_out.y0))
    res = scipy.fft.irfft2(spec, s=shape_out, axes=(-2, -1), workers=1)
    # noise: white-noise variance gain of the filter (flux per pixel rescales with area)
    gain = _noise_gain(h, shape_out[1]) * (abs(np.linalg.det(jo)) / abs(np.linalg.det(jm)))
    w = obs.weight
    if same_grid:
        with np.errstate(divide="ignore"):
            weight = np.where(w > 0, w / gain, 0.0)
        mask = obs.mask
    else:
        good = w[w > 0]
        weight = np.full(shape_out, float(np.median(good)) / gain)
        mask = None
    return Observation(
        res[0],
        weight=weight,
        jacobian=jac_out,
        psf=target_psf,
        mask=mask,
        noise=res[1] if len(stack) > 1 else None,
        meta=dict(obs.meta),
        pixel=pix_out,
    )


def rotate_world(obs: Observation, theta: float = math.pi / 2) -> np.ndarray:
    """The image rotated by ``theta`` (counter-clockwise, u toward v) in world coordinates.

    The rotation is applied to the band-limited pixel samples in Fourier
    space, so for sheared or non-square pixels it is a true world rotation
    (not a permutation of pixels). The pixel response is treated as part
    of the image (rotated with it), which is what noise fields need; this
    is the operation behind ``metacal(..., fixnoise=True)``.

    Parameters
    ----------
    obs : Observation
        Image with its Jacobian; rotation is about the Jacobian origin.
    theta : float
        Angle in radians.

    Returns
    -------
    ndarray
        The rotated image on the same grid.

    Examples
    --------
    >>> import numpy as np
    >>> from galmix import Jacobian, Observation
    >>> img = np.zeros((9, 9)); img[4, 6] = 1.0
    >>> out = rotate_world(Observation(img, jacobian=Jacobian.from_scale(1.0, 4, 4)))
    >>> int(np.argmax(out)) == 6 * 9 + 4
    True
    """
    obs = _check_obs(obs)
    c, s = math.cos(theta), math.sin(theta)
    rot = np.array([[c, -s], [s, c]])
    jm = obs.jacobian.matrix
    kk = output_frequencies(obs.shape)
    q = kk.reshape(2, -1)
    pts = _bmat(jm, rot) @ q
    f = KSpaceImage(obs.image, obs.jacobian.origin).evaluate(pts).reshape(kk.shape[1:])
    c0 = obs.jacobian.origin
    spec = f * np.exp(-1j * (kk[0] * c0[0] + kk[1] * c0[1]))
    return scipy.fft.irfft2(spec, s=obs.shape, workers=1)
