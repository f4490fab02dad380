"""Decoder sigma: how it moves during training, where it ends up on test pixels, and what that does to samples."""
from __future__ import annotations

import streamlit as st

from explorer import context, links
from explorer.views import sigma

ctx = context.get()
st.title("Decoder sigma")
st.caption("A learned per-pixel sigma(z) can shrink without bound: each halving adds log 2 nats per pixel to the "
           "likelihood of a pixel it reconstructs well. Follow it here through training, over the test pixels, and "
           "in samples from the snapshots saved along the way.")
selected = context.require_models(ctx)
every = st.toggle("All models of this dataset, not just the selection", key="sigma_all")
models = ctx.for_dataset() if every else selected

# One tab per section, bound to the URL (?sigma_section=...) so a section can be linked to, and tracked, so only the
# open tab's charts and pictures are built and sent: a fresh tab draws one section, not four.
links.choice(sigma.SECTION_KEY, list(sigma.SECTIONS))
for tab, draw in zip(st.tabs(list(sigma.SECTIONS), key=sigma.SECTION_KEY, bind="query-params"),
                     sigma.SECTIONS.values(), strict=True):
    if tab.open:
        with tab:
            draw(ctx, models)
