"""Metacalibration, PSF reconvolution, shear responses and bias estimation.

Examples
--------
>>> import numpy as np
>>> from galmix import Jacobian, Observation
>>> from galmix.profiles import Gaussian
>>> from galmix.shear import metacal
>>> obs = Observation(np.zeros((33, 33)), jacobian=Jacobian.from_scale(0.263, 16, 16),
...                   psf=Gaussian(1.0, 0.4))
>>> sorted(metacal(obs, rng=1))
['1m', '1p', '2m', '2p', 'noshear']
"""

from galmix.shear.estimators import (
    BiasResult,
    estimate_m_c,
    metacal_measure,
    metacal_shear,
    response,
    selection_response,
    stack_results,
)
from galmix.shear.metacal import (
    METACAL_TYPES,
    MetacalPlan,
    metacal,
    metacal_batch,
    reconvolve,
    rotate_world,
)
from galmix.shear.simulate import (
    ShearSimConfig,
    jacobian_matrix,
    run_shear_bias,
    simulate_pair,
)

__all__ = [
    "METACAL_TYPES",
    "BiasResult",
    "MetacalPlan",
    "ShearSimConfig",
    "estimate_m_c",
    "jacobian_matrix",
    "metacal",
    "metacal_batch",
    "metacal_measure",
    "metacal_shear",
    "reconvolve",
    "response",
    "rotate_world",
    "run_shear_bias",
    "selection_response",
    "simulate_pair",
    "stack_results",
]
