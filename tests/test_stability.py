"""gru_jax.stability: the comparison's stability runs are trained here, beside the reports,
and handed to the comparison, which only reports them (reports never train: pyproject.toml's
contract)."""
import dataclasses
import os

import numpy as np

import gru_jax as gj
from gru_jax.analysis.reference import perturbed_copies
from gru_jax.handcrafted import reachable_accumulator
from gru_jax.reports import run_compare
from gru_jax.reports.compare import CompareOptions
from gru_jax.stability import comparison_stability, stability_runs
from test_reference import constructed_run

CFG = gj.Config(n_samples=200, batch_size=64, epochs=40, eval_every=7)


def test_stability_runs_are_the_shortened_protocol_from_perturbed_copies():
    start = reachable_accumulator()
    stab = stability_runs(CFG, start, epochs=5, n=3, scale=0.01)
    assert stab.config == dataclasses.replace(CFG, epochs=5, eval_every=5)
    assert stab.seeds.tolist() == [0, 1, 2] and stab.train_loss.shape == (3, 5)
    expected = perturbed_copies(start, 3, 0.01)
    for module, sub in expected.items():
        for leaf, value in sub.items():
            np.testing.assert_array_equal(stab.init_params[module][leaf], value)
    np.testing.assert_array_equal(stab.init_params["gru"]["weight_hh_l0"][0],
                                  np.asarray(start["gru"]["weight_hh_l0"], np.float32))


def test_the_comparison_asks_for_no_runs_where_it_shows_none():
    assert comparison_stability(CFG, CompareOptions(stability_epochs=0)) is None
    assert comparison_stability(dataclasses.replace(CFG, hidden_size=2), CompareOptions()) is None


def test_the_comparison_reports_the_runs_it_is_given(tmp_path):
    run_dir = str(tmp_path / "run")
    constructed_run(run_dir)
    options = CompareOptions(stability_epochs=4, stability_runs=2, n_per_cell=10,
                             tradeoff_n_per_cell=0)
    run = gj.Run.load(run_dir)
    stab = comparison_stability(run.config, options)
    assert stab.n_seeds == 2 and stab.config.epochs == 4
    run_compare(run_dir, options=options, stability=stab)
    details = open(os.path.join(run_dir, "compare", "details.md")).read()
    assert "## Stability: the protocol started from the reachable accumulator (4 epochs" in details
    assert os.path.exists(os.path.join(run_dir, "compare", "stability.png"))
