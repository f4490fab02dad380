"""The zoo spec (zoo.toml): every shipped checkpoint with its settings; training, evaluation and model cards.

    [defaults]            settings every entry starts from (VAEConfig and TrainConfig fields)
    [[model]]             one per checkpoint: name, dataset, decoder, and any overrides

Devices: an entry is trained and evaluated on its ``device`` (TrainConfig; the CPU unless the spec says otherwise),
or on the one ``train_zoo`` is given. Evaluation takes a device name as training does (vae_core/base/devices.py), moves
the model and the test images there once, and writes the same eval.json: on the CPU, the numbers it always wrote;
on a GPU, the same random draws (made on the CPU), so the numbers differ by float rounding only (AIS: within its
Monte Carlo error; vae_core.evaluation.ais).
"""
from __future__ import annotations

import fnmatch
import json
import os
import time
import tomllib
from dataclasses import fields
from pathlib import Path

import torch

from vae_core.base.data import UNBOUNDED_REASON, fixed_test_input, is_bounded, load_sample, load_split
from vae_core.base.devices import check_device, check_float64, place, resolve_device
from vae_core.base.limits import check_setting
from vae_core.evaluation.best_likelihood import (
    AIS_IMAGES,
    QUADRATURE_IMAGES,
    best_log_likelihood,
    method_for,
    settings_for,
)
from vae_core.evaluation.classifier import load_classifier
from vae_core.evaluation.metrics import cpu_decoder, cpu_posterior, elbo_terms, evaluate, frechet_distance, mse
from vae_core.files.schema import (
    CARD_NAME,
    EVAL_NAME,
    HISTORY_NAME,
    SCHEMA_VERSION,
    VERSION_KEY,
    BestLogLikelihood,
    Evaluation,
    Frechet,
    Metrics,
    SchemaError,
    SigmaStats,
    TrainingSummary,
    finite_or_none,
    from_dict,
    parse_json,
    to_dict,
    to_json,
)
from vae_core.model.likelihoods import make_likelihood, unvalidated
from vae_core.model.vae import VAE, WEIGHTS_NAME, VAEConfig, atomic_temp_of, atomic_write, load_config
from vae_core.training.loop import (
    TrainConfig,
    check_same_model,
    drop_optimizer,
    foreign_entries,
    listed,
    read_state,
    recover,
    shown,
    train,
)
from vae_core.zoo.checkpoints import INDEX_NAME, read_history_lines
from vae_core.zoo.ledger import LEDGER_JSON, card_section, read_ledger

MODEL_FIELDS = {f.name for f in fields(VAEConfig)}
TRAIN_FIELDS = {f.name for f in fields(TrainConfig)}
# ais: AIS settings for this model's best estimate where the shipped ones do not converge (best_likelihood.py)
EVAL_FIELDS = {"iwae_k", "iwae_images", "frechet_images", "best_images", "description", "ais"}
BEST_KEY = "log_likelihood"  # eval.json: the best estimate block (vae_core.evaluation.best_likelihood)


DEFAULT_SPEC = Path(__file__).resolve().parent.parent / "zoo.toml"  # the shipped zoo's spec


def read_spec(path: str | Path) -> list[dict]:
    """The entries of a zoo spec, each merged over [defaults]; unknown keys are an error naming the entry."""
    spec = tomllib.loads(Path(path).read_text())
    defaults = spec.get("defaults", {})
    entries = []
    for raw in spec.get("model", []):
        entry = {**defaults, **raw}
        unknown = set(entry) - MODEL_FIELDS - TRAIN_FIELDS - EVAL_FIELDS - {"name"}
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
    return entries


def split_entry(entry: dict) -> tuple[VAEConfig, TrainConfig, dict]:
    """The entry's model, training and evaluation settings, each checked; a bad value names the entry."""
    try:
        for name in ("latent_dim", "hidden", "conv_channels"):
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


def check_zoo_root(checkpoints: str | Path, what: str = "the zoo folder") -> None:
    """The zoo is written into a new or empty folder, or one of its own: only checkpoint folders (each new, empty
    or a run's own) and the index. Any other file there, such as a repository's, refuses the whole zoo before
    anything is read or written; an empty path (an unset shell variable) too."""
    if not str(checkpoints):
        raise ValueError(f"{what} is an empty path (an unset shell variable?); name the folder the zoo's checkpoints "
                         f"go in: a new or empty one, or a zoo's own")
    root = Path(checkpoints)
    if not root.is_dir():
        return
    foreign = foreign_entries_of_zoo(root)
    if foreign:
        raise ValueError(f"{what} {shown(root)} is not empty and not a zoo's folder (it holds {listed(foreign)}); "
                         f"give a new or empty folder, or one holding only checkpoint folders and {INDEX_NAME}")


def foreign_entries_of_zoo(root: Path) -> list[str]:
    """The names in a zoo folder that are neither its index nor a checkpoint folder holding only a run's files."""
    foreign = []
    for name in sorted(os.listdir(root)):
        path = root / name
        if name == INDEX_NAME or atomic_temp_of(name) == INDEX_NAME:
            continue
        if not path.is_dir():
            foreign.append(name)
        else:  # a folder of nothing but other files is named as a whole
            inner = foreign_entries(path)
            foreign += [f"{name}/"] if inner and len(inner) == len(os.listdir(path)) else [f"{name}/{i}" for i in inner]
    return foreign


def train_zoo(spec: str | Path, only: str = "*", checkpoints: str | Path = "checkpoints", data_dir=None,
              download: bool = False, evaluate: bool = True, progress: bool = True, device: str | None = None) -> None:
    """Train (resuming finished or partial runs) and evaluate every entry whose name matches ``only``, each on its
    spec's ``device``, or all on ``device`` (a name of vae_core.base.devices.DEVICES) when one is given."""
    if device is not None:
        check_device(device)  # before the spec is read or anything written
    check_zoo_root(checkpoints)
    patterns = [p.strip() for p in only.split(",") if p.strip()]
    entries = [e for e in read_spec(spec) if any(fnmatch.fnmatch(e["name"], p) for p in patterns)]
    if not entries:
        raise ValueError(f"no zoo entry matches {only!r}")
    if device is not None:
        entries = [{**e, "device": device} for e in entries]  # over the spec's, for training and evaluation
    plans = [(entry, *split_entry(entry)) for entry in entries]  # every entry checked before any is trained
    for entry, _, train_cfg, eval_cfg in plans:
        if evaluate and eval_cfg.get("best_images") != 0:  # an entry's evaluation refused after its training: say now
            try:
                check_float64(resolve_device(train_cfg.device), "the best log-likelihood estimate")
            except ValueError as e:
                raise ValueError(f"zoo entry {entry['name']!r}: {e}") from None
    for entry, model_cfg, train_cfg, eval_cfg in plans:
        train_cfg.progress = progress
        out = Path(checkpoints) / entry["name"]
        state = recover(out) if out.is_dir() else None  # finish or discard a save a kill interrupted
        if state is not None:
            check_same_model(out, model_cfg)  # the spec changed since this folder was trained: say so
        done = state is not None and (state.epoch >= train_cfg.epochs or state.diverged)
        if not done:
            print(f"== training {entry['name']}", flush=True)
            images, _ = load_split(model_cfg.dataset, "train", data_dir, download=download)
            train(model_cfg, train_cfg, images, out, resume=state is not None)
        drop_optimizer(out)  # shipped checkpoints are for use, not resumption
        evaluated = out / "eval.json"
        if evaluate and not (evaluated.is_file() and evaluated.stat().st_mtime >= (out / WEIGHTS_NAME).stat().st_mtime):
            print(f"== evaluating {entry['name']}", flush=True)
            evaluate_checkpoint(out, data_dir, progress=progress, device=train_cfg.device, **eval_cfg)
    if evaluate:
        write_index(checkpoints)


def evaluate_checkpoint(folder: str | Path, data_dir=None, iwae_k: int = 1000, iwae_images: int = 2000,
                        frechet_images: int = 10000, description: str = "", progress: bool = True,
                        best_images: int | None = None, ais: dict | None = None, device: str = "cpu") -> dict:
    """Write eval.json and README.md (the model card) for a trained checkpoint folder. The best log-likelihood
    estimate uses ``best_images`` test images (default: its method's budget, at most ``iwae_images``; 0: none)
    and the zoo entry's ``ais`` settings over the shipped ones (AIS only). ``device``: where to compute, a name of
    vae_core.base.devices.DEVICES (module docstring)."""
    folder = Path(folder)
    target = resolve_device(device)  # one sentence before anything is read, computed or written
    model = VAE.from_pretrained(folder, map_location=target)
    cfg = model.config
    settings = settings_for(cfg.latent_dim, ais)  # checked before anything is computed or written
    read_ledger()  # the model card shows its rows: a damaged ledger is refused now, not after the evaluation
    best_images = min(best_images_for(model), iwae_images) if best_images is None else best_images
    if best_images > 0:
        check_float64(target, f"the best log-likelihood estimate ({method_for(model)})")
    torch.manual_seed(0)
    test_images, _ = load_split(cfg.dataset, "test", data_dir)
    x = fixed_test_input(test_images, model.data_kind, seed=0).to(target)  # (N, 1, 28, 28), moved once
    t0 = time.perf_counter()
    with unvalidated():  # a collapsed sigma gives non-finite numbers, recorded as such (write_evaluation)
        ev = evaluate(model, x, iwae_k=iwae_k, iwae_images=iwae_images, progress=progress)
        test = {k: getattr(ev, k) for k in ("num_images", "elbo", "elbo_stderr", "rec", "kl", "mse", "active_units",
                                            "iwae", "iwae_stderr", "iwae_k", "bits_per_dim")}
        test["iwae_images"] = min(iwae_images, len(x)) if iwae_k else None
        state = read_state(folder)
        history, _ = read_history_lines(folder / HISTORY_NAME)  # unreadable lines are not epochs: left out
        diverged = (state and state.diverged) or {}
        result = {
            "name": folder.name, "dataset": cfg.dataset, "decoder": cfg.decoder, "latent_dim": cfg.latent_dim,
            "data_kind": model.data_kind, "description": description, "test": test, "sigma": ev.sigma,
            "frechet": frechet(model, x[:frechet_images]),
            "embedded_sample": sample_check(model),
            "training": {"epochs": len(history), "seconds": sum(r.seconds or 0 for r in history),
                         "diverged_at_epoch": diverged.get("epoch"),
                         "diverged_at_step": diverged.get("step"),
                         "weights_from_step": diverged.get("weights_from_step"),
                         **{k: ((state and state.train_config) or {}).get(k) for k in ("lr", "batch_size", "seed")}},
            "evaluation_seconds": time.perf_counter() - t0, "evaluation_device": target.type,
        }
        if best_images > 0:
            result[BEST_KEY] = {**best_log_likelihood(model, x[:best_images], settings, iwae_k=iwae_k or 1000,
                                                      progress=progress), "device": target.type}
        write_evaluation(folder, result, cfg)
        return result


def best_images_for(model: VAE) -> int:
    """How many test images the best estimate uses: all that fit the evaluation budget of its method."""
    return QUADRATURE_IMAGES if method_for(model) == "quadrature" else AIS_IMAGES


def write_evaluation(folder: Path, result: dict, cfg: VAEConfig) -> None:
    """eval.json (files.schema.Evaluation, checked strictly: a value of the wrong type is a bug in the evaluation
    code, not something to write) and the model card. Non-finite numbers (a collapsed sigma's +inf or NaN) become
    null, and ``nonfinite`` lists them, so the file stays strict JSON and says what happened; those ``result``
    already lists (an eval.json read back, its numbers already null) stay listed."""
    found: list[str] = []
    clean = finite_or_none({k: v for k, v in result.items() if k not in ("nonfinite", VERSION_KEY)}, found=found)
    listed = list(result.get("nonfinite") or [])
    record, _ = from_dict(Evaluation, {**clean, "nonfinite": listed + [f for f in found if f not in listed]},
                          EVAL_NAME, strict=True)
    text, card = to_json(record) + "\n", model_card(record, cfg)  # both made before either is written
    atomic_write(folder / EVAL_NAME, lambda tmp: Path(tmp).write_text(text))
    atomic_write(folder / CARD_NAME, lambda tmp: Path(tmp).write_text(card))


def rewrite_card(folder: Path, ledger: Path = LEDGER_JSON) -> None:
    """Rewrite an evaluated checkpoint's model card from its eval.json as it is and the rows of ``ledger`` that name
    it (vae_core.zoo.ledger); eval.json itself is left byte for byte."""
    card = model_card(read_evaluation_whole(folder / EVAL_NAME), load_config(folder), ledger)
    atomic_write(folder / CARD_NAME, lambda tmp: Path(tmp).write_text(card))


def read_evaluation_whole(path: Path) -> Evaluation:
    """eval.json read through its schema for a writer that rewrites it or builds on it (a best estimate added, the
    index): every value must have its type, since rewriting would turn a damaged value into null unsaid. Anything
    else is a ValueError of one sentence naming the file and the fields at fault."""
    name = path.parent.name
    again = f"restore it, or delete it and evaluate again with train.py --zoo zoo.toml --only {name}"
    if not path.is_file():
        raise ValueError(f"{path} does not exist; evaluate {name} first with train.py --zoo zoo.toml --only {name}")
    try:
        ev, problems = parse_json(Evaluation, path.read_text(), str(path))
    except UnicodeDecodeError:
        raise ValueError(f"{path} is not UTF-8 text; {again}") from None
    except SchemaError as e:
        raise ValueError(f"{e.problem.message}; {again}") from None
    if ev.schema_version > SCHEMA_VERSION:
        raise ValueError(f"{path} was written by a newer version (schema {ev.schema_version}, this one writes "
                         f"{SCHEMA_VERSION}); use that version to rewrite it")
    if problems:
        at = ", ".join(p.path for p in problems[:3]) + (f" and {len(problems) - 3} more" if len(problems) > 3 else "")
        raise ValueError(f"{path} holds a value of the wrong type at {at} (see vae_core.files.schema.Evaluation for "
                         f"each field's type); {again}")
    return ev


def update_best_log_likelihood(folder: str | Path, data_dir=None, num_images: int | None = None,
                               iwae_k: int | None = None, progress: bool = True, force: bool = False,
                               ais: dict | None = None, device: str = "cpu") -> dict | None:
    """Add (or redo) the best log-likelihood block of an evaluated checkpoint's eval.json and its model card,
    without retraining or touching the weights; ``ais``: the zoo entry's AIS settings (see ``ais_settings``).
    Returns the block, or None when the folder already has one at the same method, settings, number of images and
    IWAE k (unless ``force``). ``device``: where to compute, a name of vae_core.base.devices.DEVICES."""
    folder = Path(folder)
    target = resolve_device(device)  # one sentence before anything is read, computed or written
    ev = read_evaluation_whole(folder / EVAL_NAME)
    read_ledger()  # the model card shows its rows: a damaged ledger is refused now, not after the estimate
    model = VAE.from_pretrained(folder, map_location=target)
    check_float64(target, f"the best log-likelihood estimate ({method_for(model)})")
    settings = settings_for(model.config.latent_dim, ais)
    num_images = num_images or best_images_for(model)
    iwae_k = iwae_k or (ev.test and ev.test.iwae_k) or 1000
    old = ev.log_likelihood or BestLogLikelihood()
    same = (old.method == method_for(model) and old.settings == settings
            and (old.images or "").startswith(f"the first {num_images} ") and old.iwae_k == iwae_k)
    if same and not force:
        return None
    test_images, _ = load_split(model.config.dataset, "test", data_dir)
    x = fixed_test_input(test_images, model.data_kind, seed=0)[:num_images].to(target)  # the IWAE's images, moved once
    block = {**best_log_likelihood(model, x, settings, iwae_k=iwae_k, progress=progress), "device": target.type}
    # the old block's non-finite numbers go with it; the rest of the file's record of them stays
    kept = [p for p in ev.nonfinite if not p.startswith(f"{BEST_KEY}.")]
    write_evaluation(folder, {**to_dict(ev), "nonfinite": kept, BEST_KEY: block}, model.config)
    return block


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


@torch.no_grad()
def frechet(model: VAE, x: torch.Tensor, seed: int = 0, device: str | torch.device | None = None) -> dict | None:
    """Frechet distances to the test set in the dataset classifier's feature space, for prior samples and for
    reconstructions, each both as full samples x ~ p(x|z) and as decoder means.

    The VAE runs where it is (or on ``device``); every draw is made on the CPU (z ~ p(z) from a generator seeded
    with ``seed``, z ~ q(z|x) and x ~ p(x|z) from the global one, in the order they always were), and the small
    classifier runs on the CPU, so a GPU gives the CPU's distances up to float rounding."""
    try:
        classifier = load_classifier(model.config.dataset)
    except FileNotFoundError:
        return None
    model.eval()
    x = place(model, x, device)  # (N, 1, 28, 28) on the model's device, once
    decode = cpu_decoder(model)
    gen = torch.Generator().manual_seed(seed)
    reference = classifier.features(x.cpu())
    outputs: dict[str, list] = {"samples": [], "sample_means": [], "reconstructions": [], "reconstruction_means": []}
    for xb in x.split(1000):
        px = decode(torch.randn(len(xb), model.config.latent_dim, generator=gen).to(model.device))  # VAE.sample's z
        outputs["samples"].append(px.sample())
        outputs["sample_means"].append(px.mean)
        pr = decode(cpu_posterior(model.encode(xb)).sample().to(model.device))
        outputs["reconstructions"].append(pr.sample())
        outputs["reconstruction_means"].append(pr.mean)
    result = {k: frechet_distance(classifier.features(torch.cat(v)), reference) for k, v in outputs.items()}
    return {**result, "num_images": len(x), "reference": "test set, same data kind"}


def sample_check(model: VAE, device: str | torch.device | None = None) -> dict:
    """ELBO and MSE on the embedded test sample (fixed seeds): what tests recompute to check the shipped weights.
    ``device``: where to compute (None: where the model is)."""
    images, _ = load_sample(model.config.dataset)
    x = place(model, fixed_test_input(images, model.data_kind, seed=0), device)  # (1000, 1, 28, 28), moved once
    terms = elbo_terms(model, x)
    return {"num_images": len(x), "elbo": float(terms["elbo"].mean()), "mse": mse(model, x)}


def write_index(checkpoints: str | Path) -> Path:
    """checkpoints/index.json: every evaluated checkpoint with its headline numbers, for the app. Every eval.json
    is read (``read_evaluation_whole``) before the index is written, so a damaged one leaves the old index."""
    root = Path(checkpoints)
    models = []
    for path in sorted(root.glob(f"*/{EVAL_NAME}")):
        ev = read_evaluation_whole(path)
        t, f = ev.test or Metrics(), ev.frechet or Frechet()
        models.append({"name": ev.name, "dataset": ev.dataset, "decoder": ev.decoder,
                       "latent_dim": ev.latent_dim, "data_kind": ev.data_kind,
                       "log_likelihood": t.iwae if t.iwae is not None else t.elbo,
                       "bits_per_dim": t.bits_per_dim,
                       "frechet_samples": f.samples,
                       "frechet_reconstructions": f.reconstructions,
                       "frechet_sample_means": f.sample_means,
                       "frechet_reconstruction_means": f.reconstruction_means,
                       "sigma_min": (ev.sigma or SigmaStats()).min,
                       "active_units": t.active_units, **best_index_fields(ev)})
    out = root / INDEX_NAME
    out.write_text(json.dumps({"models": models}, indent=2) + "\n")
    return out


def best_index_fields(ev: Evaluation) -> dict:
    """index.json keys for the best estimate (None before scripts/evaluate_likelihoods.py has run)."""
    b = ev.log_likelihood or BestLogLikelihood()
    return {"best_log_likelihood": b.estimate, "best_log_likelihood_stderr": b.estimate_stderr,
            "best_method": b.method, "best_images": b.num_images,
            "best_bits_per_dim": b.bits_per_dim, "best_minus_iwae": b.best_minus_iwae,
            "best_minus_iwae_stderr": b.best_minus_iwae_stderr, "best_warning": b.warning}


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
Latent size {cfg.latent_dim}, {cfg.architecture} {cfg.hidden} ({cfg.activation}); data kind `{ev.data_kind}`.
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

    what = ("exact, by adaptive quadrature over the latent plane" if b.method == "quadrature"
            else "annealed importance sampling, a stochastic lower bound")
    n = b.num_images
    return (f"\n| log p(x), best estimate: {what} ({n} images) | {num(b.estimate)} ± {num(b.estimate_stderr)} |"
            f"\n| IWAE (k={b.iwae_k}) on the same {n} images | {num(b.iwae)} ± {num(b.iwae_stderr)} |"
            f"\n| best - IWAE on the same images (the IWAE bias) | {num(b.best_minus_iwae)} ± "
            f"{num(b.best_minus_iwae_stderr)} |"
            f"\n| bits/dim from the best estimate | {num(b.bits_per_dim, '.3f')} |"
            + (f"\n| warning on the best estimate | {b.warning} |" if b.warning else ""))
