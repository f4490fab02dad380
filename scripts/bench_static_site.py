"""The static site's budgets (issue 21), measured in headless Debian Chromium against a loopback http.server:

- first visit to the default board (board.html, no parameters): bytes and requests over the wire until the board
  is drawn (budget 10 MB), and the time from navigation to the board drawn (performance mark "first-board",
  budget 1 s);
- new samples (key S) on a four-model board (the first named set with four models): time from the key event to
  the pictures drawn (mark "samples-drawn") and to the next animation frame (budget 50 ms);
- hover-to-decode on the 2-D latent plane (latent.html): pointer moves dispatched on every animation frame for two
  seconds, frames decoded and drawn (mark "hover-drawn") per second (budget 30).

Every visit is in a fresh browser context (an empty cache). The machine's load average is printed with the results:
the numbers are taken on shared cores.

    python -m scripts.bench_static_site                 # exports the shipped zoo to a temporary folder first
    python -m scripts.bench_static_site --site /tmp/site --runs 5
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--site", type=Path, default=None, help="an export (default: export the shipped zoo now)")
    parser.add_argument("--runs", type=int, default=5, help="fresh first visits (median and worst reported)")
    parser.add_argument("--presses", type=int, default=20, help="S presses on the four-model board")
    args = parser.parse_args()
    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory() as tmp:
        site = args.site
        if site is None:
            site = Path(tmp) / "site"
            print("exporting the shipped zoo ...", flush=True)
            export_site(site)
        zoo = json.loads((site / DATA_DIR / ZOO_JSON).read_text())
        dataset = zoo["default"]["dataset"]
        four = next(s for s in zoo["sets"][dataset] if len(s["models"]) == 4)
        flat = sorted(n for n, m in zoo["models"].items() if m["latent_dim"] == 2 and m["dataset"] == dataset)
        load_before = os.getloadavg()
        with serve_folder(site) as url, sync_playwright() as p:
            browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
            visits = [first_visit(browser, url) for _ in range(args.runs)]
            presses = new_samples(browser, url, four["title"], args.presses)
            hovers = {m: hover(browser, url, m, 2000) for m in flat}
            browser.close()
        load_after = os.getloadavg()
    first_ms = [v["first_board_ms"] for v in visits]
    drawn = [t["drawn"] for t in presses[1:]]  # the first press also compiles the code path
    frame = [t["frame"] for t in presses[1:]]
    print(f"\n{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, {os.cpu_count()} cores, load average "
          f"{load_before[0]:.1f} before / {load_after[0]:.1f} after (1 min); headless Chromium, loopback")
    print(f"board.html opens on: {visits[0]['shown']}; the app's default selection: "
          f"{', '.join(zoo['default']['models'])}; four-model board for S: {four['title']} "
          f"({', '.join(four['models'])})\n")
    print("| measure | median | worst | budget |")
    print("|---|---|---|---|")
    print(f"| first visit, bytes to the default board drawn | {statistics.median(v['bytes'] for v in visits):,.0f} | "
          f"{max(v['bytes'] for v in visits):,} | <= {BUDGETS['first_bytes']:,.0f} |")
    print(f"| first visit, requests | {statistics.median(v['requests'] for v in visits):.0f} | "
          f"{max(v['requests'] for v in visits)} | |")
    print(f"| first board drawn, ms from navigation | {statistics.median(first_ms):.0f} | {max(first_ms):.0f} | "
          f"<= {BUDGETS['first_board_ms']} |")
    print(f"| new samples (S), four models, ms to drawn | {statistics.median(drawn):.1f} | {max(drawn):.1f} | "
          f"<= {BUDGETS['samples_ms']} |")
    print(f"| new samples (S), ms to the next frame | {statistics.median(frame):.1f} | {max(frame):.1f} | |")
    for model, h in hovers.items():
        print(f"| hover-to-decode, {model}, frames per second | {h['frames'] / h['seconds']:.1f} | | "
              f">= {BUDGETS['hover_fps']} |")


if __name__ == "__main__":
    main()
