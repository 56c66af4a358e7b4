"""Analyses of trained runs: canonical form, generalization, comparison, dissection, events.

Any hidden size::

    from gru_jax import analysis as ga
    canon = ga.canonicalize(params)           # one representative per signed permutation of units
    aligned = ga.align(params, reference)     # each model's units matched to a reference model's
    fp = ga.fixed_points(params, x)           # x (2,) = (value / high, flag); a FixedPoints
    summary = ga.fixed_point_summary(params)  # per model: counts, leading eigenvalue, leak
    c = ga.census(run)                        # discovered strategies: a strategies.Census
    c.labels, c.names, c.fractions, c.ci_low, c.ci_high, c.representatives, c.features

``ga.census`` is the module :mod:`gru_jax.analysis.census` (threshold classes:
``run_census``, ``strategy_census``, ``update_gate_behaviour``, ``STRATEGIES``), made callable:
``ga.census(run)`` runs :func:`gru_jax.analysis.strategies.census`. ``ga.Census`` is the
discovered census's result (:class:`gru_jax.analysis.strategies.Census`).

"""
import importlib

from . import census
from .features import SeedFeatures, seed_features
from .slow_points import FixedPoints, FixedPointSummary, fixed_point_summary, fixed_points
from .strategies import Census
from .symmetry import align, align_transform, canonicalize

__all__ = ["Census", "FixedPoints", "FixedPointSummary", "SeedFeatures", "align",
           "align_transform", "canonicalize", "census", "fixed_point_summary", "fixed_points",
           "seed_features"]


def __getattr__(name: str):
    """The other analysis modules (``ga.dissect``, ``ga.dynamics``, ...), imported on first use."""
    try:
        return importlib.import_module(f".{name}", __name__)
    except ModuleNotFoundError as err:
        if err.name != f"{__name__}.{name}":
            raise
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}") from None
