"""Latent space: posterior means in a plane, the prior's contours, decoding a chosen point, the true posterior
against q(z|x) for a 2-D model, one slider per latent dimension, and interpolation between two test images."""
from __future__ import annotations

import numpy as np
import streamlit as st

from explorer import cache, charts, context, links, posterior, render
from vae_core import latent
from vae_core.data import dataset_info
from vae_core.images import log_scale

ctx = context.get()
st.title("Latent space")
models = context.require_models(ctx)
by_name = {c.name: c for c in models}
links.choice("latent_model", list(by_name))
name = st.selectbox("Model", list(by_name), key="latent_model", bind="query-params")
ckpt = by_name.get(name, models[0])
[(ckpt, model)] = context.load_models(ctx, [ckpt])
key = ctx.key(ckpt)
dim = ckpt.config.latent_dim
images, labels = cache.sample_set(ctx.dataset)
classes = dataset_info(ctx.dataset).classes
posterior.check_links(len(images))
means = cache.encode_means(model, key, ctx.dataset, ctx.seed)  # (N, L)
proj, xy = cache.plane(model, key, ctx.dataset, ctx.seed)
ax, ay = proj.axis_names
st.markdown(render.title(ckpt))


def set_z(z: np.ndarray, origin: str) -> None:
    """Make z the decoded point and move the sliders to it (only before the sliders are drawn)."""
    st.session_state["lat_z"] = np.asarray(z, np.float64)
    st.session_state["lat_origin"] = origin
    for j in range(dim):
        st.session_state[f"zd{j}"] = float(np.clip(z[j], -4.0, 4.0))


def _from_sliders() -> None:
    st.session_state["lat_z"] = np.array([st.session_state[f"zd{j}"] for j in range(dim)])
    st.session_state["lat_origin"] = "the sliders"


def _from_typed_point() -> None:
    set_z(latent.lift(proj, [st.session_state["plane_x"], st.session_state["plane_y"]]),
          f"the typed point ({st.session_state['plane_x']:.2f}, {st.session_state['plane_y']:.2f})")


start = int(st.session_state.get("idx", 0)) % len(images)
if st.session_state.get("lat_for") != key or len(st.session_state.get("lat_z", [])) != dim:
    st.session_state["lat_for"] = key
    st.session_state.pop("lat_pick", None)
    set_z(means[start], f"test image #{start}")

top, posterior_box, sliders_box, interp_box = st.container(), st.container(), st.container(), st.container()

with interp_box:  # read first: the path is drawn on the chart
    st.subheader("Interpolation")
    other = int(np.flatnonzero(labels != labels[start])[0])
    c1, c2, c3, c4 = st.columns(4)
    a = c1.number_input("From test image #", 0, len(images) - 1, start, key="interp_a")
    b = c2.number_input("To test image #", 0, len(images) - 1, other, key="interp_b")
    steps = c3.slider("Steps", 3, 16, 10, key="interp_steps")
    method = c4.radio("Path", ["linear", "slerp"], horizontal=True, key="interp_method",
                      help="slerp follows a great circle, keeping |z| typical of the prior (White 2016)")
    path_z = latent.interpolate(means[a], means[b], steps, method)
    path_xy = latent.project(proj, path_z)

with top:
    left, right = st.columns([3, 2])
    current = tuple(latent.project(proj, st.session_state["lat_z"][None])[0].round(6))
    with left:
        spec = charts.latent_plane(xy, labels, latent.prior_contours(proj), (key, ctx.dataset, ctx.seed), (ax, ay),
                                   tuple(classes), tuple(map(tuple, path_xy.round(6))), current)
        event = st.vega_lite_chart(spec, on_select="rerun", selection_mode="pick", key="latent_chart",
                                   width="stretch")
        if proj.exact:
            st.caption("The exact latent plane. Dashed circles: the prior N(0, I) at 1, 2 and 3 standard deviations. "
                       "Click a point to decode it; the red cross is the decoded z, the black line the interpolation.")
        else:
            st.caption(f"A {dim}-D latent projected on the top two principal axes of the posterior means "
                       f"({proj.explained[0]:.0%} and {proj.explained[1]:.0%} of their variance). The prior N(0, I) "
                       f"projected on any such plane is again a standard normal, so the dashed circles are its 1, 2 "
                       f"and 3 sd contours in the plane; they say nothing about the other {dim - 2} directions. "
                       f"Click a point to decode that image's full posterior mean.")
    picked = (event.selection.get("pick") or []) if event else []
    if picked and "index" in picked[0] and picked[0]["index"] != st.session_state.get("lat_pick"):
        i = int(picked[0]["index"])
        st.session_state["lat_pick"] = i
        set_z(means[i], f"test image #{i} ({classes[labels[i]]})")
        if proj.exact:
            posterior.pick(i)
    with right:
        st.markdown("**Or type a point of the plane**")
        c1, c2, c3 = st.columns([1, 1, 1], vertical_alignment="bottom")
        here = latent.project(proj, st.session_state["lat_z"][None])[0]
        c1.number_input(ax, value=round(float(here[0]), 2), step=0.1, format="%.2f", key="plane_x")
        c2.number_input(ay, value=round(float(here[1]), 2), step=0.1, format="%.2f", key="plane_y")
        c3.button("Decode", on_click=_from_typed_point, icon=":material/center_focus_strong:")
        z = st.session_state["lat_z"]
        out = cache.decode(model, key, z[None], ctx.seed)
        st.markdown(f"**Decoded z** from {st.session_state['lat_origin']}")
        d1, d2, d3 = st.columns(3)
        d1.image(render.picture(out["mean"][0]), caption="decoder mean")
        d2.image(render.picture(out["sample"][0]), caption="one sample")
        if out["sigma"] is None:
            render.not_applicable(d3, render.no_sigma_text(ckpt))
        else:
            s = out["sigma"][0]
            scale = log_scale([s])
            d3.image(render.colored(s, scale), caption=f"sigma: {s.min():.1e} to {s.max():.2f}")
            render.show_colorbar(d3, scale, "sigma")
        st.caption(f"|z| = {np.linalg.norm(z):.2f} (a prior draw has |z| near {np.sqrt(dim):.1f})")
        if proj.exact:
            plane = cache.decode(model, key, latent.plane_grid(3.0, 12), ctx.seed)["mean"]
            st.image(render.grid(plane, ncols=12, scale=1), width=420,
                     caption="The decoded plane: decoder means on a grid over [-3, 3]² (z2 up)")

with posterior_box:
    posterior.show(ckpt, model, key, ctx.dataset, ctx.seed, images, labels, classes)

with sliders_box:
    st.subheader(f"One slider per latent dimension ({dim})")
    cols = st.columns(min(dim, 8))
    for j in range(dim):
        cols[j % len(cols)].slider(f"z{j + 1}", -4.0, 4.0, step=0.05, key=f"zd{j}", on_change=_from_sliders)

with interp_box:
    out = cache.decode(model, key, path_z, ctx.seed)
    c1, c2 = st.columns([1, 8])
    c1.image(render.picture(images[a], 3), caption=f"#{a}: {classes[labels[a]]}")
    c1.image(render.picture(images[b], 3), caption=f"#{b}: {classes[labels[b]]}")
    c2.image(render.grid(out["mean"], ncols=steps, scale=3), caption="decoder means along the path", width="stretch")
    c2.image(render.grid(out["sample"], ncols=steps, scale=3), width="stretch",
             caption="full samples along the path")
