"""The Overview page's sections (app_pages/overview.py): a warning on damaged checkpoints, the leaderboard of each
dataset, likelihood against sample quality, and links that open a model on another page. The numbers come from
each checkpoint's eval.json through explorer.tables."""
from __future__ import annotations

import pandas as pd
import streamlit as st

from explorer import charts, context, pages, tables
from explorer.context import Context
from vae_core.schema import STAGING_DIR
from vae_core.zoo import staging_notes

MODEL_PAGES = {"reconstruct": "Reconstruct", "sample": "Sample", "latent": "Latent", "sigma": "Sigma"}  # url -> label
LEADERBOARD_NOTE = (
    "Test-set numbers from each checkpoint's eval.json, in nats per image. log p(x) is the best estimate a "
    "model has: exact (quadrature over the plane) for 2-D latents, annealed importance sampling (AIS, a "
    "stochastic lower bound) otherwise, ± its standard error over the images named; where neither was "
    "computed yet, the IWAE or ELBO lower bound stands in and the estimate column says so. ELBO and IWAE "
    "are on the same images as log p(x), so best - IWAE is how far that bound fell short; the IWAE the "
    "leaderboard used to show (test set) is kept beside them. "
    "Bits/dim = -log2 p per pixel, from the best estimate only. **Bernoulli models see binarized pixels: "
    "their bits/dim count bits per binary pixel and cannot be compared with the 8-bit models.** Frechet "
    "distances are measured in a small classifier's feature space (lower is closer to the test set).")


def damage_warning(ctx: Context) -> None:
    """One warning counting the unreadable folders and damaged files (the sidebar lists them)."""
    damaged = sum(len(c.notes) for c in ctx.checkpoints)
    if ctx.problems or damaged:
        st.warning(f"{len(ctx.problems)} folder(s) in the zoo could not be read and {damaged} file(s) of the "
                   f"{len(ctx.checkpoints)} checkpoints below are damaged (both listed in the sidebar).",
                   icon=":material/warning:")
    unfinished = [c.name for c in ctx.checkpoints if staging_notes(c.path)]
    if unfinished:
        st.warning(f"A save that never finished (a `{STAGING_DIR}` folder) is in: {', '.join(unfinished)}. Each "
                   f"shows its last finished save.", icon=":material/pending:")


def leaderboards(ctx: Context, frame: pd.DataFrame) -> None:
    """A tab per dataset (the chosen one first): the ranked models, then the raw-pixel ones apart, unranked."""
    datasets = [ctx.dataset] + sorted({c.dataset for c in ctx.checkpoints} - {ctx.dataset})
    st.caption(LEADERBOARD_NOTE)
    for tab, dataset in zip(st.tabs(datasets), datasets, strict=True):
        with tab:
            rows = frame[frame["dataset"] == dataset] if not frame.empty else frame
            ranked = rows[rows["group"] != tables.RAW_GROUP] if not rows.empty else rows
            st.dataframe(ranked.drop(columns=["dataset", "group"]), hide_index=True, column_config=tables.COLUMNS,
                         width="stretch", key=f"board_{dataset}")
            short = tables.short_of_iwae(ranked)
            if short:
                st.warning(short, icon=":material/warning:")
            raw = tables.raw_sentence(rows)
            if raw:
                st.markdown("**Raw pixels, not ranked with the models above**")
                st.caption(f"These models see raw pixels (x / 255, no dequantization); {raw}")
                unranked = rows[rows["group"] == tables.RAW_GROUP].drop(
                    columns=["dataset", "group", "bits/dim", "bits/dim (IWAE bound)"])
                st.dataframe(unranked, hide_index=True, column_config=tables.COLUMNS, width="stretch",
                             key=f"raw_{dataset}")


def quality(ctx: Context, frame: pd.DataFrame) -> None:
    """Bits/dim against the Frechet distance of full samples or decoder means, for the chosen dataset."""
    which = st.segmented_control("Samples measured as", ["full samples", "decoder means"], default="full samples",
                                 key="fd_kind", help="Full samples x ~ p(x|z) include the decoder noise; decoder "
                                                      "means are E[x|z] (eval.json: frechet.samples / sample_means).")
    shown = frame[frame["dataset"] == ctx.dataset] if not frame.empty else frame
    points = tables.quality_points(shown, means=which == "decoder means")
    if points.empty:
        st.info("No bounded checkpoint of this dataset has both a likelihood and a Frechet distance in its "
                "eval.json yet.")
    else:
        st.vega_lite_chart(charts.quality(points), width="stretch")
        st.markdown(" ".join(tables.quality_sentences(points)))
    raw = tables.raw_sentence(shown)
    if raw:
        st.caption(f"Not in this chart: {raw}")


def model_links(ctx: Context) -> None:
    """Per checkpoint of the chosen dataset, links that open each model page with just that model selected."""
    st.caption("Each link opens a page with just that model selected (you can add others in the sidebar).")
    for ckpt in ctx.for_dataset():
        cols = st.columns([3, 1, 1, 1, 1])
        cols[0].markdown(f"`{ckpt.name}` · {ckpt.decoder}")
        params = context.link_params(ckpt)
        for col, (url_path, label) in zip(cols[1:], MODEL_PAGES.items(), strict=True):
            col.page_link(pages.page(url_path).script, label=label, query_params=params)
