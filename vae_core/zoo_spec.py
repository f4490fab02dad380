"""The zoo spec (zoo.toml): every shipped checkpoint with its settings; training, evaluation and model cards.

    [defaults]            settings every entry starts from (VAEConfig and TrainConfig fields)
    [[model]]             one per checkpoint: name, dataset, decoder, and any overrides
"""
from __future__ import annotations

import fnmatch
import json
import time
import tomllib
from dataclasses import fields
from pathlib import Path

import torch

from .classifier import load_classifier
from .data import fixed_test_input, load_sample, load_split
from .metrics import elbo_terms, evaluate, frechet_distance, mse
from .model import VAE, WEIGHTS_NAME, VAEConfig, atomic_write
from .training import OPTIMIZER_NAME, STATE_NAME, TrainConfig, check_same_model, train
from .zoo import read_history

MODEL_FIELDS = {f.name for f in fields(VAEConfig)}
TRAIN_FIELDS = {f.name for f in fields(TrainConfig)}
EVAL_FIELDS = {"iwae_k", "iwae_images", "frechet_images", "description"}


def read_spec(path: str | Path) -> list[dict]:
    """The entries of a zoo spec, each merged over [defaults]; unknown keys are an error naming the entry."""
    spec = tomllib.loads(Path(path).read_text())
    defaults = spec.get("defaults", {})
    entries = []
    for raw in spec.get("model", []):
        entry = {**defaults, **raw}
        unknown = set(entry) - MODEL_FIELDS - TRAIN_FIELDS - EVAL_FIELDS - {"name"}
        if unknown or "name" not in entry:
            raise ValueError(f"{path}: entry {raw.get('name', raw)}: unknown keys {sorted(unknown)} or no name")
        entries.append(entry)
    names = [e["name"] for e in entries]
    if len(set(names)) != len(names):
        raise ValueError(f"{path}: duplicate entry names")
    return entries


def split_entry(entry: dict) -> tuple[VAEConfig, TrainConfig, dict]:
    model = VAEConfig(**{k: v for k, v in entry.items() if k in MODEL_FIELDS})
    training = TrainConfig(**{k: v for k, v in entry.items() if k in TRAIN_FIELDS})
    return model, training, {k: v for k, v in entry.items() if k in EVAL_FIELDS}


def train_zoo(spec: str | Path, only: str = "*", checkpoints: str | Path = "checkpoints", data_dir=None,
              download: bool = False, evaluate: bool = True, progress: bool = True) -> None:
    """Train (resuming finished or partial runs) and evaluate every entry whose name matches ``only``."""
    patterns = [p.strip() for p in only.split(",") if p.strip()]
    entries = [e for e in read_spec(spec) if any(fnmatch.fnmatch(e["name"], p) for p in patterns)]
    if not entries:
        raise ValueError(f"no zoo entry matches {only!r}")
    for entry in entries:
        model_cfg, train_cfg, eval_cfg = split_entry(entry)
        train_cfg.progress = progress
        out = Path(checkpoints) / entry["name"]
        state = None
        if (out / STATE_NAME).is_file():
            check_same_model(out, model_cfg)  # the spec changed since this folder was trained: say so
            state = json.loads((out / STATE_NAME).read_text())
        done = state is not None and (state["epoch"] >= train_cfg.epochs or state["diverged"])
        if not done:
            print(f"== training {entry['name']}", flush=True)
            images, _ = load_split(model_cfg.dataset, "train", data_dir, download=download)
            train(model_cfg, train_cfg, images, out, resume=True)
            (out / OPTIMIZER_NAME).unlink(missing_ok=True)  # shipped checkpoints are for use, not resumption
        evaluated = out / "eval.json"
        if evaluate and not (evaluated.is_file() and evaluated.stat().st_mtime >= (out / WEIGHTS_NAME).stat().st_mtime):
            print(f"== evaluating {entry['name']}", flush=True)
            evaluate_checkpoint(out, data_dir, progress=progress, **eval_cfg)
    if evaluate:
        write_index(checkpoints)


def evaluate_checkpoint(folder: str | Path, data_dir=None, iwae_k: int = 1000, iwae_images: int = 2000,
                        frechet_images: int = 10000, description: str = "", progress: bool = True) -> dict:
    """Write eval.json and README.md (the model card) for a trained checkpoint folder."""
    folder = Path(folder)
    model = VAE.from_pretrained(folder)
    cfg = model.config
    torch.manual_seed(0)
    test_images, _ = load_split(cfg.dataset, "test", data_dir)
    x = fixed_test_input(test_images, model.data_kind, seed=0)  # (N, 1, 28, 28)
    t0 = time.perf_counter()
    ev = evaluate(model, x, iwae_k=iwae_k, iwae_images=iwae_images, progress=progress)
    test = {k: getattr(ev, k) for k in ("num_images", "elbo", "elbo_stderr", "rec", "kl", "mse", "active_units",
                                        "iwae", "iwae_stderr", "iwae_k", "bits_per_dim")}
    test["iwae_images"] = min(iwae_images, len(x)) if iwae_k else None
    state = json.loads((folder / STATE_NAME).read_text()) if (folder / STATE_NAME).is_file() else {}
    history = read_history(folder / "history.jsonl")
    result = {
        "name": folder.name, "dataset": cfg.dataset, "decoder": cfg.decoder, "latent_dim": cfg.latent_dim,
        "data_kind": model.data_kind, "description": description, "test": test, "sigma": ev.sigma,
        "frechet": frechet(model, x[:frechet_images]),
        "embedded_sample": sample_check(model),
        "training": {"epochs": len(history), "seconds": sum(r.get("seconds", 0) for r in history),
                     "diverged_at_epoch": (state.get("diverged") or {}).get("epoch"),
                     **{k: state.get("train_config", {}).get(k) for k in ("lr", "batch_size", "seed")}},
        "evaluation_seconds": time.perf_counter() - t0,
    }
    text = json.dumps(result, indent=2) + "\n"
    atomic_write(folder / "eval.json", lambda tmp: Path(tmp).write_text(text))
    (folder / "README.md").write_text(model_card(result, cfg))
    return result


@torch.no_grad()
def frechet(model: VAE, x: torch.Tensor, seed: int = 0) -> dict | None:
    """Frechet distances to the test set in the dataset classifier's feature space, for prior samples and for
    reconstructions, each both as full samples x ~ p(x|z) and as decoder means."""
    try:
        classifier = load_classifier(model.config.dataset)
    except FileNotFoundError:
        return None
    model.eval()
    gen = torch.Generator().manual_seed(seed)
    reference = classifier.features(x)
    outputs: dict[str, list] = {"samples": [], "sample_means": [], "reconstructions": [], "reconstruction_means": []}
    for xb in x.split(1000):
        _, px = model.sample(len(xb), generator=gen)
        outputs["samples"].append(px.sample())
        outputs["sample_means"].append(px.mean)
        qz = model.encode(xb)
        pr = model.decode(qz.sample())
        outputs["reconstructions"].append(pr.sample())
        outputs["reconstruction_means"].append(pr.mean)
    result = {k: frechet_distance(classifier.features(torch.cat(v)), reference) for k, v in outputs.items()}
    return {**result, "num_images": len(x), "reference": "test set, same data kind"}


def sample_check(model: VAE) -> dict:
    """ELBO and MSE on the embedded test sample (fixed seeds): what tests recompute to check the shipped weights."""
    images, _ = load_sample(model.config.dataset)
    x = fixed_test_input(images, model.data_kind, seed=0)
    terms = elbo_terms(model, x)
    return {"num_images": len(x), "elbo": float(terms["elbo"].mean()), "mse": mse(model, x)}


def write_index(checkpoints: str | Path) -> Path:
    """checkpoints/index.json: every evaluated checkpoint with its headline numbers, for the app."""
    root = Path(checkpoints)
    models = []
    for path in sorted(root.glob("*/eval.json")):
        ev = json.loads(path.read_text())
        models.append({"name": ev["name"], "dataset": ev["dataset"], "decoder": ev["decoder"],
                       "latent_dim": ev["latent_dim"], "data_kind": ev["data_kind"],
                       "log_likelihood": ev["test"]["iwae"] if ev["test"]["iwae"] is not None else ev["test"]["elbo"],
                       "bits_per_dim": ev["test"]["bits_per_dim"],
                       "frechet_samples": (ev.get("frechet") or {}).get("samples"),
                       "frechet_reconstructions": (ev.get("frechet") or {}).get("reconstructions"),
                       "frechet_sample_means": (ev.get("frechet") or {}).get("sample_means"),
                       "frechet_reconstruction_means": (ev.get("frechet") or {}).get("reconstruction_means"),
                       "sigma_min": (ev.get("sigma") or {}).get("min"),
                       "active_units": ev["test"]["active_units"]})
    out = root / "index.json"
    out.write_text(json.dumps({"models": models}, indent=2) + "\n")
    return out


def model_card(ev: dict, cfg: VAEConfig) -> str:
    t, s, f = ev["test"], ev.get("sigma") or {}, ev.get("frechet") or {}

    def num(v, fmt=".2f"):
        return "n/a" if v is None else format(v, fmt)

    iwae = f"log p(x) by importance sampling (k={t['iwae_k']}, {t['iwae_images']} images)"
    sigma = f"{num(s.get('mean'), '.4f')} / {num(s.get('min'), '.2e')} / {num(s.get('frac_below_0.01'), '.3f')}"
    return f"""---
library_name: vae-decoder-zoo
tags: [vae, {cfg.dataset}, {cfg.decoder}]
datasets: [{cfg.dataset}]
---
# {ev['name']}

A VAE on {cfg.dataset} with the `{cfg.decoder}` decoder likelihood ({ev.get('description') or 'see the zoo README'}).
Latent size {cfg.latent_dim}, {cfg.architecture} {cfg.hidden} ({cfg.activation}); data kind `{ev['data_kind']}`.
Trained by `train.py --zoo zoo.toml --only '{ev['name']}'` for {ev['training']['epochs']} epochs
({num(ev['training']['seconds'] / 60, '.1f')} min on 2 CPU cores){
    f"; the loss became non-finite in epoch {ev['training']['diverged_at_epoch']} and the last finite weights were kept"
    if ev['training']['diverged_at_epoch'] else ''}.

| test metric | value |
|---|---|
| ELBO (nats, {t['num_images']} images) | {num(t['elbo'])} ± {num(t['elbo_stderr'])} |
| {iwae} | {num(t['iwae'])} ± {num(t['iwae_stderr'])} |
| bits/dim ({ev['data_kind']} data) | {num(t['bits_per_dim'], '.3f')} |
| reconstruction MSE | {num(t['mse'], '.4f')} |
| active units | {t['active_units']} / {cfg.latent_dim} |
| decoder sigma mean / min / frac < 0.01 | {sigma} |
| Frechet distance, prior samples / reconstructions | {num(f.get('samples'))} / {num(f.get('reconstructions'))} |

Bits/dim of binarized data (Bernoulli) are bits per binary pixel and are not comparable with 8-bit results.
Load with `vae_core.zoo.load_model(folder)` (config.json + model.safetensors).
"""
