"""The names of the methods behind a best log p(x) estimate and the rule on whether an eval.json's estimate stands as
the best a model has (``not_best``). No torch here: the explorer's tables read them for every checkpoint before a
model is loaded; the estimates are computed in ``best_likelihood``."""
from __future__ import annotations

import math

from vae_core.files.schema import BestLogLikelihood

QUADRATURE = "quadrature"
AIS = "ais"
AIS_START = "start"       # the AIS setting saying where chains start: "encoder" (q(z|x)); absent: the prior
AIS_MASS = "mass"         # the AIS setting saying how HMC scales its steps: "encoder" (by q(z|x)'s spread); absent: not
# Each written AIS choice: the one value it may take and the words a report adds for it. The defaults (the prior, the
# same step in every direction) are never written, so eval.json files made before a choice existed still match.
AIS_CHOICES = {AIS_START: ("encoder", "from q(z|x)"), AIS_MASS: ("encoder", "steps scaled by q(z|x)")}
FAR_BELOW_IWAE = 5.0      # nats: per-image AIS - IWAE spread is < 1 nat where both converge (bernoulli, 50 images)


def ais_run(settings: dict) -> str:
    """An AIS run's settings as every report writes them: "T = 1,000 x 4 chains, from q(z|x)"."""
    choices = [words for key, (value, words) in AIS_CHOICES.items() if settings.get(key) == value]
    return ", ".join([f"T = {settings['num_steps']:,} x {settings['chains']} chains", *choices])


def has_sandwich(block: BestLogLikelihood) -> bool:
    """Whether an AIS block carries its BDMC sandwich (best_likelihood.sandwich); an exact estimate needs none."""
    return block.method == AIS and block.bdmc_images is not None and block.bdmc_target is not None


def sandwich_not_finite(block: BestLogLikelihood) -> bool:
    """A sandwich that was run but has no gap: AIS at the block's settings gave a bound that is not finite on some
    simulated image (eval.json stores a non-finite mean as null), so how far it can miss is not bounded."""
    return has_sandwich(block) and block.bdmc_gap is None


def where_not_finite(block: BestLogLikelihood) -> str:
    """Where a sandwich's bound is not finite, in words: "on 13 of its 50 simulated images" ("some of" in an
    eval.json written before the count was stored)."""
    count = "some" if block.bdmc_nonfinite_images is None else block.bdmc_nonfinite_images
    return f"on {count} of its {block.bdmc_images} simulated images"


def misses_bdmc_target(block: BestLogLikelihood) -> bool | None:
    """Whether the BDMC gap (its mean over the simulated images) is wider than the target stored beside it (1 nat
    for binarized pixels, 3 for the rest: issue 22), a gap that is not finite included; None without a sandwich."""
    if not has_sandwich(block):
        return None
    return sandwich_not_finite(block) or block.bdmc_gap > block.bdmc_target


def not_best(block: BestLogLikelihood) -> str | None:
    """Why eval.json's best estimate may not be shown as the best log p(x) this model has, or None. It must be at
    least every other lower bound the zoo has on the same images (IWAE at the shipped k, the wider-proposal IWAE),
    within the standard error of the paired difference (issue 22), and come from chains that got there (none far
    below IWAE on an image). An exact estimate always stands."""
    if block.method == QUADRATURE:
        return None
    for name, diff, se in (
            (f"IWAE k={block.iwae_k}", block.best_minus_iwae, block.best_minus_iwae_stderr),
            (f"the wider-proposal IWAE (k={block.wider_iwae_k}, q's spread x{block.wider_iwae_scale})",
             block.best_minus_wider_iwae, block.best_minus_wider_iwae_stderr)):
        known = se is not None and math.isfinite(se)  # no error known: below is below
        if diff is not None and diff + (se if known else 0.0) < 0:
            error = f" ± {se:.2f}" if known else ""
            return f"it lies {-diff:.2f}{error} nats below {name} on the same images: lengthen AIS"
    if block.images_far_below_iwae:
        return (f"AIS lies more than {FAR_BELOW_IWAE:g} nats below IWAE on {block.images_far_below_iwae} of its "
                f"images: its chains did not converge there")
    return None
