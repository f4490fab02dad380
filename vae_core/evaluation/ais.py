"""Annealed importance sampling (Neal 2001) of log p(x) for a VAE, with Hamiltonian Monte Carlo transitions as
Wu et al. 2017 ("On the quantitative analysis of decoder-based generative models") run it, and the bidirectional
Monte Carlo check of Grosse et al. 2015 on data simulated from the model.

The path runs from the prior to the posterior through f_t(z) = p(z) p(x|z)^beta_t, 0 = beta_0 < ... < beta_T = 1.
A chain starts at z_0 ~ p(z) and collects log w = sum_t (beta_t - beta_{t-1}) log p(x|z_{t-1}), moving z by one
HMC transition that leaves f_t invariant after each step. E[w] = p(x), so log mean_chains(w) is a stochastic
lower bound on log p(x) (Jensen). Run backwards from an exact posterior sample (available when x was simulated
from the model with a known z), the same sum estimates 1/p(x) without bias: -log mean(w_rev) is a stochastic
upper bound, and the two sandwich the true value (Grosse et al. 2015, Sec. 4).

``start="encoder"`` starts the path at the encoder's q(z|x) instead of the prior: f_t(z) = q(z|x)^(1 - beta_t)
[p(z) p(x|z)]^beta_t, z_0 ~ q(z|x), log w = sum_t (beta_t - beta_{t-1}) log [p(z) p(x|z) / q(z|x)]. Any normalized
start keeps E[w] = p(x) (Neal 2001, Sec. 2), so it is the same kind of bound; at T = 1 it is IWAE with one sample
per chain. Where the posterior is far narrower than the prior (a decoder sigma of 1e-3 on 784 pixels), a chain from
the prior has thousands of nats of likelihood to climb and at a few hundred steps ends far below IWAE; one from
q(z|x) starts where IWAE's samples are. Reversed (BDMC), the path runs from the exact z back to q(z|x).

``mass="encoder"`` gives HMC the diagonal mass matrix diag(1 / s^2), s being q(z|x)'s standard deviations: the same
as running it in the coordinates u = z / s (Neal 2011, Sec. 4.1), one fixed linear map per image, so every kernel
keeps its target and E[w] = p(x) still holds. Where the posterior's widths differ by orders of magnitude between
latent dimensions (active and collapsed units under a sharp decoder), one step size for all of them is set by the
narrowest and barely moves the rest; scaled by s, each dimension takes a step in proportion to its own width.

Chains are batched as rows (chains * B, L), chain-major: row c * B + b is chain c of image b.

Cost: almost all of it is log p(x|z) and its gradient in z, evaluated T * leapfrog_steps times per row. For a VAE
(decode = likelihood(decoder(z))) the decoder runs once over all rows and the likelihood's gradient with respect to
the decoder outputs is taken apart: eagerly in row chunks that stay in cache (bit-identical to one call), or, for
long runs, fused by ``torch.compile`` (the same arithmetic to float rounding, ~5x faster on CPU for that part; its
first call compiles for 2-8 s). The random draws do not depend on the path.

Devices: a run computes where the model is, or moves it (in place) to the ``device`` it is given, with the images
moved there once. Every random draw (starting states, momenta, the Metropolis uniforms) is made on the CPU from the
run's seeded generator and then moved, so a GPU run uses the CPU run's draws; its sums round differently, and
since a Metropolis decision can flip on the last bit, chains may part after that: CPU and GPU estimates then agree
to within their Monte Carlo error, not bit for bit. Its sums are float64, which Apple's MPS lacks (refused).
"""
from __future__ import annotations

import math
import numbers
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import Tensor
from tqdm.auto import tqdm

from vae_core.base.devices import check_float64, move_model, place
from vae_core.model.likelihoods import unvalidated

# Shipped settings, chosen from the convergence curves of scripts/bench_ais.py (README: AIS cost and convergence).
NUM_STEPS = 300            # intermediate distributions (transitions) between the prior and the posterior
LEAPFROG_STEPS = 10        # leapfrog steps per HMC transition (as Wu et al. 2017)
CHAINS = 4                 # independent chains per image; log p(x) is the log of their mean weight
STEP_SIZE = 0.05           # initial leapfrog step size of every chain, then adapted per chain
STARTS = ("prior", "encoder")  # where the path starts: p(z), or the encoder's q(z|x) (module docstring)
MASSES = ("identity", "encoder")  # HMC's diagonal mass matrix: I, or q(z|x)'s precisions (module docstring)
SCHEDULE_RADIUS = 4.0      # sigmoid schedule beta_t = sigma(r (2t/T - 1)), rescaled to [0, 1] (Grosse et al. 2015)
TARGET_ACCEPTANCE = 0.65   # step size adaptation target (Neal 2011; Wu et al. 2017)
# Per transition the step size grows by this factor while the chain's running acceptance is above the target and
# shrinks by its inverse-ish (1 - g) below. Wu et al.'s code uses 1.02 / 0.98; 1.1 / 0.9 follows a posterior that
# narrows by orders of magnitude (sharp decoders) within a few hundred transitions instead of thousands: on the
# 2-D and 16-D zoo models at T = 100 it holds the acceptance at ~0.63 where 2% steps fall to 0.2-0.4.
STEP_SIZE_GROWTH = 1.1
STEP_SIZE_SHRINK = 0.9
ACCEPTANCE_SMOOTHING = 0.9  # running acceptance: a <- s a + (1 - s) P(accept) after every transition
STEP_SIZE_RANGE = (1e-6, 0.5)  # clamp on the adapted step size (with mass="encoder": in units of q's widths)
MAX_ROWS = 4096            # chains * images evaluated in one decoder call (memory and cache size)
# The likelihood part of a VAE's gradient is ~30 elementwise passes over (rows, 784) tensors: eagerly, 256 rows at a
# time keep them in a core's L2 cache (-19% CPU at 4,095 rows, nothing at a few hundred; docs/bench_ais.md).
# Bit-identical to one call: each row's arithmetic is the same.
ROW_CHUNK = 256
# ``compiled=None`` compiles the likelihood's gradient when a run evaluates at least this many rows (rows x
# transitions x leapfrog steps): compiling costs 2-8 s once and saves ~15 us per row evaluation, so it pays from ~0.5M.
COMPILE_MIN_ROW_EVALUATIONS = 2_000_000


@dataclass
class AISResult:
    """Per-image AIS estimates in nats. ``log_px`` is a stochastic lower bound on log p(x), not log p(x)."""

    log_px: Tensor              # (N,) float64: log of the mean importance weight over chains
    log_weights: Tensor         # (N, chains) float64: each chain's log w
    acceptance: float           # mean Metropolis acceptance probability over all transitions
    # (N,) bool: a chain started where log p(x|z) is not finite, or the pilot could not move even from the start
    # density's mean (the prior's, or q(z|x)'s); log_px is NaN there
    nonfinite_start: Tensor
    # (N,) int64: chains that started where log p(x|z) is finite but its gradient is not (a float32 decoder far out
    # in the prior overflows there). A proposal is rejected when its leapfrog path meets a non-finite gradient; the
    # rule depends only on the positions a path visits, which its reverse shares, so the kernel keeps detailed
    # balance, and it is the identity at such a state: the chain stays put and E[w] = p(x) still holds over all
    # chains, though a frozen chain's weight (p(x|z_0), or p(x, z_0) / q(z_0|x) from the encoder) is of no help.
    frozen_chains: Tensor
    final_step_size: Tensor     # (N,) each image's leapfrog step size at the end, as its pilot adapted it
    # (N,) int64: HMC proposals rejected because log p(x|z) was not finite there. Counted, not flagged: with a sharp
    # decoder a leapfrog trajectory whose step is still too large diverges to such z routinely, and rejecting a
    # proposal of zero or undefined density is what the Metropolis rule does.
    nonfinite_proposals: Tensor
    compiled: bool              # the likelihood's gradient ran through torch.compile (equal to eager to rounding)
    num_steps: int
    leapfrog_steps: int
    chains: int
    step_size: float
    seed: int
    seconds: float
    start: str = "prior"        # where the chains started (STARTS)
    mass: str = "identity"      # HMC's diagonal mass matrix (MASSES)

    @property
    def flagged(self) -> Tensor:
        """(N,) bool: images with no estimate (NaN): the decoder was not finite where a chain started, or the pilot
        could not move even from the start density's mean."""
        return self.nonfinite_start

    @property
    def chain_stderr(self) -> Tensor:
        """(N,) delta-method standard error of log mean(w) over the chains: std(w) / (mean(w) sqrt(chains)).
        NaN with one chain; with few chains it understates the error of a heavy-tailed weight."""
        w = torch.exp(self.log_weights - self.log_weights.max(1, keepdim=True).values)
        return w.std(1) / (w.mean(1) * math.sqrt(self.chains)) if self.chains > 1 else torch.full_like(
            self.log_px, math.nan)

    def mean_and_stderr(self) -> tuple[float, float]:
        """Mean of log_px over the images and its standard error across images."""
        v = self.log_px
        return float(v.mean()), float(v.std() / math.sqrt(len(v))) if len(v) > 1 else math.nan


@dataclass
class BDMCResult:
    """Bidirectional Monte Carlo on data simulated from the model (Grosse et al. 2015): the true log p(x) of
    each simulated image lies (stochastically) between ``lower`` and ``upper``."""

    x: Tensor                # (N, *event) the simulated images, x ~ p(x|z)
    z: Tensor                # (N, L) the latents they were drawn from, z ~ p(z): exact posterior samples given x
    forward: AISResult       # start (prior or q(z|x)) -> posterior: lower = forward.log_px
    reverse_log_weights: Tensor  # (N, chains) float64: log w of the reverse chains (estimates of -log p(x))
    reverse_acceptance: float

    @property
    def lower(self) -> Tensor:
        return self.forward.log_px

    @property
    def upper(self) -> Tensor:
        """(N,) -log mean(w_rev): E[w_rev] = 1/p(x), so this is a stochastic upper bound on log p(x)."""
        return -(torch.logsumexp(self.reverse_log_weights, 1) - math.log(self.reverse_log_weights.shape[1]))

    @property
    def gap(self) -> Tensor:
        """(N,) upper - lower: how far forward AIS at these settings can be from the true log p(x)."""
        return self.upper - self.lower

    @property
    def mean_gap(self) -> float:
        return float(self.gap.mean())


def sigmoid_schedule(num_steps: int, radius: float = SCHEDULE_RADIUS) -> Tensor:
    """beta_0..beta_T (T + 1,) float64: gamma_t = sigmoid(r (2t/T - 1)), beta_t = (gamma_t - gamma_0) / (gamma_T -
    gamma_0). Denser near 0 and 1, where the intermediate distributions change fastest (Grosse et al. 2015, 6.2)."""
    _check_count("num_steps", num_steps, "intermediate distributions")
    if num_steps == 1:
        return torch.tensor([0.0, 1.0], dtype=torch.float64)
    gamma = torch.sigmoid(radius * torch.linspace(-1.0, 1.0, num_steps + 1, dtype=torch.float64))
    return (gamma - gamma[0]) / (gamma[-1] - gamma[0])


def ais_log_likelihood(model, x: Tensor, num_steps: int = NUM_STEPS, leapfrog_steps: int = LEAPFROG_STEPS,
                       chains: int = CHAINS, step_size: float = STEP_SIZE, seed: int = 0, progress: bool = False,
                       batch_size: int | None = None, compiled: bool | None = None,
                       device: str | torch.device | None = None, start: str = "prior",
                       mass: str = "identity") -> AISResult:
    """Forward AIS from p(z) (or with ``start="encoder"`` from q(z|x)) to p(z|x) for each image of x (N, *event)
    in model form (see data.py); see the module docstring. ``batch_size`` images run together (default: as many as
    fit ``MAX_ROWS`` rows of chains). ``compiled``: fuse the likelihood's gradient with torch.compile (None: when
    the run is long enough to repay it, see ``COMPILE_MIN_ROW_EVALUATIONS``); where compiling fails it warns and
    runs eagerly. ``device``: where to run (None: where the model is); the results come back on the CPU."""
    _check_settings(num_steps, leapfrog_steps, chains, step_size, start, mass)
    x = _check_images(model, x)
    x = place(model, x, device)  # (N, *event) on the model's device, once
    check_float64(model.device, "AIS")
    model.eval()
    began = time.perf_counter()
    gen = torch.Generator(device="cpu").manual_seed(seed)
    dtype = model.prior().mean.dtype
    batch_size = batch_size or max(1, MAX_ROWS // (chains + 1))
    gradient = _likelihood_gradient(model, len(x) * (chains + 1) * num_steps * leapfrog_steps, compiled)
    parts = []
    bar = tqdm(total=math.ceil(len(x) / batch_size) * num_steps, desc=f"AIS T={num_steps}", disable=not progress,
               leave=False)
    for i in range(0, len(x), batch_size):
        xb = x[i:i + batch_size].to(model.device)
        z0 = _randn(((chains + 1) * len(xb), model.config.latent_dim), gen, dtype, model.device)  # ((C+1)*B, L)
        base, scales = _from_encoder(model, xb, start, mass, chains + 1)
        if base is not None:  # z0 ~ q(z|x), chain-major like the rows
            z0 = base[0].repeat(chains + 1, 1) + base[1].repeat(chains + 1, 1) * z0
        parts.append(_anneal(model, xb, z0, sigmoid_schedule(num_steps), leapfrog_steps, step_size, gen, bar,
                             gradient, base, scales))
    bar.close()
    return _result(parts, num_steps, leapfrog_steps, chains, step_size, seed, time.perf_counter() - began,
                   gradient.compiled, start, mass)


def bdmc(model, num_images: int, num_steps: int = NUM_STEPS, leapfrog_steps: int = LEAPFROG_STEPS,
         chains: int = CHAINS, step_size: float = STEP_SIZE, seed: int = 0, progress: bool = False,
         batch_size: int | None = None, compiled: bool | None = None,
         device: str | torch.device | None = None, start: str = "prior", mass: str = "identity") -> BDMCResult:
    """Simulate z ~ p(z), x ~ p(x|z) (``num_images`` pairs), then run forward AIS on x and reverse AIS from the
    exact z (posterior -> prior, or -> q(z|x) with ``start="encoder"``, the schedule reversed) with the same
    settings (Grosse et al. 2015; Wu et al. 2017, Sec. 5). x is a valid input for the model's likelihood: binary for
    Bernoulli, 8-bit bins for the discretized Gaussian, real values for a Gaussian density. ``device``: where to
    run (None: where the model is); x ~ p(x|z) is drawn there, so on a GPU the simulated images differ from the
    CPU's."""
    _check_count("num_images", num_images, "simulated images")
    _check_settings(num_steps, leapfrog_steps, chains, step_size, start, mass)
    move_model(model, device)
    check_float64(model.device, "AIS")
    x, z = simulate(model, num_images, seed)
    forward = ais_log_likelihood(model, x, num_steps, leapfrog_steps, chains, step_size, seed=seed + 1,
                                 progress=progress, batch_size=batch_size, compiled=compiled, start=start,
                                 mass=mass)
    gen_rev = torch.Generator(device="cpu").manual_seed(seed + 2)
    batch_size = batch_size or max(1, MAX_ROWS // (chains + 1))
    reversed_betas = sigmoid_schedule(num_steps).flip(0)
    gradient = _likelihood_gradient(model, num_images * (chains + 1) * num_steps * leapfrog_steps, compiled)
    parts = []
    bar = tqdm(total=math.ceil(num_images / batch_size) * num_steps, desc=f"reverse AIS T={num_steps}",
               disable=not progress, leave=False)
    for i in range(0, num_images, batch_size):
        xb, zb = x[i:i + batch_size], z[i:i + batch_size]
        base, scales = _from_encoder(model, xb, start, mass, chains + 1)
        parts.append(_anneal(model, xb, zb.repeat(chains + 1, 1), reversed_betas, leapfrog_steps, step_size, gen_rev,
                             bar, gradient, base, scales))
    bar.close()
    reverse = _result(parts, num_steps, leapfrog_steps, chains, step_size, seed + 2, 0.0, gradient.compiled, start,
                      mass)
    return BDMCResult(x=x.cpu(), z=z.cpu(), forward=forward, reverse_log_weights=reverse.log_weights,
                      reverse_acceptance=reverse.acceptance)


def simulate(model, num_images: int, seed: int = 0) -> tuple[Tensor, Tensor]:
    """BDMC's data: z ~ p(z) (N, L) and x ~ p(x|z) (N, *event), drawn where the model is, from ``seed``."""
    model.eval()
    gen = torch.Generator(device="cpu").manual_seed(seed)
    with torch.no_grad():
        z = _randn((num_images, model.config.latent_dim), gen, model.prior().mean.dtype, model.device)
        with torch.random.fork_rng(devices=[]):  # torch.distributions sample from the global generator
            torch.manual_seed(int(torch.randint(2**62, (1,), generator=gen)))
            x = model.decode(z).sample()
    return x, z


# ------------------------------------------------------------------------------------------------ the sampler
HALF_LOG_2PI = 0.5 * math.log(2 * math.pi)


def _from_encoder(model, x: Tensor, start: str, mass: str, chains: int
                  ) -> tuple[tuple[Tensor, Tensor] | None, Tensor | None]:
    """What a run over images x (B, *event) takes from q(z|x), with ``chains`` rows per image (the pilot's
    included): its means and standard deviations (B, L) each where the path starts there (else None), and each
    row's leapfrog step per latent dimension relative to the pilot's, q's standard deviations ((chains*B, L)), with
    ``mass="encoder"`` (else None: the identity mass matrix). The encoder runs only if either needs it."""
    if "encoder" not in (start, mass):
        return None, None
    with torch.no_grad():
        q = model.encode(x)
    loc, scale = q.base_dist.loc.detach(), q.base_dist.scale.detach()
    return (loc, scale) if start == "encoder" else None, scale.repeat(chains, 1) if mass == "encoder" else None


def _anneal(model, x: Tensor, z: Tensor, betas: Tensor, leapfrog_steps: int, step_size: float,
            gen: torch.Generator, bar, gradient: _LikelihoodGradient,
            base: tuple[Tensor, Tensor] | None = None, scales: Tensor | None = None) -> dict[str, Tensor]:
    """One AIS run along ``betas`` for images x (B, *event) from states z ((C+1)*B, L), chain-major; returns each
    image's C log weights and statistics. Works in either direction: log w sums (beta_t - beta_{t-1}) log p(x|z)
    whatever their sign. ``base``: q(z|x)'s means and standard deviations (B, L) where the path starts at the
    encoder; then the start density is log q(z|x) and what the weights sum is log p(z) + log p(x|z) - log q(z|x).

    Chain 0 of every image is a pilot: its step size adapts to its own acceptance (Wu et al. 2017's rule) and the
    other C chains of that image use the pilot's step size at each transition; the pilot's weight is discarded.
    Adapting a chain on its own history makes its transitions depend on its past, and its weight is then no
    longer unbiased (measured: E[w/p(x)] = 1.09 +- 0.015 on a 2-D linear-Gaussian model); driven by an
    independent pilot, each counted chain runs AIS with a fixed sequence of kernels, so E[w] = p(x) holds.
    """
    rows, images = len(z), len(x)
    chains = rows // images  # C + 1, the pilot first
    x_rows = x.repeat(chains, *[1] * (x.dim() - 1))  # ((C+1)*B, *event), chain-major like z
    prior = model.prior()

    if base is not None:
        q_loc, q_scale = (v.to(z.dtype).repeat(chains, 1) for v in base)  # ((C+1)*B, L) each
    start_mean = prior.mean.to(z.dtype).expand(images, -1) if base is None else q_loc[:images]  # (B, L)

    def log_lik_and_grads(z: Tensor) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        """What the weights sum (ll) and the start density (lp), with their gradients in z."""
        with unvalidated():
            ll, lp, g_ll, g_lp = _log_densities_and_grads(model, prior, z, x_rows, gradient)
        if base is None:
            return ll, lp, g_ll, g_lp
        # by hand, not torch.distributions: a diverged leapfrog step's non-finite z must give a non-finite
        # density (rejected below), not a validation error
        lq = (-0.5 * ((z - q_loc) / q_scale) ** 2 - q_scale.log() - HALF_LOG_2PI).sum(1)  # ((C+1)*B,)
        g_lq = (q_loc - z) / q_scale**2
        return ll + lp - lq, lq, g_ll + g_lp - g_lq, g_lq

    ll, lp, g_ll, g_lp = log_lik_and_grads(z)
    nonfinite_start = ~torch.isfinite(ll)  # ((C+1)*B,)
    frozen = torch.isfinite(ll) & ~torch.isfinite(g_ll).all(1)  # ((C+1)*B,) see AISResult.frozen_chains
    # A pilot that cannot move would accept nothing and shrink its image's step size to the floor, stalling the
    # counted chains with it. It starts again at the start density's mean (the prior's, or q(z|x)'s) instead: its
    # weight is discarded and its state never enters theirs, so their kernels stay a fixed sequence. An image whose
    # pilot cannot move even there has no usable step size and no estimate.
    pilot_stuck = (nonfinite_start | frozen)[:images]  # (B,)
    if pilot_stuck.any():
        z = z.clone()
        z[:images][pilot_stuck] = start_mean[pilot_stuck]
        ll, lp, g_ll, g_lp = log_lik_and_grads(z)
        pilot_stuck = ~(torch.isfinite(ll) & torch.isfinite(g_ll).all(1))[:images]
    log_w = torch.zeros(rows, dtype=torch.float64, device=z.device)
    eps = torch.full((images, 1), float(step_size), dtype=z.dtype, device=z.device)  # per image, from its pilot
    running_accept = torch.full((images,), TARGET_ACCEPTANCE, dtype=torch.float64, device=z.device)
    accept_sum = torch.zeros(rows, dtype=torch.float64, device=z.device)
    rejected_nonfinite = torch.zeros(rows, dtype=torch.int64, device=z.device)
    num_transitions = len(betas) - 2  # no transition after the last weight update: it cannot change w
    for t in range(1, len(betas)):
        log_w += (betas[t] - betas[t - 1]) * ll.double()
        bar.update(1)
        if t == len(betas) - 1:
            break
        beta = float(betas[t])
        # HMC (Neal 2011): fresh momentum, leapfrog on U = -(lp + beta ll), Metropolis correction; from the prior
        # U = -(log p(z) + beta log p(x|z)).
        p0 = _randn(z.shape, gen, z.dtype, z.device)  # (C*B, L)
        eps_rows = eps.repeat(chains, 1)  # ((C+1)*B, 1)
        if scales is not None:
            eps_rows = eps_rows * scales  # ((C+1)*B, L)
        z_new, p = z, p0 + 0.5 * eps_rows * (g_lp + beta * g_ll)
        for step in range(leapfrog_steps):
            z_new = z_new + eps_rows * p
            ll_new, lp_new, g_ll_new, g_lp_new = log_lik_and_grads(z_new)
            p = p + (eps_rows if step < leapfrog_steps - 1 else 0.5 * eps_rows) * (g_lp_new + beta * g_ll_new)
        h0 = -(lp + beta * ll).double() + 0.5 * (p0.double() ** 2).sum(1)
        h1 = -(lp_new + beta * ll_new).double() + 0.5 * (p.double() ** 2).sum(1)
        finite = torch.isfinite(h1) & torch.isfinite(g_ll_new).all(1) & torch.isfinite(z_new).all(1)
        rejected_nonfinite += (~finite).long()
        log_accept = torch.where(finite, (h0 - h1).clamp(max=0.0), torch.full_like(h0, -math.inf))
        accept_prob = log_accept.exp()
        u = torch.rand(rows, generator=gen, dtype=torch.float64).to(z.device)
        take = (u < accept_prob).unsqueeze(1)  # (C*B, 1)
        z = torch.where(take, z_new, z).detach()
        ll, lp = torch.where(take[:, 0], ll_new, ll), torch.where(take[:, 0], lp_new, lp)
        g_ll, g_lp = torch.where(take, g_ll_new, g_ll), torch.where(take, g_lp_new, g_lp)
        # The pilot's step size grows while its running acceptance is above target, shrinks below (Wu et al. 2017).
        accept_sum += accept_prob
        running_accept = ACCEPTANCE_SMOOTHING * running_accept + (1 - ACCEPTANCE_SMOOTHING) * accept_prob[:images]
        factor = torch.where(running_accept > TARGET_ACCEPTANCE, STEP_SIZE_GROWTH, STEP_SIZE_SHRINK).to(eps.dtype)
        eps = (eps * factor.unsqueeze(1)).clamp(*STEP_SIZE_RANGE)
    counted = slice(images, None)  # all but the pilot
    return {"log_w": log_w[counted].view(chains - 1, -1).T.cpu(),  # (B, C)
            "nonfinite_start": (nonfinite_start[counted].view(chains - 1, -1).any(0) | pilot_stuck).cpu(),
            "frozen_chains": frozen[counted].view(chains - 1, -1).sum(0).cpu(),
            "rejected_nonfinite": rejected_nonfinite[counted].view(chains - 1, -1).sum(0).cpu(),
            "accept_sum": accept_sum[counted].sum().cpu(),
            "final_step_size": eps[:, 0].cpu(),
            "num_transitions": torch.tensor(num_transitions * (rows - images))}


def _log_densities_and_grads(model, prior, z: Tensor, x: Tensor, gradient: _LikelihoodGradient
                             ) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """log p(x|z), log p(z) (R,) and their gradients (R, L), by autograd on z only. For a VAE the decoder's
    outputs are cut from the graph and the likelihood's gradient with respect to them is fed back (chain rule)."""
    with torch.enable_grad():
        z = z.detach().requires_grad_(True)
        if gradient.split:
            params = model.decoder(z)  # (R, P, 28, 28), what VAE.decode hands its likelihood
            ll, g_params = gradient(params.detach(), x)
            (g_ll,) = torch.autograd.grad(params, z, g_params)
        else:
            ll = model.decode(z).log_prob(x)
            (g_ll,) = torch.autograd.grad(ll.sum(), z)
            ll = ll.detach()
        lp = prior.log_prob(z)
        (g_lp,) = torch.autograd.grad(lp.sum(), z)
    return ll, lp.detach(), g_ll, g_lp


class _LikelihoodGradient:
    """log p(x|z) and its gradient with respect to the decoder outputs, for rows of decoder outputs (R, P, ...)
    and images (R, *event): eagerly in ``ROW_CHUNK`` row chunks, or through one compiled, fused function."""

    def __init__(self, likelihood, compiled: bool):
        self.likelihood, self.compiled = likelihood, compiled
        self.split = likelihood is not None

    def __call__(self, params: Tensor, x: Tensor) -> tuple[Tensor, Tensor]:
        if self.compiled:
            try:
                g, (_, ll) = _compiled_likelihood_grad()(params, self.likelihood, x)
                return ll, g
            except Exception as e:  # no C++ compiler, an unsupported op: the eager path computes the same numbers
                warnings.warn(f"AIS: torch.compile of the likelihood failed ({type(e).__name__}: "
                              f"{str(e).splitlines()[0] if str(e) else ''}); running eagerly", RuntimeWarning,
                              stacklevel=2)
                self.compiled = False
        lls, grads = [], []
        for p, xc in zip(params.split(ROW_CHUNK), x.split(ROW_CHUNK), strict=True):
            p = p.requires_grad_(True)
            ll = self.likelihood(p).log_prob(xc)  # (chunk,)
            lls.append(ll.detach())
            grads.append(torch.autograd.grad(ll.sum(), p)[0])
        return torch.cat(lls), torch.cat(grads)


def _likelihood_gradient(model, row_evaluations: int, compiled: bool | None) -> _LikelihoodGradient:
    """The gradient path for this run. Models that are not a VAE (decode(z) = likelihood(decoder(z))) run
    autograd through ``model.decode`` as a whole, never compiled."""
    likelihood = getattr(model, "likelihood", None) if hasattr(model, "decoder") else None
    if likelihood is None:
        return _LikelihoodGradient(None, False)
    if compiled is None:
        compiled = row_evaluations >= COMPILE_MIN_ROW_EVALUATIONS
    if compiled:
        # Compiled code is cached per function and guarded on the likelihood's class; a run over the whole zoo
        # would pass torch's limit on recompilations (8) and fall back to eager silently. A run is long, so
        # starting it from a clean cache costs little (torch keeps compiled kernels on disk as well).
        torch.compiler.reset()
    return _LikelihoodGradient(likelihood, bool(compiled))


def _likelihood_sum(params: Tensor, likelihood, x: Tensor) -> tuple[Tensor, Tensor]:
    ll = likelihood(params).log_prob(x)  # (R,)
    return ll.sum(), ll


_COMPILED: list[Callable] = []  # built on first use: importing this module never starts a compiler


def _compiled_likelihood_grad() -> Callable:
    if not _COMPILED:
        _COMPILED.append(torch.compile(torch.func.grad_and_value(_likelihood_sum, has_aux=True), dynamic=True))
    return _COMPILED[0]


def _result(parts: list[dict], num_steps, leapfrog_steps, chains, step_size, seed, seconds,
            compiled: bool, start: str, mass: str) -> AISResult:
    log_w = torch.cat([p["log_w"] for p in parts])  # (N, C)
    nonfinite_start = torch.cat([p["nonfinite_start"] for p in parts])
    log_w[nonfinite_start] = math.nan
    log_px = torch.logsumexp(log_w, 1) - math.log(chains)
    rejected = torch.cat([p["rejected_nonfinite"] for p in parts])
    frozen = torch.cat([p["frozen_chains"] for p in parts])
    final_step = torch.cat([p["final_step_size"] for p in parts])
    transitions = sum(int(p["num_transitions"]) for p in parts)
    acceptance = float(sum(p["accept_sum"] for p in parts) / transitions) if transitions else math.nan
    if nonfinite_start.any():
        warnings.warn(f"AIS: log p(x|z) was not finite at the start of a chain (or the pilot could not move) for "
                      f"{int(nonfinite_start.sum())} image(s); their log p(x) is NaN (see AISResult.nonfinite_start)",
                      RuntimeWarning, stacklevel=3)
    return AISResult(log_px=log_px, log_weights=log_w, acceptance=acceptance, nonfinite_start=nonfinite_start,
                     frozen_chains=frozen, final_step_size=final_step,
                     nonfinite_proposals=rejected, compiled=compiled, num_steps=num_steps,
                     leapfrog_steps=leapfrog_steps, chains=chains, step_size=float(step_size), seed=seed,
                     seconds=seconds, start=start, mass=mass)


def _randn(shape, gen: torch.Generator, dtype: torch.dtype, device) -> Tensor:
    return torch.randn(shape, generator=gen, dtype=dtype).to(device)


# ------------------------------------------------------------------------------------------------ bad input
def _check_count(name: str, value, what: str) -> None:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
        raise ValueError(f"{name} must be a whole number of {what}, at least 1; got {value!r}")


def _check_settings(num_steps, leapfrog_steps, chains, step_size, start: str = "prior", mass: str = "identity"
                    ) -> None:
    _check_count("num_steps", num_steps, "intermediate distributions")
    _check_count("leapfrog_steps", leapfrog_steps, "leapfrog steps per HMC transition")
    _check_count("chains", chains, "AIS chains per image")
    if isinstance(step_size, bool) or not isinstance(step_size, numbers.Real) or not 0 < step_size < math.inf:
        raise ValueError(f"step_size must be a positive finite number (the initial leapfrog step); got {step_size!r}")
    if start not in STARTS:
        raise ValueError(f"start must be one of {', '.join(STARTS)} (where each chain starts); got {start!r}")
    if mass not in MASSES:
        raise ValueError(f"mass must be one of {', '.join(MASSES)} (HMC's diagonal mass matrix); got {mass!r}")


def _check_images(model, x) -> Tensor:
    if not isinstance(x, Tensor) or not x.is_floating_point():
        got = f"{type(x).__name__} of {x.dtype}" if isinstance(x, Tensor) else type(x).__name__
        raise ValueError(f"x must be a floating-point tensor of images in model form (see vae_core.base.data."
                         f"to_model_input); got a {got}")
    if x.dim() < 2 or len(x) == 0:
        raise ValueError(f"x must hold at least one image, as a batch (N, ...); got shape {tuple(x.shape)}")
    if not torch.isfinite(x).all():
        raise ValueError("x holds NaN or infinite values; AIS needs finite model-form images")
    return x
