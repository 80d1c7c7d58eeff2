"""Exception types and the flag registry.

Public single-object calls raise the typed exceptions defined here; each
subclasses the matching builtin so ``except ValueError`` keeps working.
Batch and pipeline code never raises for one bad object: it sets bits from
:data:`FLAGS` and goes on.

Examples
--------
>>> from galmix.errors import FLAGS, flag_names
>>> word = FLAGS.NO_FLUX | FLAGS.NOT_CONVERGED
>>> flag_names(word)
['NOT_CONVERGED', 'NO_FLUX']
"""

from __future__ import annotations

import enum

__all__ = [
    "FLAGS",
    "FLAG_DESCRIPTIONS",
    "ConfigError",
    "GalmixError",
    "GalmixIOError",
    "GalmixRuntimeError",
    "GalmixTypeError",
    "GalmixValueError",
    "flag_names",
    "flag_table",
]


class GalmixError(Exception):
    """Base class of every galmix exception."""


class GalmixValueError(GalmixError, ValueError):
    """A parameter has an invalid value; the message names it and the value."""


class GalmixTypeError(GalmixError, TypeError):
    """A parameter has the wrong type; the message names it and the type."""


class GalmixRuntimeError(GalmixError, RuntimeError):
    """A computation failed for reasons other than invalid input."""


class GalmixIOError(GalmixError, OSError):
    """A file could not be read or written, or is not what it claims to be."""


class ConfigError(GalmixValueError):
    """A pipeline configuration is invalid; the message names the key."""


class FLAGS(enum.IntFlag):
    """Named flag bits shared by every batch result and catalog column ``flags``.

    A flag word of 0 means success. Bits are stable across releases: new
    bits are only ever appended.
    """

    # generic measurement failures
    NO_FLUX = 1 << 0
    NONPOSITIVE_MOMENTS = 1 << 1
    NOT_CONVERGED = 1 << 2
    MAXITER = 1 << 3
    SINGULAR_COVARIANCE = 1 << 4
    LOW_S2N = 1 << 5
    # input problems
    BAD_INPUT = 1 << 6
    NONFINITE_PIXELS = 1 << 7
    ALL_MASKED = 1 << 8
    NO_WEIGHT = 1 << 9
    BAD_PSF = 1 << 10
    BAD_JACOBIAN = 1 << 11
    STAMP_TOO_SMALL = 1 << 12
    # fitting
    PSF_FIT_FAILED = 1 << 13
    PARAM_AT_BOUND = 1 << 14
    FIT_FAILED = 1 << 15
    # shear
    METACAL_FAILED = 1 << 16
    # detection / pipeline
    EDGE = 1 << 17
    BLENDED = 1 << 18
    NEIGHBOUR_MASKED = 1 << 19
    SATURATED = 1 << 20
    NO_MATCH = 1 << 21
    DETECTION_TRUNCATED = 1 << 22
    APERTURE_TRUNCATED = 1 << 23
    MEASUREMENT_ERROR = 1 << 24
    NOT_MEASURED = 1 << 25
    OFF_IMAGE = 1 << 26


FLAG_DESCRIPTIONS: dict[str, str] = {
    "NO_FLUX": "measured flux is zero or negative, so shape/size are undefined",
    "NONPOSITIVE_MOMENTS": "second-moment matrix not positive definite (T <= 0 or |e| >= 1)",
    "NOT_CONVERGED": "iterative solver did not meet its tolerance",
    "MAXITER": "iterative solver stopped at its iteration limit",
    "SINGULAR_COVARIANCE": "parameter covariance could not be computed (singular Hessian)",
    "LOW_S2N": "signal-to-noise below the configured minimum",
    "BAD_INPUT": "input rejected by validation (see the log/message for the parameter)",
    "NONFINITE_PIXELS": "non-finite pixels with non-zero weight were found and masked",
    "ALL_MASKED": "every pixel of the stamp is masked or has zero weight",
    "NO_WEIGHT": "weight map is zero (or absent) where the object lies",
    "BAD_PSF": "PSF missing, non-finite, or with non-positive flux",
    "BAD_JACOBIAN": "pixel-to-world Jacobian singular or non-finite",
    "STAMP_TOO_SMALL": "stamp smaller than the PSF or than the object's footprint",
    "PSF_FIT_FAILED": "Gaussian-mixture fit to the PSF failed",
    "PARAM_AT_BOUND": "a fitted parameter ended at one of its bounds",
    "FIT_FAILED": "model fit failed (non-finite chi2 or no valid step)",
    "METACAL_FAILED": "metacalibration images could not be made or measured",
    "EDGE": "object footprint touches the image edge",
    "BLENDED": "object was deblended from or fit jointly with neighbours",
    "NEIGHBOUR_MASKED": "pixels of neighbouring objects were masked in the stamp",
    "SATURATED": "object contains saturated pixels",
    "NO_MATCH": "no reference-catalog counterpart within the match radius",
    "DETECTION_TRUNCATED": "detection footprint truncated by the image or tile border",
    "APERTURE_TRUNCATED": "photometry aperture extends beyond the image",
    "MEASUREMENT_ERROR": "an unexpected error occurred while measuring this object",
    "NOT_MEASURED": "the measurement was not attempted (upstream failure)",
    "OFF_IMAGE": "position lies outside the image of this band",
}


def flag_names(flags: int) -> list[str]:
    """Names of the bits set in a flag word, in alphabetical order.

    Parameters
    ----------
    flags : int
        A flag word (bitwise OR of :class:`FLAGS` members).

    Returns
    -------
    list of str
        The names of the set bits; bits unknown to this release are given
        as ``"BIT_<n>"``.

    Examples
    --------
    >>> flag_names(0)
    []
    >>> flag_names(FLAGS.EDGE | 1 << 40)
    ['BIT_40', 'EDGE']
    """
    word = int(flags)
    if word < 0:
        raise GalmixValueError(f"flags must be a non-negative integer, got {flags!r}")
    names = []
    bit = 0
    while word:
        if word & 1:
            member = FLAGS._value2member_map_.get(1 << bit)
            names.append(member.name if member is not None else f"BIT_{bit}")
        word >>= 1
        bit += 1
    return sorted(names)


def flag_table() -> list[tuple[str, int, str]]:
    """The flag registry as ``(name, value, description)`` rows, by bit.

    Examples
    --------
    >>> flag_table()[0]
    ('NO_FLUX', 1, 'measured flux is zero or negative, so shape/size are undefined')
    """
    return [(f.name, int(f.value), FLAG_DESCRIPTIONS[f.name]) for f in FLAGS]
