"""Flag registry, exception hierarchy and the command-line entry point."""

import subprocess
import sys

import pytest

from galmix.cli import build_parser, main
from galmix.errors import (
    FLAG_DESCRIPTIONS,
    FLAGS,
    ConfigError,
    GalmixIOError,
    GalmixTypeError,
    GalmixValueError,
    flag_names,
    flag_table,
)


def test_exceptions_subclass_builtins():
    assert issubclass(GalmixValueError, ValueError)
    assert issubclass(GalmixTypeError, TypeError)
    assert issubclass(GalmixIOError, OSError)
    assert issubclass(ConfigError, ValueError)


def test_flag_bits_unique_and_documented():
    values = [int(f) for f in FLAGS]
    assert len(values) == len(set(values))
    assert all(v & (v - 1) == 0 for v in values)  # single bits
    assert set(FLAG_DESCRIPTIONS) == {f.name for f in FLAGS}
    assert [row[1] for row in flag_table()] == sorted(values)


def test_flag_names_round_trip():
    for f in FLAGS:
        assert flag_names(int(f)) == [f.name]
    word = FLAGS.EDGE | FLAGS.NO_FLUX | FLAGS.BLENDED
    assert flag_names(word) == ["BLENDED", "EDGE", "NO_FLUX"]
    with pytest.raises(GalmixValueError):
        flag_names(-1)


def test_cli_help_lists_commands(capsys):
    assert main([]) == 0
    out = capsys.readouterr().out
    assert "flags" in out
    assert main(["flags", "3"]) == 0
    out = capsys.readouterr().out
    assert "NO_FLUX" in out and "NONPOSITIVE_MOMENTS" in out


def test_every_subcommand_has_help():
    parser = build_parser()
    sub = next(a for a in parser._actions if a.dest == "command")
    for name, p in sub.choices.items():
        text = p.format_help()
        assert name in text


def test_console_script_runs():
    res = subprocess.run(
        [sys.executable, "-m", "galmix", "--help"], capture_output=True, text=True, timeout=120
    )
    assert res.returncode == 0
    assert "usage: galmix" in res.stdout


def test_reliability_page_lists_every_flag():
    from pathlib import Path

    page = Path(__file__).resolve().parents[1] / "docs" / "reliability.md"
    if not page.exists():
        pytest.skip("not a source checkout")
    text = page.read_text()
    for name, value, _ in flag_table():
        assert f"| {value.bit_length() - 1} | `{name}` |" in text, name
