"""The lab's third tab: the one-datapoint ELBO over posterior sigma and decoder precision."""
from __future__ import annotations

import numpy as np
import streamlit as st

from explorer import charts
from vae_core.lab import one_point

from . import maths


def draw() -> None:
    """The one-datapoint ELBO over posterior sigma and decoder precision."""
    st.markdown(
        "The smallest VAE there is: one data point, a one-dimensional latent with prior N(0, 1), an encoder "
        "N(0, s^2) and a decoder of precision tau whose mean passes through the point with slope g. The ELBO "
        "is -lambda' s^2 + log s + D/2 log(tau / 2 pi) + 1/2 with lambda' = tau g^2 / 2 + 1/2, maximised at "
        "s* = (2 lambda')^(-1/2) (the ELBO is concave in s^2, so this is its only maximum). Its maximum over s is "
        "the exact "
        "log p(x). For one observed dimension that stays bounded as tau grows; with D >= 2 observed "
        "dimensions (any image), or a decoder that ignores z (g = 0), it grows without bound.")
    c1, c2, c3 = st.columns(3)
    d_obs = c1.select_slider("observed dimensions D", [1, 2, 10, 784], value=1, key="lab_pt_dim")
    gain = c2.slider("decoder slope g", 0.0, 2.0, 1.0, step=0.1, key="lab_pt_gain")
    log_tau = c3.slider("log10 precision tau", -2.0, 6.0, 1.0, step=0.25, key="lab_pt_tau")
    tau = 10.0**log_tau
    s_star = float(one_point.sigma_star(tau, gain))
    left, right = st.columns(2)
    with left:
        st.markdown("**ELBO over (s, tau)** minus its maximum over s (clipped at -10 nats); s*(tau) in white")
        grid = maths.one_point_grid(int(d_obs), float(gain))
        ts = np.linspace(-2.0, 6.0, 81)
        ridge = (np.log10(one_point.sigma_star(10.0**ts, gain)), ts)  # log10 s*(tau), log10 tau
        charts.show_panel(charts.elbo_map(grid, ridge, (np.log10(s_star), log_tau)))
    with right:
        st.markdown(f"**ELBO against s at tau = {tau:.3g}**, s* = {s_star:.4g} marked")
        log_s = np.linspace(-3.0, 1.0, 400)
        elbo = one_point.elbo(10.0**log_s, tau, int(d_obs), gain)
        best = (np.log10(s_star), float(one_point.elbo(s_star, tau, int(d_obs), gain)))
        charts.show_panel(charts.elbo_against_s(log_s, elbo, best))
    st.markdown("**max over s of the ELBO (= log p(x)) as the precision grows**")
    ts = np.linspace(-2.0, 12.0, 141)
    curves = {f"D = 1, g = {gain:g}": one_point.max_elbo(10.0**ts, 1, gain),
              f"D = {d_obs}, g = {gain:g}": one_point.max_elbo(10.0**ts, int(d_obs), gain),
              "D = 1, g = 0 (decoder ignores z)": one_point.max_elbo(10.0**ts, 1, 0.0)}
    charts.show_panel(charts.max_elbo_curves(ts, curves))
    limit = one_point.bounded_limit(1, gain)
    st.caption(f"D = 1 with g = {gain:g} levels off at {limit:.3f} (= -1/2 log 2 pi g^2); the other curves "
               "rise like (D - 1)/2 log tau or 1/2 log tau, without bound. The KL term bounds the posterior "
               "width, not the likelihood.")

