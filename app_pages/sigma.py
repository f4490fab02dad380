"""Decoder sigma: how it moves during training, where it ends up on test pixels, and what that does to samples."""
from __future__ import annotations

import streamlit as st

from explorer import context
from explorer.views import sigma

ctx = context.get()
st.title("Decoder sigma")
st.caption("A learned per-pixel sigma(z) can shrink without bound: each halving adds log 2 nats per pixel to the "
           "likelihood of a pixel it reconstructs well. Follow it here through training, over the test pixels, and "
           "in samples from the snapshots saved along the way.")
selected = context.require_models(ctx)
every = st.toggle("All models of this dataset, not just the selection", key="sigma_all")
models = ctx.for_dataset() if every else selected

st.header("Training curves")
sigma.training_curves(models)
st.header("Raw pixels against dequantized")
sigma.raw_against_dequantized(ctx, models)
st.header("Sigma over test pixels")
sigma.sigma_histogram(ctx, models)
st.header("Snapshots: samples as sigma collapses")
sigma.snapshots(ctx, models)
