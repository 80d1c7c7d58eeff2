"""Atomic, checksummed outputs and the run manifest (resume support).

Every output file is written to a temporary name in the same directory and
renamed into place (``os.replace`` is atomic on POSIX), so a killed run never
leaves a half-written file under a final name. The manifest records, for
each completed tile, its files and their SHA-256; on resume a tile is
skipped only when the configuration fingerprint matches and every file is
present with the recorded checksum.
"""

from __future__ import annotations

import hashlib
import json
import os
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

__all__ = [
    "Manifest",
    "atomic_write",
    "remove_stale_temporaries",
    "sha256_file",
    "write_table_atomic",
]


def sha256_file(path: str | os.PathLike) -> str:
    """SHA-256 hex digest of a file."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def atomic_write(path: str | os.PathLike, writer: Callable[[Path], Any]) -> Path:
    """Call ``writer(tmp_path)`` then rename ``tmp_path`` to ``path`` atomically."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{uuid.uuid4().hex[:8]}.tmp")
    try:
        writer(tmp)
        with open(tmp, "rb+") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()
    return path


def remove_stale_temporaries(directory: str | os.PathLike) -> list[Path]:
    """Delete temporaries a killed run left behind in ``directory`` (recursively).

    Every writer in galmix writes to a hidden name containing ``.tmp`` and
    renames it into place; a SIGKILL between the two leaves the hidden file.
    Called when a run starts on an output directory it owns, so a resumed run
    leaves only final files behind. Returns the paths removed.

    Examples
    --------
    >>> import tempfile
    >>> d = Path(tempfile.mkdtemp())
    >>> _ = (d / ".catalog.x1.fits.tmp").write_bytes(b"partial")
    >>> _ = (d / "catalog.fits").write_bytes(b"final")
    >>> [p.name for p in remove_stale_temporaries(d)], sorted(p.name for p in d.iterdir())
    (['.catalog.x1.fits.tmp'], ['catalog.fits'])
    """
    removed = []
    root = Path(directory)
    if not root.is_dir():
        return removed
    for p in sorted(root.rglob(".*")):
        if p.is_file() and ".tmp" in p.name:
            try:
                p.unlink()
            except OSError:  # pragma: no cover - raced with another cleaner
                continue
            removed.append(p)
    return removed


def write_table_atomic(table: Any, path: str | os.PathLike) -> Path:
    """Write an astropy Table as Parquet (by pyarrow, deterministic bytes) atomically."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    cols = {}
    for name in table.colnames:
        col = table[name]
        data = col.data if not hasattr(col, "filled") else col.filled()
        import numpy as np

        arr = np.asarray(data)
        if arr.dtype.kind == "U":
            cols[name] = pa.array(arr.tolist(), type=pa.string())
        elif arr.ndim > 1:
            cols[name] = pa.array(list(arr))
        else:
            cols[name] = pa.array(arr)
    pt = pa.table(cols) if cols else pa.table({})

    def _w(tmp: Path) -> None:
        pq.write_table(pt, tmp, compression="zstd")

    return atomic_write(path, _w)


def read_parquet_table(path: str | os.PathLike) -> Any:
    """Read a Parquet file into an astropy Table."""
    import pyarrow.parquet as pq
    from astropy.table import Table

    pt = pq.read_table(path)
    t = Table()
    for name in pt.column_names:
        col = pt.column(name)
        if col.type == "string" or str(col.type) in ("string", "large_string"):
            import numpy as np

            t[name] = np.array(col.to_pylist(), dtype=str)
        else:
            t[name] = col.to_numpy()
    return t


class Manifest:
    """The run manifest ``DIR/manifest.json`` (written only by the driver process)."""

    def __init__(self, directory: str | os.PathLike, fingerprint: str) -> None:
        self.directory = Path(directory)
        self.path = self.directory / "manifest.json"
        self.fingerprint = fingerprint
        self.tiles: dict[str, dict[str, Any]] = {}
        self.status = "running"
        if self.path.exists():
            try:
                data = json.loads(self.path.read_text())
            except (OSError, ValueError):
                data = {}
            if data.get("fingerprint") == fingerprint:
                self.tiles = dict(data.get("tiles", {}))

    def is_done(self, name: str) -> bool:
        """True when tile ``name`` completed under this fingerprint with intact files."""
        entry = self.tiles.get(name)
        if not entry:
            return False
        for rel, digest in entry.get("files", {}).items():
            p = self.directory / rel
            if not p.exists() or sha256_file(p) != digest:
                return False
        return True

    def record(self, name: str, files: dict[str, str], info: dict[str, Any] | None = None) -> None:
        """Record a completed tile (``files``: relative path -> sha256) and save."""
        self.tiles[name] = {"files": dict(files), **(info or {})}
        self.save()

    def save(self, status: str | None = None) -> None:
        if status is not None:
            self.status = status
        data = {"fingerprint": self.fingerprint, "status": self.status, "tiles": self.tiles}
        text = json.dumps(data, indent=1, sort_keys=True)
        atomic_write(self.path, lambda tmp: tmp.write_text(text))
