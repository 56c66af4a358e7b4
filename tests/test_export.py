"""Tidy tables of a run: Parquet and CSV round-trip the run's numbers exactly; parameter names
are checked against an independent reading of the naming rule."""
import os
import re

import numpy as np
import pytest

pd = pytest.importorskip("pandas")
pytest.importorskip("pyarrow")

import gru_jax as gj  # noqa: E402
from gru_jax import export  # noqa: E402
from gru_jax.interop import state_dict_shapes  # noqa: E402
from gru_jax.model import param_names  # noqa: E402

GATE_ROW = {"r": 0, "z": 1, "n": 2}


def run_with(hidden, n_seeds=3, epochs=7, eval_every=3, seed=0):
    cfg = gj.Config(epochs=epochs, eval_every=eval_every, hidden_size=hidden)
    rng = np.random.default_rng(seed)
    params = lambda lead: gj.from_state_dict(
        {k: rng.normal(size=lead + s).astype(np.float32)
         for k, s in state_dict_shapes(hidden).items()})
    n_eval = cfg.n_eval
    return gj.Run(config=cfg, seeds=np.array([5, 37, 2])[:n_seeds],
                  eval_epochs=np.asarray(cfg.eval_epochs), init_params=params((n_seeds,)),
                  params=params((n_seeds,)), snapshots=params((n_seeds, n_eval)),
                  train_loss=rng.random((n_seeds, epochs)).astype(np.float32),
                  test_loss=(100 * rng.random((n_seeds, n_eval))).astype(np.float32),
                  lr=rng.random((n_seeds, n_eval)).astype(np.float32),
                  diverged=np.array([False, True, False])[:n_seeds])


def element(params, name, hidden):
    """The value ``name`` denotes in ONE network's params, read off the naming rule alone."""
    gru, linear = params["gru"], params["linear"]
    unit = r"(?:\[(\d+)\])?" if hidden > 1 else "()"
    u = lambda m, i: int(m.group(i)) if m.group(i) else 0
    if m := re.fullmatch(r"W_i([rzn])\[(value|flag)\]" + unit, name):
        return gru["weight_ih_l0"][GATE_ROW[m[1]] * hidden + u(m, 3), ["value", "flag"].index(m[2])]
    if m := re.fullmatch(r"W_h([rzn])(?:\[(\d+),(\d+)\])?", name):
        row, col = (int(m[2]), int(m[3])) if m[2] is not None else (0, 0)
        return gru["weight_hh_l0"][GATE_ROW[m[1]] * hidden + row, col]
    if m := re.fullmatch(r"b_([ih])([rzn])" + unit, name):
        bias = gru["bias_ih_l0" if m[1] == "i" else "bias_hh_l0"]
        return bias[GATE_ROW[m[2]] * hidden + u(m, 3)]
    if m := re.fullmatch(r"w_out" + unit, name):
        return linear["weight"][0, u(m, 1)]
    if name == "b_out":
        return linear["bias"][0]
    raise AssertionError(f"unexpected parameter name {name!r}")


def one(tree, *index):
    return {m: {k: v[index] for k, v in sub.items()} for m, sub in tree.items()}


def check_tables(frames, run):
    hidden = run.config.hidden_size
    seeds = run.seeds.tolist()
    assert frames["seeds"]["seed"].tolist() == seeds
    assert frames["seeds"]["diverged"].tolist() == run.diverged.tolist()
    losses = frames["losses"]
    assert len(losses) == run.n_seeds * len(run.loss_epochs)
    for row in losses.itertuples():
        s = seeds.index(row.seed)
        column = run.loss_epochs.tolist().index(row.epoch)
        assert np.float32(row.train_loss) == run.train_loss[s, column]
    evals = frames["evals"]
    assert len(evals) == run.n_seeds * len(run.eval_epochs)
    for row in evals.itertuples():
        s, i = seeds.index(row.seed), run.eval_epochs.tolist().index(row.epoch)
        assert np.float32(row.test_loss) == run.test_loss[s, i]
        assert np.float32(row.lr) == run.lr[s, i]
    params = frames["params"]
    n_names = 3 * hidden * hidden + 13 * hidden + 1
    assert len(params) == run.n_seeds * (len(run.eval_epochs) + 2) * n_names
    assert params["name"].nunique() == n_names
    for row in params.itertuples():
        s = seeds.index(row.seed)
        if row.stage == "init":
            assert row.epoch == -1
            network = one(run.init_params, s)
        elif row.stage == "final":
            assert row.epoch == run.config.epochs - 1
            network = one(run.params, s)
        else:
            assert row.stage == "snapshot"
            network = one(run.snapshots, s, run.eval_epochs.tolist().index(row.epoch))
        assert np.float32(row.value) == element(network, row.name, hidden), (row.stage, row.name)


@pytest.mark.parametrize("hidden", [1, 2])
def test_parquet_round_trips_the_run_exactly(tmp_path, hidden):
    run = run_with(hidden)
    paths = export.write(run, str(tmp_path), format="parquet")
    assert [p.rsplit("/", 1)[1] for p in paths] == [
        "seeds.parquet", "losses.parquet", "evals.parquet", "params.parquet"]
    frames = {name: pd.read_parquet(path) for name, path in zip(export.TABLES, paths)}
    assert frames["params"]["value"].dtype == np.float32
    check_tables(frames, run)
    with pytest.raises(FileExistsError, match="losses.parquet"):
        export.write(run, str(tmp_path))


def test_csv_round_trips_a_thinned_loaded_run(tmp_path):
    run_with(1, epochs=10).save(str(tmp_path / "run"), loss_every=4)
    run = gj.Run.load(str(tmp_path / "run"))
    paths = export.write(run, str(tmp_path / "csv"), format="csv")
    frames = {name: pd.read_csv(path) for name, path in zip(export.TABLES, paths)}
    assert sorted(set(frames["losses"]["epoch"])) == [0, 4, 8, 9]
    check_tables(frames, run)


def test_names_for_one_unit_are_the_blogs():
    assert param_names(1)[:2] == ("W_ir[value]", "W_ir[flag]")
    assert {"W_iz[flag]", "W_hn", "b_iz", "b_hn", "w_out", "b_out"} <= set(param_names(1))
    assert {"W_iz[flag][1]", "W_hn[0,1]", "b_iz[1]", "w_out[1]"} <= set(param_names(2))


def test_unknown_format_is_named(tmp_path):
    with pytest.raises(ValueError, match="format"):
        export.write(run_with(1), str(tmp_path), format="xlsx")


def test_blog_files_refuse_a_thinned_run(tmp_path):
    run = run_with(1, epochs=10).thin_losses(4)
    with pytest.raises(ValueError, match="loss_every"):
        gj.export_blog_files(run, str(tmp_path), seed_index=0)


def test_sweep_table_one_row_per_cell_and_group(tmp_path, capsys):
    """The sweep's tidy table holds summary.csv's threshold-class numbers in long form, per
    cell and group; the CLI writes it for a sweep directory."""
    import csv
    from gru_jax.cli import main
    out = str(tmp_path / "sweep")
    assert main(["sweep", "--grid", "learning_rate=1e-3,3e-2", "--seeds", "4", "--epochs", "6",
                 "--n-samples", "200", "--eval-every", "3", "--out", out, "--no-progress"]) == 0
    sweep = gj.Sweep.load(out)
    table = export.sweep_table(sweep)
    assert len(table) == 2 * 3
    assert list(table.columns) == ["cell", "learning_rate", "n_seeds", "epochs", "census",
                                   "group", "name", "count", "fraction", "low", "high"]
    assert table.groupby("cell")["count"].sum().tolist() == [4, 4]
    assert np.allclose(table.groupby("cell")["fraction"].sum(), 1.0)
    with open(os.path.join(out, "summary.csv")) as handle:
        summary = list(csv.DictReader(handle))
    for row in table.itertuples():
        cell = summary[row.cell]
        assert cell["learning_rate"] == row.learning_rate
        assert int(cell[row.group]) == row.count
        for column in ("fraction", "low", "high"):
            assert float(cell[f"{row.group}_{column}"]) == pytest.approx(
                getattr(row, column), rel=1e-12), (row.group, column)
    capsys.readouterr()
    assert main(["export", out, "--format", "csv"]) == 0
    path = capsys.readouterr().out.strip()
    assert path == os.path.join(out, "tables", "groups.csv")
    written = pd.read_csv(path)
    assert written["count"].tolist() == table["count"].tolist()
    assert written["group"].tolist() == table["group"].astype(str).tolist()
