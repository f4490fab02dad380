"""Sample: draws from the prior through each decoder, and the presenter's gap view."""
from __future__ import annotations

import streamlit as st

from explorer import context, presenter
from explorer.views import sample

ctx = context.get()
presenter.switch()
st.title("Sample")
st.caption("z ~ N(0, T² I), then p(x|z). The decoder mean E[x|z] is a smooth average; a full sample adds the "
           "decoder's own noise (mean + sigma x noise for a Gaussian), which is what the likelihood describes.")
models = context.require_models(ctx)
temperature, n, view = sample.controls(ctx)
if view == "Samples":
    sample.prior_grids(ctx, models, temperature, n)
else:
    sample.gap_view(ctx, models, temperature, n)
