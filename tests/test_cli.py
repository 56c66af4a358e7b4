"""The thin CLI: train -> files on disk -> info; clear errors before any training."""
import json
import os
import subprocess
import sys

import numpy as np
import pytest

from gru_jax import Run
from gru_jax.cli import main


def test_train_then_info(tmp_path, capsys):
    out = str(tmp_path / "run")
    code = main(["train", "--seeds", "3", "--epochs", "4", "--n-samples", "200",
                 "--eval-every", "2", "--out", out, "--no-progress"])
    assert code == 0
    run = Run.load(out)
    assert run.seeds.tolist() == [0, 1, 2]
    assert run.train_loss.shape == (3, 4) and list(run.eval_epochs) == [0, 2]
    with open(os.path.join(out, "config.json")) as handle:
        assert json.load(handle)["n_samples"] == 200
    capsys.readouterr()
    assert main(["info", out]) == 0
    text = capsys.readouterr().out
    assert "seeds      3" in text and "diverged   0" in text
    # one set of units in the table: the train row is the final train loss in ORIGINAL units
    # (scaled * high**2), like the test row (the last test loss, stored in original units)
    rows = {line.split()[0]: line.split()[1:] for line in text.splitlines()
            if line.strip().startswith(("train", "test"))}
    quantiles = (0.0, 0.1, 0.5, 0.9, 1.0)
    train_original = np.asarray(run.train_loss[:, -1], np.float64) * 100.0**2
    assert rows["train"] == [f"{v:.4g}" for v in np.quantile(train_original, quantiles)]
    assert rows["test"] == [f"{v:.4g}" for v in np.quantile(run.test_loss[:, -1], quantiles)]
    assert "original units" in text and "scaled" not in text


def test_existing_directory_and_bad_option_are_refused(tmp_path, capsys):
    out = tmp_path / "taken"
    out.mkdir()
    (out / "notes.txt").write_text("keep me")
    assert main(["train", "--seeds", "1", "--epochs", "2", "--out", str(out), "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert "not empty" in err and "add --resume" in err and "resume=True" not in err
    assert (out / "notes.txt").read_text() == "keep me"
    assert main(["train", "--seeds", "1", "--learning-rate", "-1", "--out",
                 str(tmp_path / "new"), "--no-progress"]) == 2
    assert "learning_rate" in capsys.readouterr().err
    assert not (tmp_path / "new").exists()


def test_engine_option_records_and_refuses(tmp_path, capsys):
    out = tmp_path / "xla"
    assert main(["train", "--seeds", "2", "--epochs", "2", "--n-samples", "200", "--engine", "xla",
                 "--out", str(out), "--no-progress"]) == 0
    assert Run.load(str(out)).engine == "xla"
    assert "(xla engine)" in capsys.readouterr().out
    # the native kernels are compiled for hidden sizes 1-16: refused by name, before any file
    assert main(["train", "--seeds", "1", "--hidden-size", "17", "--engine", "native",
                 "--out", str(tmp_path / "wide"), "--no-progress"]) == 2
    assert "hidden 1..16" in capsys.readouterr().err
    assert not (tmp_path / "wide").exists()


def test_per_row_options_parse_and_refuse_with_status_2(tmp_path, capsys):
    from gru_jax.cli import build_parser, config_from_args
    args = build_parser().parse_args(["train", "--out", "x", "--seq-len", "16",
                                      "--per-row-lengths", "2,16", "--per-row-flags", "1,5"])
    cfg = config_from_args(args)
    assert (cfg.per_row_lengths, cfg.per_row_flags) == ((2, 16), (1, 5))
    out = tmp_path / "never"
    for bad in ("2", "2,x", "2,16,3"):               # not LO,HI: argparse's usage error
        with pytest.raises(SystemExit) as exit_:
            main(["train", "--per-row-lengths", bad, "--out", str(out), "--no-progress"])
        assert exit_.value.code == 2
        assert "per_row_lengths must be LO,HI" in capsys.readouterr().err
    for bad, words in (("16,2", "1 <= lo <= hi"), ("2,16", "hi must be <= seq_len=4")):
        assert main(["train", "--per-row-lengths", bad, "--out", str(out), "--no-progress"]) == 2
        assert words in capsys.readouterr().err
    assert main(["sweep", "--grid", "per_row_lengths=2,4", "--out", str(out),
                 "--no-progress"]) == 2
    assert "--per-row-lengths" in capsys.readouterr().err
    assert not out.exists()


def test_errors_name_the_flags_not_the_python_arguments(tmp_path, capsys):
    """A refusal that an option lifts names the flag on the command line (--overwrite,
    --resume) and the keyword argument in Python (overwrite=True)."""
    import gru_jax as gj
    out = str(tmp_path / "run")
    assert main(["train", "--seeds", "2", "--epochs", "2", "--n-samples", "100", "--eval-every",
                 "1", "--out", out, "--no-progress"]) == 0
    assert main(["export", out, "--format", "csv"]) == 0
    capsys.readouterr()
    assert main(["export", out, "--format", "csv"]) == 2
    err = capsys.readouterr().err
    assert "add --overwrite" in err and "overwrite=True" not in err
    assert main(["export", out, "--format", "csv", "--overwrite"]) == 0
    with pytest.raises(FileExistsError, match="pass overwrite=True"):
        gj.export.write(gj.Run.load(out), os.path.join(out, "tables"), format="csv")
    sweep = str(tmp_path / "sweep")
    argv = ["sweep", "--grid", "learning_rate=1e-3", "--seeds", "1", "--epochs", "2",
            "--n-samples", "100", "--eval-every", "1", "--out", sweep, "--no-progress"]
    assert main(argv) == 0
    capsys.readouterr()
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "add --resume" in err and "pass resume" not in err


def test_enumerated_options_offer_their_choices_and_fixed_sizes_are_not_options(capsys):
    """--data-generator, --curriculum-schedule and --engine list (and check) their choices;
    --input-size / --output-size (only 2 / 1 are valid) are not options; every help line gives
    its default at most once."""
    import contextlib
    import io
    from gru_jax.cli import build_parser
    parser = build_parser()
    train = parser._subparsers._group_actions[0].choices["train"]
    options = {a.dest: a for a in train._actions}
    assert options["data_generator"].choices == ("jax", "numpy")
    assert options["curriculum_schedule"].choices == ("continue", "reset")
    assert tuple(options["engine"].choices) == ("auto", "xla", "native")
    assert "input_size" not in options and "output_size" not in options
    for action in train._actions:
        assert (action.help or "").count("default") <= 1, action.dest
    assert "(default" not in options["n_flags"].help.replace("(default: the seed", "")
    for argv in (["train", "--out", "x", "--data-generator", "numpyy"],
                 ["train", "--out", "x", "--curriculum-schedule", "restart"],
                 ["train", "--out", "x", "--input-size", "3"]):
        with pytest.raises(SystemExit) as exited, contextlib.redirect_stderr(io.StringIO()) as err:
            main(argv)
        assert exited.value.code == 2
        flag = next(a for a in argv[3:] if a.startswith("--"))
        assert flag in err.getvalue()             # the message names the flag
        assert any(m in err.getvalue() for m in ("invalid choice", "unrecognized arguments"))


def test_version_and_help_do_not_import_jax():
    """`gru-jax --version` and every --help load no JAX, numpy, matplotlib or scikit-learn."""
    heavy = ("jax", "jaxlib", "numpy", "flax", "optax", "matplotlib", "sklearn", "scipy")
    for argv in (["--version"], ["--help"], ["train", "--help"], ["sweep", "--help"],
                 ["dissect", "--help"]):
        code = ("import sys\nfrom gru_jax.cli import main\ntry:\n    main(%r)\n"
                "except SystemExit:\n    pass\nprint(sorted(m for m in %r if m in sys.modules))"
                % (argv, heavy))
        done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                              timeout=120)
        assert done.returncode == 0, done.stderr
        assert done.stdout.strip().splitlines()[-1] == "[]", (argv, done.stdout)
