"""Stability runs: the protocol, shortened, started from a designed weight set and from small
perturbations of it; does training keep it, or drift away?

They train, so they belong to the training side: the comparison
(:func:`gru_jax.reports.run_compare`) receives their Run and only reports it (reports never
train). ``gru-jax compare`` and ``gru-jax pipeline`` compute them first
(:func:`comparison_stability`).
"""
from __future__ import annotations

import dataclasses
from typing import Optional

from .analysis.reference import perturbed_copies
from .handcrafted import reachable_accumulator
from .run import Run
from .train import train


def stability_runs(run_config, start_params, epochs: int, n: int, scale: float) -> Run:
    """Train ``run_config``'s protocol for ``epochs`` epochs (eval every
    ``min(eval_every, epochs)``) from ``n`` copies of ``start_params``: copy 0 exact, the
    others perturbed by Gaussian noise of std ``scale`` x each coordinate's reachable cap in
    canonical coordinates (:func:`gru_jax.analysis.reference.perturbed_copies`, seed 0).

    Returns the Run of seeds ``0..n-1`` (seed ``i`` started from copy ``i``).
    """
    cfg = dataclasses.replace(run_config, epochs=epochs,
                              eval_every=min(run_config.eval_every, epochs))
    return train(cfg, seeds=range(n), init=perturbed_copies(start_params, n, scale),
                 progress=False)


def comparison_stability(run_config, options) -> Optional[Run]:
    """The stability runs the comparison shows with ``options``
    (:class:`gru_jax.reports.CompareOptions`: ``stability_epochs``, ``stability_runs``,
    ``stability_scale``), from the reachable accumulator; None where it shows none
    (``stability_epochs`` 0, or a run with more than one hidden unit: the reachable
    accumulator has one)."""
    if options.stability_epochs <= 0 or run_config.hidden_size != 1:
        return None
    return stability_runs(run_config, reachable_accumulator(), options.stability_epochs,
                          options.stability_runs, options.stability_scale)
