"""Paired +g/-g shear simulations (GalSim-backed) for measuring m and c.

Each pair is one galaxy drawn sheared by ``+g`` and by ``-g`` with the same
sub-pixel offset and the same noise field, so shape and noise cancel in
``m``; metacalibration with Gaussian-weighted moments measures both. Pairs
are split into chunks run in parallel processes, each seeded from one
``numpy.random.SeedSequence``, so results do not depend on the number of
workers.
"""

from __future__ import annotations

import math
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field

import numpy as np

from galmix.errors import GalmixValueError
from galmix.geometry import Jacobian
from galmix.image import Observation
from galmix.shear.estimators import BiasResult, estimate_m_c

__all__ = ["ShearSimConfig", "jacobian_matrix", "run_shear_bias", "simulate_pair"]


def jacobian_matrix(
    scale: float = 0.263,
    g1: float = 0.0,
    g2: float = 0.0,
    theta: float = 0.0,
    flip: bool = False,
) -> np.ndarray:
    """Jacobian matrix of ``galsim.ShearWCS(scale, Shear(g1, g2))``, rotated and flipped.

    ``scale * Shear(g)^{-1} * Rotation(theta) [* axis swap]``; with
    ``theta = 0`` and no flip it equals GalSim's ``ShearWCS`` Jacobian
    (``g1 = 0.1`` gives ``dudx = 0.237892``, ``dvdy = 0.290757``).

    Examples
    --------
    >>> jacobian_matrix(0.2).tolist()
    [[0.2, 0.0], [0.0, 0.2]]
    >>> jacobian_matrix(0.263, 0.1).round(6).ravel().tolist()
    [0.237892, 0.0, 0.0, 0.290757]
    """
    gsq = g1 * g1 + g2 * g2
    if gsq >= 1:
        raise GalmixValueError(f"WCS shear must have |g| < 1, got ({g1!r}, {g2!r})")
    f = 1.0 / math.sqrt(1.0 - gsq)
    s = f * np.array([[1.0 - g1, -g2], [-g2, 1.0 + g1]])
    c, sn = math.cos(theta), math.sin(theta)
    m = scale * s @ np.array([[c, -sn], [sn, c]])
    if flip:
        m = m @ np.array([[0.0, 1.0], [1.0, 0.0]])
    return m


@dataclass(frozen=True)
class ShearSimConfig:
    """Settings of a paired shear simulation (defaults: the issue-8 benchmark).

    Galaxy: exponential (``gal_hlr`` arcsec) with flux ``flux``; PSF:
    Moffat (``psf_beta``, ``psf_fwhm``) sheared by ``psf_shear``; pixels:
    ``matrix`` (2x2 Jacobian, arcsec/pixel). ``s2n`` sets the noise from
    the optimal S/N of the noiseless ``+g`` image (``None`` = noiseless).
    """

    true_shear: tuple[float, float] = (0.02, 0.0)
    matrix: tuple[tuple[float, float], tuple[float, float]] = ((0.263, 0.0), (0.0, 0.263))
    gal_hlr: float = 0.5
    flux: float = 1000.0
    psf_fwhm: float = 0.9
    psf_beta: float = 2.5
    psf_shear: tuple[float, float] = (0.02, -0.01)
    stamp_size: int = 48
    psf_stamp_size: int = 33
    s2n: float | None = None
    kernel: str = "gauss"
    step: float = 0.01
    fixnoise: bool = True
    weight_fwhm: float = 1.2
    offset: bool = True
    types: tuple[str, ...] = field(default=("noshear", "1p", "1m", "2p", "2m"))


def _galsim_objects(cfg: ShearSimConfig):
    import galsim

    psf = galsim.Moffat(beta=cfg.psf_beta, fwhm=cfg.psf_fwhm).shear(
        g1=cfg.psf_shear[0], g2=cfg.psf_shear[1]
    )
    gal = galsim.Exponential(half_light_radius=cfg.gal_hlr, flux=cfg.flux)
    m = np.asarray(cfg.matrix, dtype=float)
    wcs = galsim.JacobianWCS(m[0, 0], m[0, 1], m[1, 0], m[1, 1])
    return galsim, psf, gal, wcs, m


def _psf_obs(cfg: ShearSimConfig) -> Observation:
    _, psf, _, wcs, m = _galsim_objects(cfg)
    n = cfg.psf_stamp_size
    img = psf.drawImage(nx=n, ny=n, wcs=wcs, dtype=np.float64).array
    c = (n - 1) / 2.0
    return Observation(img, jacobian=Jacobian.from_matrix(m, c, c))


def _noise_sigma(cfg: ShearSimConfig) -> float:
    if cfg.s2n is None:
        return 0.0
    galsim, psf, gal, wcs, _ = _galsim_objects(cfg)
    n = cfg.stamp_size
    g = cfg.true_shear
    img = (
        galsim.Convolve(gal.shear(g1=g[0], g2=g[1]), psf)
        .drawImage(nx=n, ny=n, wcs=wcs, dtype=np.float64)
        .array
    )
    return float(np.sqrt(np.sum(img**2)) / cfg.s2n)


def simulate_pair(
    cfg: ShearSimConfig, rng: np.random.Generator, noise_sigma: float | None = None
) -> tuple[Observation, Observation]:
    """One ``(+g, -g)`` pair of stamps with the same offset and noise field.

    Examples
    --------
    >>> import numpy as np
    >>> plus, minus = simulate_pair(ShearSimConfig(stamp_size=32), np.random.default_rng(1))
    >>> plus.shape, plus.psf.shape
    ((32, 32), (33, 33))
    """
    galsim, psf, gal, wcs, m = _galsim_objects(cfg)
    sigma = _noise_sigma(cfg) if noise_sigma is None else float(noise_sigma)
    n = cfg.stamp_size
    c = (n - 1) / 2.0
    off = rng.uniform(-0.5, 0.5, 2) if cfg.offset else np.zeros(2)
    noise = rng.standard_normal((n, n)) * sigma if sigma > 0 else None
    psf_obs = _psf_obs(cfg)
    out = []
    for sign in (1.0, -1.0):
        g1, g2 = sign * cfg.true_shear[0], sign * cfg.true_shear[1]
        obj = galsim.Convolve(gal.shear(g1=g1, g2=g2), psf)
        img = obj.drawImage(
            nx=n, ny=n, wcs=wcs, dtype=np.float64, offset=galsim.PositionD(off[0], off[1])
        ).array
        weight = None
        if noise is not None:
            img = img + noise
            weight = np.full((n, n), 1.0 / sigma**2)
        out.append(
            Observation(
                img,
                weight=weight,
                # world origin on the galaxy centre (as in the ngmix simulations)
                jacobian=Jacobian.from_matrix(m, c + off[0], c + off[1]),
                psf=psf_obs,
            )
        )
    return out[0], out[1]


def _run_chunk(args) -> tuple[dict, dict]:
    from galmix.moments.moments import _FWHM_TO_SIGMA, _gauss_moments_fast
    from galmix.shear.metacal import MetacalPlan

    cfg, seed, npairs, sigma = args
    rng = np.random.default_rng(seed)
    psf_obs = _psf_obs(cfg)
    m = np.asarray(cfg.matrix, dtype=float)
    n = cfg.stamp_size
    jac = Jacobian.from_matrix(m, (n - 1) / 2.0, (n - 1) / 2.0)
    plan = MetacalPlan(
        psf_obs,
        jac,
        (n, n),
        kernel=cfg.kernel,
        step=cfg.step,
        types=cfg.types,
        fixnoise=cfg.fixnoise and sigma > 0,
    )
    s2 = (cfg.weight_fwhm * _FWHM_TO_SIGMA) ** 2
    res = {"plus": {t: np.full((npairs, 2), np.nan) for t in cfg.types}}
    res["minus"] = {t: np.full((npairs, 2), np.nan) for t in cfg.types}
    for i in range(npairs):
        pair = simulate_pair(cfg, rng, sigma)
        nseed = int(rng.integers(2**63))
        for key, obs in zip(("plus", "minus"), pair):
            # the same fixnoise field for both members of a pair
            mc = plan.apply(obs, rng=np.random.default_rng(nseed), keep_noise=False)
            for t, o in mc.items():
                out = _gauss_moments_fast(o.image, o.weight, o.jacobian.as_array(), s2)
                if out[0] == 0:
                    res[key][t][i] = (out[5], out[6])
    return res["plus"], res["minus"]


def run_shear_bias(
    cfg: ShearSimConfig,
    npairs: int,
    seed: int = 0,
    workers: int = 1,
    method: str = "linear",
    chunk_size: int = 50,
) -> BiasResult:
    """Run ``npairs`` paired simulations and return m and c with jackknife errors.

    Parameters
    ----------
    cfg : ShearSimConfig
        Simulation settings.
    npairs : int
        Number of ``(+g, -g)`` pairs.
    seed : int
        Master seed (results are independent of ``workers``).
    workers : int
        Processes (``concurrent.futures.ProcessPoolExecutor``); 1 runs inline.
    method : {"linear", "cubic"}
        Shear estimator (``"cubic"`` adds the double-step types).
    chunk_size : int
        Pairs per task.

    Returns
    -------
    BiasResult

    Examples
    --------
    >>> res = run_shear_bias(ShearSimConfig(stamp_size=32), npairs=2, workers=1)
    >>> abs(res.m) < 1e-3
    True
    """
    npairs = int(npairs)
    if npairs < 2:
        raise GalmixValueError(f"npairs must be >= 2, got {npairs!r}")
    if method == "cubic":
        extra = tuple(t for t in ("1p2", "1m2", "2p2", "2m2") if t not in cfg.types)
        cfg = ShearSimConfig(**{**cfg.__dict__, "types": tuple(cfg.types) + extra})
    sigma = _noise_sigma(cfg)
    sizes = [min(chunk_size, npairs - i) for i in range(0, npairs, chunk_size)]
    seeds = np.random.SeedSequence(seed).spawn(len(sizes))
    tasks = [(cfg, s, k, sigma) for s, k in zip(seeds, sizes)]
    if workers <= 1:
        parts = [_run_chunk(t) for t in tasks]
    else:
        with ProcessPoolExecutor(max_workers=int(workers)) as ex:
            parts = list(ex.map(_run_chunk, tasks))
    plus = {t: np.concatenate([p[0][t] for p in parts]) for t in cfg.types}
    minus = {t: np.concatenate([p[1][t] for p in parts]) for t in cfg.types}
    return estimate_m_c(plus, minus, cfg.true_shear, cfg.step, method=method)
