"""Raw-pixel runs next to their dequantized partners (the Decoder sigma page): per-epoch curves, the sparse step
trace each history line carries (vae_core.training.loop: ``trace``, ``loss_max``, ``diverged``) and where a run
stopped, in one sentence. history.jsonl is read as untrusted by vae_core.zoo.checkpoints through its schema
(vae_core.files.schema.HistoryLine): every value here has its declared type or is None."""
from __future__ import annotations

import pandas as pd

from vae_core.base.data import DATA_KINDS, is_bounded
from vae_core.zoo.checkpoints import Checkpoint

from .links import shown
from .render import data_kind

MAX_TRACE_POINTS = 20_000  # per run: a 12-epoch run at one point every 25 steps has a few hundred
RAW_SUFFIX = "-raw"
FIXED_SIGMA = "gaussian-fixed"  # the typical beta-VAE: the raw per-pixel Gaussian's partner on the same pixels


def is_raw(ckpt: Checkpoint) -> bool:
    kind = data_kind(ckpt)
    return kind in DATA_KINDS and not is_bounded(kind)


def partner(ckpt: Checkpoint, checkpoints: list[Checkpoint]) -> Checkpoint | None:
    """The dequantized run of the same dataset, decoder and network: the name without "-raw" when it is such a
    run, else the first one that matches."""
    def same(c: Checkpoint) -> bool:
        return not is_raw(c) and c.decoder == ckpt.decoder and same_network(c, ckpt)
    named = [c for c in checkpoints if c.name == ckpt.name.removesuffix(RAW_SUFFIX) and same(c)]
    return (named or [c for c in checkpoints if same(c)] or [None])[0]


def epochs(ckpt: Checkpoint) -> pd.DataFrame:
    """One row per history line: sigma min, validation ELBO, mean and largest batch loss, diverged or not."""
    return pd.DataFrame([{"model": ckpt.name, "epoch": r.epoch, "sigma_min": r.smallest_sigma, "val_elbo": r.val_elbo,
                          "loss": r.loss, "loss_max": r.loss_max, "diverged": r.diverged is True}
                         for r in ckpt.history_lines], columns=["model", "epoch", "sigma_min", "val_elbo", "loss",
                                                                "loss_max", "diverged"])


def trace(ckpt: Checkpoint) -> pd.DataFrame:
    """The step trace over the whole run: (model, epoch, step counted from the start, loss, sigma_min); points
    without a step, or with a negative one, are skipped."""
    rows, offset = [], 0
    for r in ckpt.history_lines:
        for p in r.trace:
            if len(rows) >= MAX_TRACE_POINTS:
                break
            if p.step is None or p.step < 0:
                continue
            rows.append({"model": ckpt.name, "epoch": r.epoch, "step": offset + p.step, "loss": p.loss,
                         "sigma_min": p.smallest_sigma})
        offset += r.steps if r.steps is not None and r.steps >= 0 else 0
    return pd.DataFrame(rows, columns=["model", "epoch", "step", "loss", "sigma_min"])


def stopped(ckpt: Checkpoint) -> str:
    """One sentence: where a run stopped on a non-finite loss, or that it did not."""
    for r in ckpt.history_lines:
        if r.diverged is True:
            where = f" at step {r.diverged_step} of it" if r.diverged_step is not None else ""
            why = f" (`{shown([r.diverged_reason], 120)}`)" if r.diverged_reason else ""
            weights = (f"; the weights kept are those after {r.weights_from_step} updates of that epoch"
                       if r.weights_from_step is not None else "")
            return f"{ckpt.name} stopped in epoch {r.epoch}{where}{why}{weights}."
    if not ckpt.history_lines:
        return f"{ckpt.name} has no training history to show."
    worst = max((r.loss_max for r in ckpt.history_lines if r.loss_max is not None), default=None)
    peak = f" (its largest batch loss was {worst:.3g})" if worst is not None else ""
    skipped = skipped_steps(ckpt)
    if skipped:
        return (f"{ckpt.name} trained all {len(ckpt.history_lines)} epochs{peak}, skipping {skipped} batches whose "
                f"loss or gradient was not finite.")
    return f"{ckpt.name} trained {len(ckpt.history_lines)} epochs without a non-finite loss{peak}."


def skipped_steps(ckpt: Checkpoint) -> int:
    """Batches the run dropped because their loss or gradient was not finite (train.py --skip-nonfinite)."""
    return sum(r.skipped_steps or 0 for r in ckpt.history_lines)


def diverged(ckpt: Checkpoint) -> bool:
    return any(r.diverged is True for r in ckpt.history_lines)


def learning_rates(ckpt: Checkpoint) -> list[float]:
    """The distinct learning rates of the run's epochs, in order."""
    return list(dict.fromkeys(r.lr for r in ckpt.history_lines if r.lr is not None))


def same_network(a: Checkpoint, b: Checkpoint) -> bool:
    x, y = a.config, b.config
    return x.dataset == y.dataset and x.latent_dim == y.latent_dim and x.describe_network() == y.describe_network()


def kept_alive(checkpoints: list[Checkpoint], dataset: str, decoder: str = "gaussian-pixel") -> Checkpoint | None:
    """The raw-pixel run of ``dataset`` and ``decoder`` that trained the most epochs without stopping (seed 000's
    figure needs a run that lives), or None when every such run stopped on a non-finite loss."""
    alive = [c for c in checkpoints if c.dataset == dataset and c.decoder == decoder and is_raw(c)
             and c.history_lines and not diverged(c)]
    return min(alive, key=lambda c: (-len(c.history_lines), c.name), default=None)


def fixed_partner(ckpt: Checkpoint, checkpoints: list[Checkpoint]) -> Checkpoint | None:
    """The raw-pixel run with a constant sigma (gaussian-fixed) of the same dataset and network: what the
    per-pixel sigma is measured against on the same pixels."""
    return next((c for c in checkpoints if is_raw(c) and c.decoder == FIXED_SIGMA and same_network(c, ckpt)), None)


def fall_sentence(ckpt: Checkpoint, small: float = 1e-2) -> str | None:
    """How the smallest batch sigma fell over the run's step trace: its first value, the first step below
    ``small``, and its last value; then where the run stopped (``stopped``). None without a trace."""
    steps = trace(ckpt)
    steps = steps[steps["sigma_min"] > 0]
    if len(steps) < 2:
        return None
    first, last = steps.iloc[0], steps.iloc[-1]
    below = steps[steps["sigma_min"] < small]
    by = (f" to {below.iloc[0]['sigma_min']:.1e} by step {int(below.iloc[0]['step'])}"
          if not below.empty and below.index[0] != last.name else "")
    return (f"{ckpt.name}'s smallest batch sigma fell from {first['sigma_min']:.2g} at step {int(first['step'])}"
            f"{by} and {last['sigma_min']:.1e} by step {int(last['step'])} (epoch {int(last['epoch'])}). "
            f"{stopped(ckpt)}")


def epochs_sentence(ckpt: Checkpoint) -> str | None:
    """The smallest validation sigma after the first epoch and its range after that, beside the validation ELBO's
    first and last value (and its highest where the run ended below it), from history.jsonl; None with under two
    epochs."""
    rows = epochs(ckpt).dropna(subset=["sigma_min", "val_elbo"])
    if len(rows) < 2:
        return None
    later = rows["sigma_min"].iloc[1:]
    top = rows.loc[rows["val_elbo"].idxmax()]
    falling = " (the lowest after the last)" if later.iloc[-1] == later.min() else ""
    peak = (f" (highest {top['val_elbo']:,.0f} after epoch {int(top['epoch'])})"
            if top["val_elbo"] > rows["val_elbo"].iloc[-1] else "")
    small = ckpt.evaluation.sigma.frac_below_0_01 if ckpt.evaluation and ckpt.evaluation.sigma else None
    end = f" At the end {small:.0%} of its test pixels have sigma < 0.01." if small is not None else ""
    return (f"{ckpt.name}: smallest validation sigma {rows['sigma_min'].iloc[0]:.1e} after epoch "
            f"{int(rows['epoch'].iloc[0])}, between {later.min():.1e} and {later.max():.1e} over epochs "
            f"{int(rows['epoch'].iloc[1])}-{int(rows['epoch'].iloc[-1])}{falling}, while its validation ELBO went from "
            f"{rows['val_elbo'].iloc[0]:,.0f} to {rows['val_elbo'].iloc[-1]:,.0f} nats{peak}.{end} {stopped(ckpt)}")
