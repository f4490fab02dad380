"""The static charts' renderer in its own process (explorer.svg_worker): what it draws, what it says when it
cannot, that it comes back after it died, and that the server's threads keep running while it draws."""
from __future__ import annotations

import json
import threading
import time

import pytest

from explorer import svg_worker

LINE = {"mark": "line", "data": {"values": [{"x": i, "y": i * i} for i in range(20)]},
        "encoding": {"x": {"field": "x", "type": "quantitative"}, "y": {"field": "y", "type": "quantitative"}}}


@pytest.fixture
def fresh():
    svg_worker.stop()
    yield
    svg_worker.stop()


def test_it_draws_a_spec_and_says_why_it_cannot_draw_another(fresh):
    assert svg_worker.draw(json.dumps(LINE)).startswith("<svg")
    why = "could not draw this chart: Vega-Lite to SVG conversion failed: TypeError: [^\\n]*$"  # no V8 stack
    with pytest.raises(svg_worker.RenderError, match=why):
        svg_worker.draw(json.dumps(LINE | {"mark": "nonsense"}))
    assert svg_worker.draw(json.dumps(LINE)).startswith("<svg")  # the same worker goes on


def test_a_spec_on_many_lines_or_not_json_is_one_request(fresh):
    assert svg_worker.draw(json.dumps(LINE, indent=2)) == svg_worker.draw(json.dumps(LINE))
    with pytest.raises(svg_worker.RenderError, match="could not draw this chart"):
        svg_worker.draw("{not json\n")
    assert svg_worker.draw(json.dumps(LINE)).startswith("<svg")  # the pipe still pairs requests and answers


def test_a_worker_that_died_is_started_again(fresh):
    svg_worker.start()
    first = svg_worker._worker
    assert svg_worker.draw(json.dumps(LINE)).startswith("<svg")  # reads the start's answer first
    first.kill()
    first.wait()
    assert svg_worker.draw(json.dumps(LINE)).startswith("<svg")
    assert svg_worker._worker is not first


def test_the_servers_threads_run_while_it_draws(fresh):
    """In the server's process vl-convert held the interpreter lock for its whole first drawing (a thread sleeping a
    millisecond a tick ticked twice in 1.2 s); waiting on the worker's pipe releases it."""
    ticks, done = [0], threading.Event()

    def tick():
        while not done.is_set():
            ticks[0] += 1
            time.sleep(0.001)

    ticker = threading.Thread(target=tick)
    ticker.start()
    started = time.perf_counter()
    try:
        svg_worker.draw(json.dumps(LINE))  # starts the worker and its V8: well over 0.1 s
    finally:
        done.set()
        ticker.join()
    assert time.perf_counter() - started > 0.1 and ticks[0] >= 50
