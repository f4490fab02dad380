"""The Overview page's sections (app_pages/overview.py): a warning on damaged checkpoints, the leaderboard of each
dataset, likelihood against sample quality, and links that open a model on another page. The numbers come from
each checkpoint's eval.json through explorer.tables."""
from __future__ import annotations

import pandas as pd
import streamlit as st

from explorer import charts, claims, context, pages, tables
from explorer.context import Context
from vae_core.files.names import STAGING_DIR
from vae_core.zoo.checkpoints import staging_notes

MODEL_PAGES = {"reconstruct": "Reconstruct", "sample": "Sample", "latent": "Latent", "sigma": "Sigma"}  # url -> label
INTRO = ("One VAE per decoder likelihood p(x|z), each trained by maximising the ELBO. Does a higher likelihood "
         "mean better samples? Each point is one model of this zoo; under the chart, what its numbers say.")
LEADERBOARD_NOTE = (
    "Test-set numbers of each checkpoint, in nats per image. log p(x) is the best estimate a model has: exact "
    "(quadrature over the plane) for 2-D latents, annealed importance sampling (AIS, a stochastic lower bound) "
    "otherwise, ± its standard error over the images named; where neither was computed yet, the IWAE lower bound "
    "stands in and the estimate column says so. Bits/dim = -log2 p per pixel, from the best estimate only. "
    "FD: Frechet distance in a small classifier's feature space, of full samples x ~ p(x|z) and of decoder means "
    "E[x|z] (lower is closer to the test set). The bounds beside the estimate, KL, MSE, sigma and the other "
    "Frechet distances are under \"All columns\".")
MAIN_COLUMNS = ["model", "latent", "log-lik", "± se", "estimate", "images", "bits/dim", "FD samples",
                "FD sample means"]  # the leaderboard within 1280 px; the rest under "All columns"
MODEL_NAME_WIDTH = 420  # px: the longest name and its decoder on one line, the four links beside it
QUALITY_HEIGHT, QUALITY_WIDTH = 260, 470  # px: the 8-bit panel (the binarized one is half as wide) fits 1280x720
TABLES = (  # (heading, the groups it holds): binarized models never share a table with 8-bit ones
    ("8-bit pixels", (tables.GROUPS["continuous"], tables.GROUPS["discrete"])),
    (f"Binarized pixels ({tables.BINARY_NOTE})", (tables.GROUPS["binary"],)),
)


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


DATASET_TAB = "leaderboard_dataset"  # the key of the leaderboard's dataset tabs (the open tab's label)
ALL_COLUMNS = "all_columns_{}"       # the key of a dataset's "All columns" expander (open or not)


def leaderboards(ctx: Context, frame: pd.DataFrame) -> None:
    """A tab per dataset (the chosen one first): 8-bit and binarized models ranked in tables of their own, then the
    raw-pixel ones apart, unranked; every column of all of them under "All columns", in a data grid that sorts.
    The ranked tables are HTML (``tables.html_table``): the first data grid a page shows costs a fresh tab 1.3x a
    one-line app. Only the open tab and an open "All columns" run and are sent: a closed one is drawn all the same."""
    datasets = [ctx.dataset] + sorted({c.dataset for c in ctx.checkpoints} - {ctx.dataset})
    st.caption(LEADERBOARD_NOTE)
    st.html(tables.TABLE_CSS)
    for tab, dataset in zip(st.tabs(datasets, key=DATASET_TAB, on_change="rerun"), datasets, strict=True):
        if not tab.open:
            continue
        with tab:
            rows = frame[frame["dataset"] == dataset] if not frame.empty else frame
            for heading, groups in TABLES:
                ranked = rows[rows["group"].isin(groups)] if not rows.empty else rows
                if ranked.empty:
                    continue
                st.markdown(f"**{heading}**")
                st.markdown(tables.html_table(*tables.shown(ranked[MAIN_COLUMNS], dataset)), unsafe_allow_html=True)
            short = tables.not_best_sentence(rows[rows["group"] != tables.RAW_GROUP] if not rows.empty else rows)
            if short:
                st.warning(short, icon=":material/warning:")
            raw = tables.raw_sentence(rows)
            if raw:
                st.markdown("**Raw pixels, not ranked with the models above**")
                st.caption(f"These models see raw pixels (x / 255, no dequantization); {raw}")
                st.markdown(tables.html_table(*tables.shown(rows[rows["group"] == tables.RAW_GROUP][
                    [c for c in MAIN_COLUMNS if c != "bits/dim"]], dataset)), unsafe_allow_html=True)
            every = st.expander("All columns", key=ALL_COLUMNS.format(dataset), on_change="rerun")
            if every.open:
                with every:
                    table, config = tables.shown(rows.drop(columns=["dataset"]))
                    st.dataframe(table, hide_index=True, column_config=config, width="stretch",
                                 key=f"all_{dataset}")


def quality_points(frame: pd.DataFrame, dataset: str | None, means: bool) -> pd.DataFrame:
    """The chart's points: the dataset's bounded models with a likelihood and a Frechet distance."""
    return tables.quality_points(frame[frame["dataset"] == dataset] if not frame.empty else frame, means=means)


def quality_chart(points: pd.DataFrame) -> dict:
    return charts.quality(points, height=QUALITY_HEIGHT, width=QUALITY_WIDTH)


def quality(ctx: Context, frame: pd.DataFrame) -> None:
    """Bits/dim against the Frechet distance of full samples or decoder means, for the chosen dataset; what the
    chart shows in computed sentences, and the collapsed and calibrated pair of the story."""
    which = st.segmented_control("Samples measured as", ["full samples", "decoder means"], default="full samples",
                                 key="fd_kind", help="Full samples x ~ p(x|z) include the decoder noise; decoder "
                                                      "means are E[x|z].")
    shown = frame[frame["dataset"] == ctx.dataset] if not frame.empty else frame
    points = quality_points(frame, ctx.dataset, means=which == "decoder means")
    if points.empty:
        st.info("No bounded checkpoint of this dataset has both a likelihood and a Frechet distance yet.")
    else:
        charts.show_static(quality_chart(points), kept=True)  # drawn on the server, kept on disk: the first page
        st.markdown(" ".join(tables.quality_sentences(points, which)))
    by_name = {c.name: c for c in ctx.checkpoints}
    pair = [by_name.get(f"{ctx.dataset}-{s}") for s in claims.GAP_PAIR]  # the story's pair (story.SEED_PAIR)
    if None not in pair:
        rows = tables.leaderboard(pair)
        st.markdown(claims.pair_sentence(rows.iloc[0], rows.iloc[1]))
    raw = tables.raw_sentence(shown)
    if raw:
        st.caption(f"Not in this chart: {raw}")


def model_links(ctx: Context) -> None:
    """Per checkpoint of the chosen dataset, links that open each model page with just that model selected: a row
    of one horizontal container (not five columns), which a fresh tab draws with half the elements."""
    st.caption("Each link opens a page with just that model selected (you can add others in the sidebar).")
    for ckpt in ctx.for_dataset():
        with st.container(horizontal=True, vertical_alignment="center", gap="medium"):
            st.markdown(f"`{ckpt.name}` · {ckpt.decoder}", width=MODEL_NAME_WIDTH)
            params = context.link_params(ckpt)
            for url_path, label in MODEL_PAGES.items():
                st.page_link(pages.page(url_path).script, label=label, query_params=params, width="content")
