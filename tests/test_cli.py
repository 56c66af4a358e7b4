"""The thin CLI: train -> files on disk -> info; clear errors before any training."""
import json
import os

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
    # the median final train loss printed equals the run's own
    assert f"{np.quantile(run.train_loss[:, -1], 0.5):.4g}" in text


def test_existing_directory_and_bad_option_are_refused(tmp_path, capsys):
    out = tmp_path / "taken"
    out.mkdir()
    (out / "notes.txt").write_text("keep me")
    assert main(["train", "--seeds", "1", "--epochs", "2", "--out", str(out), "--no-progress"]) == 2
    assert "not empty" in capsys.readouterr().err
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
