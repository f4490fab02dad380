r"""The one-datapoint ELBO from the Q&A seed (002), derived with the signs right.

Setting (the seed's, generalised). One data point x in R^D; a scalar latent z with prior N(0, 1); a decoder
whose mean passes through the point, mu(z) = x + a z with a in R^D, ||a|| = g (the seed's identity decoder is
D = 1, g = 1, x = 0), and precision tau: p(x | z) = N(x; x + a z, tau^{-1} I_D); an encoder
q(z) = N(0, s^2) (its mean is 0 by symmetry). Then

    E_q[log p(x | z)] = D/2 log(tau / 2 pi) - tau/2 E_q ||a z||^2  = D/2 log(tau / 2 pi) - (tau g^2 / 2) s^2
    KL(q || p(z))     = 1/2 (s^2 - 1 - log s^2)                    = s^2 / 2 - 1/2 - log s
    ELBO(s, tau)      = -lambda' s^2 + log s + D/2 log(tau / 2 pi) + 1/2,     lambda' = lambda + 1/2,

with lambda = tau g^2 / 2 "proportional to the precision". The seed writes +lambda s^2 and
lambda' = lambda - 1/2: but the expected log-likelihood *falls* with s, so the sign is minus and
lambda' = lambda + 1/2 > 0 for every tau > 0 (the seed's condition lambda > 1/2 is an artefact of the slip).
Setting d ELBO / ds = -2 lambda' s + 1/s to zero gives the seed's optimum

    s* = (2 lambda')^{-1/2} = (1 + tau g^2)^{-1/2},

a maximum (d^2 ELBO / ds^2 = -2 lambda' - 1/s^2 < 0). It is the exact posterior standard deviation
(posterior precision 1 + tau g^2), so the bound is tight there:

    ELBO(s*, tau) = D/2 log(tau / 2 pi) - 1/2 log(1 + tau g^2) = log N(x; x, a a^T + tau^{-1} I) = log p(x).

Growth without bound. For a fixed s and g > 0 the ELBO goes to -infinity as tau grows (the commenter's
"fix sigma, take lambda large" only diverges upwards with the seed's wrong sign). But the encoder follows:
max_s ELBO = log p(x) = (D - 1)/2 log tau - 1/2 log(g^2 + 1/tau) - D/2 log 2 pi, which

- for D = 1 (the seed's toy) increases to the finite limit -1/2 log(2 pi g^2): here the KL term does keep
  it bounded;
- for D >= 2, i.e. whenever the data has more dimensions than the latent (every image), grows like
  (D - 1)/2 log tau without bound: the point lies on the decoder's one-dimensional manifold, and the marginal
  density there is infinite in the limit (Mattei & Frellsen 2018, sec. 2.1);
- for a decoder that ignores z near the point (g -> 0) grows like D/2 log tau, even for D = 1.

So the KL term bounds the posterior width, not the likelihood: learned-variance Gaussian decoders are
ill-posed, like Gaussian mixtures (Bishop 2006, sec. 9.2.1; ``gmm.py``).
"""
from __future__ import annotations

import numpy as np

LOG_2PI = float(np.log(2.0 * np.pi))


def lambda_prime(tau: np.ndarray | float, gain: float = 1.0) -> np.ndarray:
    """lambda' = tau g^2 / 2 + 1/2, the coefficient of -s^2 in the ELBO."""
    return 0.5 * np.asarray(tau, dtype=np.float64) * gain**2 + 0.5


def sigma_star(tau: np.ndarray | float, gain: float = 1.0) -> np.ndarray:
    """The maximising posterior standard deviation s* = (2 lambda')^{-1/2}."""
    return (2.0 * lambda_prime(tau, gain)) ** -0.5


def elbo(s: np.ndarray | float, tau: np.ndarray | float, dim: int = 1, gain: float = 1.0) -> np.ndarray:
    """ELBO(s, tau) = -lambda' s^2 + log s + D/2 log(tau / 2 pi) + 1/2, broadcasting s against tau."""
    s = np.asarray(s, dtype=np.float64)
    tau = np.asarray(tau, dtype=np.float64)
    return -lambda_prime(tau, gain) * s**2 + np.log(s) + 0.5 * dim * (np.log(tau) - LOG_2PI) + 0.5


def max_elbo(tau: np.ndarray | float, dim: int = 1, gain: float = 1.0) -> np.ndarray:
    """max_s ELBO = log p(x) = D/2 log(tau / 2 pi) - 1/2 log(1 + tau g^2)."""
    tau = np.asarray(tau, dtype=np.float64)
    return 0.5 * dim * (np.log(tau) - LOG_2PI) - 0.5 * np.log1p(tau * gain**2)


def bounded_limit(dim: int, gain: float = 1.0) -> float:
    """lim_{tau -> inf} max_s ELBO: -1/2 log(2 pi g^2) for D = 1 and g > 0, +infinity otherwise."""
    return -0.5 * float(np.log(2.0 * np.pi * gain**2)) if dim == 1 and gain > 0 else float("inf")


def elbo_grid(log10_s: np.ndarray, log10_tau: np.ndarray, dim: int = 1,
              gain: float = 1.0) -> np.ndarray:
    """ELBO on a grid: rows tau (T,), columns s (S,) -> (T, S)."""
    return elbo(10.0 ** log10_s[None, :], 10.0 ** log10_tau[:, None], dim, gain)
