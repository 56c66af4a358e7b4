"""Analyses of trained runs: canonical form, generalization, comparison, dissection, events.

Any hidden size::

    from gru_jax import analysis as ga
    canon = ga.canonicalize(params)           # one representative per signed permutation of units
    aligned = ga.align(params, reference)     # each model's units matched to a reference model's
    fp = ga.fixed_points(params, x)           # x (2,) = (value / high, flag); a FixedPoints
"""
from .fixed_points import FixedPoints, fixed_points
from .symmetry import align, canonicalize

__all__ = ["FixedPoints", "align", "canonicalize", "fixed_points"]
