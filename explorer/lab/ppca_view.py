"""The lab's second tab: probabilistic PCA in closed form against a linear VAE trained on its ELBO."""
from __future__ import annotations

import numpy as np
import streamlit as st

from explorer import charts
from vae_core.lab import ppca

from . import maths


def draw() -> None:
    """Probabilistic PCA in closed form against a linear VAE trained on its ELBO."""
    st.markdown(
        "A VAE with a linear decoder N(Wz + mu, sigma^2 I) is probabilistic PCA, whose likelihood is exact "
        "(Tipping & Bishop 1999). With sigma^2 fixed, only the principal directions whose variance exceeds "
        "sigma^2 survive. A linear VAE trained by gradient ascent on its ELBO (Lucas et al. 2019, "
        "\"Don't Blame the ELBO\") reaches the same likelihood, and its extra latent dimensions collapse "
        "onto the prior exactly where the eigenvalues fall below sigma^2: posterior collapse, caused by the "
        "likelihood, not the ELBO.")
    c1, c2, c3, c4 = st.columns(4)
    dataset = c1.selectbox("data (embedded test sample)", ["mnist", "fashion-mnist"], key="lab_ppca_data")
    sigma2 = c2.select_slider("decoder variance sigma^2", [0.05, 0.1, 0.2, 0.3, 0.5, 0.7, 1.0, 1.5, 2.0, 3.0],
                              value=0.5, key="lab_ppca_sigma2")
    q = c3.select_slider("latent dimensions q", [4, 8, 16, 24, 32, 48], value=32, key="lab_ppca_q")
    iters = c4.select_slider("L-BFGS iterations", [50, 100, 200, 400, 800], value=400, key="lab_ppca_iters")
    spec = maths.spectrum(dataset)
    fit = maths.linear_vae(dataset, float(sigma2), int(q), int(iters))
    ml = ppca.ppca_log_lik_closed(spec, float(sigma2), int(q))
    survive = ppca.n_surviving(spec.eigvals, float(sigma2), int(q))
    active = ppca.active_dims(fit.kl_per_dim)

    m1, m2, m3, m4 = st.columns(4)
    m1.metric("exact max log-likelihood (nats / image)", f"{ml:.3f}")
    m2.metric("linear VAE's ELBO", f"{fit.elbo[-1]:.3f}", f"{fit.elbo[-1] - ml:+.2e}", delta_color="off")
    m3.metric("eigenvalues above sigma^2 (of q)", f"{survive}")
    m4.metric("VAE's active latents (KL > 0.01 nats)", f"{active}")
    lam_q = spec.eigvals[:q]
    near = int(np.sum((lam_q > sigma2 * np.exp(-0.02)) & (lam_q < sigma2 * np.exp(0.02))))
    if near:
        st.caption(f"{near} eigenvalue(s) lie within 2% of sigma^2: their latent's KL is near the 0.01-nat "
                   "threshold and converges slowly, so the two counts may differ by that much.")

    left, right = st.columns(2)
    with left:
        st.markdown("**The sample covariance's eigenvalues** (sigma^2 dashed)")
        charts.show_panel(charts.eigenvalues(spec.eigvals, int(q), sigma2))
    with right:
        st.markdown("**Training: distance to the exact maximum (nats / image, log scale)**")
        charts.show_panel(charts.gaps_to_maximum(fit.steps, {"max log p - ELBO": ml - fit.elbo,
                                                             "max log p - log p(X; W_t)": ml - fit.log_lik}))
    left, right = st.columns(2)
    with left:
        st.markdown("**Per latent: the VAE's KL to the prior against theory** 1/2 log(lambda_j / sigma^2)+")
        theory = 0.5 * np.log(np.maximum(spec.eigvals[:q] / sigma2, 1.0))
        charts.show_panel(charts.kl_per_latent({"linear VAE (trained)": np.sort(fit.kl_per_dim)[::-1],
                                                "pPCA optimum (closed form)": theory}))
    with right:
        st.markdown("**The mean image and the first surviving directions** (columns of the ML W)")
        tiles = [spec.mean.reshape(28, 28)]
        for j in range(min(7, survive)):
            u = spec.eigvecs[:, j].reshape(28, 28)
            tiles.append(0.5 + 0.5 * u / np.abs(u).max())  # grey = 0
        st.image([np.clip(t, 0.0, 1.0) for t in tiles], width=72)
        st.caption(f"ML noise variance if sigma^2 were learned too (q = {q}): "
                   f"{ppca.ppca_sigma2_ml(spec.eigvals, int(q)):.4f}. The VAE is trained in the top-q "
                   "principal coordinates; the other 784 - q directions add the same constant to the ELBO "
                   "and to log p (exact: the optimum lives in that subspace; see docs/lab.md).")

