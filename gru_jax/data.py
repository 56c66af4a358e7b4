"""The adding-problem data: the seed's exact numpy generator and a jax.random twin.

Arrays follow the seed: ``X`` is ``(N, L, 2)`` with channel 0 the raw integer value in
``[0, high)`` (NOT yet divided by ``high``) and channel 1 the 0/1 flag; ``Y`` is ``(N, 1)``, the
raw sum of the flagged values (original units). The trainer pads every dataset to
``cfg.max_len`` steps on the LEFT and marks real steps in a ``valid`` mask, so datasets of
different lengths (``delta > 0``) can share one program. Per-row tasks
(``Config.per_row_lengths``) vary the length row by row: every row is left-padded to
``seq_len`` with zero steps and the dataset carries each row's length, from which the trainer
masks each row's padding.
"""
from __future__ import annotations

from typing import NamedTuple

import functools

import jax
import jax.numpy as jnp
import numpy as np

from .prng import fast_key


class Dataset(NamedTuple):
    """One dataset in the trainer's layout (add a leading seed axis for an ensemble).

    x_train: ``(n_train, T, 2)`` float32, value channel divided by ``high`` (scaled units).
    y_train: ``(n_train, 1)`` float32, target divided by ``high`` (scaled units).
    x_test:  ``(n_test, T, 2)`` float32, scaled like ``x_train``.
    y_test:  ``(n_test, 1)`` float32, raw target (ORIGINAL units: the test loss is reported so).

    Samples lead (rows are contiguous, so gathering a batch is cheap); the trainer transposes
    each gathered batch to the cell's batch-last layout (``model.forward_columns``).
    length:  ``()`` int32, the real sequence length (``<= T``; steps ``T - length..T-1`` are
      real); for per-row tasks (``Config.per_row_lengths``) ``(n_samples,)`` int32, each row's
      own: the ``n_train`` training rows, then the test rows (:func:`split_lengths`).
    """

    x_train: jax.Array
    y_train: jax.Array
    x_test: jax.Array
    y_test: jax.Array
    length: jax.Array


def seed_dataset(cfg, seed: int):
    """The seed's ``adding_problem_generator`` exactly, after ``np.random.seed(seed)``.

    Uses (and reseeds) numpy's legacy global RNG, consuming it in the seed's order: the length
    (only if delta > 0), ``num_ones``, all values, then one ``np.random.choice`` per row.

    Per-row tasks (``Config.per_row_lengths`` or ``per_row_flags``; the seed has no such rule,
    so this one is ours): see :func:`numpy_dataset_raw`, whose ``(X, Y)`` this returns.

    Returns:
      ``(X, Y)``: float64 ``(N, L, 2)`` and ``(N, 1)``, identical to the seed's arrays (per-row
      tasks: ``L = seq_len``, each row left-padded with zero steps).
    """
    return numpy_dataset_raw(cfg, seed)[:2]


def numpy_dataset_raw(cfg, seed: int):
    """:func:`seed_dataset` with the rows' real lengths: ``(X, Y, length)``.

    Scalar tasks: the seed's generator; ``length`` is ``X``'s length, an int. Per-row tasks,
    after ``np.random.seed(seed)``, in this order (``N = n_samples``, ``T = seq_len``;
    ``Config.flag_rule`` gives ``lo, hi, slack``):

    1. ``lengths = np.random.randint(a, b + 1, size=N)`` for ``per_row_lengths=(a, b)`` (no
       draw without it: every row has length ``T``);
    2. ``counts = np.random.randint(lo, np.minimum(hi, lengths - slack) + 1)`` (no draw with
       ``n_flags``: every row has ``n_flags``);
    3. ``values = np.random.randint(0, high, size=(N, T))``, zeroed on padding steps;
    4. for each row ``i``, ``np.random.choice(lengths[i], size=counts[i], replace=False)``:
       the flagged steps among the row's real ones (the last ``lengths[i]`` of the ``T``).

    Returns:
      ``(X, Y, length)``: float64 ``(N, T, 2)`` raw values and flags, float64 ``(N, 1)`` raw
      targets, and int64 ``(N,)`` lengths (per_row_lengths; else the int ``T``).
    """
    np.random.seed(seed)
    if not cfg.per_row_draws:
        x, y = _seed_generator(cfg.n_samples, cfg.seq_len, cfg.high, cfg.delta, cfg.n_flags)
        return x, y, x.shape[1]
    n, width = cfg.n_samples, cfg.seq_len
    if cfg.per_row_lengths is not None:
        shortest, longest = cfg.per_row_lengths
        lengths = np.random.randint(shortest, longest + 1, size=n)
    else:
        lengths = np.full(n, width)
    lo, hi, slack = cfg.flag_rule
    counts = (np.full(n, cfg.n_flags) if cfg.n_flags is not None
              else np.random.randint(lo, np.minimum(hi, lengths - slack) + 1))
    values = np.random.randint(0, cfg.high, size=(n, width))
    first = width - lengths                                     # (N,) first real step
    values[np.arange(width) < first[:, None]] = 0
    flags = np.zeros((n, width))
    for i in range(n):
        flags[i, first[i] + np.random.choice(lengths[i], size=counts[i], replace=False)] = 1
    x = np.stack([values.astype(np.float64), flags], axis=-1)
    y = np.sum(values * flags, axis=1, keepdims=True)
    return x, y, (lengths if cfg.per_row_lengths is not None else width)


def _seed_generator(n, seq_len, high, delta, n_flags=None):
    """Line-for-line the seed's generator (reads numpy's global RNG); ``n_flags`` given: that
    many flags, and no draw for it."""
    if delta > 0:
        actual_len = np.random.randint(int(seq_len * (1 - delta)), int(seq_len * (1 + delta)))
    else:
        actual_len = seq_len
    num_ones = np.random.randint(2, min(actual_len - 1, 4)) if n_flags is None else n_flags
    x_num = np.random.randint(low=0, high=high, size=(n, actual_len, 1))
    x_mask = np.zeros((n, actual_len, 1))
    y = np.ones((n, 1))
    for i in range(n):
        positions = np.random.choice(actual_len, size=num_ones, replace=False)
        x_mask[i, positions] = 1
        y[i, 0] = np.sum(x_num[i, positions])
    return np.append(x_num, x_mask, axis=2), y


def jax_dataset_raw(cfg, key: jax.Array, width: int = None):
    """Same distribution as :func:`seed_dataset`, drawn with jax.random (jit/vmap friendly).

    The length and ``num_ones`` are drawn once per dataset (as the seed does; ``num_ones`` is
    ``cfg.n_flags`` when set, with the same draws for everything else); each row's flags
    are a uniformly random ``num_ones``-subset of its real steps. The sequence is left-padded to
    ``width`` (default ``cfg.max_len``) with zero rows.

    Per-row tasks draw the length and ``num_ones`` per ROW instead (:func:`row_scalars`: the
    same four keys; ``Config.per_row_lengths`` and ``Config.flag_rule`` give the ranges); the
    values, the flags' uniforms and the flags' rule are as above, row by row.

    Returns:
      ``(X, Y, length)``: float32 ``(N, max_len, 2)`` raw values/flags, float32 ``(N, 1)`` raw
      targets, int32 ``()`` real length (``(N,)``, each row's, for ``per_row_lengths``).
    """
    return jax_dataset_from_draws(cfg, *jax_dataset_draws(cfg, key, width))


def jax_dataset_draws(cfg, key: jax.Array, width: int = None):
    """The random draws of :func:`jax_dataset_raw`: ``(length, num_ones, values, uniforms)``,
    int32 ``()``, int32 ``()`` (per-row tasks: :func:`row_scalars`), int32 ``(N, width)`` in
    ``[0, high)`` and float32 ``(N, width)`` in ``[0, 1)`` (``width``: default
    ``cfg.max_len``).

    Apart from :func:`jax_dataset_from_draws` so a caller can jit the two separately: in one
    program XLA fuses the hash that draws ``uniforms`` into each of its consumers and computes
    it twice (seen in the HLO)."""
    scalars = row_scalars if cfg.per_row_draws else dataset_scalars
    length, num_ones, value_key, flag_key = scalars(cfg, key)
    width = cfg.max_len if width is None else width
    values = jax.random.randint(value_key, (cfg.n_samples, width), 0, cfg.high)
    uniforms = jax.random.uniform(flag_key, (cfg.n_samples, width))
    return length, num_ones, values, uniforms


def dataset_scalars(cfg, key: jax.Array):
    """The per-dataset draws of :func:`jax_dataset_draws` and the keys of its per-element ones:
    ``(length, num_ones, value_key, flag_key)``: int32 ``()``, int32 ``()``, the key of the
    values' ``randint`` and the key of the flags' uniforms."""
    length_key, ones_key, value_key, flag_key = jax.random.split(key, 4)
    lo, hi = cfg.length_range
    length = jax.random.randint(length_key, (), lo, hi) if cfg.delta > 0 else jnp.int32(lo)
    num_ones = (jax.random.randint(ones_key, (), 2, jnp.minimum(length - 1, 4))
                if cfg.n_flags is None else jnp.int32(cfg.n_flags))
    return (jnp.asarray(length, jnp.int32), jnp.asarray(num_ones, jnp.int32), value_key,
            flag_key)


def row_scalars(cfg, key: jax.Array):
    """:func:`dataset_scalars` of a per-row task: ``(length, num_ones, value_key, flag_key)``
    from the same four keys, with ``num_ones`` int32 ``(N,)``: each row's count uniform in
    ``[lo, min(hi, length - slack)]`` (``Config.flag_rule``; ``n_flags``: no draw), and
    ``length`` int32 ``(N,)`` uniform in ``Config.per_row_lengths`` (without it: ``()``, the
    Config's ``seq_len``, no draw)."""
    length_key, ones_key, value_key, flag_key = jax.random.split(key, 4)
    n = cfg.n_samples
    if cfg.per_row_lengths is not None:
        shortest, longest = cfg.per_row_lengths
        length = jax.random.randint(length_key, (n,), shortest, longest + 1)
    else:
        length = jnp.int32(cfg.seq_len)
    lo, hi, slack = cfg.flag_rule
    if cfg.n_flags is not None:
        num_ones = jnp.full((n,), cfg.n_flags)
    else:
        most = jnp.broadcast_to(jnp.minimum(hi, length - slack), (n,))
        num_ones = jax.random.randint(ones_key, (n,), lo, most + 1)
    return (jnp.asarray(length, jnp.int32), jnp.asarray(num_ones, jnp.int32), value_key,
            flag_key)


def jax_dataset_from_draws(cfg, length, num_ones, values, uniforms):
    """:func:`jax_dataset_raw` from its draws (:func:`jax_dataset_draws`; the padded width is
    theirs). ``length`` and ``num_ones``: ``()`` for the dataset or ``(N,)`` per row."""
    width = values.shape[-1]
    real = valid_mask(length, width).T                     # (T,) or (N, T): left padding
    # a uniformly random subset of the real steps: the num_ones smallest of iid uniforms
    scores = jnp.where(real, uniforms, 2.0)
    flags = stable_ranks(scores) < (num_ones[:, None] if num_ones.ndim else num_ones)
    values = jnp.where(real, values, 0)
    x = jnp.stack([values.astype(jnp.float32), flags.astype(jnp.float32)], axis=-1)
    y = jnp.sum(jnp.where(flags, values, 0), axis=1, keepdims=True).astype(jnp.float32)
    return x, y, length


#: Rows up to this width are ranked by pairwise comparisons (W^2 elementwise ops, fused), wider
#: ones by two argsorts; XLA:CPU's sort of many 4-wide rows cost ~10 ms a dataset.
RANK_BY_COMPARISON_MAX = 16


def stable_ranks(scores: jax.Array) -> jax.Array:
    """Each entry's rank in its row under a stable sort: ``argsort(argsort(scores))`` exactly.

    Args:
      scores: ``(..., W)`` floats without NaN.

    Returns:
      ``(..., W)`` int32: ``#{u: s_u < s_t} + #{u < t: s_u == s_t}`` for entry ``t``.
    """
    width = scores.shape[-1]
    if width > RANK_BY_COMPARISON_MAX:
        return jnp.argsort(jnp.argsort(scores, axis=-1), axis=-1).astype(jnp.int32)
    ranks = jnp.zeros(scores.shape, jnp.int32)
    position = jnp.broadcast_to(jnp.arange(width), scores.shape)
    for u in range(width):
        other = jnp.broadcast_to(scores[..., u:u + 1], scores.shape)
        before = (other < scores) | ((other == scores) & (position > u))
        ranks = ranks + before.astype(jnp.int32)
    return ranks


def prepare(cfg, x, y, length=None) -> Dataset:
    """Raw ``(X, Y)`` (numpy or jax, unpadded or padded) -> the trainer's scaled, padded layout.

    Args:
      x: ``(N, L, 2)`` raw values and flags, ``L <= cfg.max_len`` (left-padded to max_len).
      y: ``(N, 1)`` raw targets.
      length: real length if ``x`` is already padded; default ``L``. Per-row tasks
        (``cfg.per_row_lengths``): required, ``(N,)``, each row's.
    """
    x = jnp.asarray(x, jnp.float32)
    y = jnp.asarray(y, jnp.float32)
    if x.ndim != 3 or x.shape[-1] != 2:
        raise ValueError(f"data: X must be (N, L, 2), got shape {tuple(x.shape)}")
    if y.shape != (x.shape[0], 1):
        raise ValueError(f"data: Y must be (N, 1) = ({x.shape[0]}, 1), got shape {tuple(y.shape)}")
    if x.shape[0] != cfg.n_samples:
        raise ValueError(f"data: X has {x.shape[0]} samples, Config.n_samples is {cfg.n_samples}")
    if x.shape[1] > cfg.max_len:
        raise ValueError(f"data: X has length {x.shape[1]} > Config's longest {cfg.max_len}")
    if cfg.per_row and np.shape(length) != (cfg.n_samples,):
        raise ValueError(f"data: Config.per_row_lengths={cfg.per_row_lengths} needs each row's "
                         f"length, shape ({cfg.n_samples},), got {np.shape(length)}")
    if length is None:
        length = x.shape[1]
    pad = cfg.max_len - x.shape[1]
    if pad:
        x = jnp.pad(x, ((0, 0), (pad, 0), (0, 0)))
    x = scale_inputs(x, cfg.high)
    n = cfg.n_train
    return Dataset(x[:n], y[:n] / cfg.high, x[n:], y[n:], jnp.asarray(length, jnp.int32))


def scale_inputs(x, high):
    """Raw ``(..., 2)`` (value, flag) -> what the network sees: ``(value / high, flag)``, float32.

    The one place inputs are scaled. numpy in, numpy out; jax in, jax out. numpy, and jax
    called eagerly, divide exactly (IEEE, correctly rounded): on jax arrays through a
    scatter-divide, because XLA:CPU's vectorised float32 division is not correctly rounded (15 /
    100 gives 0.14999999, not 0.15), and the seed's data (prepared eagerly) must reach the
    network as torch's division makes it. Inside ``jit`` XLA may still round the scatter's
    division differently (30 of the values 0..99 / 100 land 1 ulp off); the jax generator's
    datasets have always been made that way, so their numbers are what they always were.
    """
    if isinstance(x, jax.Array):
        return jnp.asarray(x, jnp.float32).at[..., 0].divide(high)
    x = np.array(x, np.float32)
    x[..., 0] /= np.float32(high)
    return x


def stage_datasets(cfg, key: jax.Array) -> Dataset:
    """A curriculum's datasets for one seed: ``(K + 1, ...)`` leaves, stages ``0..K-1`` then
    the Config's own task (whose test part is the test set), all padded to ``cfg.max_len``.

    A stage of exactly the Config's task (``seq_len`` and ``n_flags``) is the Config's own
    dataset (``key``); stage ``k`` of another task draws from ``fold_in(key, k + 1)``.
    """
    final = prepare(cfg, *jax_dataset_raw(cfg, key))
    parts = []
    for stage in range(len(cfg.curriculum)):
        task = cfg.stage_task(stage)
        if (task.seq_len, task.n_flags) == (cfg.seq_len, cfg.n_flags):
            parts.append(final)
        else:
            parts.append(prepare(cfg, *jax_dataset_raw(task, jax.random.fold_in(key, stage + 1),
                                                       cfg.max_len)))
    return jax.tree_util.tree_map(lambda *a: jnp.stack(a), *parts, final)


def valid_mask(length: jax.Array, width: int) -> jax.Array:
    """True on the last ``length`` steps (the real ones): ``(T,)`` bool for a scalar
    ``length``, ``(T, *batch)`` (time first, as :func:`gru_jax.model.forward_columns` takes it)
    for per-row lengths ``(*batch)``."""
    length = jnp.asarray(length)
    if length.ndim == 0:
        return jnp.arange(width) >= width - length
    steps = jnp.arange(width).reshape((width,) + (1,) * length.ndim)
    return steps >= (width - length)[None]


def split_lengths(cfg, length: jax.Array):
    """A Dataset's ``length`` as ``(train, test)``: per-row lengths ``(n_samples,)`` cut at
    ``n_train``; a scalar length is both."""
    if not cfg.per_row:
        return length, length
    return length[..., :cfg.n_train], length[..., cfg.n_train:]


# ---- batch order -----------------------------------------------------------------------------
_INDEX_BITS_MAX = 31


def _mix32(x: jax.Array) -> jax.Array:
    """A 32-bit integer hash (lowbias32: xorshift-multiply, full avalanche)."""
    x = x ^ (x >> 16)
    x = x * jnp.uint32(0x7FEB352D)
    x = x ^ (x >> 15)
    x = x * jnp.uint32(0x846CA68B)
    return x ^ (x >> 16)


def index_bits(n: int) -> int:
    return max(1, int(n - 1).bit_length())


def order_words(key: jax.Array) -> jax.Array:
    """The two random ``uint32`` words an epoch's shuffle hashes with the positions, ``(2,)``."""
    return jax.random.bits(key, (2,), jnp.uint32)


def next_order(previous: jax.Array, key: jax.Array) -> jax.Array:
    """The next epoch's sample order: ``previous`` composed with a fresh random permutation.

    A uniformly random permutation composed with ANY independent permutation is uniformly
    random, so if ``previous`` is uniform (the trainer starts from ``jax.random.permutation``),
    every epoch's order is exactly uniform, like DataLoader's ``shuffle=True``. The fresh
    permutation sorts positions by 32-bit keys whose high bits are random and whose low
    ``ceil(log2 n)`` bits are the position itself: one single-operand sort, the cheapest exact
    sort XLA offers, with no ties. Consecutive epochs are independent except through the rare
    equal random parts (about ``n^2 / 2^(33 - log2 n)`` pairs an epoch), whose relative order
    carries over from the previous epoch.

    Args:
      previous: ``(n,)`` int32, the last order (a permutation of ``0..n-1``).
      key: PRNG key for this epoch.

    Returns:
      ``(n,)`` int32 permutation.
    """
    n = previous.shape[0]
    bits = index_bits(n)
    words = order_words(key)
    positions = jnp.arange(n, dtype=jnp.uint32)
    random = _mix32(_mix32(positions * jnp.uint32(0x9E3779B9) ^ words[0]) + words[1])
    keys = (random & ~jnp.uint32((1 << bits) - 1)) | positions
    order = (jax.lax.sort(keys) & jnp.uint32((1 << bits) - 1)).astype(jnp.int32)
    return previous[order]


#: The first order of a seed is ``permutation(fold_in(order_key, FIRST_ORDER_FOLD), n_train)``.
FIRST_ORDER_FOLD = 2**31 - 1


def first_order(order_key: jax.Array, n: int) -> jax.Array:
    """A seed's first sample order (before epoch 0's :func:`next_order`): ``(n,)`` int32,
    ``jax.random.permutation(fold_in(order_key, FIRST_ORDER_FOLD), n)``."""
    key = jax.random.fold_in(order_key, FIRST_ORDER_FOLD)
    return jax.random.permutation(key, n).astype(jnp.int32)


def first_orders(order_keys, n: int) -> jax.Array:
    """:func:`first_order` for every seed, the same permutations bit for bit.

    On CPUs the permutation's sorts run in numpy: ``jax.random.permutation`` is a few rounds of
    a stable two-operand sort by random 32-bit words, which XLA:CPU runs at ~5 ms a seed for
    8,000 samples (loaded machine). Here the words come from one jitted draw
    (:data:`gru_jax.prng.FAST_THREEFRY`) and each round is one numpy sort of 64-bit keys
    ``word << bits | position``: distinct keys, so their order is the stable sort's.

    Args:
      order_keys: ``(S, 2)`` uint32 raw order-stream keys.
      n: samples to permute.

    Returns:
      ``(S, n)`` int32.
    """
    if jax.default_backend() != "cpu":
        return _first_orders_device(n)(order_keys)
    if shuffle_rounds(n) == 0:                                   # n <= 1: nothing to permute
        return jnp.zeros((np.shape(order_keys)[0], n), jnp.int32)
    words = np.asarray(shuffle_words(n)(order_keys))            # (S, rounds, n) uint32
    bits = np.uint64(index_bits(n))
    positions = np.arange(n, dtype=np.uint64)
    order = None
    for round_index in range(words.shape[1]):                     # in place: 64 KB a seed
        packed = words[:, round_index].astype(np.uint64)
        packed <<= bits
        packed |= positions
        packed.sort(axis=1)
        packed &= (np.uint64(1) << bits) - np.uint64(1)
        perm = packed.astype(np.int32)                             # this round's stable argsort
        order = perm if order is None else np.take_along_axis(order, perm, axis=1)
    return jnp.asarray(order)


def shuffle_rounds(n: int) -> int:
    """Rounds of ``jax.random.permutation``'s sort shuffle for ``n`` elements (its formula)."""
    return int(np.ceil(3 * np.log(max(1, n)) / np.log(np.iinfo(np.uint32).max)))


def shuffle_keys(key: jax.Array, n: int) -> list:
    """The keys of the rounds of ``permutation(fold_in(key, FIRST_ORDER_FOLD), n)``'s sort
    shuffle, in order (:func:`shuffle_rounds` of them); round ``r`` sorts by
    ``jax.random.bits(keys[r], (n,), uint32)``."""
    key = jax.random.fold_in(key, FIRST_ORDER_FOLD)
    keys = []
    for _ in range(shuffle_rounds(n)):
        key, subkey = jax.random.split(key)
        keys.append(subkey)
    return keys


@functools.lru_cache(maxsize=8)
def shuffle_words(n: int):
    """Jitted ``(S, 2) keys -> (S, rounds, n)`` uint32: the sort words of each round of
    ``permutation(fold_in(key, FIRST_ORDER_FOLD), n)``, drawn as jax.random draws them."""
    def words(key_data):
        return jnp.stack([jax.random.bits(k, (n,), jnp.uint32)
                          for k in shuffle_keys(fast_key(key_data), n)])

    return jax.jit(jax.vmap(words))


@functools.lru_cache(maxsize=8)
def _first_orders_device(n: int):
    return jax.jit(jax.vmap(lambda k: first_order(jax.random.wrap_key_data(k), n)))


@functools.lru_cache(maxsize=16)
def jax_datasets_fn(cfg, per_seed: bool):
    """Jitted jax-generator datasets from raw data keys: ``(S, 2)`` keys -> the seeds'
    :class:`Dataset` ``(S, ...)`` (``per_seed``), or one ``(2,)`` key -> one Dataset. Keys go
    through :func:`gru_jax.prng.fast_key` (the same numbers, faster); a curriculum's datasets
    (:func:`stage_datasets`) are made in one program. Cached per Config, so repeated calls
    reuse it. (On CPUs the native engine makes the same numbers by its kernel:
    :func:`gru_jax.native.draws.datasets_fn`.)"""
    if cfg.curriculum is not None:
        make = lambda k: stage_datasets(cfg, fast_key(k))
        return jax.jit(jax.vmap(make) if per_seed else make)
    draws = lambda k: jax_dataset_draws(cfg, fast_key(k))
    finish = lambda *d: prepare(cfg, *jax_dataset_from_draws(cfg, *d))
    if per_seed:
        draws, finish = jax.vmap(draws), jax.vmap(finish)
    draws, finish = jax.jit(draws), jax.jit(finish)
    return lambda keys: finish(*draws(keys))
