"""A training process killed with SIGKILL at many moments (inside chunk writes and the final
save included) and resumed each time ends with the run an uninterrupted process writes, bit
for bit, with no temporary, lock or checkpoint left behind."""
import os
import signal
import subprocess
import sys
import time

import numpy as np

import gru_jax as gj

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ARGS = ["--seeds", "3", "--epochs", "24", "--eval-every", "4", "--n-samples", "200",
        "--batch-size", "64", "--chunk-epochs", "1", "--engine", "xla", "--no-progress"]


def _train(out, resume=False):
    argv = [sys.executable, "-m", "gru_jax", "train", "--out", out] + ARGS
    return subprocess.Popen(argv + (["--resume"] if resume else []), cwd=REPO,
                            env=dict(os.environ, PYTHONPATH=REPO),
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)


def _checkpoint_stamp(out):
    try:
        return os.stat(os.path.join(out, "checkpoint.npz")).st_mtime_ns
    except FileNotFoundError:
        return None


def _kill_after_a_new_checkpoint(process, out, delay_s, timeout_s=120.0):
    """SIGKILL ``delay_s`` after ``process`` writes its first checkpoint (or run.json says
    complete); returns True if it was killed, False if it finished first."""
    start_stamp, deadline = _checkpoint_stamp(out), time.monotonic() + timeout_s
    while process.poll() is None and time.monotonic() < deadline:
        stamp = _checkpoint_stamp(out)
        if stamp is not None and stamp != start_stamp:
            time.sleep(delay_s)
            break
        time.sleep(0.001)
    if process.poll() is not None:
        return False
    process.send_signal(signal.SIGKILL)
    process.wait()
    return True


def test_sigkill_at_many_moments_then_resume_equals_uninterrupted(tmp_path):
    reference, out = str(tmp_path / "reference"), str(tmp_path / "killed")
    first, victim, kills = _train(reference), _train(out), 0      # the reference runs alongside
    for delay_s in (0.005, 0.03):                # inside a checkpoint's write, after it
        if not _kill_after_a_new_checkpoint(victim, out, delay_s):
            break                                   # it finished first: nothing left to kill
        kills += 1
        victim = _train(out, resume=os.path.exists(os.path.join(out, "run.json")))
    assert victim.wait(timeout=300) == 0, victim.stderr.read()
    assert first.wait(timeout=300) == 0, first.stderr.read()
    assert kills >= 2
    expected, resumed = gj.Run.load(reference), gj.Run.load(out)
    for group in ("params", "init_params", "snapshots"):
        for module, leaves in getattr(expected, group).items():
            for name, value in leaves.items():
                np.testing.assert_array_equal(getattr(resumed, group)[module][name], value)
    for name in ("seeds", "train_loss", "test_loss", "lr", "diverged"):
        np.testing.assert_array_equal(getattr(resumed, name), getattr(expected, name))
    left = [os.path.join(r, n) for r, _, names in os.walk(out) for n in names]
    assert not [p for p in left if p.endswith((".tmp", ".lock", "checkpoint.npz"))], left
