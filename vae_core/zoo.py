"""Find and load checkpoints from a local folder or a Hugging Face Hub snapshot; both resolve to one layout:

    <root>/index.json                       the zoo index (names and headline numbers), optional
    <root>/<name>/config.json               VAEConfig
    <root>/<name>/model.safetensors         weights
    <root>/<name>/history.jsonl             one line per epoch
    <root>/<name>/eval.json                 the evaluation (see scripts/evaluate_zoo.py)
    <root>/<name>/snapshots/epoch-NNNN/     config.json + model.safetensors from earlier epochs

A broken folder never stops the rest of the zoo from loading: ``scan`` returns it among its problems.
"""
from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

import torch

from .model import CONFIG_NAME, VAE, WEIGHTS_NAME, VAEConfig, load_config

DEFAULT_ZOO = Path(__file__).resolve().parent.parent / "checkpoints"
ZOO_ENV = "VAE_ZOO_SOURCE"
HUB_REPO_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")


class ZooError(RuntimeError):
    """A checkpoint or zoo source cannot be used; the message names the folder or repo."""


@dataclass
class Checkpoint:
    name: str
    path: Path
    config: VAEConfig
    evaluation: dict | None = None
    history: list[dict] = field(default_factory=list)
    snapshots: list[tuple[int, Path]] = field(default_factory=list)  # (epoch, folder), ascending

    @property
    def dataset(self) -> str:
        return self.config.dataset

    @property
    def decoder(self) -> str:
        return self.config.decoder


def is_hub_repo_id(source: str) -> bool:
    return bool(HUB_REPO_ID.match(source)) and not Path(source).exists()


def resolve_source(source: str | os.PathLike | None = None, revision: str | None = None) -> Path:
    """A local folder as it is, or a Hub repo id ("owner/name") downloaded to the local cache at ``revision``.

    The Hub path is only this function: everything downstream sees a folder. Offline it raises a ZooError with
    one sentence.
    """
    source = str(source or os.environ.get(ZOO_ENV) or DEFAULT_ZOO)
    if not is_hub_repo_id(source):
        path = Path(source).expanduser()
        if not path.is_dir():
            raise ZooError(f"zoo folder {path} does not exist; train checkpoints with train.py --zoo zoo.toml "
                           f"or point the app at a Hub repo id")
        return path
    try:
        from huggingface_hub import snapshot_download

        return Path(snapshot_download(repo_id=source, revision=revision, repo_type="model",
                                      allow_patterns=["*.json", "*.jsonl", "*.safetensors", "*.md"]))
    except Exception as e:  # network, auth, missing repo or revision: one sentence, whatever the cause
        kind = type(e).__name__
        reason = ("no such repo or revision" if kind in ("RepositoryNotFoundError", "RevisionNotFoundError")
                  else "the Hub cannot be reached from here")
        raise ZooError(f"Could not fetch {source}@{revision or 'main'} from the Hugging Face Hub: {reason} "
                       f"({kind}).") from None


def read_checkpoint(folder: str | os.PathLike) -> Checkpoint:
    """Read a checkpoint folder's metadata (not its weights). Raises ZooError naming the folder."""
    folder = Path(folder)
    if not (folder / CONFIG_NAME).is_file():
        raise ZooError(f"{folder}: no {CONFIG_NAME}")
    try:
        config = load_config(folder)
    except (json.JSONDecodeError, TypeError, ValueError) as e:
        raise ZooError(f"{folder}: malformed {CONFIG_NAME} ({e})") from None
    if not (folder / WEIGHTS_NAME).is_file():
        raise ZooError(f"{folder}: no {WEIGHTS_NAME}")
    return Checkpoint(name=folder.name, path=folder, config=config, evaluation=_read_json(folder / "eval.json"),
                      history=read_history(folder / "history.jsonl"), snapshots=list_snapshots(folder))


def scan(root: str | os.PathLike) -> tuple[list[Checkpoint], list[tuple[str, str]]]:
    """Every readable checkpoint under ``root`` (sorted by name), and (folder, message) for each broken one."""
    root = Path(root)
    found, problems = [], []
    for folder in sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")):
        if not any(folder.iterdir()):
            continue
        try:
            found.append(read_checkpoint(folder))
        except ZooError as e:
            problems.append((str(folder), str(e)))
    return found, problems


def load_model(folder: str | os.PathLike, device: str | torch.device = "cpu",
               weights: str | os.PathLike | None = None) -> VAE:
    """Rebuild the model from config.json and load its safetensors strictly; every failure names the folder."""
    folder = Path(folder)
    if weights is None:
        read_checkpoint(folder)  # config and file presence, with the folder named
    try:
        return VAE.from_pretrained(folder, map_location=device, weights=weights)
    except ZooError:
        raise
    except RuntimeError as e:  # size mismatch, missing/unexpected keys
        first = str(e).strip().splitlines()
        raise ZooError(f"{folder}: weights do not match config.json ({' '.join(first[:2])[:300]})") from None
    except Exception as e:  # truncated or corrupt safetensors, bad header, unreadable file
        raise ZooError(f"{folder}: cannot read {Path(weights).name if weights else WEIGHTS_NAME} "
                       f"({type(e).__name__}: {e})") from None


def load_snapshot(checkpoint: Checkpoint, epoch: int, device: str | torch.device = "cpu") -> VAE:
    folders = dict(checkpoint.snapshots)
    if epoch not in folders:
        raise ZooError(f"{checkpoint.path}: no snapshot for epoch {epoch} (have {sorted(folders)})")
    return load_model(folders[epoch], device)


def read_history(path: Path) -> list[dict]:
    if not path.is_file():
        return []
    rows = []
    for line in path.read_text().splitlines():
        try:
            rows.append(json.loads(line))
        except json.JSONDecodeError:
            continue  # a partial last line from an interrupted writer is skipped, not fatal
    return rows


def list_snapshots(folder: Path) -> list[tuple[int, Path]]:
    snaps = []
    for p in (folder / "snapshots").glob("epoch-*"):
        if (p / WEIGHTS_NAME).is_file() and p.name[6:].isdigit():
            snaps.append((int(p.name[6:]), p))
    return sorted(snaps)


def read_index(root: str | os.PathLike) -> dict | None:
    return _read_json(Path(root) / "index.json")


def _read_json(path: Path) -> dict | None:
    try:
        return json.loads(path.read_text()) if path.is_file() else None
    except json.JSONDecodeError:
        return None
