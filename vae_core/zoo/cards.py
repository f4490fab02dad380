"""A checkpoint's model card (README.md, a Hugging Face model card) rendered from its eval.json, its config and the
rows of the training ledger that name it."""
from __future__ import annotations

from pathlib import Path

from vae_core.base.data import UNBOUNDED_REASON, is_bounded
from vae_core.evaluation.judge import ais_run, not_best, sandwich_not_finite, where_not_finite
from vae_core.files.atomic import atomic_write
from vae_core.files.names import CARD_NAME, EVAL_NAME, LEDGER_JSON
from vae_core.files.schema import Evaluation, Frechet, Metrics, SigmaStats, TrainingSummary
from vae_core.model.vae import VAEConfig, load_config
from vae_core.zoo.checkpoints import read_evaluation_whole
from vae_core.zoo.ledger import card_section


def rewrite_card(folder: Path, ledger: Path = LEDGER_JSON) -> None:
    """Rewrite an evaluated checkpoint's model card from its eval.json as it is and the rows of ``ledger`` that name
    it (vae_core.zoo.ledger); eval.json itself is left byte for byte."""
    card = model_card(read_evaluation_whole(folder / EVAL_NAME), load_config(folder), ledger)
    atomic_write(folder / CARD_NAME, lambda tmp: Path(tmp).write_text(card))


def rendered_cards(root: Path, ledger: Path = LEDGER_JSON) -> dict[str, str]:
    """The model card each evaluated checkpoint under ``root`` should have, by folder name, rendered from its
    eval.json, its config and the ledger as they are now."""
    return {path.parent.name: model_card(read_evaluation_whole(path), load_config(path.parent), ledger)
            for path in sorted(Path(root).glob(f"*/{EVAL_NAME}"))}


def stale_cards(root: Path, ledger: Path = LEDGER_JSON, cards: dict[str, str] | None = None) -> list[str]:
    """The checkpoints under ``root`` whose README.md is not the card their files render now (``cards``, else
    rendered here): ``rewrite_cards`` rewrites them."""
    cards = rendered_cards(root, ledger) if cards is None else cards
    shipped = {name: Path(root) / name / CARD_NAME for name in cards}
    return [name for name, card in cards.items()
            if not shipped[name].is_file() or shipped[name].read_text() != card]


def rewrite_cards(root: Path, ledger: Path = LEDGER_JSON) -> list[str]:
    """Rewrite the stale model cards under ``root``; returns their names. Every eval.json is read and every card
    rendered before any is written, so a damaged eval.json leaves them all as they were."""
    cards = rendered_cards(root, ledger)
    stale = stale_cards(root, ledger, cards)
    for name in stale:
        atomic_write(Path(root) / name / CARD_NAME, lambda tmp, card=cards[name]: Path(tmp).write_text(card))
    return stale


def unbounded_note(ev: Evaluation) -> str:
    return "" if is_bounded(ev.data_kind) else f"\n\nNo bits/dim and no rank: {UNBOUNDED_REASON}."


def model_card(ev: Evaluation, cfg: VAEConfig, ledger: Path = LEDGER_JSON) -> str:
    """README.md of a checkpoint folder (a Hugging Face model card) from its evaluation and the rows of the training
    ledger (vae_core.zoo.ledger) that name it."""
    t, s, f = ev.test or Metrics(), ev.sigma or SigmaStats(), ev.frechet or Frechet()
    training = ev.training or TrainingSummary()

    def num(v, fmt=".2f"):
        return "n/a" if v is None else format(v, fmt)

    iwae = f"log p(x) by importance sampling (k={t.iwae_k}, {t.iwae_images} images)"
    sigma = f"{num(s.mean, '.4f')} / {num(s.min, '.2e')} / {num(s.frac_below_0_01, '.3f')}"
    minutes = None if training.seconds is None else training.seconds / 60
    return f"""---
library_name: vae-decoder-zoo
tags: [vae, {cfg.dataset}, {cfg.decoder}]
datasets: [{cfg.dataset}]
---
# {ev.name}

A VAE on {cfg.dataset} with the `{cfg.decoder}` decoder likelihood ({ev.description or 'see the zoo README'}).
Latent size {cfg.latent_dim}, {cfg.describe_network()}; data kind `{ev.data_kind}`.
Trained by `train.py --zoo zoo.toml --only '{ev.name}'` for {training.epochs} epochs
({num(minutes, '.1f')} min on 2 CPU cores){
    f"; training stopped at a non-finite loss or gradient in epoch {training.diverged_at_epoch}"
    f" (step {training.diverged_at_step}) and kept the last finite weights"
    if training.diverged_at_epoch else ''}.{unbounded_note(ev)}

| test metric | value |
|---|---|
| ELBO (nats, {t.num_images} images) | {num(t.elbo)} ± {num(t.elbo_stderr)} |
| {iwae} | {num(t.iwae)} ± {num(t.iwae_stderr)} |
| bits/dim ({ev.data_kind} data, from IWAE) | {num(t.bits_per_dim, '.3f')} |{best_rows(ev)}
| reconstruction MSE | {num(t.mse, '.4f')} |
| active units | {t.active_units} / {cfg.latent_dim} |
| decoder sigma mean / min / frac < 0.01 | {sigma} |
| Frechet distance, prior samples / reconstructions | {num(f.samples)} / {num(f.reconstructions)} |

Bits/dim of binarized data (Bernoulli) are bits per binary pixel and are not comparable with 8-bit results.
Load with `vae_core.zoo.load_model(folder)` (config.json + model.safetensors).
{card_section(ev.name or "", ledger)}"""


def best_rows(ev: Evaluation) -> str:
    """Model-card rows for the best estimate, its bits/dim and the IWAE bias it measures ('' before it exists)."""
    b = ev.log_likelihood
    if b is None or b.estimate is None:
        return ""

    def num(v, fmt=".2f"):
        return "n/a" if v is None else format(v, fmt)

    s = b.settings or {}
    run = f" ({ais_run(s)})" if "num_steps" in s and "chains" in s else ""
    what = ("exact, by adaptive quadrature over the latent plane" if b.method == "quadrature"
            else f"annealed importance sampling{run}, a stochastic lower bound")
    n, why_not = b.num_images, not_best(b)
    return (f"\n| log p(x), best estimate: {what} ({n} images) | {num(b.estimate)} ± {num(b.estimate_stderr)} |"
            f"\n| IWAE (k={b.iwae_k}) on the same {n} images | {num(b.iwae)} ± {num(b.iwae_stderr)} |"
            f"\n| best - IWAE on the same images (the IWAE bias) | {num(b.best_minus_iwae)} ± "
            f"{num(b.best_minus_iwae_stderr)} |"
            f"\n| bits/dim from the best estimate | {num(b.bits_per_dim, '.3f')} |"
            + (f"\n| best - IWAE with q's spread x{b.wider_iwae_scale:g} (k={b.wider_iwae_k}) on the same images | "
               f"{num(b.best_minus_wider_iwae)} ± {num(b.best_minus_wider_iwae_stderr)} |"
               if b.wider_iwae_k else "")
            + (f"\n| BDMC sandwich width at the same AIS settings, {b.bdmc_images} images simulated from the model "
               f"(target {num(b.bdmc_target, 'g')}) | "
               + (f"not finite: AIS gave a bound that is not finite {where_not_finite(b)}" if sandwich_not_finite(b)
                  else f"{num(b.bdmc_gap)} ± {num(b.bdmc_gap_stderr)}") + " |"
               if b.bdmc_images else "")
            # one row for one cause: the rule's reason (judge.not_best) covers the evaluation's warning on
            # chains that did not converge; the warning shows only where the rule gives no reason
            + (f"\n| not shown as the best log p(x) | {why_not} |" if why_not else
               f"\n| warning on the best estimate | {b.warning} |" if b.warning else ""))
