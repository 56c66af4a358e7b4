"""Curricula: each stage's data are that stage's task (length, flag count, sums, left padding),
a stage of the Config's own task is the Config's own data, and a one-stage curriculum of the
Config's task trains bit for bit like no curriculum."""
import jax
import pytest
import numpy as np

import gru_jax as gj
from gru_jax.engines import resolve_engine
from gru_jax.inputs import datasets, seed_streams

BASE = dict(n_samples=60, batch_size=16, epochs=6, eval_every=2, n_flags=2)


def test_each_stage_holds_its_task_and_the_final_task_is_the_configs_own_data():
    cfg = gj.Config(**BASE, curriculum=((0, 2, 2), (2, 6, 3), (4, 4, 2)))
    data, shared = datasets(cfg, [5, 6], seed_streams(cfg, [5, 6]), resolve_engine(cfg, "xla"))
    assert not shared and data.x_train.shape == (2, 4, cfg.n_train, 6, 2)   # seeds, stages+1
    for stage, (_, length, flags) in enumerate(cfg.curriculum + ((None, 4, 2),)):
        x = np.asarray(data.x_train[:, stage], np.float64)
        y = np.asarray(data.y_train[:, stage, :, 0], np.float64)
        assert (np.asarray(data.length[:, stage]) == length).all()
        np.testing.assert_array_equal(x[:, :, :6 - length], 0.0)             # left padding
        np.testing.assert_array_equal(x[..., 1].sum(-1), flags)              # flags per row
        np.testing.assert_allclose(y, (x[..., 0] * x[..., 1]).sum(-1), atol=1e-6)
        assert x[:, :, 6 - length:, 0].max() > 0.5                           # real values
    for a, b in zip(jax.tree_util.tree_leaves(data), jax.tree_util.tree_leaves(data)):
        np.testing.assert_array_equal(a[:, 2], a[:, 3])   # the (4, 2) stage IS the final task


def test_one_stage_curriculum_is_no_curriculum_and_stages_train():
    plain = gj.Config(**BASE)
    one = gj.Config(**BASE, curriculum=((0, 4, 2),))
    a = gj.train(plain, seeds=[0, 1], progress=False)
    b = gj.train(one, seeds=[0, 1], progress=False)
    for x, y in zip(jax.tree_util.tree_leaves(a.params), jax.tree_util.tree_leaves(b.params)):
        np.testing.assert_array_equal(x, y)
    np.testing.assert_array_equal(a.train_loss, b.train_loss)
    np.testing.assert_array_equal(a.test_loss, b.test_loss)
    grow = gj.Config(**BASE, curriculum=((0, 2, 2), (3, 4, 2)))
    run = gj.train(grow, seeds=[0, 1], progress=False)
    assert run.engine == "native" and np.isfinite(run.test_loss).all()
    # the native kernel masks the short stage's left padding as the XLA engine does
    xla = gj.train(grow, seeds=[0, 1], progress=False, engine="xla")
    for x, y in zip(jax.tree_util.tree_leaves(run.params), jax.tree_util.tree_leaves(xla.params)):
        np.testing.assert_allclose(x, y, atol=2e-5)
    np.testing.assert_allclose(run.train_loss, xla.train_loss, rtol=1e-4)
    # epoch 0-2 train on length 2: the losses differ from the plain run's from the start
    assert not np.allclose(run.train_loss[:, 0], a.train_loss[:, 0])


def test_reset_schedule_restarts_the_plateau_at_each_stage_as_a_fresh_torch_scheduler():
    torch = pytest.importorskip("torch")
    # threshold 0.5: an eval counts as better only after halving the loss, so the LR drops
    # within the first stage (patience 0, every epoch evaluated)
    hard = dict(BASE, epochs=12, eval_every=1, plateau_patience=0, plateau_threshold=0.5,
                min_lr=1e-7, learning_rate=1e-3, curriculum=((0, 2, 2), (6, 4, 2)))
    reset = gj.train(gj.Config(**hard, curriculum_schedule="reset"), seeds=[0, 1],
                     progress=False)
    for seed in range(2):
        expected = []
        for part in (reset.test_loss[seed, :6], reset.test_loss[seed, 6:]):  # a fresh schedule
            opt = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=1e-3)
            sched = torch.optim.lr_scheduler.ReduceLROnPlateau(
                opt, mode="min", factor=0.5, patience=0, threshold=0.5, min_lr=1e-7)
            for value in part:
                sched.step(float(value))
                expected.append(opt.param_groups[0]["lr"])
        np.testing.assert_allclose(reset.lr[seed], expected, rtol=1e-6)
        assert reset.lr[seed, 5] < 1e-3 and reset.lr[seed, 6] == np.float32(1e-3)
    with pytest.raises(ValueError, match="curriculum_schedule"):
        gj.Config(**BASE, curriculum_schedule="reset")
    with pytest.raises(ValueError, match="curriculum_schedule"):
        gj.Config(**hard, curriculum_schedule="restart")
