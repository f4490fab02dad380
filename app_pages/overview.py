"""Overview: the leaderboard of each dataset, likelihood against sample quality, and links to each model."""
from __future__ import annotations

import streamlit as st

from explorer import context, tables
from explorer.views import overview

ctx = context.get()
st.title("VAE Decoder Zoo")
st.markdown("One VAE per decoder likelihood p(x|z), trained by maximum likelihood (the ELBO). A per-pixel "
            "Gaussian whose sigma is learned drives sigma towards zero: its likelihood soars while its samples "
            "get worse. The pages on the left show why, model by model.")
context.require_models(ctx, at_least=0)
overview.damage_warning(ctx)
frame = tables.leaderboard(ctx.checkpoints)

st.header("Leaderboard")
overview.leaderboards(ctx, frame)
st.header("Likelihood against sample quality")
overview.quality(ctx, frame)
st.header("Open a model")
overview.model_links(ctx)
