"""The discovered census on constructed ensembles with known groups, and its parts."""
import jax
import numpy as np
from sklearn.metrics import adjusted_rand_score

from gru_jax import analysis as ga
from gru_jax import handcrafted
from gru_jax.analysis import census as census_module
from gru_jax.analysis.features import feature_names
from gru_jax.analysis.strategies import cluster, census_of, commitment_epochs, strategy_name
from gru_jax.analysis.symmetry import apply_signed_permutation
from gru_jax.blog import SEED37_STATE_DICT
from gru_jax.interop import from_state_dict

# the blog's seed 37 (final weights; the flag reaches the output through z, r and n)
BLOG = from_state_dict(SEED37_STATE_DICT)


def _reroute_flag(params, source: int, target: int):
    """The same weights with the flag's input weight moved from gate ``source`` to ``target``
    (rows r = 0, z = 1, n = 2; H = 1): the models differ ONLY in how the flag is routed."""
    w = np.array(params["gru"]["weight_ih_l0"])
    w[target, 1], w[source, 1] = w[source, 1], 0.0
    return {"gru": {**params["gru"], "weight_ih_l0": w}, "linear": params["linear"]}


def _noisy_copies(model, count: int, rng, noise: float = 0.01):
    """``count`` copies with independent Gaussian noise (``noise`` x (|weight| + 0.1))."""
    return jax.tree_util.tree_map(
        lambda a: (a + noise * (np.abs(a) + 0.1) * rng.standard_normal((count,) + a.shape))
        .astype(np.float32), model)


def _ensemble(models, count: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    parts = [_noisy_copies(m, count, rng) for m in models]
    params = jax.tree_util.tree_map(lambda *a: np.concatenate(a), *parts)
    truth = np.repeat(np.arange(len(models)), count)
    return params, truth


def test_recovers_three_groups_including_a_reroute():
    reachable = handcrafted.reachable_accumulator()
    rerouted = _reroute_flag(reachable, source=1, target=2)     # flag into the candidate
    params, truth = _ensemble([reachable, rerouted, BLOG], 24)
    result = census_of(params, np.full(len(truth), 1e-3), n_bootstrap=5)
    assert result.n_strategies == 3
    assert adjusted_rand_score(truth, result.labels) == 1.0
    np.testing.assert_allclose(result.bootstrap_ari, 1.0)
    np.testing.assert_allclose(result.fractions, [1 / 3] * 3)
    assert len(set(result.names)) == 3
    # named by the route: the reachable accumulator's flag goes mostly through z (its
    # W_in[flag] = 0.099 gives the candidate a minor share), the reroute's only through n
    name_of = {int(truth[i]): result.names[result.labels[i]] for i in range(len(truth))}
    assert name_of[0].startswith("update-gate")
    assert name_of[1].startswith("candidate(")
    for k in range(3):                                        # representatives are members
        assert result.labels[result.representative_index[k]] == k


def test_single_group_is_one_strategy():
    params, _ = _ensemble([BLOG], 40, seed=1)
    result = census_of(params, np.full(40, 1e-4), n_bootstrap=3)
    assert result.n_strategies == 1
    assert result.counts.tolist() == [40]
    assert (result.ci_low[0], result.ci_high[0]) == census_module.wilson_interval(40, 40)
    assert set(result.threshold_labels) == {"length-specific"}   # the old axis, kept


def test_census_is_deterministic_and_invariant_to_unit_symmetry():
    params, truth = _ensemble([BLOG, handcrafted.reachable_accumulator()], 16, seed=2)
    first = census_of(params, np.full(32, 1e-3), n_bootstrap=2)
    again = census_of(params, np.full(32, 1e-3), n_bootstrap=2)
    np.testing.assert_array_equal(first.labels, again.labels)
    np.testing.assert_array_equal(first.bootstrap_ari, again.bootstrap_ari)
    flipped = apply_signed_permutation(params, np.zeros((32, 1), int),
                                       np.where(np.arange(32) % 2, -1.0, 1.0)[:, None])
    other = census_of(flipped, np.full(32, 1e-3), n_bootstrap=0)
    np.testing.assert_array_equal(other.labels, first.labels)
    np.testing.assert_allclose(other.features, first.features, rtol=1e-4, atol=1e-4)


def test_two_unit_ensembles():
    """H = 2: two weight sets that differ in the second unit's flag route; every copy gets a
    random relabelling and sign flips of its units, which the alignment must undo."""
    rng = np.random.default_rng(3)
    base = _two_unit(BLOG)
    w = np.array(base["gru"]["weight_ih_l0"])
    w[5, 1], w[3, 1] = w[3, 1] + 2.0, 0.0                  # unit 1: flag from z to n
    variant = {"gru": {**base["gru"], "weight_ih_l0": w}, "linear": base["linear"]}
    params, truth = _ensemble([base, variant], 20, seed=4)
    perm = np.stack([rng.permutation(2) for _ in truth])
    signs = rng.choice([-1.0, 1.0], (len(truth), 2))
    shuffled = apply_signed_permutation(params, perm, signs)
    result = census_of(shuffled, np.full(len(truth), 1e-3), n_bootstrap=0)
    assert result.features.shape == (40, len(feature_names(2)[0]))
    assert adjusted_rand_score(truth, result.labels) == 1.0


def _two_unit(model):
    """A two-unit model: the H = 1 model in unit 0 and a weaker copy in unit 1, no coupling."""
    g = model["gru"]
    w_ih = np.concatenate([np.stack([g["weight_ih_l0"][i], 0.5 * g["weight_ih_l0"][i]])
                           for i in range(3)])
    w_hh = np.concatenate([np.diag([g["weight_hh_l0"][i, 0], 0.7 * g["weight_hh_l0"][i, 0]])
                           for i in range(3)])
    bias = lambda b: np.repeat(b, 2) * np.tile([1.0, 0.6], 3)
    return {"gru": {"weight_ih_l0": w_ih.astype(np.float32), "weight_hh_l0": w_hh.astype(
        np.float32), "bias_ih_l0": bias(g["bias_ih_l0"]).astype(np.float32),
        "bias_hh_l0": bias(g["bias_hh_l0"]).astype(np.float32)},
        "linear": {"weight": np.float32([[model["linear"]["weight"][0, 0], 1.5]]),
                   "bias": model["linear"]["bias"]}}


def test_cluster_on_known_blobs_picks_k_by_bic():
    """Three well separated Gaussian blobs in 6 dimensions: BIC chooses 3, exactly recovered."""
    rng = np.random.default_rng(5)
    centres = 8.0 * rng.standard_normal((3, 6))
    values = np.concatenate([c + rng.standard_normal((50, 6)) for c in centres])
    truth = np.repeat(np.arange(3), 50)
    result = cluster(values, [f"x{i}" for i in range(6)], ["u"] * 6, n_bootstrap=4,
                     namer=lambda median: f"blob at x0 = {median['x0']:.1f}")
    assert result.n_strategies == 3
    assert adjusted_rand_score(truth, result.labels) == 1.0
    assert min(result.bic, key=result.bic.get).endswith(" 3")
    np.testing.assert_array_equal(result.assign(values), result.labels)
    # far from every blob: in no strategy (-1) when atypical points are rejected; the census's
    # own points are typical (the threshold is their 1st percentile of log density)
    assert np.all(result.assign(values + 100.0, reject_atypical=True) == -1)
    assert np.mean(result.assign(values, reject_atypical=True) >= 0) >= 0.98


def test_commitment_epochs_known_answers():
    epochs = np.array([0, 10, 20, 30])
    labels = np.array([[1, 1, 1, 1],      # always final: commits at the first evaluation
                       [0, 1, 0, 1],      # last change before epoch 30
                       [1, 1, 1, 0],      # the last snapshot still differs: the final epoch
                       [0, 0, 1, 1]])
    out = commitment_epochs(labels, np.array([1, 1, 1, 1]), epochs, final_epoch=39)
    np.testing.assert_array_equal(out, [0, 30, 39, 20])


def test_strategy_name_from_mechanism():
    median = {"flag_effect_r": 0.0, "flag_effect_z": 1.0, "flag_effect_n": 0.1,
              "z_flag0": 0.99, "z_flag1": 0.05, "leading_eigenvalue_flag0": 0.995,
              "n_fixed_flag0": 1, "log10_final_loss": -4.0}
    assert strategy_name(median) == ("update-gate flag route, z holds (0.99) / writes (0.05), "
                                     "integrator (0.99)")
    median.update(flag_effect_n=0.8, z_flag0=0.5, z_flag1=0.6, leading_eigenvalue_flag0=0.5,
                  n_fixed_flag0=3, log10_final_loss=-0.5)
    assert strategy_name(median) == ("non-learner: update-gate+candidate flag route, "
                                     "z overwrites (0.50) / barely writes (0.60), "
                                     "multistable fast leak (0.50)")
    # the candidate's sign: sign(sum_u w_out[u] W_in[u, flag]), here 2 x (-1) + 1 x 0.5 < 0
    median.update({"W_in[u0,flag]": -1.0, "w_out[u0]": 2.0, "W_in[u1,flag]": 0.5,
                   "w_out[u1]": 1.0})
    assert "update-gate+candidate(-) flag route" in strategy_name(median)


def test_public_names_and_old_census_still_there():
    assert ga.Census.__name__ == "Census" and callable(ga.census)
    assert ga.census.run_census is census_module.run_census
    assert census_module.STRATEGIES == ("general", "length-specific", "failed")


def test_few_seeds_give_one_strategy_and_say_so():
    """Two far-apart blobs (features constructed, no model): with 8 seeds (< 2 x 5) there is
    no discovery, one strategy, a note and no bootstrap; with 12 seeds of three blobs at most
    12 // 5 = 2 strategies; one seed works too."""
    rng = np.random.default_rng(6)
    names, units = [f"x{i}" for i in range(4)], ["u"] * 4
    namer = lambda median: f"blob at x0 = {median['x0']:.0f}"
    blobs = lambda count, k: np.concatenate([c + 0.1 * rng.standard_normal((count, 4))
                                             for c in 10.0 * np.eye(4)[:k]])
    few = cluster(blobs(4, 2), names, units, n_bootstrap=5, namer=namer)
    assert few.n_strategies == 1 and few.counts.tolist() == [8]
    assert few.note.startswith("too few seeds for a census: 8 seeds")
    assert len(few.bootstrap_ari) == 0
    capped = cluster(blobs(4, 3), names, units, n_bootstrap=0, namer=namer)
    assert capped.n_strategies <= 2 and "k = 1..2" in capped.criterion and not capped.note
    one = cluster(blobs(1, 1), names, units, n_bootstrap=0, namer=namer)
    assert one.n_strategies == 1 and one.labels.tolist() == [0] and one.note
    enough = cluster(blobs(10, 2), names, units, n_bootstrap=2, namer=namer)
    assert enough.n_strategies == 2 and not enough.note
