"""Private helpers around the ``sep`` C library (array preparation, buffers)."""

from __future__ import annotations

from typing import Any

import numpy as np

from galmix.errors import GalmixValueError


def import_sep() -> Any:
    """Import ``sep`` with a clear error when the ``pipeline`` extra is missing."""
    try:
        import sep
    except ImportError as exc:  # pragma: no cover - depends on install
        raise ImportError(
            "galmix.detect needs the 'sep' package: pip install 'galmix[pipeline]'"
        ) from exc
    return sep


def as_c_float64(array: Any, name: str, ndim: int = 2) -> np.ndarray:
    """A native-endian, C-contiguous float64 copy/view of ``array``."""
    arr = np.asarray(array)
    if arr.ndim != ndim:
        raise GalmixValueError(f"{name} must be {ndim}-d, got shape {arr.shape}")
    if arr.size == 0:
        raise GalmixValueError(f"{name} must not be empty, got shape {arr.shape}")
    if not np.issubdtype(arr.dtype, np.number) or np.iscomplexobj(arr):
        raise GalmixValueError(f"{name} must be a real numeric array, got dtype {arr.dtype}")
    return np.ascontiguousarray(arr, dtype=np.float64)


def as_mask(mask: Any, shape: tuple[int, ...], name: str = "mask") -> np.ndarray | None:
    """A C-contiguous boolean mask of ``shape`` (True = bad), or None."""
    if mask is None:
        return None
    m = np.asarray(mask)
    if m.shape != tuple(shape):
        raise GalmixValueError(f"{name} must have shape {tuple(shape)}, got {m.shape}")
    return np.ascontiguousarray(m.astype(bool))


def ensure_buffers(sep: Any, npix: int, nobj_hint: int = 0) -> None:
    """Raise sep's pixel-stack and sub-object limits for large images.

    These are buffer sizes only (they do not change results), so growing
    them process-wide is harmless.
    """
    need = max(300_000, int(npix))
    if sep.get_extract_pixstack() < need:
        sep.set_extract_pixstack(need)
    sub = max(1024, int(nobj_hint))
    if sep.get_sub_object_limit() < sub:
        sep.set_sub_object_limit(sub)
