"""The seed axis sharded over several devices gives the single-device numbers.

Runs in a subprocess because the number of host devices is fixed when JAX starts
(``XLA_FLAGS=--xla_force_host_platform_device_count=4``).
"""
import json
import os
import subprocess
import sys
import textwrap

SCRIPT = textwrap.dedent("""
    import json, sys
    import jax, numpy as np
    import gru_jax as gj
    from gru_jax.sharding import seed_mesh
    assert jax.device_count() == 4, jax.devices()
    cfg = gj.Config(n_samples=600, batch_size=64, epochs=6, eval_every=5)
    sharded = gj.train(cfg, seeds=range(8), progress=False)            # default: all 4 devices
    single = gj.train(cfg, seeds=range(8), progress=False, mesh=seed_mesh(jax.devices()[:1]))
    xla = gj.train(cfg, seeds=range(8), progress=False, engine="xla")  # sharded, XLA engine
    diff = max(float(np.max(np.abs(sharded.params[m][k] - single.params[m][k])))
               for m in single.params for k in single.params[m])
    engine_diff = max(float(np.max(np.abs(sharded.params[m][k] - xla.params[m][k])))
                      for m in single.params for k in single.params[m])
    loss_diff = float(np.max(np.abs(sharded.train_loss - single.train_loss)))
    print(json.dumps({"param_diff": diff, "loss_diff": loss_diff, "engine_diff": engine_diff,
                      "engines": [sharded.engine, xla.engine]}))
""")


def test_sharded_equals_single_device():
    env = dict(os.environ, XLA_FLAGS="--xla_force_host_platform_device_count=4",
               JAX_PLATFORMS="cpu")
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    env["PYTHONPATH"] = root + os.pathsep + env.get("PYTHONPATH", "")
    proc = subprocess.run([sys.executable, "-c", SCRIPT], env=env, capture_output=True,
                          text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert result["param_diff"] <= 1e-6
    assert result["loss_diff"] <= 1e-6
    # the default engine on CPUs is the native one; the XLA engine agrees to float32 rounding
    assert result["engines"] == ["native", "xla"]
    assert result["engine_diff"] <= 2e-6
