"""After its first run the app keeps what lives as long as the server (the imports, the zoo scan) out of the garbage
collector's full passes, which Streamlit runs after every script run: with torch loaded such a pass walked about
400,000 objects, most of a warm rerun of the Board (explorer/heap.py; timed in docs/bench_presenter.md)."""
from __future__ import annotations

import gc
import sys

from apptest_pages import open_page


def test_after_the_first_run_the_imports_are_out_of_the_collectors_passes(zoo):
    open_page("board")
    passes_walk = {id(o) for o in gc.get_objects()}  # every generation a collection walks, not the frozen objects
    for name in ("torch", "streamlit", "explorer.board"):
        assert gc.is_tracked(sys.modules[name]) and id(sys.modules[name]) not in passes_walk, name
