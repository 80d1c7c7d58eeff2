"""The Examples sections of the SDSS and calibration modules run and are right."""

from __future__ import annotations

import doctest
import importlib

import pytest

MODULES = [
    "galmix.image.calibration",
    "galmix.sdss.ccd",
    "galmix.sdss.naming",
    "galmix.sdss.frame",
    "galmix.sdss.synthetic",
    "galmix.sdss.query",
    "galmix.sdss.urls",
    "galmix.sdss.download",
    "galmix.sdss.config",
]


@pytest.mark.parametrize("name", MODULES)
def test_module_examples(name):
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert result.failed == 0
    assert result.attempted > 0
