"""The run folder, written so that a kill at any instant leaves one committed epoch.

Checkpoints are committed one epoch at a time, as a whole. An epoch writes several files (weights, config,
optimizer state, history, a snapshot); renaming each into place atomically is not enough, since a SIGKILL
between two renames leaves one epoch's weights beside another's optimizer and history, and a resumed run would
silently differ from one that never stopped. So a save is a small write-ahead commit (``commit_epoch``):

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

Before a run starts, ``check_output_folder`` refuses every folder it would fail in or lie about.
"""
from __future__ import annotations

import hashlib
import os
import shutil
import signal
import tempfile
from collections.abc import Callable
from dataclasses import asdict, replace
from pathlib import Path

from vae_core.files.atomic import atomic_temp_of
from vae_core.files.names import (
    CARD_NAME,
    CONFIG_NAME,
    EVAL_NAME,
    HISTORY_NAME,
    OPTIMIZER_NAME,
    SAMPLE_MARKER,
    SNAPSHOTS_DIR,
    STAGING_DIR,
    STATE_NAME,
    WEIGHTS_NAME,
)
from vae_core.files.schema import SchemaError, TrainingState, from_json, to_json
from vae_core.model.vae import VAEConfig, load_config
from vae_core.training.config import ADAM_IMPLS, LEGACY_ADAM, TrainConfig
from vae_core.training.schedules import SCHEDULES, extends

WRITE_PROBE_PREFIX = ".write-probe-"  # _check_writable's probe folder (removed at once; a kill can leave one)
# Every name a run, and the zoo's evaluation of it, writes at the top of its folder: a folder holding anything
# else is not a run's own, and training there would mix a run's files with someone else's (check_output_folder).
RUN_FILES = frozenset({CONFIG_NAME, WEIGHTS_NAME, HISTORY_NAME, STATE_NAME, OPTIMIZER_NAME, SNAPSHOTS_DIR,
                       STAGING_DIR, SAMPLE_MARKER, EVAL_NAME, CARD_NAME})
CRASH_ENV = "VAE_ZOO_CRASH_AT"
STAGE_STEPS = ("model", "optimizer", "history", "snapshot")  # what a save stages, in order (crash points)
# Settings a resumed run must share with the run it continues: they fix the data and its order (the rest, such
# as lr or epochs, may change on purpose).
SAME_DATA_FIELDS = ("seed", "batch_size", "val_size", "max_train_images")
# ... and the optimizer settings a resumed run must keep (with a schedule other than constant, ``lr`` too: it is
# the schedule's base rate); a value missing from an older state is the default it was trained with.
SAME_OPTIMIZER_DEFAULTS = {"lr_schedule": "constant", "adam_eps": 1e-8, "kl_warmup_epochs": 0}


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
                        resume: bool, restart_optimizer: bool = False) -> None:
    """Everything about ``out`` that would make a run fail or lie, checked before any data is read or anything
    written: an empty path, a folder that cannot be created or written, a folder of other files, a resume of
    nothing or of another run, and a new run over a finished one. ``restart_optimizer``: the resume starts Adam
    afresh, so a run finished without its optimizer state (a shipped checkpoint) can be continued."""
    if restart_optimizer and not resume:
        raise ValueError("restarting the optimizer is a way to continue a run; ask for --resume too")
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
    if OPTIMIZER_NAME not in state.files and not restart_optimizer:
        raise ValueError(f"cannot resume {out}: it was finished without its optimizer state (the zoo drops it "
                         f"from shipped checkpoints); retrain it in a new folder, or continue it with Adam "
                         f"started afresh (--restart-optimizer)")
    check_same_model(out, model_config)
    recover(out, apply=False)
    data, optimizer = changed_settings(state.train_config, train_config, state.epoch)
    diff = [f"{f}: {there!r} there, {asked!r} asked for" for f, there, asked in data]
    if diff:
        raise ValueError(f"cannot resume {out} with other data settings ({'; '.join(diff)}); a resumed run must "
                         f"see the same images in the same order")
    diff = [f"{f}: {there!r} there, {asked!r} asked for" for f, there, asked in optimizer]
    if diff:
        raise ValueError(f"cannot resume {out} with another learning-rate schedule or optimizer setting "
                         f"({'; '.join(diff)}); a resumed run keeps the ones it was started with (or a schedule "
                         f"with the same rates in the epochs trained), so ask for those or train in a new folder")


def changed_settings(saved: dict, train_config: TrainConfig, epochs_done: int) -> tuple[list, list]:
    """What continuing a run trained ``epochs_done`` epochs with settings ``saved`` (a TrainConfig as a dict) under
    ``train_config`` would change that a continued run must keep: (data settings, optimizer settings), each a list
    of (field, saved value, asked value). A schedule that gave the same rates so far (``extends``) is no change."""
    data = [(f, saved.get(f), getattr(train_config, f)) for f in SAME_DATA_FIELDS
            if saved.get(f) != getattr(train_config, f)]
    fields = {**SAME_OPTIMIZER_DEFAULTS, **({"lr": None} if train_config.lr_schedule != "constant" else {})}
    schedule = saved.get("lr_schedule", SAME_OPTIMIZER_DEFAULTS["lr_schedule"])
    if schedule in SCHEDULES and extends(train_config.lr_schedule, schedule, epochs_done):  # same rates so far
        fields.pop("lr_schedule")
    optimizer = [(f, saved.get(f, default), getattr(train_config, f)) for f, default in fields.items()
                 if saved.get(f, default) != getattr(train_config, f)]
    return data, optimizer


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


def commit_epoch(out: Path, epoch: int, writers: dict[str, Callable[[Path], object]],
                 state: Callable[[dict[str, str]], TrainingState]) -> None:
    """Commit one epoch as a whole (module docstring): each of ``writers`` (keys from ``STAGE_STEPS``, in that
    order) writes its files into the staging folder it is given; every staged file is fsynced; ``state(files)``,
    given their sha256 by relative path, is renamed over the old state (the commit point); then the staged files
    roll into place."""
    staging = out / STAGING_DIR
    if staging.exists():
        shutil.rmtree(staging)
    staging.mkdir()
    for step in STAGE_STEPS:
        if step in writers:
            _crash_point(f"{epoch}:stage:{step}")
            writers[step](staging)
    files = {p.relative_to(staging).as_posix(): p for p in sorted(staging.rglob("*")) if p.is_file()}
    for path in [*files.values(), staging, *(p for p in staging.rglob("*") if p.is_dir())]:
        _fsync(path)
    committed = state({rel: _sha256(path) for rel, path in files.items()})
    _write_synced(staging / STATE_NAME, to_json(committed, indent=None).encode())
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
