"""A short replay of the seed's PyTorch run: same init, data and per-epoch sample orders.

The reference is the seed's protocol run in torch (``torch_reference.torch_protocol``, checked
bit-identical to ``seed_reference.py`` by make_fixtures.py): 20 epochs of seed 37, evaluated
every 4 epochs (the seed's 49 would evaluate only epoch 0). gru_jax.train must land on torch's
weights and reproduce its losses and learning rates. The 3000-epoch replay against the
published weights is ``experiments/replay_blog.py``.
"""
import numpy as np
import pytest

import gru_jax as gj
import torch_reference as ref

CASE = f"seed{ref.REPLAY_SEED}"


@pytest.fixture(scope="module")
def replay():
    expected = ref.reference("replay", CASE, ref.torch_protocol)
    cfg = gj.Config(epochs=ref.REPLAY_EPOCHS, eval_every=ref.REPLAY_EVAL_EVERY)
    np.random.seed(ref.REPLAY_SEED)    # the data, from the seed's own generator
    X, Y = ref.adding_problem_generator(cfg.n_samples, seq_len=cfg.seq_len, high=cfg.high,
                                        delta=cfg.delta)
    init = {k: expected["init." + k] for k in ref.STATE_DICT_KEYS}
    orders = np.asarray(expected["orders"], np.int32)
    run = gj.train(cfg, seeds=[ref.REPLAY_SEED], init=init, data=(X, Y), orders=orders[None],
                   progress=False)
    return cfg, expected, run


def test_replay_orders_are_the_dataloaders(replay):
    cfg, expected, _ = replay
    orders = np.asarray(expected["orders"])
    assert orders.shape == (cfg.epochs, cfg.n_train)
    assert np.all(np.sort(orders, axis=1) == np.arange(cfg.n_train))


def test_replay_final_weights_match_torch(replay):
    _, expected, run = replay
    final = gj.to_state_dict(run.params)
    for key in ref.STATE_DICT_KEYS:
        theirs = expected["final." + key]
        np.testing.assert_allclose(final[key][0], theirs, rtol=1e-5, atol=1e-5, err_msg=key)
        np.testing.assert_array_equal(gj.to_state_dict(run.init_params)[key][0],
                                      expected["init." + key])
    # the run moved far from its init, so agreement is not trivial
    moved = max(np.max(np.abs(expected["final." + k] - expected["init." + k]))
                for k in ref.STATE_DICT_KEYS)
    assert moved > 0.05


def test_replay_losses_and_lr_match_torch(replay):
    cfg, expected, run = replay
    np.testing.assert_allclose(run.train_loss[0], expected["train_losses"], rtol=1e-5)
    np.testing.assert_array_equal(run.eval_epochs, expected["eval_epochs"])
    np.testing.assert_allclose(run.test_loss[0], expected["test_losses"], rtol=1e-5)
    np.testing.assert_allclose(run.lr[0], expected["lrs"], rtol=1e-6)
    assert not run.diverged[0]


def test_replay_snapshots_end_at_the_last_eval(replay):
    """One snapshot per eval epoch; the last (epoch 16) is not the final state (epoch 19)."""
    cfg, _, run = replay
    assert run.snapshots["gru"]["weight_ih_l0"].shape == (1, len(cfg.eval_epochs), 3, 2)
    assert not np.allclose(run.snapshots["gru"]["weight_ih_l0"][0, -1],
                           run.params["gru"]["weight_ih_l0"][0])


@pytest.mark.torch
def test_replay_fixture_current(replay):
    """The committed fixture equals the live torch run (so the no-torch path checks the same)."""
    _, expected, _ = replay
    stored = ref.unpack(ref.load_fixture("replay"), CASE)
    np.testing.assert_array_equal(stored["orders"], expected["orders"])
    for key in ref.STATE_DICT_KEYS:
        np.testing.assert_array_equal(stored["init." + key], expected["init." + key])
        np.testing.assert_allclose(stored["final." + key], expected["final." + key], atol=1e-6)
    np.testing.assert_allclose(stored["train_losses"], expected["train_losses"], rtol=1e-6)
