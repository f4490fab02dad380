"""Soak the explorer: N concurrent Chromium sessions click through every page for R rounds while the server's
resident memory is recorded after each round; then the sessions close and, after Streamlit's disconnected-session
TTL, one more reading. Loopback only (127.0.0.1), bounded in sessions, rounds and wall time.

    python -m scripts.soak_app                                  # 8 sessions x 6 rounds on ./checkpoints
    python -m scripts.soak_app --sessions 4 --rounds 10 --deadline 900 --out docs/soak.md

Each round every session clicks every page of the navigation (explorer/pages.py) once, starting after the first
and ending on it, and presses "Random" on Reconstruct and "New samples" on Sample. Those two move the seed, so
every round asks the caches for new entries: memory grows until each cache holds its max_entries, then it must
level off. Growth that continued past that point, with every cache full, would be a leak.
"""
from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import time
from pathlib import Path

from explorer.browser import CHROMIUM, CHROMIUM_ARGS, IDLE, streamlit_server
from explorer.pages import PAGES, ROOT

MAX_SESSIONS, MAX_ROUNDS = 16, 100
BUTTONS = {"reconstruct": "Random", "sample": "New samples"}  # url path -> the button pressed on that page
CLICKS = [(p.title, BUTTONS.get(p.url_path)) for p in (*PAGES[1:], PAGES[0])]  # (navigation entry, button)


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmRSS for process {pid}")


async def idle(page, timeout_s: float) -> None:
    """The script finished and stayed finished for 300 ms (a click can start a second rerun by itself)."""
    for _ in range(2):
        await page.wait_for_timeout(300)
        await page.wait_for_selector(IDLE, timeout=timeout_s * 1000)


async def one_round(page, timeout_s: float, buttons: bool) -> int:
    """The round's clicks in one session; returns the number of exception boxes seen on the way."""
    errors = 0
    for entry, button in CLICKS:
        await page.locator('[data-testid="stSidebarNav"] a', has_text=entry).first.click()
        await idle(page, timeout_s)
        if button and buttons:
            await page.get_by_role("button", name=button).first.click()
            await idle(page, timeout_s)
        errors += await page.locator('[data-testid="stException"]').count()
    return errors


async def soak(url: str, pid: int, sessions: int, rounds: int, deadline: float, timeout_s: float,
               buttons: bool) -> list[dict]:
    from playwright.async_api import async_playwright

    rows = [{"round": 0, "seconds": 0.0, "rss": rss_mib(pid), "errors": 0, "note": "server started, no session"}]
    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        pages = [await (await browser.new_context(viewport={"width": 1280, "height": 900})).new_page()
                 for _ in range(sessions)]
        start = time.monotonic()
        await asyncio.gather(*(page.goto(url) for page in pages))
        await asyncio.gather(*(idle(page, timeout_s) for page in pages))
        rows.append({"round": 0, "seconds": time.monotonic() - start, "rss": rss_mib(pid), "errors": 0,
                     "note": f"{sessions} sessions opened"})
        for r in range(1, rounds + 1):
            if time.monotonic() > deadline:
                rows[-1]["note"] = "; ".join(filter(None, [rows[-1]["note"], "stopped here: out of time"]))
                break
            t0 = time.monotonic()
            errors = await asyncio.gather(*(one_round(page, timeout_s, buttons) for page in pages))
            rows.append({"round": r, "seconds": time.monotonic() - t0, "rss": rss_mib(pid), "errors": sum(errors),
                         "note": ""})
            print(f"round {r}: {rows[-1]['seconds']:.0f} s, RSS {rows[-1]['rss']:.0f} MiB, "
                  f"{sum(errors)} exceptions", flush=True)
        await browser.close()
    return rows


def report(rows: list[dict], args, ttl: int, after_close: float | None) -> str:
    rounds = [r for r in rows if r["round"] > 0]
    lines = ["| round | wall s | server RSS MiB | change MiB | exception boxes | note |", "|---|---|---|---|---|---|"]
    last = None
    for r in rows:
        change = "" if last is None else f"{r['rss'] - last:+.1f}"
        lines.append(f"| {r['round']} | {r['seconds']:.0f} | {r['rss']:.1f} | {change} | {r['errors']} | {r['note']} |")
        last = r["rss"]
    if after_close is not None:
        lines.append(f"| after | | {after_close:.1f} | {after_close - last:+.1f} | | sessions closed, "
                     f"{ttl} s disconnected-session TTL waited |")
    steps = [b["rss"] - a["rss"] for a, b in zip(rounds[:-1], rounds[1:], strict=True)]
    half = len(steps) // 2
    summary = ""
    if len(steps) >= 4:
        summary = (f"\nGrowth per round: first half of the rounds {statistics.mean(steps[:half]):+.1f} MiB, "
                   f"second half {statistics.mean(steps[half:]):+.1f} MiB.\n")
    return "\n".join(lines) + "\n" + summary


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--zoo", default=str(ROOT / "checkpoints"), help="the zoo folder the server shows")
    parser.add_argument("--sessions", type=int, default=8, help=f"concurrent browser sessions (1-{MAX_SESSIONS})")
    parser.add_argument("--rounds", type=int, default=6, help=f"rounds of the same clicks (1-{MAX_ROUNDS})")
    parser.add_argument("--deadline", type=float, default=600.0, help="seconds after which no new round starts")
    parser.add_argument("--timeout", type=float, default=120.0, help="seconds one click may take")
    parser.add_argument("--ttl", type=int, default=20,
                        help="the server's disconnected-session TTL, waited after the sessions close (0: no wait)")
    parser.add_argument("--clicks", choices=["all", "navigation"], default="all",
                        help="navigation: leave out Random and New samples, so every round asks for the same cache "
                             "entries (growth then is not caching)")
    parser.add_argument("--out", help="also write the Markdown table here")
    args = parser.parse_args(argv)
    if not 1 <= args.sessions <= MAX_SESSIONS or not 1 <= args.rounds <= MAX_ROUNDS or args.deadline <= 0:
        parser.error(f"--sessions must be 1-{MAX_SESSIONS}, --rounds 1-{MAX_ROUNDS}, --deadline > 0")
    if not Path(CHROMIUM).is_file():
        parser.error(f"{CHROMIUM} is missing (apt-get install chromium)")
    env = {"OMP_NUM_THREADS": "1", "STREAMLIT_SERVER_DISCONNECTED_SESSION_TTL": str(args.ttl)}
    with streamlit_server(args.zoo, env=env) as (url, proc):
        deadline = time.monotonic() + args.deadline
        rows = asyncio.run(soak(url, proc.pid, args.sessions, args.rounds, deadline, args.timeout,
                                buttons=args.clicks == "all"))
        after = None
        if args.ttl:
            time.sleep(args.ttl + 10)  # the TTL, and the server's next cleanup pass
            after = rss_mib(proc.pid)
    text = (f"`python -m scripts.soak_app --zoo {os.path.relpath(args.zoo, ROOT)} --sessions {args.sessions} "
            f"--rounds {args.rounds} --deadline {args.deadline:g} --ttl {args.ttl} --clicks {args.clicks}`\n\n"
            + report(rows, args, args.ttl, after))
    print(text)
    if args.out:
        Path(args.out).write_text(text)
    return 0 if all(r["errors"] == 0 for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
