"""The recipe that keeps an unbounded likelihood's run going without changing its model: the total gradient norm
clipped (``grad_clip``) and steps with a non-finite loss or gradient skipped (``skip_nonfinite`` per epoch).

The oracle is an independent replay of the run (same seeds, batches and noise) that applies the recipe by hand:
torch's own ``clip_grad_norm_`` and a plain ``continue`` over a batch whose loss or gradient is not finite."""
from __future__ import annotations

import copy
import dataclasses
import json
import math

import numpy as np
import pytest
import torch
from safetensors.torch import load_file
from test_divergence import _collapsed_sigma_meets_an_unseen_pixel
from torch.distributions import Distribution

from vae_core.base.data import load_sample, to_model_input
from vae_core.files.names import HISTORY_NAME, WEIGHTS_NAME
from vae_core.model.vae import VAE, VAEConfig
from vae_core.training.config import TrainConfig, make_adam
from vae_core.training.loop import Trainer


def _replay(model: VAE, images: np.ndarray, cfg: TrainConfig) -> tuple[dict, list[int]]:
    """The weights at the end of the run and the steps skipped in each epoch, trained by hand with the recipe."""
    model = copy.deepcopy(model)
    optimizer = make_adam(model.parameters(), cfg)
    train_images = torch.from_numpy(np.array(images))[: -cfg.val_size]
    torch.manual_seed(cfg.seed)
    validate = Distribution._validate_args
    Distribution.set_default_validate_args(False)
    skipped = []
    try:
        for epoch in range(1, cfg.epochs + 1):
            gen = torch.Generator().manual_seed(cfg.seed * 100_003 + epoch)
            order = torch.randperm(len(train_images), generator=gen)
            skipped.append(0)
            for i in range(0, len(train_images), cfg.batch_size):
                x = to_model_input(train_images[order[i:i + cfg.batch_size]], model.data_kind, gen)
                rec, kl = model.elbo_terms(x)
                loss = (kl - rec).mean()
                optimizer.zero_grad()
                loss.backward()
                norm = torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip or math.inf)
                if not (torch.isfinite(loss) and torch.isfinite(norm)):
                    assert skipped[-1] < cfg.skip_nonfinite, "the case must stay within its skip budget"
                    skipped[-1] += 1
                    continue
                optimizer.step()
    finally:
        Distribution.set_default_validate_args(validate)
    return model.state_dict(), skipped


def _one_unseen_pixel(**recipe) -> tuple[VAE, np.ndarray, TrainConfig]:
    """tests/test_divergence.py's collapsed decoder (sigma 1e-18 and a mean of exactly 0 on blank images) with one
    training image holding a faint pixel: its batch has a finite loss and an overflowing gradient, once an epoch."""
    model, images, cfg = _collapsed_sigma_meets_an_unseen_pixel()
    return model, images, dataclasses.replace(cfg, **recipe)


def _real_digits_clipped(**recipe) -> tuple[VAE, np.ndarray, TrainConfig]:
    """A healthy Bernoulli run on the embedded digits whose gradients are rescaled at most steps (clip 1.0)."""
    cfg = TrainConfig(epochs=1, lr=1e-3, batch_size=50, seed=0, val_size=200, progress=False, **recipe)
    torch.manual_seed(cfg.seed)
    return VAE(VAEConfig(decoder="bernoulli", hidden=[32], latent_dim=4)), load_sample("mnist")[0][:700], cfg


CASES = {  # name -> (the run, its recipe, steps the recipe skips in each epoch)
    "skip the batch whose gradient overflows": (_one_unseen_pixel, {"skip_nonfinite": 1}, [1, 1]),
    "skip and clip together": (_one_unseen_pixel, {"skip_nonfinite": 3, "grad_clip": 5.0}, [1, 1]),
    "clip every gradient of a healthy run": (_real_digits_clipped, {"grad_clip": 1.0}, [0]),
}


@pytest.mark.parametrize("case", list(CASES))
def test_the_recipe_trains_exactly_as_a_replay_by_hand(case, tmp_path):
    build, recipe, skips = CASES[case]
    model, images, cfg = build(**recipe)
    expected, skipped = _replay(model, images, cfg)
    assert skipped == skips
    state = Trainer(copy.deepcopy(model), images, tmp_path, cfg).fit()
    assert state == {"epoch": cfg.epochs, "diverged": None}  # the run went on to its last epoch
    saved = load_file(str(tmp_path / WEIGHTS_NAME))
    assert all(torch.allclose(saved[k], expected[k], rtol=0, atol=1e-6) for k in expected)
    history = [json.loads(line) for line in (tmp_path / HISTORY_NAME).read_text().splitlines()]
    recorded = [r.get("skipped_steps") for r in history]
    assert recorded == (skips if cfg.skip_nonfinite else [None] * cfg.epochs)  # counted only under the recipe


def test_without_skips_the_same_run_stops_at_the_batch_a_skip_would_drop(tmp_path):
    model, images, cfg = _one_unseen_pixel(grad_clip=5.0)
    state = Trainer(model, images, tmp_path, cfg).fit()
    assert state["diverged"]["reason"].startswith("gradient norm")
