"""The fitting loop: maximise the ELBO with Adam, one history line per epoch, snapshots, resume, and a clean
stop at the first step whose loss or gradient is not finite (expected for the unbounded per-pixel Gaussian on
raw pixels), keeping finite weights and saying at which epoch and step it stopped (``Trainer._epoch``).

Each history line holds the epoch's means (loss, rec, kl), its largest batch loss (``loss_max``), the validation
ELBO and decoder sigma, and a sparse step ``trace`` (every ``TRACE_EVERY`` steps and the step a run stopped at:
the batch loss and the batch's smallest decoder sigma), so a run that dies inside its first epoch still shows
how it collapsed; the trace is kept for the first ``TRACE_EPOCHS`` epochs and every epoch that met a non-finite
step. A diverged epoch's line is marked ``diverged``, with the failing step, the reason and the step
whose weights were kept (``weights_from_step``); it also records the epoch's learning rate (``lr``, from the
run's schedule, vae_core/training/schedules.py). Training runs on ``TrainConfig.device`` (base/devices.py), with
the images moved there once. Adam is torch's fused implementation (``ADAM_IMPLS``; a resume keeps the one its run
started with); a step reads what it needs from the device once (loss, gradient norm, the ELBO terms), and the
binarization / dequantization is drawn per batch: drawing the whole epoch at once was measured slower on the CPU
(a 170 MB tensor that misses the cache; docs/bench_train.md).

Each epoch is committed to the run folder as a whole, so a kill at any instant leaves one epoch (the protocol and
the checks of the folder before a run: vae_core/training/run_folder.py).
"""
from __future__ import annotations

import copy
import math
import os
import time
import warnings
from dataclasses import asdict, replace
from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm

from vae_core.base.data import fixed_test_input, to_model_input
from vae_core.base.devices import resolve_device
from vae_core.files.atomic import atomic_write, save_tensors
from vae_core.files.names import HISTORY_NAME, OPTIMIZER_NAME, SNAPSHOTS_DIR, STATE_NAME
from vae_core.files.schema import HistoryLine, TracePoint, TrainingState, from_json, to_json
from vae_core.model.likelihoods import decoder_sigma, unvalidated
from vae_core.model.vae import VAE, VAEConfig
from vae_core.training.config import ADAM_IMPLS, LEGACY_ADAM, NEW_RUN_ADAM, TrainConfig, make_adam
from vae_core.training.run_folder import CheckpointError, check_output_folder, commit_epoch, recover
from vae_core.training.schedules import SCHEDULES

TRACE_EVERY = 25  # steps between the entries of a history line's step trace (plus the step a run stopped at)
# Epochs whose step trace the history keeps, besides every epoch that met a non-finite step: a collapse shows in
# the first epochs, and a trace for every epoch of a long run grew Burda's 3,280-epoch history past 8 MB.
TRACE_EPOCHS = 50


def keeps_trace(line: HistoryLine) -> bool:
    """Whether the history keeps this epoch's step trace (``TRACE_EPOCHS``; every diverged or skipping epoch)."""
    return line.epoch <= TRACE_EPOCHS or bool(line.diverged) or bool(line.skipped_steps)


def _bounded_trace(line: HistoryLine) -> HistoryLine:
    return line if keeps_trace(line) or not line.trace else replace(line, trace=[])


def _history_text(lines: list[HistoryLine]) -> str:
    return "".join(to_json(line, indent=None, drop_none=True) + "\n" for line in lines)


def compact_history(out: str | os.PathLike) -> tuple[int, int]:
    """Drop the step traces a run's history no longer keeps (``keeps_trace``) from a run that is not training, as
    the next commit of a resumed run would: committed as an epoch is (its sha256 in training_state.json) where the
    state lists its files, else written atomically. A finished run's history is read by every server's zoo scan: one
    written before the bound (Burda's 1,093 epochs, 5.7 MB) cost the first page 0.4 s. Returns the file's size in
    bytes before and after."""
    out = Path(out)
    state = recover(out)
    if state is None:
        raise CheckpointError(f"{out} has no {STATE_NAME}: not a run folder written by train.py")
    path = out / HISTORY_NAME
    before = path.read_text()
    lines = [from_json(HistoryLine, line, HISTORY_NAME)[0] for line in before.splitlines() if line]
    if all(keeps_trace(line) or not line.trace for line in lines):
        return len(before.encode()), len(before.encode())
    after = _history_text([_bounded_trace(line) for line in lines])
    if state.files:
        commit_epoch(out, state.epoch, {"history": lambda staging: (staging / HISTORY_NAME).write_text(after)},
                     lambda files: replace(state, files={**state.files, **files}))
    else:
        atomic_write(path, lambda tmp: Path(tmp).write_text(after))
    return len(before.encode()), len(after.encode())


def _state_is_finite(model: torch.nn.Module) -> bool:
    return all(torch.isfinite(t).all() for t in model.state_dict().values() if t.is_floating_point())


def _images_tensor(images: np.ndarray | torch.Tensor) -> torch.Tensor:
    """The training images as a tensor the run only reads. An array marked read-only (what ``load_split`` returns:
    the bytes of the IDX file) is shared, not copied: copying all 60,000 images cost 12-95 ms of every run's start
    (docs/bench_train.md); a writable one is copied, so that changing it later cannot change the run's data."""
    if isinstance(images, np.ndarray) and not images.flags.writeable:
        with warnings.catch_warnings():  # torch warns that it cannot keep anyone from writing; nothing here writes
            warnings.simplefilter("ignore", UserWarning)
            return torch.from_numpy(images)
    return torch.from_numpy(np.array(images))


def _total_norm(params: list[torch.nn.Parameter]) -> torch.Tensor:
    """The 2-norm of all gradients together (0-d), non-finite when any gradient entry is (or their squares overflow);
    the norm of the per-tensor norms, as torch.nn.utils.get_total_norm computes it, without its grouping by device
    and dtype (126 against 150 us a step on the 784-512-16 MLP; only whether it is finite is used)."""
    return torch.linalg.vector_norm(torch.stack([torch.linalg.vector_norm(p.grad) for p in params
                                                 if p.grad is not None]))


class _CheckedCopy:
    """The weights and Adam state of the last step whose loss and gradient were checked finite, taken every
    ``TRACE_EVERY`` steps into buffers allocated once (a deep copy each time would cost about as much as a step),
    and the epoch's start as a deep copy (before the first step Adam may hold no state yet)."""

    def __init__(self, model: torch.nn.Module, optimizer: torch.optim.Optimizer):
        self.model, self.optimizer, self.step = model, optimizer, 0
        self.start = copy.deepcopy((model.state_dict(), optimizer.state_dict()))
        self.buffers: list[torch.Tensor] | None = None

    def _live(self) -> list[torch.Tensor]:
        state = (t for per_param in self.optimizer.state.values() for t in per_param.values())
        return [*self.model.state_dict().values(), *(t for t in state if isinstance(t, torch.Tensor))]

    @torch.no_grad()
    def take(self, step: int) -> None:
        if step == 0:
            return  # the epoch's start, already copied
        live = self._live()
        if self.buffers is None or len(self.buffers) != len(live):
            self.buffers = [t.clone() for t in live]
        else:
            for buffer, t in zip(self.buffers, live, strict=True):
                buffer.copy_(t)
        self.step = step

    @torch.no_grad()
    def restore(self) -> int:
        """Put the copy back into the model and optimizer; returns the step it was taken at."""
        if self.step == 0:
            self.model.load_state_dict(self.start[0])
            self.optimizer.load_state_dict(self.start[1])
        else:
            for buffer, t in zip(self.buffers, self._live(), strict=True):
                t.copy_(buffer)
        return self.step


class Trainer:
    """Trains one VAE into ``out``: config.json, model.safetensors, history.jsonl, snapshots/epoch-NNNN/."""

    def __init__(self, model: VAE, train_images: np.ndarray, out: str | os.PathLike, config: TrainConfig,
                 adam: str = NEW_RUN_ADAM):
        """``adam``: Adam's implementation for a new run (``ADAM_IMPLS``); a resume uses the one its state names."""
        if adam not in ADAM_IMPLS:
            raise ValueError(f"unknown Adam implementation {adam!r}; choose one of: {', '.join(ADAM_IMPLS)}")
        self.model, self.cfg, self.out = model, config, Path(out)
        self.device = resolve_device(config.device)
        model.to(self.device)
        if config.max_train_images:
            train_images = train_images[: config.max_train_images + config.val_size]
        images = _images_tensor(train_images)  # (N, 28, 28) uint8
        if len(images) <= config.val_size:
            raise ValueError(f"need more than val_size={config.val_size} training images, got {len(images)}")
        # moved to the device once: every batch is indexed, binarized or dequantized there
        self.train_images = images[: -config.val_size].to(self.device)  # (N - V, 28, 28) uint8
        val_images = images[-config.val_size:]
        self.val_x = fixed_test_input(val_images, model.data_kind, seed=1).to(self.device)  # (V, 1, 28, 28)
        self.probe_x = self.val_x[:256]  # the fixed batch whose decoder sigma is logged
        self.adam_impl = adam
        self.optimizer = make_adam(model.parameters(), config, self.adam_impl)
        self.start_epoch = 1
        self.history: list[HistoryLine] = []
        self.stopped: dict | None = None  # the divergence a resumed run had already stopped at
        self.restarted_optimizer = False  # a resume began with Adam afresh: said in the next history line

    # ----------------------------------------------------------------------------------------- resume
    def resume(self, restart_optimizer: bool = False) -> None:
        """Continue from the committed epoch in ``out``: weights, optimizer state, history and RNG state. With
        ``restart_optimizer``, Adam starts afresh (zero moments; its bias correction makes the first updates about
        lr in size) and the next epoch's history line says so."""
        from safetensors.torch import load_file

        check_output_folder(self.out, self.model.config, self.cfg, resume=True, restart_optimizer=restart_optimizer)
        state = recover(self.out)
        loaded = VAE.from_pretrained(self.out)
        self.model.load_state_dict(loaded.state_dict())
        self.adam_impl = state.adam or LEGACY_ADAM  # checked by check_output_folder
        self.optimizer = make_adam(self.model.parameters(), self.cfg, self.adam_impl)
        self.restarted_optimizer = restart_optimizer
        if not restart_optimizer:
            opt = load_file(str(self.out / OPTIMIZER_NAME))
            self.optimizer.load_state_dict(_unflatten_optimizer(opt, self.optimizer))
        lines = (self.out / HISTORY_NAME).read_text().splitlines()
        # a history written before TRACE_EPOCHS is compacted by the next epoch's commit
        self.history = [_bounded_trace(from_json(HistoryLine, line, HISTORY_NAME)[0]) for line in lines if line]
        self.start_epoch = state.epoch + 1
        self.stopped = state.diverged
        torch.set_rng_state(torch.tensor(state.torch_rng, dtype=torch.uint8))
        if state.device == str(self.device) and state.device_rng is not None:
            _set_device_rng_state(self.device, torch.tensor(state.device_rng, dtype=torch.uint8))

    # ----------------------------------------------------------------------------------------- loop
    def fit(self) -> dict:
        """Run the remaining epochs. Returns the final training state (epoch reached, divergence if any)."""
        cfg = self.cfg
        if self.start_epoch == 1:
            torch.manual_seed(cfg.seed)
            self.out.mkdir(parents=True, exist_ok=True)
            recover(self.out)  # a new run: drop what an earlier, uncommitted first save left behind
        if self.stopped:
            tqdm.write(f"{self.out} stopped at a non-finite loss in epoch {self.stopped['epoch']}; nothing to resume")
            return {"epoch": self.history[-1].epoch, "diverged": self.stopped}
        if self.start_epoch > cfg.epochs:
            tqdm.write(f"{self.out} is already trained to epoch {self.start_epoch - 1}; nothing to do")
        diverged = None
        for epoch in range(self.start_epoch, cfg.epochs + 1):
            record, diverged = self._epoch(epoch)
            line = HistoryLine(**{**record, "trace": [TracePoint(**p) for p in record["trace"]]})
            self.history.append(_bounded_trace(line))
            self._save(epoch, diverged)
            tqdm.write(_format_record(record))
            if diverged:
                tqdm.write(f"stopped: non-finite loss in epoch {epoch} at step {diverged['step']} "
                           f"({diverged['reason']}); kept the weights of step {diverged['weights_from_step']}")
                break
        return {"epoch": self.history[-1].epoch if self.history else 0, "diverged": diverged}

    def _kl_weight(self, epoch: int, start: int) -> float:
        """The KL term's weight for the batch starting at image ``start`` of ``epoch`` (TrainConfig.kl_warmup_epochs):
        the share of the warm-up done before it, 1.0 after the warm-up."""
        warmup = self.cfg.kl_warmup_epochs
        if epoch > warmup:
            return 1.0
        done = min(start + self.cfg.batch_size, len(self.train_images)) / len(self.train_images)  # of this epoch
        return (epoch - 1 + done) / warmup

    def _epoch(self, epoch: int) -> tuple[dict, dict | None]:
        """One pass over the training images; returns its history line and the divergence that stopped it (or None).

        Before every update the batch loss and the total gradient norm (one fused norm over all gradients) must be
        finite, so no update ever makes the weights NaN. Two failures, two states kept:
        - a finite loss whose gradient is not (a per-pixel sigma so small that the gradient overflows): the update
          is refused and the weights and optimizer state from just before it are kept;
        - a non-finite loss: the weights themselves give NaN (a sigma that underflowed to 0), so the last checked
          copy is kept (``_CheckedCopy``: every ``TRACE_EVERY`` steps, of weights whose loss and gradient were
          finite; a copy every step would cost 5-15 % of a step).
        ``diverged`` records the step that failed (``step``, counted from 0 in the epoch) and the step whose weights
        are kept (``weights_from_step``: that many updates of the epoch are in them).
        """
        cfg, model = self.cfg, self.model
        model.train()
        t0, cpu0 = time.perf_counter(), time.process_time()
        gen = torch.Generator(self.device).manual_seed(cfg.seed * 100_003 + epoch)  # resume == uninterrupted
        lr = SCHEDULES[cfg.lr_schedule].lr(cfg.lr, epoch)
        for group in self.optimizer.param_groups:
            group["lr"] = lr
        checked = _CheckedCopy(model, self.optimizer)
        order = torch.randperm(len(self.train_images), generator=gen, device=self.device)
        sums, steps, loss_max, trace, diverged, skipped = np.zeros(3), 0, -math.inf, [], None, 0
        params = [p for p in model.parameters() if p.requires_grad]
        # The trace reads the decoder's output of the training forward itself (no second forward pass).
        decoder_out: list[torch.Tensor] = []
        hook = model.decoder.register_forward_hook(lambda module, args, out: decoder_out.insert(0, out))
        bar = tqdm(range(0, len(self.train_images), cfg.batch_size), desc=f"epoch {epoch}/{cfg.epochs}",
                   disable=not cfg.progress, leave=False, mininterval=0.5)
        try:
            with unvalidated():
                for i in bar:
                    # index_select copies whole rows (the same bytes as indexing, several times faster)
                    batch = self.train_images.index_select(0, order[i:i + cfg.batch_size])  # (B, 28, 28) uint8
                    x = to_model_input(batch, model.data_kind, gen)  # (B, 1, 28, 28)
                    decoder_out.clear()
                    rec, kl = model.elbo_terms(x)  # (B,) each
                    loss = (kl - rec).mean()  # the negative ELBO: what the history records and the checks read
                    kl_weight = self._kl_weight(epoch, i)
                    objective = loss if kl_weight == 1.0 else (kl_weight * kl - rec).mean()
                    self.optimizer.zero_grad(set_to_none=True)
                    objective.backward()  # also for a non-finite loss: the check below then refuses the update
                    grad_norm = _total_norm(params)
                    # all the step needs on the host in one read: a GPU waits once a step, not four times
                    loss_value, norm_value, rec_value, kl_value = torch.stack(
                        [loss.detach(), grad_norm, rec.detach().mean(), kl.detach().mean()]).tolist()
                    reason = None
                    if not math.isfinite(loss_value):
                        reason = f"loss {loss_value}"
                    else:
                        loss_max = max(loss_max, loss_value)
                        if not math.isfinite(norm_value):
                            reason = f"gradient norm {norm_value} at a finite loss {loss_value:.6g}"
                    if steps % TRACE_EVERY == 0 or reason:
                        trace.append(self._trace_point(steps, loss_value, decoder_out[0], x))
                    if reason and skipped < cfg.skip_nonfinite:  # the recipe drops this batch and goes on
                        skipped += 1
                        continue
                    if reason:  # the update is not applied
                        diverged = {"epoch": epoch, "step": steps, "reason": reason, "weights_from_step": steps}
                        break
                    if steps % TRACE_EVERY == 0:
                        checked.take(steps)
                    if cfg.grad_clip is not None:
                        torch.nn.utils.clip_grads_with_norm_(params, cfg.grad_clip, grad_norm)
                    self.optimizer.step()
                    sums += (loss_value, rec_value, kl_value)
                    steps += 1
                    if steps % 50 == 0:
                        bar.set_postfix(loss=f"{sums[0] / steps:.1f}")
        finally:
            hook.remove()
            bar.close()
        if (diverged and diverged["reason"].startswith("loss")) or not _state_is_finite(model):
            # These weights give a non-finite loss (or, never seen: Adam overflowed on finite gradients): back to
            # the last copy whose loss and gradient were checked finite.
            diverged = diverged or {"epoch": epoch, "step": steps, "reason": "non-finite weights after an update"}
            diverged["weights_from_step"] = checked.restore()
        record = {"epoch": epoch, "lr": lr, "loss": sums[0] / max(steps, 1), "rec": sums[1] / max(steps, 1),
                  "kl": sums[2] / max(steps, 1), "loss_max": loss_max if math.isfinite(loss_max) else None,
                  "steps": steps, **self._validate(), "seconds": time.perf_counter() - t0,
                  "cpu_seconds": time.process_time() - cpu0, "trace": trace}
        if cfg.skip_nonfinite:
            record["skipped_steps"] = skipped
        if epoch <= cfg.kl_warmup_epochs:
            record["kl_weight"] = epoch / cfg.kl_warmup_epochs  # its last batch's weight
        if self.restarted_optimizer:
            record["optimizer_restarted"], self.restarted_optimizer = True, False
        if diverged:
            record.update(diverged=True, diverged_step=diverged["step"], diverged_reason=diverged["reason"],
                          weights_from_step=diverged["weights_from_step"])
        return record, diverged

    @torch.no_grad()
    def _trace_point(self, step: int, loss: float, decoder_out: torch.Tensor, x: torch.Tensor) -> dict:
        """One entry of the step trace: the batch loss and, where the likelihood has a sigma, the smallest decoder
        sigma of this batch's training forward pass (at the sampled z)."""
        point = {"step": step, "loss": loss}
        sigma = decoder_sigma(self.model.likelihood(decoder_out.detach(), x))
        if sigma is not None:
            point["smallest_sigma"] = float(sigma.min())
        return point

    @torch.no_grad()
    @unvalidated()
    def _validate(self) -> dict:
        model = self.model.eval()
        torch_state, device_state = torch.get_rng_state(), _device_rng_state(self.device)
        torch.manual_seed(0)
        elbos = [model.elbo(b) for b in self.val_x.split(1000)]
        torch.set_rng_state(torch_state)
        if device_state is not None:
            _set_device_rng_state(self.device, device_state)
        px = model.decode(model.encode(self.probe_x).mean)
        sigma = decoder_sigma(px)
        record = {"val_elbo": float(torch.cat(elbos).mean())}
        if sigma is not None:
            record.update(sigma_mean=float(sigma.mean()), smallest_sigma=float(sigma.min()))
        return record

    def _save(self, epoch: int, diverged: dict | None) -> None:
        """Commit the epoch as a whole (run_folder.commit_epoch): weights, optimizer, history and a snapshot, then
        the state that lists their sha256."""
        opt = _flatten_optimizer(self.optimizer)
        lines = _history_text(self.history)
        writers = {"model": lambda staging: self.model.save_pretrained(staging),
                   "optimizer": lambda staging: save_tensors(opt, staging / OPTIMIZER_NAME),
                   "history": lambda staging: (staging / HISTORY_NAME).write_text(lines)}
        if epoch in self.cfg.snapshots:
            writers["snapshot"] = lambda staging: self.model.save_pretrained(
                staging / SNAPSHOTS_DIR / f"epoch-{epoch:04d}", dtype=getattr(torch, self.cfg.snapshot_dtype))

        def state(files: dict[str, str]) -> TrainingState:
            device_rng = _device_rng_state(self.device)
            return TrainingState(epoch=epoch, files=files, train_config=asdict(self.cfg), diverged=diverged,
                                 adam=self.adam_impl, torch_rng=torch.get_rng_state().tolist(),
                                 device=str(self.device),
                                 device_rng=None if device_rng is None else device_rng.tolist())

        commit_epoch(self.out, epoch, writers, state)


def _device_rng_state(device: torch.device) -> torch.Tensor | None:
    """The global random state of a GPU (None on the CPU, whose state is torch.get_rng_state())."""
    if device.type == "cuda":
        return torch.cuda.get_rng_state(device)
    if device.type == "mps":
        return torch.mps.get_rng_state()
    return None


def _set_device_rng_state(device: torch.device, state: torch.Tensor) -> None:
    if device.type == "cuda":
        torch.cuda.set_rng_state(state, device)
    elif device.type == "mps":
        torch.mps.set_rng_state(state)


def _format_record(r: dict) -> str:
    sigma = f" sigma mean {r['sigma_mean']:.4f} min {r['smallest_sigma']:.2e}" if "sigma_mean" in r else ""
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
          resume: bool = False, restart_optimizer: bool = False) -> tuple[VAE, dict]:
    """Build (or resume) a model and fit it; returns the model and the final training state. ``out`` is checked
    first (``check_output_folder``): a resume needs a committed epoch there, a new run an empty or new folder.
    ``restart_optimizer``: resume with Adam started afresh (Trainer.resume)."""
    check_output_folder(out, model_config, train_config, resume, restart_optimizer)
    torch.manual_seed(train_config.seed)
    model = VAE(model_config)
    trainer = Trainer(model, train_images, out, train_config)
    if resume:
        trainer.resume(restart_optimizer)
    # Denormal floats (below 1.2e-38) take x86 CPUs many times longer per operation: the residual conv run with
    # one shared sigma slowed from 0.2 to 1.5 s a step on them. Flushed to zero, they change nothing a float32
    # network can tell from 0. Set for the fit only (torch's default, off, afterwards).
    torch.set_flush_denormal(True)
    try:
        state = trainer.fit()
    finally:
        torch.set_flush_denormal(False)
    return model, state
