"""A frame like app.py around the Reconstruct page's drawing input and instruments, for their tests (AppTest and
Chromium): the shared sidebar builds the context, then the same calls the page makes. ``?image=sample`` takes the
embedded test sample's first image instead of the canvas."""
from __future__ import annotations

import numpy as np
import streamlit as st

from explorer import cache, canvas, context, instruments

st.set_page_config(page_title="VAE Decoder Zoo", layout="wide")
context.sidebar()
try:
    ctx = context.get()
    models = context.require_models(ctx)
    if st.query_params.get("image") == "sample":
        image = cache.sample_set(ctx.dataset)[0][0]
    else:
        image, caption = canvas.draw_input()
        st.subheader(caption)
    loaded = context.load_models(ctx, models)
    models = [c for c, _ in loaded]
    outputs = [cache.reconstruction(model, ctx.key(c), np.asarray(image)[None], ctx.seed) for c, model in loaded]
    canvas.draw_verdict(ctx, loaded, image)
    instruments.draw_sigma_floor(ctx, loaded, image)
    instruments.draw_nats_split(models, outputs, image)
finally:
    context.forget()
