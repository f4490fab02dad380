"""Run the explorer as a user does: `streamlit run serve.py` on loopback in a subprocess, driven by Debian's
Chromium through Playwright (imported only when a browser is opened). Shared by the browser tests (which wait with
``wait_for`` / ``visit`` for the condition they check) and the scripts that measure or photograph the app
(scripts/bench_app.py, scripts/app_screenshots.py, scripts/soak_app.py).
"""
from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable
from contextlib import contextmanager
from pathlib import Path
from typing import TypeVar

from .pages import ROOT

SERVER = ROOT / "serve.py"  # what a deployment runs (the Dockerfile's CMD): app.py plus answers to unknown paths
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run"]
IDLE = '[data-testid="stApp"][data-test-script-state="notRunning"]'
EXCEPTION = '[data-testid="stException"]'
PLAYWRIGHT_TIMEOUT_MS = 30_000  # Playwright's own default for actions and locators, restored after each wait
T = TypeVar("T")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def streamlit_server(zoo: str | os.PathLike, port: int | None = None, timeout: float = 60.0, env: dict | None = None,
                     script: str | os.PathLike = SERVER):
    """Start the app (or another ``script``) on 127.0.0.1 and yield (base url, process); stop it (and only it)
    afterwards."""
    port = port or free_port()
    cmd = [sys.executable, "-m", "streamlit", "run", str(script), "--server.headless", "true",
           "--server.port", str(port), "--server.address", "127.0.0.1", "--browser.gatherUsageStats", "false",
           "--server.fileWatcherType", "none"]
    full_env = {**os.environ, "VAE_ZOO_SOURCE": str(zoo), "HF_HUB_DISABLE_PROGRESS_BARS": "1", **(env or {})}
    log = open(Path(os.environ.get("TMPDIR", "/tmp")) / f"streamlit-{port}.log", "w+")
    proc = subprocess.Popen(cmd, cwd=Path(script).parent, env=full_env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + timeout
        while True:
            if proc.poll() is not None:
                log.seek(0)
                raise RuntimeError(f"streamlit exited with {proc.returncode}:\n{log.read()[-3000:]}")
            try:
                with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as r:
                    if r.status == 200:
                        break
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"streamlit did not answer on {url} within {timeout:.0f} s")
            time.sleep(0.1)
        yield url, proc
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()


@contextmanager
def chromium(viewport=(1600, 1000)):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": viewport[0], "height": viewport[1]})
            yield page
        finally:
            browser.close()


def wait_for(page, check: Callable[..., T], *args, timeout: float = 90.0, poll_ms: int = 100) -> T:
    """Wait until ``check(*args)`` passes, and return what it returns. ``check`` asserts the condition a test is about
    (the element, the message, the changed URL); it is tried whenever the app's script is not running, until it
    passes or ``timeout`` seconds are out, and then its last failure is raised. So a test waits for what it checks,
    never for a quiet period: under load the rerun that a click or an upload starts can begin late, and the page
    before it is idle as well, so only a condition that the action changes tells that the rerun has been (a check
    that already held before the action proves nothing). A locator that waits inside ``check`` waits at most until
    the deadline."""
    from playwright.sync_api import Error as PlaywrightError

    deadline = time.monotonic() + timeout
    failure: Exception | None = None  # the check's last failure, raised when the time is out
    try:
        while True:
            left_ms = max(deadline - time.monotonic(), 0.001) * 1000
            page.set_default_timeout(left_ms)
            try:
                page.wait_for_selector(IDLE, state="attached", timeout=left_ms)
            except PlaywrightError as e:  # still running at the deadline
                raise failure or TimeoutError(f"the app was still running after {timeout:g} s") from e
            try:
                return check(*args)
            except (AssertionError, PlaywrightError) as e:
                failure = e
                if time.monotonic() >= deadline:
                    raise
            page.wait_for_timeout(poll_ms)
    finally:
        page.set_default_timeout(PLAYWRIGHT_TIMEOUT_MS)


def drawn(page) -> dict[str, int]:
    """The condition of a page that has run: its script idle, something in the main block, no exception element
    (whose text is the failure). Returns ``counts``."""
    exceptions = page.locator(EXCEPTION).all_inner_texts()
    assert not exceptions, exceptions[0][:2000]
    assert page.locator('[data-testid="stMain"] [data-testid="stElementContainer"]').count(), "nothing drawn yet"
    return counts(page)


def visit(page, url: str, timeout: float = 90.0, check: Callable[[], T] | None = None) -> T | dict[str, int]:
    """Open ``url`` and wait until the page has run (``drawn``) and ``check()``, if given, passes; returns its value
    (without ``check``, the page's ``counts``)."""
    page.goto(url)

    def ready():
        found = drawn(page)
        return check() if check else found
    return wait_for(page, ready, timeout=timeout)


def wait_idle(page, timeout: float = 60.0, settle_ms: int = 400) -> None:
    """Wait until the script has finished and the page stopped changing (a rerun the frontend starts by itself,
    images decoded, charts drawn): idle, with the same elements, twice ``settle_ms`` apart. For the scripts that
    time or photograph the app; a test waits for the condition it checks instead (``wait_for``)."""
    deadline = time.monotonic() + timeout
    page.wait_for_selector('[data-testid="stApp"]', timeout=timeout * 1000)
    page.wait_for_timeout(150)  # a rerun triggered just now flips the state to running first
    last = None
    while time.monotonic() < deadline:
        page.wait_for_selector(IDLE, timeout=max(deadline - time.monotonic(), 1) * 1000)
        page.wait_for_load_state("networkidle", timeout=max(deadline - time.monotonic(), 1) * 1000)
        now = (page.locator(IDLE).count(), page.locator('[data-testid="stElementContainer"]').count(),
               page.locator("img, svg.marks, canvas").count())
        if now == last and now[0]:
            return
        last = now
        page.wait_for_timeout(settle_ms)
    raise TimeoutError(f"the app did not settle within {timeout:.0f} s")


def counts(page) -> dict[str, int]:
    from .charts import STATIC_CLASS  # pandas, Altair and Streamlit: not for every user of this module
    from .tables import TABLE_CLASS

    return {
        "exceptions": page.locator(EXCEPTION).count(),
        "images": page.locator('[data-testid="stMain"] img').count(),
        "charts": page.locator('[data-testid="stVegaLiteChart"]').count(),
        "drawn charts": page.locator('[data-testid="stVegaLiteChart"] :is(svg.marks, canvas)').count(),
        "static charts": page.locator(f".{STATIC_CLASS} > :is(svg, img)").count(),  # charts.show_static
        "errors": page.locator('[data-testid="stAlertContentError"]').count(),
        "tables": page.locator(f'[data-testid="stDataFrame"], table.{TABLE_CLASS}').count(),  # grids and HTML
    }


def screenshot(page, path: Path, full: bool = True) -> Path:
    """The whole page: Streamlit scrolls inside its main block, so grow the viewport to its height first."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if full:
        height = page.evaluate("() => Math.max(...[...document.querySelectorAll('[data-testid=\"stMain\"], "
                               "[data-testid=\"stAppViewContainer\"] section')].map(e => e.scrollHeight), 800)")
        size = page.viewport_size
        page.set_viewport_size({"width": size["width"], "height": min(int(height) + 40, 6000)})
        page.wait_for_timeout(600)
        page.screenshot(path=str(path))
        page.set_viewport_size(size)
    else:
        page.screenshot(path=str(path))
    return path
