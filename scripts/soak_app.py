"""Soak the explorer: N concurrent Chromium sessions click through every page for R rounds while the server's
resident memory (now and peak), its caches' sizes and every click's delay are recorded; then the sessions close
and, after Streamlit's disconnected-session TTL, one more reading. Loopback only (127.0.0.1), bounded in
sessions, rounds and wall time.

    python -m scripts.soak_app                                  # 8 sessions x 6 rounds on ./checkpoints
    python -m scripts.soak_app --sessions 8 --rounds 10 --public --models several --out /tmp/soak.md

Each session opens with a link selecting ``--models``. Each round it clicks every page of the navigation
(explorer/pages.py) once, starting after the first and ending on it; with ``--clicks all`` it also presses
"Random" on Reconstruct, then chooses "Upload" and "Test sample" there and at once clicks Sample in the
navigation (the move issue 25 found lost; back on Reconstruct a "Test sample" not kept is counted lost), and
presses "New samples" on Sample. "Random" and "New samples" move the seed, so every round asks the caches for new
entries: memory grows until each cache holds its max_entries, then it must level off.

A navigation click is *late* when the address bar shows its page more than ``--late`` seconds after the click,
and *lost* when it does not show it ``--lost`` seconds after the click, or shows it and then goes back to
another page (the soak then clicks again, so the round goes on).
"""
from __future__ import annotations

import argparse
import asyncio
import os
import re
import statistics
import sys
import time
import urllib.request
from pathlib import Path
from urllib.parse import urlencode

from explorer.access import LOCKED_ENV
from explorer.browser import CHROMIUM, CHROMIUM_ARGS, IDLE, streamlit_server
from explorer.pages import PAGES, ROOT

MAX_SESSIONS, MAX_ROUNDS = 16, 100
NAV = [(p.title, "/" if p is PAGES[0] else f"/{p.url_path}") for p in (*PAGES[1:], PAGES[0])]  # (entry, address)
# "several": the story's decoders in both architectures, as a presenter comparing them would choose
SEVERAL = ("mnist-gaussian-pixel-conv", "mnist-gaussian-fixed-conv", "mnist-bernoulli-conv", "mnist-gaussian-pixel",
           "mnist-gaussian-fixed", "mnist-bernoulli")
PUBLIC_ENV = {LOCKED_ENV: "1", "MALLOC_ARENA_MAX": "2"}  # what the Dockerfile sets
SOURCE = ".st-key-image_source"  # Reconstruct's image-source control (a segmented control keyed image_source)
SOURCE_CHOSEN = f"{SOURCE} [role=radio][aria-checked=true]"
METRIC = re.compile(r'^cache_memory_bytes\{cache_type="([^"]+)",cache="([^"]*)"\} (\d+)', re.M)


def status_mib(pid: int, field: str) -> float:
    """VmRSS (resident now) or VmHWM (the peak resident) of a process, in MiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no {field} for process {pid}")


def cache_bytes(url: str) -> dict[str, int]:
    """Streamlit's own account of what its caches hold (/_stcore/metrics): bytes for st.cache_data and the media
    files of the sessions' pictures; st.cache_resource counts entries, not bytes."""
    with urllib.request.urlopen(f"{url}/_stcore/metrics", timeout=60) as r:
        text = r.read().decode()
    return {f"{kind}:{name}" if name else kind: int(n) for kind, name, n in METRIC.findall(text)}


async def idle(page, timeout_s: float) -> None:
    """The script finished and stayed finished for 300 ms (a click can start a second rerun by itself)."""
    for _ in range(2):
        await page.wait_for_timeout(300)
        await page.wait_for_selector(IDLE, timeout=timeout_s * 1000)


def nav_link(page, entry: str):
    """The navigation's link named ``entry`` exactly (its icon's name, such as "leaderboard", is text too)."""
    return page.locator('[data-testid="stSidebarNav"]').get_by_role("link", name=entry, exact=True)


class Clicks:
    """Every navigation click of a session: its delay (None when lost) and, for a lost one, what the page did."""

    def __init__(self) -> None:
        self.delays: list[float | None] = []
        self.lost: list[str] = []

    async def go(self, page, entry: str, address: str, timeout_s: float, lost_s: float, after: str) -> None:
        start = time.monotonic()
        await nav_link(page, entry).click(timeout=timeout_s * 1000)
        try:
            await page.wait_for_function("p => location.pathname === p", arg=address, polling=50,
                                         timeout=lost_s * 1000)
            delay = time.monotonic() - start
        except Exception:  # Playwright's TimeoutError: the address never changed
            delay = None
        await idle(page, timeout_s)
        where = await page.evaluate("location.pathname")
        if delay is not None and where == address:
            self.delays.append(delay)
            return
        self.delays.append(None)
        self.lost.append(f"{entry} after {after}: " + ("never shown" if delay is None else
                                                        f"shown after {delay:.1f} s, then back to {where}"))
        print(f"lost: {self.lost[-1]}", flush=True)
        try:  # the click again; failing that, the address (a new session: the soak goes on either way)
            await nav_link(page, entry).click(timeout=timeout_s * 1000)
            await page.wait_for_function("p => location.pathname === p", arg=address, timeout=timeout_s * 1000)
        except Exception:
            await page.goto("/".join(page.url.split("/", 3)[:3]) + address, timeout=timeout_s * 1000)  # origin+address
        await idle(page, timeout_s)


async def press(page, clicks: Clicks, button, what: str, timeout_s: float, wait: bool = True) -> None:
    """Click ``button`` (a locator); one that is not there within the timeout is a lost click, and the round goes
    on. The note says which image source the page had chosen, the state these buttons depend on."""
    try:
        await button.first.click(timeout=timeout_s * 1000)
    except Exception:
        chosen = await page.locator(SOURCE_CHOSEN).all_inner_texts()
        clicks.lost.append(f"{what} on {await page.evaluate('location.pathname')}: not there after {timeout_s:g} s "
                           f"(image source chosen: {', '.join(chosen) or 'none'})")
        print(f"lost: {clicks.lost[-1]}", flush=True)
        return
    if wait:
        await idle(page, timeout_s)


def option(page, name: str):
    return page.locator('button[data-variant="segmented_control"]', has_text=name)


async def kept_choice(page, clicks: Clicks, timeout_s: float) -> None:
    """Back on Reconstruct, "Test sample" (chosen there last round just before the navigation) should still be
    chosen. Streamlit can drop that choice when the navigation's rerun stops the choice's before it applied it
    (docs/soak.md, issue 25 item 4): count it as lost and choose it again, instead of waiting for a "Random"
    button that only "Test sample" shows."""
    await page.wait_for_selector(f"{SOURCE} [role=radio]", timeout=timeout_s * 1000)
    chosen = [c.strip() for c in await page.locator(SOURCE_CHOSEN).all_inner_texts()]
    if chosen == ["Test sample"]:
        return
    clicks.lost.append(f"Test sample, chosen on /reconstruct before the navigation: back with "
                       f"{', '.join(chosen) or 'none'} chosen (dropped by Streamlit, see docs/soak.md)")
    print(f"lost: {clicks.lost[-1]}", flush=True)
    await press(page, clicks, option(page, "Test sample"), "Test sample", timeout_s)


async def one_round(page, clicks: Clicks, timeout_s: float, lost_s: float, buttons: bool) -> int:
    """The round's clicks in one session; returns the number of exception boxes seen on the way."""
    errors, before = 0, NAV[-1][0]
    for entry, address in NAV:
        await clicks.go(page, entry, address, timeout_s, lost_s, before)
        before = entry
        if buttons and address == "/reconstruct":
            await kept_choice(page, clicks, timeout_s)
            await press(page, clicks, page.get_by_role("button", name="Random", exact=True), "Random", timeout_s)
            await press(page, clicks, option(page, "Upload"), "Upload", timeout_s)
            await press(page, clicks, option(page, "Test sample"), "Test sample", timeout_s, wait=False)  # then at once

            before = "Reconstruct's Test sample"
        elif buttons and address == "/sample":
            await press(page, clicks, page.get_by_role("button", name="New samples", exact=True), "New samples",
                        timeout_s)
        errors += await page.locator('[data-testid="stException"]').count()
    return errors


def click_summary(delays: list[float | None], late_s: float) -> dict:
    arrived = sorted(d for d in delays if d is not None)
    q = (lambda f: arrived[min(int(f * len(arrived)), len(arrived) - 1)]) if arrived else (lambda f: float("nan"))
    return {"clicks": len(delays), "lost": len(delays) - len(arrived), "late": sum(d > late_s for d in arrived),
            "median": q(0.5), "p95": q(0.95), "max": arrived[-1] if arrived else float("nan")}


async def soak(url: str, pid: int, sessions: int, rounds: int, deadline: float, timeout_s: float, lost_s: float,
               buttons: bool, models: list[str], late_s: float) -> tuple[list[dict], list[Clicks], dict[str, int]]:
    from playwright.async_api import async_playwright

    def reading(round_: int, seconds: float, note: str, errors: int = 0, done: list[Clicks] | None = None) -> dict:
        row = {"round": round_, "seconds": seconds, "rss": status_mib(pid, "VmRSS"), "peak": status_mib(pid, "VmHWM"),
               "caches": cache_bytes(url), "errors": errors, "note": note}
        if done is not None:
            row |= click_summary([d for c in done for d in c.delays[-len(NAV):]], late_s)
            row["lost"] = sum(len(c.lost) for c in done) - sum(r.get("lost", 0) for r in rows)  # buttons too
        return row

    rows = [reading(0, 0.0, "server started, no session")]
    link = "/?" + urlencode([("models", m) for m in models] + [("open", "1")]) if models else "/"
    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        pages = [await (await browser.new_context(viewport={"width": 1280, "height": 900})).new_page()
                 for _ in range(sessions)]
        clicks = [Clicks() for _ in pages]
        start = time.monotonic()
        await asyncio.gather(*(page.goto(url + link, timeout=timeout_s * 1000) for page in pages))
        await asyncio.gather(*(idle(page, timeout_s) for page in pages))
        rows.append(reading(0, time.monotonic() - start, f"{sessions} sessions opened"))
        for r in range(1, rounds + 1):
            if time.monotonic() > deadline:
                rows[-1]["note"] = "; ".join(filter(None, [rows[-1]["note"], "stopped here: out of time"]))
                break
            t0 = time.monotonic()
            errors = await asyncio.gather(*(one_round(page, c, timeout_s, lost_s, buttons) for page, c in zip(
                pages, clicks, strict=True)))
            rows.append(reading(r, time.monotonic() - t0, "", sum(errors), clicks))
            row = rows[-1]
            print(f"round {r}: {row['seconds']:.0f} s, RSS {row['rss']:.0f} MiB (peak {row['peak']:.0f}), "
                  f"{row['lost']} lost and {row['late']} late of {row['clicks']} clicks, {sum(errors)} exceptions",
                  flush=True)
        await browser.close()
    return rows, clicks, rows[-1]["caches"]


def report(rows: list[dict], clicks: list[Clicks], caches: dict[str, int], late_s: float,
           after_close: tuple[float, float] | None, ttl: int) -> str:
    mib = 2**20
    lines = ["| round | wall s | RSS MiB | change | peak MiB | cache_data MiB | pictures MiB | clicks | lost | "
             f"late > {late_s:g} s | delay median / p95 / max s | exceptions | note |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    last = None
    for r in rows:
        data = sum(v for k, v in r["caches"].items() if k.startswith("st_cache_data:")) / mib
        media = r["caches"].get("st_memory_media_file_storage", 0) / mib
        clicks_cells = (f"{r['clicks']} | {r['lost']} | {r['late']} | {r['median']:.2f} / {r['p95']:.2f} / "
                        f"{r['max']:.2f}") if "clicks" in r else " | | | "
        change = "" if last is None else f"{r['rss'] - last:+.1f}"
        lines.append(f"| {r['round']} | {r['seconds']:.0f} | {r['rss']:.1f} | {change} | {r['peak']:.1f} | "
                     f"{data:.1f} | {media:.1f} | {clicks_cells} | {r['errors']} | {r['note']} |")
        last = r["rss"]
    if after_close is not None:
        lines.append(f"| after | | {after_close[0]:.1f} | {after_close[0] - last:+.1f} | {after_close[1]:.1f} | | | "
                     f"| | | | | sessions closed, {ttl} s disconnected-session TTL waited |")
    rounds = [r for r in rows if r["round"] > 0]
    steps = [b["rss"] - a["rss"] for a, b in zip(rounds[:-1], rounds[1:], strict=True)]
    text = "\n".join(lines) + "\n"
    if len(steps) >= 4:
        half = len(steps) // 2
        text += (f"\nGrowth per round: first half of the rounds {statistics.mean(steps[:half]):+.1f} MiB, "
                 f"second half {statistics.mean(steps[half:]):+.1f} MiB.\n")
    total = click_summary([d for c in clicks for d in c.delays], late_s)
    text += (f"\nNavigation clicks: {total['clicks']}, lost {total['lost']}, late (> {late_s:g} s) {total['late']}; "
             f"buttons and choices lost: {sum(len(c.lost) for c in clicks) - total['lost']}; "
             f"delay median {total['median']:.2f} s, 95th percentile {total['p95']:.2f} s, max {total['max']:.2f} s.\n")
    lost = [f"- session {i + 1}: {what}" for i, c in enumerate(clicks) for what in c.lost]
    if lost:
        text += "\nLost clicks:\n" + "\n".join(lost) + "\n"
    biggest = sorted(((v, k) for k, v in caches.items() if not k.startswith("st_cache_resource")), reverse=True)
    text += ("\nWhat the caches held at the end (Streamlit's /_stcore/metrics; st.cache_resource entries are "
             "counted, not sized):\n\n| cache | MiB |\n|---|---|\n" +
             "\n".join(f"| `{k}` | {v / mib:.2f} |" for v, k in biggest if v) + "\n\n| resource cache | entries |\n"
             "|---|---|\n" + "\n".join(f"| `{k.split(':', 1)[1]}` | {v} |" for k, v in sorted(caches.items())
                                      if k.startswith("st_cache_resource")) + "\n")
    return text


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--zoo", default=str(ROOT / "checkpoints"), help="the zoo folder the server shows")
    parser.add_argument("--sessions", type=int, default=8, help=f"concurrent browser sessions (1-{MAX_SESSIONS})")
    parser.add_argument("--rounds", type=int, default=6, help=f"rounds of the same clicks (1-{MAX_ROUNDS})")
    parser.add_argument("--deadline", type=float, default=600.0, help="seconds after which no new round starts")
    parser.add_argument("--timeout", type=float, default=180.0, help="seconds a page may take to finish its run")
    parser.add_argument("--lost", type=float, default=60.0,
                        help="seconds after which a navigation click whose page is not shown is lost")
    parser.add_argument("--late", type=float, default=0.5, help="seconds after which a navigation click is late")
    parser.add_argument("--ttl", type=int, default=20,
                        help="the server's disconnected-session TTL, waited after the sessions close (0: no wait)")
    parser.add_argument("--clicks", choices=["all", "navigation"], default="all",
                        help="navigation: leave out the buttons and choices, so every round asks for the same cache "
                             "entries (growth then is not caching)")
    parser.add_argument("--models", default="default",
                        help="the selection each session opens with: default (the app's), several (six: the story's "
                             "decoders, conv and MLP) or names separated by commas")
    parser.add_argument("--public", action="store_true",
                        help="run the server as the Dockerfile does: " + ", ".join(
                            f"{k}={v}" for k, v in PUBLIC_ENV.items()))
    parser.add_argument("--out", help="also write the Markdown report here")
    args = parser.parse_args(argv)
    if not 1 <= args.sessions <= MAX_SESSIONS or not 1 <= args.rounds <= MAX_ROUNDS or args.deadline <= 0:
        parser.error(f"--sessions must be 1-{MAX_SESSIONS}, --rounds 1-{MAX_ROUNDS}, --deadline > 0")
    if not Path(CHROMIUM).is_file():
        parser.error(f"{CHROMIUM} is missing (apt-get install chromium)")
    names = {p.name for p in Path(args.zoo).iterdir() if p.is_dir()} if Path(args.zoo).is_dir() else set()
    models = ([] if args.models == "default" else [m for m in SEVERAL if m in names] if args.models == "several"
              else [m.strip() for m in args.models.split(",") if m.strip()])
    if args.models != "default" and not models:
        parser.error(f"--models {args.models}: none of these models is in {args.zoo}")
    env = {"OMP_NUM_THREADS": "1", "STREAMLIT_SERVER_DISCONNECTED_SESSION_TTL": str(args.ttl),
           **(PUBLIC_ENV if args.public else {})}
    with streamlit_server(args.zoo, env=env) as (url, proc):
        deadline = time.monotonic() + args.deadline
        rows, clicks, caches = asyncio.run(soak(url, proc.pid, args.sessions, args.rounds, deadline, args.timeout,
                                                args.lost, buttons=args.clicks == "all", models=models,
                                                late_s=args.late))
        after = None
        if args.ttl:
            time.sleep(args.ttl + 10)  # the TTL, and the server's next cleanup pass
            after = (status_mib(proc.pid, "VmRSS"), status_mib(proc.pid, "VmHWM"))
    command = (f"python -m scripts.soak_app --zoo {os.path.relpath(args.zoo, ROOT)} --sessions {args.sessions} "
               f"--rounds {args.rounds} --deadline {args.deadline:g} --lost {args.lost:g} --ttl {args.ttl} "
               f"--clicks {args.clicks} --models {args.models}" + (" --public" if args.public else ""))
    load = os.getloadavg()
    text = (f"`{command}`\n\nModels: {', '.join(models) or 'the default selection'}. Load average at the end "
            f"{load[0]:.1f} / {load[1]:.1f} / {load[2]:.1f} (1 / 5 / 15 min) on {os.cpu_count()} cores.\n\n"
            + report(rows, clicks, caches, args.late, after, args.ttl))
    print(text)
    if args.out:
        Path(args.out).write_text(text)
    return 0 if all(r["errors"] == 0 for r in rows) and not any(c.lost for c in clicks) else 1


if __name__ == "__main__":
    sys.exit(main())
