"""Find and load checkpoints from a local folder or a Hugging Face Hub snapshot; both resolve to one layout:

    <root>/index.json                       the zoo index (names and headline numbers), optional
    <root>/<name>/config.json               VAEConfig
    <root>/<name>/model.safetensors         weights
    <root>/<name>/history.jsonl             one line per epoch
    <root>/<name>/eval.json                 the evaluation (vae_core.zoo.evaluate)
    <root>/<name>/snapshots/epoch-NNNN/     config.json + model.safetensors from earlier epochs

A broken folder never stops the rest of the zoo from loading: ``scan`` returns it among its problems. Every file
is read as untrusted: damage is a ZooError (fatal for that checkpoint: config.json, model.safetensors) or a note
on the checkpoint (eval.json, history.jsonl, snapshots/), one sentence naming the file and what is wrong.
"""
from __future__ import annotations

import json
import math
import os
import re
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import TYPE_CHECKING

from vae_core.base.data import DATASETS
from vae_core.base.limits import LIMITS
from vae_core.files.names import (
    CONFIG_NAME,
    DEFAULT_ZOO,
    EVAL_NAME,
    HISTORY_NAME,
    INDEX_NAME,
    SNAPSHOTS_DIR,
    STAGING_DIR,
    STATE_NAME,
    WEIGHTS_NAME,
)
from vae_core.files.schema import (
    SCHEMA_VERSION,
    Evaluation,
    HistoryLine,
    SchemaError,
    TrainingState,
    is_int,
    is_number,
    parse_json,
    type_name,
)
from vae_core.model.config import VAEConfig, decoder_problem

if TYPE_CHECKING:  # torch is imported where a model is built (load_model), not by a scan of the zoo
    import torch

    from vae_core.model.vae import VAE

ZOO_ENV = "VAE_ZOO_SOURCE"
CHECKPOINT_FILES = (CONFIG_NAME, WEIGHTS_NAME, EVAL_NAME, HISTORY_NAME, SNAPSHOTS_DIR)  # a folder with none: not ours
MAX_SOURCE_CHARS = 1024       # a zoo source is a path or a repo id, never a document
MAX_ZOO_ENTRIES = 2000        # more entries than this: not a zoo folder (e.g. / or /proc), refused without a listing
SHIPPED_BUDGET_MB = 200       # the shipped checkpoints/ folder's size limit (issue 22; tests/test_zoo.py)
HUB_REPO_ID = re.compile(r"^[A-Za-z0-9][\w.-]{0,95}/[\w.-]{1,96}$")


class ZooError(RuntimeError):
    """A checkpoint or zoo source cannot be used; the message names the folder or repo."""


@dataclass
class Checkpoint:
    name: str
    path: Path
    config: VAEConfig
    evaluation: Evaluation | None = None  # eval.json, every value of its declared type or None; None: no usable file
    history_lines: list[HistoryLine] = field(default_factory=list)  # history.jsonl, one record per epoch
    snapshots: list[tuple[int, Path]] = field(default_factory=list)  # (epoch, folder), ascending
    notes: list[str] = field(default_factory=list)  # damage that leaves the checkpoint usable, one sentence each

    @property
    def dataset(self) -> str:
        return self.config.dataset

    @property
    def decoder(self) -> str:
        return self.config.decoder


# ---------------------------------------------------------------------------------------------- sources
def check_source(source: str) -> str:
    """The source string itself, or a ZooError saying what a source may be (before it touches the disk)."""
    if len(source) > MAX_SOURCE_CHARS:
        raise ZooError(f"A zoo source is a folder path or a Hub repo id (owner/name) of at most {MAX_SOURCE_CHARS} "
                       f"characters; this one has {len(source)}.")
    bad = sorted({f"U+{ord(ch):04X}" for ch in source if ord(ch) < 32 or ord(ch) == 127})
    if bad:
        raise ZooError(f"A zoo source is a folder path or a Hub repo id (owner/name) without control characters; "
                       f"this one contains {', '.join(bad[:3])}.")
    return source


def is_hub_repo_id(source: str) -> bool:
    """owner/name as the Hub spells repo ids (no '..' or '--', no leading or trailing '.' or '-' in the name), and
    not an existing local path."""
    if not HUB_REPO_ID.match(source) or ".." in source or "--" in source or source[-1] in ".-":
        return False
    try:
        return not Path(source).exists()
    except (OSError, ValueError):
        return False


def resolve_source(source: str | os.PathLike | None = None, revision: str | None = None) -> Path:
    """A local folder as it is, or a Hub repo id ("owner/name") downloaded to the local cache at ``revision``.

    The Hub path is only this function: everything downstream sees a folder. Offline it raises a ZooError with
    one sentence.
    """
    source = check_source(str(source or os.environ.get(ZOO_ENV) or DEFAULT_ZOO))
    if not is_hub_repo_id(source):
        try:
            path = Path(source).expanduser()
            exists = path.is_dir()
        except (OSError, RuntimeError, ValueError):  # an unknown ~user, a name too long for the file system
            path, exists = Path(source), False
        if not exists:
            shown = str(path) if len(str(path)) <= 160 else f"{str(path)[:160]}… ({len(str(path))} characters)"
            raise ZooError(f"zoo folder {shown} does not exist; train checkpoints with train.py --zoo zoo.toml "
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


# ---------------------------------------------------------------------------------------------- config
def _read_text(path: Path) -> str:
    """The file as UTF-8 text; a ValueError naming what is wrong with it."""
    try:
        text = path.read_bytes().decode("utf-8")
    except UnicodeDecodeError:
        raise ValueError("is not UTF-8 text") from None
    except OSError as e:
        raise ValueError(f"cannot be read ({e.strerror or type(e).__name__})") from None
    if not text.strip():
        raise ValueError("is empty")
    return text


def _read_object(path: Path) -> dict:
    """A JSON object from ``path``; a ValueError naming what is wrong with it."""
    text = _read_text(path)
    try:
        value = json.loads(text)
    except json.JSONDecodeError as e:
        raise ValueError(f"is not valid JSON ({e.msg} at line {e.lineno} column {e.colno})") from None
    if not isinstance(value, dict):
        raise ValueError(f"holds {type_name(value)} where a JSON object is expected")
    return value


def _config_problem(d: dict) -> str | None:
    """What is wrong with the types or sizes of a config.json object, before a model is built from it."""
    defaults = {f.name: (f.default_factory() if callable(f.default_factory) else f.default) for f in fields(VAEConfig)}
    for key, value in d.items():
        default = defaults.get(key)
        if key not in defaults:
            return f"unknown config keys: {key}"
        if isinstance(default, list):
            if not isinstance(value, list) or not value or not all(is_int(v) and v > 0 for v in value):
                return f"{key} must be a list of positive integers, got {json.dumps(value)[:80]}"
        elif is_int(default) and not (is_int(value) and LIMITS[key].accepts(value)):
            return f"{key} must be {LIMITS[key].describe()}, got {json.dumps(value)[:80]}"
        elif isinstance(default, str) and not isinstance(value, str):
            return f"{key} must be a string, got {type_name(value)}"
        elif isinstance(default, dict):
            if not isinstance(value, dict):
                return f"{key} must be an object, got {type_name(value)}"
            odd = [k for k, v in value.items() if not (isinstance(v, bool) or (is_number(v) and math.isfinite(v)))]
            if odd:
                return f"{key}.{odd[0]} must be a finite number or a boolean"
    if d.get("dataset", defaults["dataset"]) not in DATASETS:
        return (f"unknown dataset {d['dataset']!r}; this version knows {', '.join(DATASETS)}")
    return None


def read_config(folder: Path) -> VAEConfig:
    """config.json as a VAEConfig whose model can be built (its decoder settings checked as building it would,
    without torch: vae_core.model.config); a ZooError naming the folder and the fault."""
    path = folder / CONFIG_NAME
    if not path.is_file():
        raise ZooError(f"{folder}: no {CONFIG_NAME}")
    try:
        d = _read_object(path)
    except ValueError as e:
        raise ZooError(f"{folder}: malformed {CONFIG_NAME} (it {e})") from None
    problem = _config_problem(d)
    if problem is None:
        try:
            config = VAEConfig.from_dict(d)
            problem = decoder_problem(config.decoder, config.decoder_settings)
            if problem is None:
                return config
        except (TypeError, ValueError) as e:
            problem = str(e)
        problem = problem.splitlines()[0][:200]
    raise ZooError(f"{folder}: malformed {CONFIG_NAME} ({problem})")


# ---------------------------------------------------------------------------------------------- other files
def read_evaluation(path: Path) -> tuple[Evaluation | None, list[str]]:
    """eval.json read through its schema (vae_core.files.schema.Evaluation), every value checked: (the evaluation, or
    None when the file is missing or is not a JSON object, and notes on what was wrong)."""
    if not path.exists():
        return None, []
    where = f"{path.parent.name}/{path.name}"
    try:
        ev, problems = parse_json(Evaluation, _read_text(path), where)
    except SchemaError as e:
        return None, [f"{e.problem.message}; its numbers are shown as n/a."]
    except ValueError as e:
        return None, [f"{where} {e}; its numbers are shown as n/a."]
    return ev, [p.message for p in problems]


def read_history_lines(path: Path) -> tuple[list[HistoryLine], list[str]]:
    """history.jsonl read through its schema (vae_core.files.schema.HistoryLine): one JSON object with an integer epoch
    per line. Lines that are not are skipped, values of the wrong type and non-finite numbers (a diverged epoch)
    read as missing; the notes say what was skipped."""
    if not path.exists():
        return [], []
    where = f"{path.parent.name}/{path.name}"
    try:
        text = _read_text(path)
    except ValueError as e:
        return [], [f"{where} {e}; no training curves for this model."]
    lines, skipped, dropped = [], [], []
    for number, text_line in enumerate(text.splitlines(), 1):
        if not text_line.strip():
            continue
        try:
            line, problems = parse_json(HistoryLine, text_line, f"line {number}")
        except SchemaError:  # not JSON (e.g. a partial last line from an interrupted writer), or no integer epoch
            skipped.append(f"{number} (not an object with an integer epoch)")
            continue
        if line.epoch < 0:
            skipped.append(f"{number} (not an object with an integer epoch)")
            continue
        dropped += [f"{p.path} on line {number}" for p in problems]
        lines.append(line)
    notes = []
    if skipped:
        notes.append(f"{where}: skipped line {', '.join(skipped[:3])}{' and more' if len(skipped) > 3 else ''}.")
    if dropped:
        notes.append(f"{where}: not a number, shown as missing: {', '.join(dropped[:3])}"
                     f"{' and more' if len(dropped) > 3 else ''}.")
    return lines, notes


def list_snapshots_checked(folder: Path) -> tuple[list[tuple[int, Path]], list[str]]:
    """snapshots/epoch-NNNN folders that hold weights, ascending; notes for entries that are not such folders."""
    snaps, odd = [], []
    root = folder / SNAPSHOTS_DIR
    if root.exists() and not root.is_dir():
        return [], [f"{folder.name}/{SNAPSHOTS_DIR} is a file, not a folder of snapshots; ignored."]
    for p in sorted(root.iterdir()) if root.is_dir() else []:
        digits = p.name[6:]
        if p.name.startswith("epoch-") and digits.isdigit() and digits.isascii() and (p / WEIGHTS_NAME).is_file():
            snaps.append((int(digits), p))
        elif not p.name.startswith("."):
            odd.append(p.name)
    notes = [f"{folder.name}/{SNAPSHOTS_DIR}: ignored {', '.join(odd[:3])}{' and more' if len(odd) > 3 else ''} "
             f"(a snapshot is a folder epoch-<number> holding {WEIGHTS_NAME})."] if odd else []
    return sorted(snaps), notes


def list_snapshots(folder: Path) -> list[tuple[int, Path]]:
    return list_snapshots_checked(folder)[0]


# ---------------------------------------------------------------------------------------------- checkpoints
def read_checkpoint(folder: str | os.PathLike) -> Checkpoint:
    """Read a checkpoint folder's metadata (not its weights). Raises ZooError naming the folder."""
    folder = Path(folder)
    config = _loadable(folder)
    evaluation, eval_notes = read_evaluation(folder / EVAL_NAME)
    history, history_notes = read_history_lines(folder / HISTORY_NAME)
    snapshots, snapshot_notes = list_snapshots_checked(folder)
    return Checkpoint(name=folder.name, path=folder, config=config, evaluation=evaluation, history_lines=history,
                      snapshots=snapshots, notes=eval_notes + history_notes + snapshot_notes + staging_notes(folder))


def _loadable(folder: Path) -> VAEConfig:
    """What a model needs to be loaded: a valid config.json, the weights file and a finished training."""
    config = read_config(folder)
    if not (folder / WEIGHTS_NAME).is_file():
        raise ZooError(f"{folder}: no {WEIGHTS_NAME}")
    progress = training_in_progress(folder)
    if progress:
        raise ZooError(f"{folder}: a run still in training ({progress}); it is listed once its training finishes "
                       f"(`train.py --resume`, or `train.py --zoo` for a zoo entry)")
    return config


def staging_notes(folder: Path) -> list[str]:
    """A note on a staging folder: a save that has not finished, by a run saving now or killed while saving. The
    app only names it: deleting it is the run's own recovery (``train.py --resume``), never a reader's, since a
    reader cannot tell a dead run from one saving at this moment."""
    if not (folder / STAGING_DIR).exists():
        return []
    return [f"{folder.name}/{STAGING_DIR} holds a save that never finished (a run killed while saving, or one saving "
            f"now); the files shown are those of the last finished save, and `train.py --resume` on this folder "
            f"completes or discards it."]


def training_in_progress(folder: Path) -> str | None:
    """'epoch k of n committed' when the folder's training state says its run stopped before its last epoch
    without diverging (an interrupted or running build); None for a finished run or no readable state."""
    try:
        state, _ = parse_json(TrainingState, (folder / STATE_NAME).read_text(), STATE_NAME)
    except (OSError, UnicodeDecodeError, SchemaError):
        return None
    planned = (state.train_config or {}).get("epochs")
    if state.diverged or not is_int(planned) or state.epoch >= planned:
        return None
    return f"epoch {state.epoch} of {planned} committed"


def _looks_like_checkpoint(folder: Path) -> bool:
    return any((folder / name).exists() for name in CHECKPOINT_FILES)


def zoo_folders(root: str | os.PathLike) -> list[Path]:
    """The sub-folders of ``root`` that hold any checkpoint file, sorted; a ZooError for a folder that cannot be
    listed or is too large to be a zoo. Other entries are not listed anywhere: a zoo source never shows what
    else is on the disk."""
    root = Path(root)
    try:
        entries = []
        for entry in root.iterdir():
            entries.append(entry)
            if len(entries) > MAX_ZOO_ENTRIES:
                raise ZooError(f"{root} holds more than {MAX_ZOO_ENTRIES} entries: not a zoo folder.")
        return sorted(p for p in entries if not p.name.startswith(".") and p.is_dir() and _looks_like_checkpoint(p))
    except OSError as e:
        raise ZooError(f"{root} cannot be listed ({e.strerror or type(e).__name__}).") from None


def scan(root: str | os.PathLike) -> tuple[list[Checkpoint], list[tuple[str, str]]]:
    """Every readable checkpoint under ``root`` (sorted by name), and (folder, message) for each broken one."""
    found, problems = [], []
    for folder in zoo_folders(root):
        try:
            found.append(read_checkpoint(folder))
        except ZooError as e:
            problems.append((str(folder), str(e)))
        except OSError as e:  # a file vanished or became unreadable between listing and reading
            problems.append((str(folder), f"{folder}: cannot be read ({e.strerror or type(e).__name__})"))
    return found, problems


def _check_weights(folder: Path, weights: Path, config: VAEConfig) -> None:
    """The safetensors header against the model that ``config`` (the folder's config.json) describes, before a byte
    of weights is loaded."""
    import torch
    from safetensors import safe_open

    from vae_core.model.vae import VAE

    where = f"{folder}: cannot read {weights.name}"
    if not weights.is_file():
        raise ZooError(f"{folder}: no {weights.name}")
    if weights.stat().st_size < 8:
        raise ZooError(f"{where} (the file is empty or truncated; expected a safetensors file)")
    try:
        with safe_open(str(weights), framework="pt") as f:
            shapes = {k: tuple(f.get_slice(k).get_shape()) for k in f.keys()}  # noqa: SIM118 (not a dict)
    except Exception as e:  # SafetensorError and friends: bad header, truncated, not safetensors at all
        raise ZooError(f"{where} (not a readable safetensors file: {str(e).splitlines()[0][:160]})") from None
    with torch.device("meta"):
        expected = {k: tuple(v.shape) for k, v in VAE(config).state_dict().items()}
    missing, extra = sorted(set(expected) - set(shapes)), sorted(set(shapes) - set(expected))
    wrong = [f"{k} is {list(shapes[k])}, config.json implies {list(expected[k])}" for k in expected
             if k in shapes and shapes[k] != expected[k]]
    if missing or extra or wrong:
        detail = "; ".join(([f"missing {', '.join(missing[:3])}"] if missing else [])
                           + ([f"unexpected {', '.join(extra[:3])}"] if extra else []) + wrong[:2])
        raise ZooError(f"{folder}: weights do not match config.json ({weights.name}: {detail[:300]})")


def load_model(folder: str | os.PathLike, device: str | torch.device = "cpu",
               weights: str | os.PathLike | None = None) -> VAE:
    """Rebuild the model from config.json and load its safetensors strictly; every failure names the folder, and
    weights that are not finite (NaN or inf) are refused rather than drawn as blank pictures or tracebacks."""
    import torch

    from vae_core.model.vae import VAE

    folder = Path(folder)
    # config and file presence, with the folder named (not the history: loading needs none); config.json read once
    config = _loadable(folder) if weights is None else read_config(folder)
    path = Path(weights) if weights else folder / WEIGHTS_NAME
    _check_weights(folder, path, config)
    try:
        model = VAE.from_pretrained(folder, map_location=device, weights=weights, config=config)
    except ZooError:
        raise
    except RuntimeError as e:  # size mismatch, missing/unexpected keys
        first = str(e).strip().splitlines()
        raise ZooError(f"{folder}: weights do not match config.json ({path.name}: {' '.join(first[:2])[:300]})"
                       ) from None
    except Exception as e:  # truncated or corrupt safetensors, bad header, unreadable file
        raise ZooError(f"{folder}: cannot read {path.name} ({type(e).__name__}: {e})") from None
    bad = [k for k, v in model.state_dict().items() if v.is_floating_point() and not torch.isfinite(v).all()]
    if bad:
        raise ZooError(f"{folder}: {path.name} holds non-finite weights (NaN or inf) in {', '.join(bad[:3])}"
                       f"{' and more' if len(bad) > 3 else ''}")
    return model


def load_snapshot(checkpoint: Checkpoint, epoch: int, device: str | torch.device = "cpu") -> VAE:
    folders = dict(checkpoint.snapshots)
    if epoch not in folders:
        raise ZooError(f"{checkpoint.path}: no snapshot for epoch {epoch} (have {sorted(folders)})")
    return load_model(folders[epoch], device)


def read_index(root: str | os.PathLike) -> dict | None:
    """index.json, or None when it is missing or is not a JSON object."""
    try:
        return _read_object(Path(root) / INDEX_NAME) if (Path(root) / INDEX_NAME).is_file() else None
    except ValueError:
        return None


def read_evaluation_whole(path: Path) -> Evaluation:
    """eval.json read through its schema for a writer that rewrites it or builds on it (a best estimate added, the
    index): every value must have its type, since rewriting would turn a damaged value into null unsaid. Anything
    else is a ValueError of one sentence naming the file and the fields at fault."""
    name = path.parent.name
    again = f"restore it, or delete it and evaluate again with train.py --zoo zoo.toml --only {name}"
    if not path.is_file():
        raise ValueError(f"{path} does not exist; evaluate {name} first with train.py --zoo zoo.toml --only {name}")
    try:
        ev, problems = parse_json(Evaluation, path.read_text(), str(path))
    except UnicodeDecodeError:
        raise ValueError(f"{path} is not UTF-8 text; {again}") from None
    except SchemaError as e:
        raise ValueError(f"{e.problem.message}; {again}") from None
    if ev.schema_version > SCHEMA_VERSION:
        raise ValueError(f"{path} was written by a newer version (schema {ev.schema_version}, this one writes "
                         f"{SCHEMA_VERSION}); use that version to rewrite it")
    if problems:
        at = ", ".join(p.path for p in problems[:3]) + (f" and {len(problems) - 3} more" if len(problems) > 3 else "")
        raise ValueError(f"{path} holds a value of the wrong type at {at} (see vae_core.files.schema.Evaluation for "
                         f"each field's type); {again}")
    return ev
