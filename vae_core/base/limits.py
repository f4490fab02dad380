"""The accepted range of every numeric setting of a run, in one place: ``TrainConfig``, the zoo spec and
``train.py``'s flags all check against this table, so a bad value gets the same sentence wherever it comes from.

Upper bounds are what a run on this project's machines can do (2 CPU cores, 24 GiB): a wider network or a
longer run than these is a typo, not a plan.
"""
from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass(frozen=True)
class Limit:
    low: float
    high: float
    integer: bool = True
    low_open: bool = False  # True: the value must be greater than ``low``, not equal to it

    def describe(self) -> str:
        if self.integer:
            return f"an integer from {int(self.low)} to {int(self.high)}"
        lower = f"greater than {self.low:g}" if self.low_open else f"at least {self.low:g}"
        return f"a finite number {lower} and at most {self.high:g}"

    def accepts(self, value) -> bool:
        if isinstance(value, bool) or not isinstance(value, int | float):
            return False
        if isinstance(value, float) and not (math.isfinite(value) and (value == int(value) or not self.integer)):
            return False
        return (value > self.low if self.low_open else value >= self.low) and value <= self.high

    def check(self, name: str, value) -> int | float:
        """``value`` if it lies in range; otherwise a ValueError naming ``name`` and what is acceptable."""
        if not self.accepts(value):
            raise ValueError(self._refusal(name, repr(value)))
        return int(value) if self.integer else float(value)

    def parse(self, name: str, text: str) -> int | float:
        """A command-line value: the text as a number, then in range; the message quotes the text as given (and
        names ``name``, unless it is empty: argparse names the flag itself)."""
        try:
            value = int(text) if self.integer else float(text)
        except ValueError:
            value = None
        if not self.accepts(value):
            raise ValueError(self._refusal(name, repr(text)))
        return value

    def _refusal(self, name: str, shown: str) -> str:
        return f"{name} must be {self.describe()}, got {shown}".lstrip()


LIMITS: dict[str, Limit] = {
    # training (TrainConfig fields)
    "epochs": Limit(1, 10_000),
    "batch_size": Limit(1, 65_536),
    "lr": Limit(0, 100, integer=False, low_open=True),
    "seed": Limit(0, 2**32 - 1),  # the per-epoch generator's seed, seed * 100_003 + epoch, stays below 2**64
    "val_size": Limit(1, 1_000_000),
    "max_train_images": Limit(1, 10_000_000),
    "adam_eps": Limit(0, 1, integer=False, low_open=True),
    "grad_clip": Limit(0, 1e9, integer=False, low_open=True),  # a total gradient norm
    "skip_nonfinite": Limit(0, 1_000_000),  # steps per epoch
    "kl_warmup_epochs": Limit(0, 10_000),
    # the network (VAEConfig fields)
    "latent_dim": Limit(1, 4096),
    "hidden": Limit(1, 16_384),  # each MLP width
    "conv_channels": Limit(1, 1024),  # each convolution width
    "res_blocks": Limit(0, 64),  # residual blocks per resolution of the conv network
}


def check_setting(name: str, value, label: str | None = None):
    """Check one setting (a list is checked item by item); ``label`` is how the message names it (a flag)."""
    label = label or name
    if isinstance(value, list | tuple):
        if not value:
            raise ValueError(f"{label} needs at least one value, each {LIMITS[name].describe()}")
        return [LIMITS[name].check(label, v) for v in value]
    return LIMITS[name].check(label, value)
