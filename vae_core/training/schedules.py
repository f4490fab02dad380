"""Learning-rate schedules: the learning rate of each epoch, from the run's base rate ``lr``.

- ``constant``: ``lr`` in every epoch, for any number of epochs.
- ``burda``: Burda, Grosse & Salakhutdinov (2016), section 5: 3^i epochs at ``lr * 10^(-i/7)`` for i = 0..7,
  3,280 epochs in all (with their ``lr`` = 1e-3). A run may stop inside the schedule (fewer epochs: the first
  stages) but not run past its end; the first seven stages are 1,093 epochs, a third of the passes.
- ``burda-third``: Burda's shape in a third of the passes: 3^i epochs at ``lr * 10^(-i/6)`` for i = 0..6, 1,093
  epochs. Why this compression: it keeps what the paper's schedule does with its passes (the same start and final
  rate, 1e-3 to 1e-4 with their ``lr``; each stage three times the one before; two thirds of the run at the final
  rate, where the gradient noise of batch 20 is smallest) and drops one of the eight stages by stepping 10^(-1/6)
  instead of 10^(-1/7). Cutting the paper's schedule at 1,093 epochs instead would never anneal below
  1.39e-4; dividing each stage by three would need a first stage of a third of an epoch.
- ``burda-extended``: ``burda-third`` and then the paper's last stage, 2,187 more epochs at the final rate ``lr / 10``:
  3,280 epochs in all, the paper's passes. Its first 1,093 epochs are ``burda-third``'s, so a finished
  ``burda-third`` run can be continued with it (issue 22: Burda's row in the paper's passes).

A schedule is a pure function of the epoch, so a resumed run gets exactly the rate it would have had. A resumed run
may change its schedule only to one that gave the same rate in every epoch it has trained (``extends``).
"""
from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass(frozen=True)
class Schedule:
    description: str
    stage_epochs: tuple[int, ...] | None = None  # epochs of each stage; None: one stage without end
    decay: float = 1.0  # stage i runs at lr * decay**i

    @property
    def total_epochs(self) -> float:
        return math.inf if self.stage_epochs is None else sum(self.stage_epochs)

    def stage(self, epoch: int) -> int:
        """The stage (from 0) that epoch ``epoch`` (from 1) falls in."""
        if self.stage_epochs is None:
            return 0
        end = 0
        for i, length in enumerate(self.stage_epochs):
            end += length
            if epoch <= end:
                return i
        raise ValueError(f"epoch {epoch} is past the end of the schedule ({end} epochs)")

    def lr(self, base_lr: float, epoch: int) -> float:
        return base_lr * self.decay ** self.stage(epoch)


SCHEDULES: dict[str, Schedule] = {
    "constant": Schedule("the same learning rate in every epoch"),
    "burda": Schedule("Burda et al. 2016: 3^i epochs at lr * 10^(-i/7), i = 0..7",
                      stage_epochs=tuple(3**i for i in range(8)), decay=10 ** (-1 / 7)),
    "burda-third": Schedule("Burda's shape in a third of the passes: 3^i epochs at lr * 10^(-i/6), i = 0..6",
                            stage_epochs=tuple(3**i for i in range(7)), decay=10 ** (-1 / 6)),
    "burda-extended": Schedule("burda-third, then Burda's last stage: 2,187 more epochs at the final rate lr / 10",
                               stage_epochs=(*(3**i for i in range(6)), 3**6 + 3**7), decay=10 ** (-1 / 6)),
}


def extends(new: str, old: str, epochs_done: int) -> bool:
    """Whether schedule ``new`` gives the rate of ``old`` in each of the first ``epochs_done`` epochs (any base rate),
    so a run trained that far with ``old`` can go on with ``new`` as if it had been started with it."""
    return all(SCHEDULES[new].lr(1.0, e) == SCHEDULES[old].lr(1.0, e) for e in range(1, epochs_done + 1))


def check_schedule(name: str, epochs: int) -> str:
    """``name`` if it is a known schedule that covers ``epochs``; otherwise one sentence saying what is wrong."""
    if name not in SCHEDULES:
        raise ValueError(f"lr_schedule must be one of {', '.join(SCHEDULES)}, got {name!r}")
    total = SCHEDULES[name].total_epochs
    if epochs > total:
        raise ValueError(f"the {name} learning-rate schedule ({SCHEDULES[name].description}) ends after {total} "
                         f"epochs, so epochs = {epochs} does not fit it; train at most {total} epochs with it")
    return name
