"""The census (families, strategies) on constructed ensembles and features with known groups."""
import jax
import numpy as np
from sklearn.metrics import adjusted_rand_score

from gru_jax import analysis as ga
from gru_jax import handcrafted
from gru_jax.analysis.census import cluster, census_of, commitment_epochs, init_groups_of
from gru_jax.analysis.stats import wilson_interval
from gru_jax.blog import SEED37_STATE_DICT
from gru_jax.interop import from_state_dict

# the blog's seed 37: its update gate opens on flags (z ~0.8 / ~0.17): a gate-write model
BLOG = from_state_dict(SEED37_STATE_DICT)
NAMES = ("z_flag0", "z_flag1", "log10_leak_flag0", "flag_push_n", "leading_eigenvalue_flag0",
         "log10_final_loss")


def _flag_blind(params):
    """The same weights with the update gate's flag weight removed: z no longer sees the flag
    (the flag still reaches the memory through r and n)."""
    w = np.array(params["gru"]["weight_ih_l0"])
    w[1, 1] = 0.0
    return {"gru": {**params["gru"], "weight_ih_l0": w}, "linear": params["linear"]}


def _noisy_copies(model, count: int, rng, noise: float = 0.01):
    return jax.tree_util.tree_map(
        lambda a: (a + noise * (np.abs(a) + 0.1) * rng.standard_normal((count,) + a.shape))
        .astype(np.float32), model)


def _ensemble(models, count: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    parts = [_noisy_copies(m, count, rng) for m in models]
    params = jax.tree_util.tree_map(lambda *a: np.concatenate(a), *parts)
    return params, np.repeat(np.arange(len(models)), count)


def test_families_of_constructed_models_whatever_the_random_state():
    """Three mechanisms (gate-write, an accumulator that holds and writes, flag-blind), 20 noisy
    copies each: three families, exactly recovered, named by mechanism, the same at two random
    states, and the same count on every subsample."""
    params, truth = _ensemble([BLOG, handcrafted.reachable_accumulator(), _flag_blind(BLOG)], 20)
    loss = np.full(len(truth), 1e-4)
    first = census_of(params, loss, n_bootstrap=3, random_state=0)
    other = census_of(params, loss, n_bootstrap=3, random_state=1)
    assert first.n_families == 3 and adjusted_rand_score(truth, first.families) == 1.0
    np.testing.assert_array_equal(first.families, other.families)
    assert first.k_stability == {3: 1.0} and other.k_stability == {3: 1.0}
    np.testing.assert_allclose(first.family_ari, 1.0)
    name_of = {int(t): first.family_names[first.families[i]] for i, t in enumerate(truth)}
    assert name_of[0].startswith("gate-write") and name_of[2].startswith("flag-blind")
    np.testing.assert_allclose(first.family_fractions, [1 / 3] * 3)
    assert (first.family_ci_low[0], first.family_ci_high[0]) == wilson_interval(20, 60)
    for f in range(3):                              # representatives are members
        rep = list(first.seeds).index(first.family_representatives[f])
        assert first.families[rep] == f
    # strategies nest in families
    assert all(first.families[first.labels == k][0] == first.strategy_family[k]
               for k in range(first.n_strategies))


def _features(groups, seed=0):
    """Feature rows from ``[(count, z0, z1, leak, push)]`` blobs (small spread)."""
    rng = np.random.default_rng(seed)
    rows = []
    for count, z0, z1, leak, push in groups:
        centre = np.array([z0, z1, leak, push, 1 - 10 ** leak, -4.0])
        spread = np.array([0.01, 0.01, 0.05, 0.1, 0.001, 0.05])
        rows.append(centre + spread * rng.standard_normal((count, 6)))
    return np.concatenate(rows)


def test_strategies_split_a_family_by_its_leak_and_push():
    """Family A has two memories (leak 10^-0.5 and 10^-2) with the same push; family B one
    memory and two push signs: 2 + 2 strategies, labelled F1a, F1b, F2a, F2b."""
    values = _features([(30, 0.85, 0.15, -0.5, -3.0), (30, 0.85, 0.15, -2.0, -3.0),
                        (25, 0.98, 0.5, -1.8, -3.0), (25, 0.98, 0.5, -1.8, 3.0)])
    result = cluster(values, NAMES, [""] * 6, n_bootstrap=2)
    assert result.n_families == 2 and result.family_counts.tolist() == [60, 50]
    assert result.n_strategies == 4
    assert result.strategy_labels == ["F1a", "F1b", "F2a", "F2b"]
    truth = np.repeat(np.arange(4), [30, 30, 25, 25])
    assert adjusted_rand_score(truth, result.labels) == 1.0
    assert "candidate(+)" in result.names[2] + result.names[3]
    assert result.legend("family")[0].startswith("F1 gate-write")
    # the leak's distribution dips between 10^-2 and 10^-0.5 (and the names cut there)
    assert len(result.leak_dips) >= 1 and -2.0 < result.leak_dips[0] < -0.5
    slow = result.labels[30]                                      # a leak-10^-2 seed
    assert result.names[slow].startswith("slow leak")


def test_assign_places_new_rows_and_rejects_far_ones():
    values = _features([(30, 0.85, 0.15, -0.5, -3.0), (30, 0.55, 0.55, -0.6, 3.0)])
    result = cluster(values, NAMES, [""] * 6, n_bootstrap=0)
    families, strategies = result.assign(values)
    np.testing.assert_array_equal(families, result.families)
    np.testing.assert_array_equal(strategies, result.labels)
    far = values + np.array([5.0, -5.0, 0, 0, 0, 0])
    assert np.all(result.assign(far, reject_atypical=True)[0] == -1)


def test_runs_that_share_inits_are_fitted_once_per_init():
    """8 near-copies per init (as a crossed design has): the mixtures see one row per init."""
    params, truth = _ensemble([BLOG, _flag_blind(BLOG)], 6, seed=3)
    repeated = jax.tree_util.tree_map(lambda a: np.repeat(a, 8, axis=0), params)
    groups = init_groups_of(repeated)
    assert len(np.unique(groups)) == 12
    values = _features([(6, 0.85, 0.15, -0.5, -3.0), (6, 0.55, 0.55, -0.6, 3.0)])
    result = cluster(np.repeat(values, 8, axis=0), NAMES, [""] * 6, init_groups=groups,
                     n_bootstrap=0)
    assert len(result.fit_index) == 12
    assert result.n_families == 2 and "one per initialisation" in result.criterion


def test_few_seeds_give_one_family_and_say_so():
    values = _features([(4, 0.85, 0.15, -0.5, -3.0), (4, 0.55, 0.55, -0.6, 3.0)])
    few = cluster(values, NAMES, [""] * 6, n_bootstrap=5)
    assert few.n_families == 1 and few.n_strategies == 1 and few.family_counts.tolist() == [8]
    assert few.note.startswith("too few seeds for a census: 8 distinct seeds")
    assert len(few.family_ari) == 0


def test_commitment_epochs_known_answers():
    epochs = np.array([0, 10, 20, 30])
    labels = np.array([[1, 1, 1, 1],      # always final: commits at the first evaluation
                       [0, 1, 0, 1],      # last change before epoch 30
                       [1, 1, 1, 0],      # the last snapshot still differs: the final epoch
                       [0, 0, 1, 1]])
    out = commitment_epochs(labels, np.array([1, 1, 1, 1]), epochs, final_epoch=39)
    np.testing.assert_array_equal(out, [0, 30, 39, 20])


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


def test_two_unit_families_survive_unit_relabelling():
    """H = 2: a gate-write model and its flag-blind variant (unit 0's update gate loses the
    flag); every copy's units relabelled and sign-flipped at random, which the alignment must
    undo: two families, exactly recovered."""
    from gru_jax.analysis.symmetry import apply_signed_permutation

    rng = np.random.default_rng(3)
    base = _two_unit(BLOG)
    w = np.array(base["gru"]["weight_ih_l0"])
    w[2:4, 1] = 0.0                                     # both units' update gates: no flag
    variant = {"gru": {**base["gru"], "weight_ih_l0": w}, "linear": base["linear"]}
    params, truth = _ensemble([base, variant], 20, seed=4)
    perm = np.stack([rng.permutation(2) for _ in truth])
    signs = rng.choice([-1.0, 1.0], (len(truth), 2))
    shuffled = apply_signed_permutation(params, perm, signs)
    result = census_of(shuffled, np.full(len(truth), 1e-3), n_bootstrap=0)
    assert adjusted_rand_score(truth, result.families) == 1.0


def test_public_names():
    assert ga.Census.__name__ == "Census" and callable(ga.census)
    assert ga.census.__module__ == "gru_jax.analysis.census"
    assert callable(ga.run_thresholds)


def test_beyond_the_fit_sample_every_seed_is_still_placed():
    """60 seeds of three mechanisms with a fit sample of 30: the mixtures see 30 seeds, every
    seed gets its family right; the others carry only their mechanism (their generalization
    columns NaN), and the threshold axis covers all 60."""
    params, truth = _ensemble([BLOG, handcrafted.reachable_accumulator(), _flag_blind(BLOG)], 20,
                              seed=5)
    result = census_of(params, np.full(len(truth), 1e-4), n_bootstrap=0, fit_sample=30)
    assert len(result.fit_index) == 30
    assert adjusted_rand_score(truth, result.families) == 1.0
    errors = result.column("log10_error_L8k2")
    sampled = np.zeros(60, bool)
    sampled[result.fit_index] = True
    assert np.all(np.isfinite(errors[sampled])) and np.all(np.isnan(errors[~sampled]))
    assert np.all(np.isfinite(result.column("z_flag0")))
    assert np.all(result.threshold_labels != "")


def test_figures_also_as_svg_on_request(tmp_path):
    """--figure-formats svg,pdf: a figure of the writers has its SVG and PDF twins beside its
    PNG (``Figures`` and ``save_figure`` carry every writer's figures)."""
    import matplotlib.pyplot as plt
    from gru_jax.reports.markdown import Figures
    fig, ax = plt.subplots()
    ax.plot([0, 1], [1, 0])
    markdown = Figures(str(tmp_path), ("svg", "pdf")).add(fig, "line.png", "a line")
    assert "(line.png)" in markdown
    assert (tmp_path / "line.png").read_bytes()[:4] == b"\x89PNG"
    assert (tmp_path / "line.svg").read_text()[:200].lstrip().startswith(("<?xml", "<svg"))
    assert (tmp_path / "line.pdf").read_bytes()[:4] == b"%PDF"
