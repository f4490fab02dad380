"""Time warm reruns of an explorer's pages with Streamlit's AppTest, for scripts/bench_app.py. It imports nothing of
the explorer, so it can time another tree of it too (an older commit): bench_app runs it as a child process in
that tree, with the tree first on PYTHONPATH.

    python scripts/app_timer.py APP.py '{"sample": ["app_pages/sample.py", null]}' RUNS

Each page: app.py runs, switches to the page file (none: the default page), sets ``lab_tab`` where given, runs once
more to warm the caches, then reruns RUNS times. Prints {page: {"wall": [seconds, ...], "cpu": [seconds, ...]}} as
JSON on the last line: wall-clock time, and the CPU time of this process (all its threads), which another job on
the same cores delays but does not add to.
"""
from __future__ import annotations

import json
import sys
import time

from streamlit.testing.v1 import AppTest


def rerun_times(app: str, file: str, lab_tab: str | None, runs: int) -> dict[str, list[float]]:
    at = AppTest.from_file(app, default_timeout=300)
    at.run()
    if file:
        at.switch_page(file).run()
    if lab_tab:
        at.session_state["lab_tab"] = lab_tab
    at.run()  # caches warm
    if at.exception:
        raise RuntimeError(f"{file or app}: " + "; ".join(e.value for e in at.exception))
    if lab_tab and at.session_state["lab_tab"] != lab_tab:
        raise RuntimeError(f"no lab tab {lab_tab!r}")
    times: dict[str, list[float]] = {"wall": [], "cpu": []}
    for _ in range(runs):
        wall, cpu = time.perf_counter(), time.process_time()
        at.run()
        times["wall"].append(time.perf_counter() - wall)
        times["cpu"].append(time.process_time() - cpu)
    return times


def main(argv: list[str]) -> int:
    app, pages, runs = argv[0], json.loads(argv[1]), int(argv[2])
    out = {name: rerun_times(app, file, lab_tab, runs) for name, (file, lab_tab) in pages.items()}
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
