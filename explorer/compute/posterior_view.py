"""One image of a 2-D latent model, seen whole: the true posterior p(z|x) on a grid (evaluation.quadrature), the
encoder's q(z|x), and the numbers that tie them, log p(x) = ELBO + KL(q(z|x) || p(z|x)) (Kingma & Welling 2014,
eq. 1), with the KL computed two ways so the identity is checked on every image:

- as the difference log p(x) - ELBO, where log p(x) is the adaptive quadrature's and the ELBO is
  E_q[log p(x, z) - log q(z|x)] by a Gauss-Hermite product rule over q with ``GH_NODES`` nodes per axis (error:
  the larger change over 16 -> 32 -> 64 nodes; a ReLU decoder has kinks, so the rule does not converge
  spectrally and one change alone can understate it, as measured on the shipped 2-D models);
- by integrating q log(q / p(z|x)) on a regular grid over q's box (mean +- ``Q_BOX`` sd), p(z|x) normalised by the
  same exact log p(x) (error: the change on halving the grid spacing).

log p(x) enters both the same way, so the two differ only by the numerical error of the two rules and by float32
rounding of the decoder's log p(x|z); ``tolerance`` is their sum. Inputs are one uint8 image (28, 28).
"""
from __future__ import annotations

import math

import numpy as np
import torch
from torch import Tensor

from explorer.compute.latent import model_input
from vae_core.evaluation.metrics import iwae_log_likelihood, mean_and_stderr
from vae_core.evaluation.quadrature import LATENT_DIM, check_latent_plane, posterior_grid
from vae_core.model.vae import VAE

GH_LADDER = (16, 32, 64)  # Gauss-Hermite nodes per axis for the ELBO; the last is used, the changes bound its error
GH_NODES = GH_LADDER[-1]
Q_BOX = 6.0            # the KL grid spans q's mean +- Q_BOX sd per axis: q's mass outside is ~4e-9
KL_POINTS = 81         # grid points per axis for the KL (41 for its error estimate)
HEATMAP_POINTS = 101   # posterior grid points per axis for the picture
IWAE_REPEATS = 8       # independent IWAE_k runs per image, for a mean and its standard error
IWAE_KS = (1, 10, 100, 1000, 10000)  # the k a visitor may pick (10,000 x 8 runs: about a second on one core)
FLOAT32_EPS = 2.0**-23


def _log_joint(model: VAE, z: Tensor, x: Tensor) -> Tensor:
    """log p(x|z) + log p(z) in float64 for rows of z (C, 2) and one image x (1, 1, 28, 28) -> (C,)."""
    dtype = model.prior().mean.dtype
    zc = z.to(model.device, dtype)
    out = [model.decode(zc[s:s + 4096]).log_prob(x).double() + model.prior().log_prob(zc[s:s + 4096]).double()
           for s in range(0, len(zc), 4096)]
    return torch.cat(out).cpu()


def _gauss_hermite_elbo(model: VAE, x: Tensor, mu: Tensor, sd: Tensor, nodes: int) -> tuple[float, float]:
    """(E_q[log p(x, z) - log q(z|x)], max |log p(x, z)| over the nodes) by a product Gauss-Hermite rule."""
    t, w = np.polynomial.hermite_e.hermegauss(nodes)  # probabilists' nodes: weight exp(-t^2 / 2)
    t, w = torch.tensor(t), torch.tensor(w) / math.sqrt(2 * math.pi)
    u, weight = torch.cartesian_prod(t, t), torch.cartesian_prod(w, w).prod(1)  # (n^2, 2), (n^2,)
    z = mu + sd * u
    joint = _log_joint(model, z, x)
    log_q = torch.distributions.Normal(mu, sd).log_prob(z).sum(1)
    return float((weight * (joint - log_q)).sum()), float(joint.abs().max())


def _kl_on_grid(model: VAE, x: Tensor, mu: Tensor, sd: Tensor, log_px: float, points: int) -> tuple[float, float]:
    """(sum over a grid of q log(q / p(z|x)) x cell area, q's mass on the grid) over mean +- Q_BOX sd."""
    u = torch.linspace(-Q_BOX, Q_BOX, points, dtype=torch.float64)
    step = float(u[1] - u[0])
    z = mu + sd * torch.cartesian_prod(u, u)  # (points^2, 2)
    log_q = torch.distributions.Normal(mu, sd).log_prob(z).sum(1)
    log_post = _log_joint(model, z, x) - log_px  # log p(z|x)
    mass = log_q.exp() * step**2 * float(sd.prod())  # q x cell area
    return float((mass * (log_q - log_post)).sum()), float(mass.sum())


@torch.no_grad()
def posterior_view(model: VAE, image: np.ndarray, seed: int = 0, points: int = HEATMAP_POINTS) -> dict:
    """Everything the Latent page shows for one image of a 2-D model (module docstring). A model whose latent is
    not 2-D is a ValueError; an image whose quadrature is flagged gives ``problem`` (one sentence) and no numbers.
    """
    check_latent_plane(model)
    model.eval()
    x = model_input(model, np.asarray(image)[None], seed).to(model.device)  # (1, 1, 28, 28)
    qz = model.encode(x)
    mu, sd = qz.mean[0].double().cpu(), qz.stddev[0].double().cpu()  # (2,), (2,)
    out = {"q_mean": mu.numpy(), "q_std": sd.numpy()}
    try:
        grid = posterior_grid(model, x[0], points=points)
    except ValueError as e:
        return {**out, "problem": str(e)}
    log_px, quad_error = grid.log_px, grid.error
    peak = np.unravel_index(int(grid.log_density.argmax()), grid.log_density.shape)
    mode = np.array([float(grid.z1[peak[0]]), float(grid.z2[peak[1]])])
    ladder = [_gauss_hermite_elbo(model, x, mu, sd, n) for n in GH_LADDER]
    (elbo, top), elbo_error = ladder[-1], max(abs(a[0] - b[0]) for a, b in zip(ladder, ladder[1:], strict=False))
    kl_grid, q_mass = _kl_on_grid(model, x, mu, sd, log_px, KL_POINTS)
    kl_coarse, _ = _kl_on_grid(model, x, mu, sd, log_px, (KL_POINTS + 1) // 2)
    grid_error = abs(kl_grid - kl_coarse)
    rounding = FLOAT32_EPS * top  # one float32 rounding of the largest log p(x, z): what neither rule can resolve
    return {
        **out, "z1": grid.z1.numpy(), "z2": grid.z2.numpy(),
        "log_density": grid.log_density.numpy().astype(np.float32),  # (points, points), [i, j] at (z1[i], z2[j])
        "mass_on_grid": grid.mass_on_grid, "mode": mode,
        "mode_in_q_sd": float(np.linalg.norm((mode - mu.numpy()) / sd.numpy())),
        "log_px": log_px, "log_px_error": quad_error,
        "elbo": elbo, "elbo_error": elbo_error,
        "kl_difference": log_px - elbo, "kl_difference_error": quad_error + elbo_error,
        "kl_grid": kl_grid, "kl_grid_error": quad_error + grid_error, "q_mass_on_kl_grid": q_mass,
        "identity_gap": abs((log_px - elbo) - kl_grid),
        "tolerance": elbo_error + grid_error + 2 * rounding,  # log p(x) and its error cancel in the gap
    }


@torch.no_grad()
def iwae_for_image(model: VAE, image: np.ndarray, k: int, seed: int = 0, repeats: int = IWAE_REPEATS
                   ) -> tuple[float, float]:
    """IWAE_k for one uint8 image (28, 28): the mean of ``repeats`` independent runs and its standard error. A
    lower bound on log p(x) in expectation (Burda et al. 2016)."""
    if not (isinstance(k, int) and k >= 1):
        raise ValueError(f"k must be a whole number >= 1, got {k!r}")
    x = model_input(model, np.repeat(np.asarray(image)[None], repeats, 0), seed)  # (R, 1, 28, 28)
    runs = iwae_log_likelihood(model, x, k=k, batch_size=repeats, chunk=min(k, 2000), seed=seed)
    return mean_and_stderr(runs)


__all__ = ["GH_NODES", "HEATMAP_POINTS", "IWAE_KS", "IWAE_REPEATS", "LATENT_DIM", "iwae_for_image",
           "posterior_view"]  # LATENT_DIM re-exported: the explorer asks here whether the view applies
