"""Photo-z estimators with scikit-learn's ``fit(X, z)`` / ``predict(X)`` protocol.

* :class:`KNNPhotoZ`: k nearest neighbours in standardised feature space
  (baseline); ``predict_pdf`` from the neighbours' redshifts.
* :class:`RandomForestPhotoZ`: random forest (baseline).
* :class:`GradientBoostingPhotoZ` (the default, :func:`default_estimator`):
  an ensemble of histogram gradient-boosted trees with the absolute-error
  (median) loss, trained on copies of the training set whose fluxes are
  redrawn from their errors, with early stopping on held-out training
  objects, plus quantile models for ``predict_quantiles`` / ``predict_pdf``.

Every estimator takes an optional ``features`` transformer
(:class:`~galmix.photoz.features.FluxFeatures`): then ``X`` is the raw
photometry matrix (fluxes, errors, extinction, extras) and the estimator
computes features itself, which lets the default estimator perturb fluxes by
their errors. With ``features=None`` ``X`` is used as given (e.g. pixel
vectors). Predictions stream through ``chunk_size`` rows at a time, so the
working memory stays flat for any number of rows.

Examples
--------
>>> import numpy as np
>>> from galmix.photoz import KNNPhotoZ
>>> rng = np.random.default_rng(0)
>>> X = rng.uniform(0, 1, size=(200, 2))
>>> z = 0.5 * X[:, 0]
>>> model = KNNPhotoZ(n_neighbors=5).fit(X, z)
>>> abs(float(model.predict([[0.5, 0.5]])[0]) - 0.25) < 0.05
True
"""

from __future__ import annotations

import contextlib
import functools

import numpy as np
from scipy import special
from sklearn.base import BaseEstimator, RegressorMixin, clone
from sklearn.ensemble import HistGradientBoostingRegressor, RandomForestRegressor
from sklearn.neighbors import KNeighborsRegressor
from sklearn.preprocessing import StandardScaler
from sklearn.utils.validation import check_is_fitted

from galmix.errors import GalmixValueError
from galmix.photoz.features import FluxFeatures

__all__ = [
    "ESTIMATORS",
    "GradientBoostingPhotoZ",
    "KNNPhotoZ",
    "RandomForestPhotoZ",
    "default_estimator",
]


def _check_z(z, n: int) -> np.ndarray:
    z = np.asarray(z, dtype=np.float64).ravel()
    if z.size != n:
        raise GalmixValueError(f"z must have one value per row of X ({n}), got {z.size}")
    if not np.all(np.isfinite(z)) or np.any(z <= -1):
        raise GalmixValueError("z must be finite and > -1")
    return z


def _with_threads(method):
    """Run an estimator method inside its ``_threads()`` context."""

    @functools.wraps(method)
    def wrapper(self, *args, **kwargs):
        with self._threads():
            return method(self, *args, **kwargs)

    return wrapper


class _PhotoZEstimator(RegressorMixin, BaseEstimator):
    """Shared plumbing: features, training-set record, chunked prediction."""

    def _threads(self):
        """Context limiting OpenMP threads to ``n_threads`` (no-op for None)."""
        n = getattr(self, "n_threads", None)
        if n is None:
            return contextlib.nullcontext()
        from threadpoolctl import threadpool_limits

        return threadpool_limits(limits=int(n), user_api="openmp")

    def _check_X(self, X) -> np.ndarray:
        X = np.asarray(X, dtype=np.float64)
        if X.ndim != 2:
            raise GalmixValueError(f"X must be 2-d (n_samples, n_columns), got shape {X.shape}")
        return X

    def _begin_fit(self, X, z) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        X = self._check_X(X)
        if X.shape[0] < 2:
            raise GalmixValueError(f"need at least 2 training rows, got {X.shape[0]}")
        z = _check_z(z, X.shape[0])
        if self.features is not None:
            if not isinstance(self.features, FluxFeatures):
                raise GalmixValueError(
                    f"features must be a FluxFeatures or None, got {type(self.features).__name__}"
                )
            self.features_ = clone(self.features).fit(X)
            F = self.features_.transform(X)
        else:
            self.features_ = None
            F = X
        if not np.all(np.isfinite(F)):
            raise GalmixValueError("features of X contain non-finite values")
        # the training set is kept so that models can be saved safely (see galmix.photoz.io)
        self.train_X_ = X
        self.train_z_ = z
        self.n_features_in_ = X.shape[1]
        return X, F, z

    def transform_features(self, X) -> np.ndarray:
        """The feature matrix the regressor sees for raw input ``X``."""
        check_is_fitted(self, "train_X_")
        X = self._check_X(X)
        if X.shape[1] != self.n_features_in_:
            raise GalmixValueError(
                f"X has {X.shape[1]} columns, the model was fitted with {self.n_features_in_}"
            )
        F = X if self.features_ is None else self.features_.transform(X)
        return np.where(np.isfinite(F), F, 0.0)

    def _chunks(self, n: int):
        step = int(self.chunk_size)
        if step < 1:
            raise GalmixValueError(f"chunk_size must be >= 1, got {self.chunk_size!r}")
        for start in range(0, n, step):
            yield slice(start, min(start + step, n))

    def predict(self, X) -> np.ndarray:
        """Point estimates of z, computed ``chunk_size`` rows at a time."""
        check_is_fitted(self, "train_X_")
        X = self._check_X(X)
        out = np.empty(X.shape[0])
        for sl in self._chunks(X.shape[0]):
            out[sl] = self._predict_features(self.transform_features(X[sl]))
        return out


class KNNPhotoZ(_PhotoZEstimator):
    """k-nearest-neighbour photo-z in standardised feature space.

    Parameters
    ----------
    n_neighbors : int
    weights : {"distance", "uniform"}
    pdf_bandwidth : float
        Gaussian kernel width, in units of ``1 + z``, placed on each
        neighbour's redshift to build ``predict_pdf``.
    features : FluxFeatures or None
    chunk_size : int

    Examples
    --------
    >>> import numpy as np
    >>> X = np.arange(20.0)[:, None]
    >>> m = KNNPhotoZ(n_neighbors=3, weights="uniform").fit(X, X[:, 0] / 100)
    >>> round(float(m.predict([[5.0]])[0]), 6)
    0.05
    """

    def __init__(
        self,
        n_neighbors: int = 10,
        weights: str = "distance",
        pdf_bandwidth: float = 0.01,
        features: FluxFeatures | None = None,
        chunk_size: int = 50_000,
    ):
        self.n_neighbors = n_neighbors
        self.weights = weights
        self.pdf_bandwidth = pdf_bandwidth
        self.features = features
        self.chunk_size = chunk_size

    def fit(self, X, z):
        """Fit on raw input ``X`` and redshifts ``z``."""
        if self.weights not in ("distance", "uniform"):
            raise GalmixValueError(f"weights must be 'distance' or 'uniform', got {self.weights!r}")
        _, F, z = self._begin_fit(X, z)
        k = int(self.n_neighbors)
        if not 1 <= k <= F.shape[0]:
            raise GalmixValueError(f"n_neighbors must be in [1, {F.shape[0]}], got {k}")
        self.scaler_ = StandardScaler().fit(F)
        self.knn_ = KNeighborsRegressor(n_neighbors=k, weights=self.weights).fit(
            self.scaler_.transform(F), z
        )
        return self

    def _predict_features(self, F):
        return self.knn_.predict(self.scaler_.transform(F))

    @_with_threads
    def predict_pdf(self, X, z_grid) -> np.ndarray:
        """PDFs on ``z_grid`` (rows normalised to unit integral).

        A Gaussian of width ``pdf_bandwidth * (1 + z_k)`` on each neighbour's
        redshift ``z_k``, weighted as in ``predict``.
        """
        check_is_fitted(self, "knn_")
        g = np.asarray(z_grid, dtype=np.float64)
        X = self._check_X(X)
        out = np.empty((X.shape[0], g.size))
        ztr = self.knn_._y
        for sl in self._chunks(X.shape[0]):
            Fs = self.scaler_.transform(self.transform_features(X[sl]))
            dist, idx = self.knn_.kneighbors(Fs)
            if self.weights == "distance":
                with np.errstate(divide="ignore"):
                    w = 1.0 / dist
                exact = ~np.isfinite(w)
                w = np.where(exact.any(axis=1, keepdims=True), exact.astype(float), w)
            else:
                w = np.ones_like(dist)
            zk = ztr[idx]
            sig = float(self.pdf_bandwidth) * (1.0 + zk)
            pdf = np.zeros((zk.shape[0], g.size))
            for j in range(zk.shape[1]):
                pdf += (w[:, j : j + 1] / sig[:, j : j + 1]) * np.exp(
                    -0.5 * ((g[None, :] - zk[:, j : j + 1]) / sig[:, j : j + 1]) ** 2
                )
            norm = np.trapezoid(pdf, g, axis=1)[:, None]
            out[sl] = pdf / np.where(norm > 0, norm, 1.0)
        return out


class RandomForestPhotoZ(_PhotoZEstimator):
    """Random-forest photo-z (scikit-learn ``RandomForestRegressor``).

    Examples
    --------
    >>> import numpy as np
    >>> X = np.random.default_rng(0).uniform(size=(100, 2))
    >>> m = RandomForestPhotoZ(n_estimators=10).fit(X, X[:, 0])
    >>> m.predict(X[:2]).shape
    (2,)
    """

    def __init__(
        self,
        n_estimators: int = 200,
        max_features: float = 0.5,
        min_samples_leaf: int = 1,
        random_state: int = 0,
        n_jobs: int | None = None,
        features: FluxFeatures | None = None,
        chunk_size: int = 50_000,
    ):
        self.n_estimators = n_estimators
        self.max_features = max_features
        self.min_samples_leaf = min_samples_leaf
        self.random_state = random_state
        self.n_jobs = n_jobs
        self.features = features
        self.chunk_size = chunk_size

    def fit(self, X, z):
        """Fit on raw input ``X`` and redshifts ``z``."""
        _, F, z = self._begin_fit(X, z)
        self.forest_ = RandomForestRegressor(
            n_estimators=int(self.n_estimators),
            max_features=self.max_features,
            min_samples_leaf=int(self.min_samples_leaf),
            random_state=self.random_state,
            n_jobs=self.n_jobs,
        ).fit(F, z)
        return self

    def _predict_features(self, F):
        return self.forest_.predict(F)


def _probit_interp(zq: np.ndarray, s: np.ndarray, z: np.ndarray):
    """Piecewise-linear map z -> normal score through knots (zq[i], s) per row.

    zq: (n, k) strictly increasing per row; s: (k,); z: (n, m).
    Returns (score, slope) arrays of shape (n, m); linear extrapolation with
    the end segments' slopes.
    """
    slopes = np.diff(s)[None, :] / np.diff(zq, axis=1)  # (n, k-1)
    seg = np.zeros(z.shape, dtype=np.intp)
    for k in range(1, zq.shape[1] - 1):
        seg += (z >= zq[:, k : k + 1]).astype(np.intp)
    rows = np.arange(z.shape[0])[:, None]
    z0 = zq[rows, seg]
    slope = slopes[rows, seg]
    score = s[seg] + slope * (z - z0)
    return score, slope


def _pwl(x: np.ndarray, xk: np.ndarray, yk: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Piecewise-linear map through (xk, yk) with linear extrapolation; value, slope."""
    k = np.clip(np.searchsorted(xk, x, side="right") - 1, 0, xk.size - 2)
    slope = (yk[k + 1] - yk[k]) / (xk[k + 1] - xk[k])
    return yk[k] + slope * (x - xk[k]), slope


class GradientBoostingPhotoZ(_PhotoZEstimator):
    """Default photo-z: error-aware ensemble of gradient-boosted trees.

    Each of ``n_members`` members is a scikit-learn
    ``HistGradientBoostingRegressor`` with the absolute-error loss (it
    estimates the conditional median, which suits the robust sigma_NMAD
    metric). A member holds out a random ``validation_fraction`` of the
    training objects for early stopping (the number of boosting iterations
    is chosen on training data only) and trains on the rest plus
    ``n_realisations`` copies whose fluxes are redrawn from their errors
    (needs ``features``), which teaches the trees how noisy each measurement
    is. The point estimate is the members' mean. Quantile models (pinball
    loss, same data as member 0) give ``predict_quantiles``; ``predict_pdf``
    and ``predict_cdf`` interpolate the quantiles in normal-score space
    (Gaussian tails beyond the outer quantiles).

    Parameters
    ----------
    n_members : int
    n_realisations : int
        Perturbed copies of the training set per member (0 = none).
    learning_rate, max_iter, max_leaf_nodes, min_samples_leaf, l2_regularization :
        Passed to every ``HistGradientBoostingRegressor``.
    validation_fraction : float or None
        Held-out objects per member for early stopping; ``None`` trains
        ``max_iter`` iterations on everything.
    n_iter_no_change : int
        Early-stopping patience.
    quantiles : tuple of float
        Quantile levels modelled in addition to the median (empty: none).
    n_calibration_knots : int
        Evenly spaced knots of the PIT recalibration map (Bordoloi et al.
        2010) fitted on member 0's held-out training objects (needs
        ``validation_fraction``), plus fixed tail knots at 0.01, 0.025, 0.975
        and 0.99; < 2 disables recalibration.
    random_state : int
    features : FluxFeatures or None
    chunk_size : int
    n_threads : int or None
        OpenMP threads of the boosted trees during ``fit``/``predict``
        (None: scikit-learn's default, all cores). Use 1 on shared machines.

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> X = rng.uniform(size=(300, 2)); z = 0.3 * X[:, 0]
    >>> m = GradientBoostingPhotoZ(n_members=1, max_iter=50, quantiles=(0.16, 0.84)).fit(X, z)
    >>> m.predict_quantiles(X[:3]).shape
    (3, 3)
    """

    def __init__(
        self,
        n_members: int = 4,
        n_realisations: int = 2,
        learning_rate: float = 0.05,
        max_iter: int = 3000,
        max_leaf_nodes: int = 31,
        min_samples_leaf: int = 20,
        l2_regularization: float = 0.0,
        validation_fraction: float | None = 0.15,
        n_iter_no_change: int = 50,
        quantiles: tuple[float, ...] = (0.025, 0.16, 0.84, 0.975),
        n_calibration_knots: int = 10,
        random_state: int = 0,
        features: FluxFeatures | None = None,
        chunk_size: int = 50_000,
        n_threads: int | None = None,
    ):
        self.n_members = n_members
        self.n_realisations = n_realisations
        self.learning_rate = learning_rate
        self.max_iter = max_iter
        self.max_leaf_nodes = max_leaf_nodes
        self.min_samples_leaf = min_samples_leaf
        self.l2_regularization = l2_regularization
        self.validation_fraction = validation_fraction
        self.n_iter_no_change = n_iter_no_change
        self.quantiles = quantiles
        self.n_calibration_knots = n_calibration_knots
        self.random_state = random_state
        self.features = features
        self.chunk_size = chunk_size
        self.n_threads = n_threads

    def _hgb(self, loss: str, seed: int, quantile: float | None = None, early: bool = True):
        kw = {"quantile": quantile} if quantile is not None else {}
        return HistGradientBoostingRegressor(
            loss=loss,
            learning_rate=float(self.learning_rate),
            max_iter=int(self.max_iter),
            max_leaf_nodes=int(self.max_leaf_nodes),
            min_samples_leaf=int(self.min_samples_leaf),
            l2_regularization=float(self.l2_regularization),
            early_stopping=early,
            validation_fraction=None,
            n_iter_no_change=int(self.n_iter_no_change),
            scoring="loss",
            random_state=seed,
            **kw,
        )

    def fit(self, X, z):
        """Fit on raw input ``X`` (see ``features``) and redshifts ``z``."""
        with self._threads():
            return self._fit(X, z)

    def predict(self, X) -> np.ndarray:
        """Point estimates (mean of the members' medians), in chunks."""
        with self._threads():
            return super().predict(X)

    def _fit(self, X, z):
        X, F, z = self._begin_fit(X, z)
        n_members = int(self.n_members)
        if n_members < 1:
            raise GalmixValueError(f"n_members must be >= 1, got {self.n_members!r}")
        q = tuple(float(v) for v in self.quantiles)
        if any(not 0 < v < 1 or v == 0.5 for v in q):
            raise GalmixValueError(f"quantiles must lie in (0, 1) and exclude 0.5, got {q}")
        vf = self.validation_fraction
        if vf is not None and not 0 < float(vf) < 0.5:
            raise GalmixValueError(f"validation_fraction must be in (0, 0.5) or None, got {vf!r}")
        n = X.shape[0]
        rng = np.random.default_rng(self.random_state)
        self.members_ = []
        self.quantile_models_ = []
        self.n_iter_ = []
        for m in range(n_members):
            seed = int(rng.integers(2**31 - 1))
            if vf is not None:
                perm = rng.permutation(n)
                nv = max(1, round(float(vf) * n))
                va, tr = perm[:nv], perm[nv:]
            else:
                va, tr = None, np.arange(n)
            blocks_F, blocks_z = [F[tr]], [z[tr]]
            if self.features_ is not None:
                for _ in range(int(self.n_realisations)):
                    blocks_F.append(self.features_.transform(self.features_.perturb(X[tr], rng)))
                    blocks_z.append(z[tr])
            Ft = np.vstack(blocks_F)
            zt = np.concatenate(blocks_z)
            del blocks_F
            val = {} if va is None else {"X_val": F[va], "y_val": z[va]}
            model = self._hgb("absolute_error", seed, early=va is not None)
            model.fit(Ft, zt, **val)
            self.members_.append(model)
            self.n_iter_.append(int(model.n_iter_))
            if m == 0:
                val0 = (F[va], z[va]) if va is not None else None
                for k, level in enumerate(sorted(q)):
                    qm = self._hgb("quantile", seed + k + 1, quantile=level, early=va is not None)
                    self.quantile_models_.append(qm.fit(Ft, zt, **val))
        self.quantile_levels_ = tuple(sorted(q))
        self.pit_calibration_ = (np.array([-1.0, 1.0]), np.array([-1.0, 1.0]))
        if va is not None and q and int(self.n_calibration_knots) >= 2:
            # PIT recalibration on member 0's held-out objects (training data only),
            # as a monotone piecewise-linear map of normal scores
            zq, sc = self._raw_knots(val0[0], None)
            score, _ = _probit_interp(zq, sc, val0[1][:, None])
            k = int(self.n_calibration_knots)
            # evenly spaced knots plus tail knots that pin the 95 % interval
            levels = np.union1d((np.arange(k) + 0.5) / k, [0.01, 0.025, 0.975, 0.99])
            x = np.quantile(score[:, 0], levels)
            x = np.maximum.accumulate(x + 1e-6 * np.arange(levels.size))
            self.pit_calibration_ = (x, special.ndtri(levels))
        return self

    def _predict_features(self, F):
        return np.mean([mod.predict(F) for mod in self.members_], axis=0)

    @property
    def quantile_levels(self) -> tuple[float, ...]:
        """Default levels of :meth:`predict_quantiles` (sorted, with 0.5)."""
        check_is_fitted(self, "members_")
        return tuple(sorted((*self.quantile_levels_, 0.5)))

    def _raw_knots(self, F: np.ndarray, centre: np.ndarray | None):
        """Uncalibrated quantile knots (n, L) and their normal scores (L,).

        The median knot is member 0's median (the quantile models' partner);
        with ``centre`` the knots are shifted so that it equals ``centre``.
        """
        levels = self.quantile_levels
        if len(levels) < 2:
            raise GalmixValueError("PDFs need at least one quantile level besides 0.5")
        med0 = self.members_[0].predict(F)
        qi = iter(self.quantile_models_)
        Q = np.column_stack([med0 if lv == 0.5 else next(qi).predict(F) for lv in levels])
        Q = np.sort(Q, axis=1)
        if centre is not None:
            Q = Q + (centre - med0)[:, None]
        eps = 1e-5
        zq = np.maximum.accumulate(Q + eps * np.arange(Q.shape[1])[None, :], axis=1)
        return zq, special.ndtri(np.asarray(levels))

    def _calibrate(self, score: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Calibrated normal scores and their derivative w.r.t. the raw score."""
        x, y = self.pit_calibration_
        return _pwl(score, x, y)

    @_with_threads
    def predict_cdf(self, X, z) -> np.ndarray:
        """Calibrated CDF of each object's redshift PDF at ``z`` (one value per row).

        ``predict_cdf(X, z_true)`` is the PIT.
        """
        check_is_fitted(self, "members_")
        X = self._check_X(X)
        z = np.asarray(z, dtype=np.float64).ravel()
        if z.size != X.shape[0]:
            raise GalmixValueError(f"z must have {X.shape[0]} values, got {z.size}")
        out = np.empty(X.shape[0])
        for sl in self._chunks(X.shape[0]):
            F = self.transform_features(X[sl])
            zq, s = self._raw_knots(F, self._predict_features(F))
            score, _ = _probit_interp(zq, s, z[sl, None])
            out[sl] = special.ndtr(self._calibrate(score[:, 0])[0])
        return out

    @_with_threads
    def predict_quantiles(self, X, levels=None) -> np.ndarray:
        """Calibrated quantiles ``(n, len(levels))`` (default :attr:`quantile_levels`).

        Columns never cross. The PDF is centred on the point estimate of
        :meth:`predict`; its 0.5 quantile is close to, but not exactly, it.
        """
        check_is_fitted(self, "members_")
        X = self._check_X(X)
        p = np.asarray(self.quantile_levels if levels is None else levels, dtype=np.float64)
        if p.ndim != 1 or np.any((p <= 0) | (p >= 1)):
            raise GalmixValueError(f"levels must lie in (0, 1), got {levels!r}")
        x, y = self.pit_calibration_
        target, _ = _pwl(special.ndtri(p), y, x)  # raw normal scores of the levels
        out = np.empty((X.shape[0], p.size))
        for sl in self._chunks(X.shape[0]):
            F = self.transform_features(X[sl])
            zq, s = self._raw_knots(F, self._predict_features(F))
            k = np.clip(np.searchsorted(s, target, side="right") - 1, 0, s.size - 2)
            slope = (s[k + 1] - s[k])[None, :] / (zq[:, k + 1] - zq[:, k])
            out[sl] = zq[:, k] + (target - s[k])[None, :] / slope
        return np.sort(out, axis=1)

    @_with_threads
    def predict_pdf(self, X, z_grid) -> np.ndarray:
        """Calibrated PDFs ``(n, len(z_grid))`` from the modelled quantiles.

        Normal scores are interpolated linearly between the quantiles (so
        each segment holds exactly its probability mass) and extrapolated
        with Gaussian tails, then the PIT recalibration map measured on the
        held-out training objects is applied; rows are renormalised on the grid.
        """
        check_is_fitted(self, "members_")
        g = np.asarray(z_grid, dtype=np.float64)
        if g.ndim != 1 or g.size < 2 or np.any(np.diff(g) <= 0):
            raise GalmixValueError("z_grid must be 1-d, strictly increasing, with >= 2 points")
        X = self._check_X(X)
        out = np.empty((X.shape[0], g.size))
        for sl in self._chunks(X.shape[0]):
            F = self.transform_features(X[sl])
            zq, s = self._raw_knots(F, self._predict_features(F))
            zz = np.broadcast_to(g, (zq.shape[0], g.size))
            score, slope = _probit_interp(zq, s, zz)
            cscore, cslope = self._calibrate(score)
            pdf = np.exp(-0.5 * cscore**2) / np.sqrt(2 * np.pi) * slope * cslope
            norm = np.trapezoid(pdf, g, axis=1)[:, None]
            out[sl] = pdf / np.where(norm > 0, norm, 1.0)
        return out


#: estimator registry: name -> class (used by the CLI and model files)
ESTIMATORS: dict[str, type[_PhotoZEstimator]] = {
    "knn": KNNPhotoZ,
    "rf": RandomForestPhotoZ,
    "boost": GradientBoostingPhotoZ,
}


def default_estimator(features: FluxFeatures | None = None, **params) -> GradientBoostingPhotoZ:
    """galmix's default photo-z estimator (:class:`GradientBoostingPhotoZ`).

    Examples
    --------
    >>> type(default_estimator()).__name__
    'GradientBoostingPhotoZ'
    """
    return GradientBoostingPhotoZ(features=features, **params)
