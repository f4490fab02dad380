"""Issue 25 item 4, measured: on Reconstruct choose "Test sample", then at once click Sample in the navigation, N
times, in S concurrent Chromium sessions, while busy processes load the cores. Counts how often the navigation is
lost (the page is not Sample ``--lost`` seconds after the click, or shows Sample and then goes back), how often the
choice is lost (back on Reconstruct, the image source is not "Test sample"), and the navigation's delay. Loopback
only, bounded in repetitions, sessions and wall time (the busy processes end by themselves at the budget).

    python -m scripts.click_race --zoo checkpoints --repeats 20 --sessions 2 --hogs 2
    python -m scripts.click_race --app minimal --repeats 20     # the same move on a bare Streamlit app

``--app minimal`` runs the move on scripts/click_race_app.py, three pages and the same image-source control and
nothing else: what is lost there is lost by Streamlit, not by the explorer.

Two ways of making the move, alternating (``--moves``):

- ``playwright``: two Playwright clicks, one after the other, as the issue's harness and scripts/soak_app.py do
  (the choice found by its exact name in the image-source control, the link by its exact name in the navigation);
- ``one-task``: both clicks in one task of the page's event loop, which is what a real mouse gets when the
  browser is busy: Chromium runs input events before timers, and Streamlit sends a widget's rerun from a
  ``setTimeout(0)`` while it sends the navigation's at once.

Before every move the session is on Reconstruct with "Upload" chosen and that run finished (the uploader shown),
so "Test sample" is a change the server must receive. A control, once per run: how many elements of the
Reconstruct page a substring link finder matches for "Sample", and which one its ``.first`` is.
"""
from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlencode

from explorer.browser import CHROMIUM, CHROMIUM_ARGS, IDLE, SERVER, streamlit_server
from explorer.pages import ROOT
from scripts.browser_suite_under_load import HOG
from scripts.soak_app import SEVERAL, nav_link

MAX_REPEATS, MAX_SESSIONS = 200, 8
MINIMAL_APP = ROOT / "scripts" / "click_race_app.py"
SOURCE = ".st-key-image_source"  # the image-source control (a segmented control keyed image_source)
CHOSEN = f"{SOURCE} [role=radio][aria-checked=true]"
UPLOADER = '[data-testid="stFileUploader"]'
# both clicks in one task: the choice, then the navigation's link (exact names, as the Playwright move)
ONE_TASK = """() => {
  const choice = [...document.querySelectorAll('.st-key-image_source [role=radio]')]
    .find(b => b.innerText.trim() === 'Test sample');
  const link = [...document.querySelectorAll('[data-testid=stSidebarNav] a')]
    .find(a => [...a.querySelectorAll('span')].some(s => s.innerText.trim() === 'Sample'));
  choice.click(); link.click();
}"""
FINDERS = {  # substring finders a harness might use for the navigation's "Sample", and the exact one
    'get_by_text("Sample")': lambda p: p.get_by_text("Sample"),
    'locator("a, button", has_text="Sample")': lambda p: p.locator("a, button", has_text="Sample"),
    'get_by_role("link", name="Sample")': lambda p: p.get_by_role("link", name="Sample"),
    'locator("[role=radio], a", has_text="Sample")': lambda p: p.locator("[role=radio], a", has_text="Sample"),
    "nav_link(page, \"Sample\") (exact, in the navigation)": lambda p: nav_link(p, "Sample"),
}


async def settled(page, path: str, title: str, timeout_s: float) -> None:
    """The page shows ``path`` with its own heading and the app's script is not running."""
    await page.wait_for_function("([p, t]) => location.pathname === p && [...document.querySelectorAll('h1')]"
                                 ".some(h => h.innerText.trim() === t)", arg=[path, title], polling=50,
                                 timeout=timeout_s * 1000)
    await page.wait_for_selector(IDLE, timeout=timeout_s * 1000)


async def consistent(page, timeout_s: float) -> str:
    """Wait until the page shows one page whole (idle, its heading matching the address); returns the address."""
    deadline = time.monotonic() + timeout_s
    while True:
        await page.wait_for_selector(IDLE, timeout=max(deadline - time.monotonic(), 0.1) * 1000)
        path, heading = await page.evaluate("[location.pathname, (document.querySelector('h1') || {}).innerText]")
        if (path, (heading or "").strip()) in {("/sample", "Sample"), ("/reconstruct", "Reconstruct")}:
            return path
        if time.monotonic() > deadline:
            raise TimeoutError(f"the page did not settle: {path} with heading {heading!r}")
        await page.wait_for_timeout(100)


async def ready_with_upload(page, timeout_s: float) -> None:
    """On Reconstruct with "Upload" chosen and its run done (the uploader shown)."""
    if await page.evaluate("location.pathname") != "/reconstruct":
        await nav_link(page, "Reconstruct").click(timeout=timeout_s * 1000)
        await settled(page, "/reconstruct", "Reconstruct", timeout_s)
    await page.wait_for_selector(CHOSEN, timeout=timeout_s * 1000)
    if (await page.locator(CHOSEN).inner_text()).strip() != "Upload":
        await page.locator(SOURCE).get_by_role("radio", name="Upload", exact=True).click(timeout=timeout_s * 1000)
    await page.wait_for_selector(UPLOADER, timeout=timeout_s * 1000)
    await page.wait_for_selector(IDLE, timeout=timeout_s * 1000)


async def one_move(page, move: str, timeout_s: float, lost_s: float, watch_s: float) -> dict:
    """The move once; what became of the navigation and of the choice."""
    await ready_with_upload(page, timeout_s)
    start = time.monotonic()
    if move == "one-task":
        await page.evaluate(ONE_TASK)
    else:
        await page.locator(SOURCE).get_by_role("radio", name="Test sample", exact=True).click(timeout=timeout_s * 1000)
        await nav_link(page, "Sample").click(timeout=timeout_s * 1000)
    try:
        await page.wait_for_function("location.pathname === '/sample'", polling=50, timeout=lost_s * 1000)
        delay = time.monotonic() - start
    except Exception:  # Playwright's TimeoutError: the address never showed Sample
        delay = None
    seen = {await consistent(page, timeout_s)}
    end = time.monotonic() + watch_s  # a rerun sent after the navigation's can still take the page back
    while time.monotonic() < end:
        seen.add(await page.evaluate("location.pathname"))
        await page.wait_for_timeout(100)
    final = await consistent(page, timeout_s)
    if final == "/sample":  # back to Reconstruct through the navigation, to see which source it kept
        await nav_link(page, "Reconstruct").click(timeout=timeout_s * 1000)
        await settled(page, "/reconstruct", "Reconstruct", timeout_s)
    await page.wait_for_selector(CHOSEN, timeout=timeout_s * 1000)
    chosen = (await page.locator(CHOSEN).inner_text()).strip()
    return {"move": move, "delay": delay, "final": final, "went back": delay is not None and final != "/sample",
            "nav lost": final != "/sample", "chosen": chosen, "choice lost": chosen != "Test sample"}


async def finders(page) -> list[tuple[str, int, str]]:
    """Each finder's number of matches on Reconstruct, and what its first match is."""
    found = []
    for name, finder in FINDERS.items():
        loc = finder(page)
        n = await loc.count()
        first = "" if not n else await loc.first.evaluate(
            "e => (e.closest('[data-testid=stSidebarNav]') ? 'the navigation link ' : "
            "e.closest('.st-key-image_source') ? 'the image-source choice ' : 'page text ') + "
            "JSON.stringify(e.innerText.trim().slice(0, 40))")
        found.append((name, n, first))
    return found


async def race(url: str, models: list[str], repeats: int, sessions: int, moves: list[str], deadline: float,
               timeout_s: float, lost_s: float, watch_s: float) -> tuple[list[dict], list[tuple[str, int, str]]]:
    from playwright.async_api import async_playwright

    link = "/reconstruct?" + urlencode([("models", m) for m in models] + [("open", "1")]) if models else "/reconstruct"
    results: list[dict] = []
    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        pages = [await (await browser.new_context(viewport={"width": 1280, "height": 900})).new_page()
                 for _ in range(sessions)]
        for page in pages:
            await page.goto(url + link, timeout=timeout_s * 1000)
        await asyncio.gather(*(settled(page, "/reconstruct", "Reconstruct", timeout_s) for page in pages))
        control = await finders(pages[0])

        async def session(i: int, page) -> None:
            for r in range(i, repeats, sessions):  # the repetitions shared out among the sessions
                if time.monotonic() > deadline:
                    return
                row = await one_move(page, moves[r % len(moves)], timeout_s, lost_s, watch_s)
                results.append({"session": i + 1, "repeat": r + 1, **row})
                delay = "-" if row["delay"] is None else f"{row['delay']:.2f}"
                print(f"{r + 1:3d} session {i + 1} {row['move']:10s} delay {delay} s, ends on {row['final']}, "
                      f"chosen {row['chosen']}; load {os.getloadavg()[0]:.1f}", flush=True)
        await asyncio.gather(*(session(i, page) for i, page in enumerate(pages)))
        await browser.close()
    return results, control


def report(results: list[dict], control: list[tuple[str, int, str]], moves: list[str]) -> str:
    lines = ["| move | repetitions | navigation lost | of which shown, then back | choice lost | "
             "delay median / max s |", "|---|---|---|---|---|---|"]
    for move in moves:
        rows = [r for r in results if r["move"] == move]
        delays = sorted(r["delay"] for r in rows if r["delay"] is not None)
        timing = f"{statistics.median(delays):.2f} / {delays[-1]:.2f}" if delays else "-"
        lines.append(f"| {move} | {len(rows)} | {sum(r['nav lost'] for r in rows)} | "
                     f"{sum(r['went back'] for r in rows)} | {sum(r['choice lost'] for r in rows)} | {timing} |")
    lines += ["", "Link finders for \"Sample\" on the Reconstruct page (the control):", "",
              "| finder | matches | its .first |", "|---|---|---|"]
    lines += [f"| `{name}` | {n} | {first} |" for name, n, first in control]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--zoo", default=str(ROOT / "checkpoints"), help="the zoo folder the server shows")
    parser.add_argument("--app", choices=["explorer", "minimal"], default="explorer",
                        help="explorer: serve.py with six models; minimal: scripts/click_race_app.py")
    parser.add_argument("--repeats", type=int, default=20, help=f"moves in all (1-{MAX_REPEATS})")
    parser.add_argument("--sessions", type=int, default=1, help=f"concurrent browser sessions (1-{MAX_SESSIONS})")
    parser.add_argument("--moves", default="playwright,one-task", help="playwright, one-task or both, by commas")
    parser.add_argument("--hogs", type=int, default=2, help="busy processes during the run (0: none)")
    parser.add_argument("--budget-minutes", type=float, default=15.0, help="no move starts after this")
    parser.add_argument("--timeout", type=float, default=180.0, help="seconds a page may take to finish its run")
    parser.add_argument("--lost", type=float, default=60.0, help="seconds after which a navigation is lost")
    parser.add_argument("--watch", type=float, default=2.0,
                        help="seconds the address is watched after the page settled (a later rerun can go back)")
    args = parser.parse_args(argv)
    moves = [m.strip() for m in args.moves.split(",") if m.strip()]
    if not 1 <= args.repeats <= MAX_REPEATS or not 1 <= args.sessions <= MAX_SESSIONS or args.hogs < 0:
        parser.error(f"--repeats must be 1-{MAX_REPEATS}, --sessions 1-{MAX_SESSIONS}, --hogs at least 0")
    if not moves or set(moves) - {"playwright", "one-task"}:
        parser.error(f"--moves {args.moves}: give playwright, one-task or both, separated by commas")
    if not Path(CHROMIUM).is_file():
        parser.error(f"{CHROMIUM} is missing (apt-get install chromium)")
    names = {p.name for p in Path(args.zoo).iterdir() if p.is_dir()} if Path(args.zoo).is_dir() else set()
    models = [m for m in SEVERAL if m in names] if args.app == "explorer" else []
    if args.app == "explorer" and not models:
        parser.error(f"--zoo {args.zoo}: none of {', '.join(SEVERAL)} is in it")
    budget = args.budget_minutes * 60
    hogs = [subprocess.Popen([sys.executable, "-c", HOG, str(budget + 120)]) for _ in range(args.hogs)]
    try:
        load_before = os.getloadavg()
        script = {"minimal": MINIMAL_APP}.get(args.app, SERVER)
        with streamlit_server(args.zoo, env={"OMP_NUM_THREADS": "1"}, script=script) as (url, _):
            results, control = asyncio.run(race(url, models, args.repeats, args.sessions, moves,
                                                time.monotonic() + budget, args.timeout, args.lost, args.watch))
        load_after = os.getloadavg()
    finally:
        for hog in hogs:  # only the processes this script started
            hog.terminate()
            hog.wait()
    command = (f"python -m scripts.click_race --app {args.app} --zoo {os.path.relpath(args.zoo, ROOT)} "
               f"--repeats {args.repeats} "
               f"--sessions {args.sessions} --moves {','.join(moves)} --hogs {args.hogs} "
               f"--budget-minutes {args.budget_minutes:g}")
    print(f"\n`{command}`\n\n{len(results)} moves, {args.sessions} session(s), models: {', '.join(models) or '-'}; "
          f"{args.hogs} busy processes on {os.cpu_count()} cores; load average (1 min) {load_before[0]:.1f} before, "
          f"{load_after[0]:.1f} after.\n\n" + report(results, control, moves))
    return 0


if __name__ == "__main__":
    sys.exit(main())
