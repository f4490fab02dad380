"""The zoo spec (zoo.toml): every shipped checkpoint with its settings.

    [defaults]            settings every entry starts from (VAEConfig and TrainConfig fields)
    [[model]]             one per checkpoint: name, dataset, decoder, and any overrides
    continues = "<name>"  the entry starts as a copy of that earlier entry's finished checkpoint and trains on
                          (a longer schedule of the same model, e.g. Burda's row in the paper's passes)

Training the entries is zoo.build's job, evaluating them zoo.evaluate's.
"""
from __future__ import annotations

import tomllib
from dataclasses import asdict, fields
from pathlib import Path

from vae_core.base.limits import check_setting
from vae_core.evaluation.best_likelihood import settings_for
from vae_core.model.likelihoods import make_likelihood
from vae_core.model.vae import VAEConfig
from vae_core.training.config import TrainConfig
from vae_core.training.run_folder import changed_settings

MODEL_FIELDS = {f.name for f in fields(VAEConfig)}
TRAIN_FIELDS = {f.name for f in fields(TrainConfig)}
# ais: AIS settings for this model's best estimate where the shipped ones do not converge (best_likelihood.py)
EVAL_FIELDS = {"iwae_k", "iwae_images", "frechet_images", "best_images", "description", "ais"}
CONTINUES = "continues"  # how the entry's training starts: from another entry's checkpoint (zoo.build)


def read_spec(path: str | Path) -> list[dict]:
    """The entries of a zoo spec, each merged over [defaults]; unknown keys are an error naming the entry."""
    spec = tomllib.loads(Path(path).read_text())
    defaults = spec.get("defaults", {})
    entries = []
    for raw in spec.get("model", []):
        entry = {**defaults, **raw}
        unknown = set(entry) - MODEL_FIELDS - TRAIN_FIELDS - EVAL_FIELDS - {"name", CONTINUES}
        bounds = sorted(k for k in unknown if "sigma" in k or "var" in k)
        if bounds:  # e.g. a "sigma_clip" in a training recipe: a floor on sigma is another density, not a recipe
            raise ValueError(f"{path}: entry {raw.get('name', raw)}: {bounds[0]} would bound the decoder's sigma, "
                             "which changes the model (that is the gaussian-pixel-floor decoder, with its "
                             "decoder_settings sigma_min); a training recipe may only set lr, grad_clip or "
                             "skip_nonfinite")
        if unknown or "name" not in entry:
            raise ValueError(f"{path}: entry {raw.get('name', raw)}: unknown keys {sorted(unknown)} or no name")
        entries.append(entry)
    names = [e["name"] for e in entries]
    if len(set(names)) != len(names):
        raise ValueError(f"{path}: duplicate entry names")
    for i, entry in enumerate(entries):
        if CONTINUES in entry:
            _check_continues(path, entry, entries[:i])
    return entries


def _check_continues(path, entry: dict, earlier: list[dict]) -> None:
    """An entry continues an earlier entry of the same model, trained further on the same data with the same
    optimizer (a schedule that gives the rates of the other's epochs): what a resumed run may change
    (run_folder.check_output_folder), checked here before the other's checkpoint is copied (``zoo.build``)."""
    source = next((e for e in earlier if e["name"] == entry[CONTINUES]), None)
    if source is None:
        raise ValueError(f"{path}: entry {entry['name']}: continues {entry[CONTINUES]!r}, which is not an entry "
                         f"listed before it")
    try:
        models = [VAEConfig(**{k: v for k, v in e.items() if k in MODEL_FIELDS}) for e in (entry, source)]
        runs = [TrainConfig(**{k: v for k, v in e.items() if k in TRAIN_FIELDS}) for e in (entry, source)]
    except (TypeError, ValueError):
        return  # a bad setting: split_entry names it with its entry
    said = f"{path}: entry {entry['name']}: continues {source['name']!r}"
    differ = sorted(f for f in MODEL_FIELDS if getattr(models[0], f) != getattr(models[1], f))
    if differ:
        raise ValueError(f"{said}, a different model ({', '.join(differ)} {'differ' if len(differ) > 1 else 'differs'}"
                         f"); a continued run keeps its network and likelihood")
    try:
        data, optimizer = changed_settings(asdict(runs[1]), runs[0], runs[1].epochs)
    except ValueError:  # the schedule ends before the epochs it would continue
        data, optimizer = [], [("lr_schedule", runs[1].lr_schedule, runs[0].lr_schedule)]
    if data or optimizer:
        raise ValueError(f"{said} with other data or optimizer settings "
                         f"({', '.join(f for f, _, _ in data + optimizer)}); a continued run sees the same images "
                         f"in the same order, with the same optimizer and a schedule that gave the rates of the "
                         f"epochs it continues")
    if runs[0].epochs <= runs[1].epochs:
        raise ValueError(f"{said} for {runs[0].epochs} epochs, no more than its {runs[1].epochs}; a continued run "
                         f"trains further")


def split_entry(entry: dict) -> tuple[VAEConfig, TrainConfig, dict]:
    """The entry's model, training and evaluation settings, each checked; a bad value names the entry."""
    try:
        for name in ("latent_dim", "hidden", "conv_channels", "res_blocks"):
            if name in entry:
                check_setting(name, entry[name])
        model = VAEConfig(**{k: v for k, v in entry.items() if k in MODEL_FIELDS})
        make_likelihood(model.decoder, **model.decoder_settings)
        training = TrainConfig(**{k: v for k, v in entry.items() if k in TRAIN_FIELDS})
        if "ais" in entry:
            settings_for(model.latent_dim, entry["ais"])
    except (TypeError, ValueError) as e:
        raise ValueError(f"zoo entry {entry.get('name')!r}: {e}") from None
    return model, training, {k: v for k, v in entry.items() if k in EVAL_FIELDS}


def evaluation_settings(spec: str | Path, name: str) -> dict:
    """The evaluation settings (EVAL_FIELDS: ``ais``, ``best_images``, ...) of zoo entry ``name`` in ``spec``, checked
    with the whole entry; {} where the spec does not list ``name``."""
    for entry in read_spec(spec):
        if entry["name"] == name:
            return split_entry(entry)[2]
    return {}


def ais_settings(spec: str | Path, name: str) -> dict | None:
    """The ``ais`` table of zoo entry ``name`` in ``spec``, or None where the entry has none or is not listed."""
    return evaluation_settings(spec, name).get("ais")


