"""The VAE (Kingma & Welling 2014): a Gaussian encoder q(z|x), a standard normal prior, and a decoder whose
outputs a registered likelihood turns into p(x|z). Saved diffusers-style: ``config.json`` + ``model.safetensors``.
"""
from __future__ import annotations

import json
import math
import os
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

import torch
from safetensors.torch import load_file
from torch import Tensor, nn
from torch.distributions import Distribution, Independent, Normal, kl_divergence

from vae_core.base.limits import check_setting
from vae_core.files.atomic import atomic_write, save_tensors
from vae_core.files.names import CONFIG_NAME, WEIGHTS_NAME
from vae_core.model.likelihoods import LIKELIHOODS, DecoderLikelihood, make_likelihood

IMAGE_SHAPE = (1, 28, 28)
ARCHITECTURES = ("mlp", "conv")  # VAEConfig.architecture: the default first
ACTIVATIONS = {"relu": nn.ReLU, "tanh": nn.Tanh, "gelu": nn.GELU}
NORM_GROUPS = 8  # a residual block normalizes 8 groups of channels (fewer where the width is no multiple of 8)
# VAEConfig.network -> the network's name wherever a reader sees it (tables, sentences, captions, model cards)
NETWORK_NAMES = {"mlp": "MLP", "conv": "conv", "resconv": "residual conv"}


@dataclass
class VAEConfig:
    dataset: str = "mnist"            # which data the model was trained on (mnist | fashion-mnist)
    decoder: str = "bernoulli"        # key into vae_core.model.likelihoods.LIKELIHOODS
    decoder_settings: dict = field(default_factory=dict)  # e.g. {"sigma": 0.1} or {"sigma_min": 0.01}
    latent_dim: int = 16              # size of z; 2 gives an exact latent plane
    architecture: str = "mlp"         # mlp | conv
    hidden: list[int] = field(default_factory=lambda: [512, 256])  # MLP widths (encoder; decoder mirrored)
    activation: str = "relu"          # relu | tanh | gelu
    conv_channels: list[int] = field(default_factory=lambda: [32, 64])  # conv widths at 14x14 and 7x7
    res_blocks: int = 0               # conv only: residual blocks at each of 14x14 and 7x7, encoder and decoder
    data_kind: str | None = None      # binary | continuous | discrete | raw (data.py); None: the decoder's default

    def __post_init__(self):
        if self.decoder not in LIKELIHOODS:
            raise ValueError(f"unknown decoder {self.decoder!r}; choose one of: {', '.join(LIKELIHOODS)}")
        if self.architecture not in ARCHITECTURES:
            raise ValueError(f"unknown architecture {self.architecture!r}; choose {' or '.join(ARCHITECTURES)}")
        if self.activation not in ACTIVATIONS:
            raise ValueError(f"unknown activation {self.activation!r}; choose one of: {', '.join(ACTIVATIONS)}")
        kinds = LIKELIHOODS[self.decoder].data_kinds
        if self.data_kind is not None and self.data_kind not in kinds:
            raise ValueError(f"decoder {self.decoder!r} cannot model {self.data_kind!r} data; choose one of: "
                             f"{', '.join(kinds)}")
        check_setting("latent_dim", self.latent_dim)
        self.hidden = check_setting("hidden", list(self.hidden))
        self.conv_channels = check_setting("conv_channels", list(self.conv_channels))
        if len(self.conv_channels) != 2:  # the conv net has two stride-2 stages (28 -> 14 -> 7)
            raise ValueError(f"conv_channels must be two widths (at 14x14 and 7x7), got {self.conv_channels}")
        check_setting("res_blocks", self.res_blocks)
        if self.res_blocks and self.architecture != "conv":
            raise ValueError(f"res_blocks = {self.res_blocks} needs the conv architecture (an MLP has no feature maps)")

    @property
    def network(self) -> str:
        """mlp | conv | resconv: the architecture, a conv network with residual blocks told apart (NETWORK_NAMES)."""
        return "resconv" if self.res_blocks else self.architecture

    def describe_network(self) -> str:
        """The encoder and decoder in a few words, e.g. "MLP [512, 256] (relu)" or "residual conv [32, 64], 1
        residual block at each resolution (relu)"."""
        widths = self.hidden if self.architecture == "mlp" else self.conv_channels
        blocks = (f", {self.res_blocks} residual block{'s' if self.res_blocks > 1 else ''} at each resolution"
                  if self.res_blocks else "")
        return f"{NETWORK_NAMES[self.network]} {widths}{blocks} ({self.activation})"

    @classmethod
    def from_dict(cls, d: dict) -> VAEConfig:
        known = {f.name for f in fields(cls)}
        unknown = set(d) - known
        if unknown:
            raise ValueError(f"unknown config keys: {', '.join(sorted(unknown))}")
        return cls(**d)


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
        if config.architecture == "mlp":
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


def load_config(folder: str | os.PathLike) -> VAEConfig:
    return VAEConfig.from_dict(json.loads((Path(folder) / CONFIG_NAME).read_text()))
