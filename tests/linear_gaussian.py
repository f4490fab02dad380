"""A linear-Gaussian latent variable model with a closed-form marginal, for checking log-likelihood estimators:
x = W z + b + sigma eps, z ~ N(0, I_L), eps ~ N(0, I_D), so p(x) = N(b, W W^T + sigma^2 I) and the posterior is
Gaussian. Exposes what the estimators use of a VAE: encode, decode, prior, config.latent_dim, device, eval."""
from __future__ import annotations

from types import SimpleNamespace

import torch
from torch.distributions import Independent, MultivariateNormal, Normal


class LinearGaussianModel:
    """``shift`` and ``inflate`` make q(z|x) deliberately imperfect: the exact posterior mean shifted by ``shift``
    posterior standard deviations, its marginal std scaled by ``inflate``. ``sigma`` sets how sharp p(x|z) is;
    ``spread`` > 1 scales W's columns from 1 to ``spread`` (geometrically), so the posterior's widths differ by about
    that factor between the first latent dimension and the last."""

    def __init__(self, data_dim: int = 5, latent_dim: int = 2, sigma: float = 0.5, seed: int = 0,
                 shift: float = 1.0, inflate: float = 1.8, spread: float = 1.0):
        g = torch.Generator().manual_seed(seed)
        self.D, self.L = data_dim, latent_dim
        columns = spread ** torch.linspace(0, 1, latent_dim, dtype=torch.float64)  # (L,)
        self.W = torch.randn(data_dim, latent_dim, generator=g, dtype=torch.float64) * columns
        self.b = torch.randn(data_dim, generator=g, dtype=torch.float64)
        self.sigma = sigma
        self.config = SimpleNamespace(latent_dim=latent_dim)
        self.device = torch.device("cpu")
        eye = torch.eye(latent_dim, dtype=torch.float64)
        # exact posterior: S = (I + W^T W / s^2)^-1, m = S W^T (x - b) / s^2
        self.S = torch.linalg.inv(eye + self.W.T @ self.W / sigma**2)
        self.A = self.S @ self.W.T / sigma**2  # (L, D)
        self.q_std = self.S.diagonal().sqrt() * inflate
        self.q_shift = self.S.diagonal().sqrt() * shift

    def eval(self):
        return self

    def prior(self) -> Independent:
        zeros = torch.zeros(self.L, dtype=torch.float64)
        return Independent(Normal(zeros, torch.ones_like(zeros)), 1)

    def encode(self, x) -> Independent:
        loc = (x - self.b) @ self.A.T + self.q_shift  # (B, L)
        return Independent(Normal(loc, self.q_std.expand_as(loc)), 1)

    def decode(self, z, x=None) -> Independent:
        loc = z @ self.W.T + self.b  # (N, D)
        return Independent(Normal(loc, torch.full_like(loc, self.sigma)), 1)

    def marginal(self) -> MultivariateNormal:
        cov = self.W @ self.W.T + self.sigma**2 * torch.eye(self.D, dtype=torch.float64)
        return MultivariateNormal(self.b, covariance_matrix=cov)
