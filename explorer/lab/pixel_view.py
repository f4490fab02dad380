"""The lab's fourth tab: one pixel's Gaussian, floored and discretized log-likelihoods against sigma."""
from __future__ import annotations

import altair as alt
import numpy as np
import pandas as pd
import streamlit as st

from explorer.charts import show_panel
from vae_core.lab import pixel_bounds


def draw() -> None:
    """One pixel's Gaussian, floored and discretized log-likelihoods against sigma."""
    st.markdown(
        "One perfectly reconstructed pixel (decoder mean = pixel value). As the decoder's sigma shrinks, the "
        "Gaussian log **density** grows without bound: this is what a learned per-pixel variance exploits. "
        "A floor sigma >= sigma_min caps it at -1/2 log(2 pi sigma_min^2). The **discretized** Gaussian, the "
        "probability of the pixel's 8-bit bin, can never exceed 0 (probability 1).")
    c1, c2, c3 = st.columns(3)
    k_pix = c1.slider("pixel value (0..255)", 0, 255, 128, key="lab_px_value")
    sigma_min = c2.select_slider("sigma floor sigma_min", [1e-3, 3e-3, 1e-2, 3e-2, 0.1], value=1e-2,
                                 key="lab_px_floor")
    err = c3.slider("reconstruction error (grey levels)", 0.0, 10.0, 0.0, step=0.5, key="lab_px_err")
    sig = np.logspace(0.0, -8.0, 161)
    cv = pixel_bounds.pixel_curves(int(k_pix), sig, float(sigma_min), float(err) / 255.0)
    names = {"gaussian": "Gaussian log density", "floored": f"floored at sigma_min = {sigma_min:g}",
             "discretized": "discretized Gaussian log P(bin)", "density_x_bin": "log(density x 1/255)"}
    df = pd.concat([pd.DataFrame({"sigma": sig, "nats": cv[key], "curve": name})
                    for key, name in names.items()])
    colours = alt.Scale(domain=list(names.values()), range=["#1f77b4", "#d62728", "#2ca02c", "#aaaaaa"])
    chart = alt.Chart(df).mark_line().encode(
        x=alt.X("sigma:Q", scale=alt.Scale(type="log", reverse=True), title="decoder sigma (shrinking ->)",
                axis=alt.Axis(grid=False, format=".0e")),
        y=alt.Y("nats:Q", title="log-likelihood of the pixel (nats)"),
        color=alt.Color("curve:N", scale=colours))
    rules = alt.Chart(pd.DataFrame({"y": [0.0, pixel_bounds.ceiling(float(sigma_min))],
                                    "line": ["0 = log 1", "ceiling of the floor"]})).mark_rule(
        strokeDash=[4, 4]).encode(y=alt.Y("y:Q"), color=alt.value("gray"))
    show_panel(chart + rules)
    m1, m2, m3 = st.columns(3)
    m1.metric("Gaussian at sigma = 1e-8", f"{cv['gaussian'][-1]:.2f} nats")
    m2.metric("ceiling with the floor", f"{pixel_bounds.ceiling(float(sigma_min)):.2f} nats")
    m3.metric("discretized at sigma = 1e-8", f"{cv['discretized'][-1] + 0.0:.3g} nats")
    st.caption("With an error e > 0 the density peaks at sigma = e and then falls: only a perfect "
               "reconstruction can ride sigma to zero. The naive log(density x bin width) exceeds 0 once "
               "sigma < 1/(255 sqrt(2 pi)): a density is not a probability.")

