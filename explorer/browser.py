"""Run the explorer as a user does: `streamlit run serve.py` on loopback in a subprocess, driven by Debian's
Chromium through Playwright (imported only when a browser is opened). Shared by tests/test_browser.py and the
scripts that measure or photograph the app (scripts/bench_app.py, scripts/app_screenshots.py, scripts/soak_app.py).
"""
from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from contextlib import contextmanager
from pathlib import Path

from .pages import ROOT

SERVER = ROOT / "serve.py"  # what a deployment runs (the Dockerfile's CMD): app.py plus answers to unknown paths
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run"]
IDLE = '[data-testid="stApp"][data-test-script-state="notRunning"]'


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


def wait_idle(page, timeout: float = 60.0, settle_ms: int = 400) -> None:
    """Wait until the script has finished and the page stopped changing (a rerun the frontend starts by itself,
    images decoded, charts drawn): idle, with the same elements, twice ``settle_ms`` apart."""
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
    return {
        "exceptions": page.locator('[data-testid="stException"]').count(),
        "images": page.locator('[data-testid="stMain"] img').count(),
        "charts": page.locator('[data-testid="stVegaLiteChart"]').count(),
        "drawn charts": page.locator('[data-testid="stVegaLiteChart"] :is(svg.marks, canvas)').count(),
        "errors": page.locator('[data-testid="stAlertContentError"]').count(),
        "tables": page.locator('[data-testid="stDataFrame"]').count(),
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
