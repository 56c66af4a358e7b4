"""gru_jax.interop: state dicts in torch's names and layout, and the seed blog's JSON files."""
import dataclasses
import json
import os

import numpy as np
import pytest

import gru_jax as gj
import torch_reference as ref

# the seed's model.state_dict() (names, order, shapes for I=2, O=1), written out by hand
SEED_SHAPES = {"gru.weight_ih_l0": lambda h: (3 * h, 2), "gru.weight_hh_l0": lambda h: (3 * h, h),
               "gru.bias_ih_l0": lambda h: (3 * h,), "gru.bias_hh_l0": lambda h: (3 * h,),
               "linear.weight": lambda h: (1, h), "linear.bias": lambda h: (1,)}


@pytest.mark.parametrize("hidden", [1, 3])
def test_state_dict_round_trip(hidden):
    state_dict = ref.random_state_dict(np.random.default_rng(hidden), hidden)
    params = gj.from_state_dict(state_dict)
    assert params["gru"]["weight_hh_l0"].shape == (3 * hidden, hidden)
    back = gj.to_state_dict(params)
    assert list(back) == list(SEED_SHAPES)
    for key, value in state_dict.items():
        assert back[key].dtype == np.float32 and back[key].shape == SEED_SHAPES[key](hidden)
        np.testing.assert_array_equal(back[key], value)


def test_state_dict_round_trip_with_seed_axis():
    rng = np.random.default_rng(0)
    dicts = [ref.random_state_dict(rng, 3) for _ in range(4)]
    stacked = {k: np.stack([d[k] for d in dicts]) for k in dicts[0]}
    back = gj.to_state_dict(gj.from_state_dict(stacked))
    for key in stacked:
        assert back[key].shape == (4,) + SEED_SHAPES[key](3)
        np.testing.assert_array_equal(back[key], stacked[key])


def test_from_state_dict_accepts_lists_and_init_params_layout():
    cfg = gj.Config(hidden_size=2)
    import jax
    params = gj.init_params(cfg, jax.random.key(0))
    as_lists = {k: v.tolist() for k, v in gj.to_state_dict(params).items()}
    back = gj.to_state_dict(gj.from_state_dict(as_lists))
    for key, value in gj.to_state_dict(params).items():
        assert back[key].shape == SEED_SHAPES[key](2)
        np.testing.assert_array_equal(back[key], value)


@pytest.mark.torch
def test_from_state_dict_accepts_torch_tensors():
    model = ref.AddingProblemGRU(2, 3, 1)
    params = gj.from_state_dict(model.state_dict())
    for key, value in model.state_dict().items():
        np.testing.assert_array_equal(gj.to_state_dict(params)[key], value.numpy())


def test_from_state_dict_names_a_missing_key():
    state_dict = ref.random_state_dict(np.random.default_rng(1), 1)
    del state_dict["gru.bias_hh_l0"]
    with pytest.raises(ValueError, match="gru.bias_hh_l0"):
        gj.from_state_dict(state_dict)


def test_from_state_dict_names_an_unknown_key():
    state_dict = ref.random_state_dict(np.random.default_rng(1), 1)
    state_dict["gru.weight_ih_l1"] = state_dict["gru.weight_ih_l0"]
    with pytest.raises(ValueError, match="gru.weight_ih_l1"):
        gj.from_state_dict(state_dict)


@pytest.mark.parametrize("key,shape", [("gru.weight_ih_l0", (4, 2)), ("gru.bias_hh_l0", (6,)),
                                       ("linear.weight", (1, 2)), ("linear.bias", (2, 1))])
def test_from_state_dict_names_a_bad_shape(key, shape):
    state_dict = ref.random_state_dict(np.random.default_rng(2), 1)
    state_dict[key] = np.zeros(shape, np.float32)
    with pytest.raises(ValueError, match=key.replace(".", r"\.")):
        gj.from_state_dict(state_dict)


def test_from_state_dict_rejects_mixed_seed_axes():
    state_dict = ref.random_state_dict(np.random.default_rng(3), 1)
    stacked = {k: np.stack([v, v]) for k, v in state_dict.items()}
    stacked["linear.bias"] = np.stack([state_dict["linear.bias"]] * 3)
    with pytest.raises(ValueError, match="linear.bias"):
        gj.from_state_dict(stacked)


# ---- the seed blog's files ---------------------------------------------------------------------
@pytest.fixture(scope="module")
def tiny_run():
    cfg = gj.Config(n_samples=200, epochs=10, eval_every=3)
    return gj.train(cfg, seeds=[0, 1], progress=False)


def test_export_blog_files(tiny_run, tmp_path):
    run = tiny_run
    paths = gj.export_blog_files(run, str(tmp_path), seed=1)
    assert sorted(os.path.basename(p) for p in paths) == [
        "all_weights.json", "test_losses.json", "train_losses.json"]
    with open(tmp_path / "all_weights.json") as handle:
        all_weights = json.load(handle)
    with open(tmp_path / "train_losses.json") as handle:
        train_losses = json.load(handle)
    with open(tmp_path / "test_losses.json") as handle:
        test_losses = json.load(handle)
    # all_weights.json: the seed's list of {name: nested list}, one per eval epoch (0, 3, 6, 9)
    assert isinstance(all_weights, list) and len(all_weights) == 4
    snapshots = gj.to_state_dict(run.snapshots)
    for i, entry in enumerate(all_weights):
        assert list(entry) == list(SEED_SHAPES)
        for key, value in entry.items():
            assert isinstance(value, list)
            assert np.asarray(value).shape == SEED_SHAPES[key](1)
            np.testing.assert_array_equal(np.asarray(value, np.float32), snapshots[key][1, i])
    final = gj.to_state_dict(run.params)
    for key in SEED_SHAPES:   # epoch 9 is both the last eval epoch and the last epoch
        np.testing.assert_array_equal(np.asarray(all_weights[-1][key], np.float32), final[key][1])
    # train_losses.json: one float per epoch; test_losses.json: null except at eval epochs
    assert len(train_losses) == 10 and all(isinstance(v, float) for v in train_losses)
    np.testing.assert_allclose(train_losses, run.train_loss[1], rtol=1e-7)
    assert len(test_losses) == 10
    assert [i for i, v in enumerate(test_losses) if v is not None] == [0, 3, 6, 9]
    np.testing.assert_allclose([test_losses[i] for i in (0, 3, 6, 9)], run.test_loss[1], rtol=1e-7)
    # and our reader gives back the snapshots
    loaded = gj.load_blog_weights(str(tmp_path / "all_weights.json"))
    assert len(loaded) == 4
    np.testing.assert_array_equal(loaded[2]["gru.weight_hh_l0"],
                                  snapshots["gru.weight_hh_l0"][1, 2])


def test_export_blog_files_matches_the_seed_script_format(tiny_run, tmp_path):
    """Same JSON structure as seed_reference.py's snapshots: {k: v.detach().numpy().tolist()}."""
    gj.export_blog_files(tiny_run, str(tmp_path), seed=0)
    with open(tmp_path / "all_weights.json") as handle:
        entry = json.load(handle)[0]
    seed_style = {k: np.zeros(SEED_SHAPES[k](1), np.float32).tolist() for k in SEED_SHAPES}
    structure = lambda v: [structure(x) for x in v] if isinstance(v, list) else type(v).__name__
    assert ({k: structure(v) for k, v in entry.items()}
            == {k: structure(v) for k, v in seed_style.items()})


def test_export_blog_files_refuses_to_overwrite(tiny_run, tmp_path):
    gj.export_blog_files(tiny_run, str(tmp_path), seed=0)
    with pytest.raises(FileExistsError, match="pass overwrite=True"):
        gj.export_blog_files(tiny_run, str(tmp_path), seed=0)
    gj.export_blog_files(tiny_run, str(tmp_path), seed=1, overwrite=True)
    with pytest.raises(ValueError, match="seed_index"):
        gj.export_blog_files(tiny_run, str(tmp_path / "other"), seed_index=2)


def test_export_blog_files_takes_a_seed_value_or_a_position(tiny_run, tmp_path):
    """``seed=`` is a seed VALUE (as in Run.network and ``dissect --seed``), ``seed_index=`` a
    position; seeds 37 and 5 at positions 0 and 1."""
    run = dataclasses.replace(tiny_run, seeds=np.array([37, 5]))
    gj.export_blog_files(run, str(tmp_path / "value"), seed=5)
    gj.export_blog_files(run, str(tmp_path / "index"), seed_index=1)
    by_value = json.load(open(tmp_path / "value" / "train_losses.json"))
    assert by_value == json.load(open(tmp_path / "index" / "train_losses.json"))
    np.testing.assert_allclose(by_value, run.train_loss[1], rtol=1e-7)
    assert not np.allclose(by_value, run.train_loss[0])
    with pytest.raises(ValueError, match="seed 1 is not in this run"):
        gj.export_blog_files(run, str(tmp_path / "x"), seed=1)
    with pytest.raises(ValueError, match="exactly one of seed"):
        gj.export_blog_files(run, str(tmp_path / "x"), seed=5, seed_index=1)
    with pytest.raises(ValueError, match="exactly one of seed"):
        gj.export_blog_files(run, str(tmp_path / "x"))
