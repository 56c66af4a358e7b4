"""What a chunk checkpoint holds: the TrainState, the logs so far, the epochs done and the
initial params, as arrays (the file itself, ``checkpoint.npz``, is the run directory's:
:meth:`gru_jax.rundir.RunDir.write_checkpoint`).

The trainer saves one after every chunk (:func:`save_checkpoint`) and continues from it on
resume (:func:`load_checkpoint`, which checks every array against this run); the run directory
removes it once the finished run is written.
"""
from __future__ import annotations

import dataclasses
from typing import Optional

import jax
import numpy as np

from .config import Config
from .interop import STATE_DICT_KEYS, from_state_dict, to_state_dict
from .rundir import RunDir, RunError


@dataclasses.dataclass(frozen=True)
class Logs:
    """Host copies of what the chunks returned so far (seed axis first)."""

    train: tuple = ()
    test: tuple = ()
    lrs: tuple = ()
    snaps: tuple = ()

    @classmethod
    def empty(cls) -> "Logs":
        return cls()

    def append(self, log, n_epochs: int, n_evals: int) -> "Logs":
        snaps = {k: v[:, :n_evals] for k, v in to_state_dict(jax.device_get(log.snapshots)).items()}
        return Logs(self.train + (np.asarray(log.train_loss)[:, :n_epochs],),
                    self.test + (np.asarray(log.test_loss)[:, :n_evals],),
                    self.lrs + (np.asarray(log.lr)[:, :n_evals],),
                    self.snaps + (snaps,))

    def train_loss(self):
        return np.concatenate(self.train, axis=1)

    def test_loss(self):
        return np.concatenate(self.test, axis=1)

    def lr(self):
        return np.concatenate(self.lrs, axis=1)

    def snapshots_state_dict(self):
        return {k: np.concatenate([s[k] for s in self.snaps], axis=1) for k in STATE_DICT_KEYS}

    def trajectories(self) -> dict:
        """The chunks joined: ``train_loss``, ``test_loss``, ``lr`` and ``snapshots`` (a state
        dict), the keywords of :meth:`gru_jax.Run.from_training`."""
        return dict(train_loss=self.train_loss(), test_loss=self.test_loss(), lr=self.lr(),
                    snapshots=self.snapshots_state_dict())


def _flatten(prefix: str, tree) -> dict[str, np.ndarray]:
    leaves = jax.tree_util.tree_leaves(jax.device_get(tree))
    return {f"{prefix}{i:04d}": np.asarray(leaf) for i, leaf in enumerate(leaves)}


def save_checkpoint(run_dir: RunDir, state, logs: Logs, done: int, params0, engine: str,
                    seeds=None, cfg: Optional[Config] = None) -> None:
    """Write ``run_dir``'s checkpoint: the TrainState (in ``engine``'s packed layout, so the
    engine's name is stored with it), the logs, the epochs done, the initial params, and (when
    given) the seeds and Config it belongs to, so another run's is recognised."""
    arrays = _flatten("state/", state)
    arrays["engine"] = np.asarray(engine)
    arrays.update({f"init/{k}": v for k, v in to_state_dict(params0).items()})
    arrays["done"] = np.asarray(done)
    arrays["n_chunks"] = np.asarray(len(logs.train))
    if seeds is not None:
        arrays["seeds"] = np.asarray(list(seeds), np.int64)
    if cfg is not None:
        arrays["config"] = np.asarray(cfg.to_json())
    for i in range(len(logs.train)):
        arrays[f"log{i:05d}/train"] = logs.train[i]
        arrays[f"log{i:05d}/test"] = logs.test[i]
        arrays[f"log{i:05d}/lr"] = logs.lrs[i]
        for k, v in logs.snaps[i].items():
            arrays[f"log{i:05d}/snap/{k}"] = v
    run_dir.write_checkpoint(arrays)


def load_checkpoint(run_dir: RunDir, cfg: Config, seeds, template_fn, engine: str):
    """Restore ``(state, logs, done, params0)`` or None if there is no checkpoint.

    ``template_fn(params0)`` builds a state of the right structure to unflatten into.
    Raises ``ValueError`` if the directory's Config or seeds differ from the ones given
    (:meth:`gru_jax.rundir.RunDir.check_same`), or if the checkpoint was written by another
    engine (its state is in that engine's layout), and :class:`gru_jax.RunError` naming the
    file if it is damaged (truncated, not an npz) or another run's (other seeds, Config or
    seed count).
    """
    arrays = run_dir.read_checkpoint(cfg, seeds)
    if arrays is None:
        return None
    try:
        return _restore(run_dir, arrays, cfg, list(seeds), template_fn, engine)
    except (KeyError, TypeError, ValueError) as err:
        if isinstance(err, RunError) or str(err).startswith("cannot resume"):
            raise
        raise run_dir.checkpoint_error(f"is damaged ({type(err).__name__}: {err})") from err


def _restore(run_dir: RunDir, arrays: dict, cfg, seeds, template_fn, engine):
    """The body of :func:`load_checkpoint`: every array checked against this run."""
    # checkpoints written before engines were recorded hold the PyTorch layout: the XLA
    # engine's (the native engine packs params into one vector)
    saved_engine = str(arrays["engine"]) if "engine" in arrays else "xla"
    if saved_engine != engine:
        raise ValueError(f"cannot resume {run_dir.path!r} with the {engine} engine: its "
                         f"checkpoint was written by the {saved_engine} engine; resume with "
                         f"--engine {saved_engine}")
    foreign = lambda what: run_dir.checkpoint_error(f"belongs to another run ({what})")
    init = {k: arrays[f"init/{k}"] for k in STATE_DICT_KEYS}
    if init["gru.weight_ih_l0"].shape[:1] != (len(seeds),):
        raise foreign(f"{init['gru.weight_ih_l0'].shape[0]} seeds, this run has {len(seeds)}")
    params0 = from_state_dict(init)
    leaves, treedef = jax.tree_util.tree_flatten(template_fn(params0))
    restored = [arrays[f"state/{i:04d}"] for i in range(len(leaves))]
    for i, (new, old) in enumerate(zip(restored, leaves)):
        if new.shape != old.shape or new.dtype != old.dtype:
            raise foreign(f"state leaf {i} is {new.dtype}{new.shape}, this run's is "
                          f"{old.dtype}{old.shape}")
    logs = Logs()
    for i in range(int(arrays["n_chunks"])):
        snaps = {k: arrays[f"log{i:05d}/snap/{k}"] for k in STATE_DICT_KEYS}
        logs = Logs(logs.train + (arrays[f"log{i:05d}/train"],),
                    logs.test + (arrays[f"log{i:05d}/test"],),
                    logs.lrs + (arrays[f"log{i:05d}/lr"],), logs.snaps + (snaps,))
    done = int(arrays["done"])
    logged = sum(t.shape[1] for t in logs.train)
    evals = sum(t.shape[1] for t in logs.test)
    expected_evals = sum(1 for e in cfg.eval_epochs if e < done)
    if not 0 < done <= cfg.epochs or logged != done or evals != expected_evals or any(
            t.shape[0] != len(seeds) for t in logs.train + logs.test + logs.lrs):
        raise foreign(f"{done} epochs done, {logged} logged, {evals} evaluations")
    return jax.tree_util.tree_unflatten(treedef, restored), logs, done, params0

