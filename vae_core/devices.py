"""Where a run computes: ``auto`` (CUDA, else Apple's MPS, else the CPU), ``cpu``, ``cuda`` or ``mps``."""
from __future__ import annotations

import torch

DEVICES = ("auto", "cpu", "cuda", "mps")


def _mps_available() -> bool:
    return getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available()


def check_device(name: str) -> str:
    """``name`` if this machine has that device; otherwise one sentence saying what is wrong and what is here."""
    if name not in DEVICES:
        raise ValueError(f"device must be one of {', '.join(DEVICES)}, got {name!r}")
    if name == "cuda" and not torch.cuda.is_available():
        raise ValueError("device cuda was asked for but torch sees no CUDA GPU on this machine "
                         f"(torch {torch.__version__}, built {'with' if torch.version.cuda else 'without'} CUDA); "
                         "use cpu, or auto to take a GPU when there is one")
    if name == "mps" and not _mps_available():
        raise ValueError("device mps was asked for but torch sees no Apple MPS device on this machine; use cpu, or "
                         "auto to take a GPU when there is one")
    return name


def resolve_device(name: str) -> torch.device:
    """The torch device for a checked ``name``; ``auto`` takes CUDA, then MPS, then the CPU."""
    check_device(name)
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "mps" if _mps_available() else "cpu"
    return torch.device(name)
