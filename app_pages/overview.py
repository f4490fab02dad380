"""Overview: likelihood against sample quality first, then the leaderboard of each dataset, and links to each model."""
from __future__ import annotations

import streamlit as st

from explorer import context, tables
from explorer.views import overview

ctx = context.get()
st.title("VAE Decoder Zoo")
st.markdown(overview.INTRO)
context.require_models(ctx, at_least=0)
overview.damage_warning(ctx)
frame = tables.leaderboard(ctx.checkpoints)

overview.quality(ctx, frame)  # the picture first: likelihood against sample quality
st.header("Leaderboard")
overview.leaderboards(ctx, frame)
st.header("Open a model")
overview.model_links(ctx)
