"""Gaussian mixtures fitted by EM, and the singularity of their likelihood (numpy, float64).

EM (Dempster, Laird & Rubin 1977) alternates the E-step q_i(z) = p(z | x_i; theta) with the M-step
theta <- argmax sum_i ELBO(x_i; q_i, theta); the log-likelihood never decreases (seed 003). The M-step here is
the exact maximiser for full covariances, the same updates as ``sklearn.mixture.GaussianMixture`` with
``reg_covar=0`` (which the tests check).

The likelihood itself has no maximum: put one component's mean on a data point and let its variance go to
zero, and that point's density, hence the log-likelihood, grows without bound while the other components keep
every other point's density positive (Bishop 2006, sec. 9.2.1; Mattei & Frellsen 2018 for deep latent
variable models). ``singularity_curve`` computes that path exactly.
"""
from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

LOG_2PI = float(np.log(2.0 * np.pi))


class SingularComponentError(FloatingPointError):
    """A component's covariance stopped being positive definite: it collapsed onto too few points."""


@dataclass(frozen=True)
class GMMParams:
    weights: np.ndarray  # (K,) mixing proportions, sum to 1
    means: np.ndarray  # (K, D)
    covs: np.ndarray  # (K, D, D) full covariances

    @property
    def n_components(self) -> int:
        return int(self.weights.shape[0])


@dataclass(frozen=True)
class EMRun:
    params: list[GMMParams]  # theta_0 .. theta_T
    log_liks: np.ndarray  # (T + 1,) mean log-likelihood per point of each theta_t
    converged: bool
    collapsed: str | None = None  # why EM stopped at a singular covariance, if it did


def make_data(n_components: int, n_points: int, dim: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Points from a random mixture: means in [-6, 6]^D, random covariances. Returns X (N, D), labels (N,)."""
    rng = np.random.default_rng(seed)
    means = rng.uniform(-6.0, 6.0, size=(n_components, dim))  # (K, D)
    weights = rng.dirichlet(np.full(n_components, 5.0))  # (K,)
    labels = rng.choice(n_components, size=n_points, p=weights)  # (N,)
    x = np.empty((n_points, dim))
    for k in range(n_components):
        a = rng.normal(size=(dim, dim)) * rng.uniform(0.3, 1.0)  # (D, D)
        cov = a @ a.T / dim + 0.1 * np.eye(dim)
        idx = labels == k
        x[idx] = rng.multivariate_normal(means[k], cov, size=int(idx.sum()))
    return x, labels


def init_params(x: np.ndarray, n_components: int, seed: int) -> GMMParams:
    """Means on K distinct random data points, every covariance the data covariance, equal weights."""
    rng = np.random.default_rng(seed + 1_000_003)
    n, d = x.shape
    means = x[rng.choice(n, size=n_components, replace=False)].copy()  # (K, D)
    cov = np.atleast_2d(np.cov(x.T, bias=True))  # (D, D)
    return GMMParams(np.full(n_components, 1.0 / n_components), means, np.repeat(cov[None], n_components, 0))


def component_log_pdf(x: np.ndarray, params: GMMParams) -> np.ndarray:
    """log w_k + log N(x_i; m_k, C_k) for every point and component: (N, K)."""
    n, d = x.shape
    out = np.empty((n, params.n_components))
    for k in range(params.n_components):
        try:
            chol = np.linalg.cholesky(params.covs[k])  # (D, D) lower
        except np.linalg.LinAlgError as e:
            raise SingularComponentError(f"component {k} has a singular covariance") from e
        diag = np.diag(chol)
        if not np.all(diag > 0) or not np.all(np.isfinite(diag)):
            raise SingularComponentError(f"component {k} has a singular covariance")
        sol = np.linalg.solve(chol, (x - params.means[k]).T)  # (D, N) = L^{-1}(x - m)
        maha = np.sum(sol**2, axis=0)  # (N,)
        out[:, k] = np.log(params.weights[k]) - 0.5 * (d * LOG_2PI + maha) - np.sum(np.log(diag))
    return out


def _logsumexp(a: np.ndarray, axis: int) -> np.ndarray:
    m = np.max(a, axis=axis, keepdims=True)
    m = np.where(np.isfinite(m), m, 0.0)
    return np.squeeze(m, axis) + np.log(np.sum(np.exp(a - m), axis=axis))


def point_log_lik(x: np.ndarray, params: GMMParams) -> np.ndarray:
    """log p(x_i; theta) for every point: (N,)."""
    return _logsumexp(component_log_pdf(x, params), axis=1)


def log_likelihood(x: np.ndarray, params: GMMParams) -> float:
    """Mean log-likelihood per point, (1/N) sum_i log sum_k w_k N(x_i; m_k, C_k) (sklearn's ``score``)."""
    return float(np.mean(point_log_lik(x, params)))


def e_step(x: np.ndarray, params: GMMParams) -> tuple[np.ndarray, float]:
    """Responsibilities r_ik = p(z_i = k | x_i; theta) (N, K), and the mean log-likelihood of theta."""
    logp = component_log_pdf(x, params)  # (N, K)
    norm = _logsumexp(logp, axis=1)  # (N,)
    return np.exp(logp - norm[:, None]), float(np.mean(norm))


def m_step(x: np.ndarray, resp: np.ndarray, reg_covar: float = 0.0) -> GMMParams:
    """The exact maximiser of sum_i E_{r_i}[log p(x_i, z; theta)]: weighted counts, means, covariances."""
    n, d = x.shape
    nk = resp.sum(axis=0)  # (K,)
    if np.any(nk <= 0):
        raise SingularComponentError("a component lost all its points")
    means = resp.T @ x / nk[:, None]  # (K, D)
    covs = np.empty((resp.shape[1], d, d))
    for k in range(resp.shape[1]):
        diff = x - means[k]  # (N, D)
        covs[k] = (resp[:, k, None] * diff).T @ diff / nk[k] + reg_covar * np.eye(d)
    return GMMParams(nk / n, means, covs)


def em_step(x: np.ndarray, params: GMMParams, reg_covar: float = 0.0) -> tuple[GMMParams, float]:
    """One E-step and M-step: (theta_{t+1}, mean log-likelihood of theta_t)."""
    resp, ll = e_step(x, params)
    return m_step(x, resp, reg_covar), ll


def run_em(x: np.ndarray, params: GMMParams, max_iter: int = 500, tol: float = 1e-9,
           reg_covar: float = 0.0) -> EMRun:
    """EM from ``params`` until the mean log-likelihood changes by less than ``tol`` or ``max_iter`` steps.

    If a component collapses onto too few points (the singularity, met by EM itself) the run stops there
    and says so in ``collapsed``.
    """
    history, lls = [params], [log_likelihood(x, params)]
    for _ in range(max_iter):
        try:
            params, _ = em_step(x, params, reg_covar)
            ll = log_likelihood(x, params)
        except SingularComponentError as e:
            return EMRun(history, np.asarray(lls), False, f"step {len(history)}: {e}")
        history.append(params)
        lls.append(ll)
        if abs(lls[-1] - lls[-2]) < tol:
            return EMRun(history, np.asarray(lls), True)
    return EMRun(history, np.asarray(lls), False)


def pin_component(params: GMMParams, k: int, point: np.ndarray, sigma: float) -> GMMParams:
    """Component k moved onto ``point`` (D,) with covariance sigma^2 I; the other components unchanged."""
    means, covs = params.means.copy(), params.covs.copy()
    means[k] = point
    covs[k] = sigma**2 * np.eye(means.shape[1])
    return replace(params, means=means, covs=covs)


def singularity_curve(x: np.ndarray, params: GMMParams, k: int, i: int, sigmas: np.ndarray) -> np.ndarray:
    """Total log-likelihood with component k pinned on x_i at each standard deviation in ``sigmas`` (S,).

    Every other parameter stays frozen. As sigma -> 0 the term of x_i behaves like log w_k - D log sigma:
    the sum has no upper bound. Returns (S,), in nats summed over the N points.
    """
    return np.array([point_log_lik(x, pin_component(params, k, x[i], float(s))).sum() for s in sigmas])


def pinned_em(x: np.ndarray, params: GMMParams, k: int, max_iter: int = 200, tol: float = 1e-10) -> GMMParams:
    """EM in which component k keeps its mean and covariance; its weight and all other components are fitted.

    A generalized EM (Dempster, Laird & Rubin 1977): the M-step maximises over every free parameter exactly,
    so the log-likelihood still never decreases.
    """
    prev = -np.inf
    for _ in range(max_iter):
        resp, ll = e_step(x, params)
        new = m_step(x, resp)
        means, covs = new.means.copy(), new.covs.copy()
        means[k], covs[k] = params.means[k], params.covs[k]
        params = replace(new, means=means, covs=covs)
        if abs(ll - prev) < tol:
            break
        prev = ll
    return params


def singularity_profile(x: np.ndarray, params: GMMParams, k: int, i: int, sigmas: np.ndarray,
                        max_iter: int = 200, tol: float = 1e-10) -> tuple[np.ndarray, list[GMMParams]]:
    """As ``singularity_curve``, but at each sigma the other parameters are re-fitted by ``pinned_em``.

    ``sigmas`` should decrease: each fit starts from the previous one. This is the profile log-likelihood
    sup_{theta_rest} log p(X; theta) along the collapsing path; once the spike covers x_i alone it rises by
    D nats per e-fold of sigma, for ever. Returns (S,) nats summed over the N points, and the S fits; both
    shorter than ``sigmas`` if a second component collapses on the way.
    """
    out, fits = [], []
    current = params
    for s in sigmas:
        try:
            current = pinned_em(x, pin_component(current, k, x[i], float(s)), k, max_iter, tol)
            out.append(point_log_lik(x, current).sum())
        except SingularComponentError:
            break  # another component collapsed as well: the path ends here (shorter than sigmas)
        fits.append(current)
    return np.asarray(out), fits


def crossing_log10_sigma(sigma_end: float, ll_end: float, target: float, dim: int) -> float:
    """log10 of the sigma where a path rising D nats per e-fold from (sigma_end, ll_end) reaches target.

    Valid once the spike is isolated (its density at every other point underflows), where the path is
    exactly ll_end - D log(sigma / sigma_end).
    """
    return float(np.log10(sigma_end) - max(target - ll_end, 0.0) / (dim * np.log(10.0)))


def nearest_neighbour_distance(x: np.ndarray, i: int) -> float:
    """Distance from x_i to the closest other point: below it the pinned spike isolates x_i."""
    d = np.linalg.norm(x - x[i], axis=1)
    d[i] = np.inf
    return float(d.min())


def ellipse(mean: np.ndarray, cov: np.ndarray, n_std: float = 2.0, n: int = 60) -> np.ndarray:
    """Points (n, 2) on the n_std contour of a 2-D Gaussian, for drawing."""
    t = np.linspace(0.0, 2.0 * np.pi, n)
    circle = np.stack([np.cos(t), np.sin(t)])  # (2, n)
    return (mean[:, None] + n_std * np.linalg.cholesky(cov) @ circle).T


def mixture_pdf_1d(grid: np.ndarray, params: GMMParams) -> np.ndarray:
    """Weighted component densities on a 1-D grid (G,): (G, K); their row sum is the mixture density."""
    return np.exp(component_log_pdf(grid[:, None], params))
