"""A run killed at any instant and resumed ends bit-identical to one that never stopped.

Real ``train.py`` processes are SIGKILLed -- at named crash points inside the checkpoint commit (the test hook
``VAE_ZOO_CRASH_AT`` of vae_core/training/run_folder.py) and at random times -- and each is continued with ``--resume``
(or started again while no epoch is committed). After every kill the folder must hold one committed epoch: the
state names it, and the weights a reader finds (``VAE.from_pretrained``) are complete weights of some epoch of
the uninterrupted run. At the end, weights, snapshots, optimizer state and history (apart from timing) must be
the uninterrupted run's, bit for bit.
"""
from __future__ import annotations

import json
import os
import random
import shutil
import signal
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from vae_core.files.names import (
    CONFIG_NAME,
    HISTORY_NAME,
    OPTIMIZER_NAME,
    SNAPSHOTS_DIR,
    STAGING_DIR,
    STATE_NAME,
    WEIGHTS_NAME,
)
from vae_core.model.vae import VAE
from vae_core.training.run_folder import CRASH_ENV, STAGE_STEPS

ROOT = Path(__file__).resolve().parents[1]
# a tiny model on 256 real MNIST images: four 64-image steps per epoch, so a process is mostly start-up
TINY = ["--dataset", "mnist", "--decoder", "gaussian-pixel", "--hidden", "32", "--latent-dim", "2",
        "--max-train-images", "256", "--val-size", "64", "--batch-size", "64", "--no-progress"]
EPOCHS = 4
SNAPSHOT = 2  # the epoch whose save also stages a snapshot
KILLED = -signal.SIGKILL


def _start(out: Path, data_dir: Path, epochs: int, snapshots: str, resume: bool, crash: str | None = None
           ) -> subprocess.Popen:
    env = {**os.environ, "VAE_ZOO_DATA": str(data_dir), "OMP_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1"}
    env.pop(CRASH_ENV, None)
    if crash:
        env[CRASH_ENV] = crash
    cmd = [sys.executable, str(ROOT / "train.py"), *TINY, "--epochs", str(epochs), "--snapshots", snapshots,
           "--out", str(out), *(["--resume"] if resume else [])]
    return subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _run(out: Path, data_dir: Path, epochs: int = EPOCHS, crash: str | None = None, snapshots: str = str(SNAPSHOT)
         ) -> subprocess.CompletedProcess:
    """One process; it resumes whenever the folder holds a committed epoch (as a user would)."""
    proc = _start(out, data_dir, epochs, snapshots, (out / STATE_NAME).is_file(), crash)
    stdout, stderr = proc.communicate(timeout=300)
    return subprocess.CompletedProcess(proc.args, proc.returncode, stdout, stderr)


def _weights(path: Path) -> dict[str, torch.Tensor]:
    return load_file(str(path))


def _same(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def _history(folder: Path) -> list[dict]:
    return [{k: v for k, v in json.loads(line).items() if k not in ("seconds", "cpu_seconds")}
            for line in (folder / HISTORY_NAME).read_text().splitlines()]


class Reference:
    """The uninterrupted run, with a float32 snapshot of every epoch to recognise what a killed run left."""

    def __init__(self, folder: Path, rest: float):
        self.folder, self.rest = folder, rest  # rest: seconds from the first epoch line to the exit
        self.by_epoch = {e: _weights(folder / SNAPSHOTS_DIR / f"epoch-{e:04d}" / WEIGHTS_NAME)
                         for e in range(1, EPOCHS + 1)}
        self.state = json.loads((folder / STATE_NAME).read_text())

    def epoch_of(self, weights: dict[str, torch.Tensor]) -> int | None:
        return next((e for e, w in self.by_epoch.items() if _same(w, weights)), None)


def _reference(base: Path, data_dir: Path, epochs: int = EPOCHS) -> tuple[Path, float]:
    """The uninterrupted run's folder, and the seconds from its first epoch line to its exit."""
    folder = base / "uninterrupted"
    proc = _start(folder, data_dir, epochs, ",".join(str(e) for e in range(1, epochs + 1)), resume=False)
    proc.stdout.readline()
    t0 = time.monotonic()
    stdout, stderr = proc.communicate(timeout=300)
    assert proc.returncode == 0, stderr[-2000:]
    return folder, time.monotonic() - t0


@pytest.fixture(scope="module")
def reference(tmp_path_factory, data_dir) -> Reference:
    return Reference(*_reference(tmp_path_factory.mktemp("kills"), data_dir))


def check_after_kill(folder: Path, ref: Reference) -> int:
    """What a reader finds in a killed run's folder is one committed epoch of the uninterrupted run; returns it."""
    state = json.loads((folder / STATE_NAME).read_text()) if (folder / STATE_NAME).is_file() else None
    committed = state["epoch"] if state else 0
    if (folder / WEIGHTS_NAME).is_file():  # the app's view: complete weights and config of some epoch
        loaded = VAE.from_pretrained(folder)
        epoch = ref.epoch_of(dict(loaded.state_dict()))
        assert epoch is not None, "the weights in place are no epoch of the uninterrupted run"
        assert epoch in (committed, committed - 1)  # at most one epoch behind, only while rolling forward
        assert json.loads((folder / CONFIG_NAME).read_text()) == json.loads((ref.folder / CONFIG_NAME).read_text())
    return committed


def check_same_as_reference(folder: Path, ref: Reference) -> None:
    assert _same(_weights(folder / WEIGHTS_NAME), _weights(ref.folder / WEIGHTS_NAME))
    assert _same(_weights(folder / OPTIMIZER_NAME), _weights(ref.folder / OPTIMIZER_NAME))
    snapshot = f"{SNAPSHOTS_DIR}/epoch-{SNAPSHOT:04d}/{WEIGHTS_NAME}"
    assert _same(_weights(folder / snapshot), _weights(ref.folder / snapshot))
    assert _history(folder) == _history(ref.folder)
    state = json.loads((folder / STATE_NAME).read_text())
    assert state["epoch"] == EPOCHS and state["diverged"] is None
    assert state["torch_rng"] == ref.state["torch_rng"]
    leftovers = [p for p in folder.rglob("*") if p.name == STAGING_DIR or ".tmp" in p.name]
    assert leftovers == []


def random_kills(base: Path, data_dir: Path, kills: int, seed: int, rest: float, epochs: int = EPOCHS,
                 ref: Reference | None = None) -> tuple[dict, list[Path]]:
    """Kill ``kills`` processes, each at a random time after it has finished its first new epoch (uniform over
    what an uninterrupted process takes for the epochs it has left; ``rest`` seconds for epochs 2..last), each
    continued by the next. A run that completes is kept and the next starts in a new folder under ``base``.
    Returns the counts (kills, those that landed inside a save, runs) and the finished runs' folders."""
    rng = random.Random(seed)
    counts = {"kills": 0, "inside_save": 0, "runs": 0}
    folders: list[Path] = []
    folder = None
    per_epoch = rest / (epochs - 1)  # updated from every process that finishes
    while counts["kills"] < kills or folder is not None:
        if folder is None:
            folder = base / f"run-{len(folders)}"
            folders.append(folder)
        proc = _start(folder, data_dir, epochs, str(SNAPSHOT), (folder / STATE_NAME).is_file())
        first = proc.stdout.readline()
        t0, timeout, left = time.monotonic(), 300.0, 0
        if first.startswith("epoch") and counts["kills"] < kills:
            left = epochs - int(first.split()[1])  # epochs this process still has to train
            timeout = rng.uniform(0, per_epoch * (left + 0.25))
        try:
            proc.wait(timeout=timeout)
            if left:
                per_epoch = (time.monotonic() - t0) / (left + 0.25)
        except subprocess.TimeoutExpired:
            proc.send_signal(signal.SIGKILL)
            proc.wait()
            counts["kills"] += 1
            counts["inside_save"] += (folder / STAGING_DIR).exists()
            if ref is not None:
                check_after_kill(folder, ref)
        _, stderr = proc.communicate()
        if proc.returncode != KILLED:  # the run is complete
            assert proc.returncode == 0, stderr[-2000:]
            counts["runs"] += 1
            folder = None
    return counts, folders


# The named chain: each process dies at one crash point and the next continues; between them they kill inside
# every phase of a save (staging, the commit, the roll forward, the clean-up) and inside a resume's roll forward.
CHAIN = [  # (crash point, the epoch committed after the kill)
    ("1:stage:history", 0),                      # half staged: nothing committed, a new run starts over
    ("1:commit", 0),                             # all staged, not committed
    ("1:roll:model.safetensors", 1),             # committed; config and history rolled into place, not the rest
    ("recover:roll:optimizer.safetensors", 1),   # killed again while the resume rolls epoch 1 forward
    (f"{SNAPSHOT}:stage:snapshot", 1),
    (f"{SNAPSHOT}:roll:{SNAPSHOTS_DIR}/epoch-{SNAPSHOT:04d}/{CONFIG_NAME}", SNAPSHOT),
    ("3:clean", 3),                              # everything in place, the staging folder not yet removed
]


def _named_chain(folder: Path, data_dir: Path, ref: Reference) -> None:
    for crash, committed in CHAIN:
        done = _run(folder, data_dir, crash=crash)
        assert done.returncode == KILLED, f"{crash}: {done.stderr[-2000:]}"
        assert check_after_kill(folder, ref) == committed, crash
    done = _run(folder, data_dir)
    assert done.returncode == 0, done.stderr[-2000:]


def test_killed_and_resumed_runs_end_bit_identical(reference, tmp_path, data_dir):
    """Test that runs killed at every phase of the commit, and at random times, resume to the same bits."""
    named, timed = tmp_path / "named", tmp_path / "timed"
    with ThreadPoolExecutor(max_workers=2) as pool:  # the two chains share nothing but the reference
        chains = [pool.submit(_named_chain, named, data_dir, reference),
                  pool.submit(random_kills, timed, data_dir, 3, 0, reference.rest, EPOCHS, reference)]
        counts, runs = chains[1].result()
        chains[0].result()
    check_same_as_reference(named, reference)
    for run in runs:
        check_same_as_reference(run, reference)
    assert counts["kills"] == 3, counts


def test_a_changed_file_is_an_error_not_a_silent_mix(reference, tmp_path, data_dir):
    """Test that a resume refuses a folder whose files are not the ones its commit record lists."""
    folder = tmp_path / "changed"
    shutil.copytree(reference.folder, folder)
    shutil.copy(reference.folder / SNAPSHOTS_DIR / "epoch-0003" / WEIGHTS_NAME, folder / WEIGHTS_NAME)
    done = _run(folder, data_dir, epochs=EPOCHS + 1)
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert f"{folder / WEIGHTS_NAME} does not match the sha256 recorded for it in {STATE_NAME} (epoch 4)" \
        in done.stderr
    assert _same(_weights(folder / WEIGHTS_NAME), reference.by_epoch[3])  # untouched


# ------------------------------------------------------------------------------------- the long campaign
@pytest.mark.slow
def test_every_crash_point_of_a_save_and_of_a_resume(reference, tmp_path, data_dir):
    """Test that a kill at each crash point of a snapshot epoch's save, and of the roll forward a resume does
    after it, resumes to the uninterrupted run's bits."""
    base = tmp_path / "epoch1"
    assert _run(base, data_dir, epochs=1, snapshots="").returncode == 0
    files = sorted(reference.state["files"])  # what epoch 4's save rolled: the same names as a snapshot epoch's
    files = [f.replace(f"epoch-{EPOCHS:04d}", f"epoch-{SNAPSHOT:04d}") for f in files]
    save_points = [*(f"{SNAPSHOT}:stage:{s}" for s in STAGE_STEPS), f"{SNAPSHOT}:commit",
                   *(f"{SNAPSHOT}:roll:{f}" for f in files), f"{SNAPSHOT}:clean"]
    pending = [f for f in files if f != CONFIG_NAME]  # config.json in place is already the committed one
    sequences = [[p] for p in save_points] + [[f"{SNAPSHOT}:roll:{files[0]}", f"recover:roll:{f}"] for f in pending]
    sequences.append([f"{SNAPSHOT}:roll:{files[0]}", "recover:clean"])

    def one(i_and_sequence):
        i, sequence = i_and_sequence
        folder = tmp_path / f"point-{i}"
        shutil.copytree(base, folder)
        for crash in sequence:
            assert _run(folder, data_dir, crash=crash).returncode == KILLED, crash
            check_after_kill(folder, reference)
        assert _run(folder, data_dir).returncode == 0
        check_same_as_reference(folder, reference)

    with ThreadPoolExecutor(max_workers=2) as pool:
        list(pool.map(one, enumerate(sequences)))


@pytest.mark.slow
def test_random_kill_campaign(tmp_path, data_dir):
    """Test that 12-epoch runs killed at random times (VAE_ZOO_KILLS kills in all, 4 unless set; seed
    VAE_ZOO_KILL_SEED) resume to the bits of the run that never stopped. Prints how many landed inside a save.
    Four keep the suite within its ten minutes (each kill is a process start, mostly importing torch); every
    phase of a save is killed on purpose by the crash-point campaign above, so a longer campaign (VAE_ZOO_KILLS=50)
    adds kills at new instants, not new kinds of state."""
    epochs, kills = 12, int(os.environ.get("VAE_ZOO_KILLS", "4"))
    seed = int(os.environ.get("VAE_ZOO_KILL_SEED", "0"))
    ref_folder, rest = _reference(tmp_path, data_dir, epochs)
    counts, runs = random_kills(tmp_path / "killed", data_dir, kills, seed, rest, epochs)
    print(f"random kill campaign (seed {seed}): {counts}")
    for folder in runs:
        assert _same(_weights(folder / WEIGHTS_NAME), _weights(ref_folder / WEIGHTS_NAME)), folder
        assert _same(_weights(folder / OPTIMIZER_NAME), _weights(ref_folder / OPTIMIZER_NAME)), folder
        assert _history(folder) == _history(ref_folder), folder
    assert counts["kills"] == kills and counts["runs"] == len(runs)
