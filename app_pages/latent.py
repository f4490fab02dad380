"""Latent space: posterior means in a plane, the prior's contours, decoding a chosen point, the true posterior
against q(z|x) for a 2-D model, one slider per latent dimension, and interpolation between two test images."""
from __future__ import annotations

import streamlit as st

from explorer import context, posterior, render
from explorer.views import latent_space

ctx = context.get()
st.title("Latent space")
models = context.require_models(ctx)
space = latent_space.open_space(ctx, models)
st.markdown(render.title(space.ckpt))
top, posterior_box, sliders_box, interp_box = st.container(), st.container(), st.container(), st.container()

with interp_box:  # read first: the path is drawn on the chart
    path = latent_space.interpolation_controls(space)
with top:
    left, right = st.columns([3, 2])
    with left:
        latent_space.plane(space, path)
    with right:
        latent_space.decoded_point(space)
with posterior_box:
    posterior.show(space.ckpt, space.model, space.key, space.dataset, space.seed, space.images, space.labels,
                   space.classes)
with sliders_box:
    latent_space.sliders(space)
with interp_box:
    latent_space.interpolation_strip(space, path)
