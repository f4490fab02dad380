"""Warming the explorer's caches when a server starts (serve.py), so that the first visitor does not wait for what
every page needs: importing pandas and Altair, reading the zoo, the Overview's chart (from the disk cache of a
previous start, ``charts.kept_picture``, else drawn); then, once the first page has run and been drawn
(``first_page_ran``: the Overview needs no torch, and importing it beside the first page slows that page down),
starting the other static charts' renderer (explorer.svg_worker, a process of its own whose V8 takes a core for a
second; a chart drawn on the server before then, on the Story or in presenter mode, starts it and waits that
second), importing torch and loading the default dataset's models,
the default selection's first, with their sigma over the test sample (the Decoder sigma page's "All models" loads
them all) and the Board's pictures of its opening view and its named sets ("next set"). The work goes through the
same cached functions the pages call: a page that asks for something the thread is computing waits for that one
value (Streamlit's caches lock each key while computing it) instead of computing it twice. Measured in
docs/bench_presenter.md."""
from __future__ import annotations

import logging
import os
import sys
import threading
import time

LOG = logging.getLogger(__name__)
THREAD_NAME = "explorer-warmup"
RUN_CONTEXT_LOGGER = "streamlit.runtime.scriptrunner_utils.script_run_context"
YIELDING_NICENESS = 10  # added to the warm-up thread's nice value once the default selection is loaded
FIRST_PAGE_WAIT = 60.0  # seconds the models wait for a first page; a server nobody visits loads them after that
FIRST_PAGE_DRAWN = 2.0  # seconds from a first page's script to its browser's drawing done, on 2 cores (the bench)
FIRST_PAGE = threading.Event()  # set by app.py once a page has run (``first_page_ran``)
WAITING = threading.Event()  # set by the warm-up when it has read the zoo and waits for a first page before torch


def first_page_ran() -> None:
    """Called by app.py after each page run: from the first on, the warm-up may take the CPU for torch and models."""
    FIRST_PAGE.set()


class _OwnThreadNotes(logging.Filter):
    """Streamlit warns once per cached call made outside a page's run ("missing ScriptRunContext"): expected of this
    thread, so its own such warnings stay out of the server's log."""

    def filter(self, record: logging.LogRecord) -> bool:
        return record.threadName != THREAD_NAME


def start() -> threading.Thread:
    """Warm the caches in a daemon thread (it never holds a server's shutdown)."""
    logging.getLogger(RUN_CONTEXT_LOGGER).addFilter(_OwnThreadNotes())
    thread = threading.Thread(target=warm, kwargs={"polite": True, "first_page_wait": FIRST_PAGE_WAIT},
                              name=THREAD_NAME, daemon=True)
    thread.start()
    return thread


def warm(polite: bool = False, first_page_wait: float = 0.0) -> list[str]:
    """What the pages would compute first, in the order a visitor asks for it; the names of the models loaded.
    ``polite``: once the default selection is loaded, the thread lowers its priority (``os.nice`` applies to the
    calling thread alone on Linux), so that the rest of the models, which only the sigma page's "All models" and the
    Board's other sets need, take the CPU that visitors leave; not before, since a page waiting for a value this
    thread computes would wait at its priority. A failure is logged and ends the warm-up (the page that needs the
    value meets the same failure and says so). ``first_page_wait``: seconds to wait for a first page (``FIRST_PAGE``)
    before torch is imported."""
    warmed: list[str] = []
    start = time.perf_counter()
    try:
        _warm(warmed, polite, first_page_wait)
    except Exception:  # noqa: BLE001  the pages report their own errors; this thread only saves them time
        LOG.warning("warming the explorer's caches stopped", exc_info=True)
    print(f"explorer: caches warmed in {time.perf_counter() - start:.1f} s ({len(warmed)} models)", file=sys.stderr,
          flush=True)
    return warmed


def _warm(warmed: list[str], polite: bool, first_page_wait: float) -> None:
    from vae_core.zoo.checkpoints import ZOO_ENV, ZooError, is_hub_repo_id

    from . import access, board, cache, charts, context, svg_worker, tables
    from .views import overview, sigma

    source = os.environ.get(ZOO_ENV) or str(cache.LOCAL_ZOO)  # what the sidebar opens on (context.sidebar)
    revision = ((os.environ.get(context.REVISION_ENV) or None) if access.is_locked() or is_hub_repo_id(source)
                else None)
    root, _ = cache.resolve(source, revision)
    if root is None:
        return
    try:
        checkpoints, _ = cache.scan_zoo(root, cache.zoo_signature(root))
    except ZooError:
        return
    datasets = context.datasets_of(checkpoints)
    if not datasets:
        return
    dataset = datasets[0]
    points = overview.quality_points(tables.leaderboard(checkpoints), dataset, means=False)
    if not points.empty:
        try:
            charts.static_markup(overview.quality_chart(points), kept=True)  # the Overview's picture, from disk
        except svg_worker.RenderError:  # the page draws the chart in the browser instead, and says why
            pass
    if first_page_wait:
        WAITING.set()
        if FIRST_PAGE.wait(first_page_wait):
            time.sleep(FIRST_PAGE_DRAWN)  # the server cannot see the drawing end; torch would share its cores
    svg_worker.start()  # the other static charts' renderer starts its V8 in its own process (a second of a core)
    images, _ = cache.sample_set(dataset)
    ours = [c for c in checkpoints if c.dataset == dataset]
    first = context.default_models(checkpoints, dataset)
    on_board = set(first) | {name for _, members in board.model_sets([c.name for c in ours], dataset)
                             for name in members}  # the Board's opening view and its named sets
    for ckpt in sorted(ours, key=lambda c: first.index(c.name) if c.name in first else len(first)):  # those first
        if polite and len(warmed) == len(first) and sys.platform == "linux":
            os.nice(YIELDING_NICENESS)
        key = cache.model_key(root, ckpt, revision, "cpu")
        try:
            model = cache.get_model(key, ckpt)
        except ZooError:
            continue
        cache.sigma_values(model, key, dataset, sigma.SIGMA_IMAGES)
        if ckpt.name in on_board:  # what the Board shows first: the first test images at the sidebar's first seed
            board.column_pictures(model, key, images, 0, context.Context.seed)
        warmed.append(ckpt.name)

