"""Analyses of trained runs: canonical form, generalization, comparison, dissection, events.

Any hidden size::

    from gru_jax import analysis as ga
    canon = ga.canonicalize(params)           # one representative per signed permutation of units
    aligned = ga.align(params, reference)     # each model's units matched to a reference model's
    fp = ga.fixed_points(params, x)           # x (2,) = (value / high, flag); a FixedPoints
    summary = ga.fixed_point_summary(params)  # per model: counts, leading eigenvalue, leak
    c = ga.census(run)                        # families and strategies: a ga.Census
    c.families, c.family_labels, c.family_names, c.family_fractions, c.k_stability
    c.labels, c.strategy_labels, c.names, c.fractions, c.ci_low, c.ci_high, c.features
    t = ga.run_thresholds(run)                # threshold axis: general / length-specific / failed
"""
import importlib

from .census import Census, census
from .features import SeedFeatures, seed_features
from .slow_points import FixedPoints, FixedPointSummary, fixed_point_summary, fixed_points
from .symmetry import align, align_transform, canonicalize
from .thresholds import Thresholds, run_thresholds, threshold_classes

__all__ = ["Census", "FixedPoints", "FixedPointSummary", "SeedFeatures", "Thresholds", "align",
           "align_transform", "canonicalize", "census", "fixed_point_summary", "fixed_points",
           "run_thresholds", "seed_features", "threshold_classes"]


def __getattr__(name: str):
    """The other analysis modules (``ga.dissect``, ``ga.events``, ...), imported on first use."""
    try:
        return importlib.import_module(f".{name}", __name__)
    except ModuleNotFoundError as err:
        if err.name != f"{__name__}.{name}":
            raise
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}") from None
