"""The Likelihood lab's views, one module per tab (app_pages/lab.py shows them as tabs), over the cached maths in
``maths`` and the exact computations of ``vae_core.lab``. Derivations: docs/lab.md."""
from __future__ import annotations

from collections.abc import Callable

from . import em_view, pixel_view, point_view, ppca_view

TABS: dict[str, Callable[[], None]] = {  # tab label (also its ?lab_tab= value) -> the function that draws it
    "EM and the singularity": em_view.draw,
    "Linear VAE = pPCA": ppca_view.draw,
    "One data point": point_view.draw,
    "One pixel": pixel_view.draw,
}
