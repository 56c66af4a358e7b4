"""Open an explorer page (``gru-jax explore``) in headless Chromium and list what is wrong.

Debian's ``chromium`` and ``chromium-driver`` (``/usr/bin/chromium``, ``/usr/bin/chromedriver``)
driven by selenium; nothing is downloaded. The page is opened from disk (``file://``) with the
network off (Chrome DevTools ``Network.emulateNetworkConditions`` offline), and
:func:`check_page` returns every problem it sees: a console error (level SEVERE), a request for
anything but the file itself (the performance log), ``window.explorer`` never ready, a plotted
point count that differs from ``window.explorer.seeds``, a seed panel without the seed's
number, family label or final loss (after ``window.explorer.select`` AND after a real mouse
click on a point), no hover label, an error line on the page, a blank screenshot.
``tests/test_explore.py`` uses it, and ``experiments/explore_bench.py`` times pages with it.
"""
from __future__ import annotations

import contextlib
import io
import json
import os
import re
import shutil
import tempfile
import time
from typing import NamedTuple, Optional

CHROMIUM = os.environ.get("GRU_JAX_CHROMIUM", "/usr/bin/chromium")
CHROMEDRIVER = os.environ.get("GRU_JAX_CHROMEDRIVER", "/usr/bin/chromedriver")
FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--disable-dev-shm-usage")


def browser_missing() -> str:
    """Why the browser checks cannot run here ("" when they can)."""
    for path, package in ((CHROMIUM, "chromium"), (CHROMEDRIVER, "chromium-driver")):
        if not os.access(path, os.X_OK):
            return f"{path} not found (apt-get install -y chromium chromium-driver: {package})"
    try:
        import selenium  # noqa: F401
    except ImportError:
        return "selenium is not installed (pip install -e '.[test]')"
    return ""


@contextlib.contextmanager
def chromium(width: int = 1500, height: int = 1300):
    """A headless Chromium (fresh profile, network emulated offline, browser and performance
    logs on) driven by selenium; quit and its profile removed on exit."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    profile = tempfile.mkdtemp(prefix="gru_jax_chromium_")
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in FLAGS + (f"--window-size={width},{height}", f"--user-data-dir={profile}"):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL", "performance": "ALL"})
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    try:
        driver.execute_cdp_cmd("Network.enable", {})
        driver.execute_cdp_cmd("Network.emulateNetworkConditions", {
            "offline": True, "latency": 0, "downloadThroughput": 0, "uploadThroughput": 0})
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


class PageCheck(NamedTuple):
    """problems: what is wrong ([] = nothing); seeds: ``window.explorer.seeds``; points: the
    points plotted in the behaviour plane; ready_ms: ``window.explorer.readyMs`` (ms from
    navigation start to interactive); wall_s: from the navigation request to ready, seen
    from the driver; requests: every URL the page asked for; clicked: the seed a real click
    opened; colours: distinct colours in the screenshot."""

    problems: list
    seeds: list
    points: int
    ready_ms: Optional[float]
    wall_s: Optional[float]
    requests: list
    clicked: Optional[int]
    colours: int


# the points drawn in the behaviour plane: the SVG markers of the seed traces
COUNT_POINTS = """
const gd = document.getElementById('behaviour');
const groups = gd.querySelectorAll('.scatterlayer .trace');
let total = 0;
gd.data.forEach((t, k) => {
  if (t.meta === 'seeds') total += groups[k] ? groups[k].querySelectorAll('path.point').length : 0;
});
return total;
"""

# the most isolated of (at most 400) plotted points of the behaviour plane: its seed and pixel
# offset from the plot's centre, for a real mouse click there
ISOLATED_POINT = """
const gd = document.getElementById('behaviour');
const xa = gd._fullLayout.xaxis, ya = gd._fullLayout.yaxis;
const box = gd.getBoundingClientRect();
const pts = [];
gd.data.forEach(t => { if (t.meta === 'seeds') t.x.forEach((x, j) => {
  const y = t.y[j];
  if (isFinite(x) && isFinite(y)) pts.push([xa._offset + xa.l2p(x), ya._offset + ya.l2p(y),
                                            t.customdata[j]]);
}); });
let best = null, bestGap = -1;
pts.slice(0, 400).forEach((p, a) => {
  let gap = Infinity;
  pts.forEach((q, b) => {
    if (a !== b) gap = Math.min(gap, Math.hypot(p[0] - q[0], p[1] - q[1]));
  });
  if (gap > bestGap) { bestGap = gap; best = p; }
});
if (!best) return null;
return {seed: window.explorer.allSeeds[best[2]],
        dx: best[0] - box.width / 2, dy: best[1] - box.height / 2};
"""


def panel_problems(text: str, seed: int, expected: Optional[dict], how: str) -> list:
    """What the seed panel's text lacks: ``"seed <s>"``, the family label and the final
    training loss (to the page's 4 digits) of ``expected[seed] = (family label, final loss)``."""
    problems = []
    if not re.search(rf"\bseed {seed}\b", text):
        problems.append(f"{how}: #seed-panel does not say 'seed {seed}': {text[:200]!r}")
    if expected is None or seed not in expected:
        return problems
    family, loss = expected[seed]
    if not re.search(rf"\bfamily {re.escape(family)}\b", text):
        problems.append(f"{how}: #seed-panel lacks seed {seed}'s family {family}: {text[:200]!r}")
    found = re.search(r"final training loss (\S+)", text)
    shown = float(found.group(1)) if found and found.group(1) != "n/a" else float("nan")
    if not (abs(shown - loss) <= 1e-3 * abs(loss) or (shown != shown and loss != loss)):
        problems.append(f"{how}: #seed-panel shows final loss {found and found.group(1)} for seed "
                        f"{seed}, the data say {loss:.6g}")
    return problems


def distinct_colours(png: bytes) -> int:
    from PIL import Image
    image = Image.open(io.BytesIO(png)).convert("RGB")
    return len(image.getcolors(maxcolors=1 << 24) or [])


def check_page(path: str, expected: Optional[dict] = None, *, timeout: float = 30.0,
               click: bool = True, screenshot: Optional[str] = None, driver=None) -> PageCheck:
    """Open ``path`` from disk, offline, and check it (module docstring).

    Args:
      expected: ``{seed: (family label, final training loss)}`` from the Python data: the
        panels of the selected seeds must show them.
      click: also click a point with the mouse (and hover it) and check the panel it opens.
      screenshot: where to save a PNG of the page after the checks (optional).
      driver: an open :func:`chromium` driver (default: a new one).
    """
    if driver is None:
        with chromium() as fresh:
            return check_page(path, expected, timeout=timeout, click=click,
                              screenshot=screenshot, driver=fresh)
    from selenium.webdriver.common.action_chains import ActionChains
    url = "file://" + os.path.abspath(path)
    problems, seeds, points, clicked, colours = [], [], 0, None, 0
    ready_ms = wall_s = None
    driver.get_log("performance")
    driver.get_log("browser")
    start = time.perf_counter()
    driver.get(url)
    while time.perf_counter() - start < timeout:
        if driver.execute_script("return !!(window.explorer && window.explorer.ready)"):
            wall_s = time.perf_counter() - start
            ready_ms = driver.execute_script("return window.explorer.readyMs")
            break
        time.sleep(0.02)
    else:
        problems.append(f"window.explorer was not ready within {timeout:.0f} s")
    if wall_s is not None:
        seeds = driver.execute_script("return window.explorer.seeds")
        points = driver.execute_script(COUNT_POINTS)
        if not seeds:
            problems.append("window.explorer.seeds is empty")
        if points != len(seeds):
            problems.append(f"{points} points plotted for {len(seeds)} seeds")
        chosen = [seeds[len(seeds) // 2]] if seeds else []
        for seed in chosen:
            if not driver.execute_script("return window.explorer.select(arguments[0])", seed):
                problems.append(f"window.explorer.select({seed}) refused")
            text = driver.find_element("id", "seed-panel").text
            problems += panel_problems(text, seed, expected, "select")
        if click and seeds:
            target = driver.execute_script(ISOLATED_POINT)
            plot = driver.find_element("id", "behaviour")
            ActionChains(driver).move_to_element_with_offset(
                plot, int(round(target["dx"])), int(round(target["dy"]))).perform()
            time.sleep(0.3)
            hover = driver.execute_script(
                "const h = document.querySelector('#behaviour .hoverlayer .hovertext');"
                "return h ? h.textContent : ''")
            # the hovered seed (the target, or a point drawn on top of it in a dense cloud)
            found = re.match(r"seed (\d+)", hover)
            if not found:
                problems.append(f"hovering seed {target['seed']}'s point shows {hover[:120]!r}")
            ActionChains(driver).click().perform()
            time.sleep(0.3)
            clicked = int(found.group(1)) if found else target["seed"]
            text = driver.find_element("id", "seed-panel").text
            problems += panel_problems(text, clicked, expected, "click")
        line = driver.find_element("id", "status").text
        if line.startswith("error"):
            problems.append(f"the page reports {line!r}")
    requests = []
    for entry in driver.get_log("performance"):
        message = json.loads(entry["message"])["message"]
        if message.get("method") == "Network.requestWillBeSent":
            requests.append(message["params"]["request"]["url"])
    problems += [f"request for {u[:120]} (only the file itself may be read)"
                 for u in requests if u != url]
    problems += [f"console error: {e['message'][:300]}" for e in driver.get_log("browser")
                 if e["level"] == "SEVERE"]
    png = driver.get_screenshot_as_png()
    colours = distinct_colours(png)
    if colours < 64:
        problems.append(f"the screenshot is blank ({colours} distinct colours)")
    if screenshot:
        with open(screenshot, "wb") as handle:
            handle.write(png)
    return PageCheck(problems, seeds, points, ready_ms, wall_s, requests, clicked, colours)
