"""The server's long-lived objects kept out of the garbage collector's full passes. Streamlit runs a full collection
(``gc.collect(2)``) after every script run; with torch, pandas and Altair imported and the zoo scanned, that walks
about 400,000 objects, 150-250 ms on two cores: most of a warm rerun of the Board (docs/bench_presenter.md). After
the first run ``freeze_once`` collects once and moves every object alive then into the collector's permanent
generation (``gc.freeze``). They are still freed when their last reference goes (reference counting); only a reference
cycle among them would never be collected, and the imports and the scan live as long as the server anyway."""
from __future__ import annotations

import functools
import gc


@functools.cache  # once per process (gc.get_freeze_count() would walk the frozen objects at every run)
def freeze_once() -> None:
    """Collect, then freeze what is alive now; later calls do nothing."""
    gc.collect()
    gc.freeze()
