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
from gru_jax.engines import resolve_engine
from gru_jax.inputs import datasets, initial_params, seed_streams

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
        chunk = program.compiled_chunk(CFG, engine, 2, False, False)   # the cached program
        streams = seed_streams(CFG, [0, 1, 2])
        state = program.compiled_init(CFG, engine)(initial_params(CFG, 3, streams),
                                                   streams.order)
        data, _ = datasets(CFG, [0, 1, 2], streams)
        with pytest.raises(AssertionError, match="traced"):
            chunk(state, data, streams.order, jnp.int32(0), jnp.zeros((3, 1, 1), jnp.int32))
    finally:
        program.compiled_chunk.cache_clear()
        chex.clear_trace_counter()
