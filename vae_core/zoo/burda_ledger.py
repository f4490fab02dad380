"""The Burda ledger: test NLL against epoch, updates and training time for every schedule tried on Burda et al.
2016's Table 1 model (issue 13), so a speed-up is a curve rather than a claim.

Each row is one (run, epoch): the weights of a snapshot (snapshots/epoch-NNNN) or the run's current weights,
scored by IWAE (Burda et al. 2016, eq. 8) with k = 5,000 on a fixed subset of MNIST's test set
(``fixed_test_input(test, "binary", seed=0)[:1000]``, the first 1,000 of the images vae_core.zoo.evaluate scores),
its standard error over those images, and the active units (Burda et al. 2016, section 5.2: Cov_x E_q[z_u] > 0.01)
over the whole binarized test set. The JSON ledger (vae_core/zoo/ledger.py) is the record (rows are added, never
rewritten unless --force); the markdown tables are generated from it, and so is the ledger section of the model card
of the zoo entry a row names (``model``), rewritten when rows are added.

    OMP_NUM_THREADS=1 python -m scripts.burda_ledger runs/RUN --model mnist-bernoulli-burda-third  # while training
    python -m scripts.burda_ledger checkpoints/mnist-bernoulli-burda --label "constant 1e-3, batch 128"
    python -m scripts.burda_ledger checkpoints/mnist-bernoulli-burda-third --epochs 40,121 --force  # redo two rows
    python -m scripts.burda_ledger checkpoints/mnist-bernoulli-burda-third --device cuda  # IWAE draws on the CPU

Rows record the device they were scored on (``eval_device``; rows without it were scored on the CPU): IWAE draws
its noise on the CPU either way, so a GPU row differs from a CPU row by float rounding only.
"""
from __future__ import annotations

import argparse
import json
import time
from datetime import UTC, datetime
from pathlib import Path

import torch

from vae_core.base.data import DataError, fixed_test_input, load_split
from vae_core.base.devices import add_device_option, resolve_device
from vae_core.evaluation.metrics import active_units, iwae_log_likelihood, mean_and_stderr, posterior_means
from vae_core.files.names import (
    DEFAULT_SPEC,
    DEFAULT_ZOO,
    EVAL_NAME,
    HISTORY_NAME,
    LEDGER_JSON,
    SNAPSHOTS_DIR,
    STATE_NAME,
    WEIGHTS_NAME,
)
from vae_core.files.schema import HistoryLine
from vae_core.model.vae import VAE, load_config
from vae_core.training.run_folder import CheckpointError, read_state
from vae_core.training.schedules import SCHEDULES
from vae_core.zoo.cards import rewrite_card
from vae_core.zoo.checkpoints import read_evaluation_whole, read_history_lines
from vae_core.zoo.ledger import IWAE_IMAGES, IWAE_K, PROTOCOL, ledger_tables, read_ledger
from vae_core.zoo.spec import read_spec


def run_settings(folder: Path) -> dict:
    """The training settings that name a schedule: from training_state.json (vae_core.files.schema.TrainingState; older
    runs lack the newer fields). A damaged state is a CheckpointError naming the file."""
    state = read_state(folder)
    if state is None:
        raise CheckpointError(f"{folder} holds no {STATE_NAME}, so it is not a train.py run folder or zoo checkpoint")
    cfg = state.train_config or {}
    return {"lr_schedule": cfg.get("lr_schedule", "constant"), "lr": cfg.get("lr"),
            "batch_size": cfg.get("batch_size"), "adam_eps": cfg.get("adam_eps", 1e-8), "epoch": state.epoch}


def default_label(s: dict) -> str:
    return f"{s['lr_schedule']} (lr {s['lr']:g}, batch {s['batch_size']}, Adam eps {s['adam_eps']:g})"


def weights_at(folder: Path, current_epoch: int) -> dict[int, Path]:
    """epoch -> the folder whose model.safetensors holds that epoch's weights (snapshots, then the current ones)."""
    found = {}
    for snap in sorted((folder / SNAPSHOTS_DIR).glob("epoch-*")):
        if (snap / WEIGHTS_NAME).is_file() and snap.name[6:].isdigit():
            found[int(snap.name[6:])] = snap
    found[current_epoch] = folder
    return found


def score(model: VAE, x: torch.Tensor, all_x: torch.Tensor, k: int) -> dict:
    """-IWAE_k in nats (mean and standard error over the images of x) and the active units over all_x."""
    torch.manual_seed(0)
    nll, se = mean_and_stderr(-iwae_log_likelihood(model, x, k=k, seed=0))
    units, _ = active_units(posterior_means(model, all_x))
    return {"nll": nll, "nll_stderr": se, "active_units": units, "latent_dim": model.config.latent_dim}


def load_weights(folder: Path, epoch: int, weights: Path, device: str | torch.device = "cpu") -> VAE:
    """The model of that epoch, on ``device``; for the current weights of a run still training, checked to be that
    epoch's (the trainer may commit the next epoch while they are read)."""
    model = VAE.from_pretrained(weights, map_location=device)
    if weights == folder and run_settings(folder)["epoch"] != epoch:
        raise RuntimeError(f"{folder} committed another epoch while its weights were read; run the ledger again")
    return model


def ledger_row(folder: Path, epoch: int, weights: Path, label: str, settings: dict, history: list[HistoryLine],
               x: torch.Tensor, all_x: torch.Tensor, k: int) -> dict:
    """One row; the model is scored on the device x is on."""
    upto = [r for r in history if r.epoch <= epoch]
    start = time.perf_counter()
    result = score(load_weights(folder, epoch, weights, x.device), x, all_x, k)
    seconds = [r.seconds for r in upto]
    lr = upto[-1].lr if upto and upto[-1].lr is not None else SCHEDULES[settings["lr_schedule"]].lr(
        settings["lr"], epoch)
    return {"schedule": label, "run": str(folder), "epoch": epoch,
            "updates": sum(r.steps or 0 for r in upto),
            "train_seconds": sum(seconds) if all(s is not None for s in seconds) else None,
            **{k: v for k, v in settings.items() if k != "epoch"}, "lr": lr, "epoch_of_run": settings["epoch"],
            "weights": "snapshot" if weights != folder else "current", **result, "iwae_k": k,
            "images": len(x), "active_units_images": len(all_x),
            "eval_seconds": round(time.perf_counter() - start, 1), "eval_device": x.device.type,
            "evaluated": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")}


def write_markdown(rows: list[dict], path: Path) -> None:
    """The ledger as tables, one per schedule, epochs ascending."""
    path.write_text("\n".join(["# The Burda ledger (issue 13)", "", f"{PROTOCOL} Generated by "
                               "`python -m scripts.burda_ledger` from `docs/burda_ledger.json`; do not edit.", "",
                               *ledger_tables(rows)]))


def card_folder(folder: Path, model: str | None, ledger: Path) -> Path | None:
    """The evaluated checkpoint whose model card shows ``model``'s rows: the scored folder itself, or the shipped
    checkpoint of that name. A trial ledger (--ledger elsewhere) never rewrites a shipped card."""
    for candidate in (folder, DEFAULT_ZOO / str(model)):
        if model and candidate.name == model and (candidate / EVAL_NAME).is_file():
            shipped = candidate.resolve().parent == DEFAULT_ZOO
            return None if shipped and ledger.resolve() != LEDGER_JSON else candidate
    return None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run", help="a run folder (train.py --out) or a shipped checkpoint holding training_state.json")
    parser.add_argument("--epochs", default=None, help="comma-separated epochs (default: every snapshot and the "
                                                       "current weights)")
    parser.add_argument("--label", default=None, help="the schedule's name in the ledger (default: from the run)")
    parser.add_argument("--model", default=None, help="the zoo.toml entry whose model card lists these rows "
                                                      "(default: the one the run's earlier rows name, else the "
                                                      "folder's name for a checkpoint with an eval.json)")
    parser.add_argument("--k", type=int, default=IWAE_K, help="importance samples per image")
    parser.add_argument("--images", type=int, default=IWAE_IMAGES, help="test images scored by IWAE")
    parser.add_argument("--ledger", default=str(LEDGER_JSON), help="the JSON ledger (the .md is written beside it)")
    parser.add_argument("--data-dir", default=None, help="folder with mnist/ IDX files ($VAE_ZOO_DATA)")
    parser.add_argument("--force", action="store_true", help="re-evaluate rows already in the ledger")
    add_device_option(parser, "score")
    args = parser.parse_args(argv)
    try:
        device = resolve_device(args.device)
    except ValueError as e:
        parser.error(str(e))
    folder, ledger = Path(args.run), Path(args.ledger)
    if not (folder / STATE_NAME).is_file():
        parser.error(f"{folder} holds no {STATE_NAME}, so it is not a train.py run folder or zoo checkpoint")
    config = load_config(folder)
    if (config.dataset, config.decoder) != ("mnist", "bernoulli"):
        parser.error(f"{folder} is a {config.dataset} {config.decoder} model; the Burda ledger scores Bernoulli "
                     f"models of binarized MNIST only")
    if args.k < 1 or not 1 <= args.images <= 10_000:
        parser.error(f"--k must be at least 1 and --images between 1 and 10000, got {args.k} and {args.images}")
    try:
        settings = run_settings(folder)
    except CheckpointError as e:
        parser.error(str(e))
    available = weights_at(folder, settings["epoch"])
    try:
        wanted = sorted(available) if args.epochs is None else sorted({int(e) for e in args.epochs.split(",")})
    except ValueError:
        parser.error(f"--epochs must be comma-separated whole numbers, got {args.epochs!r}")
    missing = [e for e in wanted if e not in available]
    if missing:
        parser.error(f"{folder} has no weights for epoch(s) {', '.join(map(str, missing))}; it has "
                     f"{', '.join(map(str, sorted(available)))} (snapshots and its current epoch)")
    if args.model is not None and args.model not in {e["name"] for e in read_spec(DEFAULT_SPEC)}:
        parser.error(f"--model {args.model!r} is not an entry of {DEFAULT_SPEC.name}")
    try:
        rows = read_ledger(ledger)
    except ValueError as e:
        parser.error(str(e))
    model = args.model or next((r["model"] for r in rows if r["run"] == str(folder) and r.get("model")), None) or (
        folder.name if (folder / EVAL_NAME).is_file() else None)
    card = card_folder(folder, model, ledger)
    if card is not None:
        try:  # the card is rewritten after the rows are saved: a damaged eval.json is refused before any work
            read_evaluation_whole(card / EVAL_NAME)
        except ValueError as e:
            parser.error(str(e))
    label = args.label or default_label(settings)
    done = {(r["schedule"], r["epoch"]) for r in rows if r["images"] == args.images and r["iwae_k"] == args.k}
    todo = [e for e in wanted if args.force or (label, e) not in done]
    if not todo:
        if rows:
            write_markdown(rows, ledger.with_suffix(".md"))  # regenerated, so the tables follow this script
        if card is not None:
            rewrite_card(card, ledger)
        print(f"every asked epoch of {label} is already in {ledger}; nothing to do (--force redoes them)")
        return 0
    try:
        test, _ = load_split("mnist", "test", args.data_dir)
    except DataError as e:
        parser.error(str(e))
    all_x = fixed_test_input(test, "binary", seed=0).to(device)  # (10000, 1, 28, 28), moved once
    x = all_x[:args.images]  # (images, 1, 28, 28)
    history, _ = read_history_lines(folder / HISTORY_NAME)  # unreadable lines are not epochs: left out
    for epoch in todo:
        row = {**ledger_row(folder, epoch, available[epoch], label, settings, history, x, all_x, args.k),
               "model": model}
        rows = [r for r in rows if not (r["schedule"] == label and r["epoch"] == epoch and r["images"] == args.images
                                        and r["iwae_k"] == args.k)] + [row]
        ledger.parent.mkdir(parents=True, exist_ok=True)
        tmp = ledger.with_suffix(".json.tmp")
        tmp.write_text(json.dumps(rows, indent=1) + "\n")
        tmp.replace(ledger)  # one row at a time: an interrupted ledger run keeps the rows it finished
        write_markdown(rows, ledger.with_suffix(".md"))
        if card is not None:
            rewrite_card(card, ledger)
        hours = "n/a" if row["train_seconds"] is None else f"{row['train_seconds'] / 3600:.3g} h"
        print(f"{label} epoch {epoch}: NLL {row['nll']:.2f} ± {row['nll_stderr']:.2f} (k={args.k}, {len(x)} images), "
              f"{row['active_units']} active units, {row['updates']:,} updates, {hours} training; "
              f"{row['eval_seconds']:.0f} s to evaluate", flush=True)
    return 0

