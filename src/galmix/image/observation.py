"""Imaging data: :class:`Observation` and :class:`MultiBandObservation`."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from galmix.errors import GalmixTypeError, GalmixValueError
from galmix.geometry import Jacobian, PixelResponse

__all__ = ["MultiBandObservation", "Observation"]


def _readonly(arr: np.ndarray) -> np.ndarray:
    arr.setflags(write=False)
    return arr


def _as_float_image(value: Any, name: str) -> np.ndarray:
    try:
        arr = np.array(value, dtype=np.float64, copy=True)
    except (TypeError, ValueError):
        raise GalmixTypeError(
            f"{name} must be a 2-d array of numbers, got {type(value).__name__}"
        ) from None
    if arr.ndim != 2:
        raise GalmixValueError(f"{name} must be 2-d, got shape {arr.shape}")
    if arr.shape[0] < 1 or arr.shape[1] < 1:
        raise GalmixValueError(f"{name} must not be empty, got shape {arr.shape}")
    return arr


@dataclass(frozen=True, eq=False)
class Observation:
    """An image with its weight, mask, local Jacobian, PSF and noise.

    Validated once here; every array is stored as a read-only float64 copy.

    Parameters
    ----------
    image : array_like, shape ``(ny, nx)``
        Flux per pixel.
    weight : array_like, optional
        Inverse variance per pixel; default ones. Must be finite and >= 0.
    jacobian : Jacobian, optional
        Pixel-to-world map; default unit scale with origin at the stamp
        centre ``((nx-1)/2, (ny-1)/2)``.
    psf : Observation or GMix-like, optional
        The PSF: an ``Observation`` holding the (centred) PSF image with its
        own Jacobian, or a Gaussian mixture / profile.
    mask : array_like of bool, optional
        True marks bad pixels; they get weight 0 (and image 0).
    noise : array_like, optional
        A noise realisation with the statistics of the image's noise (used by
        metacalibration's ``fixnoise``); same shape as ``image``.
    meta : dict, optional
        Free-form metadata (band, ids, ...).
    pixel : PixelResponse, optional
        Sensitive area of each pixel; default the full square pixel.
    noise_correlation : array_like, optional
        Noise correlation function image (odd-sized, centred), for
        correlated noise; ``None`` means white noise.

    Raises
    ------
    GalmixValueError
        On shape mismatches, non-finite or negative weights, all-zero weight,
        an all-masked stamp, or non-finite image pixels that are neither
        masked nor zero-weight.

    Examples
    --------
    >>> import numpy as np
    >>> obs = Observation(np.zeros((5, 7)), weight=np.full((5, 7), 4.0))
    >>> obs.jacobian.origin
    (3.0, 2.0)
    >>> float(obs.noise_map[0, 0])
    0.5
    """

    image: np.ndarray
    weight: np.ndarray | None = None
    jacobian: Jacobian | None = None
    psf: Any = None
    mask: np.ndarray | None = None
    noise: np.ndarray | None = None
    meta: dict = field(default_factory=dict)
    pixel: PixelResponse = field(default_factory=PixelResponse)
    noise_correlation: np.ndarray | None = None

    def __post_init__(self) -> None:
        image = _as_float_image(self.image, "image")
        shape = image.shape
        if self.weight is None:
            weight = np.ones(shape)
        else:
            weight = _as_float_image(self.weight, "weight")
            if weight.shape != shape:
                raise GalmixValueError(
                    f"weight shape {weight.shape} does not match image shape {shape}"
                )
            if not np.all(np.isfinite(weight)):
                nbad = int(np.count_nonzero(~np.isfinite(weight)))
                raise GalmixValueError(f"weight has {nbad} non-finite value(s)")
            if np.any(weight < 0):
                raise GalmixValueError(
                    f"weight must be >= 0 (inverse variance), min is {weight.min()!r}"
                )
        if self.mask is None:
            mask = np.zeros(shape, dtype=bool)
        else:
            mask = np.array(self.mask, copy=True)
            if mask.shape != shape:
                raise GalmixValueError(
                    f"mask shape {mask.shape} does not match image shape {shape}"
                )
            if mask.dtype != bool:
                if not np.issubdtype(mask.dtype, np.integer):
                    raise GalmixTypeError(
                        f"mask must be boolean (True = bad), got dtype {mask.dtype}"
                    )
                mask = mask != 0
        if np.all(mask):
            raise GalmixValueError("mask: every pixel is masked (all-masked stamp)")
        weight[mask] = 0.0
        bad = ~np.isfinite(image)
        if np.any(bad & (weight > 0)):
            nbad = int(np.count_nonzero(bad & (weight > 0)))
            raise GalmixValueError(
                f"image has {nbad} non-finite pixel(s) with non-zero weight; "
                "mask them (mask=~np.isfinite(image)) or give them weight 0"
            )
        image[bad | mask] = 0.0
        if not np.any(weight > 0):
            raise GalmixValueError("weight is zero everywhere (after masking)")

        jac = self.jacobian
        if jac is None:
            ny, nx = shape
            jac = Jacobian(1.0, 0.0, 0.0, 1.0, x0=(nx - 1) / 2.0, y0=(ny - 1) / 2.0)
        elif not isinstance(jac, Jacobian):
            raise GalmixTypeError(f"jacobian must be a galmix Jacobian, got {type(jac).__name__}")
        noise = None
        if self.noise is not None:
            noise = _as_float_image(self.noise, "noise")
            if noise.shape != shape:
                raise GalmixValueError(
                    f"noise shape {noise.shape} does not match image shape {shape}"
                )
            if not np.all(np.isfinite(noise)):
                raise GalmixValueError("noise must be finite")
            noise[mask] = 0.0
            noise = _readonly(noise)
        ncorr = None
        if self.noise_correlation is not None:
            ncorr = _as_float_image(self.noise_correlation, "noise_correlation")
            if ncorr.shape[0] % 2 == 0 or ncorr.shape[1] % 2 == 0:
                raise GalmixValueError(
                    f"noise_correlation must have odd sides, got shape {ncorr.shape}"
                )
            if not np.all(np.isfinite(ncorr)):
                raise GalmixValueError("noise_correlation must be finite")
            ncorr = _readonly(ncorr)
        psf = self.psf
        if psf is not None and not isinstance(psf, Observation) and not hasattr(psf, "gmix"):
            if not hasattr(psf, "data") and not hasattr(psf, "get_data"):
                raise GalmixTypeError(
                    "psf must be an Observation (PSF image), a GMix or a profile, "
                    f"got {type(psf).__name__}"
                )
        pixel = self.pixel if self.pixel is not None else PixelResponse()
        if not isinstance(pixel, PixelResponse):
            raise GalmixTypeError(f"pixel must be a PixelResponse, got {type(pixel).__name__}")
        meta = dict(self.meta) if self.meta is not None else {}
        object.__setattr__(self, "image", _readonly(image))
        object.__setattr__(self, "weight", _readonly(weight))
        object.__setattr__(self, "mask", _readonly(mask))
        object.__setattr__(self, "jacobian", jac)
        object.__setattr__(self, "noise", noise)
        object.__setattr__(self, "noise_correlation", ncorr)
        object.__setattr__(self, "meta", meta)
        object.__setattr__(self, "pixel", pixel)

    # ---------------------------------------------------------------- fast path
    @classmethod
    def _trusted(cls, **fields: Any) -> Observation:
        """Build without validation (hot paths; arrays already validated)."""
        obj = object.__new__(cls)
        defaults = {
            "weight": None,
            "jacobian": None,
            "psf": None,
            "mask": None,
            "noise": None,
            "meta": {},
            "pixel": PixelResponse(),
            "noise_correlation": None,
        }
        defaults.update(fields)
        for key, value in defaults.items():
            object.__setattr__(obj, key, value)
        return obj

    # -------------------------------------------------------------- derived
    @property
    def shape(self) -> tuple[int, int]:
        """``(ny, nx)``."""
        return self.image.shape  # type: ignore[return-value]

    @property
    def has_psf(self) -> bool:
        """True if a PSF is attached."""
        return self.psf is not None

    @property
    def variance(self) -> np.ndarray:
        """Per-pixel variance ``1/weight`` (``inf`` where weight is 0)."""
        with np.errstate(divide="ignore"):
            return np.where(
                self.weight > 0, 1.0 / np.where(self.weight > 0, self.weight, 1), np.inf
            )

    @property
    def noise_map(self) -> np.ndarray:
        """Per-pixel RMS noise ``1/sqrt(weight)`` (``inf`` where weight is 0)."""
        return np.sqrt(self.variance)

    @property
    def signal_to_noise_map(self) -> np.ndarray:
        """``image * sqrt(weight)`` (0 where weight is 0)."""
        return self.image * np.sqrt(self.weight)

    @property
    def signal_to_noise_max(self) -> float:
        """Maximum of :attr:`signal_to_noise_map`."""
        return float(np.max(self.signal_to_noise_map))

    @property
    def good(self) -> np.ndarray:
        """Boolean map of usable pixels (weight > 0)."""
        return self.weight > 0

    # -------------------------------------------------------------- builders
    @classmethod
    def from_noise_map(cls, image: Any, noise_map: Any, **kwargs: Any) -> Observation:
        """Build from an RMS noise map instead of a weight (PyAutoLens style).

        Pixels with infinite or non-positive noise get weight 0.

        Examples
        --------
        >>> import numpy as np
        >>> obs = Observation.from_noise_map(np.zeros((3, 3)), np.full((3, 3), 2.0))
        >>> float(obs.weight[1, 1])
        0.25
        """
        nm = np.asarray(noise_map, dtype=float)
        with np.errstate(divide="ignore", invalid="ignore"):
            w = np.where(np.isfinite(nm) & (nm > 0), 1.0 / np.where(nm > 0, nm, 1.0) ** 2, 0.0)
        return cls(image, weight=w, **kwargs)

    def replace(self, **changes: Any) -> Observation:
        """A validated copy with some fields replaced."""
        return dataclasses.replace(self, **changes)

    def with_mask(self, mask: Any, combine: bool = True) -> Observation:
        """Apply a (further) mask: masked pixels get weight 0.

        Parameters
        ----------
        mask : array_like of bool
            True = bad.
        combine : bool
            OR with the existing mask (default) or replace it.
        """
        m = np.asarray(mask, dtype=bool)
        if m.shape != self.shape:
            raise GalmixValueError(f"mask shape {m.shape} does not match image shape {self.shape}")
        new = (m | self.mask) if combine else m
        return self.replace(mask=new)

    def with_noise_scaling(
        self, mask: Any, noise_value: float = 1e8, signal_value: float = 0.0
    ) -> Observation:
        """PyAutoLens-style noise scaling: keep masked pixels but make them uninformative.

        Pixels in ``mask`` get image ``signal_value`` and noise ``noise_value``
        (weight ``1/noise_value**2``), so they stay in the image (e.g. for
        FFT-based operations) but carry almost no weight.
        """
        m = np.asarray(mask, dtype=bool)
        if m.shape != self.shape:
            raise GalmixValueError(f"mask shape {m.shape} does not match image shape {self.shape}")
        if not np.isfinite(noise_value) or noise_value <= 0:
            raise GalmixValueError(f"noise_value must be positive and finite, got {noise_value!r}")
        image = np.array(self.image)
        weight = np.array(self.weight)
        image[m] = signal_value
        weight[m] = 1.0 / noise_value**2
        return self.replace(image=image, weight=weight)

    def with_normalized_psf(self) -> Observation:
        """Copy whose PSF image sums to 1 (PSF as ``Observation`` only)."""
        if not isinstance(self.psf, Observation):
            raise GalmixValueError("psf must be an Observation to normalise its image")
        total = float(np.sum(self.psf.image))
        if not np.isfinite(total) or total <= 0:
            raise GalmixValueError(f"psf image sum must be positive, got {total!r}")
        return self.replace(psf=self.psf.replace(image=self.psf.image / total))

    def trimmed(self, y0: int, y1: int, x0: int, x1: int) -> Observation:
        """Sub-image ``[y0:y1, x0:x1]``; the Jacobian origin moves with it."""
        sl = (slice(y0, y1), slice(x0, x1))
        jac = self.jacobian.with_origin(self.jacobian.x0 - x0, self.jacobian.y0 - y0)
        return self.replace(
            image=self.image[sl],
            weight=self.weight[sl],
            mask=self.mask[sl],
            noise=None if self.noise is None else self.noise[sl],
            jacobian=jac,
        )

    def __repr__(self) -> str:
        j = self.jacobian
        return (
            f"Observation(shape={self.shape}, jacobian=[[{j.dudx:.4g}, {j.dudy:.4g}], "
            f"[{j.dvdx:.4g}, {j.dvdy:.4g}]] @ ({j.x0:.2f}, {j.y0:.2f}), "
            f"psf={'yes' if self.psf is not None else 'no'}, meta={self.meta!r})"
        )


class MultiBandObservation(Mapping):
    """Observations of one object in several bands.

    Parameters
    ----------
    bands : mapping of str to Observation or list of Observation
        Each band has one or more exposures (each with its own Jacobian and PSF).

    Examples
    --------
    >>> import numpy as np
    >>> mb = MultiBandObservation({"g": Observation(np.zeros((4, 4))),
    ...                            "r": [Observation(np.zeros((4, 4)))] * 2})
    >>> list(mb), mb.nexp("r")
    (['g', 'r'], 2)
    """

    def __init__(self, bands: Mapping[str, Any]) -> None:
        if not isinstance(bands, Mapping) or len(bands) == 0:
            raise GalmixValueError("bands must be a non-empty mapping band -> Observation(s)")
        data: dict[str, list[Observation]] = {}
        for band, value in bands.items():
            items = [value] if isinstance(value, Observation) else list(value)
            if not items:
                raise GalmixValueError(f"band {band!r} has no observations")
            for i, item in enumerate(items):
                if not isinstance(item, Observation):
                    raise GalmixTypeError(
                        f"band {band!r} exposure {i} must be an Observation, "
                        f"got {type(item).__name__}"
                    )
            data[str(band)] = items
        self._data = data

    def __getitem__(self, band: str) -> list[Observation]:
        return self._data[band]

    def __iter__(self) -> Iterator[str]:
        return iter(self._data)

    def __len__(self) -> int:
        return len(self._data)

    @property
    def bands(self) -> list[str]:
        """Band names in order."""
        return list(self._data)

    def nexp(self, band: str) -> int:
        """Number of exposures in ``band``."""
        return len(self._data[band])

    def __repr__(self) -> str:
        inner = ", ".join(f"{b}: {len(v)} exp" for b, v in self._data.items())
        return f"MultiBandObservation({inner})"
