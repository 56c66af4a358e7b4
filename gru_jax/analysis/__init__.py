"""Analyses of trained runs: canonical form, generalization, comparison, dissection, events.

Any hidden size::

    from gru_jax import analysis as ga
    canon = ga.canonicalize(params)           # one representative per signed permutation of units
    aligned = ga.align(params, reference)     # each model's units matched to a reference model's
    fp = ga.fixed_points(params, x)           # x (2,) = (value / high, flag); a FixedPoints
    summary = ga.fixed_point_summary(params)  # per model: counts, leading eigenvalue, leak

"""
from .slow_points import FixedPoints, FixedPointSummary, fixed_point_summary, fixed_points
from .symmetry import align, align_transform, canonicalize

__all__ = ["FixedPoints", "FixedPointSummary", "align", "align_transform", "canonicalize",
           "fixed_point_summary", "fixed_points"]
