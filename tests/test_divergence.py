"""Divergence is caught at the step, not the epoch: a run whose loss or gradient turns non-finite stops before that
update, keeps the weights and optimizer state it had, and its history says where and how it collapsed.

The oracle is an independent replay of the same run (same seeds, same batches, same noise) that looks for the
first step whose loss or gradient is non-finite; the Trainer must stop exactly there, with exactly the replay's
weights at that point."""
from __future__ import annotations

import copy
import json
import math

import numpy as np
import pytest
import torch
from safetensors.torch import load_file
from torch.distributions import Distribution

from vae_core.base.data import load_sample, to_model_input
from vae_core.files.names import HISTORY_NAME, OPTIMIZER_NAME, STATE_NAME
from vae_core.model.vae import VAE, VAEConfig
from vae_core.training.config import TrainConfig, make_adam
from vae_core.training.loop import TRACE_EVERY, Trainer, train


def _replay(model: VAE, images: np.ndarray, cfg: TrainConfig) -> tuple[int, int, str, int, dict]:
    """Train a copy of ``model`` the way Trainer.fit does (its seeds, batch order and noise) until the first step
    whose loss or gradient is non-finite. Returns (epoch, step, "loss" or "gradient", the step whose weights the
    Trainer must keep, those weights): the step itself for a gradient, else the last multiple of TRACE_EVERY
    before it (the Trainer's checked copy)."""
    model = copy.deepcopy(model)
    optimizer = make_adam(model.parameters(), cfg)  # the Trainer's optimizer for a new run
    images = torch.from_numpy(np.array(images))
    if cfg.max_train_images:
        images = images[: cfg.max_train_images + cfg.val_size]
    train_images = images[: -cfg.val_size]
    torch.manual_seed(cfg.seed)
    validate = Distribution._validate_args
    Distribution.set_default_validate_args(False)
    try:
        for epoch in range(1, cfg.epochs + 1):
            gen = torch.Generator().manual_seed(cfg.seed * 100_003 + epoch)
            order = torch.randperm(len(train_images), generator=gen)
            copies = {}
            for step, i in enumerate(range(0, len(train_images), cfg.batch_size)):
                if step % TRACE_EVERY == 0:
                    copies[step] = copy.deepcopy(model.state_dict())
                x = to_model_input(train_images[order[i:i + cfg.batch_size]], model.data_kind, gen)
                rec, kl = model.elbo_terms(x)
                loss = (kl - rec).mean()
                if not torch.isfinite(loss):
                    kept = max(j for j in copies if j < step) if step else 0
                    return epoch, step, "loss", kept, copies[kept]
                optimizer.zero_grad()
                loss.backward()
                if not all(torch.isfinite(p.grad).all() for p in model.parameters() if p.grad is not None):
                    return epoch, step, "gradient", step, model.state_dict()
                optimizer.step()
    finally:
        Distribution.set_default_validate_args(validate)
    raise AssertionError("the replay never diverged: the case no longer tests divergence")


def _raw_pixels_on_real_digits() -> tuple[VAE, np.ndarray, TrainConfig]:
    """The seed's experiment in miniature: a per-pixel Gaussian on raw pixels (x / 255, no noise) of the 1000
    real test digits embedded in the package; its sigma collapses and the loss turns NaN in epoch 4."""
    cfg = TrainConfig(epochs=8, lr=1e-2, batch_size=32, seed=0, val_size=200, progress=False)
    torch.manual_seed(cfg.seed)
    return (VAE(VAEConfig(decoder="gaussian-pixel", data_kind="raw", hidden=[64], latent_dim=8)),
            load_sample("mnist")[0], cfg)


def _collapsed_sigma_meets_an_unseen_pixel() -> tuple[VAE, np.ndarray, TrainConfig]:
    """A decoder whose sigma has already collapsed to 1e-18 (log sigma bias -41.4) with a mean of exactly 0
    (sigmoid(-200)) on blank images, which it reconstructs perfectly; one training image has a single faint pixel
    (1 / 255). On the batch that holds it the loss is finite ((1/255)**2 / (2 sigma**2) = 8e30) but its gradient
    with respect to sigma**2, that divided by sigma**2 once more, overflows: the failure of the full raw MNIST run
    (step 394 of epoch 1), with the step fixed by where the shuffle puts that image."""
    cfg = TrainConfig(epochs=2, lr=1e-3, batch_size=25, seed=0, val_size=50, progress=False)
    torch.manual_seed(cfg.seed)
    model = VAE(VAEConfig(decoder="gaussian-pixel", data_kind="raw", hidden=[16], latent_dim=2))
    last = model.decoder[0][-1]  # Linear(16, 2 * 784): mean logits, then log sigma
    with torch.no_grad():
        last.weight.zero_()
        last.bias[:784] = -200.0
        last.bias[784:] = math.log(1e-18)
    images = np.zeros((300, 28, 28), np.uint8)
    images[0, 14, 14] = 1
    return model, images, cfg


CASES = {  # name -> (how to build the run, which check must stop it)
    "raw pixels, real digits": (_raw_pixels_on_real_digits, "loss"),
    "collapsed sigma, one unseen pixel": (_collapsed_sigma_meets_an_unseen_pixel, "gradient"),
}


@pytest.fixture(scope="module", params=list(CASES))
def diverged_run(request, tmp_path_factory):
    build, kind = CASES[request.param]
    model, images, cfg = build()
    expected = _replay(model, images, cfg)
    init = copy.deepcopy(model.state_dict())
    out = tmp_path_factory.mktemp("diverged")
    state = Trainer(model, images, out, cfg).fit()
    return {"kind": kind, "expected": expected, "init": init, "state": state, "out": out, "cfg": cfg,
            "model": model, "images": images}


def test_stops_at_the_first_non_finite_step_with_the_weights_before_it(diverged_run):
    run = diverged_run
    epoch, step, kind, kept, weights = run["expected"]
    assert kind == run["kind"]
    assert run["state"]["diverged"] == {"epoch": epoch, "step": step, "weights_from_step": kept,
                                        "reason": run["state"]["diverged"]["reason"]}
    assert run["state"]["diverged"]["reason"].startswith({"loss": "loss nan", "gradient": "gradient norm"}[kind])
    saved = load_file(str(run["out"] / "model.safetensors"))
    assert all(torch.isfinite(t).all() for t in saved.values())
    assert all(torch.equal(saved[k], weights[k]) for k in weights)  # exactly the replay's weights of that step
    assert any(not torch.equal(saved[k], run["init"][k]) for k in saved)  # training did happen before it
    optimizer = load_file(str(run["out"] / OPTIMIZER_NAME))
    assert all(torch.isfinite(t).all() for t in optimizer.values())
    steps_per_epoch = math.ceil((len(run["images"]) - run["cfg"].val_size) / run["cfg"].batch_size)
    adam_steps = {float(t) for k, t in optimizer.items() if k.endswith(".step")}
    assert adam_steps == {(epoch - 1) * steps_per_epoch + kept}  # the optimizer state matches those weights


def test_the_history_shows_the_collapse_as_it_happened(diverged_run):
    run = diverged_run
    epoch, step, _, kept, _ = run["expected"]
    history = [json.loads(line) for line in (run["out"] / HISTORY_NAME).read_text().splitlines()]
    assert [r["epoch"] for r in history] == list(range(1, epoch + 1))
    last = history[-1]
    assert last["diverged"] is True and last["diverged_step"] == step and last["steps"] == step
    assert last["weights_from_step"] == kept
    assert last["diverged_reason"] == run["state"]["diverged"]["reason"]
    assert all("diverged" not in r for r in history[:-1])
    for record in history:
        trace = record["trace"]
        stop = [step] if record is last else []
        assert [p["step"] for p in trace] == sorted({*range(0, record["steps"], TRACE_EVERY), *stop})
        assert all(0 <= p["sigma_min"] for p in trace)  # the per-pixel Gaussian has a sigma at every point
        # strict JSON: the stopping step's non-finite loss is written as missing (its reason is diverged_reason)
        finite = [p["loss"] for p in trace if p.get("loss") is not None]
        assert all(math.isfinite(v) for v in finite) and len(finite) >= len(trace) - (record is last)
        assert record["loss_max"] >= max(finite) and record["loss_max"] >= record["loss"]
    assert last["trace"][-1]["sigma_min"] < history[0]["trace"][0]["sigma_min"]  # sigma fell on the way
    state = json.loads((run["out"] / STATE_NAME).read_text())
    assert state["diverged"] == run["state"]["diverged"] and state["epoch"] == epoch


def test_a_diverged_run_stays_stopped_on_resume(diverged_run):
    run = diverged_run
    files = {p: p.read_bytes() for p in run["out"].rglob("*") if p.is_file()}
    longer = TrainConfig(**{**run["cfg"].__dict__, "epochs": run["cfg"].epochs + 2})
    trainer = Trainer(copy.deepcopy(run["model"]), run["images"], run["out"], longer)
    trainer.resume()
    assert trainer.fit() == {"epoch": run["expected"][0], "diverged": run["state"]["diverged"]}
    assert {p: p.read_bytes() for p in run["out"].rglob("*") if p.is_file()} == files


def test_a_run_that_never_diverges_has_no_divergence_fields(tmp_path):
    """The same trace and loss_max for a healthy run; a Bernoulli decoder has no sigma to trace."""
    train(VAEConfig(decoder="bernoulli", hidden=[16], latent_dim=2),
          TrainConfig(epochs=1, batch_size=16, val_size=200, max_train_images=400, progress=False),
          load_sample("mnist")[0], tmp_path)
    (record,) = [json.loads(line) for line in (tmp_path / HISTORY_NAME).read_text().splitlines()]
    assert "diverged" not in record and record["steps"] == 25
    assert [p["step"] for p in record["trace"]] == [0]
    assert set(record["trace"][0]) == {"step", "loss"}
    assert record["loss_max"] >= record["loss"] > 0
