"""Reconstruct: one image through every chosen model, with the decoder's sigma and per-pixel log-likelihood; then
what each likelihood says of a drawing, a sigma-floor slider and where the nats come from."""
from __future__ import annotations

import streamlit as st

from explorer import canvas, context, instruments
from explorer.views import reconstruct

ctx = context.get()
st.title("Reconstruct")
st.caption("An image goes through q(z|x); each model decodes z = E[z|x] into p(x|z). How well a model "
           "reconstructs says little of how it generates: compare with the Sample page.")
selected = context.require_models(ctx)
source = reconstruct.image_source()
image, caption = reconstruct.image_input(ctx, source)

loaded = context.load_models(ctx, selected)
models = [c for c, _ in loaded]
outputs = reconstruct.reconstructions(ctx, loaded, image)
st.subheader(caption)
reconstruct.table(models, outputs)
st.caption(reconstruct.MAPS_NOTE)
if source == "Draw":
    canvas.draw_verdict(ctx, loaded, image)
instruments.draw_sigma_floor(ctx, loaded, image)
instruments.draw_nats_split(models, outputs, image)
