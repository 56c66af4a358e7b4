"""Which GRUs learn to add? The phase diagram: hidden size x task, each cell an ensemble of
seeds, through ONE gj.sweep (resumable), with the fraction of general seeds per cell.

Tasks (a named grid axis, each a set of Config overrides):

- ``blog``: the blog's protocol (length 4, 2 flags);
- ``mixed``: the blog's ``delta``, ``seq_len=8, delta=0.5``: ONE length per dataset, drawn in
  [4, 12), and one flag count (2 or 3 by the seed's rule): every seed trains on a single length
  (the name is kept so the committed sweep resumes; it is not a mixed-length task);
- ``more_flags``: length 4 with 3 flags in every row (``n_flags=3``);
- ``lengths_per_row``: each ROW its own length in 4..11 (``per_row_lengths=(4, 11)``, padded to
  11 steps) and its own flag count by the seed's rule (2 at length 4, 2 or 3 above): a batch
  holds sequences of different lengths;
- ``flags_per_row``: length 4, each row 1, 2 or 3 flags (``per_row_flags=(1, 3)``);
- ``curriculum``: length 2, then 3, then 4 (2 flags), each for a third of the epochs, tested
  on the blog's task (``curriculum=((0, 2, 2), (E/3, 3, 2), (2E/3, 4, 2))``), the plateau
  schedule restarted at each stage (``curriculum_schedule="reset"``);
- ``curriculum_continue`` (not in the default set): the same stages with one schedule through
  them all, which spends the learning rate on the easy stages (results/README.md section 6).

The per-row rows (128 seeds a cell; the same command with ``--census`` afterwards trains
nothing and rewrites the summary with the families per cell)::

    python3 experiments/phase_diagram.py --seeds 128 --epochs 3000 --no-progress \\
        --tasks lengths_per_row,flags_per_row --out results/phase_diagram_per_row

The committed diagram (64 seeds a cell: about 2 hours of training on the 2-core CPU; 256 seeds,
as the issue asks where time allows, in a new directory, about 8 hours)::

    python3 experiments/phase_diagram.py --seeds 64 --epochs 3000 --census --no-progress \\
        --out results/phase_diagram

A smoke run (minutes)::

    python3 experiments/phase_diagram.py --seeds 4 --epochs 20 --hidden 1,2 \\
        --out /tmp/phase_smoke

Writes into ``--out``: one run directory per cell, ``summary.csv``, ``summary.md`` (fraction
general with 95% CIs, strategy fractions with ``--census``, loss quantiles, the best
generalizer), ``phase_diagram.png`` and ``README.md`` (the command and the wall time). Run the
same command again (``--resume`` is implied when ``--out`` holds this sweep) to continue after
a kill: finished cells are not retrained.
"""
from __future__ import annotations

import argparse
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

import gru_jax as gj  # noqa: E402
from gru_jax.files import write_text  # noqa: E402
from gru_jax.provenance import collect  # noqa: E402

HIDDEN_SIZES = (1, 2, 3, 4, 6, 8)
TASKS = ("blog", "mixed", "more_flags", "curriculum")
#: The per-row tasks (results/phase_diagram_per_row): ``--tasks lengths_per_row,flags_per_row``.
PER_ROW_TASKS = ("lengths_per_row", "flags_per_row")


def task_axis(epochs: int, names=TASKS) -> dict:
    """The task axis: ``{label: Config overrides}``."""
    third = max(1, epochs // 3)
    stages = ((0, 2, 2), (third, 3, 2), (2 * third, 4, 2))
    tasks = {
        "blog": {},
        "mixed": {"seq_len": 8, "delta": 0.5},
        "more_flags": {"n_flags": 3},
        "lengths_per_row": {"seq_len": 11, "per_row_lengths": (4, 11)},
        "flags_per_row": {"per_row_flags": (1, 3)},
        "curriculum": {"n_flags": 2, "curriculum_schedule": "reset", "curriculum": stages},
        "curriculum_continue": {"n_flags": 2, "curriculum": stages},
    }
    unknown = sorted(set(names) - set(tasks))
    if unknown:
        raise SystemExit(f"--tasks: unknown {unknown}; known: {', '.join(tasks)}")
    return {name: tasks[name] for name in names}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, default=256, help="seeds per cell")
    parser.add_argument("--epochs", type=int, default=3000)
    parser.add_argument("--hidden", default=",".join(map(str, HIDDEN_SIZES)),
                        help="hidden sizes, comma separated")
    parser.add_argument("--tasks", default=",".join(TASKS), help="tasks, comma separated")
    parser.add_argument("--census", action="store_true",
                        help="the discovered census per cell (>= 32 seeds; slow)")
    parser.add_argument("--seed-batch", type=int, default=None)
    parser.add_argument("--engine", default="auto")
    parser.add_argument("--out", default="results/phase_diagram")
    parser.add_argument("--no-progress", action="store_true")
    args = parser.parse_args(argv)
    hidden = [int(h) for h in args.hidden.split(",") if h.strip()]
    grid = {"task": task_axis(args.epochs, [t for t in args.tasks.split(",") if t.strip()]),
            "hidden_size": hidden}
    cfg = gj.Config(epochs=args.epochs)
    resume = os.path.exists(os.path.join(args.out, "sweep.json"))
    command = "python3 experiments/phase_diagram.py " + " ".join(
        sys.argv[1:] if argv is None else argv)
    start = time.perf_counter()
    sweep = gj.sweep(cfg, grid, seeds=range(args.seeds), out=args.out, resume=resume,
                     progress=not args.no_progress, engine=args.engine,
                     seed_batch=args.seed_batch, census=args.census, loss_every=10,
                     provenance=collect(command))
    wall = time.perf_counter() - start
    trained = sum(run.wall_s for run in sweep.runs)
    write_text(os.path.join(args.out, "README.md"), "\n".join([
        "# Phase diagram: which GRUs learn to add?", "",
        f"Hidden sizes {hidden} x tasks {list(grid['task'])} x {args.seeds} seeds x "
        f"{args.epochs} epochs ({len(sweep.cells)} cells), one `gj.sweep`.", "",
        "Regenerate (resumes when this directory holds the sweep):", "",
        "```bash", command, "```", "",
        f"Wall time of the last invocation: {wall:.0f} s (training time summed over cells, "
        f"programs that share cells counted per cell: {trained:.0f} s) on "
        f"{sweep.runs[0].provenance.get('device_kind', '?')}; a resumed invocation counts only "
        "what it trained.", "",
        "Results: [summary.md](summary.md) (table, fraction general with 95% CIs), "
        "[summary.csv](summary.csv), [phase_diagram.png](phase_diagram.png).", "",
        "Reading: (to be written from the full run).", ""]))
    print(f"{len(sweep.cells)} cells -> {args.out} ({wall:.0f} s); "
          f"summary: {os.path.join(args.out, 'summary.md')}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
