"""Model descriptions: named profile components and their parameter layout.

A *model* is one object made of one or more components that share a centre
(``"sersic"``, ``"exp+dev"``, ``"point+sersic"``, ...). Each non-point
component has its own half-light radius and shape ``(g1, g2)``; Sersic
components also a free index ``n``; every component has one flux per band.
``"expdev"`` is the CModel-style two-stage fit (see :func:`galmix.fit.fit`).
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from galmix.errors import GalmixValueError

__all__ = ["COMPONENT_KINDS", "MODEL_NAMES", "Model", "parse_model"]

#: component kinds and their kernel code (0 fixed mixture, 1 free-n Sersic, 2 point,
#: 3 constant sky level per pixel, one per band)
COMPONENT_KINDS = {"gauss": 0, "exp": 0, "dev": 0, "sersic": 1, "point": 2, "sky": 3}
_FIXED_N = {"exp": 1.0, "dev": 4.0}

#: default Sersic table of the fitter (``LMSettings.sersic_ngauss``) for free-n Sersic,
#: exponential and de Vaucouleurs components: the K=18 "ladder" table, fitted to the
#: profile on the radii a fit sees (0.003 to 30 hlr) and to the untruncated profile's
#: enclosed flux out to 100 hlr (the K=10 table, the profiles' default, moves 4-8 % of
#: the n >= 4 flux from beyond 10 hlr inwards and biased fits of real profiles by -1 to
#: -9 % in flux; the K=14 "wide" table under-resolved the n = 6 wings, dn = -0.09 at
#: hlr = 0.5 PSF FWHM)
FIT_SERSIC_NGAUSS = 18

#: model names accepted by :func:`galmix.fit.fit`
MODEL_NAMES = (
    "gauss",
    "exp",
    "dev",
    "sersic",
    "point",
    "expdev",
    "point+sersic",
    "exp+dev",
    "sersic+sky",
)

N_MIN = 0.5  # Sersic index range of the fitter (clipped to the tables' range)
N_MAX = 6.5
LOGR_MIN = math.log(1e-4)
LOGR_MAX = math.log(1e3)
G_MAX = 0.99


@dataclass(frozen=True)
class Model:
    """One object's model: component kinds sharing a centre.

    Parameters
    ----------
    components : tuple of str
        Each one of ``"gauss"``, ``"exp"``, ``"dev"``, ``"sersic"``, ``"point"``.

    Examples
    --------
    >>> Model(("point", "sersic")).name
    'point+sersic'
    """

    components: tuple[str, ...]

    def __post_init__(self) -> None:
        comps = tuple(str(c) for c in self.components)
        if not comps:
            raise GalmixValueError("model must have at least one component, got ()")
        for c in comps:
            if c not in COMPONENT_KINDS:
                raise GalmixValueError(
                    f"model component {c!r} is not one of {sorted(COMPONENT_KINDS)}"
                )
        if comps.count("sky") > 1 or all(c == "sky" for c in comps):
            raise GalmixValueError(
                f"model {'+'.join(comps)!r}: at most one 'sky' and at least one source component"
            )
        object.__setattr__(self, "components", comps)

    @property
    def name(self) -> str:
        """Model name (components joined by ``+``)."""
        return "+".join(self.components)

    def component_labels(self) -> list[str]:
        """Parameter suffix of each component (empty for a single source component).

        A ``sky`` component does not count: ``"sersic+sky"`` keeps the plain
        Sersic names and adds ``sky`` (per band ``sky_<band>``).
        """
        sources = [c for c in self.components if c != "sky"]
        labels = []
        for i, c in enumerate(self.components):
            if c == "sky" or len(sources) == 1:
                labels.append("")
                continue
            lab = c if self.components.count(c) == 1 else f"{c}{i}"
            labels.append("_" + lab)
        return labels

    def param_names(self, bands: Sequence[str]) -> list[str]:
        """User-facing parameter names for ``bands`` (``[""]`` for one band)."""
        names = ["u0", "v0"]
        for kind, lab in zip(self.components, self.component_labels()):
            base = "sky" if kind == "sky" else "flux" + lab
            for b in bands:
                names.append(base + (f"_{b}" if b else ""))
            if kind == "sky":
                continue
            if kind != "point":
                names += ["half_light_radius" + lab, "g1" + lab, "g2" + lab]
            if kind == "sersic":
                names.append("n" + lab)
        return names


def parse_model(model: str | Model | Sequence[str]) -> Model:
    """Turn a model name (``"sersic"``, ``"point+sersic"``, ...) into a :class:`Model`.

    Examples
    --------
    >>> parse_model("exp+dev").components
    ('exp', 'dev')
    """
    if isinstance(model, Model):
        return model
    if isinstance(model, str):
        if model == "expdev":
            raise GalmixValueError("model 'expdev' is a two-stage fit, not a single Model")
        return Model(tuple(model.split("+")))
    if isinstance(model, Sequence):
        return Model(tuple(model))
    raise GalmixValueError(f"model must be a name or a Model, got {model!r}")


@functools.cache
def gauss_mixture() -> tuple[np.ndarray, np.ndarray]:
    """Round unit-hlr Gaussian: one component of variance ``1/(2 ln 2)``."""
    return np.array([1.0]), np.array([1.0 / (2.0 * math.log(2.0))])


def n_range() -> tuple[float, float]:
    """Sersic-index bounds: ``[N_MIN, N_MAX]`` within ``galmix.profiles.SERSIC_N_RANGE``."""
    try:
        from galmix.profiles import SERSIC_N_RANGE

        lo, hi = (float(x) for x in SERSIC_N_RANGE)
    except (ImportError, TypeError, ValueError):
        lo, hi = N_MIN, N_MAX
    return max(N_MIN, lo), min(N_MAX, hi)


@functools.cache
def sersic_table(
    n_min: float | None = None,
    n_max: float | None = None,
    npoints: int = 400,
    ngauss: int | None = None,
):
    """Tabulate ``sersic_mixture(n, ngauss)`` and its n-derivative.

    ``ngauss=None`` is the profiles' default table (``galmix.profiles.DEFAULT_NGAUSS``).

    Nodes are uniform in ``ln n``; returns ``(n, w, s, dw, ds)`` for cubic
    Hermite interpolation in the kernels (a fixed, deterministic table; the
    cache never changes results).
    """
    from galmix.profiles import sersic_mixture, sersic_mixture_deriv

    if ngauss is None:
        from galmix.profiles import DEFAULT_NGAUSS as ngauss
    ngauss = int(ngauss)
    lo, hi = n_range()
    n_min = lo if n_min is None else n_min
    n_max = hi if n_max is None else n_max
    # scalar exp per node (numpy's SIMD exp may round differently from its tail)
    grid = np.array([math.exp(x) for x in np.linspace(math.log(n_min), math.log(n_max), npoints)])
    grid[0], grid[-1] = n_min, n_max
    ws, ss, dws, dss = [], [], [], []
    for n in grid:
        w, s = sersic_mixture(float(n), ngauss)
        dw, ds = sersic_mixture_deriv(float(n), ngauss)
        ws.append(np.asarray(w, float))
        ss.append(np.asarray(s, float))
        dws.append(np.asarray(dw, float))
        dss.append(np.asarray(ds, float))
    return (
        np.ascontiguousarray(grid, dtype=np.float64),
        np.ascontiguousarray(ws),
        np.ascontiguousarray(ss),
        np.ascontiguousarray(dws),
        np.ascontiguousarray(dss),
    )


def fixed_mixture(kind: str, ngauss: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Round unit-hlr mixture of a fixed-shape component kind (Sersic table ``ngauss``)."""
    if kind == "gauss":
        return gauss_mixture()
    if kind in ("point", "sky"):
        return np.array([1.0]), np.array([0.0])
    from galmix.profiles import sersic_mixture

    if ngauss is None:
        w, s = sersic_mixture(_FIXED_N[kind])
    else:
        w, s = sersic_mixture(_FIXED_N[kind], int(ngauss))
    return np.asarray(w, float), np.asarray(s, float)


@dataclass
class Layout:
    """Kernel index tables for a list of objects' models (blends) and bands.

    Internal parameters are the user ones except ``half_light_radius`` ->
    ``logr`` (natural log of the half-light radius).
    """

    names: list[str]  # user-facing names
    internal: list[str]  # kernel parameter names
    c_ipar: np.ndarray
    c_iflux: np.ndarray
    c_kind: np.ndarray
    c_K: np.ndarray
    c_w: np.ndarray
    c_s: np.ndarray
    tab: tuple
    lo: np.ndarray
    hi: np.ndarray
    g_pairs: np.ndarray
    flux_index: list[dict[str, int]]  # per object: band -> list of flux param indices
    models: list[Model]
    bands: list[str]

    @property
    def nparams(self) -> int:
        return len(self.names)


def build_layout(
    models: Sequence[Model], bands: Sequence[str], sersic_ngauss: int | None = None
) -> Layout:
    """Index tables for objects ``models`` (prefix ``o{i}_`` when several).

    ``sersic_ngauss`` selects the Sersic table of ``sersic``/``exp``/``dev``
    components (``None``: the profiles' default, as ``galmix.profiles.Sersic``).
    """
    nb = len(bands)
    bsuffix = [""] if nb == 1 else list(bands)
    names: list[str] = []
    internal: list[str] = []
    lo: list[float] = []
    hi: list[float] = []
    comps = []
    flux_index = []
    need_table = any(k == "sersic" for m in models for k in m.components)
    for oi, m in enumerate(models):
        pre = f"o{oi}_" if len(models) > 1 else ""

        def add(name: str, iname: str, low: float, high: float, pre: str = pre) -> int:
            names.append(pre + name)
            internal.append(pre + iname)
            lo.append(low)
            hi.append(high)
            return len(names) - 1

        iu0 = add("u0", "u0", -np.inf, np.inf)
        iv0 = add("v0", "v0", -np.inf, np.inf)
        fidx: dict[str, list[int]] = {b: [] for b in bsuffix}
        for kind, lab in zip(m.components, m.component_labels()):
            iflux = []
            base = "sky" if kind == "sky" else "flux" + lab
            for b in bsuffix:
                nm = base + (f"_{b}" if b else "")
                k = add(nm, nm, -np.inf, np.inf)
                iflux.append(k)
                if kind != "sky":
                    fidx[b].append(k)
            ilr = ig1 = ig2 = inn = -1
            if kind == "sky":
                comps.append((kind, [iu0, iv0, -1, -1, -1, -1], iflux))
                continue
            if kind != "point":
                ilr = add("half_light_radius" + lab, "logr" + lab, LOGR_MIN, LOGR_MAX)
                ig1 = add("g1" + lab, "g1" + lab, -G_MAX, G_MAX)
                ig2 = add("g2" + lab, "g2" + lab, -G_MAX, G_MAX)
            if kind == "sersic":
                inn = add("n" + lab, "n" + lab, *n_range())
            comps.append((kind, [iu0, iv0, ilr, ig1, ig2, inn], iflux))
        flux_index.append(fidx)
    C = len(comps)
    fixed = [
        fixed_mixture(k, sersic_ngauss) if k != "sersic" else (np.ones(1), np.zeros(1))
        for k, _, _ in comps
    ]
    kmax = max(len(w) for w, _ in fixed)
    c_w = np.zeros((C, kmax))
    c_s = np.zeros((C, kmax))
    c_K = np.zeros(C, dtype=np.int64)
    for c, (w, s) in enumerate(fixed):
        c_w[c, : len(w)] = w
        c_s[c, : len(s)] = s
        c_K[c] = len(w)
    if need_table:
        tab = sersic_table(ngauss=sersic_ngauss)
    else:
        tab = (
            np.array([0.0, 1.0]),
            np.zeros((2, 1)),
            np.zeros((2, 1)),
            np.zeros((2, 1)),
            np.zeros((2, 1)),
        )
    g_pairs = np.array([[cp[3], cp[4]] for _, cp, _ in comps if cp[3] >= 0], dtype=np.int64)
    return Layout(
        names=names,
        internal=internal,
        c_ipar=np.array([cp for _, cp, _ in comps], dtype=np.int64),
        c_iflux=np.array([cf for _, _, cf in comps], dtype=np.int64),
        c_kind=np.array([COMPONENT_KINDS[k] for k, _, _ in comps], dtype=np.int64),
        c_K=c_K,
        c_w=c_w,
        c_s=c_s,
        tab=tab,
        lo=np.array(lo),
        hi=np.array(hi),
        g_pairs=g_pairs.reshape(-1, 2),
        flux_index=flux_index,
        models=list(models),
        bands=list(bands),
    )
