"""Config: defaults are the blog's protocol; every impossible value names its field."""
import dataclasses
import re

import pytest

import gru_jax as gj


def test_defaults_are_the_blog_protocol():
    cfg = gj.Config()
    assert (cfg.seq_len, cfg.high, cfg.delta, cfg.n_samples, cfg.train_split) == (
        4, 100, 0.0, 10000, 0.8)
    assert (cfg.batch_size, cfg.learning_rate, cfg.weight_decay, cfg.clip, cfg.epochs) == (
        256, 1e-4, 1e-5, 2.0, 3000)
    assert (cfg.hidden_size, cfg.input_size, cfg.output_size, cfg.eval_every) == (1, 2, 1, 49)
    assert (cfg.plateau_factor, cfg.plateau_patience, cfg.plateau_threshold, cfg.min_lr) == (
        0.5, 5, 1e-4, 1e-6)
    # 8000 = 31 x 256 + 64; 62 eval epochs 0, 49, ..., 2989 (BLOG_FACTS.md)
    assert cfg.n_train == 8000 and cfg.n_test == 2000
    assert cfg.batch_sizes == (256,) * 31 + (64,)
    assert cfg.n_eval == 62 and cfg.eval_epochs[-1] == 2989


@pytest.mark.parametrize("field, value, words", [
    ("seq_len", 3, "seq_len"), ("seq_len", 2.5, "seq_len"), ("high", 0, "high"),
    ("delta", -0.1, "delta"), ("delta", 1.0, "delta"), ("n_samples", 1, "n_samples"),
    ("train_split", 0.0, "train_split"), ("train_split", 1.0, "train_split"),
    ("batch_size", 0, "batch_size"), ("learning_rate", 0.0, "learning_rate"),
    ("learning_rate", float("nan"), "learning_rate"), ("weight_decay", -1e-5, "weight_decay"),
    ("clip", -1.0, "clip"), ("epochs", 0, "epochs"), ("eval_every", 0, "eval_every"),
    ("plateau_factor", 1.0, "plateau_factor"), ("plateau_patience", -1, "plateau_patience"),
    ("min_lr", 1.0, "min_lr"), ("hidden_size", 0, "hidden_size"), ("input_size", 3, "input_size"),
    ("output_size", 2, "output_size"), ("data_generator", "torch", "data_generator"),
    ("init_seed", -1, "init_seed"), ("beta2", 1.0, "beta2"),
])
def test_bad_values_name_the_field(field, value, words):
    with pytest.raises(ValueError, match=words):
        gj.Config(**{field: value})


def test_split_that_leaves_no_test_sample():
    with pytest.raises(ValueError, match="train_split"):
        gj.Config(n_samples=10, train_split=0.05)  # int(0.5) = 0 train samples


def test_delta_length_range_checked():
    # seq_len 4 with delta 0.5 would allow length 2: the flag rule needs >= 4
    with pytest.raises(ValueError, match="delta"):
        gj.Config(delta=0.5)
    cfg = gj.Config(seq_len=10, delta=0.5)
    assert cfg.length_range == (5, 15) and cfg.max_len == 14


def test_json_round_trip_and_unknown_field():
    cfg = dataclasses.replace(gj.Config(), epochs=7, data_seed=3)
    assert gj.Config.from_json(cfg.to_json()) == cfg
    with pytest.raises(ValueError, match="learning_rat"):
        gj.Config.from_dict({"learning_rat": 1e-3})


def test_curriculum_and_n_flags_round_trip_through_json():
    cfg = gj.Config(epochs=20, n_flags=2, curriculum=[[0, 2, 2], [10, 6, 3]])
    assert cfg.curriculum == ((0, 2, 2), (10, 6, 3))            # lists normalised to tuples
    assert gj.Config.from_json(cfg.to_json()) == cfg
    assert cfg.max_len == 6 and cfg.variable_length               # the longest stage pads
    assert gj.Config(n_flags=2, curriculum=((0, 4, 2),)).variable_length is False
    assert cfg.stage_task(0) == gj.Config(epochs=20, seq_len=2, n_flags=2)
    assert gj.Config(seq_len=2, n_flags=2).seq_len == 2              # with n_flags, L >= n_flags


@pytest.mark.parametrize("values, words", [
    (dict(curriculum=((1, 4, 2),)), "start at 0"),
    (dict(curriculum=((0, 4, 2), (0, 5, 2))), "increase strictly"),
    (dict(curriculum=((0, 4, 2), (3000, 5, 2))), "past the last epoch"),
    (dict(curriculum=((0, 2, 3),)), "n_flags <= seq_len"),
    (dict(curriculum=((0, 4),)), "(from_epoch, seq_len, n_flags)"),
    (dict(curriculum=((0, 4, 2.5),)), "(from_epoch, seq_len, n_flags)"),
    (dict(curriculum=()), "at least one stage"),
    (dict(curriculum="0:4:2"), "curriculum"),
    (dict(curriculum=((0, 4, 2),), delta=0.5, seq_len=8), "delta=0"),
    (dict(curriculum=((0, 4, 2),), data_generator="numpy"), "data_generator='jax'"),
    (dict(seq_len=3), "seq_len"),
    (dict(seq_len=2, n_flags=3), "seq_len"),
    (dict(n_flags=0), "n_flags"),
])
def test_bad_curricula_and_flag_counts_name_the_field(values, words):
    with pytest.raises(ValueError, match=re.escape(words)):
        gj.Config(**values)


def test_per_row_ranges_round_trip_through_json():
    cfg = gj.Config(seq_len=16, per_row_lengths=[2, 16], per_row_flags=[1, 5])
    assert (cfg.per_row_lengths, cfg.per_row_flags) == ((2, 16), (1, 5))   # lists -> tuples
    assert gj.Config.from_json(cfg.to_json()) == cfg
    assert cfg.per_row and cfg.variable_length and cfg.max_len == 16
    assert cfg.flag_rule == (1, 5, 0)
    assert gj.Config(seq_len=9, per_row_lengths=(4, 9)).flag_rule == (2, 3, 2)     # seed's rule
    assert gj.Config(seq_len=9, per_row_lengths=(3, 9), n_flags=3).flag_rule == (3, 3, 0)
    flags_only = gj.Config(per_row_flags=(1, 4))
    assert not flags_only.per_row and flags_only.per_row_draws and not flags_only.variable_length
    assert gj.Config().per_row_draws is False and gj.Config().flag_rule == (2, 3, 2)
    assert "ONE length per dataset" in gj.config.FIELD_HELP["delta"]
    assert {"per_row_lengths", "per_row_flags"} <= set(gj.config.FIELD_HELP)


@pytest.mark.parametrize("values, words", [
    (dict(seq_len=16, per_row_lengths=(0, 16)), "Config.per_row_lengths must be None or (lo, hi)"),
    (dict(seq_len=16, per_row_lengths=(9, 8)), "1 <= lo <= hi"),
    (dict(seq_len=16, per_row_lengths=(2, 16, 3)), "per_row_lengths"),
    (dict(seq_len=16, per_row_lengths="2,16"), "per_row_lengths"),
    (dict(seq_len=16, per_row_lengths=(2.0, 16)), "per_row_lengths"),
    (dict(seq_len=8, per_row_lengths=(2, 16), per_row_flags=(1, 2)), "hi must be <= seq_len=8"),
    (dict(seq_len=16, per_row_lengths=(2, 16)), "needs every length >= 4"),
    (dict(seq_len=16, per_row_lengths=(2, 16), n_flags=3), "lo must be >= 3"),
    (dict(seq_len=16, per_row_lengths=(2, 16), per_row_flags=(3, 5)), "lo <= 2"),
    (dict(seq_len=16, per_row_lengths=(2, 8), per_row_flags=(1, 9)), "[1, 8]"),
    (dict(seq_len=16, per_row_lengths=(4, 8), per_row_flags=(1, 2), n_flags=2),
     "n_flags must be None"),
    (dict(per_row_flags=(0, 2)), "Config.per_row_flags must be None or (lo, hi)"),
    (dict(seq_len=10, delta=0.5, per_row_lengths=(4, 10)), "needs delta=0"),
    (dict(seq_len=10, delta=0.5, per_row_flags=(1, 2)), "Config.per_row_flags"),
    (dict(seq_len=6, n_flags=2, per_row_lengths=(2, 6), curriculum=((0, 4, 2),)), "curriculum"),
])
def test_bad_per_row_ranges_name_the_field(values, words):
    with pytest.raises(ValueError, match=re.escape(words)):
        gj.Config(**values)
