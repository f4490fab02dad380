"""The server's long-lived objects kept out of the garbage collector's full passes. Streamlit runs a full collection
(``gc.collect(2)``) after every script run; with torch, pandas and Altair imported and the zoo scanned, that walks
about 400,000 objects, 150-250 ms on two cores: most of a warm rerun of the Board (docs/bench_presenter.md). After a
run, if modules were imported since the last time, ``freeze_new`` collects once and moves every object alive then
into the collector's permanent generation (``gc.freeze``): after the first page, and after the first run once the
warm-up has imported torch. Frozen objects are still freed when their last reference goes (reference counting); only
a reference cycle among them would never be collected: the imports and the scan live as long as the server anyway,
and what else was alive at a freeze (a session then open) is bounded by the few runs that import modules."""
from __future__ import annotations

import gc
import sys

_modules_frozen = 0  # len(sys.modules) at the last freeze (gc.get_freeze_count() would walk the frozen objects)


def freeze_new() -> None:
    """Collect, then freeze what is alive now, if modules were imported since the last freeze; else nothing."""
    global _modules_frozen
    if len(sys.modules) != _modules_frozen:
        gc.collect()
        gc.freeze()
        _modules_frozen = len(sys.modules)
