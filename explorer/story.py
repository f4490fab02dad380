"""The guided story: the argument that maximum likelihood can mislead ("Maximum likelihood is meaningless") in a few
steps on the zoo's own checkpoints, each a short caption over one live figure. Every step picks its models from the
zoo by dataset, decoder and data kind, and says plainly what is missing when the zoo lacks them; the figures come from
the explorer's cached computations (cache, charts, raw_runs, tables), nothing is computed here that they compute."""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd
import streamlit as st

from explorer.compute.images import image_grid, to_uint8, upscale
from vae_core.base.data import DATA_KINDS, is_bounded
from vae_core.evaluation.metrics import NUM_DIMS
from vae_core.lab import pixel_bounds
from vae_core.model.config import MLP, NETWORK_NAMES, twin_pairs
from vae_core.model.likelihoods import make_likelihood
from vae_core.zoo.checkpoints import Checkpoint

from . import cache, charts, context, links, presenter, raw_runs, render, tables
from .claims import (
    GAP_PAIR,
    bias_sentence,
    bits,
    compare_fds,
    fd_text,
    pair_sentence,
    pair_verdict,
    ranked_pair,
    raw_heading,
    raw_sentence,
)

STEP_KEY = "step"  # the step's slug, bound to the URL: /story?step=sigma
SHORTCUTS = {"previous": "Left", "next": "Right"}

TWO_D_ORDER = ("gaussian-pixel", "gaussian-fixed", "bernoulli")  # the largest ELBO gap first (README findings)
BOUNDED_ORDER = ("gaussian-pixel", "gaussian-pixel-floor", "discretized-gaussian")
BIAS_ORDER = ("gaussian-fixed", "gaussian-pixel", "bernoulli", "gaussian-shared", "gaussian-optimal",
              "gaussian-pixel-floor", "discretized-gaussian", "continuous-bernoulli")
STORY_IMAGE = 0   # the test image of the ELBO step
GRID_IMAGES = 6   # pictures per row in the sample figures: two figures of 6 side by side fill the page's width
GRID_SCALE = 3
FIGURE_HEIGHT = 300  # px: a step (bar, title, caption, figure, caption) fits a 1280x720 screen
CURVE_HEIGHT = 340   # px: a line chart's height includes its legend and axis titles


# ------------------------------------------------------------------------------------------------ choosing models
def by_name(checkpoints: list[Checkpoint], dataset: str, suffix: str) -> Checkpoint | None:
    return next((c for c in checkpoints if c.name == f"{dataset}-{suffix}"), None)


def two_d_model(checkpoints: list[Checkpoint], dataset: str) -> Checkpoint | None:
    """A model of ``dataset`` with a 2-D latent space (its posterior can be integrated exactly), by TWO_D_ORDER."""
    flat = [c for c in checkpoints if c.dataset == dataset and c.config.latent_dim == 2]
    return min(flat, key=lambda c: (TWO_D_ORDER.index(c.decoder) if c.decoder in TWO_D_ORDER else 99, c.name),
               default=None)


def raw_pair(checkpoints: list[Checkpoint], dataset: str) -> tuple[Checkpoint | None, Checkpoint | None]:
    """The raw-pixel per-pixel Gaussian of ``dataset`` and its dequantized partner (either may be None)."""
    raws = [c for c in checkpoints if c.dataset == dataset and raw_runs.is_raw(c) and c.decoder == "gaussian-pixel"]
    raw = min(raws, key=lambda c: c.name, default=None)
    if raw is not None:
        return raw, raw_runs.partner(raw, checkpoints)
    return None, by_name(checkpoints, dataset, "gaussian-pixel")


def _twins(checkpoints: list[Checkpoint], dataset: str, network: str) -> list[tuple[Checkpoint, Checkpoint]]:
    """(MLP, twin in ``network``) checkpoints of ``dataset``: zoo.toml's name twins (config.twin_pairs)."""
    return twin_pairs([c for c in checkpoints if c.dataset == dataset], network, lambda c: c.name,
                      lambda c: c.config.network)


def bias_group(checkpoints: list[Checkpoint], dataset: str) -> tuple[Checkpoint, list[Checkpoint]] | None:
    """The MLP model of ``dataset`` the inductive-bias step shows, with its twins in the other networks
    (NETWORK_NAMES' order: conv, then residual conv): the likelihood with the most evaluated twins, then the most
    twins, then by BIAS_ORDER; None when no MLP model has a twin."""
    groups: dict[str, tuple[Checkpoint, list[Checkpoint]]] = {}
    for network in NETWORK_NAMES:
        for mlp, twin in _twins(checkpoints, dataset, network):
            groups.setdefault(mlp.name, (mlp, []))[1].append(twin)
    if not groups:
        return None

    def rank(group: tuple[Checkpoint, list[Checkpoint]]) -> tuple:
        mlp, twins = group
        return (-sum(t.evaluation is not None for t in twins), -len(twins),
                BIAS_ORDER.index(mlp.decoder) if mlp.decoder in BIAS_ORDER else 99, mlp.name)
    return min(groups.values(), key=rank)


def twins_status(checkpoints: list[Checkpoint], dataset: str, missing: bool = False) -> str:
    """A sentence per network (plain conv always, another where the zoo has it): how many MLP models of ``dataset``
    have a twin there, how many evaluated, which are trained but not evaluated; ``missing``: and which have none."""
    mlp = sorted(c.name for c in checkpoints if c.dataset == dataset and c.config.network == MLP
                 and not raw_runs.is_raw(c) and c.config.latent_dim != 2)
    parts = []
    for network, name in NETWORK_NAMES.items():
        if network == MLP:
            continue
        twins = {m.name: t for m, t in _twins(checkpoints, dataset, network) if m.name in mlp}
        if not twins and network != "conv":
            continue
        evaluated = [t for t in twins.values() if t.evaluation is not None]
        waiting = [t.name for t in twins.values() if t.evaluation is None]
        parts.append(f"{name[0].upper() + name[1:]} twins in this zoo: {len(twins)} of the {len(mlp)} MLP models of "
                     f"{dataset}, {len(evaluated)} evaluated.")
        if waiting:
            parts.append(f"Trained, no eval.json yet: {', '.join(waiting)}.")
        absent = [n.removeprefix(dataset + "-") for n in mlp if n not in twins]
        if missing and absent:
            parts.append(f"No {name} twin in the zoo for: {', '.join(absent)}.")
    return " ".join(parts)


# ------------------------------------------------------------------------------------------------ sentences
def identity_sentence(view: dict, name: str, index: int) -> str:
    """log p(x) = ELBO + KL(q || p(z|x)) with the numbers of one image (explorer.compute.posterior_view)."""
    return (f"{name}, test image #{index}: log p(x) = {view['log_px']:.1f} nats (exact, by quadrature), the ELBO = "
            f"{view['elbo']:.1f}, so KL(q(z|x) || p(z|x)) = {view['kl_difference']:.1f}; integrated directly on a "
            f"grid the KL is {view['kl_grid']:.1f}, within {view['identity_gap']:.1e} nats.")


def sigma_ceiling(sigma_min: float) -> float:
    """The largest log-density a Gaussian with sigma >= sigma_min gives an image of NUM_DIMS pixels, in nats:
    each pixel at most the lab's ceiling -log(sigma_min sqrt(2 pi)) (Mattei & Frellsen 2018, sec. 2.1)."""
    return NUM_DIMS * pixel_bounds.ceiling(sigma_min)


def bound_sentence(ckpt: Checkpoint) -> str | None:
    """What keeps this model's likelihood finite, or None when nothing does."""
    kind = render.data_kind(ckpt)
    likelihood = make_likelihood(ckpt.decoder, **ckpt.config.decoder_settings)  # checked when the zoo was read
    if likelihood.pixel_ceiling() is not None:
        floor = likelihood.sigma_min
        return (f"{ckpt.name}: sigma >= {floor:g}, so no image can score above {NUM_DIMS} x "
                f"-log({floor:g} sqrt(2 pi)) = {sigma_ceiling(floor):,.0f} nats.")
    if likelihood.bound:
        return f"{ckpt.name}: {likelihood.bound}."
    if kind in DATA_KINDS and not is_bounded(kind):
        return None
    if kind == "continuous":
        return (f"{ckpt.name}: dequantized pixels ((x + u) / 256, fresh u each pass) bound it only in expectation "
                f"over u, by the log-probability of the 8-bit image (Theis et al. 2016).")
    return None


def collapse_sentence(steps: pd.DataFrame, raw: Checkpoint) -> str | None:
    """How far the smallest sigma fell on the raw run's batches, from its trace."""
    own = steps[(steps["model"] == raw.name) & (steps["sigma_min"] > 0)].sort_values("step")
    if len(own) < 2:
        return None
    first, last = own.iloc[0], own.iloc[-1]
    return (f"On raw pixels the smallest sigma fell from {first['sigma_min']:.2g} to {last['sigma_min']:.1e} "
            f"in {int(last['step'] - first['step'])} steps.")


def partner_sentence(partner: Checkpoint, steps: pd.DataFrame) -> str:
    """The dequantized partner's smallest sigma, from its trace if it has one, else from its per-epoch history."""
    if (steps["model"] == partner.name).any():
        return raw_runs.stopped(partner)
    sig = raw_runs.epochs(partner)["sigma_min"].dropna()
    if sig.empty:
        return f"{partner.name} (dequantized) has no step trace or sigma in its history to compare."
    return (f"{partner.name} (dequantized pixels; its history has no step trace) ended epoch 1 at "
            f"{sig.iloc[0]:.1e} and epoch {len(sig)} at {sig.iloc[-1]:.1e}.")


SEED_PAIR = GAP_PAIR  # the collapsed per-pixel sigma against the calibrated sigma = 0.1
SAMPLES_HEADINGS = {"worse": "Likelihood up, samples worse", "better": "Likelihood up, samples better too",
                    "mixed": "Likelihood up: decoder means worse, full samples better"}


def samples_heading(checkpoints: list[Checkpoint], dataset: str) -> str | None:
    """The samples step's heading as measured on the pair (SEED_PAIR) of ``dataset``; None without its numbers."""
    pair = [by_name(checkpoints, dataset, s) for s in SEED_PAIR]
    if None in pair:
        return None
    frame = tables.leaderboard(pair)
    verdict = pair_verdict(frame.iloc[0], frame.iloc[1])
    if verdict == "mixed":  # name which way each FD goes, in the order the pair sentence does
        ranked = ranked_pair(frame.iloc[0], frame.iloc[1])
        found = compare_fds(ranked[0], ranked[1])
        worse = [w for w, (higher, _, _) in found.items() if higher]
        better = [w for w, (higher, _, _) in found.items() if not higher]
        return f"Likelihood up: {' and '.join(worse)} worse, {' and '.join(better)} better"
    return SAMPLES_HEADINGS.get(verdict)


def bias_heading(checkpoints: list[Checkpoint], dataset: str) -> str | None:
    """The inductive-bias step's heading as measured on its strongest network's twin (bias_group); None without an
    evaluated one."""
    group = bias_group(checkpoints, dataset)
    if group is None or group[1][-1].evaluation is None:
        return None
    mlp, twin = group[0], group[1][-1]
    frame = tables.leaderboard([mlp, twin]).set_index("model", drop=False)
    found = compare_fds(frame.loc[twin.name], frame.loc[mlp.name])
    if not found:
        return None
    worse = sum(higher for higher, _, _ in found.values())
    name = NETWORK_NAMES[twin.config.network]
    return (f"MLP against {name}: here the {name} network's samples are worse" if worse == len(found) else
            f"MLP against {name}: here the {name} network's samples are better" if worse == 0 else
            f"MLP against {name}: the two FDs disagree")


# ------------------------------------------------------------------------------------------------ figures
def picture_rows(*rows: np.ndarray) -> np.ndarray:
    """Rows of (n, 28, 28) images in [0, 1] -> one enlarged picture, a row each."""
    tiles = np.concatenate([to_uint8(r[:GRID_IMAGES]) for r in rows])
    return upscale(image_grid(tiles, ncols=GRID_IMAGES, pad=1, pad_value=255), GRID_SCALE)


def side_by_side(pictures: list[np.ndarray], captions: list[str]) -> None:
    """One figure of pictures in a row, each with its caption."""
    for col, picture, caption in zip(st.columns(len(pictures)), pictures, captions, strict=True):
        col.image(picture, caption=caption, width="stretch")


def _chart(spec: dict, stretch: bool = False, height: int | None = None) -> None:
    """A step's figure, drawn on the server at a desk too (``presenter.static_chart``): the Story is shown, not
    explored, and a fresh tab then loads no Vega code; in presenter mode in its type."""
    presenter.static_chart(spec, on=presenter.requested(), stretch=stretch, height=height)


def _missing(text: str) -> None:
    st.info(text, icon=":material/hide_image:")


def _model(ctx: context.Context, ckpt: Checkpoint):
    (_, model), = context.load_models(ctx, [ckpt])
    return model


def step_elbo(ctx: context.Context) -> None:
    st.caption("Maximum likelihood fits log p(x) = log E_p(z)[p(x|z)]. It is intractable, so a VAE maximises the "
               "ELBO = E_q[log p(x|z)] - KL(q(z|x) || p(z)), and log p(x) = ELBO + KL(q(z|x) || p(z|x)): the ELBO "
               "falls short by exactly how far the encoder misses the true posterior. With a 2-D latent space both "
               "sides can be computed exactly.")
    ckpt = two_d_model(ctx.checkpoints, ctx.dataset)
    if ckpt is None:
        _missing(f"This step needs a model of {ctx.dataset} with a 2-D latent space (the exact posterior integrates "
                 f"over the latent plane); the zoo has none. Choose mnist in the sidebar, or train one with "
                 f"`--latent-dim 2`.")
        return
    model = _model(ctx, ckpt)
    key = ctx.key(ckpt)
    view = cache.posterior(model, key, ctx.dataset, STORY_IMAGE, ctx.seed)
    if "problem" in view:
        st.warning(f"No exact posterior for test image #{STORY_IMAGE} of {ckpt.name}: {view['problem']}.")
        return
    _chart(charts.posterior(view, (key, STORY_IMAGE, ctx.seed)), stretch=True, height=FIGURE_HEIGHT)
    st.caption(identity_sentence(view, ckpt.name, STORY_IMAGE) + " Colour: the true posterior p(z|x); red: the "
               "encoder's q(z|x) at 1 and 2 sd.")


def step_collapse(ctx: context.Context) -> None:
    raw, partner = raw_pair(ctx.checkpoints, ctx.dataset)
    st.caption("Let the decoder learn sigma(z) per pixel, so the ELBO is the Gaussian likelihood's own bound with "
               "nothing fixed by hand. On raw pixels (x / 255) many pixels are exactly 0: a mean of 0 with "
               "sigma -> 0 makes their density, and the likelihood, grow without bound.")
    pair = [c for c in (raw, partner) if c is not None]
    if not pair:
        _missing(f"The zoo has no per-pixel Gaussian of {ctx.dataset} (gaussian-pixel), raw or dequantized.")
        return
    steps = pd.concat([raw_runs.trace(c) for c in pair])
    steps = steps[steps["sigma_min"] > 0]
    if raw is not None and not steps.empty:
        domain = tuple(c.name for c in pair if (steps["model"] == c.name).any())  # runs with a trace
        _chart(charts.run_curve(steps, "step", "sigma_min", "sigma min (log)", domain, "log",
                                height=CURVE_HEIGHT), stretch=True)
        said = [collapse_sentence(steps, raw), raw_runs.stopped(raw)]
        if partner is not None:
            said.append(partner_sentence(partner, steps))
        st.caption(" ".join(s for s in said if s) + " Smallest sigma on each training batch, every 25th step.")
        return
    per_epoch = pd.concat([raw_runs.epochs(c) for c in pair])
    per_epoch = per_epoch[per_epoch["sigma_min"].fillna(0) > 0]
    domain = tuple(c.name for c in pair)
    if raw is None:
        _missing(f"This zoo has no raw-pixel run of {ctx.dataset} (train.py --data-kind raw): shown instead, the "
                 f"per-pixel Gaussian on dequantized pixels, where the noise added to each pixel slows the fall.")
    if per_epoch.empty:
        _missing("None of these runs recorded its smallest sigma in its history.")
        return
    _chart(charts.run_curve(per_epoch, "epoch", "sigma_min", "sigma min (log)", domain, "log",
                            height=CURVE_HEIGHT), stretch=True)
    st.caption(" ".join(raw_runs.stopped(c) for c in pair) + " Smallest sigma on a validation batch, per epoch.")


def kept_pair(checkpoints: list[Checkpoint], dataset: str) -> tuple[Checkpoint | None, Checkpoint | None]:
    """The raw-pixel per-pixel Gaussian of ``dataset`` that trained all its epochs, and the constant sigma on the
    same pixels and network (either may be None)."""
    kept = raw_runs.kept_alive(checkpoints, dataset)
    return kept, (raw_runs.fixed_partner(kept, checkpoints) if kept is not None else None)


def kept_heading(checkpoints: list[Checkpoint], dataset: str) -> str | None:
    """The raw step's heading as measured on ``dataset``'s kept-alive pair; None without it."""
    kept, fixed = kept_pair(checkpoints, dataset)
    return raw_heading(kept, fixed) if kept is not None and fixed is not None else None


def recipe_sentence(kept: Checkpoint) -> str:
    """How the run was kept alive, from its history: its learning rate and the batches it skipped."""
    rates = ", ".join(f"{lr:.0e}" for lr in raw_runs.learning_rates(kept)) or "unknown"
    skipped = raw_runs.skipped_steps(kept)
    dropped = f"{skipped} batches with a non-finite loss dropped" if skipped else "no batch dropped"
    small = kept.evaluation.sigma.frac_below_0_01 if kept.evaluation and kept.evaluation.sigma else None
    where = f" {small:.0%} of its test pixels have sigma < 0.01." if small else ""
    return (f"{kept.name}: the same model trained {len(kept.history_lines)} epochs at learning rate {rates}, "
            f"{dropped}, no floor on sigma.{where}")


def step_raw(ctx: context.Context) -> None:
    st.caption("The argument's own experiment: the per-pixel sigma on raw pixels (x / 255), kept alive for all its "
               "epochs by a lower learning rate, beside the typical beta-VAE (sigma = 0.1) on the same pixels. Top "
               "row: reconstructions of test images (decoder means); bottom row: full samples x ~ p(x|z), "
               "z ~ N(0, I).")
    kept, fixed = kept_pair(ctx.checkpoints, ctx.dataset)
    if kept is None or fixed is None:
        _missing(f"This step needs a raw-pixel per-pixel Gaussian of {ctx.dataset} that trained all its epochs "
                 f"(zoo.toml: {ctx.dataset}-gaussian-pixel-raw-kept) and the constant sigma on the same pixels "
                 f"({ctx.dataset}-gaussian-fixed-raw); the zoo lacks "
                 f"{'the first' if kept is None else 'the second'}.")
        return
    images, _ = cache.sample_set(ctx.dataset)
    pictures, captions = [], []
    for ckpt in (kept, fixed):
        model, key = _model(ctx, ckpt), ctx.key(ckpt)
        rec = cache.reconstruction(model, key, images[:GRID_IMAGES], ctx.seed)
        smp = cache.prior_samples(model, key, GRID_IMAGES, 1.0, ctx.seed)
        pictures.append(picture_rows(rec["mean"], smp["sample"]))
        last = ckpt.history_lines[-1] if ckpt.history_lines else None
        sigma = (f"smallest sigma {last.smallest_sigma:.1e}" if last is not None and last.smallest_sigma is not None
                 else "sigma fixed")
        captions.append(f"{ckpt.name}: {sigma}, epoch {len(ckpt.history_lines)}")
    side_by_side(pictures, captions)
    st.caption(recipe_sentence(kept) + " " + raw_sentence(kept, fixed))


def step_samples(ctx: context.Context) -> None:
    st.caption("The per-pixel Gaussian (sigma(z) learned per pixel, its sigma collapsed) against the typical "
               "beta-VAE (sigma fixed at 0.1, the value a learned shared sigma settles at), same data and networks. "
               "Top row: reconstructions of test images; bottom row: full samples x ~ p(x|z), z ~ N(0, I).")
    pair = [by_name(ctx.checkpoints, ctx.dataset, s) for s in SEED_PAIR]
    if None in pair:
        absent = [f"{ctx.dataset}-{s}" for s, c in zip(SEED_PAIR, pair, strict=True) if c is None]
        _missing(f"This step compares {' and '.join(f'{ctx.dataset}-{s}' for s in SEED_PAIR)}; the zoo lacks "
                 f"{', '.join(absent)}.")
        return
    frame = tables.leaderboard(pair).set_index("model", drop=False)
    images, _ = cache.sample_set(ctx.dataset)
    pictures, captions = [], []
    for ckpt in pair:
        model, key = _model(ctx, ckpt), ctx.key(ckpt)
        rec = cache.reconstruction(model, key, images[:GRID_IMAGES], ctx.seed)
        smp = cache.prior_samples(model, key, GRID_IMAGES, 1.0, ctx.seed)
        pictures.append(picture_rows(rec["mean"], smp["sample"]))
        value, how = bits(frame.loc[ckpt.name])
        captions.append(f"{ckpt.name}: {render.fmt(value, '.2f')} bits/dim ({how}), {fd_text(frame.loc[ckpt.name])}")
    side_by_side(pictures, captions)
    st.caption(pair_sentence(*(frame.loc[c.name] for c in pair)) + " bits/dim: lower is a higher likelihood; FD: "
               "Frechet distance to the test set of full samples x ~ p(x|z) or of decoder means E[x|z], lower is "
               "closer to the data.")


def step_bounded(ctx: context.Context) -> None:
    st.caption("The likelihood is unbounded (Mattei & Frellsen 2018), like a Gaussian mixture's whose component "
               "shrinks onto one point. Bound sigma from below, or model the 8-bit values with probabilities, and "
               "it has a maximum again.")
    models = [c for c in (by_name(ctx.checkpoints, ctx.dataset, s) for s in BOUNDED_ORDER) if c is not None]
    frame = pd.concat([raw_runs.epochs(c) for c in models]) if models else pd.DataFrame()
    frame = frame[frame["sigma_min"].fillna(0) > 0] if not frame.empty else frame
    if frame.empty:
        _missing(f"This step needs the per-pixel Gaussians of {ctx.dataset} ({', '.join(BOUNDED_ORDER)}) with "
                 f"their training history; the zoo has none of them.")
        return
    domain = tuple(c.name for c in models)
    _chart(charts.run_curve(frame, "epoch", "sigma_min", "sigma min (log)", domain, "log",
                            height=CURVE_HEIGHT), stretch=True)
    said = [s for s in (bound_sentence(c) for c in models) if s]
    st.caption(" ".join(said) if said else "None of these models has a bounded likelihood.")


BIAS_CAPTION = ("The argument goes on: if the likelihood only asks for reconstruction, what makes samples good is "
                "the inductive bias. The test: the same likelihood and data, with convolutional networks (plain, and "
                "with residual blocks where the zoo has them) instead of an MLP. Full samples x ~ p(x|z) of each.")


def step_bias(ctx: context.Context) -> None:
    group = bias_group(ctx.checkpoints, ctx.dataset)
    if group is None:
        st.caption(BIAS_CAPTION)
        _missing(f"No MLP model of {ctx.dataset} has a convolutional twin (`<name>-conv`) in the zoo yet. "
                 f"{twins_status(ctx.checkpoints, ctx.dataset, missing=True)}")
        return
    mlp, twins = group
    sizes = {t.config.latent_dim for t in twins} - {mlp.config.latent_dim}
    st.caption(BIAS_CAPTION + ("" if not sizes else
                               f" Here the latent sizes differ too (MLP {mlp.config.latent_dim}; " + ", ".join(
                                   f"{NETWORK_NAMES[t.config.network]} {t.config.latent_dim}" for t in twins) +
                               "): a network whose size differs from the MLP's was trained at the size at which its "
                               "calibrated samples read as images."))
    frame = tables.leaderboard([mlp, *twins]).set_index("model", drop=False)
    pictures, captions = [], []
    for ckpt in (mlp, *twins):
        model, key = _model(ctx, ckpt), ctx.key(ckpt)
        smp = cache.prior_samples(model, key, 2 * GRID_IMAGES, 1.0, ctx.seed)
        pictures.append(picture_rows(smp["sample"][:GRID_IMAGES], smp["sample"][GRID_IMAGES:]))
        fd = fd_text(frame.loc[ckpt.name]) if ckpt.evaluation else "not evaluated yet (no FD)"
        captions.append(f"{NETWORK_NAMES[ckpt.config.network]}: {ckpt.name}, {fd}")
    side_by_side(pictures, captions)
    st.caption(" ".join(bias_sentence(frame.loc[mlp.name], frame.loc[t.name], NETWORK_NAMES[t.config.network])
                        for t in twins) + " " + twins_status(ctx.checkpoints, ctx.dataset))


def step_zoo(ctx: context.Context) -> None:
    st.caption("Every 8-bit model of the zoo at once (binarized ones are on the Overview): likelihood against sample "
               "quality. If likelihood decided the samples, the points would fall on a line from top right to bottom "
               "left.")
    frame = tables.leaderboard(ctx.for_dataset())
    points = tables.quality_points(frame)
    points = points[points["group"] != tables.GROUPS["binary"]] if not points.empty else points
    if points.empty:
        _missing(f"No 8-bit model of {ctx.dataset} has both a likelihood and a Frechet distance yet.")
        return
    _chart(charts.quality(points, height=FIGURE_HEIGHT - 110, width=640))
    sentences = tables.quality_sentences(points)
    st.caption(" ".join(sentences[1:-1]))


@dataclass(frozen=True)
class Step:
    slug: str     # its address (?step=<slug>) and its name in the step bar: the bound control writes what it shows
    title: str    # the heading where the zoo lacks the models to measure one (see ``heading``)
    draw: Callable[[context.Context], None]
    # the heading as measured on the zoo's checkpoints of a dataset (pure; None: use the title)
    finding: Callable[[list[Checkpoint], str], str | None] | None = None


STEPS: tuple[Step, ...] = (
    Step("elbo", "1. What a VAE maximises: the ELBO, a bound on log p(x)", step_elbo),
    Step("sigma", "2. A learned per-pixel sigma collapses", step_collapse),
    Step("raw", "3. Raw pixels, kept alive: reconstructions against samples", step_raw, kept_heading),
    Step("samples", "4. Likelihood against samples: two decoders", step_samples, samples_heading),
    Step("bounds", "5. A floor or a discrete likelihood restores a maximum", step_bounded),
    Step("conv", "6. MLP against conv networks, the same likelihood", step_bias, bias_heading),
    Step("zoo", "7. The whole zoo: likelihood against samples", step_zoo),
)
BY_SLUG = {s.slug: s for s in STEPS}


def heading(step: Step, checkpoints: list[Checkpoint], dataset: str | None) -> str:
    """The step's heading: what its figure measured on this zoo where it can say, else its title."""
    found = step.finding(checkpoints, dataset) if step.finding is not None and dataset else None
    return f"{step.title.split('.')[0]}. {found}" if found else step.title


def neighbour(slug: str, move: int) -> str:
    """The slug ``move`` steps on from ``slug``, stopping at the first and the last step."""
    at = [s.slug for s in STEPS].index(slug) if slug in BY_SLUG else 0
    return STEPS[min(max(at + move, 0), len(STEPS) - 1)].slug


def go(move: int) -> None:
    st.session_state[STEP_KEY] = neighbour(st.session_state.get(STEP_KEY) or STEPS[0].slug, move)


def check_links() -> None:
    links.choice(STEP_KEY, list(BY_SLUG))
