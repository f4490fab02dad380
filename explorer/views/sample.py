"""The Sample page's sections (app_pages/sample.py): the controls, each model's draws from the prior (decoder mean
beside a full sample), and the presenter's gap view (reconstructions above samples)."""
from __future__ import annotations

import streamlit as st

from explorer import cache, context, links, render
from explorer.context import Context
from vae_core.zoo.checkpoints import Checkpoint

SIZES = [8, 16, 32, 64]  # images per model
VIEWS = ["Samples", "Gap view"]


def _new_seed(seed: int) -> None:
    st.session_state["seed"] = seed + 1


def controls(ctx: Context) -> tuple[float, int, str]:
    """Temperature (?temperature=), images per model (?n_samples=), a new seed, and the view (?view=)."""
    links.number("temperature", 0.0, 2.0)
    links.choice("n_samples", SIZES)
    links.choice("view", VIEWS)
    c1, c2, c3, c4 = st.columns([2, 1, 1, 2], vertical_alignment="bottom")
    temperature = c1.slider("Temperature T (scales z)", 0.0, 2.0, 1.0, 0.05, key="temperature", bind="query-params")
    n = c2.select_slider("Images per model", SIZES, value=16, key="n_samples", bind="query-params")
    c3.button("New samples", key="sample_new", on_click=_new_seed, args=(ctx.seed,), icon=":material/casino:",
              help="The next seed (sidebar)")
    view = c4.segmented_control("View", VIEWS, default="Samples", key="view", bind="query-params",
                                help="Gap view: a row of reconstructions above a row of samples, for every model.")
    return temperature, n, view or "Samples"


def prior_grids(ctx: Context, models: list[Checkpoint], temperature: float, n: int) -> None:
    """Per model: ``n`` decoder means E[x|z] beside ``n`` full samples x ~ p(x|z), z ~ N(0, T² I)."""
    for ckpt, model in context.load_models(ctx, models):
        out = cache.prior_samples(model, ctx.key(ckpt), n, temperature, ctx.seed)
        st.markdown(render.title(ckpt))
        left, right = st.columns(2)
        left.image(render.grid(out["mean"]), caption="decoder mean E[x|z]", width="stretch")
        note = render.sample_note(out["sample"])
        right.image(render.grid(out["sample"]), width="stretch",
                    caption="full sample x ~ p(x|z)" + (f" ({note})" if note else ""))


def gap_view(ctx: Context, models: list[Checkpoint], temperature: float, n: int) -> None:
    """Per model: a row of reconstructions of test images above a row of samples (full, or decoder means)."""
    images, _ = cache.sample_set(ctx.dataset)
    use_means = st.toggle("Show decoder means instead of full samples", key="gap_means")
    st.markdown("Each model: **top row** reconstructions of test images, **bottom row** samples from the prior. "
                "Maximum likelihood scores only the top row well for a collapsed decoder sigma.")
    for ckpt, model in context.load_models(ctx, models):
        key = ctx.key(ckpt)
        rec = cache.reconstruction(model, key, images[:n], ctx.seed)
        smp = cache.prior_samples(model, key, n, temperature, ctx.seed)
        kind = "mean" if use_means else "sample"
        st.markdown(render.title(ckpt))
        st.image(render.grid(rec["mean"], ncols=min(n, 16), scale=3), caption="reconstructions (decoder mean)",
                 width="stretch")
        st.image(render.grid(smp[kind], ncols=min(n, 16), scale=3), width="stretch",
                 caption=f"samples ({'decoder mean' if use_means else 'full samples x ~ p(x|z)'})")
