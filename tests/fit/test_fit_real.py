"""Real HST/ACS galaxies (AEGIS, two bands with Tiny Tim PSFs): sersic and expdev fits."""

from __future__ import annotations

import math

import numpy as np
import pytest

from conftest import ACS_ZEROPOINTS, load_aegis
from galmix import MultiBandObservation
from galmix.errors import FLAGS
from galmix.fit import fit

BANDS = ("F606W", "F814W")


@pytest.fixture(scope="module")
def aegis(shared_data):
    d = shared_data / "galsim" / "real_comparison_images"
    return {(b, row): load_aegis(d, b, row) for b in BANDS for row in range(5)}


@pytest.fixture(scope="module")
def fits_by_model(aegis):
    out = {}
    for (band, row), (obs, _) in aegis.items():
        for model in ("sersic", "expdev"):
            out[(model, band, row)] = fit(obs, model)
    return out


@pytest.mark.parametrize("model", ["sersic", "expdev"])
def test_real_galaxies_fit_cleanly(fits_by_model, aegis, model):
    for band in BANDS:
        for row in range(5):
            res = fits_by_model[(model, band, row)]
            obs = aegis[(band, row)][0]
            assert res.flags & ~int(FLAGS.PARAM_AT_BOUND) == 0, (band, row, res.flag_names)
            # correlated drizzle noise makes chi2/dof > 1; a poor fit would be >> 1
            assert 1.0 < res.chi2_per_dof < 1.7, (band, row, res.chi2_per_dof)
            # the model explains most of the structure: chi2 drops far below the no-model chi2
            chi2_0 = float(np.sum(obs.image**2 * obs.weight))
            assert res.chi2 < chi2_0 - 25 * math.sqrt(res.dof), (band, row)
            assert res.params["flux"] > 0 and res.errors["flux"] > 0


def test_real_galaxy_colours_match_catalogue(fits_by_model, aegis):
    """F606W-F814W colours from sersic fits agree with the catalogue MAG_AUTO colours."""
    for row in range(5):
        fv = fits_by_model[("sersic", "F606W", row)].params["flux"]
        fi = fits_by_model[("sersic", "F814W", row)].params["flux"]
        ours = -2.5 * math.log10(fv / fi) + ACS_ZEROPOINTS["F606W"] - ACS_ZEROPOINTS["F814W"]
        cat = float(aegis[("F606W", row)][1]["MAG"]) - float(aegis[("F814W", row)][1]["MAG"])
        assert abs(ours - cat) < 0.15, (row, ours, cat)
        # and the F606W magnitude agrees with MAG_AUTO (which misses some wing light)
        mag = ACS_ZEROPOINTS["F606W"] - 2.5 * math.log10(fv)
        assert abs(mag - float(aegis[("F606W", row)][1]["MAG"])) < 0.25, (row, mag)


def test_real_multiband_sersic(aegis):
    """Joint two-band fit: shared structure, per-band fluxes close to single-band fits."""
    for row in (1, 3):
        mb = MultiBandObservation({b: aegis[(b, row)][0] for b in BANDS})
        res = fit(mb, "sersic")
        assert res.flags == 0
        assert set(res.params["flux"]) == set(BANDS)
        assert 1.0 < res.chi2_per_dof < 1.7
        for b in BANDS:
            single = fit(aegis[(b, row)][0], "sersic").params["flux"]
            assert res.params["flux"][b] == pytest.approx(single, rel=0.25)
