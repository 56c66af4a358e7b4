"""The explorer page (gru_jax/reports/explorer.py): its data, and the page in a real browser.

The browser tests open the written page from disk in Debian's headless Chromium with the network
off (tests/explorer_browser.py) and skip, saying why, only when chromium / chromedriver /
selenium are absent (CI installs them: .ci/run).
"""
import json
import os
import re
import shutil
import types

import numpy as np
import pytest

from explorer_browser import browser_missing, check_page, chromium
from gru_jax import Config, Run, init_params
from gru_jax import analysis as ga
from gru_jax.cli import main
from gru_jax.reports import explorer
from gru_jax.sweeps import Sweep

SEEDS = np.array([3, 5, 8, 13, 21, 34, 55, 89, 144, 233, 377, 610])


def constructed_run(cfg: Config, seeds, key: int = 0) -> Run:
    """A run of ``len(seeds)`` one-unit models, constructed (training would add a compilation to
    tests of a writer): init and final params drawn by ``init_params`` (final x 3: firmer
    gates), snapshots on the straight line between them, each seed's loss falling from 1/6 to
    its own final value."""
    import jax
    count = len(seeds)
    keys = jax.random.split(jax.random.key(key), 2 * count)
    models = [init_params(cfg, k) for k in keys]
    stack = lambda ms, scale: jax.tree_util.tree_map(
        lambda *a: scale * np.stack([np.asarray(x, np.float32) for x in a]), *ms)
    init, final = stack(models[:count], 1.0), stack(models[count:], 3.0)
    frac = (np.asarray(cfg.eval_epochs) + 1) / cfg.epochs
    snaps = jax.tree_util.tree_map(
        lambda a, b: np.stack([a + (b - a) * f for f in frac], 1).astype(np.float32), init, final)
    ends = np.geomspace(1e-5, 5e-2, count)
    train = np.stack([np.geomspace(1 / 6, end, cfg.epochs) for end in ends]).astype(np.float32)
    return Run(config=cfg, seeds=np.asarray(seeds), eval_epochs=np.asarray(cfg.eval_epochs),
               init_params=init, params=final, snapshots=snaps, train_loss=train,
               test_loss=train[:, list(cfg.eval_epochs)] * 1e4,
               lr=np.full((count, cfg.n_eval), 1e-4, np.float32), diverged=np.zeros(count, bool))


@pytest.fixture(scope="module")
def page(tmp_path_factory):
    """A 12-seed run on disk, its census (the real one) and its explorer page."""
    directory = str(tmp_path_factory.mktemp("explore") / "run")
    run = constructed_run(Config(epochs=60, eval_every=9, n_samples=300), SEEDS)
    run.save(directory)
    run = Run.load(directory)
    census = ga.census(run)
    path = explorer.write_explorer(directory, census=census)
    return types.SimpleNamespace(run=run, census=census, path=path, directory=directory)


def embedded(path: str) -> dict:
    """The JSON data block of a written page."""
    text = open(path, encoding="utf-8").read()
    found = re.search(r'<script type="application/json" id="explorer-data">(.*?)</script>',
                      text, re.S)
    return json.loads(found.group(1).replace("<\\/", "</"))


def expected_numbers(run: Run, census) -> dict:
    """``{seed: (family label, final training loss)}``: what a seed's panel must show."""
    levels = explorer.census_levels(census)
    final = np.asarray(run.train_loss, np.float64)[:, -1]
    return {int(s): (levels.family_labels[levels.families[i]], float(final[i]))
            for i, s in enumerate(run.seeds)}


def two_level_census(count: int, rng) -> types.SimpleNamespace:
    """A census with the two-level attributes (families with strategies nested), as the
    census gives, over ``count`` seeds: 2 families, 3 strategies."""
    labels = rng.permutation(np.arange(count) % 3)
    families = np.where(labels == 2, 1, 0)
    fractions = np.bincount(labels, minlength=3) / count
    family_fractions = np.bincount(families, minlength=2) / count
    z = np.stack([np.where(families == 0, 0.9, 0.5), np.where(labels == 1, 0.1, 0.5)], 1)
    return types.SimpleNamespace(
        labels=labels, names=["holds and writes", "holds, writes harder", "overwrites"],
        counts=np.bincount(labels, minlength=3), fractions=fractions,
        ci_low=fractions * 0.8, ci_high=np.minimum(fractions * 1.2, 1.0),
        families=families, family_labels=["F1", "F2"],
        family_names=["accumulators", "overwriters"], family_fractions=family_fractions,
        family_ci_low=family_fractions * 0.8, family_ci_high=family_fractions * 1.2,
        strategy_labels=["F1a", "F1b", "F2a"],
        features=np.concatenate([z + rng.normal(0, 0.02, z.shape),
                                 rng.normal(-3, 1, (count, 1))], 1),
        feature_names=("z_flag0", "z_flag1", "log10_final_loss"),
        threshold_labels=np.where(families == 0, "general", "failed"))


# ---- the data ------------------------------------------------------------------------------
def test_census_levels_reads_the_two_level_census():
    rng = np.random.default_rng(0)
    new = explorer.census_levels(two_level_census(30, rng))
    assert new.family_labels == ["F1", "F2"] and new.strategy_labels == ["F1a", "F1b", "F2a"]
    assert new.strategy_family.tolist() == [0, 0, 1]
    assert new.family_counts.sum() == 30 and new.strategy_counts.sum() == 30


def test_encodings_round_trip():
    rng = np.random.default_rng(1)
    values = rng.normal(size=(5, 40, 3)).cumsum(1)
    values[1, 7, 2] = np.nan
    back = explorer.dequantise(explorer.quantise(values))
    span = np.nanmax(values, 1, keepdims=True) - np.nanmin(values, 1, keepdims=True)
    assert np.isnan(back[1, 7, 2]) and np.isnan(back).sum() == 1
    assert np.nanmax(np.abs(back - values) / span) <= 0.5 / 254 + 1e-6   # half a level
    seeds = np.array([0, 7, 2**32 - 1])
    assert explorer.decode(explorer.encode(seeds, "u4")).tolist() == seeds.tolist()


def test_sample_order_is_stratified_by_family():
    families = np.repeat([0, 1, 2], [90_000, 9_800, 200])
    order = explorer.sample_order(families)
    assert sorted(order.tolist()) == list(range(families.size))        # a permutation
    drawn = np.bincount(families[order[:20_000]], minlength=3)
    # the floor first (100 each), then each family's share of the seeds
    assert drawn[2] >= explorer.MIN_DRAWN_PER_FAMILY
    np.testing.assert_allclose(drawn[:2] / drawn[:2].sum(), [90_000 / 99_800, 9_800 / 99_800],
                               atol=2e-3)


def test_page_embeds_every_seed(page):
    text = open(page.path, encoding="utf-8").read()
    assert os.path.basename(page.path) == "explore.html" and len(text) < 3_000_000
    # self-contained: no external script, style, image or link
    assert not re.search(r"<(script|link|img|iframe)[^>]+(src|href)=", text)
    data = embedded(page.path)
    (pop,) = data["populations"]
    decode = explorer.decode
    assert decode(pop["seeds"]).tolist() == SEEDS.tolist()
    levels = explorer.census_levels(page.census)
    assert decode(pop["family"]).tolist() == levels.families.tolist()
    assert [f["label"] for f in pop["families"]] == levels.family_labels
    np.testing.assert_array_equal(decode(pop["final_loss"]), page.run.train_loss[:, -1])
    assert decode(pop["drawn"]).tolist() == decode(pop["curves"]).tolist() == list(range(12))
    # the behaviour plane is the census's z_flag0 / z_flag1 (float16)
    names = list(page.census.feature_names)
    z = page.census.features[:, [names.index("z_flag0"), names.index("z_flag1")]]
    np.testing.assert_allclose(decode(pop["behaviour"]), z, atol=1e-3)
    # the weight trajectory: init, every snapshot, the final params (8-bit per curve)
    trajectory = explorer.dequantise(pop["trajectory"])
    assert pop["trajectory_epochs"] == [-1, *page.run.eval_epochs.tolist(), 59]
    from gru_jax.model import flatten_params
    np.testing.assert_allclose(trajectory[:, -1], flatten_params(page.run.params), atol=0.05)
    # the accumulators: the exact one holds (z ~ 1) at flag 0 and writes (z ~ 0) at flag 1
    exact = pop["references"][0]
    assert exact["name"] == "exact accumulator" and exact["z"][0] > 0.99 > 0.01 > exact["z"][1]
    assert len(exact["features"]) == len(pop["feature_names"])


# ---- the page in a browser -----------------------------------------------------------------
needs_browser = pytest.mark.skipif(bool(browser_missing()), reason=browser_missing() or "-")


# per seed trace of the behaviour plane: (points, marker opacity)
TRACES = """return document.getElementById('behaviour').data.filter(t => t.meta === 'seeds')
                .map(t => [t.x.length, t.marker.opacity]);"""


@needs_browser
def test_page_in_a_browser(page, tmp_path):
    with chromium() as driver:
        result = check_page(page.path, expected_numbers(page.run, page.census),
                            screenshot=str(tmp_path / "explore.png"), driver=driver)
        assert result.problems == []
        assert sorted(result.seeds) == SEEDS.tolist() and result.points == len(SEEDS)
        assert result.clicked in SEEDS.tolist()
        assert result.requests == ["file://" + os.path.abspath(page.path)]
        assert result.colours >= 64 and result.ready_ms is not None
        # the census table's first row highlights its family's seeds, a second click clears
        levels = explorer.census_levels(page.census)
        sizes = np.bincount(levels.families, minlength=len(levels.family_labels)).tolist()
        row = driver.find_element("css selector", "#census-table tr.family")
        row.click()
        traces = driver.execute_script(TRACES)
        assert [n for n, _ in traces] == sizes
        assert all(o == [0.85] * n if k == 0 else o == [0.07] * n
                   for k, (n, o) in enumerate(traces)), traces
        row.click()
        assert all(o == 0.85 for _, o in driver.execute_script(TRACES))
        # the family filter hides the first family's points
        driver.find_element("css selector", "#family-filter input[data-family='0']").click()
        assert [n for n, _ in driver.execute_script(TRACES)] == [0] + sizes[1:]
        # a seed typed in the box opens its panel
        seed = int(SEEDS[-1])
        driver.find_element("id", "seed-input").send_keys(str(seed) + "\n")
        assert f"seed {seed}" in driver.find_element("id", "seed-panel").text


@pytest.mark.parametrize("damage, symptom", [
    ("syntax", "console error"),                   # a JavaScript syntax error in the script
    ("no data", "console error"),                  # the data block emptied
    ("request", "request for http://127.0.0.1"),   # the page asks for something outside
])
@needs_browser
def test_the_checker_fails_a_broken_page(page, tmp_path, damage, symptom):
    text = open(page.path, encoding="utf-8").read()
    if damage == "syntax":
        text = text.replace('const DATA = JSON.parse(', 'const DATA = = JSON.parse(', 1)
    elif damage == "no data":
        text = re.sub(r'(id="explorer-data">).*?(</script>)', r"\1{}\2", text, count=1, flags=re.S)
    else:
        text = text.replace("<body>", '<body><img src="http://127.0.0.1:9/x.png">', 1)
    broken = tmp_path / "broken.html"
    broken.write_text(text, encoding="utf-8")
    result = check_page(str(broken), expected_numbers(page.run, page.census), timeout=8)
    assert result.problems, damage
    assert any(symptom in p for p in result.problems), result.problems


@needs_browser
def test_sweep_page_opens_each_cell(tmp_path):
    cfg = Config(epochs=30, eval_every=9, n_samples=300)
    cells = [{"learning_rate": 1e-4}, {"learning_rate": 1e-3}]
    runs = [constructed_run(cfg, range(20 * i, 20 * i + 20), key=i) for i in range(2)]
    rng = np.random.default_rng(2)
    censuses = [two_level_census(20, rng) for _ in runs]
    sweep = Sweep(cfg, {"learning_rate": [1e-4, 1e-3]}, list(range(20)), cells, [cfg, cfg],
                  runs, out=None)
    path = explorer.write_explorer(sweep, str(tmp_path / "sweep.html"), census=censuses)
    data = embedded(path)
    assert data["kind"] == "sweep" and len(data["grid"]["cells"]) == 2
    assert data["grid"]["axes"] == [["learning_rate", ["0.0001", "0.001"]]]
    expected = {}
    for run, census in zip(runs, censuses):
        expected.update(expected_numbers(run, census))   # cells share no seed values here
    with chromium() as driver:
        assert check_page(path, expected, driver=driver).problems == []
        cells = "return document.querySelectorAll('#grid td.cell').length"
        assert driver.execute_script(cells) == 2
        driver.execute_script("return window.explorer.selectCell(1)")
        assert sorted(driver.execute_script("return window.explorer.seeds")) == list(range(20, 40))
        assert driver.execute_script("return window.explorer.select(39)")
        text = driver.find_element("id", "seed-panel").text
        assert "seed 39" in text and f"family {expected[39][0]}" in text
        assert driver.execute_script("return window.explorer.select(0)") is False   # cell 0's


# ---- the command line --------------------------------------------------------------------------
def test_cli_explore(page, tmp_path, capsys, monkeypatch):
    out = str(tmp_path / "deep" / "page.html")
    monkeypatch.setattr(explorer, "cached_census", lambda directory, run, **_: page.census)
    assert main(["explore", page.directory, "--out", out]) == 0
    assert capsys.readouterr().out.strip() == f"explorer written: {out}"
    assert embedded(out)["populations"][0]["n_seeds"] == len(SEEDS)
    # bad input: a message and status 2, not a traceback
    for argv, message in ((["explore", str(tmp_path / "none")], "is not a directory"),
                          (["explore", str(tmp_path)], "is not a complete run"),
                          (["explore", page.directory, "--out", page.path + "/x.html"],
                           "is not a directory"),
                          (["explore", page.directory, "--out", str(tmp_path)],
                           "it is a directory")):
        assert main(argv) == 2
        err = capsys.readouterr().err
        assert err.startswith("error: ") and message in err and "Traceback" not in err, err


def test_pipeline_writes_the_explorer(page, tmp_path, capsys, monkeypatch):
    # the pipeline's wiring (training, comparison and report are tested elsewhere)
    import gru_jax as gj
    from gru_jax import cli
    out = str(tmp_path / "piped")

    def trained(args):
        shutil.copytree(page.directory, args.out)
        os.remove(os.path.join(args.out, "explore.html"))
        return 0
    monkeypatch.setattr(cli, "cmd_train", trained)
    monkeypatch.setattr(gj.stability, "comparison_stability", lambda *_: None)
    monkeypatch.setattr(gj.reports, "run_compare", lambda directory, **_: "compare.md")
    monkeypatch.setattr(gj.reports, "write_report", lambda directory, **_: "report.md")
    monkeypatch.setattr(gj.analysis.cache, "cached_census", lambda directory, run, **_: page.census)
    assert main(["pipeline", "--out", out]) == 0
    page_path = os.path.join(out, "explore.html")
    assert f"explorer: {page_path}" in capsys.readouterr().out.splitlines()
    assert embedded(page_path)["populations"][0]["n_seeds"] == len(SEEDS)


def test_cli_explore_a_sweep_directory(tmp_path, capsys, monkeypatch):
    from gru_jax.sweeps import _start, cell_name
    cfg = Config(epochs=30, eval_every=9, n_samples=300)
    grid = {"learning_rate": [1e-4, 1e-3]}
    out = str(tmp_path / "sweep")
    os.makedirs(out)
    _start(out, cfg, grid, list(range(20)), [{"learning_rate": v} for v in grid["learning_rate"]],
           resume=False)
    for i in range(2):
        constructed_run(cfg, range(20), key=i).save(os.path.join(out, cell_name(i)))
    rng = np.random.default_rng(3)
    monkeypatch.setattr(explorer, "cached_census",
                        lambda directory, run, **_: two_level_census(20, rng))
    assert main(["explore", out]) == 0
    path = os.path.join(out, "explore.html")
    assert capsys.readouterr().out.strip() == f"explorer written: {path}"
    data = embedded(path)
    assert data["kind"] == "sweep" and len(data["populations"]) == 2
    assert [c["label"] for c in data["grid"]["cells"]] == ["learning_rate = 0.0001",
                                                          "learning_rate = 0.001"]
