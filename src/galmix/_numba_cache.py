"""Make numba's on-disk cache work in read-only installs.

numba's ``cache=True`` writes next to the source files. When the installed
package directory is not writable (system or container installs) and the user
has not set ``NUMBA_CACHE_DIR``, point it at a per-user cache directory so
kernels are still cached instead of failing or recompiling every run. This
must run before numba is imported, so ``galmix/__init__`` imports it first.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path


def _writable(path: Path) -> bool:
    try:
        probe = path / f".galmix-write-probe-{os.getpid()}"
        probe.touch()
        probe.unlink()
        return True
    except OSError:
        return False


def configure_numba_cache(package_dir: Path | None = None) -> str | None:
    """Set ``NUMBA_CACHE_DIR`` when the package directory is read-only.

    Returns the directory chosen, or ``None`` when nothing needed changing.
    """
    if os.environ.get("NUMBA_CACHE_DIR"):
        return None
    package_dir = package_dir or Path(__file__).resolve().parent
    if _writable(package_dir):
        return None
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    for candidate in (
        Path(base) / "galmix" / "numba",
        Path(tempfile.gettempdir()) / "galmix-numba",
    ):
        try:
            candidate.mkdir(parents=True, exist_ok=True)
        except OSError:
            continue
        if _writable(candidate):
            os.environ["NUMBA_CACHE_DIR"] = str(candidate)
            return str(candidate)
    return None


configure_numba_cache()
