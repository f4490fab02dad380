"""Benchmark the explorer before and after a change, in one run, so the change reads as a ratio: warm rerun time
of every page (script only), cold start to the first page drawn, and warm reruns as Chromium sees them. Writes a
Markdown report (default docs/bench_app.md).

    python -m scripts.bench_app                          # this working tree against HEAD, on ./checkpoints
    python -m scripts.bench_app --before-rev HEAD~3 --zoo runs/zoo --runs 15 --out /tmp/bench.md
    python -m scripts.bench_app --before /tmp/old        # an unpacked tree instead of a revision

"Before" is a copy of a commit (`git archive REV | tar -x`, read-only on the repository) or a folder. Both trees
run against the same zoo, on the same machine, interleaved (before, after, before, after) so that a change in the
machine's load falls on both. Script time is Streamlit's AppTest rerunning app.py and the page (scripts/app_timer.py,
a child process per tree); the browser figures drive a real server (serve.py where the tree has one, else app.py)
with Debian's Chromium. The page list is explorer/pages.py's; a page that only one tree has is shown for that one.
"""
from __future__ import annotations

import argparse
import ast
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import urlencode

from explorer.browser import IDLE, chromium, streamlit_server, wait_idle
from explorer.lab import TABS
from explorer.pages import PAGES, ROOT

SCRIPT_BUDGET_MS, COLD_BUDGET_S = 150, 5.0  # issue 14: warm rerun of every page, cold start to the first page drawn
TIMER = Path(__file__).resolve().parent / "app_timer.py"


def _stats(times: list[float]) -> dict[str, float]:
    ms = sorted(t * 1000 for t in times)
    return {"median": statistics.median(ms), "p90": ms[min(len(ms) - 1, int(round(0.9 * (len(ms) - 1))))],
            "min": ms[0], "n": len(ms)}


def page_table(tree: Path) -> dict[str, tuple[str, str | None, str]]:
    """name -> (page file relative to app.py, lab tab or None, URL path and query) for the pages ``tree`` has. The
    pages/ era's app.py lists its pages as a literal ``PAGES = [(file, title, icon, url path), ...]``."""
    if tree.resolve() == ROOT:
        files = {p.url_path: p.script for p in PAGES}
    else:
        module = ast.parse((tree / "app.py").read_text())
        found = [node.value for node in module.body if isinstance(node, ast.Assign)
                 and any(getattr(t, "id", None) == "PAGES" for t in node.targets)]
        files = {url: file for file, _, _, url in ast.literal_eval(found[0])} if found else {}
        if not files:  # a tree after this redesign: ask its own registry (in a child, to keep its modules apart)
            code = ("import json; from explorer.pages import PAGES; "
                    "print(json.dumps({p.url_path: p.script for p in PAGES}))")
            files = json.loads(subprocess.run([sys.executable, "-c", code], cwd=tree, env=_env(tree), check=True,
                                              capture_output=True, text=True).stdout)
    table: dict[str, tuple[str, str | None, str]] = {}
    for i, p in enumerate(PAGES):
        if p.url_path not in files:
            continue
        file = "" if i == 0 else files[p.url_path]  # the default page is where app.py starts
        if p.url_path == "lab":  # the lab runs only its open tab (?lab_tab=): each tab is a page here
            for label in TABS:
                table[f"lab: {label}"] = (file, label, "lab?" + urlencode({"lab_tab": label}))
        else:
            table[p.url_path] = (file, None, "" if i == 0 else p.url_path)
    return table


def _env(tree: Path) -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(tree), "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "2")}


def script_times(tree: Path, zoo: str, runs: int) -> dict[str, dict[str, list[float]]]:
    """Seconds per warm AppTest rerun of each page of ``tree``, wall and CPU (a child process with ``tree`` first on
    the path)."""
    pages = {name: [file, tab] for name, (file, tab, _) in page_table(tree).items()}
    done = subprocess.run([sys.executable, str(TIMER), str(tree / "app.py"), json.dumps(pages), str(runs)],
                          cwd=tree, env={**_env(tree), "VAE_ZOO_SOURCE": zoo}, capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"timing {tree} failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def entry(tree: Path) -> Path:
    return tree / "serve.py" if (tree / "serve.py").is_file() else tree / "app.py"


def cold_start(tree: Path, zoo: str) -> float:
    """Seconds from starting the server to the Overview's leaderboard and chart drawn in Chromium."""
    with chromium() as page:
        t0 = time.perf_counter()
        with streamlit_server(zoo, script=entry(tree), env=_env(tree)) as (url, _):
            page.goto(url)
            page.wait_for_selector('[data-testid="stDataFrame"]', timeout=120_000)
            page.wait_for_selector('[data-testid="stVegaLiteChart"] :is(svg.marks, canvas)', timeout=120_000)
            page.wait_for_selector(IDLE, timeout=120_000)
            return time.perf_counter() - t0


_WATCH = """() => { window.__ran = false; window.__done = false;
  const app = document.querySelector('[data-testid="stApp"]');
  new MutationObserver(() => { const s = app.getAttribute('data-test-script-state');
    if (s === 'running') window.__ran = true; else if (window.__ran && s === 'notRunning') window.__done = true; })
  .observe(app, {attributes: true, attributeFilter: ['data-test-script-state']}); }"""


def _browser_reruns(page, runs: int) -> list[float]:
    """Seconds from pressing "r" (rerun) to the app reporting the script done, ``runs`` times."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    times: list[float] = []
    while len(times) < runs:
        page.evaluate(_WATCH)
        page.evaluate("() => document.activeElement && document.activeElement.blur()")
        page.mouse.click(5, 400)  # the empty left edge: focus on no input, so "r" means rerun
        t = time.perf_counter()
        page.keyboard.press("r")
        try:
            page.wait_for_function("() => window.__done === true", timeout=20_000)
        except PlaywrightTimeout:  # the key went elsewhere: try again
            continue
        times.append(time.perf_counter() - t)
    return times


def browser_times(tree: Path, zoo: str, runs: int) -> dict[str, list[float]]:
    """Seconds per warm rerun of each page in Chromium (the rerun request, the script, the frontend drawing it)."""
    out = {}
    with chromium() as page, streamlit_server(zoo, script=entry(tree), env=_env(tree)) as (url, _):
        for name, (_, _, path) in page_table(tree).items():
            page.goto(f"{url}/{path}")
            wait_idle(page, 300)
            out[name] = _browser_reruns(page, runs)
    return out


def floor_times(runs: int) -> list[float]:
    """The same browser rerun on a one-line app: what any Streamlit page costs in this browser on this machine."""
    with tempfile.TemporaryDirectory() as tmp:
        script = Path(tmp) / "floor_app.py"
        script.write_text('import streamlit as st\n\nst.title("floor")\n')
        with chromium() as page, streamlit_server("", script=script) as (url, _):
            page.goto(url)
            wait_idle(page)
            return _browser_reruns(page, runs)


def unpack(rev: str, into: Path) -> Path:
    """A copy of the repository at ``rev`` (git archive: reads the repository, writes only ``into``)."""
    into.mkdir(parents=True, exist_ok=True)
    archive = subprocess.run(["git", "archive", rev], cwd=ROOT, check=True, capture_output=True).stdout
    subprocess.run(["tar", "-x", "-C", str(into)], input=archive, check=True)
    return into


def before_tree(before: str | None, before_rev: str, tmp: Path) -> tuple[Path, str]:
    """The tree to compare against and how the report names it: the folder ``before``, or else the repository at
    ``before_rev`` unpacked under ``tmp``."""
    if before:
        return Path(before).resolve(), f"the tree in `{before}`"
    rev = subprocess.run(["git", "rev-parse", "--short", before_rev], cwd=ROOT, capture_output=True, text=True,
                         check=True).stdout.strip()
    return unpack(before_rev, tmp / "before"), f"commit {rev} (`git archive {before_rev}`)"


def measure(trees: dict[str, Path], zoo: str, runs: int, rounds: int) -> dict:
    """Interleaved: every round measures each tree once, so both see the same spread of load."""
    script: dict[str, dict[str, list[float]]] = {k: {} for k in trees}
    cpu: dict[str, dict[str, list[float]]] = {k: {} for k in trees}
    browser: dict[str, dict[str, list[float]]] = {k: {} for k in trees}
    cold: dict[str, list[float]] = {k: [] for k in trees}
    for r in range(rounds):
        for label, tree in trees.items():
            cold[label].append(cold_start(tree, zoo))
            print(f"round {r + 1} {label:6s} cold start {cold[label][-1]:.2f} s", flush=True)
            for name, times in script_times(tree, zoo, runs).items():
                script[label].setdefault(name, []).extend(times["wall"])
                cpu[label].setdefault(name, []).extend(times["cpu"])
            for name, times in browser_times(tree, zoo, max(2, runs // 2)).items():
                browser[label].setdefault(name, []).extend(times)
            print(f"round {r + 1} {label:6s} " + ", ".join(f"{k} {statistics.median(v) * 1000:.0f}"
                                                           for k, v in script[label].items()), flush=True)
    return {"script": {k: {n: _stats(v) for n, v in d.items()} for k, d in script.items()},
            "cpu": {k: {n: _stats(v) for n, v in d.items()} for k, d in cpu.items()},
            "browser": {k: {n: _stats(v) for n, v in d.items()} for k, d in browser.items()},
            "cold": {k: {"median": statistics.median(v), "all": v} for k, v in cold.items()}}


def _cell(stats: dict | None, key: str = "median") -> str:
    return f"{stats[key]:.0f}" if stats else "-"


def _ratio(before: dict | None, after: dict | None) -> str:
    return f"{after['median'] / before['median']:.2f}" if before and after else "-"


def report(args, trees: dict[str, Path], result: dict, floor: dict, zoo_size: int, command: str) -> str:
    load = os.getloadavg()
    s, b, cold = result["script"], result["browser"], result["cold"]
    names = list(dict.fromkeys([*s["before"], *s["after"]]))
    lines = [
        "# Explorer benchmark: before and after",
        "",
        f"Measured by `{command}` on {time.strftime('%Y-%m-%d %H:%M')} against `{args.zoo}` ({zoo_size} "
        f"checkpoints). Before: {args.before_label}; after: the working tree. {args.rounds} interleaved rounds "
        f"(before, after, before, after, ...), each with {args.runs} script reruns and {max(2, args.runs // 2)} "
        f"browser reruns per page.",
        f"Machine: {os.cpu_count()} CPU cores, {platform.python_implementation()} {platform.python_version()}, "
        f"load average {load[0]:.1f} / {load[1]:.1f} / {load[2]:.1f} (1 / 5 / 15 min) at the end of the run; other "
        "jobs shared the cores (training runs, other test suites), so the absolute figures are upper bounds and "
        "the ratios are the comparison.",
        "",
        f"Budgets on 2 cores (issue 14): a warm rerun of every page under {SCRIPT_BUDGET_MS} ms of script time; cold "
        f"start to the first page drawn under {COLD_BUDGET_S:g} s.",
        "",
        "## Warm reruns, script time (ms; default model selection, caches warm)",
        "",
        "| page | before: median | min | CPU | after: median | min | CPU | p90 | after / before (median) | "
        "after within budget (median) |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|:-:|",
    ]
    for name in names:
        before, after = s["before"].get(name), s["after"].get(name)
        cb, ca = result["cpu"]["before"].get(name), result["cpu"]["after"].get(name)
        ok = "-" if not after else ("yes" if after["median"] < SCRIPT_BUDGET_MS else "**no**")
        lines.append(f"| {name} | {_cell(before)} | {_cell(before, 'min')} | {_cell(cb)} | {_cell(after)} | "
                     f"{_cell(after, 'min')} | {_cell(ca)} | {_cell(after, 'p90')} | {_ratio(before, after)} | {ok} |")
    lines += [
        "",
        "Script time: `AppTest.run()` of app.py and the page (the sidebar, cached loaders, the page's elements), "
        "measured in a child process per tree (scripts/app_timer.py). Median and min of the wall-clock time; CPU: "
        "the median CPU time of that process over the same reruns (its threads together), which the other jobs on "
        "the cores delay but do not add to.",
        "",
        "## Warm reruns in Chromium (ms)",
        "",
        "| page | before, median | after, median | after / before |",
        "|---|---:|---:|---:|",
    ]
    for name in names:
        before, after = b["before"].get(name), b["after"].get(name)
        lines.append(f"| {name} | {_cell(before)} | {_cell(after)} | {_ratio(before, after)} |")
    lines += [
        f"| *a one-line app (`st.title`), for scale* | | {floor['median']:.0f} | |",
        "",
        "From pressing `r` in Chromium to the app reporting the script done: the websocket round trip, the script, "
        "and the frontend applying the new elements.",
        "",
        "## Cold start",
        "",
        "| tree | server | median (s) | each round (s) | within budget |",
        "|---|---|---:|---|:-:|",
    ]
    for label, tree in trees.items():
        c = cold[label]
        ok = "yes" if c["median"] < COLD_BUDGET_S else "**no**"
        lines.append(f"| {label} | `streamlit run {entry(tree).name}` | {c['median']:.2f} | "
                     f"{', '.join(f'{v:.2f}' for v in c['all'])} | {ok} |")
    lines += [
        "",
        "From starting the server to the Overview's leaderboard and chart drawn in Chromium: importing torch and "
        "streamlit, reading every eval.json, the browser loading the frontend.",
        "",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--zoo", default=os.environ.get("VAE_ZOO_SOURCE") or str(ROOT / "checkpoints"))
    p.add_argument("--before", help="the tree to compare with (a folder); default: --before-rev unpacked")
    p.add_argument("--before-rev", default="HEAD", help="the commit to compare with (default: HEAD)")
    p.add_argument("--runs", type=int, default=10, help="script reruns per page and round (browser: half)")
    p.add_argument("--rounds", type=int, default=2, help="interleaved rounds of before and after")
    p.add_argument("--out", default=str(ROOT / "docs" / "bench_app.md"))
    args = p.parse_args(argv)
    if args.runs < 1 or args.rounds < 1:
        p.error("--runs and --rounds must be at least 1")
    if not Path(args.zoo).expanduser().is_dir():
        p.error(f"--zoo {args.zoo} is not a folder of checkpoints")
    args.zoo = str(Path(args.zoo).expanduser().resolve())
    with tempfile.TemporaryDirectory() as tmp:
        before, args.before_label = before_tree(args.before, args.before_rev, Path(tmp))
        trees = {"before": before, "after": ROOT}
        result = measure(trees, args.zoo, args.runs, args.rounds)
        floor = _stats(floor_times(max(2, args.runs // 2)))
    zoo_size = sum(1 for d in Path(args.zoo).iterdir() if (d / "config.json").is_file())
    command = "python -m scripts.bench_app" + (" " + " ".join(argv if argv is not None else sys.argv[1:])).rstrip()
    text = report(args, trees, result, floor, zoo_size, command.strip())
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
