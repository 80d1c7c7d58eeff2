"""Run the ``Examples`` sections of every public galmix module as doctests."""

import doctest
import importlib
import pkgutil

import pytest

import galmix

# modules whose examples need optional heavy dependencies are still run: the
# test extra installs everything.
_SKIP_PREFIXES = ("galmix.cli.", "galmix.__main__")


def _modules():
    names = []
    for info in pkgutil.walk_packages(galmix.__path__, prefix="galmix."):
        if info.name.startswith(_SKIP_PREFIXES):
            continue
        if info.name.rsplit(".", 1)[-1].startswith("_") and not info.name.endswith("__init__"):
            # private kernels: no public examples
            continue
        names.append(info.name)
    return sorted(names)


@pytest.mark.parametrize("name", _modules())
def test_module_examples(name):
    module = importlib.import_module(name)
    finder = doctest.DocTestFinder(exclude_empty=True)
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    for test in finder.find(module, name, globs={**module.__dict__}):
        runner.run(test)
    result = runner.summarize(verbose=False)
    assert result.failed == 0, f"{result.failed} doctest failure(s) in {name}"
