"""Evaluation: ELBO terms, importance-weighted log-likelihood, bits/dim, per-pixel maps, active units, sigma
statistics and the Frechet distance. Everything takes model-form inputs x (N, 1, 28, 28) (see data.py).

Devices: the estimators run where the model is, or move it (in place) to a ``device`` they are given
(vae_core.base.devices.place); the images move there once, before any batch, and results come back on the CPU. Their
random draws are made on the CPU (IWAE from its own generator, the ELBO's posterior draw from the global one) and
moved to the device, so a GPU sees the same draws as the CPU and gives the CPU's numbers up to float rounding.
"""
from __future__ import annotations

import copy
import math
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor
from torch.distributions import Distribution, Independent, Normal, kl_divergence
from tqdm.auto import tqdm

from vae_core.base.data import is_bounded, nats_offset_per_dim
from vae_core.base.devices import place
from vae_core.model.likelihoods import decoder_sigma
from vae_core.model.vae import VAE

NUM_DIMS = 784


def _batches(x: Tensor, batch_size: int):
    for i in range(0, len(x), batch_size):
        yield x[i:i + batch_size]


@torch.no_grad()
def elbo_terms(model: VAE, x: Tensor, batch_size: int = 500, seed: int = 0,
               device: str | torch.device | None = None) -> dict[str, Tensor]:
    """Per-image one-sample ELBO, E_q log p(x|z) and KL (each (N,)), with a fixed sampling seed.

    ``VAE.elbo_terms`` with its posterior draw z ~ q(z|x) made on the CPU from the global generator seeded with
    ``seed`` (as torch.distributions draws it there): on the CPU these are VAE.elbo_terms' numbers bit for bit, and
    the generator is left in the same state; on a GPU, the same draws."""
    model.eval()
    x = place(model, x, device)  # (N, 1, 28, 28) on the model's device
    torch.manual_seed(seed)
    rec, kl = [], []
    for b in _batches(x, batch_size):
        qz = model.encode(b)  # batch (B,), event (L,)
        px = model.decode(cpu_posterior(qz).rsample().to(model.device), b)
        rec.append(px.log_prob(b).cpu())
        kl.append(kl_divergence(qz, model.prior()).cpu())
    rec, kl = torch.cat(rec), torch.cat(kl)
    return {"elbo": rec - kl, "rec": rec, "kl": kl}


def cpu_posterior(qz: Independent) -> Independent:
    """q(z|x) = N(mu, diag sigma^2) with its parameters on the CPU: draws from it come from the CPU's generator on
    every device (on the CPU it is ``qz`` itself, bit for bit)."""
    return Independent(Normal(qz.base_dist.loc.cpu(), qz.base_dist.scale.cpu()), 1)


def cpu_decoder(model: VAE):
    """z -> p(x|z) as ``model.decode`` gives it, with the distribution on the CPU: the decoder network runs on the
    model's device and its outputs go to a CPU copy of the likelihood (which may hold a learned sigma), so draws
    x ~ p(x|z) come from the CPU's generator on every device (on the CPU: ``model.decode``'s, bit for bit)."""
    likelihood = copy.deepcopy(model.likelihood).cpu()

    def decode(z: Tensor) -> Distribution:
        return likelihood(model.decoder(z).cpu())  # (B, P, 28, 28) decoder outputs -> p(x|z) over (B, 1, 28, 28)
    return decode


@torch.no_grad()
def iwae_log_likelihood(model: VAE, x: Tensor, k: int = 1000, batch_size: int = 50, chunk: int = 200,
                        progress: bool = False, seed: int = 0, device: str | torch.device | None = None,
                        proposal_scale: float = 1.0) -> Tensor:
    """log p(x) >= log (1/k) sum_i p(x, z_i) / r(z_i|x), z_i ~ r(z|x) (Burda et al. 2016), per image (N,).

    The proposal r is q(z|x) with its standard deviations times ``proposal_scale``: any proposal gives a stochastic
    lower bound, and a wider one than q covers posterior mass that q misses (heavier tails; Owen 2013, ch. 9), at
    the price of more variance where q fits. Images go in batches and samples in chunks with a running
    log-sum-exp: memory O(chunk x batch) for any k. The noise of every z_i is drawn on the CPU from a generator
    seeded with ``seed``, then moved to the device.
    """
    if not (math.isfinite(proposal_scale) and proposal_scale > 0):
        raise ValueError(f"proposal_scale must be a finite number greater than 0, got {proposal_scale!r}")
    model.eval()
    x = place(model, x, device)  # (N, 1, 28, 28) on the model's device
    gen = torch.Generator(device="cpu").manual_seed(seed)
    prior, out = model.prior(), []
    for xb in tqdm(list(_batches(x, batch_size)), desc=f"IWAE k={k}", disable=not progress, leave=False):
        qz = model.encode(xb)  # batch (B,), event (L,)
        rz = Independent(Normal(qz.base_dist.loc, proposal_scale * qz.base_dist.scale), 1)  # q itself at scale 1
        acc = torch.full((len(xb),), -math.inf, device=model.device)
        for start in range(0, k, chunk):
            n = min(chunk, k - start)
            z = rz.base_dist.loc + rz.base_dist.scale * torch.randn(n, *qz.batch_shape, model.config.latent_dim,
                                                                     generator=gen).to(model.device)  # (n, B, L)
            px = model.decode(z.flatten(0, 1))  # batch (n*B,)
            log_px = px.log_prob(xb.repeat(n, *[1] * (xb.dim() - 1))).view(n, -1)  # (n, B); any event shape
            log_w = log_px + prior.log_prob(z) - rz.log_prob(z)  # (n, B)
            acc = torch.logaddexp(acc, torch.logsumexp(log_w, 0))
        out.append(acc - math.log(k))
    return torch.cat(out).cpu()


def mean_and_stderr(values: Tensor) -> tuple[float, float]:
    v = values.double()
    return float(v.mean()), float(v.std(unbiased=True) / math.sqrt(len(v))) if len(v) > 1 else float("nan")


def bits_per_dim(log_likelihood_nats: float, data_kind: str, num_dims: int = NUM_DIMS) -> float | None:
    """-log2 p per dimension, shifted for dequantized densities: bpd = -(log p(y) - D log 256) / (D log 2)
    (Theis et al. 2016). For binarized data it is bits per *binary* pixel: not comparable with 8-bit results.
    None for an unbounded data kind (raw pixels, ``data.UNBOUNDED_REASON``): a density there has no bits/dim."""
    if not is_bounded(data_kind):
        return None
    return -(log_likelihood_nats / num_dims + nats_offset_per_dim(data_kind)) / math.log(2)


@torch.no_grad()
def pixel_log_likelihood(model: VAE, x: Tensor, use_mean_z: bool = True) -> Tensor:
    """Per-pixel log p(x_ij | z) at z = E_q[z] (or one sample): (B, 1, 28, 28) in nats."""
    model.eval()
    qz = model.encode(x)
    z = qz.mean if use_mean_z else qz.sample()
    return model.decode(z).base_dist.log_prob(x)


@torch.no_grad()
def reconstruct(model: VAE, x: Tensor, use_mean_z: bool = True):
    """q(z|x) then p(x|z) at the posterior mean; returns the decoder distribution."""
    model.eval()
    qz = model.encode(x)
    return model.decode(qz.mean if use_mean_z else qz.sample())


@torch.no_grad()
def posterior_means(model: VAE, x: Tensor, batch_size: int = 1000) -> Tensor:
    """E_q[z] (N, L) on the CPU, computed where the model is."""
    model.eval()
    x = x.to(model.device)
    return torch.cat([model.encode(b).mean.cpu() for b in _batches(x, batch_size)])


def active_units(mu: Tensor, threshold: float = 0.01) -> tuple[int, Tensor]:
    """A_u = Cov_x(E_q[z_u]) > 0.01 (Burda et al. 2016). mu: (N, L) posterior means; returns count, variances."""
    variances = mu.double().var(0, unbiased=True)
    return int((variances > threshold).sum()), variances


@torch.no_grad()
def sigma_stats(model: VAE, x: Tensor, batch_size: int = 500) -> dict[str, float] | None:
    """Decoder sigma over all test pixels at the posterior mean: mean, min, median, fraction below 0.01."""
    sigmas = []
    x = x.to(model.device)
    for b in _batches(x, batch_size):
        s = decoder_sigma(reconstruct(model, b))
        if s is None:
            return None
        sigmas.append(s.flatten().cpu())
    s = torch.cat(sigmas).double()
    return {"mean": float(s.mean()), "min": float(s.min()), "median": float(s.median()),
            "frac_below_0.01": float((s < 0.01).double().mean())}


@torch.no_grad()
def mse(model: VAE, x: Tensor, batch_size: int = 500) -> float:
    """Mean squared error of the decoder mean at the posterior mean, on the [0, 1] pixel scale."""
    x = x.to(model.device)
    errs = [((reconstruct(model, b).mean - b) ** 2).mean((1, 2, 3)).cpu() for b in _batches(x, batch_size)]
    return float(torch.cat(errs).mean())


def frechet_distance(feats_a: np.ndarray, feats_b: np.ndarray) -> float:
    """||mu_a - mu_b||^2 + Tr(S_a + S_b - 2 (S_a S_b)^(1/2)) between Gaussian fits (Heusel et al. 2017).

    The trace of the matrix square root is computed from the eigenvalues of S_a^(1/2) S_b S_a^(1/2), which
    are real and non-negative, so no complex sqrtm is needed.
    """
    a, b = np.asarray(feats_a, np.float64), np.asarray(feats_b, np.float64)
    mu_a, mu_b = a.mean(0), b.mean(0)
    cov_a, cov_b = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    w, v = np.linalg.eigh(cov_a)
    sqrt_a = (v * np.sqrt(np.clip(w, 0, None))) @ v.T
    eig = np.linalg.eigvalsh(sqrt_a @ cov_b @ sqrt_a)
    tr_sqrt = np.sqrt(np.clip(eig, 0, None)).sum()
    return float(((mu_a - mu_b) ** 2).sum() + np.trace(cov_a) + np.trace(cov_b) - 2 * tr_sqrt)


@dataclass
class Evaluation:
    """The numbers written to eval.json (see zoo.py); nats per image unless named otherwise."""

    elbo: float
    elbo_stderr: float
    rec: float
    kl: float
    iwae: float | None
    iwae_stderr: float | None
    iwae_k: int | None
    num_images: int
    bits_per_dim: float | None
    data_kind: str
    mse: float
    active_units: int
    sigma: dict | None


def evaluate(model: VAE, x: Tensor, iwae_k: int = 0, iwae_images: int | None = None,
             progress: bool = False, device: str | torch.device | None = None) -> Evaluation:
    """ELBO terms on all of x; IWAE on the first ``iwae_images`` of x when iwae_k > 0. ``device``: where to compute
    (the model and x move there once; None: where the model is); the numbers come back as Python floats."""
    x = place(model, x, device)  # (N, 1, 28, 28) on the model's device
    terms = elbo_terms(model, x)
    elbo, elbo_se = mean_and_stderr(terms["elbo"])
    iwae = iwae_se = None
    if iwae_k > 0:
        iwae, iwae_se = mean_and_stderr(iwae_log_likelihood(model, x[:iwae_images], k=iwae_k, progress=progress))
    ll = iwae if iwae is not None else elbo
    return Evaluation(
        elbo=elbo, elbo_stderr=elbo_se, rec=float(terms["rec"].mean()), kl=float(terms["kl"].mean()),
        iwae=iwae, iwae_stderr=iwae_se, iwae_k=iwae_k or None, num_images=len(x),
        bits_per_dim=bits_per_dim(ll, model.data_kind), data_kind=model.data_kind,
        mse=mse(model, x), active_units=active_units(posterior_means(model, x))[0], sigma=sigma_stats(model, x),
    )
