"""The Trainer's epoch cut into timed parts, for scripts/bench_train_parts.py: the same calls in the same order as
``Trainer._epoch`` (on a Trainer built as train.py builds it), with a clock read between the parts. It lives beside
the loop it copies, and tests/test_training_data_path.py checks that it trains the same numbers as ``Trainer.fit``.
"""
from __future__ import annotations

import tempfile
import time
from collections import defaultdict

import torch

from vae_core.base.data import to_model_input
from vae_core.model.likelihoods import unvalidated
from vae_core.model.vae import VAE, VAEConfig
from vae_core.training.config import TrainConfig
from vae_core.training.loop import TRACE_EVERY, Trainer, _CheckedCopy, _total_norm

HIDDEN, LATENT, BATCH, LR = 512, 16, 128, 1e-3  # scripts/bench_pythae.py's network and settings


class PartClock:
    """Accumulates (wall, CPU) seconds per part name between consecutive ``lap`` calls."""

    def __init__(self):
        self.wall: dict[str, float] = defaultdict(float)
        self.cpu: dict[str, float] = defaultdict(float)
        self._t, self._c = time.perf_counter(), time.process_time()

    def lap(self, part: str) -> None:
        t, c = time.perf_counter(), time.process_time()
        self.wall[part] += t - self._t
        self.cpu[part] += c - self._c
        self._t, self._c = t, c


def trainer_parts(images, n: int, val_size: int, seed: int, clock: PartClock) -> VAE:
    """One epoch of a Trainer on images[:n] (+ val_size held out), timed part by part into ``clock``; returns the
    trained model (the weights ``Trainer.fit`` ends with: tests/test_training_data_path.py)."""
    torch.manual_seed(seed)
    cfg = TrainConfig(epochs=1, batch_size=BATCH, lr=LR, seed=seed, val_size=val_size, max_train_images=n,
                      progress=False)
    with tempfile.TemporaryDirectory() as out:
        model = VAE(VAEConfig(decoder="bernoulli", hidden=[HIDDEN], latent_dim=LATENT))
        trainer = Trainer(model, images[: n + val_size], out, cfg)
        clock.lap("build (model, data, validation input)")
        torch.manual_seed(cfg.seed)  # as Trainer.fit does before a first epoch
        model.train()
        gen = torch.Generator().manual_seed(cfg.seed * 100_003 + 1)
        checked, opt = _CheckedCopy(model, trainer.optimizer), trainer.optimizer
        order = torch.randperm(len(trainer.train_images), generator=gen)
        params = [p for p in model.parameters() if p.requires_grad]
        decoder_out: list[torch.Tensor] = []
        hook = model.decoder.register_forward_hook(lambda module, args, out: decoder_out.insert(0, out))
        clock.lap("epoch start (copy of the state, order)")
        with unvalidated():
            for step, i in enumerate(range(0, len(trainer.train_images), BATCH)):
                batch = trainer.train_images.index_select(0, order[i:i + BATCH])
                x = to_model_input(batch, model.data_kind, gen)
                clock.lap("batch: gather + binarize")
                decoder_out.clear()
                rec, kl = model.elbo_terms(x)
                loss = (kl - rec).mean()
                clock.lap("forward (ELBO)")
                opt.zero_grad(set_to_none=True)
                loss.backward()
                clock.lap("backward")
                grad_norm = _total_norm(params)
                clock.lap("gradient check (total norm)")
                loss_value, _, _, _ = torch.stack(
                    [loss.detach(), grad_norm, rec.detach().mean(), kl.detach().mean()]).tolist()
                clock.lap("one host read (stack + tolist)")
                if step % TRACE_EVERY == 0:
                    trainer._trace_point(step, loss_value, decoder_out[0], x)
                    checked.take(step)
                clock.lap("trace + checked copy")
                opt.step()
                clock.lap("Adam (fused)")
        hook.remove()
        trainer._validate()
        clock.lap("validation")
        trainer._save(1, None)
        clock.lap("atomic commit")
    clock.lap("cleanup")
    return model
