"""Photometric redshifts inside the pipeline (object level and pixel level).

With ``photoz.train: true`` the objects matched to the reference catalog
(ASSOC, with known ``z``) form the training set, as in image-photo-z
(seed 002): an object-level estimator learns ``z`` from asinh magnitudes and
colours of the Kron fluxes, and a pixel-level estimator learns it from the
per-pixel vectors of the pixel table (every pixel of a training object
carries the object's ``z``); pixel predictions are aggregated per object
(:func:`galmix.photoz.aggregate_pixels`). Both predictions go into the
catalog (``photoz_z``, ``photoz_z_pixel``); objects in the training set are
predicted by k-fold cross-validation so that none is scored on its own
redshift. Estimators come from :mod:`galmix.photoz`; without it the step is
skipped.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np

from galmix.pipeline.config import PipelineConfig
from galmix.pipeline.measure import optional_module

__all__ = ["object_features", "run_photoz"]

log = logging.getLogger(__name__)
_NFOLD = 5
#: training pixels per object for pixel-level photo-z (random subset)
_MAX_PIXELS = 100


def _sample_pixels(pix: Any, limit: int, seed: int) -> np.ndarray:
    """Mask of at most ``limit`` pixels per object, drawn at random (seeded)."""
    ids = np.asarray(pix["id"], np.int64)
    key = np.random.default_rng(seed).random(len(ids))
    order = np.lexsort((key, ids))
    sid = ids[order]
    start = np.r_[0, np.flatnonzero(np.diff(sid)) + 1]
    rank = np.arange(len(sid)) - np.repeat(start, np.diff(np.r_[start, len(sid)]))
    keep = np.zeros(len(ids), bool)
    keep[order[rank < limit]] = True
    return keep


def object_features(cat: Any, bands: list[str]) -> np.ndarray:
    """Asinh magnitude in the middle band plus adjacent colours, from ``flux_auto``."""
    pz = optional_module("galmix.photoz.features")
    mags = []
    for b in bands:
        f = np.asarray(cat[f"{b}_flux_auto"], float)
        fe = np.asarray(cat[f"{b}_flux_auto_err"], float)
        zp = np.asarray(cat[f"{b}_zeropoint"], float) if f"{b}_zeropoint" in cat.colnames else 22.5
        good = np.isfinite(f) & np.isfinite(fe) & (fe > 0)
        soft = 1.042 * np.nanmedian(np.where(good, fe, np.nan)) if good.any() else 1.0
        soft_maggies = soft * 10 ** (-0.4 * np.median(zp))
        if pz is not None and hasattr(pz, "luptitudes"):
            m, _ = pz.luptitudes(
                np.where(good, f, 0.0), np.where(good, fe, 1.0), soft_maggies, np.median(zp)
            )
        else:  # pragma: no cover - galmix.photoz missing
            m = (
                -(2.5 / np.log(10))
                * (np.arcsinh(np.where(good, f, 0.0) / (2 * soft)) + np.log(soft))
                + zp
            )
        mags.append(
            np.where(
                np.isfinite(m), m, np.nanmax(m[np.isfinite(m)]) if np.isfinite(m).any() else 30.0
            )
        )
    m = np.column_stack(mags)
    mid = len(bands) // 2
    return np.hstack([m[:, mid : mid + 1], m[:, :-1] - m[:, 1:]])


def _kfold_predict(
    make, X: np.ndarray, z: np.ndarray, train: np.ndarray, seed: int, groups=None, fit_mask=None
):
    """Predictions for every row: cross-validated on ``train`` rows, full model elsewhere.

    Models are fitted on ``train & fit_mask`` rows; folds are drawn per
    ``groups`` (objects) so that no row is predicted by a model that saw its
    own object.
    """
    out = np.full(len(X), np.nan)
    usable = train if fit_mask is None else (train & fit_mask)
    tr = np.flatnonzero(train)
    if np.count_nonzero(usable) < 10:
        return out
    model = make().fit(X[usable], z[usable])
    other = np.flatnonzero(~train)
    if other.size:
        out[other] = model.predict(X[other])
    rng = np.random.default_rng(seed)
    fold = np.full(len(X), -1)
    if groups is None:
        fold[tr] = rng.integers(0, _NFOLD, tr.size)
    else:
        ug = np.unique(groups[tr])
        gf = dict(zip(ug.tolist(), rng.integers(0, _NFOLD, ug.size).tolist()))
        fold[tr] = [gf[g] for g in groups[tr].tolist()]
    for k in range(_NFOLD):
        te = np.flatnonzero(fold == k)
        fi = usable & (fold != k)
        if te.size == 0 or np.count_nonzero(fi) < 10:
            continue
        out[te] = make().fit(X[fi], z[fi]).predict(X[te])
    return out


#: file (in the output folder) of the trained object-level model, reusable as ``photoz.model``
OBJECT_MODEL_FILE = "photoz-object-model.npz"


def _save_object_model(
    cfg: PipelineConfig, make, X: np.ndarray, z: np.ndarray, train: np.ndarray
) -> None:
    io = optional_module("galmix.photoz.io")
    if io is None or not hasattr(io, "save_model") or np.count_nonzero(train) < 10:
        return
    try:
        model = make().fit(X[train], z[train])
        info = {
            "features": "asinh mag (middle band) + adjacent colours of flux_auto",
            "bands": cfg.band_names,
        }
        io.save_model(model, Path(cfg.output) / OBJECT_MODEL_FILE, info=info)
    except Exception as exc:
        log.warning("could not save the photo-z model: %s", exc)


def _predict_saved(cfg: PipelineConfig, cat: Any) -> dict[str, Any]:
    """Object-level photo-z from a model saved by an earlier ``photoz.train`` run."""
    from galmix.errors import ConfigError

    io = optional_module("galmix.photoz.io")
    if io is None or not hasattr(io, "load_model"):
        raise ConfigError("config key 'photoz.model': loading models needs galmix.photoz")
    try:
        model = io.load_model(cfg.photoz.model)
    except Exception as exc:
        raise ConfigError(
            f"config key 'photoz.model': cannot load {str(cfg.photoz.model)!r}: {exc}"
        ) from None
    X = object_features(cat, cfg.band_names)
    if X.shape[1] != getattr(model, "n_features_in_", X.shape[1]):
        raise ConfigError(
            f"config key 'photoz.model': model expects {model.n_features_in_} features, "
            f"the catalog's {len(cfg.band_names)} bands give {X.shape[1]}"
        )
    ok = np.all(np.isfinite(X), axis=1)
    z = np.full(len(cat), np.nan)
    if ok.any():
        z[ok] = model.predict(X[ok])
    cat["photoz_z"] = z
    return {"model": str(cfg.photoz.model)}


def run_photoz(cfg: PipelineConfig, cat: Any, pix: Any | None) -> dict[str, Any]:
    """Add ``photoz_z`` (and ``photoz_z_pixel``) to ``cat`` in place; return a summary."""
    pc = cfg.photoz
    summary: dict[str, Any] = {}
    if len(cat) == 0:
        return summary
    if pc.model is not None and not pc.train:
        return _predict_saved(cfg, cat)
    if not pc.train:
        return summary
    pz = optional_module("galmix.photoz")
    est = optional_module("galmix.photoz.estimators")
    if est is None or not hasattr(est, "KNNPhotoZ"):
        log.warning("galmix.photoz not available: photo-z skipped")
        return summary
    bands = cfg.band_names
    zcol = f"ref_{pc.target}"
    if zcol not in cat.colnames:
        return summary
    zref = np.asarray(cat[zcol], float)
    train = np.isfinite(zref) & (zref >= 0)
    if "ref_class" in cat.colnames:
        cls = np.asarray(cat["ref_class"]).astype(str)
        train &= cls != "star"
    X = object_features(cat, bands)
    ok = np.all(np.isfinite(X), axis=1)

    def make_obj():
        return est.KNNPhotoZ(n_neighbors=7, weights="distance")

    zo = np.full(len(cat), np.nan)
    zo[ok] = _kfold_predict(make_obj, X[ok], np.nan_to_num(zref[ok]), train[ok], cfg.seed)
    cat["photoz_z"] = zo
    cat["photoz_train"] = train
    summary["n_train_objects"] = int(train.sum())
    _save_object_model(cfg, make_obj, X[ok], zref[ok], train[ok])

    if pix is not None and len(pix) and hasattr(pz, "aggregate_pixels"):
        pixmod = optional_module("galmix.photoz.pixels")
        ids = np.asarray(pix["id"], np.int64)
        row = {int(i): k for k, i in enumerate(np.asarray(cat["id"]))}
        ridx = np.array([row.get(int(i), -1) for i in ids])
        zp_pix = np.where(ridx >= 0, zref[np.maximum(ridx, 0)], np.nan)
        tr_pix = np.where(ridx >= 0, train[np.maximum(ridx, 0)], False)
        pix["z"] = zp_pix
        Xp = pixmod.pixel_features(pix, bands, with_errors=True)
        okp = np.all(np.isfinite(Xp), axis=1)
        # training uses a random subset of each object's pixels; every pixel is predicted
        best = _sample_pixels(pix, _MAX_PIXELS, cfg.seed + 2)

        def make_pix():
            return est.KNNPhotoZ(n_neighbors=15, weights="distance")

        zpix = np.full(len(pix), np.nan)
        zpix[okp] = _kfold_predict(
            make_pix,
            Xp[okp],
            np.nan_to_num(zp_pix[okp]),
            tr_pix[okp],
            cfg.seed + 1,
            groups=ids[okp],
            fit_mask=best[okp],
        )
        pix["photoz_z"] = zpix
        good = np.isfinite(zpix)
        agg = pz.aggregate_pixels(pix[good], zpix[good])
        zmap = dict(zip(np.asarray(agg["id"]).tolist(), np.asarray(agg["z_phot"]).tolist()))
        cat["photoz_z_pixel"] = np.array([zmap.get(int(i), np.nan) for i in np.asarray(cat["id"])])
        summary["n_train_pixels"] = int(tr_pix.sum())
    return summary
