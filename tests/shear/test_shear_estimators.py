"""Responses and bias estimators on synthetic catalogues with known answers."""

from __future__ import annotations

import json

import numpy as np
import pytest

from galmix.cli import main
from galmix.errors import GalmixValueError
from galmix.shear import (
    estimate_m_c,
    metacal_shear,
    response,
    selection_response,
    stack_results,
)

TYPES = ("noshear", "1p", "1m", "2p", "2m", "1p2", "1m2", "2p2", "2m2")
SHEARS = {
    "noshear": (0, 0),
    "1p": (1, 0),
    "1m": (-1, 0),
    "2p": (0, 1),
    "2m": (0, -1),
    "1p2": (2, 0),
    "1m2": (-2, 0),
    "2p2": (0, 2),
    "2m2": (0, -2),
}


def _catalog(g, m_true, c_true, e0, step=0.01, r3=0.0):
    """e = (1 + m) R g + R delta + R3 (g + delta)^3 + c: metacal sees R, the truth (1 + m) R."""
    r = np.array([[0.4, 0.02], [-0.01, 0.35]])
    out = {}
    for t in TYPES:
        d = np.array(SHEARS[t], float) * step
        gg = np.asarray(g, float) + d
        lin = (1 + m_true) * (r @ np.asarray(g, float)) + r @ d + r3 * gg**3 + np.asarray(c_true)
        out[t] = e0 + lin
    return out, r


def test_response_and_linear_shear():
    e0 = np.zeros((5, 2))
    cat, r = _catalog((0.0, 0.0), 0.0, (0, 0), e0)
    np.testing.assert_allclose(response(cat), r, atol=1e-12)
    cat, r = _catalog((0.03, -0.01), 0.0, (0, 0), e0)
    np.testing.assert_allclose(metacal_shear(cat), [0.03, -0.01], atol=1e-12)


def test_estimate_m_c_recovers_injected_bias(rng):
    e0 = rng.normal(0, 0.25, (200, 2))
    e0 = np.concatenate([e0, -e0])  # 90-degree rotated partners
    plus, _ = _catalog((0.02, 0.0), 0.004, (3e-4, -2e-4), e0)
    minus, _ = _catalog((-0.02, 0.0), 0.004, (3e-4, -2e-4), e0)
    res = estimate_m_c(plus, minus, (0.02, 0.0))
    assert res.m == pytest.approx(0.004, abs=1e-10)
    r = np.array([[0.4, 0.02], [-0.01, 0.35]])
    c = np.linalg.solve(r, [3e-4, -2e-4])
    assert res.c1 == pytest.approx(c[0], abs=1e-10)
    assert res.c2 == pytest.approx(c[1], abs=1e-10)
    assert res.n == 400 and res.njack == 100
    assert "m  =" in str(res) and set(res.as_dict()) >= {"m", "m_err", "c1", "c2"}


def test_jackknife_errors_are_calibrated(rng):
    """The jackknife error of m matches the scatter over independent realisations."""
    ms, errs = [], []
    for _ in range(60):
        noise_p = rng.normal(0, 0.02, (200, 2))
        noise_m = rng.normal(0, 0.02, (200, 2))
        e0 = rng.normal(0, 0.2, (200, 2))
        plus, _ = _catalog((0.02, 0.0), 0.0, (0, 0), e0)
        minus, _ = _catalog((-0.02, 0.0), 0.0, (0, 0), e0)
        for t in TYPES:
            plus[t] = plus[t] + noise_p
            minus[t] = minus[t] + noise_m
        res = estimate_m_c(plus, minus, (0.02, 0.0), njack=50)
        ms.append(res.m)
        errs.append(res.m_err)
    assert np.std(ms) == pytest.approx(np.mean(errs), rel=0.3)


def test_cubic_estimator_removes_nonlinearity():
    e0 = np.zeros((3, 2))
    plus, _ = _catalog((0.02, 0.0), 0.0, (0, 0), e0, r3=-5.0)
    minus, _ = _catalog((-0.02, 0.0), 0.0, (0, 0), e0, r3=-5.0)
    lin = estimate_m_c(plus, minus, (0.02, 0.0))
    cub = estimate_m_c(plus, minus, (0.02, 0.0), method="cubic")
    assert abs(lin.m) > 1e-3  # the cubic term biases the linear estimator
    assert abs(cub.m) < 1e-8


def test_selection_response_matches_finite_difference():
    """A cut on e1 > 0 of a sheared population: R_S from the sheared selections."""
    rng = np.random.default_rng(4)
    e = rng.normal(0, 0.3, 20000)
    res = {}
    for t, (s1, _) in SHEARS.items():
        e1 = e + 0.5 * 0.01 * s1
        res[t] = {"e1": e1, "e2": np.zeros_like(e1), "s2n": e1}
    rs = selection_response(res, lambda r: r["s2n"] > 0.1)
    # analytic: d<e>_{e + R g > cut}/dg = R * phi(x)/P(>x) * ... finite difference of truth
    sel_p = (e + 0.005) > 0.1
    sel_m = (e - 0.005) > 0.1
    expected = (e[sel_p].mean() - e[sel_m].mean()) / 0.02
    assert rs[0, 0] == pytest.approx(expected, rel=1e-12)
    assert rs[0, 0] < 0


def test_stack_results_and_errors():
    rows = [{"noshear": {"e1": 0.1, "e2": 0.2, "flags": 0}} for _ in range(3)]
    st = stack_results(rows)
    assert st["noshear"]["e2"].tolist() == [0.2] * 3
    assert np.isnan(st["noshear"]["T"]).all()
    with pytest.raises(GalmixValueError, match="true_shear"):
        estimate_m_c({"noshear": np.zeros((3, 2))}, {"noshear": np.zeros((3, 2))}, (0, 0))
    with pytest.raises(GalmixValueError, match="method"):
        metacal_shear({}, method="quadratic")
    with pytest.raises(GalmixValueError, match="1p"):
        response({"noshear": {"e1": 0, "e2": 0}})


def test_cli_shear_bias(capsys):
    code = main(["shear-bias", "-n", "3", "-j", "1", "--wcs-g1", "0.1", "--json", "--stamp", "40"])
    assert code == 0
    out = json.loads(capsys.readouterr().out)
    assert abs(out["m"]) < 1e-3 and abs(out["c2"]) < 1e-4
    code = main(
        [
            "shear-bias",
            "-n",
            "2",
            "-j",
            "1",
            "--jacobian",
            "0.2,0.01,-0.02,-0.25",
            "--kernel",
            "dilate",
            "--method",
            "cubic",
            "--stamp",
            "40",
        ]
    )
    assert code == 0
    assert "m  [1e-3]" in capsys.readouterr().out
    assert main(["shear-bias", "--jacobian", "1,2"]) == 2
