"""Vega-Lite charts drawn as SVG or PNG in a process of their own: the charts drawn on the server (charts.picture).

vl-convert runs Vega in a V8 isolate and holds Python's interpreter lock while it draws: about a second to start V8,
then tens of milliseconds a chart (measured here: a thread that sleeps a millisecond per tick ticked twice during the
first drawing's 1.2 s, five times during five later ones). In the server's process that stops every session's
script and the server's event loop for as long, the first page's delivery included when the warm-up starts V8. In a
worker process the drawing takes another core, and the server's thread waits on a pipe, which releases the lock.

The worker reads one request a line on stdin (``{"png_scale": null or a number, "spec": <a Vega-Lite spec>}``)
and answers one line on stdout: ``{"svg": ...}``, ``{"png": <base64>}`` or ``{"error": ...}``. ``draw``
starts it on first use, and again if it has died."""
from __future__ import annotations

import json
import subprocess
import sys
import threading

WARM_SPEC = {"mark": "point", "data": {"values": [{"x": 0}]}, "encoding": {"x": {"field": "x"}}}
_LOCK = threading.Lock()  # one request at a time on the pipe; waiting for it releases the interpreter lock
_worker: subprocess.Popen | None = None
_pending = 0  # answers to ``start``'s request not read yet: read before the next request's


TIMEOUT_S = 120.0  # a drawing not answered by then: the worker is stopped (a hung V8 would hold every chart)


class RenderError(RuntimeError):
    """The worker could not draw a spec (its message says why), could not start, or stopped twice in a row."""


def start() -> None:
    """Start the worker if it is not running, and have it start V8 (on its own core) without waiting for it. A worker
    that cannot start is left to the first chart, which says so (``draw``)."""
    global _pending
    with _LOCK:
        try:
            worker = _running()
            worker.stdin.write(_request(json.dumps(WARM_SPEC), None))
            worker.stdin.flush()
        except OSError:
            _forget()
            return
        _pending += 1


def stop() -> None:
    """End the worker (it ends by itself when the server does: its stdin closes)."""
    with _LOCK:
        _forget()


def draw(spec_json: str, png_scale: float | None = None) -> str:
    """``spec_json`` (a Vega-Lite spec with its data inline, as JSON text) drawn by Vega: SVG text, or with
    ``png_scale`` a PNG of that many pixels per SVG pixel, base64-encoded."""
    with _LOCK:
        for _ in range(2):  # a worker that died (killed, out of memory, timed out) is started again once
            try:
                answer = _ask(_running(), _request(spec_json, png_scale))
            except (OSError, ValueError):  # could not start, a broken pipe, half a line
                answer = None
            except BaseException:  # the answer may still come: never read it as the next chart's
                _forget()
                raise
            if answer is not None:
                break
            _forget()
        else:
            raise RenderError("the chart renderer's process (vl-convert) could not start or stopped twice while "
                              "drawing this chart")
    if "error" in answer:
        raise RenderError(f"the chart renderer (vl-convert) could not draw this chart: {answer['error']}")
    kind = "png" if png_scale else "svg"
    if kind not in answer:  # a spec text that set the request's own keys
        raise RenderError(f"the chart renderer (vl-convert) answered without the {kind.upper()} asked for")
    return answer[kind]


def _request(spec_json: str, png_scale: float | None) -> str:
    """One request line: the spec's text as it is (not encoded again as a string); a line break outside JSON's
    strings is white space, and inside them JSON has none, so none can split the request."""
    one_line = spec_json.replace("\r", " ").replace("\n", " ")
    return f'{{"png_scale": {json.dumps(png_scale)}, "spec": {one_line}}}\n'


def _running() -> subprocess.Popen:
    global _worker
    if _worker is None or _worker.poll() is not None:
        _forget()
        # -P: the script's folder (explorer/, whose module names are generic) stays off the worker's import path
        _worker = subprocess.Popen([sys.executable, "-P", __file__], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                   text=True, encoding="utf-8")
    return _worker


def _forget() -> None:
    global _worker, _pending
    if _worker is not None:
        _worker.kill()
        _worker.wait()
        for pipe in (_worker.stdin, _worker.stdout):
            try:
                pipe.close()
            except OSError:
                pass
    _worker, _pending = None, 0


def _ask(worker: subprocess.Popen, request: str) -> dict | None:
    """The worker's answer to ``request`` (the start's answer read first), or None if it stopped or timed out: a
    timer kills it after ``TIMEOUT_S``, which ends the read (a pipe's read has no timeout of its own everywhere)."""
    global _pending
    timer = threading.Timer(TIMEOUT_S, worker.kill)
    timer.start()
    try:
        worker.stdin.write(request)
        worker.stdin.flush()
        while _pending:
            if not worker.stdout.readline():
                return None
            _pending -= 1
        line = worker.stdout.readline()
    finally:
        timer.cancel()
    return json.loads(line) if line else None


def main() -> None:
    """The worker: one spec a line in, one answer a line out, until stdin closes."""
    import base64

    import vl_convert

    for pipe in (sys.stdin, sys.stdout):  # the server writes and reads UTF-8 (draw), whatever this locale says
        pipe.reconfigure(encoding="utf-8")
    for line in sys.stdin:
        try:
            request = json.loads(line)
            spec, scale = request["spec"], request["png_scale"]
            answer = ({"png": base64.b64encode(vl_convert.vegalite_to_png(spec, scale=scale)).decode()} if scale else
                      {"svg": vl_convert.vegalite_to_svg(spec)})
        except Exception as error:  # noqa: BLE001  the answer carries it to the server, which shows it
            answer = {"error": " ".join(str(error).splitlines()[:2]) or type(error).__name__}  # V8's stack left out
        sys.stdout.write(json.dumps(answer) + "\n")
        sys.stdout.flush()


if __name__ == "__main__":
    main()
