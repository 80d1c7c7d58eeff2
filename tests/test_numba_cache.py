"""numba's cache works when the installed package is read-only."""

import os
import subprocess
import sys

from galmix._numba_cache import configure_numba_cache


def test_read_only_package_dir_gets_user_cache(tmp_path, monkeypatch):
    ro = tmp_path / "pkg"
    ro.mkdir()
    ro.chmod(0o555)
    monkeypatch.delenv("NUMBA_CACHE_DIR", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    try:
        if os.access(ro, os.W_OK) and os.geteuid() == 0:
            # root ignores permission bits; emulate a read-only dir instead
            monkeypatch.setattr("galmix._numba_cache._writable", lambda p: p != ro)
        chosen = configure_numba_cache(ro)
    finally:
        ro.chmod(0o755)
    assert chosen == str(tmp_path / "cache" / "galmix" / "numba")
    assert os.environ["NUMBA_CACHE_DIR"] == chosen


def test_user_setting_is_respected(monkeypatch, tmp_path):
    monkeypatch.setenv("NUMBA_CACHE_DIR", str(tmp_path))
    assert configure_numba_cache(tmp_path / "nonexistent") is None
    assert os.environ["NUMBA_CACHE_DIR"] == str(tmp_path)


def test_cached_kernel_compiles_in_fresh_process(tmp_path):
    code = (
        "import galmix, numba\n@numba.njit(cache=True)\ndef f(x):\n    return x + 1\nprint(f(1))\n"
    )
    script = tmp_path / "k.py"
    script.write_text(code)
    env = {**os.environ, "NUMBA_CACHE_DIR": str(tmp_path / "nc")}
    res = subprocess.run(
        [sys.executable, str(script)], capture_output=True, text=True, env=env, timeout=300
    )
    assert res.returncode == 0, res.stderr
    assert res.stdout.strip() == "2"
    assert any((tmp_path / "nc").rglob("*.nbi"))
