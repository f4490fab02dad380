"""The VAE (Kingma & Welling 2014): a Gaussian encoder q(z|x), a standard normal prior, and a decoder whose
outputs a registered likelihood turns into p(x|z). Saved diffusers-style: ``config.json`` + ``model.safetensors``.
"""
from __future__ import annotations

import json
import math
import os
from dataclasses import asdict
from pathlib import Path

import torch
from safetensors.torch import load_file
from torch import Tensor, nn
from torch.distributions import Distribution, Independent, Normal, kl_divergence

from vae_core.files.atomic import atomic_write, save_tensors
from vae_core.files.names import CONFIG_NAME, WEIGHTS_NAME
from vae_core.model.config import (  # noqa: F401  the config's names, also read from here
    ACTIVATION_NAMES,
    ARCHITECTURES,
    IMAGE_SHAPE,
    MLP,
    NETWORK_NAMES,
    VAEConfig,
    load_config,
)
from vae_core.model.likelihoods import DecoderLikelihood, make_likelihood

ACTIVATIONS = dict(zip(ACTIVATION_NAMES, (nn.ReLU, nn.Tanh, nn.GELU), strict=True))
NORM_GROUPS = 8  # a residual block normalizes 8 groups of channels (fewer where the width is no multiple of 8)


def _mlp(sizes: list[int], activation: str) -> nn.Sequential:
    layers: list[nn.Module] = []
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:], strict=True)):
        layers.append(nn.Linear(a, b))
        if i < len(sizes) - 2:
            layers.append(ACTIVATIONS[activation]())
    return nn.Sequential(*layers)


class ResidualBlock(nn.Module):
    """x + conv(act(norm(conv(act(norm(x)))))) with 3x3 "same" convolutions: the pre-activation block of He et al.
    (2016), "Identity mappings in deep residual networks", with group normalization (Wu & He 2018), which
    normalizes each image on its own, so an image's decoding never depends on the other images of a batch. Without
    the normalization the calibrated Gaussian decoders (one sigma for all pixels) learned to ignore z: KL fell to 0
    within the first 100 steps (posterior collapse), under every recipe tried (docs/training.md).
    Shape-preserving: (B, C, H, W) -> (B, C, H, W)."""

    def __init__(self, channels: int, activation: str):
        super().__init__()
        act, groups = ACTIVATIONS[activation], math.gcd(NORM_GROUPS, channels)
        self.body = nn.Sequential(nn.GroupNorm(groups, channels), act(), nn.Conv2d(channels, channels, 3, 1, 1),
                                  nn.GroupNorm(groups, channels), act(), nn.Conv2d(channels, channels, 3, 1, 1))

    def forward(self, x: Tensor) -> Tensor:
        return x + self.body(x)


def _blocks(cfg: VAEConfig, channels: int) -> list[nn.Module]:
    return [ResidualBlock(channels, cfg.activation) for _ in range(cfg.res_blocks)]


def _conv_encoder(cfg: VAEConfig) -> nn.Sequential:
    c1, c2 = cfg.conv_channels
    act = ACTIVATIONS[cfg.activation]
    return nn.Sequential(
        nn.Conv2d(1, c1, 4, 2, 1), *_blocks(cfg, c1), act(),      # (B, c1, 14, 14)
        nn.Conv2d(c1, c2, 4, 2, 1), *_blocks(cfg, c2), act(),     # (B, c2, 7, 7)
        nn.Flatten(), nn.Linear(c2 * 49, 2 * cfg.latent_dim),
    )


def _conv_decoder(cfg: VAEConfig, out_channels: int) -> nn.Sequential:
    c1, c2 = cfg.conv_channels
    act = ACTIVATIONS[cfg.activation]
    return nn.Sequential(
        nn.Linear(cfg.latent_dim, c2 * 49), act(), nn.Unflatten(1, (c2, 7, 7)), *_blocks(cfg, c2),
        nn.ConvTranspose2d(c2, c1, 4, 2, 1), act(), *_blocks(cfg, c1),  # (B, c1, 14, 14)
        nn.ConvTranspose2d(c1, out_channels, 4, 2, 1),                   # (B, P, 28, 28)
    )


class VAE(nn.Module):
    def __init__(self, config: VAEConfig):
        super().__init__()
        self.config = config
        self.likelihood: DecoderLikelihood = make_likelihood(config.decoder, **config.decoder_settings)
        p, d = self.likelihood.num_params, math.prod(IMAGE_SHAPE)
        if config.architecture == MLP:
            self.encoder = nn.Sequential(nn.Flatten(), _mlp([d, *config.hidden, 2 * config.latent_dim],
                                                             config.activation))
            self.decoder = nn.Sequential(_mlp([config.latent_dim, *config.hidden[::-1], p * d], config.activation),
                                         nn.Unflatten(1, (p, *IMAGE_SHAPE[1:])))
        else:
            self.encoder = _conv_encoder(config)
            self.decoder = _conv_decoder(config, p)
        self.register_buffer("prior_loc", torch.zeros(config.latent_dim))

    @property
    def data_kind(self) -> str:
        return self.config.data_kind or self.likelihood.data_kind

    @property
    def device(self) -> torch.device:
        return self.prior_loc.device

    def prior(self) -> Independent:
        return Independent(Normal(self.prior_loc, torch.ones_like(self.prior_loc)), 1)

    def encode(self, x: Tensor) -> Independent:
        """q(z|x) = N(mu(x), diag sigma(x)^2); x: (B, 1, 28, 28) -> batch (B,), event (latent_dim,)."""
        mu, log_sigma = self.encoder(x).chunk(2, dim=-1)  # (B, L) each
        return Independent(Normal(mu, log_sigma.clamp(-12.0, 6.0).exp()), 1)

    def decode(self, z: Tensor, x: Tensor | None = None) -> Distribution:
        """p(x|z) over (B, 1, 28, 28). ``x`` only lets data-dependent likelihoods (sigma-VAE) fit in training."""
        return self.likelihood(self.decoder(z), x)

    def elbo_terms(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """One-sample estimates of E_q[log p(x|z)] and KL(q(z|x) || p(z)), each (B,)."""
        qz = self.encode(x)
        px = self.decode(qz.rsample(), x)
        return px.log_prob(x), kl_divergence(qz, self.prior())

    def elbo(self, x: Tensor) -> Tensor:
        rec, kl = self.elbo_terms(x)
        return rec - kl

    @torch.no_grad()
    def sample(self, n: int, temperature: float = 1.0, generator: torch.Generator | None = None
               ) -> tuple[Tensor, Distribution]:
        """z ~ N(0, temperature^2 I) and p(x|z): returns z (n, L) and the decoder distribution."""
        z = torch.randn(n, self.config.latent_dim, generator=generator).to(self.device) * temperature
        return z, self.decode(z)

    # ------------------------------------------------------------------------------------------- save/load
    def save_pretrained(self, folder: str | os.PathLike, dtype: torch.dtype | None = None) -> Path:
        """Write config.json and model.safetensors atomically (temporary file + rename)."""
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        state = {k: (v.to(dtype) if dtype is not None and v.is_floating_point() else v).detach().cpu().contiguous()
                 for k, v in self.state_dict().items()}
        atomic_write(folder / WEIGHTS_NAME, lambda tmp: save_tensors(state, tmp, metadata={"format": "pt"}))
        atomic_write(folder / CONFIG_NAME,
                     lambda tmp: Path(tmp).write_text(json.dumps(asdict(self.config), indent=2) + "\n"))
        return folder

    @classmethod
    def from_pretrained(cls, folder: str | os.PathLike, map_location: str | torch.device = "cpu",
                        weights: str | os.PathLike | None = None, config: VAEConfig | None = None) -> VAE:
        """Rebuild from config.json (or ``config``, where the caller has read it already), then load safetensors
        weights strictly (never unpickles anything)."""
        folder = Path(folder)
        config = config or load_config(folder)
        model = cls(config)
        weights_path = Path(weights) if weights else folder / WEIGHTS_NAME
        state = load_file(str(weights_path), device="cpu")
        model.load_state_dict(state, strict=True)  # casts float16 snapshots to float32 parameters
        return model.to(map_location).eval()
