"""Speed in front of a room (issue 20, item 6), measured in Chromium on this machine, for the explorer before and
after a change and for a one-line Streamlit app, all in one run so that the machine's load falls on all of them:

- the first page after a server start: from starting `streamlit run` to the page at / drawn;
- a fresh tab on each page of a warm server: from the navigation's start to the page drawn;
- every control of the Board and the Story, warm: from the key press or click to the page drawn again;
- the Decoder sigma page's "All models" toggle: the first time (models not loaded yet), then off and on warm.

"Drawn" is measured inside the page (performance.now()): the first animation frame at which the app reports its script
done (`data-test-script-state`), every picture in the page is decoded and every Vega-Lite chart has drawn its marks.
Writes a Markdown report (default docs/bench_presenter.md) and the presenter screenshots at 1280x720.

    python -m scripts.bench_presenter                          # this tree against HEAD, ./checkpoints
    python -m scripts.bench_presenter --before-rev a9c3177 --runs 5 --screenshots ""
    python -m scripts.bench_presenter --before /tmp/old        # an unpacked tree instead of a revision
    python -m scripts.bench_presenter --before-rev ec04f49 --controls 3  # controls only, before and after in turn
    python -m scripts.bench_presenter --tab-parts 3            # where a fresh tab's time goes, this tree only
    python -m scripts.bench_presenter --tab-parts 5 --before-rev 9606926  # and against a commit, tabs interleaved
    python -m scripts.bench_presenter --cached-tabs 4          # first visits against tabs with a warm cache
    python -m scripts.bench_presenter --element-floor 5        # the one-line app plus one grid, one chart, ...
"""
from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from explorer import board, presenter, story
from explorer.browser import chromium, streamlit_server, wait_idle
from explorer.pages import PAGES, ROOT
from scripts.app_screenshots import shrink
from scripts.bench_app import before_tree, entry

TARGETS = {"fresh tab / one-line app": 1.5, "first page after start (s)": 5.0, "control (ms)": 300, "toggle (s)": 2.0}
VIEWPORT = presenter.VIEWPORT
BOARD_MODELS = [f"mnist-{s}" for s in board.MODEL_SETS["likelihood against samples"]]
ONE_LINE = "import streamlit as st\n\nst.title('One line')\n"
ONE_LINE_AGAIN = "one-line app, again"  # cached_tabs measures it before and after the pages
# The one-line app plus one element of a kind that the pages draw, each as small as such an element comes: what a
# fresh tab pays for the first element of each kind (its frontend code loaded, run and drawn), whatever a page adds.
FLOOR_DATA = """import numpy as np, pandas as pd
grid = pd.DataFrame(np.random.default_rng(0).normal(size=(12, 9)), columns=list("abcdefghi"))
curves = pd.DataFrame({"epoch": np.arange(15).repeat(2), "value": np.random.default_rng(1).normal(size=30),
                       "model": ["a", "b"] * 15})
chart = {"data": {"values": curves.to_dict("records")}, "mark": {"type": "line", "point": True}, "encoding": {
    "x": {"field": "epoch", "type": "quantitative"}, "y": {"field": "value", "type": "quantitative"},
    "color": {"field": "model", "type": "nominal"}}}
"""
FLOOR = {"a data grid (12 x 9)": "st.dataframe(grid, hide_index=True)\n",
         "a line chart (2 x 15 points)": "st.vega_lite_chart(chart, width='stretch')\n",
         "a data grid and a line chart": ("st.dataframe(grid, hide_index=True)\n"
                                          "st.vega_lite_chart(chart, width='stretch')\n"),
         "nine such line charts": "for i in range(9):\n    st.vega_lite_chart(chart, width='stretch')\n",
         "one chart of nine such panels": ("panel = dict(chart, width=380, height=200)\n"
                                           "rows = [{'hconcat': [panel, panel]}] * 4 + [panel]\n"
                                           "st.vega_lite_chart({'vconcat': rows})\n"),
         "a picture (84 x 84)": "st.image(np.zeros((84, 84), dtype=np.uint8))\n",
         "20 lines of Markdown": "for i in range(20):\n    st.markdown(f'**line {i}** of text')\n",
         # the explorer's sidebar (context.sidebar), whole and by its heaviest widgets
         "the explorer's sidebar widgets": (
             "names = [f'mnist-model-{i}' for i in range(21)]\n"
             "st.sidebar.header('Zoo')\nst.sidebar.text_input('Source', 'checkpoints')\n"
             "st.sidebar.selectbox('Dataset', ['mnist', 'fashion-mnist'])\n"
             "st.sidebar.segmented_control('Architecture', ['MLP', 'Convolutional'], default='MLP')\n"
             "st.sidebar.multiselect('Models', names, default=names[:3])\n"
             "st.sidebar.header('Run')\nst.sidebar.selectbox('Device', ['cpu'])\n"
             "st.sidebar.number_input('Seed', 0, 2**31 - 1, 0)\n"),
         "a multiselect of 21 options, 3 chosen, in the sidebar": (
             "names = [f'mnist-model-{i}' for i in range(21)]\n"
             "st.sidebar.multiselect('Models', names, default=names[:3])\n"),
         "a selectbox in the sidebar": "st.sidebar.selectbox('Dataset', ['mnist', 'fashion-mnist'])\n"}
KEEP = "<!-- notes: kept when the script rewrites this file -->"

DRAWN = """() => { const app = document.querySelector('[data-testid="stApp"]');
  return !!app && app.getAttribute('data-test-script-state') === 'notRunning'
    && !document.querySelector('[data-testid="stSkeleton"]')
    && [...document.querySelectorAll('[data-testid="stMain"] img')].every(i => i.complete && i.naturalWidth > 0)
    && [...document.querySelectorAll('[data-testid="stVegaLiteChart"]')]
      .every(c => c.querySelector('svg.marks, canvas'));
}"""
# A fresh tab: from the navigation's start (performance.now() = 0) to the first frame at which the page is drawn.
READY = f"""(() => {{ window.__drawn = null; const drawn = {DRAWN};
  const tick = () => {{ if (drawn()) window.__drawn = performance.now(); else requestAnimationFrame(tick); }};
  requestAnimationFrame(tick); }})();"""
# A warm action: from the key press or click (a capturing listener) to the first frame drawn after a rerun.
WATCH = f"""() => {{ window.__t0 = null; window.__drawn = null; window.__ran = false; const drawn = {DRAWN};
  const app = document.querySelector('[data-testid="stApp"]');
  // A run requested or started: a fast one can end before this observer is called, and React can draw its
  // states together (rerunRequested, then notRunning): the change records keep the states it passed through.
  const busy = (state) => state === 'running' || state === 'rerunRequested';
  const seen = new MutationObserver((changes) => {{
    if (busy(app.getAttribute('data-test-script-state')) || changes.some(c => busy(c.oldValue))) window.__ran = true;
  }});
  seen.observe(app, {{attributes: true, attributeFilter: ['data-test-script-state'], attributeOldValue: true}});
  const start = () => {{ if (window.__t0 === null) {{ window.__t0 = performance.now(); heard = window.__heard; }} }};
  let heard = null, last = 0;
  document.addEventListener('keydown', start, {{capture: true, once: true}});
  document.addEventListener('pointerdown', start, {{capture: true, once: true}});
  const tick = (now) => {{  // drawn at a frame after the server's last message (React draws it in a task of its own)
    if (heard !== null && window.__heard > heard) window.__ran = true;
    if (window.__t0 !== null && window.__ran && (window.__heardAt ?? 0) < last && drawn()) {{
      window.__drawn = performance.now() - window.__t0; seen.disconnect(); }}
    else {{ last = now; requestAnimationFrame(tick); }} }};
  requestAnimationFrame(tick); }}"""
# Counts the server's messages to the page: a rerun that the script state never shows still sends some.
HEAR = """(() => { if (window.__heard !== undefined) return; window.__heard = 0; window.__heardAt = 0;
  const Socket = window.WebSocket;
  window.WebSocket = class extends Socket { constructor(...args) { super(...args);
    this.addEventListener('message', () => { window.__heard += 1; window.__heardAt = performance.now(); }); } };
})();"""


def averages(load: tuple[float, ...]) -> str:
    """Load averages (1 / 5 / 15 min) as a report writes them."""
    return " / ".join(f"{v:.1f}" for v in load)


def stats(ms: list[float]) -> dict[str, float]:
    ms = sorted(ms)
    return {"median": statistics.median(ms), "max": ms[-1], "min": ms[0], "n": len(ms)}


def act(page, do, timeout_s: float = 120.0, tries: int = 3, start_s: float = 10.0) -> float:
    """Milliseconds from ``do(page)`` (a key press or a click) to the page drawn again. An action that starts no
    rerun within ``start_s`` (the key went elsewhere: on the Story, now and then, in either tree) is done again, at
    most ``tries`` times; the time counts from the press that started the rerun."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    for _ in range(tries):
        page.evaluate("() => { const e = document.activeElement;"  # keys go to the app, not to a text box
                      "  if (e && ['INPUT', 'TEXTAREA'].includes(e.tagName)) e.blur(); }")
        page.evaluate(WATCH)
        do(page)
        try:
            page.wait_for_function("() => window.__ran", timeout=start_s * 1000)
        except PlaywrightTimeout:
            continue
        page.wait_for_function("() => window.__drawn !== null", timeout=timeout_s * 1000)
        ms = page.evaluate("() => window.__drawn")
        wait_idle(page, 300, settle_ms=200)  # a rerun the frontend starts by itself ends before the next action
        return ms
    raise RuntimeError(f"{do} started no rerun in {tries} tries")


def key(name: str):
    return lambda page: page.keyboard.press(name)


def click(selector: str):
    return lambda page: page.locator(selector).first.click()


def fresh_tab(browser, url: str, timeout_s: float = 300.0, context=None) -> float:
    """Milliseconds from opening ``url`` in a new tab to the page drawn: in a browser context of its own (a first
    visit: nothing cached), or in ``context`` (a browser that may have opened the app before: its caches)."""
    page = context.new_page() if context else browser.new_page(viewport={"width": VIEWPORT[0], "height": VIEWPORT[1]})
    try:
        page.add_init_script(READY)
        page.goto(url)
        page.wait_for_function("() => window.__drawn !== null", timeout=timeout_s * 1000)
        return page.evaluate("() => window.__drawn")
    finally:
        page.close()


# A fresh tab's milestones (ms from the navigation's start): the server's first and last message, the script done.
MILESTONES = """(() => { window.__first = null; window.__done = null;
  const Socket = window.WebSocket;
  window.WebSocket = class extends Socket { constructor(...args) { super(...args);
    this.addEventListener('message', () => { if (window.__first === null) window.__first = performance.now(); }); } };
  const done = () => { const app = document.querySelector('[data-testid="stApp"]');
    if (app && window.__first !== null && app.getAttribute('data-test-script-state') === 'notRunning')
      window.__done = performance.now(); else requestAnimationFrame(done); };
  requestAnimationFrame(done); })();"""
# What the page holds once drawn: its elements, and the pictures the server sent (bytes as sent, pixels as drawn).
CONTENTS = """() => { const main = document.querySelector('[data-testid="stMain"]');
  const media = performance.getEntriesByType('resource').filter(e => e.name.includes('/media/')
    && !e.name.includes('/static/'));
  const imgs = [...main.querySelectorAll('img')];
  return {charts: main.querySelectorAll('[data-testid="stVegaLiteChart"]').length,
          grids: main.querySelectorAll('[data-testid="stDataFrame"]').length, pictures: imgs.length,
          'picture kB': media.reduce((a, e) => a + e.encodedBodySize, 0) / 1000,
          'pixels sent / drawn': imgs.reduce((a, i) => a + i.naturalWidth * i.naturalHeight, 0)
            / Math.max(1, imgs.reduce((a, i) => {
              const r = i.getBoundingClientRect(); return a + r.width * r.height; }, 0)),
          elements: document.querySelectorAll('*').length}; }"""
TAB_PARTS = ("server's first message", "script done", "server's last message", "drawn", "messages",
             "main thread: JavaScript", "main thread: all tasks")


def tab_parts(browser, url: str, timeout_s: float = 300.0) -> dict[str, float]:
    """Where a fresh tab's time goes: the milestones of ``MILESTONES`` and ``READY`` (ms), the server's messages, the
    main thread's JavaScript and all its tasks (Chromium's Performance metrics, ms), and ``CONTENTS``."""
    page = browser.new_page(viewport={"width": VIEWPORT[0], "height": VIEWPORT[1]})
    try:
        cdp = page.context.new_cdp_session(page)
        cdp.send("Performance.enable")
        for script in (HEAR, MILESTONES, READY):
            page.add_init_script(script)
        page.goto(url)
        page.wait_for_function("() => window.__drawn !== null", timeout=timeout_s * 1000)
        times = page.evaluate("() => [window.__first, window.__done, window.__heardAt, window.__drawn, window.__heard]")
        metrics = {m["name"]: m["value"] for m in cdp.send("Performance.getMetrics")["metrics"]}
        out = dict(zip(TAB_PARTS, [*times, 1000 * metrics["ScriptDuration"], 1000 * metrics["TaskDuration"]],
                       strict=True))
        return out | page.evaluate(CONTENTS)
    finally:
        page.close()


def tab_parts_all(zoo: str, rounds: int) -> dict[str, list[dict[str, float]]]:
    """``tab_parts`` of the one-line app and of every page of this tree, each on its own warm server, ``rounds``
    tabs each (after one untimed tab per page)."""
    out: dict[str, list[dict[str, float]]] = {}
    with tempfile.TemporaryDirectory() as folder, chromium(VIEWPORT) as page:
        browser = page.context.browser
        script = Path(folder) / "one_line.py"
        script.write_text(ONE_LINE)
        with streamlit_server(folder, script=script) as (url, _):
            tab_parts(browser, url)
            out["one-line app"] = [tab_parts(browser, url) for _ in range(rounds)]
        with streamlit_server(zoo, script=entry(ROOT), env=_env(ROOT), timeout=300) as (url, _):
            tab_parts(browser, url)
            warmed(url, ROOT)
            for label, path in page_views().items():
                address = f"{url}/{path}"
                tab_parts(browser, address)
                out[label] = [tab_parts(browser, address) for _ in range(rounds)]
                print(f"  {label}: drawn {statistics.median(t['drawn'] for t in out[label]):.0f} ms", flush=True)
    return out


def element_floor(rounds: int) -> dict[str, list[dict[str, float]]]:
    """``tab_parts`` of the one-line app and of it plus each element of ``FLOOR``, each on its own warm server, the
    tabs interleaved, ``rounds`` each (after one untimed tab each)."""
    apps = {"one-line app": ONE_LINE} | {f"one-line app + {kind}": ONE_LINE + FLOOR_DATA + code
                                         for kind, code in FLOOR.items()}
    with tempfile.TemporaryDirectory() as folder, contextlib.ExitStack() as stack:
        browser = stack.enter_context(chromium(VIEWPORT)).context.browser
        urls = {}
        for i, (name, code) in enumerate(apps.items()):
            (Path(folder) / f"app{i}").mkdir()
            script = Path(folder) / f"app{i}" / "app.py"
            script.write_text(code)
            urls[name] = stack.enter_context(streamlit_server(script.parent, script=script))[0]
            tab_parts(browser, urls[name])
        out: dict[str, list[dict[str, float]]] = {name: [] for name in apps}
        for _ in range(rounds):
            for name, url in urls.items():
                out[name].append(tab_parts(browser, url))
    return out


def floor_report(found: dict[str, list[dict[str, float]]], command: str, load: tuple[float, ...]) -> str:
    base = statistics.median(t["drawn"] for t in found["one-line app"])
    table = tab_parts_report(found, command, load).split("\n")
    head = [table[0], "", "| app | drawn / one-line app |", "|---|---:|"]
    head += [f"| {name} | {statistics.median(t['drawn'] for t in tabs) / base:.2f} |" for name, tabs in found.items()]
    return "\n".join(head + [""] + table[2:])


def cached_tabs(zoo: str, rounds: int) -> dict[str, dict[str, list[float]]]:
    """Fresh tabs (``fresh_tab``, ms) of the one-line app and of every page of this tree, each ``rounds`` times as a
    first visit and as a new tab in a browser that has opened that page once (HTTP and code caches warm),
    interleaved; the one-line app before and after the pages. {view: {"first visit": [...], "cached": [...]}}."""
    out: dict[str, dict[str, list[float]]] = {}
    with tempfile.TemporaryDirectory() as folder, chromium(VIEWPORT) as page:
        browser = page.context.browser
        context = browser.new_context(viewport={"width": VIEWPORT[0], "height": VIEWPORT[1]})
        script = Path(folder) / "one_line.py"
        script.write_text(ONE_LINE)

        def measure(label: str, url: str) -> None:
            fresh_tab(browser, url)
            fresh_tab(browser, url, context=context)  # untimed: now the context has seen the page
            out[label] = {"first visit": [], "cached": []}
            for _ in range(rounds):
                out[label]["first visit"].append(fresh_tab(browser, url))
                out[label]["cached"].append(fresh_tab(browser, url, context=context))
            print(f"  {label}: " + ", ".join(f"{k} {statistics.median(v):.0f} ms" for k, v in out[label].items()),
                  flush=True)

        with streamlit_server(folder, script=script) as (url, _):
            measure("one-line app", url)
        with streamlit_server(zoo, script=entry(ROOT), env=_env(ROOT), timeout=300) as (url, _):
            fresh_tab(browser, url)
            warmed(url, ROOT)
            for label, path in page_views().items():
                measure(label, f"{url}/{path}")
        with streamlit_server(folder, script=script) as (url, _):
            measure(ONE_LINE_AGAIN, url)
        context.close()
    return out


def cached_tabs_report(found: dict[str, dict[str, list[float]]], command: str, load: tuple[float, ...]) -> str:
    start, end = averages(load), averages(os.getloadavg())
    base = {kind: statistics.median(found["one-line app"][kind] + found[ONE_LINE_AGAIN][kind])
            for kind in ("first visit", "cached")}
    lines = [f"Measured by `{command}` ({time.strftime('%Y-%m-%d %H:%M')}, load average {start} at the start and "
             f"{end} at the end): drawn, ms from the navigation's start, median of the tabs; ratios over the one-line "
             "app's tabs before and after the pages.", "",
             "| page | first visit | / one-line app | cached | / one-line app |", "|---|---:|---:|---:|---:|"]
    for page, kinds in found.items():
        med = {kind: statistics.median(v) for kind, v in kinds.items()}
        lines.append(f"| {page} | {med['first visit']:.0f} | {med['first visit'] / base['first visit']:.2f} | "
                     f"{med['cached']:.0f} | {med['cached'] / base['cached']:.2f} |")
    return "\n".join(lines)


def page_views() -> dict[str, str]:
    """Each page of the app at its address (the first page at the root)."""
    return {p.url_path: "" if p is PAGES[0] else p.url_path for p in PAGES}


def presenter_views() -> dict[str, str]:
    """What a room sees: the Board and every Story step in presenter mode."""
    on = f"{presenter.KEY}=true"
    return {"board (presenter)": f"board?{on}"} | {
        f"story: {s.slug} (presenter)": f"story?{story.STEP_KEY}={s.slug}&{on}" for s in story.STEPS}


def tab_parts_side_by_side(trees: dict[str, Path], zoo: str, rounds: int, views: dict[str, str] | None = None
                           ) -> dict[str, dict[str, list[dict]]]:
    """``tab_parts`` per view (``page_views`` unless given: {label: address}) of each tree in ``trees`` and of the
    one-line app, all on warm servers at once, the tabs interleaved (one-line app, then each tree, ``rounds`` times
    per view after one untimed tab each), so that each view's ratio to the one-line app is taken under the same
    load; measured once each server's warm-up is done. {view: {app: [tab, ...]}}."""
    out: dict[str, dict[str, list[dict]]] = {}
    with tempfile.TemporaryDirectory() as folder, contextlib.ExitStack() as stack:
        browser = stack.enter_context(chromium(VIEWPORT)).context.browser
        script = Path(folder) / "one_line.py"
        script.write_text(ONE_LINE)
        one_line = stack.enter_context(streamlit_server(folder, script=script))[0]
        urls = {name: stack.enter_context(streamlit_server(zoo, script=entry(tree), env=_env(tree), timeout=300))[0]
                for name, tree in trees.items()}
        for name, tree in trees.items():  # a first page lets the warm-up go on; measured once it is done
            tab_parts(browser, urls[name])
            warmed(urls[name], tree)
        for label, path in (views or page_views()).items():
            addresses = {"one-line app": one_line} | {name: f"{url}/{path}" for name, url in urls.items()}
            for address in addresses.values():
                tab_parts(browser, address)
            out[label] = {name: [] for name in addresses}
            for _ in range(rounds):
                for name, address in addresses.items():
                    out[label][name].append(tab_parts(browser, address))
            print(f"  {label}: " + ", ".join(f"{name} {statistics.median(t['drawn'] for t in tabs):.0f} ms"
                                             for name, tabs in out[label].items()), flush=True)
    return out


def tab_parts_report(found: dict[str, list[dict[str, float]]], command: str, load: tuple[float, ...]) -> str:
    start, end = averages(load), averages(os.getloadavg())
    names = list(next(iter(found.values()))[0])
    lines = [f"Measured by `{command}` ({time.strftime('%Y-%m-%d %H:%M')}, load average {start} at the start and "
             f"{end} at the end, the machine shared): median of the tabs; ms from the navigation's start.", "",
             "| page | " + " | ".join(names) + " |", "|---|" + "---:|" * len(names)]
    for page, tabs in found.items():
        cells = [statistics.median(t[n] for t in tabs) for n in names]
        lines.append(f"| {page} | " + " | ".join(f"{c:.2f}" if n == "pixels sent / drawn" else f"{c:.0f}"
                                                  for n, c in zip(names, cells, strict=True)) + " |")
    return "\n".join(lines)


def side_by_side_report(found: dict[str, dict[str, list[dict]]], command: str, load: tuple[float, ...],
                        before_label: str) -> str:
    """Drawn (ms, median) per page of each app, over the one-line app's tabs interleaved with them; then where the
    after tree's time goes (``tab_parts_report``)."""
    start, end = averages(load), averages(os.getloadavg())
    limit = TARGETS["fresh tab / one-line app"]
    lines = [f"Measured by `{command}` ({time.strftime('%Y-%m-%d %H:%M')}, load average {start} at the start and "
             f"{end} at the end, the machine shared). Before: {before_label}; after: the working tree. Per page the "
             f"one-line app's, the before and the after tabs were interleaved; drawn: ms from the navigation's start, "
             f"median (max in brackets).", "",
             "| page | one-line app | before | before / one-line | after | after / one-line | after / before | "
             f"within {limit}x |", "|---|---:|---:|---:|---:|---:|---:|:-:|"]
    for page, apps in found.items():
        drawn = {name: [t["drawn"] for t in tabs] for name, tabs in apps.items()}
        med = {name: statistics.median(v) for name, v in drawn.items()}
        ratio = med["after"] / med["one-line app"]
        lines.append(f"| {page} | {med['one-line app']:.0f} | {_cell(drawn['before'])} | "
                     f"{med['before'] / med['one-line app']:.2f} | {_cell(drawn['after'])} | {ratio:.2f} | "
                     f"{med['after'] / med['before']:.2f} | {'yes' if ratio <= limit else '**no**'} |")
    after = {"one-line app": [t for apps in found.values() for t in apps["one-line app"]]} | {
        page: apps["after"] for page, apps in found.items()}
    return "\n".join(lines) + "\n\nWhere the after tree's time goes (the one-line app: all its tabs above):\n\n" + \
        tab_parts_report(after, command, load).split("\n", 2)[2]


def first_page(browser, script: Path, zoo: str, env: dict, cpu: list[float] | None = None) -> float:
    """Seconds from starting the server to its first page (/) drawn in a new tab; ``cpu`` gets the CPU seconds the
    server's process had used by then (all its threads, the warm-up's included), which the machine's load changes
    far less than the wall time."""
    t0 = time.perf_counter()
    with streamlit_server(zoo, script=script, env=env, timeout=300) as (url, proc):
        fresh_tab(browser, url)
        seconds = time.perf_counter() - t0
        if cpu is not None:
            cpu.append(process_cpu(proc.pid))
        return seconds


def process_cpu(pid: int) -> float:
    """CPU seconds (user + system) a running process has used, from /proc (Linux); NaN elsewhere."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return float("nan")
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime, stime: fields 14 and 15


def _env(tree: Path) -> dict[str, str]:
    return {"PYTHONPATH": str(tree), "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "2")}


def controls(page, url: str, runs: int, shots: Path | None) -> dict[str, list[float]]:
    """Every control of the Board and the Story, warm (each once first, untimed), then the sigma toggle."""
    out: dict[str, list[float]] = {}
    models = "&".join(f"models={m}" for m in BOARD_MODELS)

    def timed(name: str, do, n: int = runs) -> None:
        act(page, do)  # warm: the first press computes what the next ones find cached
        out[name] = [act(page, do) for _ in range(n)]
        print(f"  {name:45s} median {statistics.median(out[name]):7.0f} ms", flush=True)

    def switch_and_shot(page_name: str, presenting_url: str) -> None:
        """Time the presenter switch (a tree without presenter mode has none), then photograph the page presenting."""
        if page.locator(f".st-key-{presenter.KEY}").count():
            timed(f"{page_name}: presenter switch", click(f".st-key-{presenter.KEY} label"), n=2 * (runs // 2) or 2)
        if shots:
            page.goto(presenting_url)
            wait_idle(page, 300)
            page.screenshot(path=str(shots / f"{page_name}.png"))
            shrink(shots / f"{page_name}.png", VIEWPORT[0])

    page.add_init_script(HEAR)
    page.goto(f"{url}/board?{models}")
    wait_idle(page, 300)
    page.mouse.click(5, 400)
    for name, shortcut in board.SHORTCUTS.items():
        timed(f"board: {name} ({shortcut})", key(shortcut.lower()))
    switch_and_shot("board", f"{url}/board?{models}&{presenter.KEY}=true")
    if page.locator(f".st-key-{presenter.KEY}").count():  # the same keys as a room sees them: no sidebar
        page.goto(f"{url}/board?{models}&{presenter.KEY}=true")
        wait_idle(page, 300)
        page.mouse.click(5, 400)
        for name, shortcut in board.SHORTCUTS.items():
            timed(f"board, presenter mode: {name} ({shortcut})", key(shortcut.lower()))
    page.goto(f"{url}/story?{story.STEP_KEY}={story.STEPS[0].slug}")
    wait_idle(page, 300)
    for _ in story.STEPS[1:]:  # every step once: the figures' caches warm
        act(page, key("ArrowRight"))
    forward, back = key("ArrowRight"), key("ArrowLeft")
    steps: list[float] = []
    while len(steps) < runs:
        steps += [act(page, back) for _ in story.STEPS[1:]] + [act(page, forward) for _ in story.STEPS[1:]]
    out["story: next / previous step (Right / Left)"] = steps
    names: list[float] = []
    for step in story.STEPS:  # a click on each step's name in the bar
        names.append(act(page, lambda page, slug=step.slug: page.locator(
            f".st-key-{story.STEP_KEY} button", has_text=re.compile(f"^{slug}$")).first.click()))
    out["story: a step's name clicked"] = names
    switch_and_shot("story", f"{url}/story?{story.STEP_KEY}=samples&{presenter.KEY}=true")
    for name in out:
        if name.startswith("story"):
            print(f"  {name:45s} median {statistics.median(out[name]):7.0f} ms", flush=True)
    page.goto(f"{url}/sigma")
    wait_idle(page, 300)
    toggle = click(".st-key-sigma_all label")
    out["sigma: All models, first time"] = [act(page, toggle, timeout_s=600)]
    warm = []
    while len(warm) < runs:
        warm.append(act(page, toggle))
    out["sigma: All models off / on, warm"] = warm
    print(f"  sigma toggle first {out['sigma: All models, first time'][0]:.0f} ms, warm "
          f"{statistics.median(warm):.0f} ms", flush=True)
    return out


def measure_tree(label: str, tree: Path, zoo: str, runs: int, shots: Path | None) -> dict[str, list[float]]:
    out: dict[str, list[float]] = {}
    with chromium(VIEWPORT) as page:
        browser = page.context.browser
        out["first page after start (s)"] = [first_page(browser, entry(tree), zoo, _env(tree))]
        print(f"{label}: first page after start {out['first page after start (s)'][0]:.1f} s", flush=True)
        with streamlit_server(zoo, script=entry(tree), env=_env(tree), timeout=300) as (url, _):
            fresh_tab(browser, url)  # the server's own first page: imports and the zoo scan
            warmed(url, tree)  # "a fresh tab on a warm server": not beside the warm-up's model loading
            for p in PAGES:
                path = "" if p is PAGES[0] else p.url_path
                tabs = [fresh_tab(browser, f"{url}/{path}") for _ in range(max(2, runs // 2))]
                out[f"fresh tab: {p.url_path}"] = tabs
                print(f"{label}: fresh tab {p.url_path} {statistics.median(tabs):.0f} ms", flush=True)
            out |= controls(page, url, runs, shots)
    return out


def measure_one_line(runs: int) -> dict[str, list[float]]:
    with tempfile.TemporaryDirectory() as folder, chromium(VIEWPORT) as page:
        script = Path(folder) / "one_line.py"
        script.write_text(ONE_LINE)
        browser = page.context.browser
        out = {"first page after start (s)": [first_page(browser, script, folder, {})]}
        with streamlit_server(folder, script=script) as (url, _):
            fresh_tab(browser, url)
            out["fresh tab"] = [fresh_tab(browser, url) for _ in range(max(2, runs // 2))]
            page.add_init_script(HEAR)
            page.goto(url)
            wait_idle(page)
            page.mouse.click(5, 400)
            out["rerun (r)"] = [act(page, key("r")) for _ in range(runs)]
    print(f"one-line app: first page {out['first page after start (s)'][0]:.1f} s, fresh tab "
          f"{statistics.median(out['fresh tab']):.0f} ms", flush=True)
    return out


def first_pages(before: Path, zoo: str, rounds: int) -> tuple[dict[str, list[float]], dict[str, list[float]]]:
    """The first page after a server start alone, seconds, and the server's CPU seconds by then: the one-line app,
    the before tree and the after tree in turn, ``rounds`` times, so that a machine whose load changes over minutes
    weighs on the three alike."""
    out: dict[str, list[float]] = {"one-line app": [], "before": [], "after": []}
    cpu: dict[str, list[float]] = {label: [] for label in out}
    with tempfile.TemporaryDirectory() as folder, chromium(VIEWPORT) as page:
        script = Path(folder) / "one_line.py"
        script.write_text(ONE_LINE)
        browser = page.context.browser
        for _ in range(rounds):
            out["one-line app"].append(first_page(browser, script, folder, {}, cpu["one-line app"]))
            for label, tree in (("before", before), ("after", ROOT)):
                out[label].append(first_page(browser, entry(tree), zoo, _env(tree), cpu[label]))
            print("  ".join(f"{k} {v[-1]:.1f} s ({cpu[k][-1]:.1f} s CPU)" for k, v in out.items()),
                  f"(load {os.getloadavg()[0]:.1f})", flush=True)
    return out, cpu


def interleaved_controls(before: Path, zoo: str, rounds: int, runs: int) -> dict[str, dict[str, list[float]]]:
    """The controls alone (``controls``), the before and the after tree each on its own warm server, in turn
    ``rounds`` times (the order swapped every round), so that a machine whose load changes over minutes weighs on both
    alike. Each server has drawn every page once and finished its warm-up first. The sigma toggle's first time is
    the first round's; later rounds count it as warm."""
    out: dict[str, dict[str, list[float]]] = {"before": {}, "after": {}}
    trees = {"before": before, "after": ROOT}
    first = "sigma: All models, first time"
    with (chromium(VIEWPORT) as page, streamlit_server(zoo, script=entry(before), env=_env(before), timeout=300) as
          (before_url, _), streamlit_server(zoo, script=entry(ROOT), env=_env(ROOT), timeout=300) as (after_url, _)):
        urls = {"before": before_url, "after": after_url}
        for label, url in urls.items():
            for p in PAGES:
                fresh_tab(page.context.browser, f"{url}/{'' if p is PAGES[0] else p.url_path}")
            warmed(url, trees[label])
        for r in range(rounds):
            for label in (("before", "after") if r % 2 == 0 else ("after", "before")):
                print(f"round {r + 1}, {label} (load {os.getloadavg()[0]:.1f})", flush=True)
                for name, values in controls(page, urls[label], runs, None).items():
                    name = name if r == 0 or name != first else "sigma: All models off / on, warm"
                    out[label].setdefault(name, []).extend(values)
    return out


def warmed(url: str, tree: Path, timeout_s: float = 600) -> None:
    """Wait for the server's warm-up (explorer.warmup, in trees that have one) to say it is done in its log."""
    log = Path(os.environ.get("TMPDIR", "/tmp")) / f"streamlit-{url.rsplit(':', 1)[1]}.log"
    if not (tree / "explorer" / "warmup.py").is_file():
        return
    deadline = time.monotonic() + timeout_s
    while not (log.exists() and "caches warmed" in log.read_text()):
        if time.monotonic() > deadline:  # timing the controls beside a running warm-up would mismeasure them
            raise SystemExit(f"the server at {url} did not finish its warm-up within {timeout_s:.0f} s (see {log})")
        time.sleep(1)


def controls_report(found: dict[str, dict[str, list[float]]], command: str, load: tuple) -> str:
    lines = [f"Measured by `{command}` ({time.strftime('%Y-%m-%d %H:%M')}, load average {load[0]:.1f} at the start "
             f"and {os.getloadavg()[0]:.1f} at the end): milliseconds from the key press or click to the page drawn "
             "again, the before and the after tree in turn each round, each on its own warm server; median of the "
             "presses (max in brackets).", "",
             "| control | before | after | after / before | target | met |", "|---|---:|---:|---:|---|:-:|"]
    for name, a in found["after"].items():
        b = found["before"].get(name)
        toggle = name.startswith("sigma")
        limit = TARGETS["toggle (s)"] * 1000 if toggle else TARGETS["control (ms)"]
        ok = (max(a) if toggle else statistics.median(a)) <= limit
        ratio = f"{statistics.median(a) / statistics.median(b):.2f}" if b else "-"
        lines.append(f"| {name} | {_cell(b)} | {_cell(a)} | {ratio} | "
                     f"{'max ' if toggle else 'median '}{limit:.0f} ms | {'yes' if ok else '**no**'} |")
    return "\n".join(lines)


def first_pages_report(found: tuple[dict[str, list[float]], dict[str, list[float]]], command: str,
                       load: tuple) -> str:
    seconds, cpu = found
    one = statistics.median(seconds["one-line app"])
    lines = [f"Measured by `{command}` ({time.strftime('%Y-%m-%d %H:%M')}, load average {load[0]:.1f} at the start "
             f"and {os.getloadavg()[0]:.1f} at the end, the machine shared with other helpers' jobs): seconds from "
             "starting the server to its first page drawn, the three apps in turn in each round; and the CPU seconds "
             "the server's process had used by then (all its threads).", "",
             "| app | median | each round | / one-line app | within 5 s | server CPU: median | each round |",
             "|---|---:|---|---:|:-:|---:|---|"]
    for label, values in seconds.items():
        m = statistics.median(values)
        lines.append(f"| {label} | {m:.1f} | {', '.join(f'{v:.1f}' for v in values)} | {m / one:.2f} | "
                     f"{'yes' if m <= TARGETS['first page after start (s)'] else '**no**'} | "
                     f"{statistics.median(cpu[label]):.2f} | {', '.join(f'{v:.2f}' for v in cpu[label])} |")
    return "\n".join(lines)


def _cell(values: list[float] | None, unit: str = "ms") -> str:
    if not values:
        return "-"
    s = stats(values)
    return f"{s['median']:.1f}" if unit == "s" else f"{s['median']:.0f} (max {s['max']:.0f})"


def report(results: dict[str, dict[str, list[float]]], args, seconds: float, load: tuple) -> str:
    one, before, after = results["one-line app"], results["before"], results["after"]
    floor = statistics.median(one["fresh tab"])
    lines = [
        "# Presenter: speed in front of a room",
        "",
        f"Measured by `{args.command}` on {time.strftime('%Y-%m-%d %H:%M')} against `{args.zoo_label}` "
        f"({seconds:.0f} s in all), window "
        f"{VIEWPORT[0]}x{VIEWPORT[1]}, Chromium headless. Before: {args.before_label}; after: the working tree. "
        "The one-line app (`st.title`), the before tree and the after tree were measured one after the other in the "
        "same run, each with its own server.",
        f"Machine: {os.cpu_count()} CPU cores, CPython {platform.python_version()}, load average "
        f"{averages(load)} (1 / 5 / 15 min) at the start and {averages(os.getloadavg())} at the end. "
        "**The machine was shared**: other helpers "
        "ran test suites, servers and browsers on the same two cores throughout, so every absolute figure here is "
        "an upper bound and the ratios (same run, same load) are the comparison.",
        "",
        f"Targets (issue 20): a fresh tab within {TARGETS['fresh tab / one-line app']}x the one-line app; the first "
        f"page after a server start within {TARGETS['first page after start (s)']:g} s; every Board and Story "
        f"control within {TARGETS['control (ms)']} ms warm; no toggle over {TARGETS['toggle (s)']:g} s.",
        "",
        "## First page after a server start (s)",
        "",
        "| app | seconds | within 5 s |",
        "|---|---:|:-:|",
    ]
    for label, res in (("one-line app", one), ("before", before), ("after", after)):
        v = res["first page after start (s)"][0]
        lines.append(f"| {label} | {v:.1f} | {'yes' if v <= TARGETS['first page after start (s)'] else '**no**'} |")
    lines += ["", "## A fresh tab on a warm server (ms, median of the tabs; max in brackets)", "",
              f"One-line app: {floor:.0f} ms.", "",
              "| page | before | after | after / before | after / one-line app | within 1.5x |",
              "|---|---:|---:|---:|---:|:-:|"]
    for name in [k for k in after if k.startswith("fresh tab: ")]:
        b, a = before.get(name), after[name]
        ratio = statistics.median(a) / floor
        change = f"{statistics.median(a) / statistics.median(b):.2f}" if b else "-"
        lines.append(f"| {name.removeprefix('fresh tab: ')} | {_cell(b)} | {_cell(a)} | {change} | {ratio:.2f} | "
                     f"{'yes' if ratio <= TARGETS['fresh tab / one-line app'] else '**no**'} |")
    lines += ["", "## Controls, warm (ms: median, max in brackets)", "",
              f"One-line app, a rerun (r): {_cell(one['rerun (r)'])}.", "",
              "| control | before | after | after / before | after median within 300 ms |", "|---|---:|---:|---:|:-:|"]
    for name in [k for k in after if not k.startswith(("fresh tab", "first page"))]:
        b, a = before.get(name), after[name]
        limit = TARGETS["toggle (s)"] * 1000 if name.startswith("sigma") else TARGETS["control (ms)"]
        ok = (max(a) if name.startswith("sigma") else statistics.median(a)) <= limit
        ratio = f"{statistics.median(a) / statistics.median(b):.2f}" if b else "-"
        lines.append(f"| {name} | {_cell(b)} | {_cell(a)} | {ratio} | {'yes' if ok else '**no**'} |")
    lines += [
        "",
        "Sigma rows: the target is 2 s for every toggle (its maximum), not the median. \"-\" before: a control the "
        "before tree does not have (the presenter switch).",
        "",
    ]
    return "\n".join(lines)


PARTS = """import json, sys, time
clock = lambda: (time.perf_counter(), time.process_time())  # wall, and this process's CPU (all its threads)
t0 = clock()
import torch, streamlit, pandas, altair  # noqa: E401,F401  what every explorer page imports
t1 = clock()
try:  # the regrouped package (vae_core.zoo.checkpoints), else a tree from before it
    from vae_core.zoo import checkpoints as zoo
except ImportError:
    from vae_core import zoo
load_model, scan = zoo.load_model, zoo.scan
read_history, history = zoo.read_history_lines, [0.0, 0.0]
def timed_history(path):
    t = clock()
    try:
        return read_history(path)
    finally:
        history[:] = [h + now - then for h, now, then in zip(history, clock(), t)]
zoo.read_history_lines = timed_history  # scan() looks it up in its module at each call
checkpoints, _ = scan(sys.argv[1])
t2 = clock()
for c in checkpoints:
    if c.dataset == "mnist":
        load_model(c.path)
t3 = clock()
spent = lambda a, b: [b[0] - a[0], b[1] - a[1]]
print(json.dumps({"imports: torch, streamlit, pandas, altair": spent(t0, t1),
                  "zoo scan (every checkpoint's files)": spent(t1, t2), "of which parsing history.jsonl": history,
                  "loading every mnist model": spent(t2, t3)}))"""
# The first page's server-side path alone: app.py run once as Streamlit runs it (AppTest: the frame, the sidebar and
# the Overview, no warm-up), in a process that has imported nothing of the app yet; and whether it imported torch.
FIRST_PAGE_PART = """import json, sys, time
from streamlit.testing.v1 import AppTest
clock = lambda: (time.perf_counter(), time.process_time())
t0 = clock()
at = AppTest.from_file(sys.argv[1], default_timeout=600)
at.run()
t1 = clock()
assert not at.exception, [e.value for e in at.exception]
name = "the first page's script, app.py once, torch " + ("imported" if "torch" in sys.modules else "not imported")
print(json.dumps({name: [t1[0] - t0[0], t1[1] - t0[1]]}))"""


def parts(trees: dict[str, Path], zoo: str, rounds: int) -> dict[str, dict[str, list[list[float]]]]:
    """Where the first page's and the sigma toggle's time goes, in seconds: the imports, the zoo scan and loading
    the models, each tree in a fresh child process, interleaved (before, after, before, after, ...); each part as
    [wall, CPU] seconds, since on a busy machine the wall clock measures the other jobs as much as the part."""
    out: dict[str, dict[str, list[list[float]]]] = {label: {} for label in trees}
    for _ in range(rounds):
        for label, tree in trees.items():
            for program, arg in ((PARTS, zoo), (FIRST_PAGE_PART, str(entry(tree).parent / "app.py"))):
                done = subprocess.run([sys.executable, "-c", program, arg], cwd=tree, check=True,
                                      env={**os.environ, **_env(tree), "VAE_ZOO_SOURCE": zoo},
                                      capture_output=True, text=True)
                for name, seconds in json.loads(done.stdout.strip().splitlines()[-1]).items():
                    out[label].setdefault(name, []).append(seconds)
    return out


def parts_report(found: dict[str, dict[str, list[list[float]]]], command: str) -> str:
    load = averages(os.getloadavg())
    lines = [f"Measured by `{command}` ({time.strftime('%Y-%m-%d %H:%M')}, load average {load} at the end, the "
             "machine shared with other helpers' jobs): seconds, median of the rounds (each round a fresh process "
             "per tree, interleaved); wall clock, and the CPU time of the process (what the part costs, which the "
             "other jobs on the cores delay but do not add to).", "",
             "| part | before: wall | after: wall | after / before | before: CPU | after: CPU | after / before |",
             "|---|---:|---:|---:|---:|---:|---:|"]
    first_page = {label: next(n for n in found[label] if n.startswith("the first page")) for label in found}
    for name in found["after"]:
        before = first_page["before"] if name == first_page["after"] else name  # named by whether torch came too
        (bw, bc), (aw, ac) = ([statistics.median(r[i] for r in found[label][n]) for i in (0, 1)]
                              for label, n in (("before", before), ("after", name)))
        shown = (f"{name.split(', torch ')[0]} (torch {name.split(', torch ')[1]}; before: "
                 f"{before.split(', torch ')[1]})" if name == first_page["after"] else name)
        lines.append(f"| {shown} | {bw:.2f} | {aw:.2f} | {aw / bw:.2f} | {bc:.2f} | {ac:.2f} | {ac / bc:.2f} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--zoo", default=os.environ.get("VAE_ZOO_SOURCE") or str(ROOT / "checkpoints"))
    p.add_argument("--before", help="the tree to compare with (a folder); default: --before-rev unpacked")
    p.add_argument("--before-rev", help="the commit to compare with (default: HEAD; with --tab-parts: none unless "
                                         "given, or --before)")
    p.add_argument("--runs", type=int, default=6, help="presses per control (fresh tabs: half)")
    p.add_argument("--out", default=str(ROOT / "docs" / "bench_presenter.md"))
    p.add_argument("--screenshots", default=str(ROOT / "docs" / "screenshots"),
                   help="folder for board.png and story.png in presenter mode at 1280x720; empty: none")
    p.add_argument("--parts", type=int, default=0, metavar="ROUNDS",
                   help="only time the parts (imports, zoo scan, model loading, the first page's script) of before and "
                        "after, ROUNDS times")
    p.add_argument("--controls", type=int, default=0, metavar="ROUNDS",
                   help="only time the Board's, the Story's and the sigma page's controls, before and after in "
                        "turn on two warm servers, ROUNDS times")
    p.add_argument("--first-pages", type=int, default=0, metavar="ROUNDS",
                   help="only time the first page after a server start, one-line app, before and after in turn, "
                        "ROUNDS times")
    p.add_argument("--element-floor", type=int, default=0, metavar="ROUNDS",
                   help="only measure the one-line app beside it plus one element of each kind (a data grid, a "
                        "chart, both, a picture, Markdown), ROUNDS tabs each, interleaved")
    p.add_argument("--tab-parts", type=int, default=0, metavar="ROUNDS",
                   help="only show where a fresh tab's time goes, the one-line app and every page of this tree, "
                        "ROUNDS tabs each; with --before or --before-rev, that tree's pages too, interleaved")
    p.add_argument("--cached-tabs", type=int, default=0, metavar="ROUNDS",
                   help="only compare, for the one-line app and every page of this tree, a first visit with a new "
                        "tab in a browser that has opened the page before, ROUNDS tabs each, interleaved")
    p.add_argument("--presenter", action="store_true",
                   help="with --tab-parts: the Board and every Story step in presenter mode instead of the pages")
    p.add_argument("--pages", help="with --tab-parts and a before tree: only these views, comma-separated "
                                   "(e.g. overview,sigma)")
    args = p.parse_args(argv)
    args.command = " ".join(["python -m scripts.bench_presenter", *(argv if argv is not None else sys.argv[1:])])
    zoo = str(Path(args.zoo).resolve())
    args.zoo_label = os.path.relpath(zoo, ROOT) if zoo.startswith(str(ROOT)) else zoo
    shots = Path(args.screenshots) if args.screenshots else None
    if shots:
        shots.mkdir(parents=True, exist_ok=True)
    load, t0 = os.getloadavg(), time.perf_counter()
    if args.element_floor:
        print(floor_report(element_floor(args.element_floor), args.command, load))
        return 0
    if args.cached_tabs:
        print(cached_tabs_report(cached_tabs(zoo, args.cached_tabs), args.command, load))
        return 0
    if args.tab_parts and not (args.before or args.before_rev):
        print(tab_parts_report(tab_parts_all(zoo, args.tab_parts), args.command, load))
        return 0
    with tempfile.TemporaryDirectory() as tmp:
        before, args.before_label = before_tree(args.before, args.before_rev or "HEAD", Path(tmp))
        if args.tab_parts:
            views = presenter_views() if args.presenter else page_views()
            if args.pages:
                unknown = set(args.pages.split(",")) - set(views)
                if unknown:
                    p.error(f"--pages: no such view {', '.join(sorted(unknown))} (one of: {', '.join(views)})")
                views = {label: path for label, path in views.items() if label in args.pages.split(",")}
            found = tab_parts_side_by_side({"before": before, "after": ROOT}, zoo, args.tab_parts, views)
            print(side_by_side_report(found, args.command, load, args.before_label))
            return 0
        if args.first_pages:
            print(first_pages_report(first_pages(before, zoo, args.first_pages), args.command, load))
            return 0
        if args.controls:
            found = interleaved_controls(before, zoo, args.controls, args.runs)
            print(controls_report(found, args.command, load))
            return 0
        if args.parts:
            print(parts_report(parts({"before": before, "after": ROOT}, zoo, args.parts), args.command))
            return 0
        results = {"one-line app": measure_one_line(args.runs),
                   "before": measure_tree("before", before, zoo, args.runs, None),
                   "after": measure_tree("after", ROOT, zoo, args.runs, shots)}
    text = report(results, args, time.perf_counter() - t0, load)
    old = Path(args.out).read_text() if Path(args.out).is_file() else ""
    if KEEP in old:  # the hand-written notes under the marker stay
        text += "\n" + old[old.index(KEEP):]
    Path(args.out).write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
