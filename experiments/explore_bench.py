"""Size and load-to-interactive time of explorer pages (``gru-jax explore``).

    python experiments/explore_bench.py --run results/runs/blog1024 --synthetic 100000 \
        --out results/explore

1. The committed 1024-seed run: its census (``gru_jax.analysis.census``), the page written
   beside it (``RUN/explore.html``) and a screenshot (``RUN/explore.png``; the largest
   strategy's representative seed opened).
2. A synthetic ensemble of ``--synthetic`` seeds (no training): each synthetic seed is a
   seed of the run drawn at random (numpy ``default_rng(0)``), its params, snapshots and
   features jittered (1% noise) and its losses scaled by a log-normal factor, its family and
   strategy those of the seed it was drawn from. Written to ``OUT/synthetic_<N>.html`` (not
   committed: see the size below).

Each page is opened ``--repeat`` times, each time in a FRESH headless Chromium (cold: no code
cache), from disk with the network off (tests/explorer_browser.py, which also checks the page);
reported: the page size, ``window.explorer.readyMs`` (ms from navigation start to interactive)
and the wall time from the navigation request to ready seen by the driver; medians and all
values in ``OUT/bench.json``.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
import types

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, ".."))
sys.path.insert(0, os.path.join(HERE, "..", "tests"))

from explorer_browser import check_page, chromium  # noqa: E402
from selenium.webdriver.common.action_chains import ActionChains  # noqa: E402
from gru_jax import Run  # noqa: E402
from gru_jax import analysis as ga  # noqa: E402
from gru_jax.analysis.stats import wilson_intervals  # noqa: E402
from gru_jax.reports import explorer  # noqa: E402
from bench_analysis import synthetic_run  # noqa: E402  (this folder: the same synthetic seeds)

def synthetic(run: Run, census, count: int, seed: int = 0):
    """``(Run, census namespace)`` of ``count`` synthetic seeds (module docstring)."""
    fake, pick, rng = synthetic_run(run, count, seed)
    labels = np.asarray(census.labels)[pick]
    families = np.asarray(census.families)[pick]
    count_k = np.bincount(labels, minlength=census.n_strategies)
    count_g = np.bincount(families, minlength=census.n_families)
    intervals = lambda counts: wilson_intervals(counts, count)
    features = np.asarray(census.features)[pick]
    features = features + 0.01 * np.nanstd(features, 0) * rng.standard_normal(features.shape)
    return fake, types.SimpleNamespace(
        labels=labels, names=list(census.names), counts=count_k, fractions=count_k / count,
        ci_low=intervals(count_k)[:, 0], ci_high=intervals(count_k)[:, 1],
        families=families, family_labels=list(census.family_labels),
        family_names=list(census.family_names), family_fractions=count_g / count,
        family_ci_low=intervals(count_g)[:, 0], family_ci_high=intervals(count_g)[:, 1],
        strategy_labels=list(census.strategy_labels), strategy_family=census.strategy_family,
        features=features, feature_names=census.feature_names,
        threshold_labels=census.threshold_labels[pick], reference=census.reference,
        note=f"synthetic: {count} seeds resampled from {run.n_seeds} with 1% jitter")


def measure(path: str, repeat: int, screenshot=None, select=None) -> dict:
    """Cold loads of ``path`` (a fresh browser each time) and the checker's verdict; the
    first load's page is saved to ``screenshot`` with seed ``select`` opened (optional)."""
    ready, wall, problems = [], [], []
    for k in range(repeat):
        with chromium(1500, 1800) as driver:
            result = check_page(path, click=k == 0, driver=driver, timeout=120)
            ready.append(result.ready_ms)
            wall.append(result.wall_s)
            problems += result.problems
            if screenshot and k == 0:
                driver.execute_script("document.getElementById('title').scrollIntoView()")
                ActionChains(driver).move_to_element(
                    driver.find_element("id", "title")).perform()     # no hover label
                if select is not None:
                    driver.execute_script("window.explorer.select(arguments[0])", select)
                time.sleep(1.0)
                driver.save_screenshot(screenshot)
    return {"page": path, "bytes": os.path.getsize(path), "ready_ms": ready, "wall_s": wall,
            "ready_ms_median": float(np.median(ready)), "wall_s_median": float(np.median(wall)),
            "problems": problems}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--run", default="results/runs/blog1024")
    parser.add_argument("--synthetic", type=int, default=100_000)
    parser.add_argument("--out", default="results/explore")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    os.makedirs(args.out, exist_ok=True)
    run = Run.load(args.run)
    start = time.perf_counter()
    census = ga.census(run)
    census_s = time.perf_counter() - start
    start = time.perf_counter()
    page = explorer.write_explorer(args.run, census=census)
    results = {"command": " ".join(["python"] + sys.argv), "machine": os.uname().nodename,
               "cpus": os.cpu_count(), "load_average": os.getloadavg()}
    results["run"] = {"seeds": run.n_seeds, "census_s": census_s,
                      "write_s": time.perf_counter() - start,
                      **measure(page, args.repeat, os.path.join(args.run, "explore.png"),
                                select=int(census.representatives[0]))}
    print(json.dumps(results["run"], indent=1), flush=True)
    if args.synthetic:
        fake, fake_census = synthetic(run, census, args.synthetic)
        start = time.perf_counter()
        path = explorer.write_explorer(fake, os.path.join(args.out,
                                                          f"synthetic_{args.synthetic}.html"),
                                       census=fake_census)
        results["synthetic"] = {"seeds": args.synthetic, "write_s": time.perf_counter() - start,
                                **measure(path, args.repeat,
                                          os.path.join(args.out, "synthetic.png"))}
        print(json.dumps(results["synthetic"], indent=1), flush=True)
    with open(os.path.join(args.out, "bench.json"), "w") as handle:
        json.dump(results, handle, indent=1)


if __name__ == "__main__":
    main()
