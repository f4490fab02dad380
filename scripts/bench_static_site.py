"""The static site's budgets (issue 21), measured in headless Debian Chromium against a loopback http.server:

- first visit to the default board (board.html, no parameters): bytes and requests over the wire until the board
  is drawn (budget 10 MB), and the time from navigation to the board drawn (performance mark "first-board",
  budget 1 s);
- new samples (key S) on a four-model board (the first named set with four models): time from the key event to
  the pictures drawn (mark "samples-drawn") and to the next animation frame (budget 50 ms);
- hover-to-decode on the 2-D latent plane (latent.html): pointer moves dispatched on every animation frame for two
  seconds, frames decoded and drawn (mark "hover-drawn") per second (budget 30);
- the posterior of a test image the export does not hold (latent.html?image=417), computed by the page's worker:
  ms from the request to the heat map drawn, the worker's start on the first request included (no budget).

Every visit is in a fresh browser context (an empty cache). The machine's load average is printed with the results:
the numbers are taken on shared cores. S is timed on every named set of four models (the budget is for the worst
of them). ``--before DIR`` measures a second export (another version of the page over the same data/) in the same
run, visit for visit and set for set, so the two compare under the same load.

    python -m scripts.bench_static_site                 # exports the shipped zoo to a temporary folder first
    python -m scripts.bench_static_site --site /tmp/site --runs 5
    python -m scripts.bench_static_site --site /tmp/after --before /tmp/before --runs 9
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time
from contextlib import ExitStack
from pathlib import Path
from urllib.parse import quote

from explorer.browser import CHROMIUM_ARGS
from explorer.static_site import DATA_DIR, ZOO_JSON, export_site, serve_folder

BUDGETS = {"first_bytes": 10e6, "first_board_ms": 1000, "samples_ms": 50, "hover_fps": 30}
VIEWPORT = {"width": 1280, "height": 720}

# In the page: press S (the board's own handler) and time it to the mark and to the next frame.
SAMPLES_JS = """() => new Promise((resolve) => {
  const t = performance.now();
  document.dispatchEvent(new KeyboardEvent("keydown", {key: "s", bubbles: true}));
  const marks = performance.getEntriesByName("samples-drawn");
  const drawn = marks[marks.length - 1].startTime - t;
  requestAnimationFrame(() => resolve({drawn, frame: performance.now() - t}));
})"""

# In the page: a pointer move over the plane on every animation frame for `ms`; frames drawn per second.
HOVER_JS = """(ms) => new Promise((resolve) => {
  const plane = document.querySelector("canvas.plane") || document.querySelector("canvas");
  const box = plane.getBoundingClientRect();
  const before = performance.getEntriesByName("hover-drawn").length;
  const start = performance.now();
  let i = 0;
  function step(now) {
    if (now - start >= ms) {
      const drawn = performance.getEntriesByName("hover-drawn").length - before;
      resolve({frames: drawn, seconds: (now - start) / 1000});
      return;
    }
    const a = (i++ * 0.05) % (2 * Math.PI);
    plane.dispatchEvent(new PointerEvent("pointermove", {bubbles: true,
      clientX: box.left + box.width * (0.5 + 0.35 * Math.cos(a)),
      clientY: box.top + box.height * (0.5 + 0.35 * Math.sin(a))}));
    requestAnimationFrame(step);
  }
  requestAnimationFrame(step);
})"""


def fresh_page(browser):
    context = browser.new_context(viewport=VIEWPORT)
    page = context.new_page()
    sizes: list[int] = []
    page.on("requestfinished", lambda r: sizes.append(r.sizes()["responseBodySize"] + r.sizes()["responseHeadersSize"]))
    return context, page, sizes


def first_visit(browser, url: str) -> dict:
    context, page, sizes = fresh_page(browser)
    page.goto(f"{url}/board.html")
    page.wait_for_function("window.__siteReady === true && performance.getEntriesByName('first-board').length > 0",
                           timeout=120_000)
    drawn = page.evaluate("performance.getEntriesByName('first-board')[0].startTime")
    shown = page.evaluate("window.__boardSet || null")  # the set the board opened on (board.js)
    result = {"bytes": sum(sizes), "requests": len(sizes), "first_board_ms": drawn, "shown": shown}
    context.close()
    return result


def new_samples(browser, url: str, title: str, presses: int) -> list[dict]:
    context, page, _ = fresh_page(browser)
    page.goto(f"{url}/board.html?set={quote(title)}")
    page.wait_for_function("window.__siteReady === true && performance.getEntriesByName('first-board').length > 0",
                           timeout=120_000)
    times = [page.evaluate(SAMPLES_JS) for _ in range(presses)]
    context.close()
    return times


def hover(browser, url: str, model: str, ms: int) -> dict:
    context, page, _ = fresh_page(browser)
    page.goto(f"{url}/latent.html?model={model}")
    page.wait_for_function("window.__siteReady === true", timeout=120_000)
    result = page.evaluate(HOVER_JS, ms)
    context.close()
    return result


POSTERIOR_IMAGE = 417  # a test image whose posterior the export does not hold: the page computes it


def posterior(browser, url: str, model: str) -> float | None:
    """ms the latent plane takes to compute and draw the posterior of POSTERIOR_IMAGE (None: the page does not)."""
    context, page, _ = fresh_page(browser)
    page.goto(f"{url}/latent.html?model={model}&image={POSTERIOR_IMAGE}")
    page.wait_for_function("window.__siteReady === true", timeout=120_000)
    try:
        if page.evaluate("document.querySelector('input#image') === null"):  # a version that cannot choose any image
            return None
        page.wait_for_function(f"document.body.dataset.posterior === '{POSTERIOR_IMAGE}'", timeout=120_000)
        ms = page.evaluate("document.querySelector('canvas.heat').dataset.computedMs")
    finally:
        context.close()
    return None if ms is None else float(ms)


def measure(browser, url: str, zoo: dict, runs: int, presses: int) -> dict:
    """One round of every measure against the export served at ``url``."""
    dataset = zoo["default"]["dataset"]
    fours = [s for s in zoo["sets"][dataset] if len(s["models"]) == 4]
    flat = sorted(n for n, m in zoo["models"].items() if m["latent_dim"] == 2 and m["dataset"] == dataset)
    return {"visits": [first_visit(browser, url) for _ in range(runs)],
            "presses": {s["title"]: new_samples(browser, url, s["title"], presses)[1:] for s in fours},  # the first
            "hovers": {m: hover(browser, url, m, 2000) for m in flat},                                  # compiles
            "posteriors": {m: posterior(browser, url, m) for m in flat}}


def merge(rounds: list[dict]) -> dict:
    out = {"visits": [v for r in rounds for v in r["visits"]], "presses": {}, "hovers": {}, "posteriors": {}}
    for r in rounds:
        for title, times in r["presses"].items():
            out["presses"].setdefault(title, []).extend(times)
        for model, h in r["hovers"].items():
            got = out["hovers"].setdefault(model, {"frames": 0, "seconds": 0.0})
            got["frames"] += h["frames"]
            got["seconds"] += h["seconds"]
        for model, ms in r["posteriors"].items():
            out["posteriors"].setdefault(model, []).append(ms)
    return out


def rows(result: dict) -> list[tuple[str, float, float, str]]:
    """(measure, median, worst, budget) of one export's results."""
    first_ms = [v["first_board_ms"] for v in result["visits"]]
    out = [("first visit, bytes to the default board drawn", statistics.median(v["bytes"] for v in result["visits"]),
            max(v["bytes"] for v in result["visits"]), f"<= {BUDGETS['first_bytes']:,.0f}"),
           ("first visit, requests", statistics.median(v["requests"] for v in result["visits"]),
            max(v["requests"] for v in result["visits"]), ""),
           ("first board drawn, ms from navigation", statistics.median(first_ms), max(first_ms),
            f"<= {BUDGETS['first_board_ms']}")]
    for title, times in result["presses"].items():
        drawn = [t["drawn"] for t in times]
        out.append((f"new samples (S), {title}, ms to drawn", statistics.median(drawn), max(drawn),
                    f"<= {BUDGETS['samples_ms']}"))
    for model, h in result["hovers"].items():
        out.append((f"hover-to-decode, {model}, frames per second", h["frames"] / h["seconds"], float("nan"),
                    f">= {BUDGETS['hover_fps']}"))
    for model, times in result["posteriors"].items():
        known = [t for t in times if t is not None]
        out.append((f"posterior of test image #{POSTERIOR_IMAGE} computed, {model}, ms",
                    statistics.median(known) if known else float("nan"), max(known) if known else float("nan"), ""))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--site", type=Path, default=None, help="an export (default: export the shipped zoo now)")
    parser.add_argument("--before", type=Path, default=None, help="a second export measured in the same run")
    parser.add_argument("--runs", type=int, default=5, help="fresh first visits per export (median and worst)")
    parser.add_argument("--presses", type=int, default=20, help="S presses per four-model set and round")
    args = parser.parse_args()
    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory() as tmp:
        site = args.site
        if site is None:
            site = Path(tmp) / "site"
            print("exporting the shipped zoo ...", flush=True)
            export_site(site)
        sites = {"after": site, "before": args.before} if args.before else {"this export": site}
        zoo = json.loads((site / DATA_DIR / ZOO_JSON).read_text())
        load_before = os.getloadavg()
        rounds: dict[str, list] = {label: [] for label in sites}
        with ExitStack() as stack, sync_playwright() as p:
            urls = {label: stack.enter_context(serve_folder(folder)) for label, folder in sites.items()}
            browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
            for _ in range(args.runs):  # one visit and one round of presses each, in turn, under the same load
                for label in reversed(list(sites)):
                    rounds[label].append(measure(browser, urls[label], zoo, 1, args.presses // args.runs + 1))
            browser.close()
        load_after = os.getloadavg()
    results = {label: merge(r) for label, r in rounds.items()}
    print(f"\n{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, {os.cpu_count()} cores, load average "
          f"{load_before[0]:.1f} before / {load_after[0]:.1f} after (1 min); headless Chromium, loopback; "
          f"{args.runs} rounds, each export in turn")
    first = next(iter(results.values()))
    print(f"board.html opens on: {first['visits'][0]['shown']}; the app's default selection: "
          f"{', '.join(zoo['default']['models'])}\n")
    labels = list(results)
    table = {label: rows(results[label]) for label in labels}
    print("| measure | " + " | ".join(f"{label}: median | {label}: worst" for label in labels) + " | budget |")
    print("|---|" + "---|---|" * len(labels) + "---|")
    fmt = lambda v: "" if v != v else f"{v:,.0f}" if v >= 1000 else f"{v:.1f}"  # noqa: E731
    for i, (what, *_rest) in enumerate(table[labels[0]]):
        cells = " | ".join(f"{fmt(table[label][i][1])} | {fmt(table[label][i][2])}" for label in labels)
        print(f"| {what} | {cells} | {table[labels[0]][i][3]} |")


if __name__ == "__main__":
    main()
