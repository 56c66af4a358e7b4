"""Two local CPU processes on jax.distributed train halves of the seeds; the joined run equals
one process training them all. Process 1 resumes a part that was interrupted."""
import json
import os
import socket
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest

import gru_jax as gj
from gru_jax.distributed import part_directory, process_share

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CFG = dict(n_samples=400, batch_size=64, epochs=5, eval_every=2)
SEEDS = [3, 8, 1, 21]

PROCESS = textwrap.dedent("""
    import json, sys
    import gru_jax as gj
    from gru_jax.distributed import train_distributed
    out, port, index, cfg = sys.argv[1], sys.argv[2], int(sys.argv[3]), json.loads(sys.argv[4])
    chunks = []
    run = train_distributed(gj.Config(**cfg), json.loads(sys.argv[5]), out,
                            coordinator=f"127.0.0.1:{port}", num_processes=2, process_id=index,
                            resume=True, timeout_s=120, engine="xla", chunk_epochs=2,
                            progress=False, on_chunk=chunks.append)
    print(json.dumps({"chunks": chunks, "joined": run is not None}))
""")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_process_share_is_contiguous_and_complete():
    seeds = list(range(100, 111))
    shares = [process_share(seeds, 4, i) for i in range(4)]
    assert sum(shares, []) == seeds
    assert [len(s) for s in shares] == [2, 3, 3, 3]
    with pytest.raises(ValueError, match="at least one seed"):
        process_share(seeds[:2], 3, 0)
    with pytest.raises(ValueError, match="process_id"):
        process_share(seeds, 2, 2)


def test_two_processes_equal_one(tmp_path):
    cfg = gj.Config(**CFG)
    out = str(tmp_path / "joined")

    # process 1 was killed after its first chunk (2 of 5 epochs): its part holds a checkpoint
    class Killed(Exception):
        pass

    def kill(done):
        raise Killed(done)

    with pytest.raises(Killed):
        gj.train(cfg, process_share(SEEDS, 2, 1), out=part_directory(out, 1), engine="xla",
                 chunk_epochs=2, progress=False, on_chunk=kill)
    assert os.path.exists(os.path.join(part_directory(out, 1), "checkpoint.npz"))

    start = time.perf_counter()
    env = dict(os.environ, JAX_PLATFORMS="cpu",
               PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""))
    env.pop("XLA_FLAGS", None)
    port = str(free_port())
    procs = [subprocess.Popen([sys.executable, "-c", PROCESS, out, port, str(i),
                               json.dumps(CFG), json.dumps(SEEDS)], env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for i in range(2)]
    # meanwhile the reference: one process trains every seed (in batches of 2 seeds, so the
    # program compiled for the interrupted part serves it; batches give the same numbers)
    single = gj.train(cfg, SEEDS, engine="xla", progress=False, chunk_epochs=2, seed_batch=2)
    results = []
    for proc in procs:
        stdout, stderr = proc.communicate(timeout=240)
        assert proc.returncode == 0, stderr[-3000:]
        results.append(json.loads(stdout.strip().splitlines()[-1]))
    elapsed = time.perf_counter() - start
    print(f"2 processes x 2 seeds x 5 epochs (and the reference beside them): {elapsed:.1f} s")
    assert results[0] == {"chunks": [2, 4, 5], "joined": True}
    assert results[1] == {"chunks": [4, 5], "joined": False}       # resumed at epoch 2

    joined = gj.Run.load(out)
    assert joined.seeds.tolist() == SEEDS
    assert not os.path.exists(os.path.join(out, "processes"))
    assert joined.provenance["process_count"] == 2
    assert [p["first_seed"] for p in joined.provenance["processes"]] == [3, 1]
    pairs = [(name, getattr(joined, name), getattr(single, name))
             for name in ("train_loss", "test_loss", "lr", "diverged")]
    pairs += [(f"{group} {module}.{leaf}", getattr(joined, group)[module][leaf], value)
              for group in ("init_params", "params", "snapshots")
              for module, sub in getattr(single, group).items() for leaf, value in sub.items()]
    largest = max(float(np.max(np.abs(np.asarray(a, np.float64) - np.asarray(b, np.float64))))
                  for _, a, b in pairs)
    print(f"joined vs one process: largest difference {largest:.3g}")
    for name, a, b in pairs:
        np.testing.assert_allclose(a, b, rtol=0, atol=1e-6, err_msg=name)


def test_one_process_job_refuses_to_overwrite_and_resumes_a_complete_run(tmp_path):
    from gru_jax.distributed import train_distributed

    cfg, seeds, out = gj.Config(**CFG), [3, 8], str(tmp_path / "run")
    kwargs = dict(num_processes=1, engine="xla", chunk_epochs=2, progress=False)
    run = train_distributed(cfg, seeds, out, **kwargs)
    assert run.seeds.tolist() == seeds and sorted(os.listdir(out)) == [
        "arrays", "config.json", "run.json"]
    with pytest.raises(FileExistsError, match="complete run"):
        train_distributed(cfg, seeds, out, **kwargs)
    again = train_distributed(cfg, seeds, out, resume=True, **kwargs)
    np.testing.assert_array_equal(again.train_loss, run.train_loss)
    with pytest.raises(ValueError, match="duplicates"):
        train_distributed(cfg, [3, 3], str(tmp_path / "other"), **kwargs)
    with pytest.raises(ValueError, match="orders"):
        train_distributed(cfg, seeds, str(tmp_path / "other"), orders=None, **kwargs)


def test_a_second_job_on_the_same_directory_is_refused_before_training(tmp_path):
    from gru_jax.distributed import train_distributed
    from gru_jax.lock import RunLockedError, run_lock

    out = str(tmp_path / "run")
    with run_lock(out):                          # another job's process 0 writing the run
        with pytest.raises(RunLockedError, match="one writer per run directory"):
            train_distributed(gj.Config(**CFG), [3, 8], out, num_processes=1, engine="xla",
                              progress=False)
    assert os.listdir(tmp_path) == []            # nothing was written; the lock left with it
