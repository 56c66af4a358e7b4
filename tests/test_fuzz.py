"""Property tests (hypothesis): whatever a caller passes, the outcome is success or a named
error, never a traceback from inside numpy or JAX, never a changed file.

Fuzzed: every Config field, the CLI's training options (as strings), state dicts, and run
directories with one file damaged. The example counts are small (the suite runs on 2 cores);
``--hypothesis-seed`` reproduces a run.
"""
import dataclasses
import json
import math
import os
import shutil
import tempfile

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import gru_jax as gj
from gru_jax import checkpoint as ckpt
from gru_jax.cli import main
from gru_jax.engines import resolve_engine
from gru_jax.inputs import seed_streams
from gru_jax.interop import STATE_DICT_KEYS
from gru_jax.optim import member_hyper
from gru_jax.program import ProgramSpec, compiled_init
from gru_jax.rundir import RunDir

TINY = gj.Config(n_samples=200, batch_size=64, epochs=4, eval_every=2)
FAST = settings(max_examples=40, deadline=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                       HealthCheck.function_scoped_fixture])

# anything a caller might type or compute
ANY_VALUE = st.one_of(
    st.none(), st.booleans(), st.integers(-2**40, 2**40), st.floats(allow_nan=True),
    st.text(max_size=6), st.sampled_from(["jax", "numpy", "1", "1e-3", "nan"]),
    st.integers(-5, 300).map(np.int64), st.floats(-10, 10).map(np.float32),
    st.lists(st.integers(0, 3), max_size=2), st.complex_numbers(max_magnitude=2))


def _snapshot(directory):
    found = {}
    for root, _, names in os.walk(directory):
        for name in names:
            with open(os.path.join(root, name), "rb") as handle:
                found[os.path.relpath(os.path.join(root, name), directory)] = handle.read()
    return found


@FAST
@given(st.sampled_from([f.name for f in dataclasses.fields(gj.Config)]), ANY_VALUE)
def test_config_accepts_or_names_the_field(name, value):
    try:
        cfg = gj.Config(**{name: value})
    except ValueError as err:
        assert "Config." in str(err), err
        return
    stored = getattr(cfg, name)
    if isinstance(value, list):                        # a range field: a tuple of two ints
        assert stored == tuple(value) and all(type(v) is int for v in stored), (name, value)
    else:
        assert type(stored) in (int, float, str, type(None)), (name, value, type(stored))
        assert stored == value or (isinstance(value, float) and math.isnan(value))
    assert gj.Config.from_json(cfg.to_json()) == cfg


RANGE = st.one_of(st.none(), st.tuples(st.integers(-1, 12), st.integers(-1, 12)),
                  st.lists(st.integers(0, 12), max_size=3))


@FAST
@given(st.integers(1, 12), RANGE, RANGE, st.one_of(st.none(), st.integers(0, 6)),
       st.sampled_from([0.0, 0.3]), st.sampled_from(["jax", "numpy"]))
def test_per_row_ranges_accept_or_name_the_field(seq_len, lengths, flags, n_flags, delta,
                                                 generator):
    """Any combination of the per-row ranges with the fields they interact with: a Config whose
    rule every row can follow, or a ValueError naming a field."""
    try:
        cfg = gj.Config(seq_len=seq_len, per_row_lengths=lengths, per_row_flags=flags,
                        n_flags=n_flags, delta=delta, data_generator=generator, n_samples=40)
    except ValueError as err:
        assert "Config." in str(err), err
        return
    assert gj.Config.from_json(cfg.to_json()) == cfg
    x, y, length = gj.data.numpy_dataset_raw(cfg, 0)           # every row follows the rule
    lo, hi, slack = cfg.flag_rule
    counts = x[..., 1].sum(1)
    rows = np.broadcast_to(length, counts.shape)
    assert np.all((lo <= counts) & (counts <= np.minimum(hi, rows - slack)))


OPTION_TEXT = st.one_of(st.integers(-5, 2**33).map(str), st.floats(allow_nan=True).map(str),
                        st.text(alphabet="0123456789-.,:eainf x", max_size=8))
OPTIONS = ["--seeds", "--epochs", "--seq-len", "--high", "--n-samples", "--learning-rate",
           "--delta", "--train-split", "--seed-batch", "--chunk-epochs", "--loss-every",
           "--eval-every", "--batch-size", "--data-generator", "--init-seed", "--engine",
           "--per-row-lengths", "--per-row-flags"]


@pytest.fixture(scope="module")
def occupied():
    """A non-empty directory: a valid command is refused at the output check, after every
    option was validated, so the fuzz never trains; its file must survive."""
    directory = tempfile.mkdtemp()
    with open(os.path.join(directory, "keep.txt"), "w") as handle:
        handle.write("keep")
    yield directory
    shutil.rmtree(directory)


@FAST
@given(st.dictionaries(st.sampled_from(OPTIONS), OPTION_TEXT, max_size=4))
def test_cli_train_options_end_in_one_named_line(occupied, capsys, options):
    argv = ["train", "--out", occupied, "--no-progress"]
    for option, text in options.items():
        argv.append(f"{option}={text}")
    try:
        code = main(argv)
    except SystemExit as exit_:              # argparse: usage and one error line, status 2
        code = exit_.code
    err = capsys.readouterr().err
    assert code == 2, (argv, err)
    assert "Traceback" not in err
    last = err.strip().splitlines()[-1]
    assert last.startswith("error: ") or "error:" in last, (argv, err)
    assert _snapshot(occupied) == {"keep.txt": b"keep"}


ARRAYS = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True, width=64).map(lambda v: np.full((3, 2), v)),
    st.integers(1, 5).map(lambda n: np.zeros((n, 2))),
    st.integers(1, 4).map(lambda n: np.ones((3 * n,), np.float64) * 1e300),
    st.just(np.zeros((3, 2), np.complex64)), st.just(np.array([["a", "b"]])),
    st.just([[1.0, 2.0], [3.0]]), st.just(np.zeros((3, 1), bool)), st.just(None),
    st.integers(-2**31, 2**31).map(lambda v: np.full((3, 1), v, np.int64)))


def _valid_state_dict():
    return gj.to_state_dict(gj.model.init_params(gj.Config(), __import__("jax").random.key(0)))


VALID = None


@FAST
@given(st.dictionaries(st.sampled_from(STATE_DICT_KEYS + ("gru.extra", "weight")), ARRAYS,
                       max_size=3),
       st.sets(st.sampled_from(STATE_DICT_KEYS), max_size=2))
def test_state_dict_loads_or_names_the_key(changes, removed):
    global VALID
    VALID = VALID or _valid_state_dict()
    state_dict = {k: v for k, v in {**VALID, **changes}.items() if k not in removed}
    try:
        params = gj.from_state_dict(state_dict)
    except ValueError as err:
        assert str(err).startswith("state dict"), err
        return
    for name in STATE_DICT_KEYS:
        module, leaf = name.split(".")
        value = params[module][leaf]
        assert value.dtype == np.float32
        source = np.asarray(state_dict[name], np.float64)
        assert np.array_equal(np.isfinite(value), np.isfinite(source))


# ---- damaged run directories ------------------------------------------------------------------
@pytest.fixture(scope="module")
def runs():
    """A complete run and an interrupted one (checkpoint after the first of two chunks)."""
    root = tempfile.mkdtemp()
    complete, partial = os.path.join(root, "complete"), os.path.join(root, "partial")
    gj.train(TINY, seeds=[0, 1], out=complete, progress=False, engine="xla", chunk_epochs=2)

    def stop(done):
        raise KeyboardInterrupt
    with pytest.raises(KeyboardInterrupt):
        gj.train(TINY, seeds=[0, 1], out=partial, progress=False, engine="xla", chunk_epochs=2,
                 on_chunk=stop)
    yield {"complete": complete, "partial": partial}
    shutil.rmtree(root)


def _files(directory):
    return sorted(_snapshot(directory))


DAMAGE = st.one_of(
    st.tuples(st.just("truncate"), st.floats(0, 0.99)),
    st.tuples(st.just("flip"), st.floats(0, 0.999)),
    st.tuples(st.just("delete"), st.just(0.0)),
    st.tuples(st.just("json"), st.sampled_from([[], {}, 1, "x", None, {"format_version": 2},
                                               {"complete": True, "format_version": 9},
                                               {"seeds": "all", "format_version": 2}])))


def _damage(path, kind, amount):
    data = open(path, "rb").read()
    if kind == "truncate":
        open(path, "wb").write(data[: int(len(data) * amount)])
    elif kind == "flip":
        position = int(len(data) * amount)
        open(path, "wb").write(data[:position] + bytes([data[position] ^ 0xFF])
                               + data[position + 1:])
    elif kind == "delete":
        os.remove(path)
    else:
        open(path, "w").write(json.dumps(amount))


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(["complete", "partial"]), st.data(), DAMAGE)
def test_damaged_run_loads_or_names_the_file(runs, which, data, damage):
    kind, amount = damage
    source = runs[which]
    names = [n for n in _files(source) if kind != "json" or n.endswith(".json")]
    name = data.draw(st.sampled_from(names))
    with tempfile.TemporaryDirectory() as root:
        directory = os.path.join(root, "run")
        shutil.copytree(source, directory)
        _damage(os.path.join(directory, name), kind, amount)
        before = _snapshot(directory)
        try:
            if which == "complete":
                run = gj.Run.load(directory)
                gj.run.summary_table(run)
            else:
                template = _template()
                ckpt.load_checkpoint(RunDir(directory), TINY, [0, 1], template, "xla")
        except (ValueError, OSError) as err:     # RunError is a ValueError
            assert "/" in str(err) or "config" in str(err).lower(), err
        assert _snapshot(directory) == before


def _template():
    engine, streams = resolve_engine(TINY, "xla"), seed_streams(TINY, [0, 1])
    init = compiled_init(ProgramSpec.of([TINY], engine, 2))
    return lambda params0: init(params0, streams.order, member_hyper([TINY] * 2))


def test_a_flipped_byte_in_an_npy_header_is_named(runs):
    """The case hypothesis found: a flipped byte inside an .npy header's dict text makes numpy's
    header parse raise tokenize.TokenError, which must still come out as a RunError naming the
    file."""
    with tempfile.TemporaryDirectory() as root:
        directory = os.path.join(root, "run")
        shutil.copytree(runs["complete"], directory)
        name = os.path.join("arrays", "init_params", "gru.weight_hh_l0.npy")
        _damage(os.path.join(directory, name), "flip", 0.46875)
        with pytest.raises(gj.RunError, match="gru.weight_hh_l0.npy is corrupt"):
            gj.Run.load(directory)
