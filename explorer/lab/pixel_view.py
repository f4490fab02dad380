"""The lab's fourth tab: one pixel's Gaussian, floored and discretized log-likelihoods against sigma."""
from __future__ import annotations

import numpy as np
import streamlit as st

from explorer import charts
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
    curves = {"Gaussian log density": cv["gaussian"], f"floored at sigma_min = {sigma_min:g}": cv["floored"],
              "discretized Gaussian log P(bin)": cv["discretized"], "log(density x 1/255)": cv["density_x_bin"]}
    ceiling = pixel_bounds.ceiling(float(sigma_min))
    charts.show_panel(charts.pixel_curves(sig, curves, ceiling))
    m1, m2, m3 = st.columns(3)
    m1.metric("Gaussian at sigma = 1e-8", f"{cv['gaussian'][-1]:.2f} nats")
    m2.metric("ceiling with the floor", f"{ceiling:.2f} nats")
    m3.metric("discretized at sigma = 1e-8", f"{cv['discretized'][-1] + 0.0:.3g} nats")
    st.caption("With an error e > 0 the density peaks at sigma = e and then falls: only a perfect "
               "reconstruction can ride sigma to zero. The naive log(density x bin width) exceeds 0 once "
               "sigma < 1/(255 sqrt(2 pi)): a density is not a probability.")

