"""The fitting loop: maximise the ELBO with Adam, one history line per epoch, snapshots, resume, and a clean
stop on a non-finite loss (expected for the unbounded per-pixel Gaussian) that keeps the last finite weights.
"""
from __future__ import annotations

import copy
import json
import os
import time
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch.distributions import Distribution
from tqdm.auto import tqdm

from .data import fixed_test_input, to_model_input
from .likelihoods import decoder_sigma
from .model import VAE, VAEConfig, atomic_write, load_config

HISTORY_NAME = "history.jsonl"
STATE_NAME = "training_state.json"
OPTIMIZER_NAME = "optimizer.safetensors"
SNAPSHOT_DIR = "snapshots"


@dataclass
class TrainConfig:
    epochs: int = 20                  # passes over the training split
    batch_size: int = 128
    lr: float = 1e-3                  # Adam learning rate
    seed: int = 0                     # seeds init, batching, binarization and dequantization
    val_size: int = 5000              # last images of the training split held out for the validation ELBO
    snapshots: list[int] = field(default_factory=list)  # epochs whose weights are kept in snapshots/
    snapshot_dtype: str = "float32"   # float16 halves the size of snapshot files
    max_train_images: int | None = None  # use only the first N training images (quick runs, tests)
    progress: bool = True


class NonFiniteLoss(RuntimeError):
    pass


def _state_is_finite(model: torch.nn.Module) -> bool:
    return all(torch.isfinite(t).all() for t in model.state_dict().values() if t.is_floating_point())


@contextmanager
def _invalid_parameters_give_nan():
    """Switch off torch.distributions argument checks while fitting: a decoder that emits NaN, or a per-pixel
    sigma that underflowed to 0, then gives a non-finite loss (handled as divergence) instead of a ValueError."""
    previous = Distribution._validate_args
    Distribution.set_default_validate_args(False)
    try:
        yield
    finally:
        Distribution.set_default_validate_args(previous)


def check_same_model(out: str | os.PathLike, config: VAEConfig) -> None:
    """A run resumes only as the model it was started as: a folder trained with another config is an error that
    says what differs, never a silent mix of the two."""
    saved = load_config(out)
    if saved != config:
        diff = "; ".join(f"{f}: {getattr(saved, f)!r} there, {getattr(config, f)!r} asked for"
                         for f in asdict(config) if getattr(saved, f) != getattr(config, f))
        raise ValueError(f"{out} holds a run of another model ({diff}); delete the folder or choose another "
                         f"output folder to train this one")


class Trainer:
    """Trains one VAE into ``out``: config.json, model.safetensors, history.jsonl, snapshots/epoch-NNNN/."""

    def __init__(self, model: VAE, train_images: np.ndarray, out: str | os.PathLike, config: TrainConfig):
        self.model, self.cfg, self.out = model, config, Path(out)
        images = torch.from_numpy(np.array(train_images))  # (N, 28, 28) uint8
        if config.max_train_images:
            images = images[: config.max_train_images + config.val_size]
        if config.val_size < 1:  # images[-0:] would make everything validation and nothing training
            raise ValueError(f"val_size must be at least 1, got {config.val_size}")
        if len(images) <= config.val_size:
            raise ValueError(f"need more than val_size={config.val_size} training images, got {len(images)}")
        self.train_images, val_images = images[: -config.val_size], images[-config.val_size:]
        kind = model.data_kind
        self.val_x = fixed_test_input(val_images, kind, seed=1)  # (V, 1, 28, 28), fixed noise
        self.probe_x = self.val_x[:256]  # the fixed batch whose decoder sigma is logged
        self.optimizer = torch.optim.Adam(model.parameters(), lr=config.lr)
        self.start_epoch = 1
        self.history: list[dict] = []

    # ----------------------------------------------------------------------------------------- resume
    def resume(self) -> None:
        """Continue from the weights, optimizer state and history in ``out`` (written by an earlier run)."""
        from safetensors.torch import load_file

        check_same_model(self.out, self.model.config)
        state = json.loads((self.out / STATE_NAME).read_text())
        loaded = VAE.from_pretrained(self.out)
        self.model.load_state_dict(loaded.state_dict())
        opt = load_file(str(self.out / OPTIMIZER_NAME))
        self.optimizer.load_state_dict(_unflatten_optimizer(opt, self.optimizer))
        self.history = [json.loads(line) for line in (self.out / HISTORY_NAME).read_text().splitlines() if line]
        self.start_epoch = state["epoch"] + 1
        torch.set_rng_state(torch.tensor(state["torch_rng"], dtype=torch.uint8))

    # ----------------------------------------------------------------------------------------- loop
    def fit(self) -> dict:
        """Run the remaining epochs. Returns the final training state (epoch reached, divergence if any)."""
        cfg, model = self.cfg, self.model
        if self.start_epoch == 1:
            torch.manual_seed(cfg.seed)
        self.out.mkdir(parents=True, exist_ok=True)
        diverged = None
        n = len(self.train_images)
        for epoch in range(self.start_epoch, cfg.epochs + 1):
            model.train()
            t0 = time.perf_counter()
            gen = torch.Generator().manual_seed(cfg.seed * 100_003 + epoch)  # per epoch: resume == uninterrupted
            good_state = copy.deepcopy(model.state_dict())
            order = torch.randperm(n, generator=gen)
            sums = np.zeros(3)
            steps = 0
            bar = tqdm(range(0, n, cfg.batch_size), desc=f"epoch {epoch}/{cfg.epochs}", disable=not cfg.progress,
                       leave=False, mininterval=0.5)
            good_optimizer = copy.deepcopy(self.optimizer.state_dict())
            try:
                with _invalid_parameters_give_nan():
                    for i in bar:
                        x = to_model_input(self.train_images[order[i:i + cfg.batch_size]], model.data_kind, gen)
                        rec, kl = model.elbo_terms(x)
                        loss = (kl - rec).mean()
                        if not torch.isfinite(loss):
                            raise NonFiniteLoss(f"loss {loss.item()} at step {steps}")
                        self.optimizer.zero_grad(set_to_none=True)
                        loss.backward()
                        self.optimizer.step()
                        sums += (loss.item(), rec.mean().item(), kl.mean().item())
                        steps += 1
                        if steps % 50 == 0:
                            bar.set_postfix(loss=f"{sums[0] / steps:.1f}")
                if not _state_is_finite(model):  # a non-finite gradient in the epoch's last step
                    raise NonFiniteLoss(f"non-finite weights after step {steps}")
            except NonFiniteLoss as e:
                # The current weights give a non-finite likelihood on training data (or are non-finite): go back
                # to the epoch's start, the last weights every step of which had a finite loss.
                model.load_state_dict(good_state)
                self.optimizer.load_state_dict(good_optimizer)
                diverged = {"epoch": epoch, "step": steps, "reason": str(e)}
            finally:
                bar.close()
            record = {"epoch": epoch, "loss": sums[0] / max(steps, 1), "rec": sums[1] / max(steps, 1),
                      "kl": sums[2] / max(steps, 1), "steps": steps, **self._validate(),
                      "seconds": time.perf_counter() - t0}
            if diverged:
                record["diverged"] = True
            self.history.append(record)
            self._save(epoch, diverged)
            tqdm.write(_format_record(record))
            if diverged:
                tqdm.write(f"stopped: non-finite loss in epoch {epoch} ({diverged['reason']}); "
                           f"kept the last finite weights")
                break
        return {"epoch": self.history[-1]["epoch"] if self.history else 0, "diverged": diverged}

    @torch.no_grad()
    def _validate(self) -> dict:
        model = self.model.eval()
        torch_state = torch.get_rng_state()
        torch.manual_seed(0)
        elbos = [model.elbo(b) for b in self.val_x.split(1000)]
        torch.set_rng_state(torch_state)
        px = model.decode(model.encode(self.probe_x).mean)
        sigma = decoder_sigma(px)
        record = {"val_elbo": float(torch.cat(elbos).mean())}
        if sigma is not None:
            record.update(sigma_mean=float(sigma.mean()), sigma_min=float(sigma.min()))
        return record

    def _save(self, epoch: int, diverged: dict | None) -> None:
        """Weights, optimizer, history and state, each written atomically; the state file is written last."""
        self.model.save_pretrained(self.out)
        if epoch in self.cfg.snapshots:
            self.model.save_pretrained(self.out / SNAPSHOT_DIR / f"epoch-{epoch:04d}",
                                       dtype=getattr(torch, self.cfg.snapshot_dtype))
        from safetensors.torch import save_file

        opt = _flatten_optimizer(self.optimizer)
        atomic_write(self.out / OPTIMIZER_NAME, lambda tmp: save_file(opt, tmp))
        lines = "".join(json.dumps(r) + "\n" for r in self.history)
        atomic_write(self.out / HISTORY_NAME, lambda tmp: Path(tmp).write_text(lines))
        state = {"epoch": epoch, "train_config": asdict(self.cfg), "diverged": diverged,
                 "torch_rng": torch.get_rng_state().tolist()}
        atomic_write(self.out / STATE_NAME, lambda tmp: Path(tmp).write_text(json.dumps(state)))


def _format_record(r: dict) -> str:
    sigma = f" sigma mean {r['sigma_mean']:.4f} min {r['sigma_min']:.2e}" if "sigma_mean" in r else ""
    return (f"epoch {r['epoch']:3d}  loss {r['loss']:9.2f}  rec {r['rec']:9.2f}  kl {r['kl']:7.2f}  "
            f"val elbo {r['val_elbo']:9.2f}{sigma}  {r['seconds']:.1f}s")


def _flatten_optimizer(opt: torch.optim.Optimizer) -> dict[str, torch.Tensor]:
    """Adam's per-parameter tensors as a flat safetensors dict (no pickling)."""
    flat = {}
    for idx, st in opt.state_dict()["state"].items():
        for name, t in st.items():
            flat[f"{idx}.{name}"] = torch.as_tensor(t).detach().cpu().contiguous()
    return flat


def _unflatten_optimizer(flat: dict[str, torch.Tensor], opt: torch.optim.Optimizer) -> dict:
    sd = opt.state_dict()
    state: dict[int, dict] = {}
    for key, t in flat.items():
        idx, name = key.split(".", 1)
        state.setdefault(int(idx), {})[name] = t
    sd["state"] = state
    return sd


def train(model_config: VAEConfig, train_config: TrainConfig, train_images: np.ndarray, out: str | os.PathLike,
          resume: bool = False) -> tuple[VAE, dict]:
    """Build (or resume) a model and fit it; returns the model and the final training state."""
    torch.manual_seed(train_config.seed)
    model = VAE(model_config)
    trainer = Trainer(model, train_images, out, train_config)
    if resume and (Path(out) / STATE_NAME).is_file():
        trainer.resume()
    state = trainer.fit()
    return model, state
