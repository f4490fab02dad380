"""Benchmark the explorer: warm rerun time of every page, cold start to first render, and resident memory with the
whole zoo loaded. Writes a Markdown report (default docs/bench_app.md).

    python scripts/bench_app.py                          # the zoo in ./checkpoints (or $VAE_ZOO_SOURCE)
    python scripts/bench_app.py --zoo runs/zoo --runs 15 --out /tmp/bench.md

Warm reruns are measured two ways: the script alone (Streamlit's AppTest, no browser: what the page costs on
the server) and as a user sees it (Chromium pressing "r" on a running server: the rerun request, the script,
and the browser drawing the result). Cold start is `streamlit run app.py` until the Overview's table and chart
are drawn in Chromium. Memory is the server's resident set after every page was shown with every model.
"""
from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import urlencode

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

import bench_lab  # noqa: E402  (beside this script: the lab's tab labels)
from app_browser import IDLE, chromium, counts, streamlit_server, wait_idle  # noqa: E402

PAGES = {"overview": ("pages/1_overview.py", ""), "reconstruct": ("pages/2_reconstruct.py", "reconstruct"),
         "sample": ("pages/3_sample.py", "sample"), "latent": ("pages/4_latent.py", "latent"),
         "sigma": ("pages/5_sigma.py", "sigma")}
# The lab runs only its open tab (bound to ?lab_tab=): each tab is a page of its own here.
LAB_TABS = {f"lab: {label}": label for label in bench_lab.LAB_TABS}
for _name, _label in LAB_TABS.items():
    PAGES[_name] = ("pages/6_likelihood_lab.py", "lab?" + urlencode({"lab_tab": _label}))


def _stats(times: list[float]) -> dict[str, float]:
    ms = sorted(t * 1000 for t in times)
    return {"median": statistics.median(ms), "p90": ms[min(len(ms) - 1, int(round(0.9 * (len(ms) - 1))))],
            "min": ms[0], "n": len(ms)}


def bench_script(zoo: str, runs: int) -> dict[str, dict]:
    """Median script time of a rerun per page (AppTest, caches warm), with the default model selection."""
    from streamlit.testing.v1 import AppTest

    os.environ["VAE_ZOO_SOURCE"] = zoo
    out = {}
    for name, (file, _) in PAGES.items():
        at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=300)
        at.run()
        if file != PAGES["overview"][0]:
            at.switch_page(file).run()
        if name in LAB_TABS:
            at.session_state["lab_tab"] = LAB_TABS[name]
        at.run()  # caches warm
        assert not at.exception, [e.value for e in at.exception]
        assert name not in LAB_TABS or at.session_state["lab_tab"] == LAB_TABS[name], "no such lab tab"
        times = []
        for _ in range(runs):
            t0 = time.perf_counter()
            at.run()
            times.append(time.perf_counter() - t0)
        out[name] = _stats(times)
        print(f"script  {name:30s} median {out[name]['median']:7.1f} ms", flush=True)
    return out


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


def bench_floor(runs: int, tmp: Path) -> dict[str, float]:
    """The same rerun measured on a one-line app: what any Streamlit page costs in this browser on this machine."""
    script = tmp / "floor_app.py"
    script.write_text('import streamlit as st\n\nst.title("floor")\n')
    with chromium() as page, streamlit_server("", script=script) as (url, _):
        page.goto(url)
        wait_idle(page)
        out = _stats(_browser_reruns(page, runs))
    print(f"browser floor        median {out['median']:7.1f} ms", flush=True)
    return out


def bench_browser(zoo: str, runs: int) -> tuple[float, dict[str, dict], dict[str, float], dict]:
    """Cold start to first render, warm reruns in the browser per page, and memory with every model shown."""
    with chromium() as page:
        t0 = time.perf_counter()
        with streamlit_server(zoo) as (url, proc):
            page.goto(url)
            page.wait_for_selector('[data-testid="stDataFrame"]', timeout=120_000)
            page.wait_for_selector('[data-testid="stVegaLiteChart"] :is(svg.marks, canvas)', timeout=120_000)
            page.wait_for_selector(IDLE, timeout=120_000)
            cold = time.perf_counter() - t0
            print(f"cold start to first render {cold:.2f} s", flush=True)
            warm = {}
            for name, (_, path) in PAGES.items():
                page.goto(f"{url}/{path}")
                wait_idle(page, 300)
                warm[name] = _stats(_browser_reruns(page, runs))
                print(f"browser {name:30s} median {warm[name]['median']:7.1f} ms", flush=True)
            before = _memory(proc.pid)
            names = _all_models(zoo)
            for dataset, models in names.items():
                query = "&".join([f"dataset={dataset}", *(f"models={m}" for m in models)])
                for name, (_, path) in PAGES.items():
                    if name == "latent":  # one model at a time there: show each
                        for m in models:
                            page.goto(f"{url}/latent?dataset={dataset}&models={m}")
                            wait_idle(page, 300)
                    else:
                        page.goto(f"{url}/{path}{'&' if '?' in path else '?'}{query}")
                        wait_idle(page, 300)
                    assert counts(page)["exceptions"] == 0, (dataset, name)
            after = _memory(proc.pid)
            memory = {"after first page": before, "whole zoo loaded": after,
                      "models": sum(len(v) for v in names.values())}
            print(f"memory: {memory}", flush=True)
    return cold, warm, memory, names


def _memory(pid: int) -> dict[str, float]:
    fields = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            fields[key] = int(value.split()[0]) / 1024  # MiB
    return fields


def _all_models(zoo: str) -> dict[str, list[str]]:
    from vae_core.zoo import resolve_source, scan

    found, _ = scan(resolve_source(zoo))
    out: dict[str, list[str]] = {}
    for c in found:
        out.setdefault(c.dataset, []).append(c.name)
    return out


def report(zoo: str, runs: int, script: dict, cold: float, warm: dict, memory: dict, names: dict,
           floor: dict) -> str:
    load = os.getloadavg()
    lines = [
        "# Explorer benchmark",
        "",
        f"Measured by `python scripts/bench_app.py` on {time.strftime('%Y-%m-%d %H:%M')} against `{zoo}` "
        f"({memory['models']} checkpoints: " + ", ".join(f"{len(v)} {k}" for k, v in names.items()) + ").",
        f"Machine: {os.cpu_count()} CPU cores, {platform.python_implementation()} {platform.python_version()}, "
        f"load average {load[0]:.1f} / {load[1]:.1f} / {load[2]:.1f} (1 / 5 / 15 min) at the end of the run; "
        "other jobs shared the cores, so these are upper bounds.",
        "",
        "Budget on 2 cores: median warm rerun under 300 ms per page, cold start under 5 s.",
        "",
        f"## Warm reruns (default model selection, caches warm, {runs} reruns per page)",
        "",
        "| page | script only, median (ms) | p90 | in the browser, median (ms) | p90 | within 300 ms |",
        "|---|---:|---:|---:|---:|:-:|",
    ]
    for name in PAGES:
        s, b = script.get(name), warm.get(name)
        ok = "yes" if b and b["median"] < 300 else "no"
        lines.append(f"| {name} | {s['median']:.0f} | {s['p90']:.0f} | {b['median']:.0f} | {b['p90']:.0f} | {ok} |")
    lines += [
        f"| *a one-line app (`st.title`), for scale* | | | {floor['median']:.0f} | {floor['p90']:.0f} | |",
        "",
        "Script only: `AppTest.run()` of app.py and the page (sidebar, cached loaders, the page's elements). "
        "In the browser: from pressing `r` in Chromium to the app reporting the script done, so it includes the "
        "websocket round trip and the frontend applying the new elements.",
        "",
        "## Cold start",
        "",
        f"`streamlit run app.py` started to the Overview's leaderboard and chart drawn in Chromium: "
        f"**{cold:.2f} s** ({'within' if cold < 5 else 'over'} the 5 s budget). This includes importing torch and "
        "streamlit, reading every eval.json, and the browser loading the frontend.",
        "",
        "## Memory",
        "",
        "| moment | resident (MiB) | peak resident (MiB) |",
        "|---|---:|---:|",
        f"| after the first page | {memory['after first page'].get('VmRSS', 0):.0f} | "
        f"{memory['after first page'].get('VmHWM', 0):.0f} |",
        f"| every page shown with every model of every dataset | {memory['whole zoo loaded'].get('VmRSS', 0):.0f} | "
        f"{memory['whole zoo loaded'].get('VmHWM', 0):.0f} |",
        "",
        "The server process's VmRSS / VmHWM from /proc. Models are held by `st.cache_resource` and derived arrays "
        "by `st.cache_data` (bounded by max_entries), so memory grows with the models people look at, not with "
        "the number of sessions.",
        "",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--zoo", default=os.environ.get("VAE_ZOO_SOURCE") or str(ROOT / "checkpoints"))
    p.add_argument("--runs", type=int, default=12, help="reruns per page (median of these)")
    p.add_argument("--out", default=str(ROOT / "docs" / "bench_app.md"))
    args = p.parse_args(argv)
    if Path(args.zoo).expanduser().exists():  # a folder, not a Hub id: absolute, for the server's working directory
        args.zoo = str(Path(args.zoo).expanduser().resolve())
    script = bench_script(args.zoo, args.runs)
    cold, warm, memory, names = bench_browser(args.zoo, args.runs)
    with tempfile.TemporaryDirectory() as tmp:
        floor = bench_floor(args.runs, Path(tmp))
    text = report(args.zoo, args.runs, script, cold, warm, memory, names, floor)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
