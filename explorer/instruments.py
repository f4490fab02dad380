"""The Reconstruct page's instruments, drawn for the chosen models: a sigma-floor slider that re-scores the image
with sigma' = max(sigma, floor), and where the image's nats come from (stroke against background). The maths is in
``explorer.compute.instruments``; this module only shows it."""
from __future__ import annotations

import numpy as np
import pandas as pd
import streamlit as st

from explorer.compute.instruments import FLOORS, STROKE_LEVEL, FloorNotApplicable, nats_split, rescore
from vae_core.model.vae import VAE
from vae_core.zoo.checkpoints import Checkpoint

from . import cache, charts, render, tables
from .presenter import DESK_WIDTH_PX as STATIC_WIDTH_PX  # the main block beside the sidebar at 1280 px

FLOOR_KEY = "sigma_floor"  # session_state: the slider's floor


def change_text(change: float) -> str:
    """A change of log p(x|z) as the metric's delta: signed, or "no change" below the shown precision."""
    if not np.isfinite(change):
        return "change: n/a"
    return "no change" if abs(change) < 0.05 else f"{change:+,.1f}"


def floor_label(floor: float) -> str:
    return "none (as trained)" if floor == 0 else f"{floor:g}"


@st.cache_data(max_entries=cache.ARRAYS_KEPT, ttl=cache.ARRAYS_TTL, show_spinner=False)
def rescored(_model: VAE, key: cache.ModelKey, image: np.ndarray, seed: int) -> dict | str:
    """Every floor of the slider at once, so moving it is a cache hit; the reason as a sentence where the decoder
    has no sigma."""
    try:
        return rescore(_model, np.asarray(image)[None], FLOORS, seed)
    except FloorNotApplicable as e:
        return str(e)


def draw_sigma_floor(ctx, loaded: list[tuple[Checkpoint, VAE]], image: np.ndarray) -> None:
    """A floor slider and, per model, log p(x | z = E[z|x]) and the ELBO re-scored at that floor."""
    st.subheader("Sigma floor: the same decoders with sigma' = max(sigma, floor)")
    floor = st.select_slider("Sigma floor", options=FLOORS, value=0.0, key=FLOOR_KEY, format_func=floor_label,
                             help="Re-scores every Gaussian decoder with its sigma raised to at least the floor, "
                                  "without retraining. 0 leaves the decoder as trained.")
    at = FLOORS.index(floor)
    scored = [(ckpt, rescored(model, ctx.key(ckpt), image, ctx.seed)) for ckpt, model in loaded]
    cols = st.columns(max(len(scored), 1))
    for col, (ckpt, s) in zip(cols, scored, strict=True):
        col.markdown(f"**{ckpt.name}**")
        if isinstance(s, str):
            render.not_applicable(col, s)
            continue
        now, change = s["log_px"][at, 0], s["log_px"][at, 0] - s["log_px"][0, 0]
        still = not abs(change) >= 0.05  # also NaN: shown without an arrow
        col.metric("log p(x | z) at z = E[z|x], nats", render.fmt(now, ",.1f"),
                   delta=None if at == 0 else change_text(change), delta_color="off" if still else "normal",
                   delta_arrow="off" if still else "auto")
        col.caption(f"ELBO {render.fmt(s['elbo'][at, 0], ',.1f')} nats (a lower bound on log p(x) of the "
                    f"{'trained' if at == 0 else 'floored'} model); sigma below the floor on "
                    f"{s['below'][at, 0]:.0%} of the pixels; trained sigma: min {s['sigma_min'][0]:.2g}, "
                    f"median {s['sigma_median'][0]:.2g}")
    curves = [(ckpt.name, s) for ckpt, s in scored if not isinstance(s, str)]
    if curves:
        order = tuple(floor_label(f) for f in FLOORS)
        # drawn on the server: a fresh tab of this page then loads no Vega code (docs/bench_presenter.md, tenth pass)
        charts.show_static(charts.floor_curves(floor_frame(curves), order, floor_label(floor)), width=STATIC_WIDTH_PX)
    st.caption("Each decoder keeps its own likelihood; only its sigma is raised to the floor. A floor bounds a "
               "Gaussian's density per pixel by 1 / (floor sqrt(2 pi)), which takes away what a collapsed sigma "
               "earned on well-reconstructed pixels. It is not monotone for every image: where a pixel's residual "
               "|x - mu| is larger than its sigma, a floor up to that residual raises that pixel's density. The ELBO "
               "at a floor bounds the log-likelihood of the floored model, not of the trained one.")


def floor_frame(curves: list[tuple[str, dict]]) -> pd.DataFrame:
    rows = [{"model": name, "floor": floor_label(f), "order": i, "log p(x|z)": s["log_px"][i, 0],
             "ELBO": s["elbo"][i, 0]} for name, s in curves for i, f in enumerate(FLOORS)]
    frame = pd.DataFrame(rows)
    return frame[np.isfinite(frame["log p(x|z)"])]


def draw_nats_split(models: list[Checkpoint], outputs: list[dict], image: np.ndarray) -> None:
    """Per model: the per-pixel log p(x_ij | z) of the page's maps summed over stroke and background pixels."""
    st.subheader("Where the nats come from")
    image = np.asarray(image, np.uint8)
    splits = [nats_split(out["pixel_log_prob"][0], image) for out in outputs]
    stroke_n, background_n = splits[0].stroke_pixels, splits[0].background_pixels
    frame = pd.DataFrame({
        "model": [c.name for c in models],
        "stroke: nats": [s.stroke_nats for s in splits],
        "stroke: nats / pixel": [s.stroke_per_pixel for s in splits],
        "background: nats": [s.background_nats for s in splits],
        "background: nats / pixel": [s.background_per_pixel for s in splits],
        "total log p(x|z), nats": [s.total for s in splits],
    })
    number = st.column_config.NumberColumn(format="%.1f")
    st.html(tables.TABLE_CSS)  # an HTML table: a fresh tab loads no data grid code for it
    st.markdown(tables.html_table(frame, {c: number for c in frame.columns if c != "model"}), unsafe_allow_html=True)
    st.caption(f"Stroke: the {stroke_n} pixels whose 8-bit value is above {STROKE_LEVEL} (brighter than half) in "
               f"the image before binarization or dequantization; background: the other {background_n}, faint "
               "edges included. The sums are of each model's log p(x_ij | z) at z = E[z|x], the map above; "
               "nats per pixel are their means over the set (none for an empty set). Binarized models score "
               "their binarized pixels.")
