"""What per-row lengths cost: native vs XLA ms per seed-epoch (steady state, compile excluded,
``timing.timed_train``), 64 seeds x 20 epochs (chunks of 5), the per-row task
``seq_len=11, per_row_lengths=(4, 11), per_row_flags=(2, 3)`` against the scalar task
``seq_len=11`` (the seed's flag rule: 2 or 3 flags). Run from the repository root:

    python experiments/time_per_row.py

A single short timing, not a benchmark. On the shared 2-core CPU (load average ~5), two
consecutive invocations (ms per seed-epoch, native / XLA): scalar 1.38 / 5.01 and 1.32 / 5.16;
per-row 1.17 / 11.5 and 1.31 / 2.55 (the XLA figure is noise-bound at this load).
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import gru_jax as gj  # noqa: E402
from timing import timed_train  # noqa: E402

TASKS = {"scalar L=11": gj.Config(seq_len=11, epochs=20),
         "per-row (4,11) flags (2,3)": gj.Config(seq_len=11, per_row_lengths=(4, 11),
                                                 per_row_flags=(2, 3), epochs=20)}

if __name__ == "__main__":
    for name, cfg in TASKS.items():
        for engine in ("native", "xla"):
            run, stats = timed_train(cfg, 64, chunk_epochs=5, engine=engine)
            print(f"{name:28s} {engine:6s} {1e3 / stats['seed_epochs_per_s']:.3f} ms/seed-epoch "
                  f"(wall {stats['wall_s']:.1f} s, compile {stats['compile_s']:.1f} s)",
                  flush=True)
