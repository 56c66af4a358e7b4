"""The experiment's configuration: a frozen dataclass whose defaults ARE the blog's protocol.

Every field is validated on construction; an impossible value raises ``ValueError`` naming the
field and the allowed range. ``dataclasses.replace`` makes variants; ``to_json``/``from_json``
round-trip it beside every run.
"""
from __future__ import annotations

import dataclasses
import json
import math
import numbers
from typing import Any, Optional

DATA_GENERATORS = ("jax", "numpy")
#: What the LR schedule does at a curriculum stage's first epoch (Config.curriculum_schedule).
CURRICULUM_SCHEDULES = ("continue", "reset")
#: How a step's loss and gradient are computed (``train(engine=...)``, ``--engine``; the
#: engines themselves are :mod:`gru_jax.engines`). Here, beside the Config's own vocabularies,
#: so that the command line offers them without importing JAX.
ENGINES = ("auto", "xla", "native")
#: The largest ``high``: the jax generator draws the values as int32.
MAX_HIGH = 2**31 - 1


@dataclasses.dataclass(frozen=True)
class Config:
    """The adding-problem experiment (defaults = the seed blog's protocol).

    Data: ``n_samples`` sequences of length ``seq_len``; each step is ``(value, flag)`` with
    integer values in ``[0, high)``; the target is the sum of the flagged values. The first
    ``train_split`` fraction trains, the rest tests.

    Lengths: ``delta > 0`` is the blog's per-DATASET length spread: ONE length, drawn in
    ``[int(seq_len(1-delta)), int(seq_len(1+delta)))``, for the whole dataset (every row of a
    seed's data has that length; seeds differ). ``per_row_lengths=(lo, hi)`` varies the length
    per ROW: each row's real length is uniform in ``[lo, hi]`` (inclusive, ``hi <= seq_len``),
    and the row is left-padded with zero steps (value 0, flag 0) to ``seq_len``, the padded
    width; padded steps are skipped by the model (``h`` unchanged), row by row.
    ``per_row_flags=(lo, hi)``: each row's flag count is uniform in ``[lo, min(hi, L)]`` for
    its real length ``L``, the flags at a uniformly random subset of its real steps. Without
    ``per_row_flags`` a per-row-length row has ``n_flags`` flags if set, else the seed's rule
    drawn per row, ``randint(2, min(L - 1, 4))`` (so then every length must be ``>= 4``). Both
    fields need ``delta = 0`` and no curriculum (:func:`gru_jax.data.jax_dataset_raw` and
    :func:`gru_jax.data.numpy_dataset_raw` give each generator's draw order).

    Randomness: each seed ``s`` derives three independent streams (init, data, batch order).
    Setting ``init_seed``, ``data_seed`` or ``order_seed`` holds that stream fixed across the
    whole ensemble (e.g. ``data_seed=0, order_seed=0``: same data and order, different inits).
    ``data_generator`` picks the numpy generator that reproduces the seed's data exactly
    (``np.random.seed(s)``; slow, ~0.1 s per dataset) or the jax.random one of the same
    distribution (fast, on device).

    Flags: ``n_flags`` fixes the number of flagged steps per sequence (default: the seed's
    rule, 2 at length 4). Curriculum: ``curriculum=((0, 2, 2), (500, 3, 2), (1000, 4, 2))``
    trains epochs 0-499 on length-2 sequences with 2 flags, 500-999 on length 3, then length
    4; every stage has ``n_samples`` sequences, left-padded to :attr:`max_len` (padding steps
    are skipped). The test loss and the LR schedule always use the Config's own task
    (``seq_len``, ``n_flags``); a stage of exactly that task trains on the Config's own
    training set, so a one-stage curriculum of the Config's task is no curriculum. The plateau
    schedule watches that test loss through every stage; ``curriculum_schedule="reset"``
    restarts it at each later stage's first epoch (else the early stages, whose training does
    not lower the final task's test loss, spend the learning rate before the final task).
    """

    # data
    seq_len: int = 4
    high: int = 100
    delta: float = 0.0
    n_samples: int = 10000
    train_split: float = 0.8
    data_generator: str = "jax"
    #: flags per sequence; None: the seed's rule, ``randint(2, min(L - 1, 4))`` per dataset
    n_flags: Optional[int] = None
    #: stages ``((from_epoch, seq_len, n_flags), ...)``: from ``from_epoch`` on, training uses
    #: a dataset of that length and flag count (the test set stays the Config's own task)
    curriculum: Optional[tuple] = None
    #: ``(lo, hi)``: each row's real length uniform in ``[lo, hi]``, left-padded to seq_len
    per_row_lengths: Optional[tuple[int, int]] = None
    #: ``(lo, hi)``: each row's flag count uniform in ``[lo, min(hi, its length)]``
    per_row_flags: Optional[tuple[int, int]] = None
    #: the LR schedule at a curriculum stage's first epoch: ``"continue"`` it, or ``"reset"``
    #: the plateau schedule (LR back to learning_rate, best loss and patience cleared; Adam's
    #: moments are kept)
    curriculum_schedule: str = "continue"
    # model
    input_size: int = 2
    hidden_size: int = 1
    output_size: int = 1
    # optimisation
    batch_size: int = 256
    learning_rate: float = 1e-4
    beta1: float = 0.9
    beta2: float = 0.999
    eps: float = 1e-8
    weight_decay: float = 1e-5
    clip: float = 2.0
    epochs: int = 3000
    # evaluation, snapshots and the plateau schedule (stepped only at eval epochs)
    eval_every: int = 49
    plateau_factor: float = 0.5
    plateau_patience: int = 5
    plateau_threshold: float = 1e-4
    plateau_cooldown: int = 0
    min_lr: float = 1e-6
    # randomness: None = derived from each seed; an int = fixed across the ensemble
    init_seed: Optional[int] = None
    data_seed: Optional[int] = None
    order_seed: Optional[int] = None

    def __post_init__(self):
        _normalise_types(self)
        if self.n_flags is not None:
            _check_int(self, "n_flags", 1)
            _check_int(self, "seq_len", self.n_flags, note=f"n_flags={self.n_flags} flags a "
                                                           "sequence")
        elif self.per_row_flags is not None:
            _check_int(self, "seq_len", 1)
        else:
            _check_int(self, "seq_len", 4,
                       note="the flag rule randint(2, min(L-1, 4)) needs L >= 4; or set n_flags")
        _check_int(self, "high", 1)
        if self.high > MAX_HIGH:
            raise ValueError(f"Config.high must be an int in [1, {MAX_HIGH}] (the jax "
                             f"generator draws int32 values), got {self.high!r}")
        if not (0.0 <= self.delta < 1.0):
            raise ValueError(f"Config.delta must be in [0, 1), got {self.delta!r}")
        if self.delta > 0:
            lo, hi = self.length_range
            shortest = 4 if self.n_flags is None else self.n_flags
            if lo < shortest or hi <= lo:
                raise ValueError(
                    f"Config.delta={self.delta} with seq_len={self.seq_len} gives lengths "
                    f"[{lo}, {hi}); need the lowest length >= {shortest} and a non-empty range")
        _check_per_row(self)
        _check_int(self, "n_samples", 2)
        if not (0.0 < self.train_split < 1.0):
            raise ValueError(f"Config.train_split must be in (0, 1), got {self.train_split!r}")
        if self.n_train < 1 or self.n_test < 1:
            raise ValueError(
                f"Config.train_split={self.train_split} with n_samples={self.n_samples} leaves "
                f"{self.n_train} train and {self.n_test} test samples; both must be >= 1")
        if self.data_generator not in DATA_GENERATORS:
            raise ValueError(f"Config.data_generator must be one of {DATA_GENERATORS}, "
                             f"got {self.data_generator!r}")
        if self.input_size != 2:
            raise ValueError(f"Config.input_size must be 2 (value, flag) for the adding problem, "
                             f"got {self.input_size!r}")
        _check_int(self, "hidden_size", 1)
        _check_int(self, "output_size", 1)
        if self.output_size != 1:
            raise ValueError(f"Config.output_size must be 1 (the sum), got {self.output_size!r}")
        _check_int(self, "batch_size", 1)
        _check_positive(self, "learning_rate")
        for name in ("beta1", "beta2"):
            value = getattr(self, name)
            if not (0.0 <= value < 1.0):
                raise ValueError(f"Config.{name} must be in [0, 1), got {value!r}")
        _check_positive(self, "eps")
        if not (self.weight_decay >= 0.0 and math.isfinite(self.weight_decay)):
            raise ValueError(f"Config.weight_decay must be >= 0, got {self.weight_decay!r}")
        _check_positive(self, "clip")
        _check_int(self, "epochs", 1)
        _check_int(self, "eval_every", 1)
        if not (0.0 < self.plateau_factor < 1.0):
            raise ValueError(f"Config.plateau_factor must be in (0, 1), "
                             f"got {self.plateau_factor!r}")
        _check_int(self, "plateau_patience", 0)
        if not (self.plateau_threshold >= 0.0):
            raise ValueError(f"Config.plateau_threshold must be >= 0, "
                             f"got {self.plateau_threshold!r}")
        _check_int(self, "plateau_cooldown", 0)
        if not (0.0 <= self.min_lr <= self.learning_rate):
            raise ValueError(f"Config.min_lr must be in [0, learning_rate={self.learning_rate}], "
                             f"got {self.min_lr!r}")
        _check_curriculum(self)
        for name in ("init_seed", "data_seed", "order_seed"):
            value = getattr(self, name)
            if value is not None and (isinstance(value, bool) or not isinstance(value, int)
                                      or not 0 <= value < 2**32):
                raise ValueError(f"Config.{name} must be None or an int in [0, 2**32), "
                                 f"got {value!r}")

    # ---- derived values -------------------------------------------------------------------
    @property
    def n_train(self) -> int:
        """Training samples: ``int(train_split * n_samples)``, as the seed computes it."""
        return int(self.train_split * self.n_samples)

    @property
    def n_test(self) -> int:
        return self.n_samples - self.n_train

    @property
    def length_range(self) -> tuple[int, int]:
        """``[low, high)`` of the per-dataset sequence length (both = seq_len when delta = 0)."""
        if self.delta == 0:
            return self.seq_len, self.seq_len + 1
        return int(self.seq_len * (1 - self.delta)), int(self.seq_len * (1 + self.delta))

    @property
    def per_row(self) -> bool:
        """Do the rows of one dataset differ in length (``per_row_lengths``)? Then every
        dataset carries each row's length and the padding is masked row by row."""
        return self.per_row_lengths is not None

    @property
    def per_row_draws(self) -> bool:
        """Are lengths or flag counts drawn row by row (``per_row_lengths`` or
        ``per_row_flags``)? Then the generators follow the per-row rule (no per-dataset draws)."""
        return self.per_row_lengths is not None or self.per_row_flags is not None

    @property
    def flag_rule(self) -> tuple[int, int, int]:
        """The per-row flag count, ``(lo, hi, slack)``: a row of real length ``L`` has a count
        uniform in ``[lo, min(hi, L - slack)]`` (inclusive). ``per_row_flags=(a, b)``: ``(a,
        b, 0)``; ``n_flags=k``: ``(k, k, 0)``; neither: the seed's ``randint(2, min(L - 1,
        4))``, ``(2, 3, 2)``."""
        if self.per_row_flags is not None:
            return self.per_row_flags + (0,)
        if self.n_flags is not None:
            return self.n_flags, self.n_flags, 0
        return 2, 3, 2

    @property
    def max_len(self) -> int:
        """Padded time length: the longest sequence any dataset of this config (or a stage of
        its curriculum) can have."""
        stages = [length for _, length, _ in self.curriculum or ()]
        return max([self.length_range[1] - 1] + stages)

    @property
    def variable_length(self) -> bool:
        """May a dataset be shorter than :attr:`max_len` (then padding steps are masked)?"""
        stages = [length for _, length, _ in self.curriculum or ()]
        return (self.delta > 0 or self.per_row
                or any(length != self.max_len for length in stages + [self.seq_len]))

    def stage_task(self, stage: int) -> "Config":
        """The task of curriculum stage ``stage``: this Config with that stage's ``seq_len``
        and ``n_flags`` and no curriculum (its data are padded to this Config's max_len)."""
        _, length, flags = self.curriculum[stage]
        return dataclasses.replace(self, seq_len=length, n_flags=flags, curriculum=None,
                                   curriculum_schedule="continue")

    @property
    def eval_epochs(self) -> tuple[int, ...]:
        """Epochs (0-based) after whose training the test loss, LR step and snapshot happen."""
        return tuple(range(0, self.epochs, self.eval_every))

    @property
    def n_eval(self) -> int:
        return len(self.eval_epochs)

    @property
    def batch_sizes(self) -> tuple[int, ...]:
        """Sizes of the optimizer steps of one epoch: full batches, then the remainder."""
        full, rest = divmod(self.n_train, self.batch_size)
        return (self.batch_size,) * full + ((rest,) if rest else ())

    # ---- JSON -----------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, sort_keys=True)

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> "Config":
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ValueError(f"unknown Config field(s) {unknown}; known fields: {sorted(known)}")
        return cls(**values)

    @classmethod
    def from_json(cls, text: str) -> "Config":
        return cls.from_dict(json.loads(text))


#: The Config fields a member may vary inside one compiled program: the optimizer's and the
#: plateau schedule's constants (they change no shape). A program reads them per member from a
#: :class:`gru_jax.optim.Hyper`, never from a Config.
MEMBER_FIELDS = ("learning_rate", "weight_decay", "clip", "beta1", "beta2", "eps",
                 "plateau_factor", "plateau_patience", "plateau_threshold", "plateau_cooldown",
                 "min_lr")


class ProgramConfig:
    """A Config less its per-member fields (:data:`MEMBER_FIELDS`): what every member of one
    compiled program shares (shapes, data, epochs, curriculum, eval period, fixed streams).

    Reads every other field and derived value of the Config it is made from (``n_train``,
    ``max_len``, ``eval_epochs``, ...); reading a per-member field raises AttributeError, so
    code inside a program cannot take a member's learning rate from the wrong object. Hashable
    and frozen: Configs that differ only in per-member fields give equal ProgramConfigs (one
    compiled program, one Engine).
    """

    __slots__ = ("_config",)

    def __init__(self, cfg: Config):
        defaults = {f.name: f.default for f in dataclasses.fields(Config)
                    if f.name in MEMBER_FIELDS}
        object.__setattr__(self, "_config", dataclasses.replace(cfg, **defaults))

    def __getattr__(self, name: str):
        if name in MEMBER_FIELDS:
            raise AttributeError(f"{name} is a per-member field: a program reads it from each "
                                 f"member's gru_jax.optim.Hyper, not from its ProgramConfig")
        return getattr(object.__getattribute__(self, "_config"), name)

    def __setattr__(self, name: str, value) -> None:
        raise dataclasses.FrozenInstanceError(f"ProgramConfig is frozen: cannot set {name}")

    def __eq__(self, other) -> bool:
        return isinstance(other, ProgramConfig) and self._config == other._config

    def __hash__(self) -> int:
        return hash(self._config)

    def __repr__(self) -> str:
        fields = ", ".join(f"{f.name}={getattr(self._config, f.name)!r}"
                           for f in dataclasses.fields(Config) if f.name not in MEMBER_FIELDS)
        return f"ProgramConfig({fields})"


#: One line per field: what it means (the CLI's option help).
FIELD_HELP = {
    "seq_len": "sequence length L (>= 4)", "high": "values are integers in [0, high)",
    "delta": "per-dataset length spread: ONE length per dataset (every row), drawn in "
             "[int(L(1-d)), int(L(1+d))); for lengths that vary row by row see "
             "--per-row-lengths",
    "n_samples": "sequences per dataset", "train_split": "fraction used for training",
    "data_generator": "jax: fast, on the device; numpy: the seed's exact generator",
    "input_size": "inputs per step (value, flag)", "hidden_size": "GRU hidden units H",
    "output_size": "outputs (the sum)",
    "batch_size": "samples per optimizer step", "learning_rate": "Adam's initial lr",
    "beta1": "Adam's first-moment decay", "beta2": "Adam's second-moment decay",
    "eps": "Adam's denominator epsilon",
    "weight_decay": "coupled L2 (torch Adam weight_decay)", "clip": "max global grad norm",
    "epochs": "epochs to train", "eval_every": "test loss, LR step and snapshot every N epochs",
    "plateau_factor": "LR multiplier when the test loss plateaus",
    "plateau_patience": "eval steps without improvement before the LR drops",
    "plateau_threshold": "relative improvement that counts (ReduceLROnPlateau 'rel' mode)",
    "plateau_cooldown": "eval steps to wait after an LR drop",
    "min_lr": "the LR never drops below this",
    "init_seed": "fix the init stream across the ensemble",
    "data_seed": "fix the data stream across the ensemble",
    "order_seed": "fix the batch-order stream across the ensemble",
    "n_flags": "flags per sequence (default: the seed's rule, 2 at length 4)",
    "curriculum": "stages FROM:LEN:FLAGS,... (e.g. 0:2:2,500:3:2,1000:4:2): training data "
                  "per epoch range; the test set stays the Config's task",
    "per_row_lengths": "LO,HI: each row's own length, uniform in [LO, HI] (HI <= seq_len), "
                       "left-padded to seq_len; padding steps are skipped row by row",
    "per_row_flags": "LO,HI: each row's own flag count, uniform in [LO, min(HI, row length)] "
                     "(default with --per-row-lengths: n_flags, else the seed's rule per row)",
    "curriculum_schedule": "at each curriculum stage, continue the plateau schedule or reset "
                           "it (LR back to learning_rate)",
}


#: The allowed values of the enumerated fields (the CLI's ``choices``).
FIELD_CHOICES = {"data_generator": DATA_GENERATORS, "curriculum_schedule": CURRICULUM_SCHEDULES}
#: Fields with one valid value in the adding problem (2 inputs: value and flag; 1 output: the
#: sum): kept on the Config for the layout's sake, offered by no command-line option.
FIXED_FIELDS = ("input_size", "output_size")


#: What each field's annotation allows: Python and numpy scalars of that kind (bool never).
_KINDS = {"int": (numbers.Integral, int, "an int"), "float": (numbers.Real, float, "a number"),
          "str": (str, str, "a string"), "Optional[int]": (numbers.Integral, int, "None or an int"),
          "Optional[tuple]": ((tuple, list), lambda v: v, "None or a tuple of stages"),
          "Optional[tuple[int, int]]": ((tuple, list), lambda v: v, "None or (lo, hi), two ints")}
#: Fields whose value is an inclusive ``(lo, hi)`` range of ints (CLI: ``LO,HI``).
RANGE_FIELDS = ("per_row_lengths", "per_row_flags")


def _check_curriculum(cfg: Config) -> None:
    """``curriculum``: None, or stages ``(from_epoch, seq_len, n_flags)`` of ints, the first
    from epoch 0, strictly increasing and below ``epochs``, each ``1 <= n_flags <= seq_len``;
    only with ``delta = 0`` and the jax generator. Normalised to a tuple of int tuples (so a
    Config read back from JSON's lists is equal to the one written)."""
    if cfg.curriculum_schedule not in CURRICULUM_SCHEDULES:
        raise ValueError(f"Config.curriculum_schedule must be one of {CURRICULUM_SCHEDULES}, "
                         f"got {cfg.curriculum_schedule!r}")
    if cfg.curriculum is None:
        if cfg.curriculum_schedule != "continue":
            raise ValueError(f"Config.curriculum_schedule={cfg.curriculum_schedule!r} needs a "
                             "curriculum (Config.curriculum is None)")
        return
    prefix = f"Config.curriculum={cfg.curriculum!r}"
    stages = []
    for stage in cfg.curriculum:
        if (not isinstance(stage, (tuple, list)) or len(stage) != 3 or not all(
                isinstance(v, numbers.Integral) and not isinstance(v, bool) for v in stage)):
            raise ValueError(f"{prefix}: each stage must be (from_epoch, seq_len, n_flags) "
                             f"ints, got {stage!r}")
        stages.append(tuple(int(v) for v in stage))
    if not stages:
        raise ValueError(f"{prefix}: give at least one stage, or None for no curriculum")
    starts = [start for start, _, _ in stages]
    if starts[0] != 0 or any(b <= a for a, b in zip(starts, starts[1:])):
        raise ValueError(f"{prefix}: from_epoch must start at 0 and increase strictly, got "
                         f"{starts}")
    if starts[-1] >= cfg.epochs:
        raise ValueError(f"{prefix}: stage from epoch {starts[-1]} is past the last epoch "
                         f"({cfg.epochs - 1})")
    for start, length, flags in stages:
        if not 1 <= flags <= length:
            raise ValueError(f"{prefix}: the stage from epoch {start} needs 1 <= n_flags <= "
                             f"seq_len, got seq_len={length}, n_flags={flags}")
    if cfg.delta > 0:
        raise ValueError(f"{prefix}: a curriculum sets each stage's length; it needs delta=0, "
                         f"got delta={cfg.delta}")
    if cfg.data_generator != "jax":
        raise ValueError(f"{prefix}: a curriculum's stages are drawn by the jax generator; it "
                         f"needs data_generator='jax', got {cfg.data_generator!r}")
    object.__setattr__(cfg, "curriculum", tuple(stages))


def _check_per_row(cfg: Config) -> None:
    """``per_row_lengths`` and ``per_row_flags``: None, or ``(lo, hi)`` ints with ``1 <= lo <=
    hi``; lengths ``hi <= seq_len``; flags ``lo <=`` the shortest length (every row can hold
    them), ``hi <=`` the longest, and not with ``n_flags``; without either flag field the seed's
    rule needs every length ``>= 4``; only with ``delta = 0`` and no curriculum. Normalised to
    a tuple of two ints (so a Config read back from JSON's lists is equal to the one written).
    """
    for name in ("per_row_lengths", "per_row_flags"):
        value = getattr(cfg, name)
        if value is None:
            continue
        if (len(value) != 2 or not all(isinstance(v, numbers.Integral)
                                       and not isinstance(v, bool) for v in value)
                or not 1 <= value[0] <= value[1]):
            raise ValueError(f"Config.{name} must be None or (lo, hi), two ints with 1 <= lo "
                             f"<= hi, got {value!r}")
        object.__setattr__(cfg, name, (int(value[0]), int(value[1])))
    lengths, flags = cfg.per_row_lengths, cfg.per_row_flags
    if lengths is not None and lengths[1] > cfg.seq_len:
        raise ValueError(f"Config.per_row_lengths={lengths}: hi must be <= seq_len="
                         f"{cfg.seq_len} (the padded width); raise seq_len to {lengths[1]}")
    shortest, longest = lengths or (cfg.seq_len, cfg.seq_len)
    if flags is not None:
        if cfg.n_flags is not None:
            raise ValueError(f"Config.per_row_flags={flags} sets the flag count per row; "
                             f"n_flags must be None, got n_flags={cfg.n_flags}")
        if flags[0] > shortest or flags[1] > longest:
            raise ValueError(f"Config.per_row_flags={flags} must lie in [1, {longest}] with lo "
                             f"<= {shortest}: lo flags must fit the shortest row (length "
                             f"{shortest}), hi at most the longest ({longest})")
    elif lengths is not None:
        if cfg.n_flags is not None and cfg.n_flags > shortest:
            raise ValueError(f"Config.per_row_lengths={lengths}: n_flags={cfg.n_flags} flags "
                             f"every row, so lo must be >= {cfg.n_flags}")
        if cfg.n_flags is None and shortest < 4:
            raise ValueError(f"Config.per_row_lengths={lengths}: the seed's flag rule "
                             f"randint(2, min(L-1, 4)) needs every length >= 4; raise lo to 4 "
                             f"or set per_row_flags (or n_flags)")
    if lengths is None and flags is None:
        return
    name = "per_row_lengths" if lengths is not None else "per_row_flags"
    if cfg.delta > 0:
        raise ValueError(f"Config.{name}={getattr(cfg, name)} varies rows within a dataset; "
                         f"it needs delta=0 (delta is the per-dataset spread), got "
                         f"delta={cfg.delta}")
    if cfg.curriculum is not None:
        raise ValueError(f"Config.{name}={getattr(cfg, name)} cannot be combined with a "
                         f"curriculum (Config.curriculum={cfg.curriculum!r})")


def parse_range(text: str, name: str) -> Optional[tuple]:
    """``"2,16"`` (the CLI's ``LO,HI``) or ``"none"`` -> the value of the range field
    ``name`` (``per_row_lengths``, ``per_row_flags``). ValueError naming the field otherwise."""
    if text.strip().lower() == "none":
        return None
    words = text.split(",")
    try:
        if len(words) != 2:
            raise ValueError
        return tuple(int(word) for word in words)
    except ValueError:
        raise ValueError(f"Config.{name} must be LO,HI (two ints, e.g. 2,16) or none, got "
                         f"{text!r}") from None


def parse_curriculum(text: str) -> Optional[tuple]:
    """``"0:2:2,500:3:2,1000:4:2"`` (from_epoch:seq_len:n_flags stages; the CLI's form) or
    ``"none"`` -> the ``curriculum`` value. ValueError naming the field otherwise."""
    if text.strip().lower() == "none":
        return None
    try:
        return tuple(tuple(int(v) for v in stage.split(":")) for stage in text.split(",")
                     if stage.strip())
    except ValueError:
        raise ValueError(f"Config.curriculum must be stages FROM:LEN:FLAGS separated by commas "
                         f"(e.g. 0:2:2,500:4:2), got {text!r}") from None


def _normalise_types(cfg: Config) -> None:
    """Every field of its annotated kind, numpy scalars turned into Python ones (so the Config
    hashes, compares and writes JSON like one built from Python values); ValueError naming the
    field, the value and its type otherwise."""
    for field in dataclasses.fields(cfg):
        value = getattr(cfg, field.name)
        kind, convert, allowed = _KINDS[field.type]
        if value is None and field.type.startswith("Optional"):
            continue
        if type(value).__name__ in ("bool", "bool_") or not isinstance(value, kind):
            raise ValueError(f"Config.{field.name} must be {allowed}, got {value!r} "
                             f"({type(value).__name__})")
        object.__setattr__(cfg, field.name, convert(value))


def is_int(value) -> bool:
    """An integer of Python or numpy, not a bool (numpy's bool is not an Integral)."""
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def _check_int(cfg: Config, name: str, minimum: int, note: str = "") -> None:
    value = getattr(cfg, name)
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        extra = f" ({note})" if note else ""
        raise ValueError(f"Config.{name} must be an int >= {minimum}{extra}, got {value!r}")


def _check_positive(cfg: Config, name: str) -> None:
    value = getattr(cfg, name)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not (
            value > 0 and math.isfinite(value)):
        raise ValueError(f"Config.{name} must be a finite number > 0, got {value!r}")
