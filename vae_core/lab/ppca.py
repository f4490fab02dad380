"""Probabilistic PCA in closed form, and the linear VAE whose ELBO reaches its likelihood.

pPCA (Tipping & Bishop 1999): z ~ N(0, I_q), x | z ~ N(W z + mu, sigma^2 I_d), so x ~ N(mu, C) with
C = W W^T + sigma^2 I. With S = U Lambda U^T the sample covariance (1/N) and sigma^2 held fixed, the maximum
of the log-likelihood is at mu = mean(x), W = U_q (Lambda_q - sigma^2 I)^{1/2} R, where a column whose eigenvalue
is <= sigma^2 is zero: only the directions with more variance than the noise survive.

The linear VAE (Lucas et al. 2019, "Don't Blame the ELBO", sec. 4): encoder q(z | x) = N(V (x - mu), D) with D
diagonal, decoder p(x | z) = N(W z + mu, sigma^2 I). Its ELBO is analytic, and at its global optimum it is
tight and equals the pPCA maximum log-likelihood; the latent dimensions whose eigenvalue is <= sigma^2 collapse
(w_j = 0, q(z_j | x) = p(z_j)).

Dimension reduction, exact: the model is rotation-equivariant, so everything is done in the eigenbasis of S,
where S is diagonal. The ML solution lies in the span of the top min(q, #{lambda > sigma^2}) eigenvectors,
so the linear VAE is trained on the top-k coordinates only (k >= q); the other d - k directions contribute a
constant -1/2 sum_j (log 2 pi sigma^2 + lambda_j / sigma^2) to both the ELBO and the log-likelihood, which is
added back. The optimum, hence the comparison, is the same as on all d pixels, at a cost independent of d.
"""
from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np
import torch

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
    """Mean and eigen-decomposition of the sample covariance of x (N, d), float64."""
    x = np.asarray(x, dtype=np.float64)
    mean = x.mean(axis=0)  # (d,)
    xc = x - mean
    s = xc.T @ xc / x.shape[0]  # (d, d)
    vals, vecs = np.linalg.eigh(s)
    order = np.argsort(vals)[::-1]
    return Spectrum(mean, np.clip(vals[order], 0.0, None), vecs[:, order], x.shape[0])


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
    """The ML noise variance when it is learned too: the mean of the discarded eigenvalues (Tipping & Bishop)."""
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


@contextmanager
def single_thread() -> Iterator[None]:
    """Run torch on one intra-op thread, then restore the setting.

    The matrices here are at most 64 x 64: threads only add synchronisation, and on a shared 2-core machine
    that made the L-BFGS loop about ten times slower.
    """
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


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
    d = len(spec.eigvals)
    k = min(d, subspace or n_latent)
    if k < min(n_latent, d):
        raise ValueError(f"subspace {k} must be at least the latent dimension {n_latent}")
    lam = torch.as_tensor(spec.eigvals[:k], dtype=torch.float64)  # (k,)
    rest = _rest_constant(spec.eigvals, k, sigma2)
    gen = torch.Generator().manual_seed(seed)
    w = (0.1 * torch.randn(k, n_latent, generator=gen, dtype=torch.float64)).requires_grad_()  # (k, q)
    v = (0.1 * torch.randn(n_latent, k, generator=gen, dtype=torch.float64)).requires_grad_()  # (q, k)
    log_d = torch.zeros(n_latent, dtype=torch.float64, requires_grad=True)  # (q,)
    opt = torch.optim.LBFGS([w, v, log_d], lr=1.0, max_iter=record_every, history_size=50,
                            line_search_fn="strong_wolfe", tolerance_grad=1e-12, tolerance_change=1e-15)

    def closure() -> torch.Tensor:
        opt.zero_grad()
        loss = -linear_vae_elbo(lam, w, v, log_d, sigma2)
        loss.backward()
        return loss

    def record(step: int) -> None:
        with torch.no_grad():
            rec_steps.append(step)
            elbos.append(float(linear_vae_elbo(lam, w, v, log_d, sigma2)) + rest)
            lls.append(float(exact_log_lik_eigenbasis(lam, w, sigma2)) + rest)

    rec_steps: list[int] = []
    elbos: list[float] = []
    lls: list[float] = []
    record(0)
    for block in range(1, max_iter // record_every + 1):
        opt.step(closure)
        record(block * record_every)
        if abs(elbos[-1] - elbos[-2]) < tol:
            break
    with torch.no_grad():
        kl = linear_vae_kl_per_dim(lam, v, log_d).numpy()
    return LinearVAEFit(w.detach().numpy(), v.detach().numpy(), log_d.detach().numpy(), np.asarray(rec_steps),
                        np.asarray(elbos), np.asarray(lls), kl)


def active_dims(kl_per_dim: np.ndarray, threshold: float = 1e-2) -> int:
    """Latent dimensions whose mean KL to the prior exceeds ``threshold`` nats (Lucas et al.'s collapse).

    At the optimum a surviving dimension has KL = 1/2 log(lambda_j / sigma^2), a collapsed one 0, so the count
    agrees with #{lambda_j > sigma^2} except for eigenvalues within a factor exp(2 threshold) of sigma^2.
    """
    return int(np.sum(kl_per_dim > threshold))
