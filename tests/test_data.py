"""gru_jax.data: the seed's exact generator, the jax.random twin's distribution, batch orders."""
import dataclasses
import functools
import itertools
import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import gru_jax as gj
from gru_jax.data import jax_dataset_raw, next_order
import torch_reference as ref

SIGMAS = 5.0


def chi2_sf(stat: float, df: int) -> float:
    """Upper tail of the chi-square distribution (Wilson-Hilferty; plenty for p ~ 1e-6)."""
    z = ((stat / df) ** (1 / 3) - (1 - 2 / (9 * df))) / math.sqrt(2 / (9 * df))
    return 0.5 * math.erfc(z / math.sqrt(2))


def assert_uniform(counts, probs=None, p_min=1e-6):
    counts = np.asarray(counts, np.float64).ravel()
    probs = np.full(counts.size, 1 / counts.size) if probs is None else np.asarray(probs).ravel()
    expected = counts.sum() * probs
    assert np.all(expected >= 5), "too few samples for a chi-square test"
    stat = float(np.sum((counts - expected) ** 2 / expected))
    p = chi2_sf(stat, counts.size - 1)
    assert p > p_min, f"chi-square {stat:.1f} on {counts.size - 1} df (p = {p:.2e}): {counts}"


def assert_mean(samples, expected, what):
    samples = np.asarray(samples, np.float64).ravel()
    se = samples.std(ddof=1) / math.sqrt(samples.size)
    assert abs(samples.mean() - expected) <= SIGMAS * se, (
        f"{what}: mean {samples.mean():.5g}, expected {expected:.5g} (se {se:.2g})")


# ---- the seed's generator, exactly ---------------------------------------------------------------
def seed_generator_after(seed, cfg):
    """The reference: the seed's own function (verbatim copy) after np.random.seed(seed)."""
    np.random.seed(seed)
    return ref.adding_problem_generator(cfg.n_samples, seq_len=cfg.seq_len, high=cfg.high,
                                        delta=cfg.delta)


SEED_DATA_CASES = [
    (gj.Config(), 37), (gj.Config(), 0),
    (gj.Config(n_samples=300, high=10), 9),
    *[(gj.Config(n_samples=400, seq_len=10, delta=0.5), s) for s in (1, 2, 3, 4, 5)],
    *[(gj.Config(n_samples=300, seq_len=7, delta=0.3), s) for s in (11, 12)],
]


@pytest.mark.parametrize("cfg,seed", SEED_DATA_CASES,
                         ids=[f"L{c.seq_len}-d{c.delta}-N{c.n_samples}-s{s}"
                              for c, s in SEED_DATA_CASES])
def test_seed_dataset_equals_seed_generator(cfg, seed):
    X, Y = gj.seed_dataset(cfg, seed)
    X_ref, Y_ref = seed_generator_after(seed, cfg)
    assert X.shape == X_ref.shape and Y.shape == Y_ref.shape
    np.testing.assert_array_equal(X, X_ref)
    np.testing.assert_array_equal(Y, Y_ref)


def test_delta_cases_cover_several_lengths():
    lengths = {seed_generator_after(s, c)[0].shape[1] for c, s in SEED_DATA_CASES if c.delta > 0}
    assert len(lengths) >= 3, lengths


@pytest.mark.parametrize("seed", [37, 5])
def test_seed_dataset_equals_the_reference_script(seed):
    """X, Y written by shared/reference/seed_reference.py (committed fixture)."""
    stored = ref.unpack(ref.load_fixture("seed_data"), f"seed{seed}")
    X, Y = gj.seed_dataset(gj.Config(), seed)
    np.testing.assert_array_equal(X, stored["X"].astype(np.float64))
    np.testing.assert_array_equal(Y, stored["Y"].astype(np.float64))


# ---- the jax.random generator: same distribution ------------------------------------------------
def test_jax_generator_fixed_length_distribution():
    """L = 4, high = 100: values uniform on 0..99, exactly two flags per row (randint(2, 3)),
    each of the 6 flag pairs equally likely, target = sum of the flagged values."""
    cfg = gj.Config(n_samples=20000)
    x, y, length = jax.jit(lambda k: jax_dataset_raw(cfg, k))(jax.random.key(3))
    x, y = np.asarray(x, np.float64), np.asarray(y, np.float64)
    assert x.shape == (20000, 4, 2) and y.shape == (20000, 1) and int(length) == 4
    values, flags = x[..., 0], x[..., 1]
    assert np.all(values == np.round(values)) and values.min() >= 0 and values.max() <= 99
    assert set(np.unique(flags)) == {0.0, 1.0}
    assert_uniform(np.bincount(values.astype(int).ravel(), minlength=100))
    assert_mean(values, 49.5, "value mean")
    assert_mean((values - 49.5) ** 2, (100 ** 2 - 1) / 12, "value variance")
    np.testing.assert_array_equal(flags.sum(1), 2)
    pair_index = {pair: i for i, pair in enumerate(itertools.combinations(range(4), 2))}
    pairs = [pair_index[tuple(np.flatnonzero(row))] for row in flags]
    assert_uniform(np.bincount(pairs, minlength=6))
    np.testing.assert_array_equal(y[:, 0], np.sum(values * flags, axis=1))
    assert_mean(y, 2 * 49.5, "target mean")
    assert_mean((y - 99.0) ** 2, 2 * (100 ** 2 - 1) / 12, "target variance")


@functools.lru_cache(maxsize=None)
def _many_datasets(cfg, n_datasets, seed):
    """(x, y, length) of n_datasets jax datasets (cached: tests share one compile)."""
    keys = jax.random.split(jax.random.key(seed), n_datasets)
    x, y, length = jax.jit(jax.vmap(lambda k: jax_dataset_raw(cfg, k)))(keys)
    return np.asarray(x), np.asarray(y), np.asarray(length)


@pytest.mark.parametrize("seq_len,delta", [(10, 0.5), (5, 0.2)])
def test_jax_generator_variable_length_distribution(seq_len, delta):
    """delta > 0: one length per dataset, uniform on [int(L(1-d)), int(L(1+d))); one flag count
    per dataset, uniform on {2, .., min(length - 1, 4) - 1}; left padding is all zero; flags are
    a uniform subset of the real steps. Exact hand-derived probabilities."""
    rows = 8
    cfg = gj.Config(n_samples=rows, seq_len=seq_len, delta=delta)
    lo, hi = cfg.length_range
    x, y, length = _many_datasets(cfg, 3000, seed=0)
    width = cfg.max_len
    assert x.shape == (3000, rows, width, 2) and width == hi - 1
    assert_uniform(np.bincount(length - lo, minlength=hi - lo))
    flags = x[..., 1]
    per_row = flags.sum(-1)                                          # (D, N)
    assert np.all(per_row == per_row[:, :1]), "num_ones is drawn once per dataset"
    ones = per_row[:, 0].astype(int)
    for L in range(lo, hi):
        choices = np.arange(2, min(L - 1, 4))
        counts = [(ones[length == L] == k).sum() for k in choices]
        assert sum(counts) == (length == L).sum(), (L, counts)
        if len(choices) > 1:
            assert_uniform(counts)
    steps = np.arange(width)
    padded = steps[None, :] < (width - length)[:, None]               # (D, T)
    assert np.all(x[padded[:, None, :].repeat(rows, 1)] == 0), "padding must be zero rows"
    # flag position frequencies within the real steps, per length: uniform over the L positions
    stat, df = 0.0, 0
    for L in range(lo, hi):
        sel = length == L
        counts = flags[sel][..., width - L:].sum(axis=(0, 1))
        expected = counts.sum() / L
        stat += float(np.sum((counts - expected) ** 2 / expected))
        df += L - 1
    assert chi2_sf(stat, df) > 1e-6, (stat, df)
    np.testing.assert_array_equal(y[..., 0], np.sum(x[..., 0] * flags, axis=-1))
    real_values = x[..., 0][~padded[:, None, :].repeat(rows, 1)]
    assert_mean(real_values, (cfg.high - 1) / 2, "value mean")


def test_jax_generator_matches_numpy_generator_statistics():
    """Against the seed's generator itself (many numpy seeds, delta > 0): the same mean target
    and the same length histogram within sampling error."""
    cfg = gj.Config(n_samples=8, seq_len=10, delta=0.5)
    np_lengths, np_targets = [], []
    for seed in range(600):
        X, Y = seed_generator_after(seed, cfg)
        np_lengths.append(X.shape[1])
        np_targets.append(Y.mean())
    _, y, length = _many_datasets(cfg, 3000, seed=0)
    lo, hi = cfg.length_range
    table = np.stack([np.bincount(np.asarray(np_lengths) - lo, minlength=hi - lo),
                      np.bincount(length - lo, minlength=hi - lo)])
    expected = table.sum(0, keepdims=True) * table.sum(1, keepdims=True) / table.sum()
    stat = float(np.sum((table - expected) ** 2 / expected))        # homogeneity, df = k - 1
    assert chi2_sf(stat, hi - lo - 1) > 1e-6, table
    ours, theirs = y[..., 0].mean(1), np.asarray(np_targets)
    se = math.sqrt(ours.var(ddof=1) / ours.size + theirs.var(ddof=1) / theirs.size)
    assert abs(ours.mean() - theirs.mean()) <= SIGMAS * se


# ---- per-row tasks: each row its own length and flag count --------------------------------------
PER_ROW = gj.Config(seq_len=16, per_row_lengths=(2, 16), per_row_flags=(1, 5), n_samples=6000)


def check_per_row_rows(cfg, x, y, lengths):
    """The per-row rule, checked in float64 numpy against the arrays alone: lengths in
    ``per_row_lengths`` (all of them, uniformly), zero left padding, flags only on real steps,
    each row's count in ``[lo, min(hi, L - slack)]`` (uniform), flag positions uniform over the
    real steps, targets the sums of the flagged values."""
    x, y, lengths = (np.asarray(a, np.float64) for a in (x, y, lengths))
    n, width = cfg.n_samples, cfg.seq_len
    assert x.shape == (n, width, 2) and y.shape == (n, 1) and lengths.shape == (n,)
    shortest, longest = cfg.per_row_lengths
    assert_uniform(np.bincount(lengths.astype(int) - shortest, minlength=longest - shortest + 1))
    padded = np.arange(width)[None, :] < (width - lengths)[:, None]        # (N, T)
    assert np.all(x[padded] == 0), "padding steps must be (0, 0)"
    values, flags = x[..., 0], x[..., 1]
    assert set(np.unique(flags)) == {0.0, 1.0}
    real = values[~padded]
    assert np.all(real == np.round(real)) and real.min() == 0 and real.max() == cfg.high - 1
    lo, hi, slack = cfg.flag_rule
    counts = flags.sum(1)
    most = np.minimum(hi, lengths - slack)
    assert np.all((lo <= counts) & (counts <= most)), "flag counts outside the rule"
    full = most == hi                                   # rows long enough for every count
    if hi > lo:
        assert_uniform(np.bincount(counts[full].astype(int) - lo, minlength=hi - lo + 1))
    for length in (longest, (shortest + longest) // 2):
        sel = lengths == length
        assert_uniform(flags[sel][:, width - length:].sum(0))            # positions uniform
    np.testing.assert_array_equal(y[:, 0], np.sum(values * flags, axis=1))


def test_numpy_generator_per_row_rule():
    x, y, lengths = gj.data.numpy_dataset_raw(PER_ROW, 11)
    check_per_row_rows(PER_ROW, x, y, lengths)
    X, Y = gj.seed_dataset(PER_ROW, seed=11)                 # the public pair: the same arrays
    np.testing.assert_array_equal(X, x)
    np.testing.assert_array_equal(Y, y)


def test_jax_generator_per_row_rule():
    x, y, lengths = jax.jit(lambda k: jax_dataset_raw(PER_ROW, k))(jax.random.key(5))
    assert x.dtype == np.float32 and lengths.dtype == np.int32
    check_per_row_rows(PER_ROW, x, y, lengths)


@pytest.mark.parametrize("cfg", [
    gj.Config(seq_len=9, per_row_lengths=(4, 9), n_samples=4000),                  # seed's rule
    gj.Config(seq_len=9, per_row_lengths=(3, 9), n_flags=3, n_samples=4000),       # fixed count
], ids=["seed-rule", "n_flags"])
def test_per_row_lengths_flag_defaults(cfg):
    """Without per_row_flags: each row draws the seed's randint(2, min(L - 1, 4)) (2 at
    length 4, 2 or 3 from length 5), or has exactly n_flags."""
    for x, y, lengths in (gj.data.numpy_dataset_raw(cfg, 3),
                          jax_dataset_raw(cfg, jax.random.key(3))):
        lengths, counts = np.asarray(lengths), np.asarray(x)[..., 1].sum(1)
        if cfg.n_flags is not None:
            np.testing.assert_array_equal(counts, cfg.n_flags)
        else:
            np.testing.assert_array_equal(counts[lengths == 4], 2)
            assert_uniform(np.bincount(counts[lengths >= 5].astype(int) - 2))
        check_per_row_rows(cfg, x, y, lengths)


def test_numpy_per_row_draw_order():
    """The documented order after np.random.seed(seed), written out again: lengths, counts,
    values (padding zeroed), one choice per row."""
    cfg = gj.Config(seq_len=7, per_row_lengths=(3, 7), per_row_flags=(2, 4), n_samples=50,
                    high=10)
    np.random.seed(4)
    lengths = np.random.randint(3, 8, size=50)
    counts = np.random.randint(2, np.minimum(4, lengths) + 1)
    values = np.random.randint(0, 10, size=(50, 7))
    want = np.zeros((50, 7, 2))
    for i in range(50):
        first = 7 - lengths[i]
        want[i, first:, 0] = values[i, first:]
        want[i, first + np.random.choice(lengths[i], size=counts[i], replace=False), 1] = 1
    x, y, got_lengths = gj.data.numpy_dataset_raw(cfg, 4)
    np.testing.assert_array_equal(got_lengths, lengths)
    np.testing.assert_array_equal(x, want)
    np.testing.assert_array_equal(y[:, 0], (want[..., 0] * want[..., 1]).sum(1))


def test_per_row_flags_alone_keeps_one_length():
    """per_row_flags without per_row_lengths: every row has length seq_len (a scalar length,
    no per-row padding), the count varies per row."""
    cfg = gj.Config(per_row_flags=(1, 4), n_samples=2000)
    x, _, length = jax_dataset_raw(cfg, jax.random.key(0))
    assert np.shape(length) == () and int(length) == 4
    assert_uniform(np.bincount(np.asarray(x)[..., 1].sum(1).astype(int) - 1))
    assert gj.data.numpy_dataset_raw(cfg, 0)[2] == 4


def test_prepare_keeps_each_rows_length():
    cfg = dataclasses.replace(PER_ROW, n_samples=100)
    x, y, lengths = gj.data.numpy_dataset_raw(cfg, 2)
    data = gj.data.prepare(cfg, x, y, lengths)
    np.testing.assert_array_equal(data.length, lengths)
    train, test = gj.data.split_lengths(cfg, data.length)
    assert train.shape == (cfg.n_train,) and test.shape == (cfg.n_test,)
    with pytest.raises(ValueError, match="per_row_lengths"):
        gj.data.prepare(cfg, x, y)
    valid = np.asarray(gj.data.valid_mask(jnp.asarray([1, 3]), 4))       # (T, rows)
    np.testing.assert_array_equal(valid, [[False, False], [False, True], [False, True],
                                          [True, True]])


# ---- the batch order ---------------------------------------------------------------------------
def _perm_code(perms):
    """Each row of an (M, n) array of permutations as an integer in [0, n**n)."""
    n = perms.shape[1]
    return np.asarray(perms) @ (n ** np.arange(n))


ALL_4 = np.array(list(itertools.permutations(range(4))))
ALL_4_INDEX = {int(c): i for i, c in enumerate(_perm_code(ALL_4))}


@pytest.mark.parametrize("n", [1, 2, 5, 256, 8000])
def test_next_order_is_a_permutation(n):
    key = jax.random.key(n)
    order = jax.random.permutation(key, n).astype(jnp.int32)
    step = jax.jit(next_order)
    for epoch in range(4):
        order = step(order, jax.random.fold_in(key, epoch))
        assert order.dtype == jnp.int32 and order.shape == (n,)
        np.testing.assert_array_equal(np.sort(np.asarray(order)), np.arange(n))


def test_next_order_uniform_from_a_fixed_start():
    """Even from the identity, one step gives all 24 orders of 4 equally often (chi-square),
    and every first position equally often for n = 7."""
    keys = jax.random.split(jax.random.key(0), 24000)
    first = jnp.arange(4, dtype=jnp.int32)
    orders = np.asarray(jax.jit(jax.vmap(lambda k: next_order(first, k)))(keys))
    codes = np.array([ALL_4_INDEX[int(c)] for c in _perm_code(orders)])
    assert_uniform(np.bincount(codes, minlength=24))
    keys = jax.random.split(jax.random.key(1), 14000)
    first = jnp.arange(7, dtype=jnp.int32)
    orders = np.asarray(jax.jit(jax.vmap(lambda k: next_order(first, k)))(keys))
    assert_uniform(np.bincount(orders[:, 0], minlength=7))
    assert_uniform(np.bincount(np.argmax(orders == 0, axis=1), minlength=7))


def test_next_order_composition_claim_exhaustive():
    """next_order(p, k) = p[q_k] with q_k = next_order(identity, k), for every p in S4; and for
    EVERY q in S4, p -> p[q] is a bijection of S4, so a uniform p gives a uniform p[q]: over the
    24 equally likely p, each outcome appears exactly once (frequency 1/24, exactly)."""
    step = jax.jit(jax.vmap(next_order, in_axes=(0, None)))
    prev = jnp.asarray(ALL_4, jnp.int32)
    for i in range(20):
        key = jax.random.key(100 + i)
        q = np.asarray(next_order(jnp.arange(4, dtype=jnp.int32), key))
        np.testing.assert_array_equal(np.asarray(step(prev, key)), ALL_4[:, q])
    for q in ALL_4:
        outcomes = np.array([ALL_4_INDEX[int(c)] for c in _perm_code(ALL_4[:, q])])
        np.testing.assert_array_equal(np.bincount(outcomes, minlength=24), np.ones(24))


def test_next_order_epochs_are_fresh():
    """Consecutive epochs of 8000 are (nearly) independent: positions shared by two orders
    average 1 (a uniform permutation has on average one fixed point relative to another)."""
    n = 8000
    key = jax.random.key(5)
    order = jax.random.permutation(key, n).astype(jnp.int32)
    same = []
    for epoch in range(30):
        new = next_order(order, jax.random.fold_in(key, epoch))
        same.append(int(jnp.sum(new == order)))
        order = new
    assert_mean(same, 1.0, "positions unchanged between epochs")
