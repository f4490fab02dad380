"""Decoder likelihoods p(x|z): one class per variant, each turning decoder outputs into a Distribution.

A likelihood is an ``nn.Module`` (it may own learned parameters, such as the shared sigma of the sigma-VAE).
The decoder network emits ``num_params`` channels per pixel; ``forward(params, x=None)`` returns
``Independent(base, 3)`` over images (B, 1, 28, 28), so ``log_prob`` is per image and
``base_dist.log_prob`` is the per-pixel map. Adding a variant is a class here plus a ``LIKELIHOODS`` entry, and
its data kinds, settings and their checks in ``vae_core.model.config.DECODERS`` (read without torch).
"""
from __future__ import annotations

import math
from contextlib import contextmanager

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.distributions import (
    Bernoulli,
    ContinuousBernoulli,
    Distribution,
    Independent,
    Normal,
    constraints,
)
from torch.distributions.utils import broadcast_all

from vae_core.lab import pixel_bounds
from vae_core.model.config import DECODERS, decoder_problem

EVENT_DIMS = 3  # (C, H, W)


class DiscretizedNormal(Distribution):
    """A Normal integrated over the 256 bins of 8-bit data on [0, 1]; the edge bins are open-ended.

    P(x = k/255) = Phi((k + 1/2)/255 - mu) / sigma) - Phi(((k - 1/2)/255 - mu) / sigma), with the first bin
    extended to -inf and the last to +inf, so the probabilities sum to one (cf. the discretized logistic of
    Salimans et al. 2017, PixelCNN++). A probability, not a density: log_prob <= 0.
    """

    arg_constraints = {"loc": constraints.real, "scale": constraints.positive}
    support = constraints.real  # values k / 255 for k = 0..255
    has_rsample = False
    num_bins = 256

    def __init__(self, loc: Tensor, scale: Tensor, validate_args: bool | None = None):
        self.loc, self.scale = broadcast_all(loc, scale)
        super().__init__(self.loc.shape, validate_args=validate_args)

    def expand(self, batch_shape, _instance=None):
        new = self._get_checked_instance(DiscretizedNormal, _instance)
        new.loc, new.scale = self.loc.expand(batch_shape), self.scale.expand(batch_shape)
        super(DiscretizedNormal, new).__init__(torch.Size(batch_shape), validate_args=False)
        new._validate_args = self._validate_args
        return new

    def log_prob(self, value: Tensor) -> Tensor:
        bins = self.num_bins - 1
        k = torch.round(value * bins).clamp(0, bins)
        # Edges as (k -+ 1/2) / 255: neighbouring bins share the same rounded edge, so the masses telescope to 1.
        lower = ((k - 0.5) / bins - self.loc) / self.scale
        upper = ((k + 0.5) / bins - self.loc) / self.scale
        lower = torch.where(k == 0, torch.full_like(lower, -math.inf), lower)
        upper = torch.where(k == bins, torch.full_like(upper, math.inf), upper)
        # log(Phi(u) - Phi(l)); in the upper tail use the mirrored form Phi(-l) - Phi(-u) to avoid cancellation.
        mirror = (lower + upper) > 0  # inf + (-inf) never happens: only edge bins are open on one side
        a = torch.special.log_ndtr(torch.where(mirror, -lower, upper))
        b = torch.special.log_ndtr(torch.where(mirror, -upper, lower))
        gap = b - a  # <= 0
        log_mass = a + torch.log(-torch.expm1(gap.clamp(max=-1e-30)))
        # When the bin is tiny against sigma, a and b agree to float precision: use density x bin width there.
        centre = (k / bins - self.loc) / self.scale
        approx = Normal(0.0, 1.0).log_prob(centre) - torch.log(self.scale * bins)
        return torch.where(gap < -1e-4, log_mass, approx)

    def bin_log_probs(self) -> Tensor:
        """log P(x = k/255) for every bin: (*batch_shape, 256)."""
        values = torch.arange(self.num_bins, dtype=self.loc.dtype, device=self.loc.device) / (self.num_bins - 1)
        return self.expand_bins().log_prob(values)

    def expand_bins(self) -> DiscretizedNormal:
        return DiscretizedNormal(self.loc.unsqueeze(-1), self.scale.unsqueeze(-1))

    @property
    def mean(self) -> Tensor:
        """E[X] = (1/255) sum_{k=1}^{255} P(X >= k/255), one normal CDF per bin edge; memory O(batch)."""
        bins = self.num_bins - 1
        total = torch.zeros_like(self.loc)
        for k in range(1, self.num_bins):
            total += torch.special.ndtr((self.loc - (k - 0.5) / bins) / self.scale)
        return total / bins

    @property
    def mode(self) -> Tensor:
        return torch.round(self.loc.clamp(0, 1) * (self.num_bins - 1)) / (self.num_bins - 1)

    @property
    def stddev(self) -> Tensor:
        return self.scale

    def sample(self, sample_shape: torch.Size | tuple = ()) -> Tensor:
        with torch.no_grad():
            y = Normal(self.loc, self.scale).sample(sample_shape)
            return torch.round(y.clamp(0, 1) * (self.num_bins - 1)) / (self.num_bins - 1)


class LogitContinuousBernoulli(ContinuousBernoulli):
    """torch's ContinuousBernoulli with its normalizer, mean and inverse CDF computed from the logits lambda.

    torch computes these from probs clamped to [eps, 1 - eps], so for |lambda| > ~16 (float32) its log_prob adds
    log C(16) to a Bernoulli term at the true lambda: the density no longer integrates to 1, yet decoders trained
    on dequantized MNIST put many pixels there. Here p(x) = C(lambda) e^(lambda x) / (1 + e^lambda) with
    C(lambda) = lambda / tanh(lambda / 2) (Loaiza-Ganem & Cunningham 2019), i.e. a truncated exponential on [0, 1].
    """

    _small = 1e-4  # below this |lambda|, log C = log 2 + lambda^2 / 12 to float64 precision

    def _cont_bern_log_norm(self) -> Tensor:
        lam = self.logits
        a = lam.abs()
        small = a < self._small
        safe = torch.where(small, torch.ones_like(a), a)  # keeps 0/0 out of the graph
        return torch.where(small, math.log(2.0) + lam**2 / 12, torch.log(safe / torch.tanh(safe / 2)))

    @property
    def mean(self) -> Tensor:
        lam = self.logits
        small = lam.abs() < 0.3  # 1/(1 - e^-lambda) - 1/lambda cancels near 0: use its series there
        safe = torch.where(small, torch.ones_like(lam), lam)
        exact = -1.0 / torch.expm1(-safe) - 1.0 / safe
        taylor = 0.5 + lam / 12 - lam**3 / 720 + lam**5 / 30240
        return torch.where(small, taylor, exact)

    def icdf(self, value: Tensor) -> Tensor:
        """F^-1(u) = log1p(u expm1(lambda)) / lambda for lambda < 0, and 1 - F^-1_{-lambda}(1 - u) for lambda > 0."""
        lam = self.logits
        neg = -lam.abs()  # work with the non-positive parameter, where expm1 cannot overflow
        v = torch.where(lam < 0, value, 1 - value)
        safe = torch.where(neg == 0, -torch.ones_like(neg), neg)
        x = torch.where(neg == 0, v, torch.log1p(v * torch.expm1(safe)) / safe)
        return torch.where(lam < 0, x, 1 - x).clamp(0, 1)


class DecoderLikelihood(nn.Module):
    """Base class: maps decoder outputs (B, num_params, 28, 28) to p(x|z) over (B, 1, 28, 28)."""

    key: str = ""
    data_kinds: tuple[str, ...]  # the data kinds (data.py) it can model, first = default: DECODERS[key]
    data_kind: str  # the default, data_kinds[0], set for each subclass below
    num_params: int = 1
    description: str = ""
    # What the likelihood has, declared here and read everywhere else (the app, the instruments, the tests):
    no_sigma: str | None = None  # why it has no decoder standard deviation, one sentence for a page; None: it has one
    bound: str | None = None     # why log p(x|z) <= 0 whatever the decoder outputs (a probability); None: no such bound

    def _check(self, **settings) -> None:
        """A ValueError in DECODERS' own sentence where a setting's value is out of range."""
        problem = DECODERS[self.key].check(settings)
        if problem:
            raise ValueError(problem)

    @classmethod
    def has_sigma(cls) -> bool:
        return cls.no_sigma is None

    def pixel_ceiling(self) -> float | None:
        """The most log-density one pixel can get (nats) where a setting caps it, else None."""
        return None

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        cls.data_kinds = DECODERS[cls.key].data_kinds
        cls.data_kind = cls.data_kinds[0]

    def forward(self, params: Tensor, x: Tensor | None = None) -> Independent:
        return Independent(self.base(params, x), EVENT_DIMS)

    def base(self, params: Tensor, x: Tensor | None) -> Distribution:  # pragma: no cover - abstract
        raise NotImplementedError


@contextmanager
def unvalidated():
    """torch.distributions argument checks off (public API, process-wide while the block runs). A collapsed
    per-pixel sigma underflows to 0 and a diverging decoder emits NaN; with the checks on either raises a ValueError
    for the whole batch, with them off it gives a non-finite log-likelihood that the caller can see and handle
    (training stops, AIS rejects the proposal, quadrature and evaluation flag the image)."""
    previous = Distribution._validate_args
    Distribution.set_default_validate_args(False)
    try:
        yield
    finally:
        Distribution.set_default_validate_args(previous)


def decoder_sigma(px: Distribution) -> Tensor | None:
    """The per-pixel decoder standard deviation (B, 1, 28, 28) where the likelihood has one, else None."""
    base = px.base_dist if isinstance(px, Independent) else px
    scale = getattr(base, "scale", None)
    return None if scale is None else scale.expand(base.batch_shape)


class BernoulliLikelihood(DecoderLikelihood):
    key = "bernoulli"
    description = "Bernoulli(logits) on dynamically binarized pixels: log p(x|z) <= 0, well-posed."
    no_sigma = ("A Bernoulli decoder has no sigma: a binarized pixel has a probability of at most 1, so log p(x|z) "
                "<= 0 already and there is nothing to floor (not applicable).")
    bound = "a probability of each binary pixel, at most 1, so log p(x|z) <= 0"

    def base(self, params, x):
        return Bernoulli(logits=params[:, :1])


class ContinuousBernoulliLikelihood(DecoderLikelihood):
    key = "continuous-bernoulli"
    description = "Continuous Bernoulli (Loaiza-Ganem & Cunningham 2019): a normalized density on [0, 1]."
    no_sigma = ("A continuous Bernoulli decoder has no sigma: its one parameter lambda sets mean and spread together, "
                "so a floor on sigma does not apply (a bound would have to be put on |lambda| instead).")

    def base(self, params, x):
        return LogitContinuousBernoulli(logits=params[:, :1])


class GaussianFixed(DecoderLikelihood):
    """Normal(mu, sigma) with a constant sigma: the ELBO equals a beta-VAE's MSE loss with beta = 2 sigma^2."""

    key = "gaussian-fixed"
    description = "Normal(mu, sigma) with sigma a constant: the usual beta-VAE (beta = 2 sigma^2)."

    def __init__(self, sigma: float = 0.1):
        super().__init__()
        self._check(sigma=sigma)
        self.register_buffer("log_sigma", torch.tensor(math.log(sigma)))

    def base(self, params, x):
        mu = torch.sigmoid(params[:, :1])
        return Normal(mu, self.log_sigma.exp().expand_as(mu))


class GaussianShared(DecoderLikelihood):
    """Normal(mu, sigma) with one learned sigma for all pixels: the calibrated decoder (Rybkin et al. 2021)."""

    key = "gaussian-shared"
    description = "Normal(mu, sigma) with one learned sigma shared by all pixels (sigma-VAE)."

    def __init__(self, init_sigma: float = 0.1):
        super().__init__()
        self._check(init_sigma=init_sigma)
        self.log_sigma = nn.Parameter(torch.tensor(math.log(init_sigma)))

    def base(self, params, x):
        mu = torch.sigmoid(params[:, :1])
        return Normal(mu, self.log_sigma.exp().expand_as(mu))


class GaussianOptimal(DecoderLikelihood):
    """Normal(mu, sigma*) with sigma*^2 = the batch MSE, the analytic optimum of a shared sigma (Rybkin et al. 2021).

    In training mode with x given, sigma* is computed from the batch (detached: at the optimum its gradient
    vanishes) and tracked by an exponential moving average; otherwise the tracked value is used, so the
    evaluated model is one fixed distribution.
    """

    key = "gaussian-optimal"
    description = "Normal(mu, sigma*) with sigma*^2 = batch MSE, the analytic optimum of a shared sigma."

    def __init__(self, init_sigma: float = 0.1, momentum: float = 0.01, min_sigma: float = 1e-4):
        super().__init__()
        self._check(init_sigma=init_sigma, momentum=momentum, min_sigma=min_sigma)
        self.momentum, self.min_sigma = momentum, min_sigma
        self.register_buffer("log_sigma", torch.tensor(math.log(init_sigma)))

    def base(self, params, x):
        mu = torch.sigmoid(params[:, :1])
        if self.training and x is not None:
            log_sigma = 0.5 * torch.log(((x - mu.detach()) ** 2).mean().clamp(min=self.min_sigma**2))
            with torch.no_grad():
                self.log_sigma.lerp_(log_sigma, self.momentum)
        else:
            log_sigma = self.log_sigma
        return Normal(mu, log_sigma.exp().expand_as(mu))


class GaussianPixel(DecoderLikelihood):
    """Normal(mu(z), sigma(z)) per pixel, sigma unbounded: the "exact ELBO" VAE whose sigma is free to collapse.

    Maximum likelihood is ill-posed here (Mattei & Frellsen 2018): sigma(z) -> 0 on a reconstructed pixel
    sends the density to infinity.
    """

    key, num_params = "gaussian-pixel", 2
    description = "Normal(mu(z), sigma(z)) per pixel, unbounded: sigma -> 0, likelihood -> infinity."

    def base(self, params, x):
        return Normal(torch.sigmoid(params[:, :1]), torch.exp(params[:, 1:2]))


class GaussianPixelFloor(DecoderLikelihood):
    """Per-pixel Normal with sigma(z) = sigma_min + softplus(.) >= sigma_min, which bounds the density by
    (2 pi sigma_min^2)^(-1/2) per pixel and makes maximum likelihood well-posed (Mattei & Frellsen 2018)."""

    key, num_params = "gaussian-pixel-floor", 2
    description = "Per-pixel Normal with sigma(z) >= sigma_min: bounding the variance restores a maximum."

    def __init__(self, sigma_min: float = 0.01):
        super().__init__()
        self._check(sigma_min=sigma_min)
        self.sigma_min = sigma_min

    def pixel_ceiling(self) -> float:
        return pixel_bounds.ceiling(self.sigma_min)

    def base(self, params, x):
        return Normal(torch.sigmoid(params[:, :1]), self.sigma_min + F.softplus(params[:, 1:2]))


class DiscretizedGaussianLikelihood(DecoderLikelihood):
    """Per-pixel Normal integrated over 8-bit bins: a probability, bounded by 1, so bits/dim are exact."""

    key, num_params = "discretized-gaussian", 2
    description = "Normal integrated over each 8-bit pixel bin: a probability, bounded, true bits/dim."
    bound = "a probability of each 8-bit value, at most 1, so log P(x) <= 0 whatever sigma does"

    def __init__(self, free_mean: bool = False):
        """``free_mean``: use the decoder's raw output as the mean instead of squashing it into [0, 1] with a
        sigmoid. The edge bins are open-ended, so a mean beyond 0 or 1 at a moderate sigma puts nearly all mass on
        them, as the unconstrained means of PixelCNN++'s discretized logistic do (Salimans et al. 2017); a
        squashed mean can only get there with a saturated sigmoid or a very small sigma."""
        super().__init__()
        self._check(free_mean=free_mean)
        self.free_mean = bool(free_mean)

    def base(self, params, x):
        mu = params[:, :1] if self.free_mean else torch.sigmoid(params[:, :1])
        # log sigma clamped for numerical safety only: at sigma = e^-9 a bin of width 1/255 holds ~all mass.
        return DiscretizedNormal(mu, torch.exp(params[:, 1:2].clamp(min=-9.0)))


LIKELIHOODS: dict[str, type[DecoderLikelihood]] = {
    cls.key: cls
    for cls in (BernoulliLikelihood, GaussianFixed, GaussianShared, GaussianOptimal, GaussianPixel,
                GaussianPixelFloor, ContinuousBernoulliLikelihood, DiscretizedGaussianLikelihood)
}


def make_likelihood(key: str, **settings) -> DecoderLikelihood:
    """Build a registered likelihood; unknown keys or settings, or bad values, raise a ValueError that says what
    exists (vae_core.model.config.decoder_problem)."""
    problem = decoder_problem(key, settings)
    if problem:
        raise ValueError(problem)
    try:
        return LIKELIHOODS[key](**settings)
    except TypeError as e:
        raise ValueError(f"bad settings {settings} for decoder {key!r}: {e}") from None
