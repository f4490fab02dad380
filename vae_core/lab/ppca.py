"""Probabilistic PCA in closed form, and the linear VAE whose ELBO reaches its likelihood.

pPCA (Tipping & Bishop 1999): z ~ N(0, I_q), x | z ~ N(W z + mu, sigma^2 I_d), so x ~ N(mu, C) with
C = W W^T + sigma^2 I. With S = U Lambda U^T the sample covariance (1/N) and sigma^2 held fixed, the
maximum of the log-likelihood is at mu = mean(x), W = U_q (Lambda_q - sigma^2 I)^{1/2} R, where a column whose
eigenvalue is <= sigma^2 is zero: only the directions with more variance than the noise survive.

The linear VAE (Lucas et al. 2019, "Don't Blame the ELBO", sec. 4): encoder q(z | x) = N(V (x - mu), D)
with D diagonal, decoder p(x | z) = N(W z + mu, sigma^2 I). Its ELBO is analytic, and at its global optimum
it is tight and equals the pPCA maximum log-likelihood; the latent dimensions whose eigenvalue is <= sigma^2
collapse (w_j = 0, q(z_j | x) = p(z_j)).

Dimension reduction, exact: the model is rotation-equivariant, so everything is done in the eigenbasis of S,
where S is diagonal. The ML solution lies in the span of the top min(q, #{lambda > sigma^2}) eigenvectors,
so the linear VAE is trained on the top-k coordinates only (k >= q); the other d - k directions contribute a
constant -1/2 sum_j (log 2 pi sigma^2 + lambda_j / sigma^2) to both the ELBO and the log-likelihood, which is
added back. The optimum, hence the comparison, is the same as on all d pixels, at a cost independent of d.
"""
from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

import numpy as np
import torch

from . import single_thread

LOG_2PI = float(np.log(2.0 * np.pi))


@dataclass(frozen=True)
class Spectrum:
    mean: np.ndarray  # (d,)
    eigvals: np.ndarray  # (d,) eigenvalues of the sample covariance (1/N), descending, clipped at 0
    eigvecs: np.ndarray  # (d, d) the matching eigenvectors as columns
    n: int  # number of data points


@dataclass(frozen=True)
class LinearVAEFit:
    w: np.ndarray  # (k, q) decoder weight in the eigenbasis (top-k coordinates)
    v: np.ndarray  # (q, k) encoder weight
    log_d: np.ndarray  # (q,) log of the encoder's diagonal variance
    steps: np.ndarray  # (T,) optimiser steps at which the history was recorded
    elbo: np.ndarray  # (T,) ELBO per data point (nats), all d dimensions
    log_lik: np.ndarray  # (T,) exact log p(x; W_t) per data point (nats), all d dimensions
    kl_per_dim: np.ndarray  # (q,) mean over the data of KL(q(z_j | x) || N(0, 1)) at the end


def spectrum(x: np.ndarray) -> Spectrum:
    """Mean and eigen-decomposition of the sample covariance of x (N, d), float64 (torch, one thread)."""
    with single_thread():
        xt = torch.as_tensor(np.asarray(x, dtype=np.float64))
        mean = xt.mean(dim=0)  # (d,)
        xc = xt - mean
        vals, vecs = torch.linalg.eigh(xc.T @ xc / xt.shape[0])  # ascending
    vals, vecs = vals.flip(0).numpy(), vecs.flip(1).numpy()
    return Spectrum(mean.numpy(), np.clip(vals, 0.0, None), np.ascontiguousarray(vecs), xt.shape[0])


def n_surviving(eigvals: np.ndarray, sigma2: float, n_latent: int) -> int:
    """Latent dimensions with a non-zero ML column: min(q, #{lambda_j > sigma^2})."""
    return int(min(n_latent, np.sum(eigvals > sigma2)))


def ppca_ml_weights(spec: Spectrum, sigma2: float, n_latent: int) -> np.ndarray:
    """W = U_q (Lambda_q - sigma^2 I)^{1/2} (R = I), zero columns where lambda <= sigma^2: (d, q)."""
    lam = spec.eigvals[:n_latent]  # (q',) q' = min(q, d)
    w = np.zeros((spec.eigvecs.shape[0], n_latent))
    w[:, : len(lam)] = spec.eigvecs[:, : len(lam)] * np.sqrt(np.clip(lam - sigma2, 0.0, None))
    return w


def ppca_sigma2_ml(eigvals: np.ndarray, n_latent: int) -> float:
    """The ML noise variance if learned too: the mean of the discarded eigenvalues (Tipping & Bishop 1999)."""
    return float(np.mean(eigvals[n_latent:]))


def ppca_log_lik_closed(spec: Spectrum, sigma2: float, n_latent: int) -> float:
    """Maximum log-likelihood per data point for fixed sigma^2, from the eigenvalues alone.

    At the optimum C has eigenvalues lambda_j (surviving j) and sigma^2 (the rest), so
    log p = -1/2 [d log 2 pi + sum_surv log lambda_j + sum_rest (log sigma^2 + lambda_j / sigma^2) + #surv].
    """
    lam = spec.eigvals
    surv = np.zeros(len(lam), dtype=bool)
    surv[: n_surviving(lam, sigma2, n_latent)] = True
    total = np.sum(np.log(lam[surv])) + np.sum(np.log(sigma2) + lam[~surv] / sigma2) + surv.sum()
    return float(-0.5 * (len(lam) * LOG_2PI + total))


def ppca_log_lik_direct(x: np.ndarray, mean: np.ndarray, w: np.ndarray, sigma2: float) -> float:
    """Mean of log N(x_i; mean, W W^T + sigma^2 I) over the rows of x (N, d), by a Cholesky factor of C."""
    d = x.shape[1]
    c = w @ w.T + sigma2 * np.eye(d)  # (d, d)
    chol = np.linalg.cholesky(c)
    sol = np.linalg.solve(chol, (x - mean).T)  # (d, N)
    maha = np.sum(sol**2, axis=0)  # (N,)
    return float(np.mean(-0.5 * (d * LOG_2PI + maha) - np.sum(np.log(np.diag(chol)))))


def _rest_constant(eigvals: np.ndarray, k: int, sigma2: float) -> float:
    """What the d - k directions outside the training subspace add per point (W, V are zero there)."""
    rest = eigvals[k:]
    return float(-0.5 * np.sum(LOG_2PI + np.log(sigma2) + rest / sigma2))


def linear_vae_elbo(lam: torch.Tensor, w: torch.Tensor, v: torch.Tensor, log_d: torch.Tensor,
                    sigma2: float) -> torch.Tensor:
    """Analytic ELBO per data point in the eigenbasis, where the sample covariance is diag(lam) (k,).

    E_q log p(x | z) = -k/2 log 2 pi sigma^2 - 1/(2 sigma^2) E_x[ ||(I - W V) x||^2 + tr(W D W^T) ]
    KL(q || N(0, I)) = 1/2 E_x[ tr D + ||V x||^2 - q - log det D ]           (Lucas et al. 2019, app. C)
    with E_x[||A x||^2] = tr(A S A^T) for centred x. Shapes: w (k, q), v (q, k), log_d (q,).
    """
    k, q = w.shape
    dvar = torch.exp(log_d)  # (q,)
    resid = torch.eye(k, dtype=w.dtype) - w @ v  # (k, k)
    rec_err = torch.sum(resid**2 * lam) + torch.sum(dvar * torch.sum(w**2, dim=0))
    rec = -0.5 * k * (LOG_2PI + np.log(sigma2)) - rec_err / (2.0 * sigma2)
    kl = 0.5 * (torch.sum(dvar) + torch.sum(v**2 * lam) - q - torch.sum(log_d))
    return rec - kl


def linear_vae_kl_per_dim(lam: torch.Tensor, v: torch.Tensor, log_d: torch.Tensor) -> torch.Tensor:
    """Mean over the data of KL(q(z_j | x) || N(0, 1)) for each latent j: (q,). Zero means collapsed."""
    return 0.5 * (torch.exp(log_d) + torch.sum(v**2 * lam, dim=1) - 1.0 - log_d)


def exact_log_lik_eigenbasis(lam: torch.Tensor, w: torch.Tensor, sigma2: float) -> torch.Tensor:
    """log N(x; mu, W W^T + sigma^2 I) per point for data with covariance diag(lam) (k,): -1/2[..]."""
    k = w.shape[0]
    c = w @ w.T + sigma2 * torch.eye(k, dtype=w.dtype)  # (k, k)
    chol = torch.linalg.cholesky(c)
    logdet = 2.0 * torch.sum(torch.log(torch.diagonal(chol)))
    trace = torch.sum(torch.diagonal(torch.cholesky_solve(torch.diag(lam), chol)))  # tr(C^{-1} S)
    return -0.5 * (k * LOG_2PI + logdet + trace)


def lbfgs_ascent(f: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor,
                 history: int = 20) -> Iterator[torch.Tensor]:
    """Maximise f from x (flat, float64) by L-BFGS (Nocedal & Wright 2006, alg. 7.4), yielding each iterate.

    Directions from the two-loop recursion over the last ``history`` steps, step sizes by backtracking until
    Armijo's condition holds; a non-ascent direction restarts from the gradient. Stops (the generator ends)
    when no step raises f in float64. Written out rather than ``torch.optim.LBFGS`` because constructing any
    torch optimiser imports torch._dynamo, which costs 2 s on first use.
    """

    def value_grad(z: torch.Tensor) -> tuple[float, torch.Tensor]:
        z = z.detach().requires_grad_()
        value = f(z)
        (grad,) = torch.autograd.grad(value, z)
        return float(value.detach()), grad

    value, grad = value_grad(x)
    steps: list[tuple[torch.Tensor, torch.Tensor, float]] = []  # (s, y, 1 / y.s) with y = grad change
    while True:
        q = grad.clone()  # ascent: work with g = grad f, H approximates (-hessian)^{-1}
        alphas = []
        for s, y, rho in reversed(steps):
            a = rho * float(s @ q)
            q -= a * y
            alphas.append(a)
        if steps:
            s, y, _ = steps[-1]
            q *= float(s @ y) / float(y @ y)
        else:
            q /= max(1.0, float(q.norm()))  # a cautious first step
        for (s, y, rho), a in zip(steps, reversed(alphas), strict=True):
            q += (a - rho * float(y @ q)) * s
        slope = float(grad @ q)
        if slope <= 0.0:  # not an ascent direction: forget the curvature pairs
            steps.clear()
            q, slope = grad / max(1.0, float(grad.norm())), float(grad @ grad) / max(1.0, float(grad.norm()))
        t = 1.0
        while True:
            new_x = x + t * q
            new_value, new_grad = value_grad(new_x)
            if new_value >= value + 1e-4 * t * slope:
                break
            t *= 0.5
            if t < 1e-12:
                return  # no further progress possible in float64
        s, y = new_x - x, grad - new_grad  # y = change of the gradient of -f
        sy = float(s @ y)
        if sy > 1e-12 * float(y @ y):
            steps.append((s, y, 1.0 / sy))
            del steps[:-history]
        x, value, grad = new_x, new_value, new_grad
        yield x


def train_linear_vae(spec: Spectrum, sigma2: float, n_latent: int, max_iter: int = 1000, seed: int = 0,
                     subspace: int | None = None, record_every: int = 10, tol: float = 1e-10) -> LinearVAEFit:
    """Maximise the linear VAE's analytic ELBO by full-batch gradient ascent (L-BFGS, float64).

    Trained on the top ``subspace`` eigen-coordinates (default q; module docstring: the optimum is the same as
    on all d pixels). Initialised small and random, so nothing starts collapsed or aligned with the axes.
    Stops after ``max_iter`` L-BFGS iterations, or when a block of ``record_every`` iterations raises the ELBO
    by less than ``tol`` nats.
    """
    with single_thread():
        return _train_linear_vae(spec, sigma2, n_latent, max_iter, seed, subspace, record_every, tol)


def _train_linear_vae(spec: Spectrum, sigma2: float, n_latent: int, max_iter: int, seed: int,
                      subspace: int | None, record_every: int, tol: float) -> LinearVAEFit:
    d, q = len(spec.eigvals), n_latent
    k = min(d, subspace or q)
    if k < min(q, d):
        raise ValueError(f"subspace {k} must be at least the latent dimension {q}")
    lam = torch.as_tensor(spec.eigvals[:k], dtype=torch.float64)  # (k,)
    rest = _rest_constant(spec.eigvals, k, sigma2)
    gen = torch.Generator().manual_seed(seed)
    w0 = 0.1 * torch.randn(k, q, generator=gen, dtype=torch.float64)  # (k, q)
    v0 = 0.1 * torch.randn(q, k, generator=gen, dtype=torch.float64)  # (q, k)
    theta = torch.cat([w0.ravel(), v0.ravel(), torch.zeros(q, dtype=torch.float64)])  # (2kq + q,); log D = 0

    def unpack(t: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        return t[: k * q].view(k, q), t[k * q: 2 * k * q].view(q, k), t[2 * k * q:]

    def objective(t: torch.Tensor) -> torch.Tensor:
        return linear_vae_elbo(lam, *unpack(t), sigma2)

    rec_steps: list[int] = []
    elbos: list[float] = []
    lls: list[float] = []

    def record(step: int, t: torch.Tensor) -> None:
        rec_steps.append(step)
        elbos.append(float(objective(t)) + rest)
        lls.append(float(exact_log_lik_eigenbasis(lam, unpack(t)[0], sigma2)) + rest)

    record(0, theta)
    step = 0
    for step, iterate in enumerate(lbfgs_ascent(objective, theta), start=1):
        theta = iterate
        if step % record_every == 0:
            record(step, theta)
            if abs(elbos[-1] - elbos[-2]) < tol:
                break
        if step >= max_iter:
            break
    if rec_steps[-1] != step:
        record(step, theta)
    w, v, log_d = unpack(theta)
    kl = linear_vae_kl_per_dim(lam, v, log_d).numpy()
    return LinearVAEFit(w.numpy().copy(), v.numpy().copy(), log_d.numpy().copy(), np.asarray(rec_steps),
                        np.asarray(elbos), np.asarray(lls), kl)


def active_dims(kl_per_dim: np.ndarray, threshold: float = 1e-2) -> int:
    """Latent dimensions whose mean KL to the prior exceeds ``threshold`` nats (Lucas et al.'s collapse).

    At the optimum a surviving dimension has KL = 1/2 log(lambda_j / sigma^2), a collapsed one 0, so the count
    agrees with #{lambda_j > sigma^2} except for eigenvalues within a factor exp(2 threshold) of sigma^2.
    """
    return int(np.sum(kl_per_dim > threshold))
