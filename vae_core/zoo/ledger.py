"""The Burda ledger (issue 13): test NLL against epoch, updates and training time for every schedule tried on Burda
et al. 2016's Table 1 model, so a speed-up is a curve rather than a claim.

``docs/burda_ledger.json`` is the record, one row per (schedule, epoch), written by ``scripts/burda_ledger.py``.
It is shown twice, from the same rows: as ``docs/burda_ledger.md`` and on the model card of the zoo entry each row
names (its ``model`` key).
"""
from __future__ import annotations

import json
from pathlib import Path

from vae_core.files.names import LEDGER_JSON
from vae_core.files.schema import Evaluation
from vae_core.training.schedules import SCHEDULES

IWAE_K, IWAE_IMAGES = 5000, 1000
PAPER_NLL = 86.76  # Burda et al. 2016, Table 1: VAE, k = 1, one stochastic layer, 784-200-200-50
PAPER_EPOCHS = sum(SCHEDULES["burda"].stage_epochs)
# what the tables and the script read from every row
ROW_KEYS = ("schedule", "run", "epoch", "updates", "train_seconds", "lr", "nll", "nll_stderr", "active_units",
            "latent_dim", "weights", "iwae_k", "images")
PROTOCOL = (f"Test NLL = -IWAE (k = {IWAE_K:,}) on a fixed {IWAE_IMAGES:,}-image subset of binarized MNIST test "
            f"(`fixed_test_input(test, 'binary', seed=0)[:{IWAE_IMAGES}]`), ± its standard error over the images; "
            f"an upper bound on the true NLL. Target: Burda et al. 2016, Table 1 (VAE, k = 1): {PAPER_NLL} nats "
            f"on the full test set after {PAPER_EPOCHS:,} epochs. Active units: Cov_x E_q[z_u] > 0.01 over all "
            "10,000 test images. Updates: optimizer steps. Training seconds: the sum of history.jsonl's per-epoch "
            "`seconds` (wall clock of one-thread training on a shared 2-core machine: an upper bound on its CPU "
            "time).")


def read_ledger(path: Path = LEDGER_JSON) -> list[dict]:
    """The ledger's rows ([] where there is no ledger); a damaged file is a ValueError of one sentence."""
    if not path.is_file():
        return []
    try:
        rows = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise ValueError(f"{path} is not a readable JSON ledger ({e}); restore it from git") from None
    if not isinstance(rows, list) or not all(isinstance(r, dict) for r in rows):
        raise ValueError(f"{path} is not a list of ledger rows; restore it from git")
    for i, row in enumerate(rows):
        missing = [k for k in ROW_KEYS if k not in row]
        if missing:
            raise ValueError(f"{path}: row {i} lacks {', '.join(missing)}; restore it from git")
    return rows


def ledger_tables(rows: list[dict], heading: str = "##") -> list[str]:
    """Markdown lines: one table per schedule under a ``heading`` of its name, in the order first met, epochs
    ascending."""
    lines = []
    for label in dict.fromkeys(r["schedule"] for r in rows):
        group = sorted((r for r in rows if r["schedule"] == label), key=lambda r: r["epoch"])
        lines += [f"{heading} {label}", "", f"run: `{group[0]['run']}`", "",
                  "| epoch | updates | training hours | lr | test NLL (nats) | active units | weights |",
                  "|---:|---:|---:|---:|---:|---:|---|"]
        for r in group:
            hours = "n/a" if r["train_seconds"] is None else f"{r['train_seconds'] / 3600:.3g}"
            other = "" if (r["iwae_k"], r["images"]) == (IWAE_K, IWAE_IMAGES) else \
                f" (k = {r['iwae_k']}, {r['images']} images)"
            lines.append(f"| {r['epoch']} | {r['updates']:,} | {hours} | {r['lr']:.3g} | {r['nll']:.2f} ± "
                         f"{r['nll_stderr']:.2f}{other} | {r['active_units']} / {r['latent_dim']} | {r['weights']} |")
        lines.append("")
    return lines


def card_section(model: str, path: Path = LEDGER_JSON) -> str:
    """The model card's ledger section for zoo entry ``model`` ('' when no row names it)."""
    rows = [r for r in read_ledger(path) if r.get("model") == model]
    if not rows:
        return ""
    return "\n".join(["", "## Training ledger", "", PROTOCOL, "", *ledger_tables(rows, heading="###")])


def target_sentence(ev: Evaluation) -> str | None:
    """How far a zoo entry's test NLL (-IWAE, from its eval.json) lies from Burda et al.'s Table 1 (PAPER_NLL);
    None without a test IWAE."""
    t, epochs = ev.test, (ev.training.epochs if ev.training else None)
    if t is None or t.iwae is None or t.iwae_stderr is None or not epochs:
        return None
    nll = -t.iwae
    gap = nll - PAPER_NLL
    where = f"{gap:.2f} nats above" if gap > 0 else f"{-gap:.2f} nats below"
    return (f"{ev.name} ({epochs:,} epochs, {epochs / PAPER_EPOCHS:.0%} of the paper's {PAPER_EPOCHS:,}): test NLL "
            f"{nll:.2f} ± {t.iwae_stderr:.2f} (-IWAE, k = {t.iwae_k:,}, {t.iwae_images:,} test images: an upper "
            f"bound), {where} Table 1's {PAPER_NLL}; {t.active_units} of {ev.latent_dim} units active.")
