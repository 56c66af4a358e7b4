"""gru_jax.engines: the Engine owns every engine choice. The XLA engine runs no native code at
all (its datasets, first orders and steps are jax's and numpy's), and both engines give the
same setup numbers."""
import json
import os
import subprocess
import sys
import textwrap

import numpy as np

import gru_jax as gj
from gru_jax.engines import resolve_engine
from gru_jax.inputs import seed_streams

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TINY = dict(n_samples=200, batch_size=64, epochs=2, eval_every=2)

SCRIPT = textwrap.dedent("""
    import json, os, sys, tempfile
    import gru_jax as gj
    from gru_jax import native
    from gru_jax.native import build
    calls = []
    real = build.load
    def spy():
        calls.append(1)
        return real()
    build.load = native.load = spy            # every way in to the kernel library
    mapped = lambda: "gru_jax_kernels_" in open("/proc/self/maps").read()
    cfg = gj.Config(**json.loads(sys.argv[1]))
    out = os.path.join(tempfile.mkdtemp(), "run")
    gj.train(cfg, seeds=[0, 1], engine="xla", progress=False, out=out, seed_batch=1)
    gj.sweep(cfg, {"learning_rate": [1e-3, 2e-3]}, seeds=[0], engine="xla", progress=False)
    xla = {"calls": len(calls), "mapped": mapped()}
    gj.train(cfg, seeds=[0], engine="native", progress=False)      # the check can see it
    print(json.dumps({"xla": xla, "native": {"calls": len(calls), "mapped": mapped()}}))
""")


def test_the_xla_engine_runs_no_native_code():
    """In a fresh process, training into a run directory in batches of seeds and a sweep with
    engine="xla" never load the kernel library (never call its loader; no kernel library
    mapped into the process); engine="native" afterwards does, so the check can see it."""
    env = dict(os.environ, PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""))
    done = subprocess.run([sys.executable, "-c", SCRIPT, json.dumps(TINY)], env=env,
                          capture_output=True, text=True, timeout=600, cwd=ROOT)
    assert done.returncode == 0, done.stderr[-3000:]
    seen = json.loads(done.stdout.strip().splitlines()[-1])
    assert seen["xla"] == {"calls": 0, "mapped": False}, seen
    if gj.native.load() is not None:               # the kernels build on this machine
        assert seen["native"]["calls"] >= 1 and seen["native"]["mapped"], seen


def test_both_engines_make_the_same_setup_and_the_native_one_counts_its_rows():
    """Datasets and first orders: the native engine's kernels give the XLA engine's numbers
    bit for bit; only the native engine's packed rows add to the memory estimate."""
    cfg = gj.Config(**TINY)
    xla = resolve_engine(cfg, "xla")
    assert xla.prepared_bytes == 0
    if gj.native.load() is None:
        return
    native = resolve_engine(cfg, "native")
    assert native.prepared_bytes == 4 * cfg.n_train * 16      # one 64-byte row a sample
    streams = seed_streams(cfg, [0, 7, 2**32 - 1])
    for a, b in zip(xla.datasets(streams.data), native.datasets(streams.data)):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    np.testing.assert_array_equal(np.asarray(xla.first_orders(streams.order)),
                                  np.asarray(native.first_orders(streams.order)))


def test_configs_that_differ_in_member_fields_share_an_engine():
    cfg = gj.Config(**TINY)
    other = gj.Config(**{**TINY, "learning_rate": 1e-2, "clip": 1.0})
    assert resolve_engine(cfg, "xla") is resolve_engine(other, "xla")
