"""``gru-jax``: the command line. Thin: parse -> Config -> library call -> files.

    gru-jax train --seeds 256 --epochs 3000 --out runs/blog     # the blog's protocol x 256 seeds
    gru-jax train --out runs/blog --resume                      # continue an interrupted run
    gru-jax info runs/blog                                      # summary table
    gru-jax pipeline --out runs/quick                           # train -> compare -> report
    gru-jax compare RUN_DIR | report RUN_DIR | dissect RUN_DIR --seed S --epoch E
    gru-jax explore RUN_DIR [--out FILE]                        # one interactive HTML page

Bad input (a ValueError, a missing file or run, a file that cannot be written, a run directory
another process is writing) ends with one line on stderr and exit status 2;
``GRU_JAX_DEBUG=1`` shows the traceback instead.
"""
from __future__ import annotations

import argparse
import dataclasses
import os
import sys
import typing

import gru_jax as gj
from .blog import SEQUENCE
from .config import (ENGINES, FIELD_CHOICES, FIELD_HELP, FIXED_FIELDS, RANGE_FIELDS, Config,
                     parse_curriculum, parse_range)
from .options import TrainOptions
from .version import __version__

# Only the modules above load with the command line (no JAX: `gru-jax --version` and every
# `--help` answer at once). A command reaches the rest through the package, `gj.<module>`,
# which imports each module on its first use (gru_jax/__init__.py): `train` loads the trainer,
# `report` the plots and reports as well.


# ---- options ---------------------------------------------------------------------------------
def _range_option(name: str):
    """The argparse type of a range field's ``LO,HI`` option: a bad text is argparse's error
    (usage, one line naming the field, exit status 2)."""
    def parse(text: str):
        try:
            return parse_range(text, name)
        except ValueError as err:
            raise argparse.ArgumentTypeError(str(err)) from None
    return parse


def _add_config_options(parser: argparse.ArgumentParser) -> None:
    """One option per Config field (not the fixed input and output sizes), with its choices
    where the field is an enumeration; the help gives the default once."""
    group = parser.add_argument_group("protocol (defaults = the blog's)")
    hints = typing.get_type_hints(Config)
    for field in dataclasses.fields(Config):
        if field.name in FIXED_FIELDS:
            continue
        kind = {int: int, float: float, str: str}.get(hints[field.name], int)  # Optional[int]
        kind = parse_curriculum if field.name == "curriculum" else kind
        kind = _range_option(field.name) if field.name in RANGE_FIELDS else kind
        text = FIELD_HELP.get(field.name, field.name)
        if "default" not in text and field.default is not None:
            text += f" (default {field.default})"
        group.add_argument("--" + field.name.replace("_", "-"), type=kind, default=None,
                           dest=field.name, choices=FIELD_CHOICES.get(field.name), help=text)


def _given_fields(args) -> dict:
    """The Config fields given on the command line."""
    return {f.name: getattr(args, f.name) for f in dataclasses.fields(Config)
            if getattr(args, f.name, None) is not None}


def config_from_args(args) -> Config:
    """Config from the parsed options (unset options keep the protocol's defaults)."""
    return Config(**_given_fields(args))


def _parse_seeds(text: str):
    """``"256"`` -> 0..255; ``"0:64"`` a range; ``"1,5,37"`` a list (ranges stay ``range``
    objects, so a huge count is refused by its memory estimate, not by building it)."""
    text = text.strip()
    try:
        if "," in text:
            return [int(t) for t in text.split(",") if t.strip()]
        if ":" in text:
            start, stop = (int(t) for t in text.split(":", 1))
            if not 0 <= start < stop:
                raise ValueError(f"need 0 <= A < B, got {start}:{stop}")
            return range(start, stop)
        count = int(text)
    except ValueError as err:
        raise ValueError(f"--seeds must be N (seeds 0..N-1), A:B or a comma list of ints, got "
                         f"{text!r} ({err})") from None
    if not 1 <= count <= 2**32:
        raise ValueError(f"--seeds must be a count in [1, 2**32], got {count}")
    return range(count)


def _check_counts(args, *names: str) -> None:
    """Options that count (``--seed-batch``, ``--chunk-epochs``, ``--loss-every``): an int
    >= 1 where given; the error names the flag (the library's would name the argument)."""
    for name in names:
        value = getattr(args, name, None)
        # argparse hands "--seed-batch --" over as a list, not an int
        if value is not None and (not isinstance(value, int) or value < 1):
            raise ValueError(f"--{name.replace('_', '-')} must be an int >= 1, got {value!r}")


def _add_train_options(parser: argparse.ArgumentParser, default_seeds: str) -> None:
    parser.add_argument("--seeds", default=None,
                        help=f"N (seeds 0..N-1), A:B (a range) or a comma list "
                             f"(default {default_seeds}; with --resume: the run's)")
    parser.set_defaults(default_seeds=default_seeds)
    parser.add_argument("--out", required=True, help="run directory (must be new or empty)")
    parser.add_argument("--resume", action="store_true",
                        help="continue an interrupted run in --out (its Config and seeds)")
    parser.add_argument("--chunk-epochs", type=int, default=None,
                        help="epochs per compiled chunk / checkpoint (default ~epochs/20)")
    parser.add_argument("--seed-batch", type=int, default=None,
                        help="most seeds trained at once (default: what fits half the memory)")
    parser.add_argument("--engine", choices=ENGINES, default="auto",
                        help="auto: the native CPU kernels where they apply (CPU, hidden 1-16), "
                             "else XLA; xla/native force one (native fails if it cannot run)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    parser.add_argument("--loss-every", type=int, default=1,
                        help="store the training loss every K epochs (and the last) in --out "
                             "(default 1: every epoch)")
    group = parser.add_argument_group(
        "several processes (jax.distributed; under SLURM or Open MPI they are detected)")
    group.add_argument("--coordinator", default=None,
                       help="HOST:PORT of process 0's coordination service")
    group.add_argument("--num-processes", type=int, default=None,
                       help="processes in the job; each trains a contiguous share of --seeds")
    group.add_argument("--process-id", type=int, default=None, help="this process's index")
    _add_config_options(parser)


# ---- commands --------------------------------------------------------------------------------
def train_options(args) -> TrainOptions:
    """The host options of ``train``, ``pipeline`` and ``sweep``, as one object (the command
    line recorded in every run's provenance)."""
    _check_counts(args, "seed_batch", "chunk_epochs", "loss_every")
    return TrainOptions(engine=args.engine, chunk_epochs=args.chunk_epochs,
                        seed_batch=args.seed_batch, loss_every=args.loss_every,
                        progress=not args.no_progress, command=" ".join(sys.argv))


def cmd_train(args) -> int:
    options = train_options(args)
    _check_counts(args, "num_processes")
    if args.resume:
        cfg, seeds, complete = _resume_target(args)
    else:
        cfg = config_from_args(args)
        seeds = _parse_seeds(args.seeds or args.default_seeds)
        complete = False
    if _distributed(args):
        run = gj.distributed.train_distributed(
            cfg, seeds, args.out, coordinator=args.coordinator,
            num_processes=args.num_processes, process_id=args.process_id,
            resume=args.resume, options=options)
        if run is None:                   # not process 0: its share is in the joined run
            print(f"process {args.process_id}: share trained -> {args.out}")
            return 0
    else:
        run = gj.train(cfg, seeds, out=args.out, resume=args.resume, options=options)
    if complete:
        print(f"{args.out} is already complete ({run.n_seeds} seeds x {cfg.epochs} epochs): "
              "nothing trained")
    else:
        print(f"trained {run.n_seeds} seeds x {cfg.epochs} epochs in {run.wall_s:.1f} s "
              f"({run.engine or 'unknown'} engine) -> {args.out}")
    print(gj.run.summary_table(run))
    return 0


def _resume_target(args):
    """``--resume``: the stored Config and seeds, with every option given on the command line
    in their place, so that ``train`` compares them with the stored ones and refuses any
    difference (naming it) before writing. Returns ``(cfg, seeds, complete)``."""
    run_dir = gj.rundir.RunDir(args.out)
    if not run_dir.has_config():
        raise ValueError(f"--resume: {args.out} holds no run to resume")
    if not run_dir.started():
        raise ValueError(f"--resume: {args.out} was interrupted before training started "
                         "(config.json but no run.json); start it again without --resume")
    stored, meta = run_dir.config(), run_dir.meta()
    cfg = dataclasses.replace(stored, **_given_fields(args))
    seeds = meta.get("seeds") if args.seeds is None else _parse_seeds(args.seeds)
    if seeds is None:
        raise gj.RunError(f"{args.out}/run.json records no seeds; give --seeds")
    return cfg, seeds, bool(meta.get("complete"))


def _distributed(args) -> bool:
    """A multi-process job: any of the three options given, or a SLURM job of several tasks."""
    given = (args.coordinator, args.num_processes, args.process_id)
    if any(v is not None for v in given):
        return True
    return int(os.environ.get("SLURM_NTASKS", "1") or 1) > 1


def cmd_sweep(args) -> int:
    """Expand --grid over the fixed options, train every cell, write the summary."""
    options = train_options(args)
    given = _given_fields(args)
    if args.resume and not args.grid:
        stored, grid, seeds = gj.sweeps.read_sweep(args.out)
        cfg = dataclasses.replace(stored, **given)
        seeds = seeds if args.seeds is None else list(_parse_seeds(args.seeds))
    else:
        if not args.grid:
            raise ValueError("sweep: give at least one --grid FIELD=V1,V2,...")
        kinds = {f.name: _option_kind(f.name) for f in dataclasses.fields(Config)
                 if f.name not in ("curriculum",) + RANGE_FIELDS}
        grid = {}
        for text in args.grid:
            key, values = gj.grid.parse_axis(text, kinds)
            if key in grid:
                raise ValueError(f"--grid {key} is given twice")
            if key in given:
                raise ValueError(f"sweep: {key} is both fixed (--{key.replace('_', '-')}) and "
                                 f"swept (--grid)")
            grid[key] = values
        cfg = config_from_args(args)
        seeds = list(_parse_seeds(args.seeds or "8"))
    result = gj.sweep(cfg, grid, seeds, args.out, resume=args.resume, census=args.census,
                      options=options)
    print(f"swept {len(result.cells)} cells x {len(seeds)} seeds -> {args.out}")
    print(f"summary: {os.path.join(args.out, 'summary.md')}")
    return 0


def _option_kind(name: str):
    """How a Config field's values are written on the command line (``--grid``)."""
    kind = typing.get_type_hints(Config)[name]
    return {int: int, float: float, str: str}.get(kind, "optional int")


def cmd_export(args) -> int:
    out = args.out or os.path.join(args.run_dir, "tables")
    if os.path.exists(os.path.join(args.run_dir, gj.sweeps.SWEEP_FILE)):    # a sweep directory
        sweep = gj.Sweep.load(args.run_dir)
        print(gj.export.write_sweep(sweep, out, format=args.format, overwrite=args.overwrite,
                                    census=args.census))
        return 0
    run = gj.Run.load(args.run_dir)
    for path in gj.export.write(run, out, format=args.format, overwrite=args.overwrite):
        print(path)
    return 0


def cmd_info(args) -> int:
    print(gj.run.summary_table(gj.Run.load(args.run_dir)))
    return 0


def cmd_pipeline(args) -> int:
    """train -> compare -> report (the census computed once for both), printing where the
    report is."""
    code = cmd_train(args)
    if code:
        return code
    run = gj.Run.load(args.out)
    print("the census: families and strategies ...", flush=True)
    # an all-diverged run has nothing to cluster: the comparison refuses it with a message
    census = None if run.diverged.all() else gj.analysis.cache.cached_census(args.out, run)
    print("comparing with the hand-crafted accumulators ...", flush=True)
    options = gj.reports.CompareOptions(
        stability_epochs=0 if args.no_stability else gj.reports.CompareOptions.stability_epochs,
        figure_formats=args.figure_formats)
    print(f"comparison: {_compare(args.out, None, options, census)}")
    print("writing the report ...", flush=True)
    report = gj.reports.write_report(args.out, run_comparison=False, census=census,
                                     figure_formats=args.figure_formats)
    print(f"report: {report}")
    print("writing the explorer page ...", flush=True)
    print(f"explorer: {gj.reports.write_explorer(args.out, census=census)}"
          if census is not None else "explorer: skipped (every seed diverged: nothing to explore)")
    return 0


def cmd_explore(args) -> int:
    """The explorer page of a run or a sweep directory (a sweep holds sweep.json)."""
    source = args.run_dir
    if os.path.isfile(os.path.join(source, "sweep.json")):
        source = gj.Sweep.load(source)
    print(f"explorer written: {gj.reports.write_explorer(source, args.out)}")
    return 0


def _compare(run_dir: str, out, options, census=None) -> str:
    """The comparison (:func:`gru_jax.reports.run_compare`), its stability runs trained here
    first (:func:`gru_jax.stability.comparison_stability`: reports never train; none for a run
    whose every seed diverged, which the comparison refuses)."""
    run = gj.Run.load(run_dir)
    stability = (None if run.diverged.all() else
                 gj.stability.comparison_stability(run.config, options))
    return gj.reports.run_compare(run_dir, out_dir=out, options=options, census=census,
                                  stability=stability)


def cmd_compare(args) -> int:
    _check_counts(args, "stability_runs", "n_per_cell")
    options = gj.reports.CompareOptions(
        stability_epochs=0 if args.no_stability else args.stability_epochs,
        stability_runs=args.stability_runs, n_per_cell=args.n_per_cell,
        figure_formats=args.figure_formats)
    print(_compare(args.run_dir, args.out, options))
    return 0


def cmd_report(args) -> int:
    census = None
    compared = os.path.exists(os.path.join(args.run_dir, "compare", "compare.md"))
    if not args.no_compare and not compared:   # the comparison first, with its stability runs
        run = gj.Run.load(args.run_dir)
        census = None if run.diverged.all() else gj.analysis.cache.cached_census(args.run_dir,
                                                                                  run)
        _compare(args.run_dir, None, gj.reports.CompareOptions(), census)
    path = gj.reports.write_report(args.run_dir, args.out, run_comparison=not args.no_compare,
                                   census=census, figure_formats=args.figure_formats)
    print(f"report written: {path}")
    return 0


def cmd_dissect(args) -> int:
    sources = sum(x is not None for x in (args.run_dir, args.weights)) + bool(args.handcrafted)
    if sources != 1:
        raise ValueError("dissect: give exactly one of RUN_DIR, --weights FILE or --handcrafted")
    sequence = gj.analysis.dissect.parse_sequence(args.sequence)
    high = args.high
    if args.run_dir:
        run = gj.Run.load(args.run_dir)
        params, seed, epoch = run.network(args.seed, args.epoch)
        high = high or run.config.high
        out = args.out or os.path.join(args.run_dir, "dissect", f"seed{seed}_epoch{epoch}")
        label = f"Seed {seed}, epoch {epoch}"
    elif args.weights:
        params = gj.interop.load_weights(args.weights, args.epoch)
        label = os.path.splitext(os.path.basename(args.weights))[0]
        out = args.out or os.path.join("dissect", label)
    else:
        params = gj.handcrafted.accumulator()
        out = args.out or os.path.join("dissect", "handcrafted")
        label = "Hand-crafted accumulator"
    high = float(high or 100)
    path = gj.reports.write_dissection(params, sequence, out, high, label=label)
    print(f"{label}\n")
    walkthrough = gj.analysis.dissect.walkthrough(params, sequence, high)
    print(gj.analysis.dissect.walkthrough_markdown(walkthrough))
    if gj.model.hidden_size(params) == 1:
        print("\nFixed points of h_t -> h_(t+1):\n")
        slow_points = gj.analysis.slow_points
        print(slow_points.fixed_points_markdown(slow_points.dynamics(params, high=high)))
    print(f"\nfigures and {os.path.basename(path)} written to {out}")
    return 0


# ---- the parser ------------------------------------------------------------------------------
def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="gru-jax", description="Train and analyse seed ensembles of the adding-problem GRU.")
    parser.add_argument("--version", action="version", version=f"gru-jax {__version__}")
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
    _add_figure_options(p_pipe)
    p_pipe.set_defaults(func=cmd_pipeline)

    p_info = sub.add_parser("info", help="summary table of a run")
    p_info.add_argument("run_dir", help="a run directory (written by gru-jax train)")
    p_info.set_defaults(func=cmd_info)

    p_export = sub.add_parser("export", help="tidy tables of a run (Parquet or CSV)",
                              description="Write the run's tidy tables (seeds, losses per epoch, "
                                          "test loss and lr per eval epoch, every parameter per "
                                          "snapshot) for pandas and friends.")
    p_export.add_argument("run_dir", help="a run directory (gru-jax train), or a sweep "
                                          "directory (gru-jax sweep): its strategies table, one "
                                          "row per cell and strategy")
    p_export.add_argument("--format", choices=("parquet", "csv"), default="parquet",
                          help="file format (parquet needs the export extra: pandas, pyarrow)")
    p_export.add_argument("--out", default=None, help="directory (default RUN_DIR/tables)")
    p_export.add_argument("--overwrite", action="store_true",
                          help="replace table files already there")
    p_export.add_argument("--census", action="store_true",
                          help="a sweep's table: add the discovered strategies (slow)")
    p_export.set_defaults(func=cmd_export)

    p_compare = sub.add_parser("compare", help="learned seeds vs the hand-crafted "
                                               "accumulators: figures + compare.md")
    p_compare.add_argument("run_dir", help="a run directory (written by gru-jax train)")
    p_compare.add_argument("--out", default=None, help="output folder (default RUN_DIR/compare)")
    p_compare.add_argument("--stability-epochs", type=int, default=98,
                           help="epochs of the stability runs from the hand-crafted set (0: skip)")
    p_compare.add_argument("--stability-runs", type=int, default=8,
                           help="stability runs: the reachable accumulator and perturbations")
    p_compare.add_argument("--n-per-cell", type=int, default=200,
                           help="sequences per cell of the generalization grid")
    _add_figure_options(p_compare)
    p_compare.set_defaults(func=cmd_compare)
    _add_report_parsers(sub)
    _add_sweep_parser(sub)
    p_explore = sub.add_parser(
        "explore", help="one self-contained interactive HTML page of every seed",
        description="Write an HTML page (no server, no network) with every seed in the "
                    "behaviour plane and any two census features, coloured by family, the "
                    "census table, and each seed's curves on a click; for a sweep directory, "
                    "the cells as a grid first.")
    p_explore.add_argument("run_dir", help="a run directory, or a sweep directory")
    p_explore.add_argument("--out", default=None, help="the HTML file (default RUN/explore.html)")
    p_explore.set_defaults(func=cmd_explore)
    return parser


def _add_sweep_parser(subparsers) -> None:
    p_sweep = subparsers.add_parser(
        "sweep", help="train every cell of a grid of Config values; summary + phase diagram",
        description="The cross product of the --grid axes over the fixed options, each cell an "
                    "ensemble of --seeds, one run directory per cell in --out plus summary.csv, "
                    "summary.md and phase_diagram.png. Cells that differ only in per-member "
                    "fields (learning rate, weight decay, clip, Adam, plateau, min_lr) train "
                    "as one compiled program.")
    p_sweep.add_argument("--grid", action="append", default=[], metavar="FIELD=V1,V2,...",
                         help="an axis of the grid (repeat for more; the last varies fastest)")
    p_sweep.add_argument("--seeds", default=None,
                         help="N (seeds 0..N-1), A:B or a comma list: each cell's (default 8)")
    p_sweep.add_argument("--out", required=True, help="sweep directory (new or empty)")
    p_sweep.add_argument("--resume", action="store_true",
                         help="continue the sweep in --out (its grid, Config and seeds)")
    p_sweep.add_argument("--census", action="store_true",
                         help="add the census (families per cell) to the summary (slow)")
    p_sweep.add_argument("--chunk-epochs", type=int, default=None,
                         help="epochs per compiled chunk / checkpoint (default ~epochs/20)")
    p_sweep.add_argument("--seed-batch", type=int, default=None,
                         help="most members (cells x seeds) trained at once")
    p_sweep.add_argument("--engine", choices=ENGINES, default="auto", help="as for train")
    p_sweep.add_argument("--no-progress", action="store_true", help="no progress bar")
    p_sweep.add_argument("--loss-every", type=int, default=1,
                         help="store the training loss every K epochs in each cell")
    _add_config_options(p_sweep)
    p_sweep.set_defaults(func=cmd_sweep)


def _figure_formats(text: str) -> tuple:
    """``svg``, ``pdf`` or ``svg,pdf`` -> the formats written beside every PNG."""
    kinds = tuple(k.strip() for k in text.split(",") if k.strip())
    unknown = [k for k in kinds if k not in ("svg", "pdf")]
    if unknown:
        raise argparse.ArgumentTypeError(f"--figure-formats: unknown {unknown}; choose from "
                                         "svg, pdf (comma separated)")
    return kinds


def _add_figure_options(parser, stability: bool = True) -> None:
    """``--figure-formats`` (and, where a comparison is written, ``--no-stability``)."""
    parser.add_argument("--figure-formats", type=_figure_formats, default=(),
                        metavar="svg,pdf", help="also write every figure as SVG and/or PDF "
                                                "beside its PNG")
    if stability:
        parser.add_argument("--no-stability", action="store_true",
                            help="skip the comparison's stability runs (they train 8 short "
                                 "runs from the reachable accumulator; on by default)")


def _add_report_parsers(subparsers) -> None:
    p_report = subparsers.add_parser(
        "report", help="write RUN_DIR/report/report.md with its figures",
        description="The Markdown report of a run: config, ensemble, comparison, dissections.")
    p_report.add_argument("run_dir", help="a run directory (written by gru-jax train)")
    p_report.add_argument("--out", default=None, help="output directory (default RUN_DIR/report)")
    p_report.add_argument("--no-compare", action="store_true",
                          help="do not run `gru-jax compare` when RUN_DIR/compare is missing")
    _add_figure_options(p_report, stability=False)
    p_report.set_defaults(func=cmd_report)

    p_dissect = subparsers.add_parser(
        "dissect", help="walkthrough, gate terms, gate responses and dynamics of one network",
        description="Dissect one network: a run's seed at an epoch, a state-dict file "
                    "(--weights) or the hand-crafted accumulator (--handcrafted).")
    p_dissect.add_argument("run_dir", nargs="?", default=None, help="a run directory")
    p_dissect.add_argument("--seed", type=int, default=None,
                           help="seed value in the run (default: the run's first seed)")
    p_dissect.add_argument("--epoch", default=None,
                           help="an eval epoch (0, 49, ...), 'init' or 'final' (default final)")
    p_dissect.add_argument("--sequence", default=" ".join(f"{v},{f}" for v, f in SEQUENCE),
                           help='input "value,flag value,flag ..." in original units '
                                '(default the blog\'s "12,0 37,1 12,0 21,1")')
    p_dissect.add_argument("--weights", default=None,
                           help="a state dict (.json / .npz, torch names) or the blog's "
                                "all_weights.json, instead of RUN_DIR")
    p_dissect.add_argument("--handcrafted", action="store_true",
                           help="dissect gru_jax.handcrafted.accumulator() instead of RUN_DIR")
    p_dissect.add_argument("--high", type=float, default=None,
                           help="value scale (default: the run's Config.high, else 100)")
    p_dissect.add_argument("--out", default=None,
                           help="figure directory (default RUN_DIR/dissect/seed{S}_epoch{E}/, or "
                                "./dissect/NAME/ for --weights and --handcrafted)")
    p_dissect.set_defaults(func=cmd_dissect)


def _use_agg() -> None:
    """The CLI writes files: matplotlib's Agg backend (no window), whatever the environment,
    set before matplotlib loads (it loads with the commands that draw)."""
    os.environ["MPLBACKEND"] = "Agg"
    if "matplotlib" in sys.modules:
        sys.modules["matplotlib"].use("Agg")


def main(argv=None) -> int:
    """Run the command line; returns the exit status (2 for bad input, with one line on
    stderr; ``GRU_JAX_DEBUG=1`` re-raises instead)."""
    parser = build_parser()
    args = parser.parse_args(argv)      # --version and --help exit here, before any import
    _use_agg()
    try:
        gj.compilation_cache.enable()   # before the command compiles anything
        return int(args.func(args) or 0)
    except (ValueError, OSError, ImportError, MemoryError) as err:
        # OSError: a file that cannot be read or written (missing, full disk, permissions, a
        # path under a file), a run directory another writer holds; all named in the message
        if os.environ.get("GRU_JAX_DEBUG") == "1":
            raise
        text = err.for_command_line() if hasattr(err, "for_command_line") else str(err)
        text = " ".join(text.split("\n")) or type(err).__name__
        if isinstance(err, MemoryError):
            text = f"out of memory ({text}); train fewer seeds at once (--seed-batch)"
        print(f"error: {text}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
