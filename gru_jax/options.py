"""How a training runs on the host: one frozen :class:`TrainOptions` (no JAX needed).

Training takes three values, each of its own type:

- what is compiled: :class:`gru_jax.program.ProgramSpec` (shapes, epochs, curriculum, engine;
  the compile-cache key, no per-member field on it);
- what each member varies: :class:`gru_jax.optim.Hyper` (learning rate, weight decay, ...,
  arrays with a member axis);
- how the host drives it: :class:`TrainOptions` (engine choice, chunk length, seeds at once,
  losses kept, progress, provenance, ...), this module.

:func:`gru_jax.train`, :func:`gru_jax.sweep` and :func:`gru_jax.distributed.train_distributed`
take the options as keywords or as one object (``options=``); the command line builds the
object once and passes it on.
"""
from __future__ import annotations

import dataclasses
import math
import numbers
from typing import Any, Callable, Optional, Union

__all__ = ["TrainOptions", "check_count", "default_chunk_epochs", "options_of"]


def check_count(name: str, value, allow_none: bool = False) -> Optional[int]:
    """An int >= 1 (Python or numpy) -> int; None passes when ``allow_none``; ValueError
    naming ``name`` otherwise."""
    if value is None and allow_none:
        return None
    if not isinstance(value, numbers.Integral) or isinstance(value, bool) or value < 1:
        raise ValueError(f"train: {name} must be an int >= 1, got {value!r}")
    return int(value)


def default_chunk_epochs(cfg) -> int:
    """About 20 chunks a run, a whole number of eval periods, at most ``epochs``."""
    periods = max(1, math.ceil(cfg.epochs / 20 / cfg.eval_every))
    return min(cfg.epochs, periods * cfg.eval_every)


@dataclasses.dataclass(frozen=True)
class TrainOptions:
    """How the host drives a training (none of it changes a number).

    Attributes:
      engine: ``"auto"``, ``"xla"`` or ``"native"`` (:func:`gru_jax.engines.resolve_engine`);
        the Run records which one trained it.
      chunk_epochs: epochs per compiled chunk and checkpoint (None: about 20 chunks a run,
        :func:`default_chunk_epochs`).
      seed_batch: most seeds (in a sweep: members, cells x seeds) trained at once; more train
        in consecutive batches with the same results (None: what fits half the device's
        memory, :func:`gru_jax.train.auto_seed_batch`).
      loss_every: in a run directory, keep the training loss every ``loss_every`` epochs (and
        the last); the returned Run holds all.
      progress: show a progress bar (seed-epochs, rate, ETA), or a callable
        ``advance(seed_epochs)`` called after every chunk (a caller's own bar).
      mesh: a ``jax.sharding.Mesh`` with axis "seeds" (None: all local devices).
      on_chunk: called with the epochs finished after each chunk (tests use it).
      provenance: what ``run.json`` records about versions, devices, host and command (None:
        :func:`gru_jax.provenance.collect` when training starts).
      command: the command line that provenance records (None: ``sys.argv``).
    """

    engine: str = "auto"
    chunk_epochs: Optional[int] = None
    seed_batch: Optional[int] = None
    loss_every: int = 1
    progress: Union[bool, Callable[[int], Any]] = True
    mesh: Any = None
    on_chunk: Optional[Callable[[int], Any]] = None
    provenance: Optional[dict] = None
    command: Optional[str] = None

    def __post_init__(self):
        for name in ("chunk_epochs", "seed_batch"):
            object.__setattr__(self, name, check_count(name, getattr(self, name), True))
        object.__setattr__(self, "loss_every", check_count("loss_every", self.loss_every))

    def chunk_for(self, cfg) -> int:
        """Epochs per chunk for ``cfg``: :attr:`chunk_epochs`, or the default for it."""
        return self.chunk_epochs or default_chunk_epochs(cfg)

    def replace(self, **changes) -> "TrainOptions":
        return dataclasses.replace(self, **changes)


_NAMES = tuple(f.name for f in dataclasses.fields(TrainOptions))


def options_of(caller: str, options: Optional[TrainOptions] = None, **keywords) -> TrainOptions:
    """The options of a call: ``options`` as given, or the ``keywords`` (TrainOptions' fields)
    packed into one. A keyword away from its default beside ``options``, or a keyword that is
    no option, raises ValueError naming it."""
    unknown = sorted(set(keywords) - set(_NAMES))
    if unknown:
        raise ValueError(f"{caller}: {', '.join(k + '=' for k in unknown)} is not an option "
                         f"(the options: {', '.join(_NAMES)})")
    if options is None:
        return TrainOptions(**keywords)
    if not isinstance(options, TrainOptions):
        raise ValueError(f"{caller}: options must be a gru_jax.options.TrainOptions, got "
                         f"{type(options).__name__}")
    defaults = TrainOptions()
    both = [k for k, v in keywords.items() if v is not getattr(defaults, k)
            and v != getattr(defaults, k)]
    if both:
        raise ValueError(f"{caller}: {', '.join(both)} given both as keywords and in options=; "
                         "give each once")
    return options
