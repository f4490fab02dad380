"""The lab's first tab: EM on a Gaussian mixture, step by step, and the singularity of a collapsing component."""
from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import streamlit as st

from explorer import charts
from vae_core.lab import gmm

from . import maths

if TYPE_CHECKING:
    import altair as alt


def mixture_chart(x: np.ndarray, params: gmm.GMMParams, pinned: tuple[int, int] | None = None) -> alt.Chart:
    """Data with the fitted components over it: histogram + densities (1-D) or scatter + 2-sigma ellipses.

    ``pinned`` = (component, point index): that component is a spike on that point, drawn as a red mark.
    """
    if x.shape[1] == 1:
        grid = np.linspace(x.min() - 1.0, x.max() + 1.0, 400)
        spike = None if pinned is None else (pinned[0], x[pinned[1], 0])
        return charts.mixture_1d(x[:, 0], grid, gmm.mixture_pdf_1d(grid, params), spike)  # parts: (G, K)
    ellipses = {k: gmm.ellipse(params.means[k], params.covs[k]) for k in range(params.n_components)
                if pinned is None or k != pinned[0]}  # (n, 2) each
    return charts.mixture_2d(x, ellipses, None if pinned is None else x[pinned[1]])


def draw() -> None:
    """EM on a Gaussian mixture, and the singularity of a collapsing component."""
    st.markdown(
        "A Gaussian mixture has no closed-form maximum-likelihood fit, but **EM** (Dempster, Laird & "
        "Rubin 1977) climbs to a local maximum: the E-step makes the ELBO tight, the M-step maximises it, so "
        "the log-likelihood can never go down: each step's ELBO is a lower bound that touches the log-likelihood at "
        "the current fit. Step through it, or run it to convergence.")
    c1, c2, c3, c4, c5 = st.columns(5)
    dim = c1.radio("dimension", [1, 2], index=1, horizontal=True, key="lab_gmm_dim")
    n_true = c2.slider("components in the data", 1, 6, 3, key="lab_gmm_true")
    k_fit = c3.slider("components fitted", 1, 8, 4, key="lab_gmm_fit")
    n_points = c4.slider("points", 50, 2000, 500, step=50, key="lab_gmm_n")
    seed = int(c5.number_input("seed", 0, 10_000, 1, key="lab_gmm_seed"))
    x = maths.gmm_data(n_true, n_points, dim, seed)  # (N, D)

    config = (n_true, n_points, dim, seed, k_fit)
    state = st.session_state.get("lab_em")
    b1, b2, b3, b4 = st.columns(4)
    reset = b4.button("reset", key="lab_em_reset")  # drawn on every run, also the one a slider starts
    if state is None or state["config"] != config or reset:
        p0 = gmm.init_params(x, k_fit, seed)
        state = {"config": config, "params": [p0], "lls": [gmm.log_likelihood(x, p0)], "collapsed": None}
        st.session_state["lab_em"] = state
    n_steps = 0
    if b1.button("EM step", key="lab_em_step"):
        n_steps = 1
    if b2.button("10 steps", key="lab_em_10"):
        n_steps = 10
    if b3.button("run to convergence", key="lab_em_run"):
        n_steps = 500
    if n_steps and state["collapsed"] is None:
        run = gmm.run_em(x, state["params"][-1], max_iter=n_steps, tol=maths.EM_TOL if n_steps == 500 else 0.0)
        state["params"] += run.params[1:]
        state["lls"] += list(run.log_liks[1:])
        state["collapsed"] = run.collapsed
        state["converged"] = run.converged
    params = state["params"][-1]
    lls = np.asarray(state["lls"])

    left, right = st.columns(2)
    with left:
        st.markdown(f"**Data and the fit after {len(lls) - 1} EM steps**")
        charts.show_panel(mixture_chart(x, params))
    with right:
        st.markdown("**Log-likelihood per point (nats)**")
        charts.show_panel(charts.em_log_likelihood(lls))
        if len(lls) > 1:
            status = " Converged." if state.get("converged") else ""
            st.caption(f"now {lls[-1]:.6f}; smallest change between two steps {np.diff(lls).min():+.2e} "
                       f"(never negative, up to rounding).{status}")
    if state["collapsed"]:
        st.warning(f"EM itself ran into the singularity ({state['collapsed']}): a component shrank onto too "
                   "few points for a covariance. More components or fewer points make this likelier. Reset "
                   "or change the seed.")

    st.subheader("The singularity")
    st.markdown(
        "Start from EM's converged fit, pin one component's mean on a data point and shrink its standard "
        "deviation sigma. At every sigma, EM re-fits everything else (weights and the other components) "
        "around the spike. Once the spike holds its point alone, the log-likelihood rises by exactly D nats "
        "each time sigma shrinks by a factor e, for ever: the likelihood has no maximum (Mattei & Frellsen "
        "2018 make the same argument for VAEs with a learned decoder variance).")
    em = maths.em_fit(n_true, n_points, dim, seed, k_fit)
    fitted = em.params[-1]
    if fitted.n_components < 2:
        st.info("The singularity needs at least two fitted components: one to collapse, one for the rest.")
    else:
        s1, s2, s3 = st.columns(3)
        k_pin = int(s1.selectbox("component to pin", range(fitted.n_components),
                                 index=int(np.argmin(fitted.weights)), key="lab_sing_k"))
        log_s = s2.slider("log10 sigma", -150.0, 0.0, -10.0, step=2.5, key="lab_sing_sigma")
        i_pin, sigmas, path, fits = maths.singularity(n_true, n_points, dim, seed, k_fit, k_pin)
        j = int(np.argmin(np.abs(np.log10(sigmas) - log_s)))
        ll_fit = float(gmm.point_log_lik(x, fitted).sum())
        s3.metric("log-likelihood at this sigma (sum, nats)", f"{path[j]:.1f}",
                  f"{path[j] - ll_fit:+.1f} vs EM fit")
        left, right = st.columns(2)
        with left:
            charts.show_panel(charts.singularity_path(sigmas, path, j, ll_fit))
        with right:
            charts.show_panel(mixture_chart(x, fits[j], (k_pin, i_pin)))
        notes = []
        if em.collapsed:
            notes.append(f"EM's own run already met the singularity ({em.collapsed}); the path starts from "
                         "the last fit before that.")
        elif not em.converged:
            notes.append("EM had not converged after 1000 steps; the path starts from where it was.")
        if len(path) < len(maths.SING_SIGMAS):
            notes.append("The path stops early: another component collapsed while EM re-fitted the rest.")
        passed = np.nonzero(path > ll_fit)[0]
        if len(passed):
            where = f"passes the EM fit (dashed) at sigma ~ 1e{np.log10(sigmas[passed[0]]):.1f}"
        else:
            cross = gmm.crossing_log10_sigma(float(sigmas[-1]), float(path[-1]), ll_fit, dim)
            where = f"would pass the EM fit (dashed) at sigma ~ 1e{cross:.0f}"
        w_pin = fits[j].weights[k_pin]
        log_peak = np.log10(w_pin) - dim * np.log10(sigmas[j]) - dim / 2 * np.log10(2 * np.pi)
        notes.append(f"Pinned: component {k_pin} on point {i_pin}, the point nearest its mean. The path "
                     f"{where}. At this sigma the spike (weight {w_pin:.4f}) adds a density of "
                     f"1e{log_peak:.0f} at its point.")
        st.caption(" ".join(notes))

