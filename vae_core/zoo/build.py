"""Training the zoo: every entry of zoo.toml (or those matching a pattern) trained, or resumed, into its checkpoint
folder, then evaluated (zoo.evaluate) and listed in the index (zoo.index).

Devices: an entry is trained and evaluated on its ``device`` (TrainConfig; the CPU unless the spec says otherwise),
or on the one ``train_zoo`` is given."""
from __future__ import annotations

import fnmatch
import os
import shutil
from pathlib import Path

from vae_core.base.data import load_split
from vae_core.base.devices import check_device, check_float64, resolve_device
from vae_core.files.atomic import atomic_temp_of, atomic_write
from vae_core.files.names import (
    CONFIG_NAME,
    EVAL_NAME,
    HISTORY_NAME,
    INDEX_NAME,
    OPTIMIZER_NAME,
    SAMPLE_MARKER,
    SNAPSHOTS_DIR,
    STATE_NAME,
    WEIGHTS_NAME,
)
from vae_core.files.schema import TrainingState
from vae_core.training.loop import train
from vae_core.training.run_folder import check_same_model, drop_optimizer, foreign_entries, listed, recover, shown
from vae_core.zoo.evaluate import evaluate_checkpoint
from vae_core.zoo.index import write_index
from vae_core.zoo.spec import CONTINUES, read_spec, split_entry

# What a continued entry takes from the checkpoint it continues: the run (Adam's state where it was kept), not that
# checkpoint's evaluation or card. The training state goes last: until it is there the copy holds no committed
# epoch, and an interrupted copy is made again.
CONTINUED_FILES = (CONFIG_NAME, WEIGHTS_NAME, HISTORY_NAME, OPTIMIZER_NAME, SAMPLE_MARKER, SNAPSHOTS_DIR, STATE_NAME)


def check_zoo_root(checkpoints: str | Path, what: str = "the zoo folder") -> None:
    """The zoo is written into a new or empty folder, or one of its own: only checkpoint folders (each new, empty
    or a run's own) and the index. Any other file there, such as a repository's, refuses the whole zoo before
    anything is read or written; an empty path (an unset shell variable) too."""
    if not str(checkpoints):
        raise ValueError(f"{what} is an empty path (an unset shell variable?); name the folder the zoo's checkpoints "
                         f"go in: a new or empty one, or a zoo's own")
    root = Path(checkpoints)
    if not root.is_dir():
        return
    foreign = foreign_entries_of_zoo(root)
    if foreign:
        raise ValueError(f"{what} {shown(root)} is not empty and not a zoo's folder (it holds {listed(foreign)}); "
                         f"give a new or empty folder, or one holding only checkpoint folders and {INDEX_NAME}")


def foreign_entries_of_zoo(root: Path) -> list[str]:
    """The names in a zoo folder that are neither its index nor a checkpoint folder holding only a run's files."""
    foreign = []
    for name in sorted(os.listdir(root)):
        path = root / name
        if name == INDEX_NAME or atomic_temp_of(name) == INDEX_NAME:
            continue
        if not path.is_dir():
            foreign.append(name)
        else:  # a folder of nothing but other files is named as a whole
            inner = foreign_entries(path)
            foreign += [f"{name}/"] if inner and len(inner) == len(os.listdir(path)) else [f"{name}/{i}" for i in inner]
    return foreign


def copy_run(source: Path, out: Path, name: str, epochs: int) -> TrainingState:
    """Start ``out`` as a copy of the run in ``source``, finished at its ``epochs`` (its weights, history, snapshots
    and training state), for zoo entry ``name`` that continues it; returns the copied state."""
    state = recover(source) if source.is_dir() else None  # a committed save rolled into place before it is copied
    if state is None:
        raise ValueError(f"zoo entry {name!r} continues {source.name!r}, but {shown(source)} holds no trained run; "
                         f"build {source.name} in {shown(source.parent)} first")
    if state.diverged or state.epoch < epochs:
        why = "diverged" if state.diverged else f"is at epoch {state.epoch} of {epochs}"
        raise ValueError(f"zoo entry {name!r} continues {source.name!r}, whose run in {shown(source)} {why}; only a "
                         f"finished run is continued")
    out.mkdir(parents=True, exist_ok=True)
    for item in CONTINUED_FILES:
        if (source / item).is_dir():
            shutil.copytree(source / item, out / item, dirs_exist_ok=True)
        elif (source / item).is_file():
            atomic_write(out / item, lambda tmp, item=item: shutil.copy2(source / item, tmp))
    return recover(out)


def train_zoo(spec: str | Path, only: str = "*", checkpoints: str | Path = "checkpoints", data_dir=None,
              download: bool = False, evaluate: bool = True, progress: bool = True, device: str | None = None) -> None:
    """Train (resuming finished or partial runs) and evaluate every entry whose name matches ``only``, each on its
    spec's ``device``, or all on ``device`` (a name of vae_core.base.devices.DEVICES) when one is given."""
    if device is not None:
        check_device(device)  # before the spec is read or anything written
    check_zoo_root(checkpoints)
    patterns = [p.strip() for p in only.split(",") if p.strip()]
    entries_of_spec = read_spec(spec)
    entries = [e for e in entries_of_spec if any(fnmatch.fnmatch(e["name"], p) for p in patterns)]
    if not entries:
        raise ValueError(f"no zoo entry matches {only!r}")
    if device is not None:
        entries = [{**e, "device": device} for e in entries]  # over the spec's, for training and evaluation
    plans = [(entry, *split_entry(entry)) for entry in entries]  # every entry checked before any is trained
    for entry, _, train_cfg, eval_cfg in plans:
        if evaluate and eval_cfg.get("best_images") != 0:  # an entry's evaluation refused after its training: say now
            try:
                check_float64(resolve_device(train_cfg.device), "the best log-likelihood estimate")
            except ValueError as e:
                raise ValueError(f"zoo entry {entry['name']!r}: {e}") from None
    for entry, model_cfg, train_cfg, eval_cfg in plans:
        train_cfg.progress = progress
        out = Path(checkpoints) / entry["name"]
        state = recover(out) if out.is_dir() else None  # finish or discard a save a kill interrupted
        copied_at = None  # the epoch a continued entry was copied at
        if CONTINUES in entry:
            source = next(e for e in entries_of_spec if e["name"] == entry[CONTINUES])
            copied_at = split_entry(source)[1].epochs
            if state is None:
                state = copy_run(Path(checkpoints) / entry[CONTINUES], out, entry["name"], copied_at)
        if state is not None:
            check_same_model(out, model_cfg)  # the spec changed since this folder was trained: say so
        done = state is not None and (state.epoch >= train_cfg.epochs or state.diverged)
        if not done:
            print(f"== training {entry['name']}", flush=True)
            images, _ = load_split(model_cfg.dataset, "train", data_dir, download=download)
            # A continued checkpoint, shipped without Adam's state, starts Adam afresh once: at the epoch it was
            # copied at. Later, a run without it is refused as any other.
            restart = state is not None and state.epoch == copied_at and OPTIMIZER_NAME not in (state.files or {})
            train(model_cfg, train_cfg, images, out, resume=state is not None, restart_optimizer=restart)
        drop_optimizer(out)  # shipped checkpoints are for use, not resumption
        evaluated = out / EVAL_NAME
        if evaluate and not (evaluated.is_file() and evaluated.stat().st_mtime >= (out / WEIGHTS_NAME).stat().st_mtime):
            print(f"== evaluating {entry['name']}", flush=True)
            evaluate_checkpoint(out, data_dir, progress=progress, device=train_cfg.device, **eval_cfg)
    if evaluate:
        write_index(checkpoints)
