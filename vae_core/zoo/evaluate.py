"""A trained checkpoint evaluated: eval.json (files.schema.Evaluation) and its model card, and the best
log-likelihood block added to an evaluated one.

Evaluation takes a device name as training does (vae_core/base/devices.py), moves the model and the test images
there once, and writes the same eval.json: on the CPU, the numbers it always wrote; on a GPU, the same random
draws (made on the CPU), so the numbers differ by float rounding only (AIS: within its Monte Carlo error;
vae_core.evaluation.ais)."""
from __future__ import annotations

import time
from pathlib import Path

import torch

from vae_core.base.data import fixed_test_input, load_sample, load_split
from vae_core.base.devices import check_float64, place, resolve_device
from vae_core.evaluation.best_likelihood import (
    AIS,
    AIS_IMAGES,
    QUADRATURE_IMAGES,
    WIDER_K,
    best_log_likelihood,
    method_for,
    settings_for,
)
from vae_core.evaluation.classifier import load_classifier
from vae_core.evaluation.metrics import cpu_decoder, cpu_posterior, elbo_terms, evaluate, frechet_distance, mse
from vae_core.files.atomic import atomic_write
from vae_core.files.names import CARD_NAME, EVAL_NAME, HISTORY_NAME
from vae_core.files.schema import (
    VERSION_KEY,
    BestLogLikelihood,
    Evaluation,
    finite_or_none,
    from_dict,
    to_dict,
    to_json,
)
from vae_core.model.likelihoods import unvalidated
from vae_core.model.vae import VAE, VAEConfig
from vae_core.training.run_folder import read_state
from vae_core.zoo.cards import model_card
from vae_core.zoo.checkpoints import read_evaluation_whole, read_history_lines
from vae_core.zoo.ledger import read_ledger

BEST_KEY = "log_likelihood"  # eval.json: the best estimate block (vae_core.evaluation.best_likelihood)


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
            and (old.images or "").startswith(f"the first {num_images} ") and old.iwae_k == iwae_k
            and (old.method != AIS or old.wider_iwae_k == WIDER_K))  # an AIS block without its sandwich is redone
    if same and not force:
        return None
    test_images, _ = load_split(model.config.dataset, "test", data_dir)
    x = fixed_test_input(test_images, model.data_kind, seed=0)[:num_images].to(target)  # the IWAE's images, moved once
    block = {**best_log_likelihood(model, x, settings, iwae_k=iwae_k, progress=progress), "device": target.type}
    # the old block's non-finite numbers go with it; the rest of the file's record of them stays
    kept = [p for p in ev.nonfinite if not p.startswith(f"{BEST_KEY}.")]
    write_evaluation(folder, {**to_dict(ev), "nonfinite": kept, BEST_KEY: block}, model.config)
    return block


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
