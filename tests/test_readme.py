"""The README's commands and Python snippet stay correct."""

import re
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[1] / "README.md"
CI = Path(__file__).resolve().parents[1] / ".ci" / "run"


def _blocks(lang):
    return re.findall(rf"```{lang}\n(.*?)```", README.read_text(), flags=re.S)


def test_two_setup_commands_first_and_ci_runs_the_test_one():
    if not README.exists() or not CI.exists():
        pytest.skip("not a source checkout")
    bash = _blocks("bash")
    assert len(bash) >= 2
    assert "galmix demo" in bash[0]
    test_cmd = bash[1].strip()
    assert "pytest" in test_cmd
    assert test_cmd in CI.read_text().splitlines()
    # the two commands are the first code in the file
    text = README.read_text()
    assert text.index("```bash") < text.index("```python")


def test_python_snippet_runs(capsys):
    if not README.exists():
        pytest.skip("not a source checkout")
    for code in _blocks("python"):
        exec(compile(code, "README.md", "exec"), {})
    out = capsys.readouterr().out.split()
    assert out[0] == "0"  # fit flags
    assert abs(float(out[1]) - 2.0) < 0.3  # Sersic n
