"""Everything the explorer shows that goes through z: reconstructions with their per-pixel terms, prior samples,
posterior means projected to a plane (exact for 2-D latents, PCA otherwise), lifting a point of that plane
back to z, interpolation, and decoding. Inputs are uint8 images (N, 28, 28); outputs are numpy arrays.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch.distributions import kl_divergence

from vae_core.base.data import fixed_test_input, is_bounded
from vae_core.evaluation.metrics import bits_per_dim, posterior_means
from vae_core.model.likelihoods import decoder_sigma
from vae_core.model.vae import VAE


def _np(t: torch.Tensor) -> np.ndarray:
    return t.detach().to("cpu", torch.float32).numpy()


def _images(t: torch.Tensor) -> np.ndarray:
    return _np(t).reshape(-1, 28, 28)  # (N, 28, 28)


def model_input(model: VAE, images: np.ndarray, seed: int = 0) -> torch.Tensor:
    """uint8 (N, 28, 28) -> the model's data kind (binarized / dequantized / 8-bit) with a fixed seed."""
    return fixed_test_input(np.array(images, np.uint8).reshape(-1, 28, 28), model.data_kind, seed)


CHUNK = 16  # images decoded at a time: the discretized Gaussian's mean sums 256 bins per pixel


@torch.no_grad()
def decode(model: VAE, z: np.ndarray | torch.Tensor, seed: int = 0, x: torch.Tensor | None = None
           ) -> dict[str, np.ndarray | None]:
    """p(x|z) for each row of z (n, L): decoder mean, one full sample x ~ p(x|z) (not clipped), sigma or None,
    and with ``x`` (n, 1, 28, 28) the per-pixel log p(x_ij | z) in nats ("pixel_log_prob")."""
    model.eval()
    z = z.float() if isinstance(z, torch.Tensor) else torch.as_tensor(np.asarray(z, np.float32))
    z = z.reshape(-1, model.config.latent_dim).to(model.device)
    parts: dict[str, list] = {"mean": [], "sample": [], "sigma": [], "pixel_log_prob": []}
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        for i in range(0, len(z), CHUNK):
            px = model.decode(z[i:i + CHUNK])
            parts["sample"].append(_images(px.sample()))
            parts["mean"].append(_images(px.mean))
            sigma = decoder_sigma(px)
            parts["sigma"].append(None if sigma is None else _images(sigma))
            if x is not None:
                parts["pixel_log_prob"].append(_images(px.base_dist.log_prob(x[i:i + CHUNK])))
    out = {k: None if not v or v[0] is None else np.concatenate(v) for k, v in parts.items()}
    if x is None:
        del out["pixel_log_prob"]
    return out


@torch.no_grad()
def prior_samples(model: VAE, n: int, temperature: float = 1.0, seed: int = 0) -> dict[str, np.ndarray | None]:
    """z ~ N(0, temperature^2 I) and its decoding: z (n, L), mean, sample, sigma (n, 28, 28)."""
    gen = torch.Generator().manual_seed(seed)
    z = torch.randn(n, model.config.latent_dim, generator=gen) * temperature
    return {"z": _np(z), **decode(model, z, seed)}


@torch.no_grad()
def reconstruct(model: VAE, images: np.ndarray, seed: int = 0, elbo_samples: int = 16) -> dict:
    """For each image: the model-form input, p(x|z) at z = E_q[z] (mean, one sample, sigma, per-pixel log p),
    and the ELBO terms averaged over ``elbo_samples`` draws of z ~ q(z|x), in nats per image.
    """
    model.eval()
    x = model_input(model, images, seed).to(model.device)  # (N, 1, 28, 28)
    qz = model.encode(x)
    out = decode(model, qz.mean, seed, x=x)  # p(x|z) at z = E_q[z], with log p(x_ij | z) per pixel
    out["input"] = _images(x)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        z = qz.rsample((elbo_samples,))  # (S, N, L)
        px = model.decode(z.flatten(0, 1))
        rec = px.log_prob(x.repeat(elbo_samples, 1, 1, 1)).view(elbo_samples, -1).mean(0)  # (N,)
    kl = kl_divergence(qz, model.prior())  # (N,)
    elbo = rec - kl
    out.update(rec=_np(rec), kl=_np(kl), elbo=_np(elbo), z_mean=_np(qz.mean), z_std=_np(qz.stddev),
               bits_per_dim=np.array([bits_per_dim(float(e), model.data_kind) if is_bounded(model.data_kind)
                                      else np.nan for e in elbo]),  # raw pixels: no bits/dim (data.py)
               data_kind=model.data_kind)
    return out


def encode_means(model: VAE, images: np.ndarray, seed: int = 0) -> np.ndarray:
    """Posterior means E_q[z|x] (N, L) of uint8 images."""
    return posterior_means(model, model_input(model, images, seed)).numpy()


# ------------------------------------------------------------------------------------------------ the plane
@dataclass(frozen=True)
class Projection:
    """A plane in latent space: coordinates = (z - center) @ components.T; exact when the latent is 2-D."""

    center: np.ndarray       # (L,)
    components: np.ndarray   # (2, L), orthonormal rows
    explained: np.ndarray    # (2,) fraction of the posterior-mean variance along each axis
    exact: bool

    @property
    def axis_names(self) -> tuple[str, str]:
        return ("z1", "z2") if self.exact else ("PC 1", "PC 2")


def fit_projection(means: np.ndarray) -> Projection:
    """The identity plane for a 2-D latent; otherwise the top two principal axes of the posterior means."""
    means = np.asarray(means, np.float64)
    n, dim = means.shape
    if dim == 2:
        var = means.var(0)
        return Projection(np.zeros(2), np.eye(2), var / max(var.sum(), 1e-12), True)
    center = means.mean(0)
    _, s, vt = np.linalg.svd(means - center, full_matrices=False)
    components = np.zeros((2, dim))
    k = min(2, vt.shape[0])
    components[:k] = vt[:k]
    if k < 2:  # a 1-D latent: the second axis carries nothing
        components = np.vstack([components[0], np.zeros(dim)])
    var = s**2
    explained = np.zeros(2)
    explained[:k] = var[:k] / max(var.sum(), 1e-12)
    return Projection(center, components, explained, False)


def project(p: Projection, z: np.ndarray) -> np.ndarray:
    return (np.asarray(z, np.float64) - p.center) @ p.components.T  # (N, 2)


def lift(p: Projection, xy: np.ndarray) -> np.ndarray:
    """A point (or points) of the plane back to z: exact for a 2-D latent; otherwise the plane through the
    mean posterior mean, so the other L - 2 directions sit at the data's average."""
    return p.center + np.asarray(xy, np.float64) @ p.components  # (..., L)


def prior_contours(p: Projection, radii=(1.0, 2.0, 3.0), points: int = 121) -> dict[str, np.ndarray]:
    """Circles of the prior N(0, I) in plane coordinates. Projected onto orthonormal axes the prior is again
    N(0, I_2), centred at the projection of z = 0, so its 1, 2 and 3 sd contours are circles there."""
    origin = project(p, np.zeros((1, p.center.shape[0])))[0]
    t = np.linspace(0, 2 * np.pi, points)
    radius = np.repeat(np.asarray(radii, np.float64), points)
    angle = np.tile(t, len(radii))
    return {"radius": radius, "x": origin[0] + radius * np.cos(angle), "y": origin[1] + radius * np.sin(angle),
            "order": np.tile(np.arange(points), len(radii))}


def interpolate(z0: np.ndarray, z1: np.ndarray, steps: int = 8, method: str = "linear") -> np.ndarray:
    """Points from z0 to z1 (steps, L): straight line, or "slerp" (White 2016), which keeps the norm typical."""
    z0, z1 = np.asarray(z0, np.float64), np.asarray(z1, np.float64)
    t = np.linspace(0, 1, steps)[:, None]
    if method == "linear":
        return (1 - t) * z0 + t * z1
    if method != "slerp":
        raise ValueError(f"unknown interpolation {method!r}; choose linear or slerp")
    cos = np.dot(z0, z1) / max(np.linalg.norm(z0) * np.linalg.norm(z1), 1e-12)
    omega = np.arccos(np.clip(cos, -1, 1))
    if omega < 1e-6:
        return (1 - t) * z0 + t * z1
    return (np.sin((1 - t) * omega) * z0 + np.sin(t * omega) * z1) / np.sin(omega)


def plane_grid(extent: float = 3.0, n: int = 12) -> np.ndarray:
    """An n x n grid of points over [-extent, extent]^2, rows from top (high z2) to bottom: (n*n, 2)."""
    ticks = np.linspace(-extent, extent, n)
    return np.array([(x, y) for y in ticks[::-1] for x in ticks])


@torch.no_grad()
def sigma_at_means(model: VAE, images: np.ndarray, seed: int = 0, batch_size: int = 500) -> np.ndarray | None:
    """Decoder sigma (N, 28, 28) at z = E_q[z] for uint8 images, or None when the likelihood has no sigma."""
    model.eval()
    x = model_input(model, images, seed)
    out = []
    for b in x.split(batch_size):
        sigma = decoder_sigma(model.decode(model.encode(b.to(model.device)).mean))
        if sigma is None:
            return None
        out.append(_images(sigma))
    return np.concatenate(out)
