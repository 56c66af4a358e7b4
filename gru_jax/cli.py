"""``gru-jax``: thin command line. parse -> Config -> library call -> files.

    gru-jax train --seeds 256 --epochs 3000 --out runs/blog     # the blog's protocol x 256 seeds
    gru-jax train --out runs/blog --resume                      # continue an interrupted run
    gru-jax info runs/blog                                      # summary table
    gru-jax pipeline --out runs/quick                           # train -> compare -> report
    gru-jax compare RUN_DIR | report RUN_DIR | dissect RUN_DIR --seed S --epoch E
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
import typing

import numpy as np

from .config import Config

_CONFIG_HELP = {
    "seq_len": "sequence length L (>= 4)", "high": "values are integers in [0, high)",
    "delta": "length spread: per-dataset length in [int(L(1-d)), int(L(1+d)))",
    "n_samples": "sequences per dataset", "train_split": "fraction used for training",
    "data_generator": "jax (fast) or numpy (the seed's exact generator)",
    "batch_size": "samples per optimizer step", "learning_rate": "Adam's initial lr",
    "weight_decay": "coupled L2 (torch Adam weight_decay)", "clip": "max global grad norm",
    "epochs": "epochs to train", "eval_every": "test loss, LR step and snapshot every N epochs",
    "init_seed": "fix the init stream across the ensemble",
    "data_seed": "fix the data stream across the ensemble",
    "order_seed": "fix the batch-order stream across the ensemble",
}


def _add_config_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("protocol (defaults = the blog's)")
    hints = typing.get_type_hints(Config)
    for field in dataclasses.fields(Config):
        hint = hints[field.name]
        kind = {int: int, float: float, str: str}.get(hint)
        if kind is None:  # Optional[int]
            kind = int
        flag = "--" + field.name.replace("_", "-")
        default = field.default
        group.add_argument(flag, type=kind, default=None, dest=field.name,
                           help=f"{_CONFIG_HELP.get(field.name, field.name)} (default {default})")


def config_from_args(args) -> Config:
    """Config from the parsed options (unset options keep the protocol's defaults)."""
    values = {f.name: getattr(args, f.name) for f in dataclasses.fields(Config)
              if getattr(args, f.name, None) is not None}
    return Config(**values)


def _parse_seeds(text: str) -> list[int]:
    """``"256"`` -> 0..255; ``"37"`` with --seed-list semantics handled by caller; ``"0:64"``,
    ``"1,5,37"`` ranges and lists."""
    text = text.strip()
    if "," in text:
        return [int(t) for t in text.split(",") if t.strip()]
    if ":" in text:
        start, stop = (int(t) for t in text.split(":", 1))
        return list(range(start, stop))
    count = int(text)
    if count < 1:
        raise argparse.ArgumentTypeError(f"--seeds must be >= 1, got {count}")
    return list(range(count))


def cmd_train(args) -> int:
    from .train import train

    if args.resume:
        if not os.path.exists(os.path.join(args.out, "config.json")):
            print(f"error: --resume: {args.out} holds no run to resume", file=sys.stderr)
            return 2
        with open(os.path.join(args.out, "config.json")) as handle:
            cfg = Config.from_dict(json.load(handle))
        with open(os.path.join(args.out, "run.json")) as handle:
            seeds = json.load(handle)["seeds"]
    else:
        cfg = config_from_args(args)
        seeds = _parse_seeds(args.seeds)
    run = train(cfg, seeds, out=args.out, resume=args.resume, chunk_epochs=args.chunk_epochs,
                progress=not args.no_progress, seed_batch=args.seed_batch, engine=args.engine)
    print(f"trained {run.n_seeds} seeds x {cfg.epochs} epochs in {run.wall_s:.1f} s "
          f"({run.engine or 'unknown'} engine) -> {args.out}")
    print(summary_table(run))
    return 0


def summary_table(run) -> str:
    """A plain-text summary: seeds, epochs, final-loss quantiles, diverged count."""
    final_train = run.train_loss[:, -1]
    final_test = run.test_loss[:, -1]
    qs = (0.0, 0.1, 0.5, 0.9, 1.0)
    lines = [f"seeds      {run.n_seeds} ({_seed_span(run.seeds)})",
             f"epochs     {run.train_loss.shape[1]} (eval every {run.config.eval_every}: "
             f"{len(run.eval_epochs)} snapshots)",
             f"diverged   {int(run.diverged.sum())}",
             f"wall       {run.wall_s:.1f} s ({run.engine or 'unrecorded'} engine)",
             "",
             f"{'quantile':>10} " + " ".join(f"{q:>10.0%}" for q in qs)]
    for label, values in (("train", final_train), ("test", final_test)):
        finite = values[np.isfinite(values)]
        cells = [f"{np.quantile(finite, q):>10.4g}" if finite.size else f"{'nan':>10}" for q in qs]
        lines.append(f"{label:>10} " + " ".join(cells))
    lines.append("(final train loss in scaled units, last test loss in original units; "
                 "predict-the-mean baseline ~0.1667 scaled)")
    return "\n".join(lines)


def _seed_span(seeds) -> str:
    seeds = np.asarray(seeds)
    if seeds.size and np.array_equal(seeds, np.arange(seeds[0], seeds[0] + seeds.size)):
        return f"{seeds[0]}..{seeds[-1]}"
    return ", ".join(map(str, seeds[:6].tolist())) + (" ..." if seeds.size > 6 else "")


def cmd_pipeline(args) -> int:
    """train -> compare -> report, printing where the report is."""
    from .compare import run_compare
    from .report import write_report

    code = cmd_train(args)
    if code:
        return code
    print("comparing with the hand-crafted accumulators ...", flush=True)
    compare_md = run_compare(args.out)
    print(f"comparison: {compare_md}")
    print("writing the report ...", flush=True)
    report_md = write_report(args.out, run_comparison=False)
    print(f"report: {report_md}")
    return 0


def cmd_info(args) -> int:
    from .run import Run

    run = Run.load(args.run_dir)
    print(summary_table(run))
    return 0


def _add_train_options(parser: argparse.ArgumentParser, default_seeds: str) -> None:
    parser.add_argument("--seeds", default=default_seeds,
                        help=f"N (seeds 0..N-1), A:B (a range) or a comma list (default {default_seeds})")
    parser.add_argument("--out", required=True, help="run directory (must be new or empty)")
    parser.add_argument("--resume", action="store_true",
                        help="continue an interrupted run in --out (its Config and seeds)")
    parser.add_argument("--chunk-epochs", type=int, default=None,
                        help="epochs per compiled chunk / checkpoint (default ~epochs/20)")
    parser.add_argument("--seed-batch", type=int, default=None,
                        help="most seeds trained at once (default: what fits half the memory)")
    parser.add_argument("--engine", choices=("auto", "xla", "native"), default="auto",
                        help="auto: the native CPU kernels where they apply (CPU, hidden 1), "
                             "else XLA; xla/native force one (native fails if it cannot run)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    _add_config_options(parser)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="gru-jax", description="Train and analyse seed ensembles of the adding-problem GRU.")
    sub = parser.add_subparsers(dest="command", required=True)

    p_train = sub.add_parser("train", help="train an ensemble of seeds",
                             description="Train the blog's protocol for many seeds at once.")
    _add_train_options(p_train, default_seeds="8")
    p_train.set_defaults(func=cmd_train)

    p_pipe = sub.add_parser(
        "pipeline", help="train -> compare -> report in one go (the README's main command)",
        description="Train an ensemble, compare it with the hand-crafted accumulators and write "
                    "the report; prints where the report is.")
    _add_train_options(p_pipe, default_seeds="32")
    p_pipe.set_defaults(func=cmd_pipeline)

    p_info = sub.add_parser("info", help="summary table of a run")
    p_info.add_argument("run_dir")
    p_info.set_defaults(func=cmd_info)

    for module in ("compare", "report"):
        try:
            __import__(f"gru_jax.{module}")
            sys.modules[f"gru_jax.{module}"].register(sub)
        except ImportError:
            pass
    return parser


def main(argv=None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except (ValueError, FileExistsError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
