"""gru_jax.reports end to end: a run on disk -> report.md and compare.md whose figures exist;
the report and dissect commands."""
import json
import os
import re

import numpy as np
import pytest

from gru_jax import Config, Run, from_state_dict
from gru_jax import analysis as ga
from gru_jax.analysis.ensemble import blog_gate_matches
from gru_jax.blog import SEED37_STATE_DICT as BLOG_STATE_DICT
from gru_jax.cli import main
from gru_jax.reports import run_compare, write_report
from gru_jax.reports.census import FAMILY_HEADER, STRATEGY_HEADER
from gru_jax.reports.compare import CompareOptions
from gru_jax.reports.report import _comparison_section, pick_epochs
from test_reference import constructed_run

LEAD = "## Families and strategies (the census)"


def lead_section(text: str) -> str:
    """The census section of a report or comparison: from LEAD to the next "## " heading."""
    start = text.index(LEAD)
    end = text.find("\n## ", start + len(LEAD))
    return text[start:end if end >= 0 else len(text)]


def assert_census_leads(text: str, run_dir: str) -> None:
    """The census section is the first section, holds the family and strategy tables and the
    threshold axis, and states the blog-gate count of the one definition."""
    headings = re.findall(r"^## .+$", text, flags=re.M)
    assert headings[0] == LEAD, headings[:3]
    lead = lead_section(text)
    assert "| " + " | ".join(FAMILY_HEADER) + " |" in lead
    assert "| " + " | ".join(STRATEGY_HEADER) + " |" in lead
    assert "| threshold class |" in lead and "| general |" in lead
    count = int(blog_gate_matches(Run.load(run_dir).params).sum())
    assert f"**{count}** of" in lead



@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    """A small run on disk whose seeds end as the blog's net and as a failure.

    Arrays are constructed (training even a tiny run costs ~20 s of compilation on 2 shared
    cores): trajectories move linearly from a random init to the final weights.
    """
    cfg = Config(epochs=150, eval_every=49, n_samples=400)
    rng = np.random.default_rng(0)
    finals = [BLOG_STATE_DICT,
              {k: np.zeros_like(np.asarray(v)) for k, v in BLOG_STATE_DICT.items()}]
    final = {k: np.stack([np.asarray(f[k], np.float32) for f in finals]) for k in BLOG_STATE_DICT}
    init = {k: rng.normal(size=v.shape).astype(np.float32) for k, v in final.items()}
    frac = np.linspace(0.2, 1.0, cfg.n_eval)
    snaps = {k: np.stack([init[k] + (final[k] - init[k]) * f for f in frac], axis=1)
             for k in final}
    epochs = np.arange(cfg.epochs)
    train = np.stack([np.where(epochs < 60, 1 / 6, 1e-4),
                      np.full(cfg.epochs, 1 / 6)]).astype(np.float32)
    run = Run(config=cfg, seeds=np.array([37, 2]), eval_epochs=np.asarray(cfg.eval_epochs),
              init_params=from_state_dict(init), params=from_state_dict(final),
              snapshots=from_state_dict(snaps), train_loss=train,
              test_loss=train[:, list(cfg.eval_epochs)] * 1e4,
              lr=np.full((2, cfg.n_eval), 1e-4, np.float32), diverged=np.zeros(2, bool))
    path = str(tmp_path_factory.mktemp("runs") / "tiny")
    run.save(path)
    return path


def _images_exist(text: str, directory: str) -> list:
    images = re.findall(r"!\[[^\]]*\]\(([^)]+\.png)\)", text)
    for image in images:
        assert os.path.exists(os.path.join(directory, image)), image
    return images


def assert_first_page(text: str) -> None:
    """The report's one page: at most ~150 lines, the families, the blog's questions, four
    figures, and links to every appendix."""
    assert len(text.splitlines()) <= 150, len(text.splitlines())
    for section in ("## Families and strategies", "## The blog's questions", "## Figures",
                    "## Configuration", "## More"):
        assert section in text, section
    assert "| " + " | ".join(FAMILY_HEADER) + " |" in text
    for link in ("(census.md)", "(ensemble.md)", "(dissections.md)"):
        assert link in text, link
    assert len(re.findall(r"!\[[^\]]*\]\(([^)]+\.png)\)", text)) == 4


def test_write_report(run_dir):
    # an existing comparison is linked (running one trains stability runs: too slow here)
    os.makedirs(os.path.join(run_dir, "compare"))
    with open(os.path.join(run_dir, "compare", "compare.md"), "w") as handle:
        handle.write("# comparison\n")
    path = write_report(run_dir)
    assert path == os.path.join(run_dir, "report", "report.md")
    out = os.path.join(run_dir, "report")
    text = open(path).read()
    assert_first_page(text)
    assert "](../compare/compare.md)" in text
    # the configuration shows only what differs from the blog's protocol
    assert "| `epochs` | 150 | 3000 |" in text and "`batch_size`" not in text
    appendix = "".join(open(os.path.join(out, name)).read() for name in
                       ("census.md", "ensemble.md", "dissections.md"))
    images = _images_exist(text + appendix, out)
    captions = re.findall(r"^\*Figure \d+\. .+\*$", text + appendix, flags=re.M)
    assert len(captions) == len(images) >= 10
    # every page numbers its own figures from 1, in order
    for page in [text] + [open(os.path.join(out, name)).read()
                          for name in ("census.md", "ensemble.md", "dissections.md")]:
        numbers = [int(n) for n in re.findall(r"^\*Figure (\d+)\. ", page, flags=re.M)]
        assert numbers == list(range(1, len(numbers) + 1))
    ensemble_md = open(os.path.join(out, "ensemble.md")).read()
    assert "### The blog's claims" in ensemble_md
    dissections = open(os.path.join(out, "dissections.md")).read()
    assert "57.81" in dissections  # the blog's seed walks the blog's sequence as published
    assert_census_leads(open(os.path.join(out, "census.md")).read(), run_dir)
    # 2 seeds: no discovery, one family, said so; its representative is dissected
    assert "too few seeds for a census" in text
    assert re.search(r"^### Seed (37|2) \(F1 ", dissections, flags=re.M)
    assert os.path.exists(os.path.join(out, "commitment.png"))


def test_missing_comparison_is_a_note_when_not_run(tmp_path):
    fresh = tmp_path / "fresh"
    fresh.mkdir()
    text = _comparison_section(str(fresh), str(fresh), census=None, run_comparison=False)
    assert "No comparison" in text and "gru-jax compare" in text


def test_cli_dissect_run_and_weights(run_dir, tmp_path, capsys):
    assert main(["dissect", run_dir, "--seed", "37", "--epoch", "49"]) == 0
    out_dir = os.path.join(run_dir, "dissect", "seed37_epoch49")
    assert os.path.exists(os.path.join(out_dir, "dissect.md"))
    assert os.path.exists(os.path.join(out_dir, "gate_response.png"))
    weights = tmp_path / "blog.json"
    weights.write_text(json.dumps(BLOG_STATE_DICT))
    out = tmp_path / "blog_dissect"
    assert main(["dissect", "--weights", str(weights), "--out", str(out),
                 "--sequence", "75,1 38,1 12,0 12,0"]) == 0
    printed = capsys.readouterr().out
    assert "**112.55" in printed and "Fixed points" in printed
    assert (out / "dynamics.png").exists() and (out / "contributions_t0.png").exists()
    assert main(["dissect", run_dir, "--epoch", "50"]) == 2
    assert "not an eval epoch" in capsys.readouterr().err
    assert main(["dissect", run_dir, "--weights", str(weights)]) == 2
    assert "exactly one" in capsys.readouterr().err


def test_pick_epochs():
    assert pick_epochs(range(0, 3000, 49)) == [0, 735, 1519, 2989]
    assert pick_epochs([0, 49, 98, 147, 196]) == [0, 49, 98, 196]  # evenly spaced
    assert pick_epochs([0, 735, 1519, 1568]) == [0, 735, 1519, 1568]


def test_run_compare_writes_markdown_and_figures(tmp_path):
    run_dir = str(tmp_path / "run")
    constructed_run(run_dir)
    path = run_compare(run_dir, options=CompareOptions(stability_epochs=0, n_per_cell=20,
                                                      tradeoff_n_per_cell=0))
    assert path == os.path.join(run_dir, "compare", "compare.md")
    first = open(path).read()
    assert len(first.splitlines()) <= 150 and "(details.md)" in first
    assert "| question | over the ensemble |" in first
    assert len(_images_exist(first, os.path.join(run_dir, "compare"))) == 4
    text = open(os.path.join(run_dir, "compare", "details.md")).read()
    for name in ("parameters.png", "behaviour.png", "families.png", "distance_canonical.png",
                 "distance_behaviour.png", "generalization.png", "interpolation.png",
                 "commitment.png"):
        assert os.path.exists(os.path.join(run_dir, "compare", name)), name
        assert name in text
    assert_census_leads(text, run_dir)


def _random_run(cfg: Config, count: int, path: str) -> Run:
    """A run on disk of ``count`` models at ``cfg.hidden_size``, constructed (training would
    add a compilation to a test about the writers): init and final params drawn by
    ``init_params`` (final x 3: firmer gates), snapshots on the straight line between them,
    losses falling from 1/6 to 1e-4 (seed 3 diverged at the last epoch)."""
    import jax
    from gru_jax import init_params
    keys = jax.random.split(jax.random.key(0), 2 * count)
    models = [init_params(cfg, k) for k in keys]
    stack = lambda ms, scale: jax.tree_util.tree_map(
        lambda *a: scale * np.stack([np.asarray(x, np.float32) for x in a]), *ms)
    init, final = stack(models[:count], 1.0), stack(models[count:], 3.0)
    frac = (np.asarray(cfg.eval_epochs) + 1) / cfg.epochs
    snaps = jax.tree_util.tree_map(
        lambda a, b: np.stack([a + (b - a) * f for f in frac], 1).astype(np.float32), init, final)
    train = np.geomspace(1 / 6, 1e-4, cfg.epochs)[None].repeat(count, 0).astype(np.float32)
    train[3, -1] = np.nan
    run = Run(config=cfg, seeds=np.arange(count), eval_epochs=np.asarray(cfg.eval_epochs),
              init_params=init, params=final, snapshots=snaps, train_loss=train,
              test_loss=train[:, list(cfg.eval_epochs)] * 1e4,
              lr=np.full((count, cfg.n_eval), 1e-4, np.float32),
              diverged=np.isnan(train[:, -1]))
    run.save(path)
    return run


# H = 2 end to end (75-100 s of compiles per hidden size); the analyses themselves are tested at
# H = 3 in test_slow_points, 3 and 5 in test_symmetry, 2 in test_census
@pytest.mark.parametrize("hidden", [2])
def test_compare_and_report_at_larger_hidden_sizes(tmp_path, hidden):
    cfg = Config(hidden_size=hidden, n_samples=300, batch_size=64, epochs=6, eval_every=3)
    run_dir = str(tmp_path / f"h{hidden}")
    _random_run(cfg, 4, run_dir)
    census = ga.census(Run.load(run_dir))          # once for both writers, as the pipeline
    path = run_compare(run_dir, options=CompareOptions(stability_epochs=5, n_per_cell=10,
                                                       tradeoff_n_per_cell=0), census=census)
    assert path == os.path.join(run_dir, "compare", "compare.md")
    text = open(os.path.join(run_dir, "compare", "details.md")).read()
    for section in ("## Final parameters, aligned", "## Fixed points", LEAD,
                    "## Generalization", "## Loss along the straight path", "Skipped"):
        assert section in text, section
    rows = open(os.path.join(run_dir, "compare", "fixed_points.csv")).read().splitlines()
    assert len(rows) == 5 and rows[0].startswith("seed,family,strategy,threshold_class,n_flag0")
    for name in ("parameters.png", "fixed_points.png", "behaviour.png", "interpolation.png"):
        assert os.path.exists(os.path.join(run_dir, "compare", name)), name
    first = open(write_report(run_dir, census=census)).read()
    assert_first_page(first)
    assert f"with {hidden} hidden unit(s)" in first
    out = os.path.join(run_dir, "report")
    report = open(os.path.join(out, "census.md")).read()
    assert_census_leads(text, run_dir)
    assert_census_leads(report, run_dir)
    assert "**The run.** 4 seeds, 1 diverged" in report        # seed 3's last loss is NaN
    # the report and the comparison state the same census, word for word (figures follow)
    assert lead_section(report).split("![")[0] == lead_section(text).split("![")[0]
    dissections = open(os.path.join(out, "dissections.md")).read()
    assert "Fixed points of h_t -> h_(t+1) at constant inputs" in dissections
    assert "the readout unit" in dissections
    images = _images_exist(first + report + dissections, out)
    assert images
