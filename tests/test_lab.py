"""The likelihood lab against independent references: scikit-learn's EM, a direct multivariate-normal density,
Monte Carlo estimates of the ELBOs, math.erf, and a golden-section search; plus a smoke test of the page."""
from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
import torch

from explorer import pages
from vae_core.lab import gmm, one_point, pixel_bounds, ppca

PAGE = pages.page("lab").path  # run on its own: the lab reads nothing from the sidebar


# ------------------------------------------------------------------------------------------ EM
EM_CASES = [  # (dim, components in the data, components fitted, seed)
    (1, 3, 3, 0), (1, 2, 4, 1), (2, 3, 3, 2), (2, 4, 5, 3), (2, 1, 2, 4),
]


@pytest.mark.parametrize("dim,k_true,k_fit,seed", EM_CASES)
def test_em_log_likelihood_never_decreases(dim: int, k_true: int, k_fit: int, seed: int) -> None:
    x, _ = gmm.make_data(k_true, 400, dim, seed)
    run = gmm.run_em(x, gmm.init_params(x, k_fit, seed), max_iter=300, tol=0.0)
    assert len(run.log_liks) > 10
    steps = np.diff(run.log_liks)
    assert np.all(steps >= -1e-12 * np.abs(run.log_liks[1:])), steps.min()  # rounding only
    assert run.log_liks[-1] > run.log_liks[0]


@pytest.mark.parametrize("dim,k_true,k_fit,seed", EM_CASES)
@pytest.mark.parametrize("n_iter", [1, 7, 40])
def test_em_matches_sklearn(dim: int, k_true: int, k_fit: int, seed: int, n_iter: int) -> None:
    """Same data and start, reg_covar=0, exactly n_iter iterations: same parameters and log-likelihoods."""
    mixture = pytest.importorskip("sklearn.mixture")
    x, _ = gmm.make_data(k_true, 400, dim, seed)
    p0 = gmm.init_params(x, k_fit, seed)
    run = gmm.run_em(x, p0, max_iter=n_iter, tol=0.0)
    assert run.collapsed is None and len(run.params) == n_iter + 1
    ref = mixture.GaussianMixture(k_fit, covariance_type="full", reg_covar=0.0, max_iter=n_iter, tol=1e-300,
                                  init_params="random",  # overridden by the *_init below; skips k-means
                                  weights_init=p0.weights, means_init=p0.means,
                                  precisions_init=np.linalg.inv(p0.covs), random_state=0)
    threadpoolctl = pytest.importorskip("threadpoolctl")  # a dependency of scikit-learn
    with warnings.catch_warnings(), threadpoolctl.threadpool_limits(1):  # tiny BLAS calls: threads only wait
        warnings.simplefilter("ignore")  # ConvergenceWarning: we stop it on purpose
        ref.fit(x)
    ours = run.params[-1]
    np.testing.assert_allclose(ours.weights, ref.weights_, rtol=1e-6, atol=1e-12)
    np.testing.assert_allclose(ours.means, ref.means_, rtol=1e-6, atol=1e-9)
    np.testing.assert_allclose(ours.covs, ref.covariances_, rtol=1e-6, atol=1e-9)
    np.testing.assert_allclose(run.log_liks[-1], ref.score(x), rtol=1e-6)
    # sklearn's lower bound at iteration t is the log-likelihood of theta_{t-1}, before that M-step; it stops
    # early only when a step changes it by exactly 0 (tol=1e-300), i.e. at a fixed point
    bounds = np.asarray(ref.lower_bounds_)
    np.testing.assert_allclose(run.log_liks[:len(bounds)], bounds, rtol=1e-6)
    if len(bounds) < n_iter:
        np.testing.assert_allclose(run.log_liks[len(bounds):], bounds[-1], rtol=1e-12)


def test_em_can_meet_the_singularity_itself() -> None:
    """A spare component shrinks onto a few points: EM stops there, saying so, still monotone until then."""
    x, _ = gmm.make_data(3, 500, 2, 0)
    run = gmm.run_em(x, gmm.init_params(x, 4, 0), max_iter=500)
    assert run.collapsed is not None and not run.converged
    assert np.all(np.diff(run.log_liks) >= -1e-12 * np.abs(run.log_liks[1:]))


SINGULARITY_CASES = [  # (dim, components in the data, fitted, seed): the page's default first
    (2, 3, 4, 1), (1, 3, 3, 0), (1, 2, 3, 2), (2, 2, 3, 0), (2, 3, 3, 1),
]


@pytest.mark.parametrize("dim,k_true,k_fit,seed", SINGULARITY_CASES)
def test_singularity_log_likelihood_climbs_without_bound(dim: int, k_true: int, k_fit: int,
                                                         seed: int) -> None:
    """Pin the lightest component on a point and shrink sigma: once the spike's share of every other point has
    vanished, the profile log-likelihood rises strictly, tending to D nats per e-fold, past the EM optimum."""
    x, _ = gmm.make_data(k_true, 500, dim, seed)
    fit = gmm.run_em(x, gmm.init_params(x, k_fit, seed), max_iter=1000, tol=1e-7).params[-1]
    best = gmm.point_log_lik(x, fit).sum()
    k = int(np.argmin(fit.weights))
    i = int(np.argmin(np.linalg.norm(x - fit.means[k], axis=1)))
    sigmas = np.logspace(0.0, -150.0, 61)
    path, fits = gmm.singularity_profile(x, fit, k, i, sigmas, max_iter=100, tol=1e-8)
    assert len(path) == len(sigmas)
    others = np.arange(len(x)) != i
    share = np.array([gmm.e_step(x, f)[0][others, k].max() for f in fits])  # spike's largest responsibility
    isolated = np.nonzero(share < 1e-8)[0]
    assert len(isolated) > 0 and np.all(np.diff(isolated) == 1)  # once isolated, it stays isolated
    tail = path[isolated[0]:]
    assert np.all(np.diff(tail) > 0)
    slope = np.diff(tail) / np.diff(-np.log(sigmas[isolated[0]:]))
    np.testing.assert_allclose(slope[-10:], dim, rtol=1e-5)
    assert path[-1] > best  # a higher "likelihood" than EM's fit, and it keeps going


def test_frozen_singularity_tail_rises_d_nats_per_efold() -> None:
    """Seed 002's form: the rest of the mixture untouched, only the spike shrinks; the sum still diverges."""
    x, _ = gmm.make_data(3, 300, 2, 0)
    fit = gmm.run_em(x, gmm.init_params(x, 3, 0)).params[-1]
    sigmas = np.logspace(-60.0, -150.0, 10)
    path = gmm.singularity_curve(x, fit, 0, 5, sigmas)
    assert np.all(np.diff(path) > 0)
    np.testing.assert_allclose(np.diff(path) / np.diff(-np.log(sigmas)), 2.0, rtol=1e-9)


# ------------------------------------------------------------------------------------------ pPCA
def _planted(n: int = 500, d: int = 12, seed: int = 0) -> np.ndarray:
    """Data with a known, well-separated spectrum: variances 9, 6, 4, 2.5 on 4 directions, 0.3 elsewhere."""
    rng = np.random.default_rng(seed)
    basis, _ = np.linalg.qr(rng.normal(size=(d, d)))  # (d, d) random rotation
    scales = np.sqrt(np.r_[9.0, 6.0, 4.0, 2.5, np.full(d - 4, 0.3)])
    return rng.normal(size=(n, d)) * scales @ basis.T + rng.normal(size=d)  # (n, d)


@pytest.mark.parametrize("sigma2,n_latent", [(1.0, 6), (0.5, 3), (3.0, 8), (0.1, 12), (50.0, 4)])
def test_ppca_closed_form_matches_direct_density(sigma2: float, n_latent: int) -> None:
    x = _planted()
    spec = ppca.spectrum(x)
    w = ppca.ppca_ml_weights(spec, sigma2, n_latent)  # (d, q)
    closed = ppca.ppca_log_lik_closed(spec, sigma2, n_latent)
    direct = ppca.ppca_log_lik_direct(x, spec.mean, w, sigma2)
    cov = torch.as_tensor(w @ w.T + sigma2 * np.eye(x.shape[1]))
    mvn = torch.distributions.MultivariateNormal(torch.as_tensor(spec.mean), covariance_matrix=cov)
    reference = float(mvn.log_prob(torch.as_tensor(x)).mean())
    np.testing.assert_allclose(closed, reference, rtol=1e-10)
    np.testing.assert_allclose(direct, reference, rtol=1e-10)
    norms = np.sum(w**2, axis=0)  # (q,) = (lambda_j - sigma^2)_+
    count = ppca.n_surviving(spec.eigvals, sigma2, n_latent)
    assert np.all(norms[count:] == 0.0) and np.all(norms[:count] > 0)
    np.testing.assert_allclose(norms[:count], spec.eigvals[:count] - sigma2, rtol=1e-10)


@pytest.mark.parametrize("sigma2,n_latent", [(1.0, 6), (0.5, 3), (3.0, 8)])
def test_ppca_closed_form_is_a_maximum(sigma2: float, n_latent: int) -> None:
    """The gradient of the exact log-likelihood in W vanishes there, and random nudges only lower it."""
    x = _planted()
    spec = ppca.spectrum(x)
    w_ml = ppca.ppca_ml_weights(spec, sigma2, n_latent)
    xt, mu = torch.as_tensor(x), torch.as_tensor(spec.mean)
    w = torch.as_tensor(w_ml).requires_grad_()
    cov = w @ w.T + sigma2 * torch.eye(x.shape[1], dtype=torch.float64)
    torch.distributions.MultivariateNormal(mu, covariance_matrix=cov).log_prob(xt).mean().backward()
    assert float(w.grad.abs().max()) < 1e-8
    best = ppca.ppca_log_lik_direct(x, spec.mean, w_ml, sigma2)
    rng = np.random.default_rng(0)
    for _ in range(5):
        nudged = w_ml + 1e-2 * rng.normal(size=w_ml.shape)
        assert ppca.ppca_log_lik_direct(x, spec.mean, nudged, sigma2) < best


def test_linear_vae_elbo_matches_monte_carlo() -> None:
    """The analytic ELBO (eigenbasis form) against a Monte Carlo ELBO on the rotated data, any W, V, D."""
    x = _planted(n=300, d=6, seed=1)
    spec = ppca.spectrum(x)
    xr = torch.as_tensor((x - spec.mean) @ spec.eigvecs)  # (N, d) centred, in the eigenbasis
    gen = torch.Generator().manual_seed(0)
    w = 0.5 * torch.randn(6, 3, generator=gen, dtype=torch.float64)
    v = 0.3 * torch.randn(3, 6, generator=gen, dtype=torch.float64)
    log_d = -torch.rand(3, generator=gen, dtype=torch.float64)
    sigma2 = 0.7
    analytic = float(ppca.linear_vae_elbo(torch.as_tensor(spec.eigvals), w, v, log_d, sigma2))
    q = torch.distributions.Independent(torch.distributions.Normal(xr @ v.T, torch.exp(0.5 * log_d)), 1)
    z = q.sample((1000,))  # (S, N, 3)
    px = torch.distributions.Independent(torch.distributions.Normal(z @ w.T, math.sqrt(sigma2)), 1)
    zero = torch.zeros(3, dtype=torch.float64)
    prior = torch.distributions.Independent(torch.distributions.Normal(zero, 1.0), 1)
    samples = (px.log_prob(xr) + prior.log_prob(z) - q.log_prob(z)).mean(1)  # (S,) ELBO per image, per draw
    stderr = float(samples.std()) / math.sqrt(len(samples))
    assert abs(float(samples.mean()) - analytic) < 5 * stderr


def test_linear_vae_is_tight_at_the_ppca_solution() -> None:
    """W = ML weights, V = M^{-1} W^T, D = sigma^2 M^{-1} (diagonal here): ELBO = exact log-likelihood."""
    spec = ppca.spectrum(_planted())
    sigma2, q = 1.0, 6
    lam = torch.as_tensor(spec.eigvals[:q])
    w = torch.diag(torch.sqrt(torch.clamp(lam - sigma2, min=0.0)))  # (q, q) in the eigenbasis
    m = w.T @ w + sigma2 * torch.eye(q, dtype=torch.float64)
    v = torch.linalg.solve(m, w.T)
    log_d = torch.log(sigma2 / torch.diagonal(m))
    elbo = float(ppca.linear_vae_elbo(lam, w, v, log_d, sigma2))
    exact = float(ppca.exact_log_lik_eigenbasis(lam, w, sigma2))
    np.testing.assert_allclose(elbo, exact, rtol=1e-12)


def _mnist_spectrum() -> ppca.Spectrum:
    from vae_core.base.data import load_sample
    images, _ = load_sample("mnist")
    return ppca.spectrum(images.reshape(len(images), -1).astype(np.float64) / 255.0)


@pytest.mark.parametrize("source,sigma2,n_latent", [
    ("planted", 1.0, 6), ("planted", 3.0, 8), ("planted", 0.1, 3), ("mnist", 2.0, 32), ("mnist", 1.5, 16),
])
def test_linear_vae_reaches_the_exact_likelihood(source: str, sigma2: float, n_latent: int) -> None:
    """Trained by L-BFGS on its ELBO from a small random start, the linear VAE ends within 1e-6 nats per image
    of the pPCA maximum (about 1e-9 relative; both gaps, KL(q || posterior) and the distance of W to the ML
    solution, are >= 0 and vanish at the optimum, which float64 L-BFGS reaches far below this on spectra
    without eigenvalues near sigma^2), and exactly the dimensions with lambda_j > sigma^2 stay active."""
    spec = ppca.spectrum(_planted()) if source == "planted" else _mnist_spectrum()
    ml = ppca.ppca_log_lik_closed(spec, sigma2, n_latent)
    fit = ppca.train_linear_vae(spec, sigma2, n_latent, max_iter=1500)
    assert np.all(fit.elbo <= fit.log_lik + 1e-9 * abs(ml))  # Jensen, at every recorded step
    assert np.all(fit.log_lik <= ml + 1e-9 * abs(ml))
    assert 0.0 <= ml - fit.elbo[-1] < 1e-6
    assert ppca.active_dims(fit.kl_per_dim) == ppca.n_surviving(spec.eigvals, sigma2, n_latent)
    theory = 0.5 * np.log(np.maximum(spec.eigvals[:n_latent] / sigma2, 1.0))  # KL of latent j at the optimum
    np.testing.assert_allclose(np.sort(fit.kl_per_dim)[::-1], theory, atol=1e-4)


# ------------------------------------------------------------------------------------------ one data point
def _golden_argmax(f, lo: float, hi: float, tol: float = 1e-12) -> float:
    """Maximiser of a unimodal f on [lo, hi] by golden-section search."""
    r = (math.sqrt(5.0) - 1.0) / 2.0
    a, b = lo, hi
    c, d = b - r * (b - a), a + r * (b - a)
    while b - a > tol:
        if f(c) > f(d):
            b, d = d, c
            c = b - r * (b - a)
        else:
            a, c = c, d
            d = a + r * (b - a)
    return (a + b) / 2.0


ONE_POINT_CASES = [  # (tau, gain, D)
    (0.01, 1.0, 1), (1.0, 1.0, 1), (10.0, 1.0, 1), (1e4, 1.0, 2), (3.0, 0.5, 10), (1e6, 2.0, 784),
    (5.0, 0.0, 1),
]


@pytest.mark.parametrize("tau,gain,dim", ONE_POINT_CASES)
def test_sigma_star_is_the_numerical_argmax(tau: float, gain: float, dim: int) -> None:
    log_s = _golden_argmax(lambda t: float(one_point.elbo(math.exp(t), tau, dim, gain)), -20.0, 5.0)
    expected = (2.0 * (tau * gain**2 / 2.0 + 0.5)) ** -0.5  # (2 lambda')^(-1/2), lambda = tau g^2 / 2
    np.testing.assert_allclose(math.exp(log_s), expected, rtol=1e-6)
    np.testing.assert_allclose(float(one_point.sigma_star(tau, gain)), expected, rtol=1e-12)


@pytest.mark.parametrize("tau,gain,dim", ONE_POINT_CASES)
def test_one_point_elbo_is_tight_and_correct(tau: float, gain: float, dim: int) -> None:
    """ELBO(s*) = log N(x; x, a a^T + I / tau) (exact marginal), and ELBO(s) agrees with Monte Carlo."""
    gen = torch.Generator().manual_seed(0)
    a = torch.randn(dim, generator=gen, dtype=torch.float64)
    a = gain * a / a.norm()  # (D,) decoder slope, ||a|| = g
    x = torch.randn(dim, generator=gen, dtype=torch.float64)  # the point (its position does not matter)
    cov = torch.outer(a, a) + torch.eye(dim, dtype=torch.float64) / tau
    exact = float(torch.distributions.MultivariateNormal(x, covariance_matrix=cov).log_prob(x))
    s_star = float(one_point.sigma_star(tau, gain))
    np.testing.assert_allclose(float(one_point.elbo(s_star, tau, dim, gain)), exact, rtol=1e-10, atol=1e-10)
    np.testing.assert_allclose(float(one_point.max_elbo(tau, dim, gain)), exact, rtol=1e-10, atol=1e-10)
    s = 0.7 * s_star
    z = s * torch.randn(4000, generator=gen, dtype=torch.float64)  # z ~ q = N(0, s^2)
    px = torch.distributions.Independent(torch.distributions.Normal(x + z[:, None] * a, tau**-0.5), 1)
    kl = 0.5 * (s**2 - 1.0 - math.log(s**2))
    samples = px.log_prob(x) - kl
    stderr = float(samples.std()) / math.sqrt(len(samples))
    assert abs(float(samples.mean()) - float(one_point.elbo(s, tau, dim, gain))) < 5 * stderr + 1e-12


def test_one_point_bounded_only_for_one_dimension() -> None:
    taus = np.logspace(0, 12, 13)
    bounded = one_point.max_elbo(taus, 1, 1.0)
    assert np.all(np.diff(bounded) > 0) and np.all(bounded < one_point.bounded_limit(1, 1.0))
    np.testing.assert_allclose(bounded[-1], -0.5 * math.log(2 * math.pi), atol=1e-9)
    for dim, gain in [(2, 1.0), (784, 1.0), (1, 0.0)]:
        grows = one_point.max_elbo(taus, dim, gain)
        assert np.all(np.diff(grows) > 0.5 * math.log(10.0) * 0.99)  # >= 1/2 log tau per decade, for ever
        assert one_point.bounded_limit(dim, gain) == math.inf
    s = 0.5  # a fixed encoder width: the ELBO falls, not rises, with the precision (the seed's sign slip)
    assert np.all(np.diff(one_point.elbo(s, taus[4:], 1, 1.0)) < 0)


# ------------------------------------------------------------------------------------------ one pixel
@pytest.mark.parametrize("mu,sigma", [
    (0.5, 0.1), (0.0, 1e-3), (1.0, 1e-6), (0.3, 10.0), (-2.0, 0.01), (3.0, 0.01), (128 / 255, 1e-9),
    (0.123, 0.004), (0.5, 1e-12),
])
def test_discretized_gaussian_is_a_distribution(mu: float, sigma: float) -> None:
    logp = pixel_bounds.discretized_gaussian_log_prob(np.arange(256), mu, sigma)
    assert not np.any(np.isnan(logp))
    assert np.all(logp <= 0.0)
    assert abs(np.exp(logp).sum() - 1.0) < 1e-6


def test_discretized_gaussian_matches_erf() -> None:
    def reference(k: int, mu: float, sigma: float) -> float:
        cdf = lambda t: 0.5 * (1.0 + math.erf(t / math.sqrt(2.0)))  # noqa: E731
        lo = -math.inf if k == 0 else (k - 0.5) / 255.0
        hi = math.inf if k == 255 else (k + 0.5) / 255.0
        return math.log(cdf((hi - mu) / sigma) - cdf((lo - mu) / sigma))

    for mu, sigma in [(0.4, 0.05), (0.0, 0.02), (0.99, 0.1)]:
        ks = [k for k in range(256) if abs(k / 255.0 - mu) < 4 * sigma]  # where erf keeps its precision
        ours = pixel_bounds.discretized_gaussian_log_prob(np.array(ks), mu, sigma)
        np.testing.assert_allclose(ours, [reference(k, mu, sigma) for k in ks], rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("k", [0, 37, 128, 255])
def test_pixel_bounds(k: int) -> None:
    sigmas = np.logspace(0.0, -100.0, 201)
    cv = pixel_bounds.pixel_curves(k, sigmas, sigma_min=0.01)
    assert np.all(np.diff(cv["gaussian"]) > 0) and cv["gaussian"][-1] > 200.0  # unbounded density
    assert np.all(cv["discretized"] <= 0.0) and cv["discretized"][-1] > -1e-12  # a probability, -> 1
    ceiling = -0.5 * math.log(2 * math.pi * 0.01**2)
    np.testing.assert_allclose(pixel_bounds.ceiling(0.01), ceiling, rtol=1e-12)
    assert np.all(cv["floored"] <= ceiling + 1e-12)
    np.testing.assert_allclose(cv["floored"][sigmas <= 0.01], ceiling, rtol=1e-12)


def test_imperfect_reconstruction_peaks_at_the_error() -> None:
    sigmas = np.logspace(-1.0, -4.0, 3001)
    err = 3.0 / 255.0
    cv = pixel_bounds.pixel_curves(100, sigmas, sigma_min=1e-3, error=err)
    np.testing.assert_allclose(sigmas[np.argmax(cv["gaussian"])], err, rtol=3e-3)


# ------------------------------------------------------------------------------------------ the page
def _lab_page(tab: str | None = None):
    """The page as opened from a URL naming ``tab`` (the default tab without one)."""
    testing = pytest.importorskip("streamlit.testing.v1")
    at = testing.AppTest.from_file(str(PAGE), default_timeout=60)
    if tab:
        at.query_params["lab_tab"] = tab
    at.run()
    assert not at.exception
    return at


def test_page_runs_and_reacts() -> None:
    at = _lab_page()
    assert len(at.session_state["lab_em"]["lls"]) == 1
    at.button(key="lab_em_step").click().run()
    assert not at.exception
    lls = at.session_state["lab_em"]["lls"]
    assert len(lls) == 2 and lls[1] >= lls[0]
    at.button(key="lab_em_run").click().run()
    assert not at.exception
    assert np.all(np.diff(at.session_state["lab_em"]["lls"]) >= -1e-12)
    at.slider(key="lab_sing_sigma").set_value(-100.0).run()
    at.radio(key="lab_gmm_dim").set_value(1).run()
    assert not at.exception

    at = _lab_page("Linear VAE = pPCA")
    before = [m.value for m in at.metric]
    at.select_slider(key="lab_ppca_sigma2").set_value(1.0).run()
    assert not at.exception
    assert [m.value for m in at.metric] != before
    _lab_page("One data point").select_slider(key="lab_pt_dim").set_value(784).run()
    at = _lab_page("One pixel")
    at.slider(key="lab_px_value").set_value(0).run()
    assert not at.exception


def test_only_the_open_tab_runs() -> None:
    """Hidden tabs draw nothing (the page's rerun time is one tab's), and a URL opens the tab it names."""
    at = _lab_page("One pixel")
    assert at.session_state["lab_tab"] == "One pixel"
    assert [s.key for s in at.slider] == ["lab_px_value", "lab_px_err"]  # only the one-pixel widgets
    assert "lab_em" not in at.session_state  # EM was never run


def test_single_thread_restores_the_setting() -> None:
    from vae_core.lab import single_thread

    before = torch.get_num_threads()
    torch.set_num_threads(2)  # not 1 already (the test workers run one thread each: conftest.py)
    try:
        with single_thread():
            with single_thread():
                assert torch.get_num_threads() == 1
            assert torch.get_num_threads() == 1
        assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(before)
