"""Raw-pixel runs next to their dequantized partners (the Decoder sigma page): per-epoch curves, the sparse step
trace each history line carries (vae_core.training: ``trace``, ``loss_max``, ``diverged``) and where a run
stopped, in one sentence. history.jsonl is read as untrusted: vae_core.zoo checks the per-epoch numbers, and the
trace and divergence fields are checked here before anything is drawn."""
from __future__ import annotations

import math

import pandas as pd

from vae_core.data import DATA_KINDS, is_bounded
from vae_core.zoo import Checkpoint

from .links import shown
from .render import data_kind

MAX_TRACE_POINTS = 20_000  # per run: a 12-epoch run at one point every 25 steps has a few hundred
RAW_SUFFIX = "-raw"


def is_raw(ckpt: Checkpoint) -> bool:
    kind = data_kind(ckpt)
    return kind in DATA_KINDS and not is_bounded(kind)


def partner(ckpt: Checkpoint, checkpoints: list[Checkpoint]) -> Checkpoint | None:
    """The dequantized run of the same dataset, decoder and network: the name without "-raw" when it is such a
    run, else the first one that matches."""
    def same(c: Checkpoint) -> bool:
        a, b = c.config, ckpt.config
        return (not is_raw(c) and a.dataset == b.dataset and a.decoder == b.decoder and a.latent_dim == b.latent_dim
                and a.architecture == b.architecture and list(a.hidden) == list(b.hidden))
    named = [c for c in checkpoints if c.name == ckpt.name.removesuffix(RAW_SUFFIX) and same(c)]
    return (named or [c for c in checkpoints if same(c)] or [None])[0]


def _number(value) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value) if math.isfinite(value) else None


def epochs(ckpt: Checkpoint) -> pd.DataFrame:
    """One row per history line: sigma min, validation ELBO, mean and largest batch loss, diverged or not (the
    loader, vae_core.zoo.read_history_checked, has already turned odd and non-finite numbers into None)."""
    return pd.DataFrame([{"model": ckpt.name, "epoch": r["epoch"], "sigma_min": r.get("sigma_min"),
                          "val_elbo": r.get("val_elbo"), "loss": r.get("loss"),
                          "loss_max": r.get("loss_max"), "diverged": r.get("diverged") is True}
                         for r in ckpt.history], columns=["model", "epoch", "sigma_min", "val_elbo", "loss",
                                                          "loss_max", "diverged"])


def trace(ckpt: Checkpoint) -> pd.DataFrame:
    """The step trace over the whole run: (model, epoch, step counted from the start, loss, sigma_min); entries
    that are not {step: whole number >= 0, loss: number, sigma_min: number} are skipped."""
    rows, offset = [], 0
    for r in ckpt.history:
        points = r.get("trace")
        for p in points if isinstance(points, list) else []:
            if len(rows) >= MAX_TRACE_POINTS:
                break
            step = p.get("step") if isinstance(p, dict) else None
            if isinstance(step, bool) or not isinstance(step, int) or step < 0:
                continue
            rows.append({"model": ckpt.name, "epoch": r["epoch"], "step": offset + step,
                         "loss": _number(p.get("loss")), "sigma_min": _number(p.get("sigma_min"))})
        steps = r.get("steps")
        offset += int(steps) if steps is not None and steps >= 0 else 0
    return pd.DataFrame(rows, columns=["model", "epoch", "step", "loss", "sigma_min"])


def stopped(ckpt: Checkpoint) -> str:
    """One sentence: where a run stopped on a non-finite loss, or that it did not."""
    for r in ckpt.history:
        if r.get("diverged") is True:
            step = r.get("diverged_step")
            kept = r.get("weights_from_step")
            reason = r.get("diverged_reason")
            where = f" at step {step} of it" if isinstance(step, int) and not isinstance(step, bool) else ""
            why = f" (`{shown([reason], 120)}`)" if isinstance(reason, str) and reason else ""
            weights = (f"; the weights kept are those after {kept} updates of that epoch"
                       if isinstance(kept, int) and not isinstance(kept, bool) else "")
            return f"{ckpt.name} stopped in epoch {r['epoch']}{where}{why}{weights}."
    if not ckpt.history:
        return f"{ckpt.name} has no training history to show."
    worst = max((r["loss_max"] for r in ckpt.history if r.get("loss_max") is not None), default=None)
    peak = f" (its largest batch loss was {worst:.3g})" if worst is not None else ""
    return f"{ckpt.name} trained {len(ckpt.history)} epochs without a non-finite loss{peak}."
