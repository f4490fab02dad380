"""Files a run writes are readable by whoever may read the JSON beside them: every file of a checkpoint (weights,
optimizer state, snapshots, JSON) gets the permission bits the umask gives a new file, so a checkpoint copied to
a shared folder or into a container running as another user can be read there. And a save that never finished
(a `.staging` folder) is named by the zoo, never deleted by a reader."""
from __future__ import annotations

import os
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from vae_core.files.names import STAGING_DIR
from vae_core.model.vae import VAE, VAEConfig
from vae_core.zoo.checkpoints import scan

ROOT = Path(__file__).resolve().parent.parent
TRAIN = [sys.executable, str(ROOT / "train.py"), "--train-on-sample", "--val-size", "200", "--epochs", "1",
         "--hidden", "16", "--latent-dim", "2", "--no-progress", "--dataset", "mnist", "--decoder", "gaussian-pixel",
         "--snapshots", "1"]


def modes(folder: Path) -> dict[str, int]:
    """Permission bits of every file and folder under ``folder``, by relative path."""
    return {p.relative_to(folder).as_posix(): stat.S_IMODE(p.stat().st_mode) for p in sorted(folder.rglob("*"))}


@pytest.mark.parametrize("umask", [0o022, 0o077])
def test_a_trained_run_writes_every_file_with_the_umasks_bits(tmp_path, umask):
    out = tmp_path / "run"
    subprocess.run([*TRAIN, "--out", str(out)], check=True, cwd=ROOT, capture_output=True, timeout=600,
                   preexec_fn=lambda: os.umask(umask))
    found = modes(out)
    assert {"model.safetensors", "optimizer.safetensors", "config.json", "history.jsonl",
            "snapshots/epoch-0001/model.safetensors"} <= set(found), found
    wrong = {rel: oct(mode) for rel, mode in found.items()
             if mode != (0o777 if (out / rel).is_dir() else 0o666) & ~umask}
    assert wrong == {}, f"umask {umask:03o}: {wrong}"


@pytest.mark.parametrize("umask", [0o022, 0o077])
def test_save_pretrained_follows_the_umask(tmp_path, umask):
    old = os.umask(umask)
    try:
        VAE(VAEConfig(dataset="mnist", decoder="bernoulli", latent_dim=2, hidden=[8])).save_pretrained(tmp_path / "m")
    finally:
        os.umask(old)
    assert set(modes(tmp_path / "m").values()) == {0o666 & ~umask}


def test_a_leftover_staging_folder_is_named_and_kept(tiny_zoo, tmp_path):
    zoo = tmp_path / "zoo"
    shutil.copytree(tiny_zoo / "mnist-bernoulli-2d", zoo / "mnist-bernoulli-2d")
    shutil.copytree(tiny_zoo / "mnist-gaussian-fixed", zoo / "mnist-gaussian-fixed")
    staged = zoo / "mnist-bernoulli-2d" / STAGING_DIR / "model.safetensors"
    staged.parent.mkdir()
    staged.write_bytes(b"half of a save")
    found, problems = scan(zoo)
    notes = {c.name: c.notes for c in found}
    assert problems == [] and notes["mnist-gaussian-fixed"] == []
    (note,) = notes["mnist-bernoulli-2d"]
    assert f"mnist-bernoulli-2d/{STAGING_DIR}" in note and "train.py --resume" in note and str(zoo) not in note
    assert staged.read_bytes() == b"half of a save"  # reading the zoo never deletes what a run may be writing
    assert torch.isfinite(next(iter(VAE.from_pretrained(zoo / "mnist-bernoulli-2d").parameters()))).all()


@pytest.mark.parametrize("umask", [0o022, 0o077])
def test_a_downloaded_dataset_file_follows_the_umask(tmp_path, umask):
    """A download is written beside its target and renamed (vae_core.base.data): the file keeps the umask's bits, not
    the 0600 of a temporary file."""
    from vae_core.base.data import _download_verified

    source = tmp_path / "labels.idx"
    source.write_bytes(bytes([0, 0, 8, 1, 0, 0, 0, 3, 7, 2, 1]))  # an IDX vector of three labels
    old = os.umask(umask)
    try:
        _download_verified(source.as_uri(), tmp_path / "copy.idx", None, progress=False)
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "copy.idx").stat().st_mode) == 0o666 & ~umask
    assert [p.name for p in tmp_path.iterdir() if p.name.endswith(".part")] == []
