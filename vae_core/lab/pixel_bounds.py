"""One perfectly reconstructed pixel: an unbounded density, a bounded probability, and a floor.

For a pixel value x in [0, 1] and a decoder N(mu, sigma^2) with mu = x (perfect reconstruction):

- the Gaussian log density -1/2 log(2 pi sigma^2) grows without bound as sigma -> 0 (Mattei & Frellsen 2018);
- a floor sigma >= sigma_min caps it at the ceiling -1/2 log(2 pi sigma_min^2) per pixel;
- the discretized Gaussian puts on the 8-bit value k in {0..255} the mass of N(mu, sigma^2) on its bin
  [(k - 1/2)/255, (k + 1/2)/255], the end bins extended to -inf and +inf (Salimans et al. 2017, PixelCNN++).
  It is a probability, so its log is at most 0, reached as sigma -> 0.

A density on bins of width 1/255 gives roughly density / 255 as the bin's probability; that approximation
exceeds 1 (log > 0, impossible) once sigma < 1 / (255 sqrt(2 pi)), where it stops meaning anything.
"""
from __future__ import annotations

import numpy as np
import torch

from . import single_thread

LOG_2PI = float(np.log(2.0 * np.pi))
N_BINS = 256
BIN_WIDTH = 1.0 / 255.0


def gaussian_log_density(x: np.ndarray | float, mu: np.ndarray | float,
                         sigma: np.ndarray | float) -> np.ndarray:
    """log N(x; mu, sigma^2), elementwise (broadcasting)."""
    x, mu, sigma = (np.asarray(a, dtype=np.float64) for a in (x, mu, sigma))
    return -0.5 * (LOG_2PI + 2.0 * np.log(sigma) + ((x - mu) / sigma) ** 2)


def floored_log_density(x: np.ndarray | float, mu: np.ndarray | float, sigma: np.ndarray | float,
                        sigma_min: float) -> np.ndarray:
    """The Gaussian log density with the decoder's sigma clamped to at least sigma_min."""
    return gaussian_log_density(x, mu, np.maximum(np.asarray(sigma, dtype=np.float64), sigma_min))


def ceiling(sigma_min: float) -> float:
    """The most a floored Gaussian can give one pixel: -1/2 log(2 pi sigma_min^2)."""
    return float(-0.5 * (LOG_2PI + 2.0 * np.log(sigma_min)))


def _log_diff_ndtr(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """log(Phi(b) - Phi(a)) for a < b, stable in both tails (uses Phi(b) - Phi(a) = Phi(-a) - Phi(-b))."""
    right = a > 0  # both in the right tail: flip to the left tail, where log_ndtr keeps its precision
    lo = torch.where(right, -b, a)
    hi = torch.where(right, -a, b)
    log_hi = torch.special.log_ndtr(hi)
    out = log_hi + torch.log1p(-torch.exp(torch.special.log_ndtr(lo) - log_hi))
    return torch.where(torch.isneginf(log_hi), log_hi, out)  # no mass at all (both ends underflow)


def discretized_gaussian_log_prob(k: np.ndarray | int, mu: np.ndarray | float,
                                  sigma: np.ndarray | float) -> np.ndarray:
    """log P(bin k) for 8-bit values k in {0..255} under N(mu, sigma^2) on the [0, 1] scale; <= 0."""
    k_t = torch.as_tensor(np.asarray(k), dtype=torch.float64)
    mu_t = torch.as_tensor(np.asarray(mu, dtype=np.float64))
    sigma_t = torch.as_tensor(np.asarray(sigma, dtype=np.float64))
    k_t, mu_t, sigma_t = torch.broadcast_tensors(k_t, mu_t, sigma_t)
    lower = torch.where(k_t <= 0, -torch.inf, (k_t - 0.5) * BIN_WIDTH)
    upper = torch.where(k_t >= N_BINS - 1, torch.inf, (k_t + 0.5) * BIN_WIDTH)
    with single_thread():
        out = _log_diff_ndtr((lower - mu_t) / sigma_t, (upper - mu_t) / sigma_t)
    return out.numpy()


def density_times_bin(x: np.ndarray | float, mu: np.ndarray | float, sigma: np.ndarray | float) -> np.ndarray:
    """log(density x bin width), the naive approximation of the bin probability; exceeds 0 for tiny sigma."""
    return gaussian_log_density(x, mu, sigma) + np.log(BIN_WIDTH)


def pixel_curves(k: int, sigmas: np.ndarray, sigma_min: float, error: float = 0.0) -> dict[str, np.ndarray]:
    """Per-pixel log-likelihoods (nats) against sigma (S,) for pixel value k/255 and mean k/255 + error."""
    x = k / 255.0
    mu = x + error
    return {
        "sigma": sigmas,
        "gaussian": gaussian_log_density(x, mu, sigmas),
        "floored": floored_log_density(x, mu, sigmas, sigma_min),
        "discretized": discretized_gaussian_log_prob(np.full(sigmas.shape, k), mu, sigmas),
        "density_x_bin": density_times_bin(x, mu, sigmas),
    }
