"""Where a run computes: ``auto`` (CUDA, else Apple's MPS, else the CPU), ``cpu``, ``cuda`` or ``mps``; the same
names for training (``TrainConfig.device``) and evaluation (``place``)."""
from __future__ import annotations

import torch
from torch import Tensor

DEVICES = ("auto", "cpu", "cuda", "mps")


def mps_available() -> bool:
    """Whether torch sees an Apple MPS device here."""
    return getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available()


def check_device(name: str) -> str:
    """``name`` if this machine has that device; otherwise one sentence saying what is wrong and what is here."""
    if name not in DEVICES:
        raise ValueError(f"device must be one of {', '.join(DEVICES)}, got {name!r}")
    if name == "cuda" and not torch.cuda.is_available():
        raise ValueError("device cuda was asked for but torch sees no CUDA GPU on this machine "
                         f"(torch {torch.__version__}, built {'with' if torch.version.cuda else 'without'} CUDA); "
                         "use cpu, or auto to take a GPU when there is one")
    if name == "mps" and not mps_available():
        raise ValueError("device mps was asked for but torch sees no Apple MPS device on this machine; use cpu, or "
                         "auto to take a GPU when there is one")
    return name


def resolve_device(name: str) -> torch.device:
    """The torch device for a checked ``name``; ``auto`` takes CUDA, then MPS, then the CPU."""
    check_device(name)
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "mps" if mps_available() else "cpu"
    return torch.device(name)


def as_device(device: str | torch.device) -> torch.device:
    """A torch.device as given, or the device a name of ``DEVICES`` resolves to (checked: one sentence if absent)."""
    return device if isinstance(device, torch.device) else resolve_device(device)


def move_model(model, device: str | torch.device | None = None) -> None:
    """Move ``model`` to ``device`` in place, as ``Module.to`` does: a name of ``DEVICES``, a torch.device, or None
    to leave it where it is (what every caller that passes no device gets, so a model the app keeps on a GPU is
    never moved behind its back)."""
    if device is not None:
        target = as_device(device)
        if model.device != target:
            model.to(target)


def place(model, x: Tensor, device: str | torch.device | None = None) -> Tensor:
    """``move_model(model, device)``, then ``x`` on the model's device: each moved once, before any batch is cut."""
    move_model(model, device)
    return x.to(model.device)


def check_float64(device: torch.device, what: str) -> None:
    """Refuse, in one sentence, work that sums in float64 on a device without float64 (Apple's MPS)."""
    if device.type == "mps":
        raise ValueError(f"{what} sums in float64, which Apple's MPS backend does not support; run it with device "
                         f"cpu (or cuda)")


def add_device_option(parser, what: str) -> None:
    """``--device`` on an evaluation script's argparse parser: one of DEVICES, the CPU by default."""
    parser.add_argument("--device", choices=DEVICES, default="cpu",
                        help=f"where to {what} (default cpu); auto takes a CUDA or MPS GPU when there is one; the "
                             "model and its test images move there once")
