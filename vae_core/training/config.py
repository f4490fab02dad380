"""A run's settings (``TrainConfig``) and the optimizer they make: what the loop, the run folder's checks and the
zoo spec share."""
from __future__ import annotations

from dataclasses import dataclass, field

import torch

from vae_core.base.devices import check_device
from vae_core.base.limits import check_setting
from vae_core.training.schedules import check_schedule

SNAPSHOT_DTYPES = ("float32", "float16")
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
    # The KL term's weight rises linearly from 0 to 1 over the first kl_warmup_epochs epochs, step by step, and
    # the objective is the ELBO after them (KL annealing: Bowman et al. 2016; warm-up: Sonderby et al. 2016).
    # It keeps a strong decoder from ignoring z in its first steps (posterior collapse); the model is unchanged.
    kl_warmup_epochs: int = 0
    # auto | cpu | cuda | mps (base/devices.py). The CPU by default: a GPU draws other random numbers and sums in
    # another order, so the zoo's runs (and a resume) reproduce bit for bit only on the device they were trained on
    device: str = "cpu"
    progress: bool = True

    def __post_init__(self):
        for name in ("epochs", "batch_size", "lr", "seed", "val_size", "adam_eps"):
            setattr(self, name, check_setting(name, getattr(self, name)))
        self.skip_nonfinite = check_setting("skip_nonfinite", self.skip_nonfinite)
        self.kl_warmup_epochs = check_setting("kl_warmup_epochs", self.kl_warmup_epochs)
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
