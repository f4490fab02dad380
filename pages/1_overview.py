"""Overview: the leaderboard of each dataset and likelihood against sample quality."""
from __future__ import annotations

import streamlit as st

from explorer import charts, context, tables

ctx = context.get()
st.title("VAE Decoder Zoo")
st.markdown("One VAE per decoder likelihood p(x|z), trained by maximum likelihood (the ELBO). A per-pixel "
            "Gaussian whose sigma is learned drives sigma towards zero: its likelihood soars while its samples "
            "get worse. The pages on the left show why, model by model.")
context.require_models(ctx, at_least=0)
damaged = sum(len(c.notes) for c in ctx.checkpoints)
if ctx.problems or damaged:
    st.warning(f"{len(ctx.problems)} folder(s) in the zoo could not be read and {damaged} file(s) of the "
               f"{len(ctx.checkpoints)} checkpoints below are damaged (both listed in the sidebar).",
               icon=":material/warning:")

frame = tables.leaderboard(ctx.checkpoints)
datasets = [ctx.dataset] + sorted({c.dataset for c in ctx.checkpoints} - {ctx.dataset})
st.header("Leaderboard")
st.caption("Test-set numbers from each checkpoint's eval.json. Log-likelihood is the importance-weighted bound "
           "(IWAE) where it was computed, else the ELBO, in nats per image; bits/dim = -log2 p per pixel. "
           "**Bernoulli models see binarized pixels: their bits/dim count bits per binary pixel and cannot be "
           "compared with the 8-bit models.** Frechet distances are measured in a small classifier's feature "
           "space (lower is closer to the test set).")
for tab, dataset in zip(st.tabs(datasets), datasets, strict=True):
    with tab:
        rows = frame[frame["dataset"] == dataset]
        st.dataframe(rows.drop(columns=["dataset", "group"]), hide_index=True, column_config=tables.COLUMNS,
                     width="stretch")

st.header("Likelihood against sample quality")
which = st.segmented_control("Samples measured as", ["full samples", "decoder means"], default="full samples",
                             key="fd_kind", help="Full samples x ~ p(x|z) include the decoder noise; decoder "
                                                  "means are E[x|z] (eval.json: frechet.samples / sample_means).")
points = tables.quality_points(frame[frame["dataset"] == ctx.dataset], means=which == "decoder means")
if points.empty:
    st.info("No checkpoint of this dataset has both a likelihood and a Frechet distance in its eval.json yet.")
else:
    st.vega_lite_chart(charts.quality(points), width="stretch")
    st.markdown(" ".join(tables.quality_sentences(points)))

st.header("Open a model")
st.caption("Each link opens a page with just that model selected (you can add others in the sidebar).")
for ckpt in ctx.for_dataset():
    cols = st.columns([3, 1, 1, 1, 1])
    cols[0].markdown(f"`{ckpt.name}` · {ckpt.decoder}")
    params = context.link_params(ckpt)
    for col, (page, label) in zip(cols[1:], [("pages/2_reconstruct.py", "Reconstruct"), ("pages/3_sample.py", "Sample"),
                                             ("pages/4_latent.py", "Latent"), ("pages/5_sigma.py", "Sigma")],
                                  strict=True):
        col.page_link(page, label=label, query_params=params)
