"""Noise realisations: white noise from a weight map and correlated noise."""

from __future__ import annotations

from typing import Any

import numpy as np
import scipy.fft

from galmix.errors import GalmixTypeError, GalmixValueError

__all__ = ["correlated_noise", "noise_from_weight", "power_spectrum_from_correlation"]


def _check_rng(rng: Any) -> np.random.Generator:
    if isinstance(rng, np.random.Generator):
        return rng
    if rng is None or isinstance(rng, (int, np.integer)):
        return np.random.default_rng(rng)
    raise GalmixTypeError(
        f"rng must be a numpy.random.Generator or a seed, got {type(rng).__name__}"
    )


def noise_from_weight(weight: Any, rng: Any = None) -> np.ndarray:
    """White Gaussian noise with per-pixel variance ``1/weight`` (0 where weight is 0).

    Parameters
    ----------
    weight : array_like
        Inverse variance map.
    rng : numpy.random.Generator or int, optional
        Random generator or seed.

    Examples
    --------
    >>> import numpy as np
    >>> n = noise_from_weight(np.full((200, 200), 4.0), rng=np.random.default_rng(1))
    >>> round(float(n.std()), 2)
    0.5
    """
    w = np.asarray(weight, dtype=float)
    if np.any(~np.isfinite(w)) or np.any(w < 0):
        raise GalmixValueError("weight must be finite and >= 0")
    gen = _check_rng(rng)
    sigma = np.zeros_like(w)
    good = w > 0
    sigma[good] = 1.0 / np.sqrt(w[good])
    return gen.standard_normal(w.shape) * sigma


def power_spectrum_from_correlation(correlation: Any, shape: tuple[int, int]) -> np.ndarray:
    """Power spectrum on an FFT grid of ``shape`` from a centred correlation-function image.

    Negative power (from a noisy measured correlation function) is clipped to 0.
    """
    cf = np.asarray(correlation, dtype=float)
    if cf.ndim != 2 or cf.shape[0] % 2 == 0 or cf.shape[1] % 2 == 0:
        raise GalmixValueError(f"correlation must be 2-d with odd sides, got shape {cf.shape}")
    ny, nx = shape
    cy, cx = cf.shape[0] // 2, cf.shape[1] // 2
    grid = np.zeros(shape)
    for dy in range(-cy, cy + 1):
        for dx in range(-cx, cx + 1):
            if abs(dy) < ny // 2 + 1 and abs(dx) < nx // 2 + 1:
                grid[dy % ny, dx % nx] += cf[dy + cy, dx + cx]
    ps = scipy.fft.fft2(grid).real
    return np.clip(ps, 0.0, None)


def correlated_noise(
    shape: tuple[int, int], correlation: Any, rng: Any = None, pad: int = 2
) -> np.ndarray:
    """Stationary Gaussian noise whose correlation function is ``correlation``.

    Parameters
    ----------
    shape : tuple of int
        ``(ny, nx)`` of the output.
    correlation : array_like
        Centred correlation function ``xi(dy, dx)`` with odd sides; the centre
        is the variance.
    rng : numpy.random.Generator or int, optional
        Random generator or seed.
    pad : int
        The field is generated on a grid ``pad`` times larger and cropped, so
        the periodic wrap of the FFT does not correlate opposite edges.

    Examples
    --------
    >>> import numpy as np
    >>> cf = np.zeros((3, 3)); cf[1, 1] = 1.0; cf[1, 0] = cf[1, 2] = 0.3
    >>> n = correlated_noise((256, 256), cf, rng=np.random.default_rng(0))
    >>> round(float(np.mean(n[:, 1:] * n[:, :-1])), 1)
    0.3
    """
    ny, nx = int(shape[0]), int(shape[1])
    if ny < 1 or nx < 1:
        raise GalmixValueError(f"shape must be positive, got {shape!r}")
    gen = _check_rng(rng)
    big = (ny * pad, nx * pad)
    ps = power_spectrum_from_correlation(correlation, big)
    white = gen.standard_normal(big)
    field = scipy.fft.ifft2(scipy.fft.fft2(white) * np.sqrt(ps)).real
    return field[:ny, :nx]
