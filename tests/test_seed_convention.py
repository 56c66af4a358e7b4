"""One convention for seeds: a seed is named by its VALUE everywhere (Run.network, dissect
--seed, export_blog_files(seed=), gj.to_torch, the comparison's tables and figure titles);
a position only where the parameter says so (seed_index). Seeds 40, 17, 23 sit at positions
0, 1, 2, so a position printed as a seed would show."""
import re

import matplotlib
import numpy as np
import pytest

import gru_jax as gj
from gru_jax.cli import main

SEEDS = [40, 17, 23]


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    out = str(tmp_path_factory.mktemp("convention") / "run")
    gj.train(gj.Config(epochs=20, n_samples=200, eval_every=10), seeds=SEEDS, out=out,
             progress=False)
    return out


def test_the_comparison_names_seed_values(run_dir):
    matplotlib.use("Agg")
    options = gj.reports.CompareOptions(stability_epochs=0, n_per_cell=5, tradeoff_n_per_cell=0)
    text = open(gj.reports.run_compare(run_dir, options=options)).read()
    named = {int(s) for s in re.findall(r"(?:best|median) seed \(?(\d+)", text)}
    assert len(named) >= 1 and named <= set(SEEDS), named
    assert "index" not in " ".join(re.findall(r"(?:best|median) seed[^|]*", text))


def test_distance_bands_label_lines_with_seed_values():
    matplotlib.use("Agg")
    from gru_jax.plots.reference import distance_bands
    fig = distance_bands(np.arange(4), np.random.default_rng(0).random((3, 4)), "d", "t",
                         individual=[1, 2], seeds=SEEDS)
    labels = fig.axes[0].get_legend_handles_labels()[1]
    assert "seed 17" in labels and "seed 23" in labels
    assert not [label for label in labels if "index" in label]


def test_dissect_and_network_take_seed_values(run_dir, capsys):
    run = gj.Run.load(run_dir)
    params, seed, epoch = run.network(17)
    np.testing.assert_array_equal(params["gru"]["weight_hh_l0"],
                                  run.params["gru"]["weight_hh_l0"][1])
    assert (seed, epoch) == (17, "final")
    with pytest.raises(ValueError, match="seed 1 is not in this run"):
        run.network(1)
    assert main(["dissect", run_dir, "--seed", "23", "--epoch", "10"]) == 0
    assert "Seed 23, epoch 10" in capsys.readouterr().out
