"""Weight sets written by reasoning: an exact adder for ONE hidden unit, and a reachable one.

The blog's part 3 claims one GRU unit cannot add in general. It can. Inputs per step are
``(u, f)`` with ``u = value / high`` in ``[0, u_max]`` (``u_max = (high - 1) / high``) and the
flag ``f`` in {0, 1}; ``S = sum of the flagged u`` is the target in scaled units.

The accumulator (:func:`accumulator`; gain ``a``, sharpness ``s``, reset bias ``b_r``)::

    r = sigmoid(b_r)                     constant (W_ir = W_hr = 0), ~1
    z = sigmoid(s - 2 s f)               ~1 - eps when f = 0, eps when f = 1; eps = sigmoid(-s)
    n = tanh(a u + r * W_hn * h)         W_hn = 1 / r, so n = tanh(h + a u)
    h' = (1 - z) n + z h
    y = h / (a (1 - eps))                readout weight 1 / (a (1 - eps)), bias 0

With ``tanh(x) = x - delta(x)``, ``0 <= delta(x) <= x^3 / 3`` for ``x >= 0`` (here ``h, u >= 0``):

- flagged step: ``h' = h + (1 - eps) a u - (1 - eps) delta(h + a u)``: adds ``(1 - eps) a u``,
  which the readout's ``1 / (1 - eps)`` undoes exactly;
- unflagged step: ``h' = h + eps a u - eps delta(h + a u)``: leaks ``eps a u``.

So, to first order in the small errors, the output error of one sequence (scaled units) is::

    y - S = eps / (1 - eps) * sum_{unflagged} u_t  -  (a^2 / 3) * sum_{j=1..k} S_j^3

where ``S_j`` is the partial sum after the j-th flag (``h`` after it is ``a S_j``). Worst case
over values (all u = u_max) this is at most::

    |y - S| <= eps (L - k) u_max  +  (a^2 / 3) u_max^3 k^2 (k + 1)^2 / 4

(the leak is positive, the tanh compression negative). Dividing by the cell's RMS target
``sqrt(k var_u + k^2 mean_u^2)`` gives the relative bound of :func:`error_bound`. Over the target
grid (L <= 100, k <= 10, values 0..99) the worst cells are (L = 100, k = 1) for the leak,
``~171 eps``, and k = 10 for the compression, ``~196 a^2``. Float32 adds ~``2^-24`` relative
per step (random signs), ~1e-6 at L = 100, and is otherwise harmless: ``1 - z`` is computed
exactly from the rounded ``z`` (Sterbenz), so the hold at flag 0 has no rounding leak.

Defaults chosen by the bound for the target relative RMS error <= 1e-4 on every cell:
``a = 5e-4`` (compression <= 4.9e-5 worst case) and ``s = 16`` (``eps = 1.1e-7``, leak
<= 1.9e-5 worst case): the worst cell's bound (:func:`worst_bound`) is 5.1e-5. Measured on the
full grid (1000 sequences a cell): max 9.8e-6 in float64, 1.0e-5 in float32 (JAX), median ~3e-6.
The price is weight size: readout 1 / a = 2000, ``W_iz[flag] = -2 s = -32``.
:func:`gru_jax.analysis.tradeoff.tradeoff_table` tabulates precision against weight size.

Reachable by training (:func:`reachable_accumulator`): Adam moves a weight by at most about
``lr`` per step (its normalised step ``m_hat / (sqrt(v_hat) + eps)`` is ~<= 1; the strict worst
case is ``(1 - beta1) / sqrt(1 - beta2) = 3.16`` lr, reached only after a sudden gradient
spike). The blog's protocol runs 3000 epochs x 32 steps = 96,000 steps at lr <= 1e-4 (the plateau
schedule only lowers it), so each parameter moves at most ~9.6 from its init: weights start with
``|w| <= 1`` (orthogonal columns), the readout with ``|w| <= sqrt(3)`` (xavier bound), biases at 0.
The r and z biases are TWO parameters each (b_ih, b_hh get identical gradients), so their merged
sum reaches 2 x 9.6. See :data:`REACH`. The binding constraint is the readout: ``y = w h + b`` with
``|w| <= 11.3`` must span sums up to 9.9 (10 flags x 0.99), so ``h`` must reach ~0.87, deep in
tanh's curved range. The reachable set therefore cannot meet 1e-4; it centres the candidate
(``W_in[flag] = c``, ``b_in = -c``, ``c = a mean_u``: the flag-0 leak averages to zero), uses a
sharp flag-0 hold with a soft flag-1 gate (only the hold must be sharp: the flag-1 gain ``1 - z``
is a constant the readout absorbs), and fits the readout by least squares.
"""
from __future__ import annotations

import dataclasses
import math
from typing import Optional, Sequence

import jax
import jax.numpy as jnp
import numpy as np

from .data import scale_inputs
from .model import forward_columns

DEFAULT_GAIN = 5e-4
DEFAULT_SHARPNESS = 16.0
DEFAULT_RESET_BIAS = 10.0


def _sigmoid(x: float) -> float:
    return 1.0 / (1.0 + math.exp(-x))


def _params(w_ih, w_hh, b_ih, b_hh, w_out, b_out) -> dict:
    f32 = lambda v: np.asarray(v, np.float32)
    return {"gru": {"weight_ih_l0": f32(w_ih), "weight_hh_l0": f32(w_hh),
                    "bias_ih_l0": f32(b_ih), "bias_hh_l0": f32(b_hh)},
            "linear": {"weight": f32(w_out), "bias": f32(b_out)}}


def accumulator(gain: float = DEFAULT_GAIN, sharpness: float = DEFAULT_SHARPNESS,
                reset_bias: float = DEFAULT_RESET_BIAS, hidden_size: int = 1) -> dict:
    """The exact adder (derivation in the module docstring), for any hidden size.

    Unit 0 is the one-unit accumulator; ``hidden_size = 1`` gives exactly those params. Units
    1..H-1 are inert: every weight into them is 0 (so their candidate is ``tanh(0) = 0``), their
    merged z bias is ``-s`` (``z = sigmoid(-s)``: each step overwrites them with the candidate
    0), their r bias and readout weight are 0, and no unit feeds another (W_hh is diagonal, the
    inert units' rows and columns 0). From ``h = 0`` they stay exactly 0, so the outputs and the
    bound of :func:`error_bound` are those of ``hidden_size = 1``. Choosing ``z ~ 0`` rather than
    ``z ~ 1`` (which would also hold 0) makes the inert units contract (Jacobian eigenvalue
    ``sigmoid(-s) ~ 1e-7``), so the only marginal direction at a flag-0 input is unit 0's: the
    integrator.

    Args:
      gain: ``a``, the candidate's value weight (per scaled unit ``value / high``).
      sharpness: ``s``; the update gate is ``sigmoid(s)`` at flag 0 and ``sigmoid(-s)`` at flag 1.
      reset_bias: ``b_r``; the reset gate is the constant ``sigmoid(b_r)``, undone by
        ``W_hn = 1 / sigmoid(b_r)``.

    Returns:
      params in the PyTorch layout (float32 numpy, no seed axis), already canonical (readout
      weight > 0, r/z biases merged into ``bias_ih``).
    """
    if gain <= 0 or sharpness <= 0:
        raise ValueError(f"accumulator: gain and sharpness must be > 0, got {gain}, {sharpness}")
    if hidden_size < 1:
        raise ValueError(f"accumulator: hidden_size must be >= 1, got {hidden_size}")
    eps = _sigmoid(-sharpness)
    r = _sigmoid(reset_bias)
    hidden = hidden_size
    w_ih = np.zeros((3, hidden, 2))                 # (gate r/z/n, unit, input value/flag)
    w_ih[1, 0, 1], w_ih[2, 0, 0] = -2.0 * sharpness, gain
    w_hh = np.zeros((3, hidden, hidden))
    w_hh[2, 0, 0] = 1.0 / r
    b_ih = np.zeros((3, hidden))
    b_ih[0, 0], b_ih[1, 0], b_ih[1, 1:] = reset_bias, sharpness, -sharpness
    w_out = np.zeros((1, hidden))
    w_out[0, 0] = 1.0 / (gain * (1.0 - eps))
    return _params(w_ih=w_ih.reshape(3 * hidden, 2), w_hh=w_hh.reshape(3 * hidden, hidden),
                   b_ih=b_ih.reshape(-1), b_hh=np.zeros(3 * hidden), w_out=w_out, b_out=[0.0])


def _value_moments(high: int):
    values = np.arange(high) / high
    return values.max(), values.mean(), values.var()


def error_bound(length: int, flags: int, gain: float = DEFAULT_GAIN,
                sharpness: float = DEFAULT_SHARPNESS, high: int = 100,
                worst_case: bool = True) -> float:
    """First-order relative error bound of :func:`accumulator` on the cell (length, flags).

    ``worst_case=True``: every value at ``u_max`` (a bound on every sequence's error, divided by
    the cell's RMS target). ``False``: values at their mean (the typical size of the bias).
    """
    u_max, u_mean, u_var = _value_moments(high)
    u = u_max if worst_case else u_mean
    eps = _sigmoid(-sharpness)
    leak = eps / (1 - eps) * (length - flags) * u
    compression = gain ** 2 / 3.0 * u ** 3 * flags ** 2 * (flags + 1) ** 2 / 4.0
    rms_target = math.sqrt(flags * u_var + flags ** 2 * u_mean ** 2)
    return (leak + compression) / rms_target


def worst_bound(gain: float, sharpness: float, lengths: Sequence[int] = range(2, 101),
                flag_counts: Sequence[int] = range(1, 11), high: int = 100) -> float:
    """The largest :func:`error_bound` (worst case) over the grid's cells with flags <= length."""
    return max(error_bound(length, k, gain, sharpness, high)
               for length in lengths for k in flag_counts if k <= length)


# ---- reachable by the blog's protocol --------------------------------------------------------
@dataclasses.dataclass(frozen=True)
class Reach:
    """How far the blog's protocol can move each parameter (see the module docstring).

    step: the most a parameter moves per Adam step (~lr). steps: optimizer steps in the run.
    init_weight: |init| bound of the GRU weights; init_readout: of the readout weight.
    """

    step: float = 1e-4
    steps: int = 3000 * 32
    init_weight: float = 1.0
    init_readout: float = math.sqrt(3.0)

    @property
    def travel(self) -> float:
        return self.step * self.steps

    def caps(self) -> dict[str, float]:
        """Largest reachable |value| per canonical coordinate kind."""
        return {"weight": self.init_weight + self.travel,       # W_i*, W_h*
                "merged_bias": 2.0 * self.travel,               # b_r, b_z = b_ih + b_hh
                "bias": self.travel,                             # b_in, b_hn, b_out
                "readout": self.init_readout + self.travel}      # w_out


REACH = Reach()


def reachable_caps(reach: Reach = REACH) -> np.ndarray:
    """``(15,)`` caps in the order of :data:`gru_jax.analysis.symmetry.CANONICAL_NAMES`."""
    c = reach.caps()
    return np.array([c["weight"]] * 9 + [c["merged_bias"]] * 2 + [c["bias"]] * 2
                    + [c["readout"], c["bias"]], np.float32)


def reachable_accumulator(gain: float = 0.2, hold_bias: Optional[float] = None,
                          reach: Reach = REACH, high: int = 100, fit_readout: bool = True,
                          fit_samples: int = 4000, fit_seed: int = 0) -> dict:
    """The accumulator inside the reachable box (design in the module docstring).

    Args:
      gain: ``a``, candidate value weight; larger means a smaller readout weight but more tanh
        curvature. Default chosen by :func:`gru_jax.analysis.tradeoff.reachable_tradeoff`.
      hold_bias: merged z bias ``B`` (flag 0: ``z = sigmoid(B)``; flag 1:
        ``z = sigmoid(B - F)`` with ``F`` the weight cap). Default: ``F`` (so ``1 - z`` at flag 1
        is 1/2).
      fit_readout: least-squares readout (weight and bias, clipped to the caps) on random
        sequences of lengths 2..100 with 1..10 flags; otherwise ``1 / (a (1 - z1))``.

    Returns:
      params (PyTorch layout, float32 numpy), every canonical coordinate within ``reach``.
    """
    caps = reach.caps()
    flag_weight = caps["weight"]
    hold = flag_weight if hold_bias is None else float(np.clip(hold_bias, 0, caps["merged_bias"]))
    reset_bias = caps["merged_bias"]
    r = _sigmoid(reset_bias)
    _, u_mean, _ = _value_moments(high)
    centre = gain * u_mean
    gate_gain = 1.0 - _sigmoid(hold - flag_weight)
    params = _params(
        w_ih=[[0.0, 0.0], [0.0, -flag_weight], [gain, centre]],
        w_hh=[[0.0], [0.0], [1.0 / r]],
        b_ih=[reset_bias, hold, -centre], b_hh=[0.0, 0.0, 0.0],
        w_out=[[min(1.0 / (gain * gate_gain), caps["readout"])]], b_out=[0.0])
    if fit_readout:
        params = _fit_readout(params, reach, high, fit_samples, fit_seed)
    return params


FIT_WIDTH = 100  # the longest fit sequence: every batch is left-padded to it (one compile)


@jax.jit
def _final_hidden(gru, x_columns, valid):
    """Final hidden state ``(N,)`` of a hidden-size-1 GRU: x ``(T, 2, N)`` scaled, left-padded
    sequences whose padding steps ``valid`` ``(T, N)`` marks False."""
    params = {"gru": gru, "linear": {"weight": jnp.ones((1, 1)), "bias": jnp.zeros((1,))}}
    return forward_columns(params, x_columns, valid)[0][0]


def _fit_readout(params, reach, high, n_samples, seed):
    """Least-squares ``y = w h + b`` (relative weighting: each sequence's squared error divided by
    its cell's mean squared target) on random cells of the target grid; clipped to the caps."""
    rng = np.random.default_rng(seed)
    xs, valids, ys, weights = [], [], [], []
    _, u_mean, u_var = _value_moments(high)
    for _ in range(n_samples // 50):
        length = int(rng.integers(2, FIT_WIDTH + 1))
        flags = int(rng.integers(1, min(10, length) + 1))
        values = rng.integers(0, high, (50, length))
        mask = np.argsort(np.argsort(rng.random((50, length)), 1), 1) < flags
        x = scale_inputs(np.stack([values, mask], -1), high)
        xs.append(np.pad(x, ((0, 0), (FIT_WIDTH - length, 0), (0, 0))))
        valids.append(np.repeat((np.arange(FIT_WIDTH) >= FIT_WIDTH - length)[None], 50, 0))
        ys.append(np.sum(np.where(mask, values, 0), 1) / high)
        weights.append(np.full(50, 1.0 / (flags * u_var + flags ** 2 * u_mean ** 2)))
    gru = {k: jnp.asarray(v, jnp.float32) for k, v in params["gru"].items()}
    h = np.asarray(_final_hidden(gru, jnp.asarray(np.transpose(np.concatenate(xs), (1, 2, 0))),
                                 jnp.asarray(np.concatenate(valids).T)), np.float64)
    y, wts = np.concatenate(ys), np.concatenate(weights)
    design = np.stack([h, np.ones_like(h)], 1) * np.sqrt(wts)[:, None]
    (w_out, b_out), *_ = np.linalg.lstsq(design, y * np.sqrt(wts), rcond=None)
    caps = reach.caps()
    out = {m: dict(sub) for m, sub in params.items()}
    out["linear"] = {"weight": np.float32([[np.clip(w_out, -caps["readout"], caps["readout"])]]),
                     "bias": np.float32([np.clip(b_out, -caps["bias"], caps["bias"])])}
    return out
