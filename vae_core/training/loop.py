"""The fitting loop: maximise the ELBO with Adam, one history line per epoch, snapshots, resume, and a clean
stop at the first step whose loss or gradient is not finite (expected for the unbounded per-pixel Gaussian on
raw pixels), keeping finite weights and saying at which epoch and step it stopped (``Trainer._epoch``).

Each history line holds the epoch's means (loss, rec, kl), its largest batch loss (``loss_max``), the validation
ELBO and decoder sigma, and a sparse step ``trace`` (every ``TRACE_EVERY`` steps and the step a run stopped at:
the batch loss and the batch's smallest decoder sigma), so a run that dies inside its first epoch still shows
how it collapsed. A diverged epoch's line is marked ``diverged``, with the failing step, the reason and the step
whose weights were kept (``weights_from_step``); it also records the epoch's learning rate (``lr``, from the
run's schedule, vae_core/training/schedules.py). Training runs on ``TrainConfig.device`` (base/devices.py), with
the images moved there once. Adam is torch's fused implementation (``ADAM_IMPLS``; a resume keeps the one its run
started with); a step reads what it needs from the device once (loss, gradient norm, the ELBO terms), and the
binarization / dequantization is drawn per batch: drawing the whole epoch at once was measured slower on the CPU
(a 170 MB tensor that misses the cache; docs/bench_train.md).

Checkpoints are committed one epoch at a time, as a whole. An epoch writes several files (weights, config,
optimizer state, history, a snapshot); renaming each into place atomically is not enough, since a SIGKILL
between two renames leaves one epoch's weights beside another's optimizer and history, and a resumed run would
silently differ from one that never stopped. So a save is a small write-ahead commit:

1. stage: every file of the epoch is written under ``out/.staging/`` (the same relative paths) and fsynced;
2. commit: ``training_state.json`` -- the epoch, the RNG state, and the sha256 of every staged file -- is
   staged too, then renamed over the old one. That one rename is the commit point: before it the folder's
   epoch is N, after it N + 1;
3. roll forward: the staged files are renamed into place and the staging folder removed.

``recover`` (run before a resume, a fresh start and the zoo's "is it done" check) finishes step 3 for a
committed epoch, discards an uncommitted staging folder, and checks that every file the state lists holds the
recorded sha256: a mismatch is an error naming the file, never a silent mix of epochs. Every file is only ever
replaced by a rename, so readers that do not recover (the app, ``VAE.from_pretrained``) always find complete
files; only after a kill inside step 3 may they be one epoch behind the state until the next recover.
Why not one folder per epoch behind a link: every reader (the app, the zoo, the Hub upload) expects the files
at the top of the checkpoint folder, and a link is not portable to the Hub.

Test hook: the environment variable ``VAE_ZOO_CRASH_AT`` (unset: no effect) names one crash point -- e.g.
``2:stage:history``, ``2:commit``, ``2:roll:model.safetensors``, ``2:clean`` (epoch 2's save), or
``recover:roll:<file>``, ``recover:clean`` -- at which the process SIGKILLs itself (tests/test_resume_kills.py).
"""
from __future__ import annotations

import copy
import hashlib
import math
import os
import shutil
import signal
import tempfile
import time
import warnings
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm

from vae_core.base.data import fixed_test_input, to_model_input
from vae_core.base.devices import check_device, resolve_device
from vae_core.base.limits import check_setting
from vae_core.files.schema import (
    CARD_NAME,
    EVAL_NAME,
    HISTORY_NAME,
    STAGING_DIR,
    STATE_NAME,
    HistoryLine,
    SchemaError,
    TracePoint,
    TrainingState,
    from_json,
    to_json,
)
from vae_core.model.likelihoods import decoder_sigma, unvalidated
from vae_core.model.vae import CONFIG_NAME, VAE, WEIGHTS_NAME, VAEConfig, atomic_temp_of, load_config, save_tensors
from vae_core.training.schedules import SCHEDULES, check_schedule

OPTIMIZER_NAME = "optimizer.safetensors"
SNAPSHOT_DIR = "snapshots"
# The label of a folder trained by `train.py --train-on-sample`: its presence is how a resume knows which data the
# run saw.
SAMPLE_MARKER = "TRAINED_ON_SAMPLE.txt"
WRITE_PROBE_PREFIX = ".write-probe-"  # _check_writable's probe folder (removed at once; a kill can leave one)
# Every name a run, and the zoo's evaluation of it, writes at the top of its folder: a folder holding anything
# else is not a run's own, and training there would mix a run's files with someone else's (check_output_folder).
RUN_FILES = frozenset({CONFIG_NAME, WEIGHTS_NAME, HISTORY_NAME, STATE_NAME, OPTIMIZER_NAME, SNAPSHOT_DIR,
                       STAGING_DIR, SAMPLE_MARKER, EVAL_NAME, CARD_NAME})
SNAPSHOT_DTYPES = ("float32", "float16")
CRASH_ENV = "VAE_ZOO_CRASH_AT"
STAGE_STEPS = ("model", "optimizer", "history", "snapshot")  # what a save stages, in order (crash points)
# Settings a resumed run must share with the run it continues: they fix the data and its order (the rest, such
# as lr or epochs, may change on purpose).
SAME_DATA_FIELDS = ("seed", "batch_size", "val_size", "max_train_images")
# ... and the optimizer settings a resumed run must keep (with a schedule other than constant, ``lr`` too: it is
# the schedule's base rate); a value missing from an older state is the default it was trained with.
SAME_OPTIMIZER_DEFAULTS = {"lr_schedule": "constant", "adam_eps": 1e-8}
TRACE_EVERY = 25  # steps between the entries of a history line's step trace (plus the step a run stopped at)
# Adam's implementation, kept in the training state so that a resume repeats the run's own (the two add in another
# order, so they differ in the last bits): "fused" updates every parameter in one kernel, about 3x faster than
# torch's default on the CPU (a Python loop over the tensors there; docs/bench_train.md) and the choice of every
# new run; "default" is torch's own choice, what a state written before the field was trained with.
ADAM_IMPLS = {"fused": {"fused": True}, "default": {}}
NEW_RUN_ADAM, LEGACY_ADAM = "fused", "default"


@dataclass
class TrainConfig:
    epochs: int = 20                  # passes over the training split
    batch_size: int = 128
    lr: float = 1e-3                  # Adam learning rate (the schedule's base rate)
    seed: int = 0                     # seeds init, batching, binarization and dequantization
    val_size: int = 5000              # last images of the training split held out for the validation ELBO
    snapshots: list[int] = field(default_factory=list)  # epochs whose weights are kept in snapshots/
    snapshot_dtype: str = "float32"   # float16 halves the size of snapshot files
    max_train_images: int | None = None  # use only the first N training images (quick runs, tests)
    lr_schedule: str = "constant"     # the learning rate of each epoch (training/schedules.py): constant | burda
    adam_eps: float = 1e-8            # Adam's epsilon (Burda et al. 2016 use 1e-4)
    # The recipe that keeps an unbounded likelihood's run alive without changing its model (issue 22): neither
    # touches the decoder's sigma, unlike a floor (the gaussian-pixel-floor decoder), which changes the density.
    grad_clip: float | None = None    # rescale the total gradient norm to at most this (Pascanu et al. 2013)
    skip_nonfinite: int = 0           # steps per epoch whose loss or gradient is not finite that are skipped (batch
                                      # dropped, no update) before the run stops; 0: stop at the first
    # auto | cpu | cuda | mps (base/devices.py). The CPU by default: a GPU draws other random numbers and sums in
    # another order, so the zoo's runs (and a resume) reproduce bit for bit only on the device they were trained on
    device: str = "cpu"
    progress: bool = True

    def __post_init__(self):
        for name in ("epochs", "batch_size", "lr", "seed", "val_size", "adam_eps"):
            setattr(self, name, check_setting(name, getattr(self, name)))
        self.skip_nonfinite = check_setting("skip_nonfinite", self.skip_nonfinite)
        if self.grad_clip is not None:
            self.grad_clip = check_setting("grad_clip", self.grad_clip)
        check_schedule(self.lr_schedule, self.epochs)
        check_device(self.device)
        if self.max_train_images is not None:
            self.max_train_images = check_setting("max_train_images", self.max_train_images)
        self.snapshots = check_snapshots(self.snapshots, self.epochs)
        if self.snapshot_dtype not in SNAPSHOT_DTYPES:
            raise ValueError(f"snapshot_dtype must be one of {', '.join(SNAPSHOT_DTYPES)}, "
                             f"got {self.snapshot_dtype!r}")


def check_snapshots(snapshots, epochs: int, label: str = "snapshots") -> list[int]:
    """Snapshot epochs, each an integer from 1 to ``epochs``; sorted, without repeats."""
    bad = [e for e in snapshots if isinstance(e, bool) or not isinstance(e, int) or not 1 <= e <= epochs]
    if bad:
        raise ValueError(f"{label} must be epochs from 1 to {epochs} (the number of epochs), got {bad[0]!r}")
    return sorted(set(snapshots))


def make_adam(params, config: TrainConfig, impl: str = NEW_RUN_ADAM) -> torch.optim.Adam:
    """The run's optimizer: Adam with the config's learning rate and epsilon, in implementation ``impl``."""
    return torch.optim.Adam(params, lr=config.lr, eps=config.adam_eps, **ADAM_IMPLS[impl])


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


class CheckpointError(ValueError):
    """A checkpoint folder whose files do not add up to one committed epoch. The message names the file."""


def check_same_model(out: str | os.PathLike, config: VAEConfig) -> None:
    """A run resumes only as the model it was started as: a folder trained with another config is an error that
    says what differs, never a silent mix of the two."""
    out = Path(out)
    # after a kill inside the first save's roll forward, config.json may still be staged (module docstring)
    folder = out if (out / CONFIG_NAME).is_file() else out / STAGING_DIR
    try:
        saved = load_config(folder)
    except (OSError, ValueError) as e:  # missing, not JSON, or not a config
        raise CheckpointError(f"{out / CONFIG_NAME} cannot be read ({e}); the run in {out} cannot be "
                              f"continued") from None
    if saved != config:
        diff = "; ".join(f"{f}: {getattr(saved, f)!r} there, {getattr(config, f)!r} asked for"
                         for f in asdict(config) if getattr(saved, f) != getattr(config, f))
        raise ValueError(f"{out} holds a run of another model ({diff}); delete the folder or choose another "
                         f"output folder to train this one")


# ------------------------------------------------------------------------------------- the commit (module doc)
def _crash_point(where: str) -> None:
    if os.environ.get(CRASH_ENV) == where:  # test hook (module docstring); unset in every real run
        os.kill(os.getpid(), signal.SIGKILL)


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _fsync(path: Path) -> None:
    """Flush a file, or a folder's entries (a rename lives in its folder), to the disk."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def read_state(out: str | os.PathLike) -> TrainingState | None:
    """The committed training state of ``out`` (None when it has none); a damaged file is a CheckpointError: a
    commit record with any value of the wrong type does not describe one epoch."""
    path = Path(out) / STATE_NAME
    if not path.is_file():
        return None
    try:
        state, _ = from_json(TrainingState, path.read_text(), STATE_NAME, strict=True)
    except (UnicodeDecodeError, SchemaError) as e:
        raise CheckpointError(f"{path} is damaged ({e}); the run in {out} cannot be continued") from None
    return state


def recover(out: str | os.PathLike, apply: bool = True) -> TrainingState | None:
    """Bring ``out`` to its committed epoch: roll staged files of a committed save into place, discard an
    uncommitted one, and check every file the state lists against its sha256. Returns the state (or None).
    ``apply=False`` only checks (nothing is moved or deleted), so a damaged folder is refused before any work."""
    out = Path(out)
    staging = out / STAGING_DIR
    state = read_state(out)
    rolled: set[Path] = set()  # folders whose renames are made durable together, before staging goes
    for rel, digest in sorted(((state and state.files) or {}).items()):
        target, staged = out / rel, staging / rel
        if target.is_file() and _sha256(target) == digest:
            continue
        if not (staged.is_file() and _sha256(staged) == digest):
            what = "is missing" if not target.exists() else "does not match the sha256 recorded for it"
            raise CheckpointError(f"{target} {what} in {STATE_NAME} (epoch {state.epoch}): the folder was "
                                  f"changed after training wrote it, so it is not one epoch; retrain it in a new "
                                  f"folder or restore the file")
        if apply:
            _crash_point(f"recover:roll:{rel}")
            _move_into_place(staged, target)
            rolled.add(target.parent)
    _fsync_all(rolled)
    if apply and staging.exists():
        _crash_point("recover:clean")
        shutil.rmtree(staging)
        _fsync(out)
    return state


def _move_into_place(staged: Path, target: Path) -> None:
    """Rename a staged file over its target; the caller fsyncs the folders (``_fsync_all``) before it removes the
    staging folder, so after a power loss either the renames are on disk or the staged files still are."""
    target.parent.mkdir(parents=True, exist_ok=True)
    os.replace(staged, target)


def _fsync_all(folders) -> None:
    for folder in sorted(folders):
        _fsync(folder)


def drop_optimizer(out: str | os.PathLike) -> None:
    """Delete the optimizer state of a finished run (shipped checkpoints are for use, not resumption). The state
    stops listing it first, so the folder stays one verifiable epoch whatever instant this is interrupted."""
    out = Path(out)
    state = recover(out)
    if state is not None and OPTIMIZER_NAME in (state.files or {}):
        files = {k: v for k, v in state.files.items() if k != OPTIMIZER_NAME}
        staging = out / STAGING_DIR
        staging.mkdir(exist_ok=True)
        _write_synced(staging / STATE_NAME, to_json(replace(state, files=files), indent=None).encode())
        os.replace(staging / STATE_NAME, out / STATE_NAME)
        shutil.rmtree(staging)
        _fsync(out)
    (out / OPTIMIZER_NAME).unlink(missing_ok=True)


def _write_synced(path: Path, data: bytes) -> None:
    with open(path, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())


# ------------------------------------------------------------------------------------- the output folder
def foreign_entries(folder: Path) -> list[str]:
    """The names in ``folder`` that no run writes (``RUN_FILES``, and what a kill inside a write leaves behind)."""
    try:
        names = os.listdir(folder)
    except OSError as e:
        raise ValueError(f"{shown(folder)} cannot be read ({e.strerror}); give a folder this user can read and "
                         f"write") from None
    return sorted(name for name in names
                  if name not in RUN_FILES and atomic_temp_of(name) not in RUN_FILES
                  and not name.startswith(WRITE_PROBE_PREFIX))


def shown(folder: Path) -> str:
    """A folder as a message names it: a relative one (``.`` above all) with the absolute path it stands for."""
    return str(folder) if folder.is_absolute() else f"{folder} ({folder.resolve()})"


def listed(names: list[str], most: int = 3) -> str:
    return ", ".join(names[:most]) + (f" and {len(names) - most} more" if len(names) > most else "")


def check_not_foreign(out: str | os.PathLike, what: str = "the output folder") -> None:
    """``out`` is new, empty or a run's own: never a folder of other files (the current one, a repository) that a
    run would be written into and mixed with. An empty path, which an unset shell variable gives, is refused."""
    if not str(out):
        raise ValueError(f"{what} is an empty path (an unset shell variable?); name the folder to train into: a new "
                         f"or empty one, or a run's own folder to continue it with --resume")
    out = Path(out)
    foreign = foreign_entries(out) if out.is_dir() else []
    if foreign:
        raise ValueError(f"{shown(out)} is not empty and not a training run's folder (it holds {listed(foreign)}); "
                         f"give a new or empty folder, or a run's own folder (only {CONFIG_NAME}, {STATE_NAME} and "
                         f"the other files a run writes) to continue it with --resume")


def check_output_folder(out: str | os.PathLike, model_config: VAEConfig, train_config: TrainConfig,
                        resume: bool) -> None:
    """Everything about ``out`` that would make a run fail or lie, checked before any data is read or anything
    written: an empty path, a folder that cannot be created or written, a folder of other files, a resume of
    nothing or of another run, and a new run over a finished one."""
    check_not_foreign(out)
    out = Path(out)
    _check_writable(out)
    state = read_state(out) if out.is_dir() else None
    if not resume:
        if state is not None or (out / WEIGHTS_NAME).exists():
            epoch = f" (epoch {state.epoch})" if state else ""
            raise ValueError(f"{out} already holds a trained model{epoch}; continue it with --resume, or choose a "
                             f"new or empty output folder")
        return
    if state is None:
        reason = "does not exist" if not out.exists() else f"holds no finished epoch ({STATE_NAME} is missing)"
        raise ValueError(f"cannot resume: {out} {reason}; start a new run there instead")
    if state.files is None:
        raise ValueError(f"cannot resume {out}: its {STATE_NAME} has no commit record (it was written by an older "
                         f"version), so its files cannot be shown to belong to one epoch; retrain it in a new folder")
    if state.torch_rng is None or state.train_config is None:
        raise CheckpointError(f"{out / STATE_NAME} is damaged (no RNG state or training settings); the run in "
                              f"{out} cannot be continued")
    adam = state.adam or LEGACY_ADAM
    if adam not in ADAM_IMPLS:
        raise CheckpointError(f"{out / STATE_NAME} names an unknown Adam implementation {adam!r} (known: "
                              f"{', '.join(ADAM_IMPLS)}); the run in {out} cannot be continued")
    if OPTIMIZER_NAME not in state.files:
        raise ValueError(f"cannot resume {out}: it was finished without its optimizer state (the zoo drops it "
                         f"from shipped checkpoints); retrain it in a new folder to train it longer")
    check_same_model(out, model_config)
    recover(out, apply=False)
    saved = state.train_config
    diff = [f"{f}: {saved.get(f)!r} there, {getattr(train_config, f)!r} asked for" for f in SAME_DATA_FIELDS
            if saved.get(f) != getattr(train_config, f)]
    if diff:
        raise ValueError(f"cannot resume {out} with other data settings ({'; '.join(diff)}); a resumed run must "
                         f"see the same images in the same order")
    fields = {**SAME_OPTIMIZER_DEFAULTS, **({"lr": None} if train_config.lr_schedule != "constant" else {})}
    diff = [f"{f}: {saved.get(f, default)!r} there, {getattr(train_config, f)!r} asked for"
            for f, default in fields.items() if saved.get(f, default) != getattr(train_config, f)]
    if diff:
        raise ValueError(f"cannot resume {out} with another learning-rate schedule or optimizer setting "
                         f"({'; '.join(diff)}); a resumed run keeps the ones it was started with, so ask for those "
                         f"or train in a new folder")


def _check_writable(out: Path) -> None:
    if out.exists() and not out.is_dir():
        raise ValueError(f"{out} is a file; the output must be a folder (new or empty)")
    if out.is_symlink() and not out.exists():
        raise ValueError(f"{out} is a broken link; the output must be a folder (new or empty)")
    existing = out
    while not existing.exists():
        existing = existing.parent
    if not existing.is_dir():
        raise ValueError(f"{out} cannot be created: {existing} is a file, not a folder")
    try:  # a probe that leaves nothing behind: catches read-only file systems, which permission bits do not
        os.rmdir(tempfile.mkdtemp(prefix=WRITE_PROBE_PREFIX, dir=existing))
    except OSError as e:
        raise ValueError(f"{out} cannot be written: {existing} is not writable ({e.strerror})") from None


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

    # ----------------------------------------------------------------------------------------- resume
    def resume(self) -> None:
        """Continue from the committed epoch in ``out``: weights, optimizer state, history and RNG state."""
        from safetensors.torch import load_file

        check_output_folder(self.out, self.model.config, self.cfg, resume=True)
        state = recover(self.out)
        loaded = VAE.from_pretrained(self.out)
        self.model.load_state_dict(loaded.state_dict())
        self.adam_impl = state.adam or LEGACY_ADAM  # checked by check_output_folder
        self.optimizer = make_adam(self.model.parameters(), self.cfg, self.adam_impl)
        opt = load_file(str(self.out / OPTIMIZER_NAME))
        self.optimizer.load_state_dict(_unflatten_optimizer(opt, self.optimizer))
        lines = (self.out / HISTORY_NAME).read_text().splitlines()
        self.history = [from_json(HistoryLine, line, HISTORY_NAME)[0] for line in lines if line]
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
            self.history.append(HistoryLine(**{**record, "trace": [TracePoint(**p) for p in record["trace"]]}))
            self._save(epoch, diverged)
            tqdm.write(_format_record(record))
            if diverged:
                tqdm.write(f"stopped: non-finite loss in epoch {epoch} at step {diverged['step']} "
                           f"({diverged['reason']}); kept the weights of step {diverged['weights_from_step']}")
                break
        return {"epoch": self.history[-1].epoch if self.history else 0, "diverged": diverged}

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
                    loss = (kl - rec).mean()
                    self.optimizer.zero_grad(set_to_none=True)
                    loss.backward()  # also for a non-finite loss: the check below then refuses the update
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
            point["sigma_min"] = float(sigma.min())
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
            record.update(sigma_mean=float(sigma.mean()), sigma_min=float(sigma.min()))
        return record

    def _save(self, epoch: int, diverged: dict | None) -> None:
        """Commit the epoch as a whole (module docstring): stage and fsync every file, rename the state that
        lists their sha256 over the old one, then roll the staged files into place."""
        out, staging = self.out, self.out / STAGING_DIR
        if staging.exists():
            shutil.rmtree(staging)
        staging.mkdir()
        opt = _flatten_optimizer(self.optimizer)
        lines = "".join(to_json(line, indent=None, drop_none=True) + "\n" for line in self.history)
        writers = {"model": lambda: self.model.save_pretrained(staging),
                   "optimizer": lambda: save_tensors(opt, staging / OPTIMIZER_NAME),
                   "history": lambda: (staging / HISTORY_NAME).write_text(lines),
                   "snapshot": lambda: self.model.save_pretrained(staging / SNAPSHOT_DIR / f"epoch-{epoch:04d}",
                                                                  dtype=getattr(torch, self.cfg.snapshot_dtype))}
        for step in STAGE_STEPS:
            if step != "snapshot" or epoch in self.cfg.snapshots:
                _crash_point(f"{epoch}:stage:{step}")
                writers[step]()
        files = {p.relative_to(staging).as_posix(): p for p in sorted(staging.rglob("*")) if p.is_file()}
        for path in [*files.values(), staging, *(p for p in staging.rglob("*") if p.is_dir())]:
            _fsync(path)
        device_rng = _device_rng_state(self.device)
        state = TrainingState(epoch=epoch, files={rel: _sha256(path) for rel, path in files.items()},
                              train_config=asdict(self.cfg), diverged=diverged, adam=self.adam_impl,
                              torch_rng=torch.get_rng_state().tolist(), device=str(self.device),
                              device_rng=None if device_rng is None else device_rng.tolist())
        _write_synced(staging / STATE_NAME, to_json(state, indent=None).encode())
        _crash_point(f"{epoch}:commit")
        os.replace(staging / STATE_NAME, out / STATE_NAME)  # the commit point
        _fsync(out)
        for rel, path in files.items():
            _crash_point(f"{epoch}:roll:{rel}")
            _move_into_place(path, out / rel)
        _fsync_all({(out / rel).parent for rel in files})
        _crash_point(f"{epoch}:clean")
        shutil.rmtree(staging)
        _fsync(out)


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
    """Build (or resume) a model and fit it; returns the model and the final training state. ``out`` is checked
    first (``check_output_folder``): a resume needs a committed epoch there, a new run an empty or new folder."""
    check_output_folder(out, model_config, train_config, resume)
    torch.manual_seed(train_config.seed)
    model = VAE(model_config)
    trainer = Trainer(model, train_images, out, train_config)
    if resume:
        trainer.resume()
    state = trainer.fit()
    return model, state
