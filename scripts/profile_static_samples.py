"""Where the Board's new samples (key S) spend their time, per model of each named set of four, in headless Debian
Chromium against a loopback http.server: decoder.js's forward pass, the likelihood's parameters (decodeParams less
the forward pass), the full sample (drawSample) and the drawing into canvases (site/js/ui.js drawGrey, drawColored),
each timed with performance.now() around the same calls board.js makes for one press (3 prior samples per model).
The budget itself is measured by scripts/bench_static_site.py; this says which part to make faster.
``--before DIR`` profiles a second export (another version of the page over the same data/) in the same run.

    python -m scripts.profile_static_samples --site /tmp/site --reps 30
    python -m scripts.profile_static_samples --site /tmp/after --before /tmp/before
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import time
from contextlib import ExitStack
from pathlib import Path

from explorer.browser import CHROMIUM_ARGS
from explorer.static_site import DATA_DIR, ZOO_JSON, serve_folder

STAGES = ("forward", "params", "sample", "draw")
ROUNDS = 5  # the exports take turns this many times

# In the page: ``reps`` presses' worth of the board's drawSamples for the given models, each stage timed.
PROFILE_JS = """async ({names, reps, tiles}) => {
  const rt = await import("/decoder.js"), ui = await import("/js/ui.js");
  const zoo = await rt.loadZoo("data/");
  const models = await Promise.all(names.map((n) => rt.loadModel(zoo, n)));
  const canvases = names.map(() => [0, 1, 2].map(() => document.createElement("canvas")));
  const out = Object.fromEntries(names.map((n) => [n, {forward: [], params: [], sample: [], draw: []}]));
  for (let rep = 0; rep < reps; rep++) {
    models.forEach((m, k) => {
      const r = rt.rng(rep), z = rt.priorCodes(r, tiles, m.latentDim, 1.0);
      const t0 = performance.now();
      rt.forward(m.network, m.weights, z, tiles);
      const t1 = performance.now();
      const p = m.decode(z, tiles);
      const t2 = performance.now();
      const x = rt.drawSample(p, m.likelihood.key, r);
      const t3 = performance.now();
      ui.drawGrey(canvases[k][0], p.mean, tiles);
      ui.drawGrey(canvases[k][1], x, tiles);
      if (p.sigma) ui.drawColored(canvases[k][2], p.sigma, tiles, ui.logScale([p.sigma]));
      const t4 = performance.now();
      const o = out[m.name];
      o.forward.push(t1 - t0); o.params.push(Math.max(t2 - t1 - (t1 - t0), 0)); o.sample.push(t3 - t2);
      o.draw.push(t4 - t3);
    });
  }
  return out;
}"""


def profile(page, zoo: dict, reps: int) -> dict[str, dict[str, dict[str, list[float]]]]:
    """set title -> model -> stage -> ms per press, ``reps`` presses per set on the open page (the first press,
    which compiles, left out)."""
    fours = [s for s in zoo["sets"][zoo["default"]["dataset"]] if len(s["models"]) == 4]
    out = {}
    for s in fours:
        got = page.evaluate(PROFILE_JS, {"names": s["models"], "reps": reps + 1, "tiles": zoo["board"]["tiles"]})
        out[s["title"]] = {name: {stage: times[1:] for stage, times in stages.items()} for name, stages in got.items()}
    return out


def merge(into: dict, more: dict) -> None:
    for title, models in more.items():
        for name, stages in models.items():
            for stage, times in stages.items():
                into.setdefault(title, {}).setdefault(name, {}).setdefault(stage, []).extend(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--site", type=Path, required=True, help="an export (python -m scripts.export_site OUT)")
    parser.add_argument("--before", type=Path, default=None, help="a second export profiled in the same run")
    parser.add_argument("--reps", type=int, default=30, help="presses per set and export (in ROUNDS turns)")
    args = parser.parse_args()
    from playwright.sync_api import sync_playwright

    sites = {"after": args.site, "before": args.before} if args.before else {"this export": args.site}
    zoo = json.loads((args.site / DATA_DIR / ZOO_JSON).read_text())
    load_before = os.getloadavg()
    results: dict[str, dict] = {label: {} for label in sites}
    with ExitStack() as stack, sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
        pages = {}
        for label, folder in sites.items():
            url = stack.enter_context(serve_folder(folder))
            pages[label] = browser.new_page()
            pages[label].goto(f"{url}/index.html")
        for _ in range(ROUNDS):  # the exports in turn, a few presses each, so both see the same load
            for label, page in pages.items():
                merge(results[label], profile(page, zoo, max(args.reps // ROUNDS, 1)))
        browser.close()
    load_after = os.getloadavg()
    print(f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, {os.cpu_count()} cores, load average "
          f"{load_before[0]:.1f} before / {load_after[0]:.1f} after (1 min); {args.reps} presses per set; "
          "ms per press, median / worst\n")
    labels = list(results)
    print("| set | model | " + " | ".join(f"{label}: {stage}" for label in labels for stage in STAGES) + " |")
    print("|---|---|" + "---|" * (len(labels) * len(STAGES)))
    for title, models in results[labels[0]].items():
        for name in models:
            cells = [f"{statistics.median(t):.1f} / {max(t):.1f}"
                     for label in labels for t in (results[label][title][name][stage] for stage in STAGES)]
            print(f"| {title} | {name} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
