"""The best log-likelihood estimate each model has, beside IWAE and the ELBO on the same test images.

Exact quadrature (evaluation.quadrature) for 2-D latents; otherwise annealed importance sampling (evaluation.ais), a
stochastic lower bound at least as tight as IWAE in practice (Wu et al. 2017). Both are paired with IWAE at the
shipped k and the one-sample ELBO on the *same* images, so best - IWAE (with its own standard error over images)
is the bias of the IWAE number the leaderboard used to show.

Devices: everything runs where the model is, or on the ``device`` given (the model moved there in place, the images
once); IWAE and the ELBO then give the CPU's numbers up to float rounding, AIS to within its Monte Carlo error
(vae_core.evaluation.ais), the quadrature to within its tolerance.
"""
from __future__ import annotations

import math
import numbers
import time

import torch
from torch import Tensor

from vae_core.base.devices import check_float64, place
from vae_core.evaluation import ais
from vae_core.evaluation.judge import AIS, AIS_CHOICES, FAR_BELOW_IWAE, QUADRATURE, not_best  # noqa: F401  also read here
from vae_core.evaluation.metrics import bits_per_dim, elbo_terms, iwae_log_likelihood, mean_and_stderr
from vae_core.evaluation.quadrature import LATENT_DIM, exact_log_likelihood
from vae_core.model.vae import VAE

QUADRATURE_IMAGES = 1000  # test images for the exact 2-D estimate (~0.15 s each on one core)
AIS_IMAGES = 50           # test images for AIS at the shipped settings: ~0.5-1 s each on one core
IWAE_K = 1000             # as shipped in eval.json's IWAE
# The second IWAE of the ladder: q(z|x)'s standard deviations widened 1.5x, k = 20,000. On mnist-bernoulli it lay
# 0.62 +- 0.15 nats above AIS at T = 300 x 4 (issue 22): a best estimate must beat it too.
WIDER_SCALE, WIDER_K = 1.5, 20_000
# The BDMC sandwich width a best estimate should reach (issue 22): 1 nat for binarized pixels, 3 for the rest.
BDMC_TARGETS = {"binary": 1.0}
BDMC_TARGET_OTHER = 3.0


def method_for(model: VAE) -> str:
    return method_for_latent_dim(model.config.latent_dim)


def method_for_latent_dim(latent_dim: int) -> str:
    return QUADRATURE if latent_dim == LATENT_DIM else AIS


# What a zoo entry may set for its AIS run (zoo.toml: ais = { num_steps = 1000, chains = 16 }), each a positive count,
# and the choices of AIS_CHOICES: where its chains start (start = "encoder": q(z|x) instead of the prior) and how HMC
# scales its steps (mass = "encoder": by q(z|x)'s standard deviations; vae_core.evaluation.ais).
AIS_OVERRIDES = {"num_steps": "intermediate distributions", "leapfrog_steps": "leapfrog steps per HMC transition",
                 "chains": "AIS chains per image"}


def default_settings(method: str) -> dict:
    """The settings the report names, so a rerun at the same settings can be recognised (and skipped)."""
    if method == QUADRATURE:
        return {"tol": 0.05}
    return {"num_steps": ais.NUM_STEPS, "leapfrog_steps": ais.LEAPFROG_STEPS, "chains": ais.CHAINS, "seed": 0}


def check_ais_overrides(overrides) -> dict:
    """A zoo entry's ``ais`` table, checked: only the keys of ``AIS_OVERRIDES``, each a whole number >= 1, and those
    of ``AIS_CHOICES``, each only its one non-default value: a default is never written, so that absent means the
    default and the eval.json files computed before a choice existed still match their entries."""
    if not isinstance(overrides, dict):
        raise ValueError(f"ais must be a table such as {{ num_steps = 1000, chains = 16 }}; got {overrides!r}")
    unknown = sorted(set(overrides) - set(AIS_OVERRIDES) - set(AIS_CHOICES))
    if unknown:
        raise ValueError(f"ais has unknown setting(s) {', '.join(unknown)}; allowed: "
                         f"{', '.join([*AIS_OVERRIDES, *AIS_CHOICES])}")
    for key, value in overrides.items():
        if key in AIS_CHOICES:
            allowed, words = AIS_CHOICES[key]
            if value != allowed:
                raise ValueError(f"ais.{key} must be \"{allowed}\" ({words}; leave it out for the default); "
                                 f"got {value!r}")
            continue
        if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
            raise ValueError(f"ais.{key} must be a whole number of {AIS_OVERRIDES[key]}, at least 1; got {value!r}")
    return dict(overrides)


def settings_for(latent_dim: int, ais_overrides: dict | None = None) -> dict:
    """The settings of a model's best estimate: its method's defaults, with a zoo entry's AIS overrides on top
    (where AIS at the shipped settings does not converge for that model). Overrides for a 2-D model are an error:
    its estimate is the exact quadrature."""
    method = method_for_latent_dim(latent_dim)
    if ais_overrides is None:
        return default_settings(method)
    if method != AIS:
        raise ValueError(f"ais settings apply to AIS, but a model with latent_dim {LATENT_DIM} gets the exact "
                         f"quadrature; remove them")
    return {**default_settings(method), **check_ais_overrides(ais_overrides)}


@torch.no_grad()
def best_log_likelihood(model: VAE, x: Tensor, settings: dict | None = None, iwae_k: int = IWAE_K,
                        progress: bool = False, device: str | torch.device | None = None,
                        wider_k: int | None = WIDER_K) -> dict:
    """The eval.json "log_likelihood" block for images x (N, 1, 28, 28): the best estimate, its method and
    standard error over images, IWAE_k and the ELBO on the same images, and the paired differences; for AIS also
    the wider-proposal IWAE with ``wider_k`` samples and the BDMC sandwich (``sandwich``; None: neither).

    Images whose best estimate is flagged (not converged, non-finite decoder) are left out of every mean and
    counted in ``excluded_images``: a flagged number is never averaged in silently. ``device``: where to compute
    (None: where the model is).
    """
    method = method_for(model)
    settings = settings or default_settings(method)
    x = place(model, x, device)  # (N, 1, 28, 28) on the model's device, once
    check_float64(model.device, f"the best log-likelihood estimate ({method})")
    start = time.perf_counter()
    if method == QUADRATURE:
        result = exact_log_likelihood(model, x, progress=progress, **settings)
        best, usable = result.log_px, result.converged & torch.isfinite(result.log_px)
        extra = {"bound": "exact up to the numerical error below",
                 "numerical_error_max": _finite_max(result.error[usable]),
                 "numerical_error_mean": float(result.error[usable].mean()) if usable.any() else None,
                 "flag_reasons": sorted({r for r in result.reasons if r})[:5]}
    else:
        result = ais.ais_log_likelihood(model, x, progress=progress, **settings)
        extra = {"compiled_likelihood": result.compiled}  # the same estimator either way (vae_core.evaluation.ais)
        # A proposal where log p(x|z) is not finite is rejected, as a zero density would be: the chain stays
        # valid, so those images are counted, not dropped. A chain that started there has no estimate (NaN); one
        # that started where only the gradient is not finite stays put and keeps an unbiased weight (frozen_chains).
        best, usable = result.log_px, ~result.nonfinite_start & torch.isfinite(result.log_px)
        extra |= {"bound": "stochastic lower bound (AIS)", "acceptance": result.acceptance,
                 "images_with_rejected_nonfinite_proposals": int((result.nonfinite_proposals > 0).sum()),
                 "frozen_chains": int(result.frozen_chains.sum()),
                 "chain_stderr_mean": float(result.chain_stderr[usable].nanmean()) if usable.any() else None}
    seconds_best = time.perf_counter() - start
    iwae = iwae_log_likelihood(model, x, k=iwae_k, seed=0, progress=progress).double()
    elbo = elbo_terms(model, x, seed=0)["elbo"].double()
    best, iwae, elbo = best.double()[usable], iwae[usable], elbo[usable]
    if method == AIS and wider_k and len(best):
        extra |= sandwich(model, x[usable.to(x.device)], best, settings, wider_k, progress)
    if method == AIS:  # both are lower bounds: AIS far under IWAE on an image means its chains did not get there
        far_below = int((best < iwae - FAR_BELOW_IWAE).sum())
        extra["images_far_below_iwae"] = far_below
        if far_below:
            extra["warning"] = (f"AIS lies more than {FAR_BELOW_IWAE:g} nats below IWAE k={iwae_k} on {far_below} of "
                                f"{len(best)} images: at these settings it has not converged there, so its mean is "
                                f"not the better bound for this model")
    estimate, estimate_se = mean_and_stderr(best)
    report = {
        "method": method, **extra, "settings": settings,
        "num_images": int(usable.sum()), "excluded_images": int((~usable).sum()),
        "images": f"the first {len(x)} test images (fixed_test_input, seed 0)",
        "estimate": estimate, "estimate_stderr": estimate_se,
        "bits_per_dim": bits_per_dim(estimate, model.data_kind) if math.isfinite(estimate) else None,
        "iwae_k": iwae_k, **_mean("iwae", iwae), **_mean("elbo", elbo),
        **_mean("best_minus_iwae", best - iwae), **_mean("best_minus_elbo", best - elbo),
        "seconds": seconds_best, "seconds_total": time.perf_counter() - start,
    }
    return report


@torch.no_grad()
def sandwich(model: VAE, x: Tensor, best: Tensor, settings: dict, wider_k: int = WIDER_K,
             progress: bool = False) -> dict:
    """What an AIS estimate is checked against (issue 22): the wider-proposal IWAE on the same images x (N, 1, 28,
    28), paired with ``best`` (N,) image by image, and the BDMC sandwich (Grosse et al. 2015) at the same AIS
    settings on N images simulated from the model. The sandwich holds on simulated data only: it says how far AIS
    at these settings can miss log p(x), not what log p(x) of a test image is."""
    start = time.perf_counter()
    wider = iwae_log_likelihood(model, x, k=wider_k, seed=1, progress=progress, proposal_scale=WIDER_SCALE).double()
    result = ais.bdmc(model, len(x), **settings, progress=progress)
    gap_mean, gap_se = mean_and_stderr(result.gap)
    return {"wider_iwae_k": wider_k, "wider_iwae_scale": WIDER_SCALE, **_mean("wider_iwae", wider),
            **_mean("best_minus_wider_iwae", best.double() - wider),
            "bdmc_images": len(x), "bdmc_lower": float(result.lower.double().mean()),
            "bdmc_upper": float(result.upper.double().mean()), "bdmc_gap": gap_mean, "bdmc_gap_stderr": gap_se,
            "bdmc_nonfinite_images": int((~torch.isfinite(result.gap)).sum()),
            "bdmc_target": BDMC_TARGETS.get(model.data_kind, BDMC_TARGET_OTHER),
            "sandwich_seconds": time.perf_counter() - start}


def _mean(name: str, values: Tensor) -> dict:
    mean, se = mean_and_stderr(values) if len(values) else (None, None)
    return {name: mean, f"{name}_stderr": se}


def _finite_max(values: Tensor) -> float | None:
    return float(values.max()) if len(values) else None
