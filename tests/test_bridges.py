"""gru_jax.bridges: a run's networks as PyTorch modules and as Flax (linen, nnx) and Equinox
GRU cells, each checked against gj.forward on random inputs with random weights AND biases
(the cells place the biases differently); the run as an xarray Dataset, round-tripping every
number; the hidden-state trajectories on a probe set."""
import dataclasses
import os

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import gru_jax as gj
from gru_jax.bridges import flax_cells

T, B = 5, 7


def random_params(hidden: int, seed: int = 0):
    """Every weight and bias random (the trained-like case: all six bias vectors nonzero)."""
    rng = np.random.default_rng(seed)
    shapes = gj.interop.state_dict_shapes(hidden)
    return gj.from_state_dict({k: rng.normal(0, 0.7, s).astype(np.float32)
                               for k, s in shapes.items()})


def random_inputs(seed: int = 1):
    rng = np.random.default_rng(seed)
    x = np.stack([rng.uniform(0, 1, (B, T)), rng.integers(0, 2, (B, T))], -1)
    return x.astype(np.float32)


def scan_cell(step, h0, x):
    """Run ``step(h, x_t) -> h`` over time; returns hs ``(B, T, H)``."""
    hs, h = [], h0
    for t in range(x.shape[1]):
        h = step(h, x[:, t])
        hs.append(h)
    return np.stack([np.asarray(v) for v in hs], 1)


@pytest.fixture(scope="module")
def tiny_run():
    return gj.train(gj.Config(epochs=4, n_samples=200, eval_every=2, hidden_size=2),
                    seeds=[37, 5], progress=False)


@pytest.mark.parametrize("hidden", [1, 3])
def test_linen_gru_cell_computes_the_same_network(hidden):
    import flax.linen as nn
    params, x = random_params(hidden), random_inputs()
    y_ref, hs_ref = gj.forward(params, x)
    cell_params, dense_params = flax_cells.to_linen(params)
    cell, dense = nn.GRUCell(features=hidden), nn.Dense(1)
    step = lambda h, x_t: cell.apply({"params": cell_params}, h, x_t)[0]
    hs = scan_cell(step, jnp.zeros((B, hidden)), x)
    y = dense.apply({"params": dense_params}, hs[:, -1])
    np.testing.assert_allclose(hs, hs_ref, atol=2e-6)
    np.testing.assert_allclose(y, y_ref, atol=2e-6)
    # back: the r and z biases merged on the input side, the same outputs
    back = flax_cells.from_linen(cell_params, dense_params)
    assert np.all(back["gru"]["bias_hh_l0"][:2 * hidden] == 0)
    np.testing.assert_allclose(gj.forward(back, x)[1], hs_ref, atol=2e-6)
    # a stock linen cell's params read in give the linen cell's numbers
    stock = cell.init(jax.random.key(3), jnp.zeros((B, hidden)), x[:, 0])["params"]
    stock_dense = dense.init(jax.random.key(4), jnp.zeros((B, hidden)))["params"]
    hs_stock = scan_cell(lambda h, x_t: cell.apply({"params": stock}, h, x_t)[0],
                         jnp.zeros((B, hidden)), x)
    np.testing.assert_allclose(gj.forward(flax_cells.from_linen(stock, stock_dense), x)[1],
                               hs_stock, atol=2e-6)


@pytest.mark.parametrize("hidden", [1, 3])
def test_nnx_gru_cell_computes_the_same_network(hidden):
    from flax import nnx
    params, x = random_params(hidden, seed=2), random_inputs()
    y_ref, hs_ref = gj.forward(params, x)
    assert np.abs(params["gru"]["bias_hh_l0"][2 * hidden:]).min() > 0   # b_hn matters
    cell, readout = flax_cells.to_nnx(params)
    assert isinstance(cell, nnx.GRUCell) and isinstance(readout, nnx.Linear)
    hs = scan_cell(lambda h, x_t: cell(h, x_t)[0], jnp.zeros((B, hidden)), x)
    np.testing.assert_allclose(hs, hs_ref, atol=2e-6)
    np.testing.assert_allclose(readout(hs[:, -1]), y_ref, atol=2e-6)
    np.testing.assert_allclose(gj.forward(flax_cells.from_nnx(cell, readout), x)[1], hs_ref,
                               atol=2e-6)
    stock, stock_readout = nnx.GRUCell(2, hidden, rngs=nnx.Rngs(5)), nnx.Linear(hidden, 1,
                                                                             rngs=nnx.Rngs(6))
    hs_stock = scan_cell(lambda h, x_t: stock(h, x_t)[0], jnp.zeros((B, hidden)), x)
    y, hs_back = gj.forward(flax_cells.from_nnx(stock, stock_readout), x)
    np.testing.assert_allclose(hs_back, hs_stock, atol=2e-6)
    np.testing.assert_allclose(y, stock_readout(hs_stock[:, -1]), atol=2e-6)


@pytest.mark.parametrize("hidden", [1, 3])
def test_equinox_gru_cell_computes_the_same_network(hidden):
    eqx = pytest.importorskip("equinox")
    from gru_jax.bridges import equinox_cell
    params, x = random_params(hidden, seed=3), random_inputs()
    y_ref, hs_ref = gj.forward(params, x)
    cell, readout = equinox_cell.to_equinox(params)
    assert isinstance(cell, eqx.nn.GRUCell) and isinstance(readout, eqx.nn.Linear)
    step = jax.vmap(lambda h, x_t: cell(x_t, h))                 # one example; vmap the batch
    hs = scan_cell(step, jnp.zeros((B, hidden)), x)
    np.testing.assert_allclose(hs, hs_ref, atol=2e-6)
    np.testing.assert_allclose(jax.vmap(readout)(hs[:, -1]), y_ref, atol=2e-6)
    np.testing.assert_allclose(gj.forward(equinox_cell.from_equinox(cell, readout), x)[1],
                               hs_ref, atol=2e-6)
    stock = eqx.nn.GRUCell(2, hidden, key=jax.random.key(7))
    stock_readout = eqx.nn.Linear(hidden, 1, key=jax.random.key(8))
    hs_stock = scan_cell(jax.vmap(lambda h, x_t: stock(x_t, h)), jnp.zeros((B, hidden)), x)
    y, hs_back = gj.forward(equinox_cell.from_equinox(stock, stock_readout), x)
    np.testing.assert_allclose(hs_back, hs_stock, atol=2e-6)
    np.testing.assert_allclose(y, jax.vmap(stock_readout)(hs_stock[:, -1]), atol=2e-6)


def test_to_torch_gives_ready_modules_with_the_runs_weights(tiny_run):
    torch = pytest.importorskip("torch")
    module = gj.to_torch(tiny_run, seed=5)                         # a seed VALUE: position 1
    assert isinstance(module.gru, torch.nn.GRU) and isinstance(module.linear, torch.nn.Linear)
    params, _, _ = tiny_run.network(5)
    for name, value in gj.to_state_dict(params).items():
        np.testing.assert_array_equal(module.state_dict()[name].numpy(), value)
    x = random_inputs()
    with torch.no_grad():
        y, hs = module(torch.from_numpy(x))
    y_ref, hs_ref = gj.forward(params, x)
    np.testing.assert_allclose(hs.numpy(), hs_ref, atol=2e-6)
    np.testing.assert_allclose(y.numpy(), y_ref, atol=2e-6)
    assert not np.allclose(y_ref, gj.forward(tiny_run.network(37)[0], x)[0])
    init = gj.to_torch(tiny_run, seed=37, epoch="init")
    np.testing.assert_array_equal(init.state_dict()["gru.weight_hh_l0"].numpy(),
                                  tiny_run.init_params["gru"]["weight_hh_l0"][0])


def test_run_to_xarray_round_trips_every_number(tiny_run, tmp_path):
    xr = pytest.importorskip("xarray")
    run = dataclasses.replace(tiny_run, provenance={"host": "h", "versions": {"jax": "x"}})
    run.train_loss[1, 2] = np.nan                                  # NaN survives too
    ds = run.to_xarray()
    assert dict(ds.sizes) == {"seed": 2, "epoch": 4, "eval_epoch": 2, "parameter": 39}
    assert ds["seed"].values.tolist() == [37, 5]
    assert ds["parameter"].values[0] == "W_ir[value][0]" and ds["parameter"].values[-1] == "b_out"
    assert float(ds["params"].sel(seed=5, parameter="b_out")) == run.params["linear"]["bias"][1, 0]
    path = str(tmp_path / "run.nc")
    ds.to_netcdf(path)
    from gru_jax.bridges.xarray_run import read_netcdf
    for dataset in (ds, read_netcdf(path)):
        back = gj.Run.from_xarray(dataset)
        assert back.config == run.config and back.provenance == run.provenance
        assert (back.engine, back.wall_s, back.loss_every) == (run.engine, run.wall_s,
                                                              run.loss_every)
        for name in ("seeds", "eval_epochs", "train_loss", "test_loss", "lr", "diverged"):
            np.testing.assert_array_equal(getattr(back, name), getattr(run, name), err_msg=name)
            assert getattr(back, name).dtype == np.asarray(getattr(run, name)).dtype
        for group in ("init_params", "params", "snapshots"):
            for key, value in gj.to_state_dict(getattr(run, group)).items():
                np.testing.assert_array_equal(gj.to_state_dict(getattr(back, group))[key], value)
    assert isinstance(ds, xr.Dataset)


def test_hidden_state_trajectories_on_a_probe_set(tiny_run, tmp_path):
    pytest.importorskip("xarray")
    from gru_jax.bridges import xarray_run
    ds = xarray_run.hidden_states(tiny_run, n_samples=12, probe_seed=4)
    assert ds["h"].dims == ("seed", "sample", "time", "unit")
    assert ds["h"].shape == (2, 12, 4, 2)
    x, y = gj.seed_dataset(dataclasses.replace(tiny_run.config, n_samples=12), 4)
    np.testing.assert_array_equal(ds["value"].values, x[..., 0])
    np.testing.assert_array_equal(ds["target"].values, y[:, 0])
    scaled = gj.data.scale_inputs(x, 100)
    for position, seed in enumerate((37, 5)):
        y_ref, hs_ref = gj.forward(tiny_run.network(seed)[0], scaled)
        np.testing.assert_allclose(ds["h"].sel(seed=seed).values, hs_ref, atol=1e-6)
        np.testing.assert_allclose(ds["output"].values[position], y_ref[:, 0] * 100, rtol=1e-5)
    at_init = xarray_run.hidden_states(tiny_run, x, epoch="init")
    np.testing.assert_allclose(at_init["h"].values[0],
                               gj.forward(tiny_run.network(37, "init")[0], scaled)[1], atol=1e-6)
    netcdf = xarray_run.write_hidden_states(ds, str(tmp_path / "h.nc"))
    np.testing.assert_array_equal(xarray_run.read_netcdf(netcdf)["h"].values, ds["h"].values)
    pd = pytest.importorskip("pandas")
    pytest.importorskip("pyarrow")
    parquet = xarray_run.write_hidden_states(ds, str(tmp_path / "h.parquet"), format="parquet")
    table = pd.read_parquet(parquet)
    assert list(table.columns) == ["seed", "sample", "time", "unit", "h"]
    assert len(table) == 2 * 12 * 4 * 2
    row = table.query("seed == 5 and sample == 3 and time == 2 and unit == 1")
    assert row["h"].item() == ds["h"].sel(seed=5, sample=3, time=2, unit=1).item()
    assert os.path.getsize(netcdf) > 0
