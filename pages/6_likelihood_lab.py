"""Likelihood lab: small models whose likelihood is exact, so the seeds' arguments can be watched.

A thin page over ``vae_core.lab``: EM and the mixture singularity, pPCA against a linear VAE on real pixels,
the one-datapoint ELBO, and one pixel's bounded and unbounded likelihoods. Derivations: docs/lab.md.
"""
from __future__ import annotations

import altair as alt
import numpy as np
import pandas as pd
import streamlit as st

from explorer import links
from vae_core.data import load_sample
from vae_core.lab import gmm, one_point, pixel_bounds, ppca

st.title("Likelihood lab")
st.caption("Small models whose likelihood can be computed exactly: the arguments behind the zoo, live. "
           "Everything on this page is exact arithmetic (float64), nothing is sampled.")

# -------------------------------------------------------------------------------- cached maths
@st.cache_data(max_entries=32, show_spinner=False)
def _gmm_data(n_true: int, n_points: int, dim: int, seed: int) -> np.ndarray:
    return gmm.make_data(n_true, n_points, dim, seed)[0]


SING_SIGMAS = np.logspace(0.0, -150.0, 61)  # the collapsing path, 2.5 decades a step
EM_TOL = 1e-7  # "converged": the mean log-likelihood per point moved less than this in one step


@st.cache_data(max_entries=32, show_spinner=False)
def _em_fit(n_true: int, n_points: int, dim: int, seed: int, k_fit: int) -> gmm.EMRun:
    x = _gmm_data(n_true, n_points, dim, seed)
    return gmm.run_em(x, gmm.init_params(x, k_fit, seed), max_iter=1000, tol=EM_TOL)


@st.cache_data(max_entries=32, show_spinner=False)
def _singularity(n_true: int, n_points: int, dim: int, seed: int, k_fit: int,
                 k: int) -> tuple[int, np.ndarray, np.ndarray, list[gmm.GMMParams]]:
    """From EM's fit, component k pinned on the point nearest its mean: (point, sigmas, path, fits)."""
    x = _gmm_data(n_true, n_points, dim, seed)
    params = _em_fit(n_true, n_points, dim, seed, k_fit).params[-1]
    i = int(np.argmin(np.linalg.norm(x - params.means[k], axis=1)))
    lls, fits = gmm.singularity_profile(x, params, k, i, SING_SIGMAS, max_iter=100, tol=1e-8)
    return i, SING_SIGMAS[: len(lls)], lls, fits


@st.cache_data(max_entries=2, show_spinner=False)
def _spectrum(dataset: str) -> ppca.Spectrum:
    images, _ = load_sample(dataset)  # (N, 28, 28) uint8
    return ppca.spectrum(images.reshape(len(images), -1).astype(np.float64) / 255.0)  # on (N, 784) in [0, 1]


@st.cache_data(max_entries=64, show_spinner=False)
def _linear_vae(dataset: str, sigma2: float, n_latent: int, iters: int) -> ppca.LinearVAEFit:
    return ppca.train_linear_vae(_spectrum(dataset), sigma2, n_latent, max_iter=iters, seed=0)


@st.cache_data(max_entries=32, show_spinner=False)
def _one_point_grid(dim: int, gain: float) -> pd.DataFrame:
    log_s = np.linspace(-3.0, 1.0, 61)
    log_tau = np.linspace(-2.0, 6.0, 61)
    z = one_point.elbo_grid(log_s, log_tau, dim, gain)  # (T, S)
    z = z - one_point.max_elbo(10.0**log_tau, dim, gain)[:, None]  # gap to the best s at each tau, <= 0
    ts, ss = np.meshgrid(log_tau, log_s, indexing="ij")  # (T, S) each
    hs, ht = (log_s[1] - log_s[0]) / 2, (log_tau[1] - log_tau[0]) / 2
    return pd.DataFrame({"s0": ss.ravel() - hs, "s1": ss.ravel() + hs, "t0": ts.ravel() - ht,
                         "t1": ts.ravel() + ht, "ELBO - max": np.maximum(z.ravel(), -10.0)})


def _chart(chart: alt.Chart) -> None:
    st.altair_chart(chart.properties(height=340).configure_legend(orient="bottom", columns=2, labelLimit=260),
                    width="stretch")


# -------------------------------------------------------------------------------- 1. EM
def _mixture_view(x: np.ndarray, params: gmm.GMMParams, pinned: tuple[int, int] | None = None) -> alt.Chart:
    """Data with the fitted components over it: histogram + densities (1-D) or scatter + 2-sigma ellipses.

    ``pinned`` = (component, point index): that component is a spike on that point, drawn as a red mark.
    """
    comp = [f"component {k}" for k in range(params.n_components)]
    if x.shape[1] == 1:
        hist, edges = np.histogram(x[:, 0], bins=40, density=True)
        bins = pd.DataFrame({"left": edges[:-1], "right": edges[1:], "density": hist, "zero": 0.0})
        bars = alt.Chart(bins).mark_rect(color="#cccccc").encode(
            x=alt.X("left:Q", title="x"), x2=alt.X2("right:Q"), y=alt.Y("density:Q", title="density"),
            y2=alt.Y2("zero:Q"))
        grid = np.linspace(x.min() - 1.0, x.max() + 1.0, 400)
        parts = gmm.mixture_pdf_1d(grid, params)  # (G, K)
        if pinned is not None:
            parts[:, pinned[0]] = 0.0  # the spike is drawn as a rule: no grid resolves it
        df = pd.DataFrame({"x": np.tile(grid, params.n_components + 1),
                           "density": np.concatenate([parts.T.ravel(), parts.sum(1)]),
                           "curve": np.repeat(comp + ["mixture"], len(grid))})
        if pinned is not None:
            df = df[df["curve"] != comp[pinned[0]]]
        ymax = 1.3 * float(max(hist.max(), parts.sum(1).max()))
        lines = alt.Chart(df).mark_line().encode(
            x=alt.X("x:Q"), y=alt.Y("density:Q", scale=alt.Scale(domain=[0, ymax], clamp=True)),
            color=alt.Color("curve:N"))
        chart = bars + lines
        if pinned is not None:
            chart += alt.Chart(pd.DataFrame({"x": [x[pinned[1], 0]]})).mark_rule(color="red", size=2).encode(
                x=alt.X("x:Q"))
        return chart
    pts = alt.Chart(pd.DataFrame({"x1": x[:, 0], "x2": x[:, 1]})).mark_circle(
        size=12, color="#999999").encode(x=alt.X("x1:Q"), y=alt.Y("x2:Q"))
    rows = []
    for k in range(params.n_components):
        if pinned is not None and k == pinned[0]:
            continue
        e = gmm.ellipse(params.means[k], params.covs[k])  # (n, 2)
        rows.append(pd.DataFrame({"x1": e[:, 0], "x2": e[:, 1], "order": np.arange(len(e)),
                                  "curve": comp[k]}))
    chart = pts
    if rows:
        chart += alt.Chart(pd.concat(rows)).mark_line().encode(x=alt.X("x1:Q"), y=alt.Y("x2:Q"),
                                                               order=alt.Order("order:Q"),
                                                              color=alt.Color("curve:N"))
    if pinned is not None:
        chart += alt.Chart(pd.DataFrame({"x1": [x[pinned[1], 0]], "x2": [x[pinned[1], 1]]})).mark_point(
            shape="cross", size=300, color="red", filled=True).encode(x=alt.X("x1:Q"), y=alt.Y("x2:Q"))
    return chart


def _em_tab() -> None:
    """EM on a Gaussian mixture, and the singularity of a collapsing component."""
    st.markdown(
        "A Gaussian mixture has no closed-form maximum-likelihood fit, but **EM** (Dempster, Laird & "
        "Rubin 1977) climbs to a local maximum: the E-step makes the ELBO tight, the M-step maximises it, so "
        "the log-likelihood can never go down (seed 003). Step through it, or run it to convergence.")
    c1, c2, c3, c4, c5 = st.columns(5)
    dim = c1.radio("dimension", [1, 2], index=1, horizontal=True, key="lab_gmm_dim")
    n_true = c2.slider("components in the data", 1, 6, 3, key="lab_gmm_true")
    k_fit = c3.slider("components fitted", 1, 8, 4, key="lab_gmm_fit")
    n_points = c4.slider("points", 50, 2000, 500, step=50, key="lab_gmm_n")
    seed = int(c5.number_input("seed", 0, 10_000, 1, key="lab_gmm_seed"))
    x = _gmm_data(n_true, n_points, dim, seed)  # (N, D)

    config = (n_true, n_points, dim, seed, k_fit)
    state = st.session_state.get("lab_em")
    b1, b2, b3, b4 = st.columns(4)
    if state is None or state["config"] != config or b4.button("reset", key="lab_em_reset"):
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
        run = gmm.run_em(x, state["params"][-1], max_iter=n_steps, tol=EM_TOL if n_steps == 500 else 0.0)
        state["params"] += run.params[1:]
        state["lls"] += list(run.log_liks[1:])
        state["collapsed"] = run.collapsed
        state["converged"] = run.converged
    params = state["params"][-1]
    lls = np.asarray(state["lls"])

    left, right = st.columns(2)
    with left:
        st.markdown(f"**Data and the fit after {len(lls) - 1} EM steps**")
        _chart(_mixture_view(x, params))
    with right:
        st.markdown("**Log-likelihood per point (nats)**")
        df = pd.DataFrame({"EM step": np.arange(len(lls)), "log-likelihood": lls})
        _chart(alt.Chart(df).mark_line(point=len(lls) < 60).encode(
            x=alt.X("EM step:Q"), y=alt.Y("log-likelihood:Q", scale=alt.Scale(zero=False))))
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
    em = _em_fit(n_true, n_points, dim, seed, k_fit)
    fitted = em.params[-1]
    if fitted.n_components < 2:
        st.info("The singularity needs at least two fitted components: one to collapse, one for the rest.")
    else:
        s1, s2, s3 = st.columns(3)
        k_pin = int(s1.selectbox("component to pin", range(fitted.n_components),
                                 index=int(np.argmin(fitted.weights)), key="lab_sing_k"))
        log_s = s2.slider("log10 sigma", -150.0, 0.0, -10.0, step=2.5, key="lab_sing_sigma")
        i_pin, sigmas, path, fits = _singularity(n_true, n_points, dim, seed, k_fit, k_pin)
        j = int(np.argmin(np.abs(np.log10(sigmas) - log_s)))
        ll_fit = float(gmm.point_log_lik(x, fitted).sum())
        s3.metric("log-likelihood at this sigma (sum, nats)", f"{path[j]:.1f}",
                  f"{path[j] - ll_fit:+.1f} vs EM fit")
        left, right = st.columns(2)
        with left:
            df = pd.DataFrame({"log10 sigma": np.log10(sigmas), "log-likelihood": path})
            base = alt.Chart(df).mark_line().encode(
                x=alt.X("log10 sigma:Q", scale=alt.Scale(reverse=True), title="log10 sigma (shrinking ->)"),
                y=alt.Y("log-likelihood:Q", scale=alt.Scale(zero=False), title="log-likelihood (sum, nats)"))
            here = alt.Chart(df.iloc[[j]]).mark_point(color="red", size=120, filled=True).encode(
                x=alt.X("log10 sigma:Q"), y=alt.Y("log-likelihood:Q"))
            level = alt.Chart(pd.DataFrame({"y": [ll_fit]})).mark_rule(
                strokeDash=[4, 4], color="gray").encode(y=alt.Y("y:Q"))
            _chart(base + here + level)
        with right:
            _chart(_mixture_view(x, fits[j], (k_pin, i_pin)))
        notes = []
        if em.collapsed:
            notes.append(f"EM's own run already met the singularity ({em.collapsed}); the path starts from "
                         "the last fit before that.")
        elif not em.converged:
            notes.append("EM had not converged after 1000 steps; the path starts from where it was.")
        if len(path) < len(SING_SIGMAS):
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


# -------------------------------------------------------------------------------- 2. pPCA
def _ppca_tab() -> None:
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
    spec = _spectrum(dataset)
    fit = _linear_vae(dataset, float(sigma2), int(q), int(iters))
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
        top = min(120, len(spec.eigvals))
        kind = np.where(spec.eigvals[:top] <= sigma2, "collapsed: lambda <= sigma^2",
                        np.where(np.arange(top) < q, "survives", "beyond q latents"))
        df = pd.DataFrame({"index": np.arange(1, top + 1), "eigenvalue": spec.eigvals[:top],
                           "direction": kind})
        colours = alt.Scale(domain=["survives", "beyond q latents", "collapsed: lambda <= sigma^2"],
                            range=["#1f77b4", "#ff7f0e", "#bbbbbb"])
        _chart(alt.Chart(df).mark_circle(size=30).encode(
            x=alt.X("index:Q"), y=alt.Y("eigenvalue:Q", scale=alt.Scale(type="log")),
            color=alt.Color("direction:N", scale=colours))
            + alt.Chart(pd.DataFrame({"y": [sigma2]})).mark_rule(strokeDash=[4, 4]).encode(y=alt.Y("y:Q")))
    with right:
        st.markdown("**Training: distance to the exact maximum (nats / image, log scale)**")
        gap = pd.DataFrame({
            "L-BFGS iteration": np.tile(fit.steps, 2),
            "gap": np.concatenate([ml - fit.elbo, ml - fit.log_lik]).clip(1e-12, None),
            "curve": np.repeat(["max log p - ELBO", "max log p - log p(X; W_t)"], len(fit.steps))})
        _chart(alt.Chart(gap).mark_line().encode(
            x=alt.X("L-BFGS iteration:Q"), y=alt.Y("gap:Q", scale=alt.Scale(type="log")), color=alt.Color("curve:N")))
    left, right = st.columns(2)
    with left:
        st.markdown("**Per latent: the VAE's KL to the prior against theory** 1/2 log(lambda_j / sigma^2)+")
        theory = 0.5 * np.log(np.maximum(spec.eigvals[:q] / sigma2, 1.0))
        df = pd.DataFrame({"latent (sorted)": np.tile(np.arange(1, q + 1), 2),
                           "KL (nats)": np.concatenate([np.sort(fit.kl_per_dim)[::-1], theory]),
                           "source": np.repeat(["linear VAE (trained)", "pPCA optimum (closed form)"], q)})
        _chart(alt.Chart(df).mark_line(point=True).encode(
            x=alt.X("latent (sorted):Q"), y=alt.Y("KL (nats):Q"), color=alt.Color("source:N"),
            strokeDash=alt.StrokeDash("source:N")))
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


# -------------------------------------------------------------------------------- 3. one point
def _one_point_tab() -> None:
    """The one-datapoint ELBO over posterior sigma and decoder precision."""
    st.markdown(
        "The Q&A seed's toy: one data point, a one-dimensional latent with prior N(0, 1), an encoder "
        "N(0, s^2) and a decoder of precision tau whose mean passes through the point with slope g. The ELBO "
        "is -lambda' s^2 + log s + D/2 log(tau / 2 pi) + 1/2 with lambda' = tau g^2 / 2 + 1/2, maximised at "
        "s* = (2 lambda')^(-1/2) (the seed has the sign of lambda flipped). Its maximum over s is the exact "
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
        grid = _one_point_grid(int(d_obs), float(gain))
        heat = alt.Chart(grid).mark_rect().encode(
            x=alt.X("s0:Q", title="log10 s", scale=alt.Scale(domain=[-3, 1], nice=False)), x2=alt.X2("s1:Q"),
            y=alt.Y("t0:Q", title="log10 tau", scale=alt.Scale(domain=[-2, 6], nice=False)), y2=alt.Y2("t1:Q"),
            color=alt.Color("ELBO - max:Q", scale=alt.Scale(scheme="viridis")))
        ts = np.linspace(-2.0, 6.0, 81)
        ridge = pd.DataFrame({"log10 s": np.log10(one_point.sigma_star(10.0**ts, gain)), "log10 tau": ts})
        ridge = ridge[ridge["log10 s"] >= -3.0]
        here = pd.DataFrame({"log10 s": [np.log10(s_star)], "log10 tau": [log_tau]})
        _chart(heat + alt.Chart(ridge).mark_line(color="white").encode(x=alt.X("log10 s:Q"), y=alt.Y("log10 tau:Q"))
               + alt.Chart(here).mark_point(color="red", size=100, filled=True).encode(x=alt.X("log10 s:Q"),
                                                                                      y=alt.Y("log10 tau:Q")))
    with right:
        st.markdown(f"**ELBO against s at tau = {tau:.3g}**, s* = {s_star:.4g} marked")
        log_s = np.linspace(-3.0, 1.0, 400)
        df = pd.DataFrame({"log10 s": log_s, "ELBO": one_point.elbo(10.0**log_s, tau, int(d_obs), gain)})
        best = pd.DataFrame({"log10 s": [np.log10(s_star)],
                             "ELBO": [float(one_point.elbo(s_star, tau, int(d_obs), gain))]})
        df = df[df["ELBO"] > best["ELBO"][0] - 15.0]  # the interesting part: within 15 nats of the optimum
        line = alt.Chart(df).mark_line().encode(x=alt.X("log10 s:Q"), y=alt.Y("ELBO:Q", scale=alt.Scale(zero=False)))
        _chart(line + alt.Chart(best).mark_rule(color="red").encode(x=alt.X("log10 s:Q"))
               + alt.Chart(best).mark_point(color="red", size=100, filled=True).encode(x=alt.X("log10 s:Q"),
                                                                                      y=alt.Y("ELBO:Q")))
    st.markdown("**max over s of the ELBO (= log p(x)) as the precision grows**")
    ts = np.linspace(-2.0, 12.0, 141)
    curves = {f"D = 1, g = {gain:g}": one_point.max_elbo(10.0**ts, 1, gain),
              f"D = {d_obs}, g = {gain:g}": one_point.max_elbo(10.0**ts, int(d_obs), gain),
              "D = 1, g = 0 (decoder ignores z)": one_point.max_elbo(10.0**ts, 1, 0.0)}
    df = pd.concat([pd.DataFrame({"log10 tau": ts, "max ELBO": v, "case": k}) for k, v in curves.items()])
    _chart(alt.Chart(df.drop_duplicates(["case", "log10 tau"])).mark_line().encode(
        x=alt.X("log10 tau:Q"), y=alt.Y("max ELBO:Q"), color=alt.Color("case:N")))
    limit = one_point.bounded_limit(1, gain)
    st.caption(f"D = 1 with g = {gain:g} levels off at {limit:.3f} (= -1/2 log 2 pi g^2); the other curves "
               "rise like (D - 1)/2 log tau or 1/2 log tau, without bound. The KL term bounds the posterior "
               "width, not the likelihood.")


# -------------------------------------------------------------------------------- 4. one pixel
def _one_pixel_tab() -> None:
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
    _chart(chart + rules)
    m1, m2, m3 = st.columns(3)
    m1.metric("Gaussian at sigma = 1e-8", f"{cv['gaussian'][-1]:.2f} nats")
    m2.metric("ceiling with the floor", f"{pixel_bounds.ceiling(float(sigma_min)):.2f} nats")
    m3.metric("discretized at sigma = 1e-8", f"{cv['discretized'][-1] + 0.0:.3g} nats")
    st.caption("With an error e > 0 the density peaks at sigma = e and then falls: only a perfect "
               "reconstruction can ride sigma to zero. The naive log(density x bin width) exceeds 0 once "
               "sigma < 1/(255 sqrt(2 pi)): a density is not a probability.")


# -------------------------------------------------------------------------------- the tabs
# Bound to the URL (?lab_tab=...) so a view can be shared, and tracked, so only the open tab's maths and charts run.
TABS = {"EM and the singularity": _em_tab, "Linear VAE = pPCA": _ppca_tab, "One data point": _one_point_tab,
        "One pixel": _one_pixel_tab}
links.choice("lab_tab", list(TABS))
for tab, draw in zip(st.tabs(list(TABS), key="lab_tab", bind="query-params"), TABS.values(), strict=True):
    if tab.open:
        with tab:
            draw()
