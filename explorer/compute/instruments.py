"""Two instruments for a talk on the Reconstruct page: a sigma floor applied after training, and where an image's
nats come from (stroke against background pixels).

The floor: a decoder with a sigma is re-scored with sigma' = max(sigma, floor), without retraining. The floored
distribution is the decoder's own distribution class rebuilt from its own (loc, scale), so its log_prob is the very
formula the model was trained and evaluated with. A floor bounds a Gaussian density by (2 pi floor^2)^(-1/2) per
pixel, which is how bounding the variance from below makes maximum likelihood well-posed (Mattei & Frellsen 2018).
It does not lower every pixel: where the residual |x - mu| exceeds sigma, a larger sigma up to |x - mu| raises that
pixel's density. A floored model is a model in its own right, so the ELBO computed with it is a lower bound on that
model's log p(x), not on the trained one's.

Bernoulli and continuous Bernoulli decoders have no sigma (one parameter sets mean and spread together); for
them the floor does not apply and ``FloorNotApplicable`` says so in a sentence.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
from torch.distributions import Distribution, Independent, kl_divergence

from explorer.compute.latent import model_input
from vae_core.model.likelihoods import LIKELIHOODS, decoder_sigma, unvalidated
from vae_core.model.vae import VAE

FLOORS = (0.0, 1e-5, 1e-4, 1e-3, 3e-3, 1e-2, 3e-2, 0.1, 0.3)  # the slider's steps: 0 = as trained
STROKE_LEVEL = 127  # 8-bit value: a pixel brighter than this (> 0.5 of the range) is stroke, the rest background


class FloorNotApplicable(ValueError):
    """The decoder has no sigma to floor; the message is one sentence for the page."""


def no_sigma_reason(decoder: str) -> str:
    """Why ``decoder`` has no sigma to floor: its likelihood's own sentence (DecoderLikelihood.no_sigma)."""
    likelihood = LIKELIHOODS.get(decoder)
    return ((likelihood and likelihood.no_sigma)
            or f"The `{decoder}` decoder has no sigma, so a floor on sigma does not apply.")


def check_floor(floor) -> float:
    """The floor as a float, or a ValueError naming what a floor may be."""
    ok = isinstance(floor, int | float | np.floating | np.integer) and not isinstance(floor, bool)
    if not ok or not math.isfinite(float(floor)) or float(floor) < 0:
        raise ValueError(f"A sigma floor must be a finite number >= 0 (0 leaves the decoder as trained); "
                         f"got {floor!r}.")
    return float(floor)


def floored(px: Distribution, floor: float, decoder: str = "") -> Distribution:
    """p(x|z) with sigma' = max(sigma, floor): the same distribution class, rebuilt from (loc, clamped scale)."""
    floor = check_floor(floor)
    base = px.base_dist if isinstance(px, Independent) else px
    if decoder_sigma(px) is None:  # the likelihoods' own test for "has a sigma"
        raise FloorNotApplicable(no_sigma_reason(decoder or type(base).__name__))
    rebuilt = type(base)(base.loc, base.scale.clamp(min=floor))
    return Independent(rebuilt, px.reinterpreted_batch_ndims) if isinstance(px, Independent) else rebuilt


@torch.no_grad()
def rescore(model: VAE, images: np.ndarray, floors=FLOORS, seed: int = 0, elbo_samples: int = 16) -> dict:
    """Each uint8 image (N, 28, 28) scored under every floor: log p(x | z = E_q[z]) and the ELBO over
    ``elbo_samples`` draws of z ~ q(z|x) (the same draws as ``latent.reconstruct``, so floor 0 gives its ELBO),
    in nats per image, arrays (F, N); with the fraction of pixels whose sigma lies below each floor, and the
    sigma range. A decoder without sigma raises ``FloorNotApplicable``."""
    floors = [check_floor(f) for f in floors]
    model.eval()
    with unvalidated():  # a collapsed sigma underflows to 0: a non-finite score, shown as such, not an error
        x = model_input(model, images, seed).to(model.device)  # (N, 1, 28, 28)
        qz = model.encode(x)
        px_mean = model.decode(qz.mean)
        sigma = decoder_sigma(px_mean)  # (N, 1, 28, 28)
        if sigma is None:
            raise FloorNotApplicable(no_sigma_reason(model.config.decoder))
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            z = qz.rsample((elbo_samples,))  # (S, N, L)
        px_draws = model.decode(z.flatten(0, 1))  # batch S * N
        x_draws = x.repeat(elbo_samples, 1, 1, 1)  # (S * N, 1, 28, 28)
        kl = kl_divergence(qz, model.prior())  # (N,)
        log_px, elbo, below = [], [], []
        for f in floors:
            log_px.append(floored(px_mean, f).log_prob(x))
            rec = floored(px_draws, f).log_prob(x_draws).view(elbo_samples, -1).mean(0)  # (N,)
            elbo.append(rec - kl)
            below.append((sigma < f).float().mean((1, 2, 3)))

    def stack(ts: list[torch.Tensor]) -> np.ndarray:
        return torch.stack(ts).to("cpu", torch.float64).numpy()  # (F, N)

    flat = sigma.flatten(1).to("cpu", torch.float64)  # (N, 784)
    return {"floors": np.array(floors), "log_px": stack(log_px), "elbo": stack(elbo), "below": stack(below),
            "sigma_min": flat.min(1).values.numpy(), "sigma_median": flat.median(1).values.numpy()}


@dataclass(frozen=True)
class NatsSplit:
    """log p(x|z) of one image summed over its stroke pixels and its background pixels (nats)."""

    stroke_nats: float
    stroke_pixels: int
    background_nats: float
    background_pixels: int

    @property
    def total(self) -> float:
        return self.stroke_nats + self.background_nats

    @property
    def stroke_per_pixel(self) -> float:
        return self.stroke_nats / self.stroke_pixels if self.stroke_pixels else math.nan

    @property
    def background_per_pixel(self) -> float:
        return self.background_nats / self.background_pixels if self.background_pixels else math.nan


def stroke_mask(image: np.ndarray) -> np.ndarray:
    """(28, 28) bool: the pixels of a uint8 image brighter than STROKE_LEVEL (the 8-bit value, not the binarized or
    dequantized input, so the split is the same for every data kind)."""
    image = np.asarray(image)
    if image.dtype != np.uint8 or image.shape != (28, 28):
        raise ValueError(f"The stroke mask needs a 28 x 28 uint8 image; got {image.dtype} {image.shape}.")
    return image > STROKE_LEVEL


def nats_split(pixel_log_prob: np.ndarray, image: np.ndarray) -> NatsSplit:
    """Split a per-pixel log p(x_ij | z) map (28, 28) by the stroke mask of ``image`` (uint8 (28, 28))."""
    lp = np.asarray(pixel_log_prob, np.float64)
    if lp.shape != (28, 28):
        raise ValueError(f"The per-pixel log-likelihood must be a 28 x 28 map; got shape {lp.shape}.")
    stroke = stroke_mask(image)
    n = int(stroke.sum())
    return NatsSplit(float(lp[stroke].sum()), n, float(lp[~stroke].sum()), stroke.size - n)
