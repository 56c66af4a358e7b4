"""gru_jax.program: the compiled training program is traced once per shape.

``gj.train`` called again with the same Config, seed count and chunk length reuses the
compiled program (chex.assert_max_traces raises on a second trace of the wrapped function);
the same program called with a new seed count is a new shape and is caught retracing.
"""
import chex
import jax.numpy as jnp
import pytest

import gru_jax as gj
from gru_jax import program
from gru_jax.config import ProgramConfig
from gru_jax.engines import resolve_engine
from gru_jax.inputs import datasets, initial_params, seed_streams
from gru_jax.optim import member_hyper

CFG = gj.Config(n_samples=200, batch_size=64, epochs=4, eval_every=2)


def test_the_program_is_traced_once_per_shape(monkeypatch):
    make_train = program.make_train
    monkeypatch.setattr(program, "make_train", lambda *args: chex.assert_max_traces(
        make_train(*args), n=1))
    program.compiled_chunk.cache_clear()
    try:
        for seeds in ([0, 1], [2, 3], [4, 5]):           # 2 chunks of 2 epochs in each call
            gj.train(CFG, seeds, chunk_epochs=2, engine="xla", progress=False)
        engine = resolve_engine(CFG, "xla")
        spec = program.ProgramSpec.of([CFG], engine, 2)
        chunk = program.compiled_chunk(spec)                              # the cached program
        streams = seed_streams(CFG, [0, 1, 2])
        hyper = member_hyper([CFG] * 3)
        state = program.compiled_init(spec)(initial_params(CFG, 3, streams), streams.order,
                                            hyper)
        data, _ = datasets(CFG, [0, 1, 2], streams, engine)
        with pytest.raises(AssertionError, match="traced"):
            chunk(state, data, streams.order, jnp.int32(0), jnp.zeros((3, 1, 1), jnp.int32),
                  hyper)
    finally:
        program.compiled_chunk.cache_clear()
        chex.clear_trace_counter()


def test_the_spec_holds_no_per_member_field_and_is_shared_across_them():
    """A ProgramSpec is hashable and equal for Configs that differ only in per-member fields
    (one compiled program); its config refuses to give a per-member field, so the program
    cannot read a member's learning rate off it; beta1/beta2 that no member varies are
    compiled in, and leave the constants when they vary."""
    engine = resolve_engine(CFG, "xla")
    other = gj.Config(**{**CFG.to_dict(), "learning_rate": 3e-3, "weight_decay": 0.0})
    spec = program.ProgramSpec.of([CFG], engine, 2)
    assert spec == program.ProgramSpec.of([other], engine, 2)
    assert hash(spec) == hash(program.ProgramSpec.of([other], engine, 2))
    assert spec.config == ProgramConfig(other) and spec.config.n_train == CFG.n_train
    for name in ("learning_rate", "weight_decay", "beta1", "clip", "min_lr"):
        with pytest.raises(AttributeError, match="per-member"):
            getattr(spec.config, name)
    assert dict(spec.constants).keys() == {"beta1", "one_minus_beta1", "log_beta1", "beta2",
                                           "one_minus_beta2", "log_beta2"}
    varied = gj.Config(**{**CFG.to_dict(), "beta1": 0.8})
    assert dict(program.ProgramSpec.of([CFG, varied], engine, 2).constants).keys() == {
        "beta2", "one_minus_beta2", "log_beta2"}
    with pytest.raises(ValueError, match="not per-member"):
        program.ProgramSpec.of([CFG, gj.Config(**{**CFG.to_dict(), "epochs": 6})], engine, 2)
