"""``galmix photoz``: train, apply and evaluate photometric-redshift models.

``galmix photoz train --catalog CAT --out MODEL.npz [column options]``
    fits an estimator (default: the error-aware gradient-boosting ensemble)
    and saves it in galmix's safe model format (npz + JSON, no pickle).
``galmix photoz predict --model MODEL.npz --catalog CAT --out OUT``
    streams the catalog in chunks and writes ``z_phot`` (plus quantiles for
    models that have them) next to an id column.
``galmix photoz evaluate``
    prints the metrics table (sigma_NMAD, outlier fraction, bias, PDF
    coverage) for a model on a labelled catalog, for a column of existing
    predictions, or for K-fold cross-validation of estimators (``--cv``).
"""

from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path

import numpy as np

from galmix.errors import GalmixValueError

log = logging.getLogger("galmix.photoz")

_PRESETS = {
    "sdss-gst": {
        "bands": "u,g,r,i,z",
        "flux": ["MODELFLUX", "PETROFLUX"],
        "ivar": ["MODELFLUX_IVAR", "PETROFLUX_IVAR"],
        "flux_err": None,
        "extinction": "EXTINCTION",
        "z": "Z",
    },
}


def _add_columns(p: argparse.ArgumentParser, need_z: bool) -> None:
    g = p.add_argument_group("catalog columns")
    g.add_argument("--catalog", required=True, help="catalog file (.fits, .csv, .parquet)")
    g.add_argument("--hdu", type=int, default=1, help="FITS table HDU (default 1)")
    g.add_argument(
        "--preset",
        choices=sorted(_PRESETS),
        help="column preset (sdss-gst: kcorrect SDSS sample, model+Petrosian ugriz, ivars, "
        "extinction, Z)",
    )
    g.add_argument("--bands", help="comma-separated band names in wavelength order, e.g. u,g,r,i,z")
    g.add_argument(
        "--flux",
        action="append",
        help="flux column spec per flux set: a vector column (MODELFLUX) or a template "
        "with {band} (flux_{band}); repeat for several sets",
    )
    g.add_argument("--flux-err", action="append", dest="flux_err", help="flux error spec per set")
    g.add_argument("--ivar", action="append", help="inverse-variance spec per set")
    g.add_argument("--extinction", help="extinction (mag) column spec, subtracted from magnitudes")
    g.add_argument(
        "--extra", action="append", default=None, help="extra feature column (repeatable)"
    )
    g.add_argument(
        "--zeropoint", type=float, default=None, help="AB mag of one flux unit (22.5 = nmgy)"
    )
    if need_z:
        g.add_argument("--z", help="spectroscopic redshift column")


def _column_spec(args, stored: dict | None = None) -> dict:
    spec = dict(stored or {})
    if getattr(args, "preset", None):
        spec.update({k: v for k, v in _PRESETS[args.preset].items()})
    for key in ("bands", "flux", "flux_err", "ivar", "extinction", "extra", "zeropoint"):
        val = getattr(args, key, None)
        if val is not None:
            spec[key] = val
            if key == "flux_err":
                spec["ivar"] = None
            if key == "ivar":
                spec["flux_err"] = None
    if getattr(args, "z", None):
        spec["z"] = args.z
    if isinstance(spec.get("bands"), str):
        spec["bands"] = [b.strip() for b in spec["bands"].split(",") if b.strip()]
    if not spec.get("bands"):
        raise GalmixValueError("--bands is required (or --preset)")
    if not spec.get("flux"):
        raise GalmixValueError("--flux is required (or --preset)")
    if not spec.get("flux_err") and not spec.get("ivar"):
        raise GalmixValueError("one of --flux-err and --ivar is required (or --preset)")
    return spec


def _read_xy(table, spec: dict, need_z: bool):
    from galmix.photoz import photometry_from_table

    X, z = photometry_from_table(
        table,
        spec["bands"],
        spec["flux"],
        flux_err=spec.get("flux_err") or None,
        ivar=spec.get("ivar") if not spec.get("flux_err") else None,
        extinction=spec.get("extinction"),
        extra=spec.get("extra") or (),
        z=spec.get("z") if need_z else None,
    )
    if need_z and z is None:
        raise GalmixValueError("--z (redshift column) is required")
    return X, z


def _features(spec: dict):
    from galmix.photoz import FluxFeatures

    kw = {}
    if spec.get("zeropoint") is not None:
        kw["zeropoint"] = float(spec["zeropoint"])
    return FluxFeatures(
        bands=tuple(spec["bands"]),
        n_sets=len(spec["flux"]),
        has_extinction=bool(spec.get("extinction")),
        n_extra=len(spec.get("extra") or ()),
        **kw,
    )


def _parse_params(items) -> dict:
    params = {}
    for item in items or ():
        if "=" not in item:
            raise GalmixValueError(f"--param must look like name=value, got {item!r}")
        k, v = item.split("=", 1)
        try:
            params[k.strip()] = json.loads(v)
        except json.JSONDecodeError:
            params[k.strip()] = v
    return params


def _make_estimator(name: str, spec: dict, params: dict, seed: int | None):
    from galmix.photoz import ESTIMATORS

    if name not in ESTIMATORS:
        raise GalmixValueError(f"--estimator must be one of {sorted(ESTIMATORS)}, got {name!r}")
    cls = ESTIMATORS[name]
    params = dict(params)
    if seed is not None and "random_state" in cls().get_params():
        params.setdefault("random_state", seed)
    try:
        return cls(features=_features(spec), **params)
    except TypeError as exc:
        raise GalmixValueError(f"invalid --param for {name!r}: {exc}") from None


def register(sub: argparse._SubParsersAction) -> None:
    """Add the ``photoz`` sub-command with ``train``, ``predict`` and ``evaluate``."""
    p = sub.add_parser(
        "photoz",
        help="train, apply and evaluate photometric-redshift models",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    ps = p.add_subparsers(dest="photoz_command", metavar="ACTION")

    t = ps.add_parser("train", help="fit a photo-z model on a catalog with redshifts")
    _add_columns(t, need_z=True)
    t.add_argument("--out", required=True, help="model file to write (.npz)")
    t.add_argument("--estimator", default="boost", help="boost (default), knn or rf")
    t.add_argument("--param", action="append", help="estimator parameter name=value (JSON value)")
    t.add_argument("--seed", type=int, default=0, help="random_state (default 0)")
    t.set_defaults(func=_train)

    r = ps.add_parser("predict", help="predict redshifts for a catalog (streams in chunks)")
    _add_columns_optional(r)
    r.add_argument("--model", required=True, help="model file from 'galmix photoz train'")
    r.add_argument("--out", required=True, help="output table (.parquet, .fits or .csv)")
    r.add_argument("--id-column", help="column copied to the output (default: row index 'row')")
    r.add_argument("--chunk-rows", type=int, default=100_000, help="rows per chunk")
    r.set_defaults(func=_predict)

    e = ps.add_parser("evaluate", help="print the metrics table")
    _add_columns_optional(e, need_z=True)
    e.add_argument("--model", help="model file: predict the catalog and compare with --z")
    e.add_argument("--pred-column", help="column of existing photo-z to compare with --z")
    e.add_argument(
        "--cv",
        type=int,
        help="K-fold cross-validation (KFold shuffle, --seed) of --estimator(s) on the catalog",
    )
    e.add_argument(
        "--estimator", default="boost", help="comma-separated estimators for --cv (knn,rf,boost)"
    )
    e.add_argument("--param", action="append", help="estimator parameter for --cv name=value")
    e.add_argument("--seed", type=int, default=0, help="KFold shuffle seed (default 0)")
    e.add_argument("--plots", help="directory for diagnostic plots (PNG)")
    e.add_argument("--json", dest="json_out", help="also write the metrics as JSON here")
    e.set_defaults(func=_evaluate)
    p.set_defaults(func=lambda args: (p.print_help(), 0)[1])


def _add_columns_optional(p, need_z: bool = False) -> None:
    """Column options; stored defaults of a model file fill what is not given."""
    _add_columns(p, need_z=need_z)


def _train(args) -> int:
    from galmix.photoz import read_table, save_model

    spec = _column_spec(args)
    table = read_table(args.catalog, hdu=args.hdu)
    X, z = _read_xy(table, spec, need_z=True)
    model = _make_estimator(args.estimator, spec, _parse_params(args.param), args.seed)
    log.info("training %s on %d objects", type(model).__name__, len(z))
    model.fit(X, z)
    columns = {k: (list(v) if isinstance(v, tuple) else v) for k, v in spec.items()}
    save_model(model, args.out, info={"columns": columns, "catalog": str(args.catalog)})
    print(f"wrote {args.out} ({type(model).__name__}, {len(z)} training objects)")
    return 0


def _stored_columns(model) -> dict:
    info = getattr(model, "model_info_", {}).get("info", {})
    cols = dict(info.get("columns", {}))
    for k, v in list(cols.items()):
        if isinstance(v, tuple):
            cols[k] = list(v)
    return cols


def _prediction_columns(model, X) -> dict[str, np.ndarray]:
    out = {"z_phot": model.predict(X)}
    if hasattr(model, "predict_quantiles"):
        Q = model.predict_quantiles(X)
        for level, col in zip(model.quantile_levels, Q.T):
            if level != 0.5:
                out[f"z_q{round(1000 * level):03d}"] = col
    return out


def _predict(args) -> int:
    from astropy.table import Table

    from galmix.photoz import iter_table_chunks, load_model
    from galmix.photoz.catalog import table_format

    model = load_model(args.model)
    spec = _column_spec(args, _stored_columns(model))
    out = Path(args.out)
    fmt = table_format(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    writer = None
    pieces = []
    nrow = 0
    tmp = out.with_name(out.name + ".partial")
    try:
        for chunk in iter_table_chunks(args.catalog, args.chunk_rows, hdu=args.hdu):
            X, _ = _read_xy(chunk, spec, need_z=False)
            cols = _prediction_columns(model, X)
            t = Table()
            if args.id_column:
                if args.id_column not in chunk.colnames:
                    raise GalmixValueError(f"--id-column {args.id_column!r} not in the catalog")
                t[args.id_column] = chunk[args.id_column]
            else:
                t["row"] = np.arange(nrow, nrow + len(chunk), dtype=np.int64)
            for k, v in cols.items():
                t[k] = v
            nrow += len(chunk)
            if fmt == "parquet":
                import pyarrow as pa
                import pyarrow.parquet as pq

                batch = pa.table({c: np.asarray(t[c]) for c in t.colnames})
                if writer is None:
                    writer = pq.ParquetWriter(tmp, batch.schema)
                writer.write_table(batch)
            else:
                pieces.append(t)
        if fmt == "parquet":
            if writer is None:
                raise GalmixValueError(f"catalog {args.catalog!r} is empty")
            writer.close()
            writer = None
            tmp.replace(out)
        else:
            from astropy.table import vstack

            full = vstack(pieces) if pieces else Table()
            full.write(tmp, format="fits" if fmt == "fits" else "ascii.csv", overwrite=True)
            tmp.replace(out)
    finally:
        if writer is not None:
            writer.close()
        if tmp.exists():
            tmp.unlink()
    print(f"wrote {out} ({nrow} rows)")
    return 0


def _format_table(rows: list[dict]) -> str:
    keys = ["name", "n", "sigma_nmad", "outlier_fraction", "bias"]
    extra = [k for k in ("coverage_0.68", "coverage_0.95", "pit_ks") if any(k in r for r in rows)]
    keys += extra
    lines = ["  ".join(f"{k:>16s}" for k in keys)]
    for r in rows:
        vals = []
        for k in keys:
            v = r.get(k, "")
            if isinstance(v, float):
                vals.append(f"{v:16.5f}")
            else:
                vals.append(f"{v!s:>16s}")
        lines.append("  ".join(vals))
    return "\n".join(lines)


def _evaluate(args) -> int:
    from galmix.photoz import cross_validate, load_model, metrics, pdf_metrics, read_table

    modes = [m for m in (args.model, args.pred_column, args.cv) if m]
    if len(modes) != 1:
        raise GalmixValueError("give exactly one of --model, --pred-column and --cv")
    table = read_table(args.catalog, hdu=args.hdu)
    rows: list[dict] = []
    plots_input = []
    if args.model:
        model = load_model(args.model)
        spec = _column_spec(args, _stored_columns(model))
        X, z = _read_xy(table, spec, need_z=True)
        zp = model.predict(X)
        row = {"name": Path(args.model).stem, "n": len(z), **metrics(z, zp)}
        pit = None
        if hasattr(model, "predict_pdf"):
            g = np.linspace(0.0, max(1.0, 1.5 * float(np.max(z))), 601)
            pm = pdf_metrics(z, model.predict_pdf(X, g), g)
            pit = pm.pop("pit")
            row.update(pm)
        rows.append(row)
        plots_input.append((row["name"], z, zp, X, spec, pit))
    elif args.pred_column:
        if not args.z:
            raise GalmixValueError("--z is required with --pred-column")
        for c in (args.pred_column, args.z):
            if c not in table.colnames:
                raise GalmixValueError(f"column {c!r} not in the catalog")
        z = np.asarray(table[args.z], dtype=float)
        zp = np.asarray(table[args.pred_column], dtype=float)
        rows.append({"name": args.pred_column, "n": len(z), **metrics(z, zp)})
        plots_input.append((args.pred_column, z, zp, None, None, None))
    else:
        spec = _column_spec(args)
        X, z = _read_xy(table, spec, need_z=True)
        params = _parse_params(args.param)
        for name in [s.strip() for s in args.estimator.split(",") if s.strip()]:
            est = _make_estimator(
                name, spec, params if len(args.estimator.split(",")) == 1 else {}, None
            )
            g = np.linspace(0.0, max(1.0, 1.5 * float(np.max(z))), 601)
            res = cross_validate(est, X, z, n_splits=args.cv, seed=args.seed, z_grid=g)
            row = {"name": f"{name} ({args.cv}-fold)", "n": len(z), **res["metrics"]}
            for k in ("coverage_0.68", "coverage_0.95", "pit_ks"):
                if k in res:
                    row[k] = res[k]
            rows.append(row)
            plots_input.append((name, z, res["z_pred"], X, spec, res.get("pit")))
    print(_format_table(rows))
    if args.json_out:
        Path(args.json_out).write_text(json.dumps(rows, indent=2))
    if args.plots:
        from galmix.photoz.plots import diagnostic_plots

        for name, z, zp, X, spec, pit in plots_input:
            mag, label = None, "magnitude"
            if X is not None and spec is not None:
                f = _features(spec).fit(X)
                mag = f.transform(X)[:, 0]
                label = f.feature_names()[0]
            safe = "".join(ch if ch.isalnum() else "_" for ch in name.split(" ")[0])
            paths = diagnostic_plots(
                z, zp, args.plots, mag=mag, pit=pit, prefix=f"photoz_{safe}", mag_label=label
            )
            for pth in paths.values():
                print(f"wrote {pth}")
    return 0
