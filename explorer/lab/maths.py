"""The lab's maths, cached per input: each tab reruns on every slider move and finds its numbers here. Plain calls
into vae_core.lab; nothing is drawn."""
from __future__ import annotations

import numpy as np
import pandas as pd
import streamlit as st

from vae_core.base.data import load_sample
from vae_core.lab import gmm, one_point, ppca

SING_SIGMAS = np.logspace(0.0, -150.0, 61)  # the collapsing path, 2.5 decades a step
EM_TOL = 1e-7  # "converged": the mean log-likelihood per point moved less than this in one step


@st.cache_data(max_entries=32, show_spinner=False)
def gmm_data(n_true: int, n_points: int, dim: int, seed: int) -> np.ndarray:
    return gmm.make_data(n_true, n_points, dim, seed)[0]


@st.cache_data(max_entries=32, show_spinner=False)
def em_fit(n_true: int, n_points: int, dim: int, seed: int, k_fit: int) -> gmm.EMRun:
    x = gmm_data(n_true, n_points, dim, seed)
    return gmm.run_em(x, gmm.init_params(x, k_fit, seed), max_iter=1000, tol=EM_TOL)


@st.cache_data(max_entries=32, show_spinner=False)
def singularity(n_true: int, n_points: int, dim: int, seed: int, k_fit: int,
                 k: int) -> tuple[int, np.ndarray, np.ndarray, list[gmm.GMMParams]]:
    """From EM's fit, component k pinned on the point nearest its mean: (point, sigmas, path, fits)."""
    x = gmm_data(n_true, n_points, dim, seed)
    params = em_fit(n_true, n_points, dim, seed, k_fit).params[-1]
    i = int(np.argmin(np.linalg.norm(x - params.means[k], axis=1)))
    lls, fits = gmm.singularity_profile(x, params, k, i, SING_SIGMAS, max_iter=100, tol=1e-8)
    return i, SING_SIGMAS[: len(lls)], lls, fits


@st.cache_data(max_entries=2, show_spinner=False)
def spectrum(dataset: str) -> ppca.Spectrum:
    images, _ = load_sample(dataset)  # (N, 28, 28) uint8
    return ppca.spectrum(images.reshape(len(images), -1).astype(np.float64) / 255.0)  # on (N, 784) in [0, 1]


@st.cache_data(max_entries=64, show_spinner=False)
def linear_vae(dataset: str, sigma2: float, n_latent: int, iters: int) -> ppca.LinearVAEFit:
    return ppca.train_linear_vae(spectrum(dataset), sigma2, n_latent, max_iter=iters, seed=0)


@st.cache_data(max_entries=32, show_spinner=False)
def one_point_grid(dim: int, gain: float) -> pd.DataFrame:
    log_s = np.linspace(-3.0, 1.0, 61)
    log_tau = np.linspace(-2.0, 6.0, 61)
    z = one_point.elbo_grid(log_s, log_tau, dim, gain)  # (T, S)
    z = z - one_point.max_elbo(10.0**log_tau, dim, gain)[:, None]  # gap to the best s at each tau, <= 0
    ts, ss = np.meshgrid(log_tau, log_s, indexing="ij")  # (T, S) each
    hs, ht = (log_s[1] - log_s[0]) / 2, (log_tau[1] - log_tau[0]) / 2
    return pd.DataFrame({"s0": ss.ravel() - hs, "s1": ss.ravel() + hs, "t0": ts.ravel() - ht,
                         "t1": ts.ravel() + ht, "ELBO - max": np.maximum(z.ravel(), -10.0)})
