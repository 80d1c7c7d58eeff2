"""Test-suite layout: test modules need unique basenames (rootdir-relative imports)."""

from collections import Counter
from pathlib import Path


def test_unique_test_module_names():
    here = Path(__file__).parent
    names = Counter(p.name for p in here.rglob("test_*.py"))
    dupes = sorted(n for n, c in names.items() if c > 1)
    assert not dupes, f"duplicate test module names: {dupes}"
