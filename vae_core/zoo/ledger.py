"""The Burda ledger (issue 13): test NLL against epoch, updates and training time for every schedule tried on Burda
et al. 2016's Table 1 model, so a speed-up is a curve rather than a claim.

``docs/burda_ledger.json`` is the record, one row per (schedule, epoch), written by ``scripts/burda_ledger.py``.
It is shown twice, from the same rows: as ``docs/burda_ledger.md`` and on the model card of the zoo entry each row
names (its ``model`` key).

``docs/binarizations.json`` records a binary model's test NLL on other binarizations of the test set (another draw
is another test set), one row per (model, seed, k, images), written by ``vae_core.zoo.binarizations`` (``python -m
scripts.binarizations``): the spread a redraw gives, shown beside the zoo's own number.
"""
from __future__ import annotations

import hashlib
import json
import statistics
from pathlib import Path

from vae_core.files.names import BINARIZATIONS_JSON, LEDGER_JSON, WEIGHTS_NAME
from vae_core.files.schema import Evaluation
from vae_core.training.schedules import SCHEDULES

IWAE_K, IWAE_IMAGES = 5000, 1000
PAPER_NLL = 86.76  # Burda et al. 2016, Table 1: VAE, k = 1, one stochastic layer, 784-200-200-50
PAPER_EPOCHS = sum(SCHEDULES["burda"].stage_epochs)
NOISE = 2  # standard errors within which an entry's test NLL cannot be told from Table 1's (verdict_sentence)
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
    return _read_rows(path, ROW_KEYS, "ledger")


def _read_rows(path: Path, keys: tuple[str, ...], what: str) -> list[dict]:
    """A JSON list of rows, each holding ``keys`` ([] where there is no file); anything else is a ValueError of one
    sentence naming the ``what`` (ledger, record) and what is wrong with it."""
    if not path.is_file():
        return []
    try:
        rows = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise ValueError(f"{path} is not a readable JSON {what} ({e}); restore it from git") from None
    if not isinstance(rows, list) or not all(isinstance(r, dict) for r in rows):
        raise ValueError(f"{path} is not a list of {what} rows; restore it from git")
    for i, row in enumerate(rows):
        missing = [k for k in keys if k not in row]
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


def entries(checkpoints: list, rows: list[dict]) -> list:
    """The evaluated zoo checkpoints (zoo.checkpoints.Checkpoint) that ledger rows name: the Burda entries."""
    named = {r.get("model") for r in rows}
    return [c for c in checkpoints if c.evaluation is not None and c.name in named]


def verdict_sentence(evaluations: list[Evaluation]) -> str | None:
    """Whether Table 1's test NLL is reached, by the Burda entry with the lowest -IWAE on its whole test set
    (eval.json): reached, or not, where the two differ by more than ``NOISE`` standard errors of the entry's
    estimate; nearer than that the sentence says so. None when no entry was scored on its whole test set."""
    scored = [ev for ev in evaluations if ev.test is not None and ev.test.iwae is not None
              and ev.test.iwae_stderr is not None and ev.test.iwae_images == ev.test.num_images]
    if not scored:
        return None
    ev = min(scored, key=lambda e: -e.test.iwae)
    t = ev.test
    nll, se = -t.iwae, t.iwae_stderr
    gap = nll - PAPER_NLL
    side = f"{abs(gap):.2f} nats {'above' if gap > 0 else 'below'} it"
    verdict = ("is matched within the noise" if abs(gap) <= NOISE * se else
               "is not reached" if gap > 0 else "is reached")
    epochs = f" ({ev.training.epochs:,} epochs)" if ev.training is not None and ev.training.epochs else ""
    return (f"Table 1's {PAPER_NLL} {verdict}: the best entry, {ev.name}{epochs}, reads {nll:.2f} ± {se:.2f} on all "
            f"{t.iwae_images:,} test images (k = {t.iwae_k:,}), {side}, {abs(gap) / se:.1f} standard errors.")


def progress_sentences(rows: list[dict], ev: Evaluation) -> list[str]:
    """What the ledger's rows of zoo entry ``ev`` show, read from the rows and eval.json: the subset NLL as training
    went, the active units, the subset against the full test set, and where the tail at the last learning rate
    would meet the target if it went on (two extrapolations, named as such); [] without rows or a test IWAE."""
    import math

    own = sorted((r for r in rows if r.get("model") == ev.name), key=lambda r: r["epoch"])
    if not own or ev.test is None or ev.test.iwae is None:
        return []
    curve = ", ".join(f"{r['nll']:.2f} at {r['epoch']:,}" for r in own)
    peak = max(own, key=lambda r: r["active_units"])
    final = own[-1]["active_units"]
    since = next(r["epoch"] for i, r in enumerate(own) if all(s["active_units"] == final for s in own[i:]))
    said = [f"The ledger's rows for {ev.name} (test NLL on the subset, at epoch): {curve}; active units peak at "
            f"{peak['active_units']} of {peak['latent_dim']} at epoch {peak['epoch']:,} and stay at {final} from "
            f"epoch {since:,}."] if len(own) > 1 else []
    full, last = -ev.test.iwae, own[-1]
    apart = full - last["nll"]
    target = PAPER_NLL - apart
    said.append(f"At epoch {last['epoch']:,} the subset reads {last['nll']:.2f} against {full:.2f} on all "
                f"{ev.test.iwae_images:,} test images, {apart:.2f} nats apart, so on the subset's scale the target is "
                f"about {target:.2f}.")
    tail = [r for r in own if math.isclose(r["lr"], own[-1]["lr"], rel_tol=1e-6)]
    if len(tail) >= 3 and last["nll"] > target:
        x = [math.log(r["epoch"]) for r in tail]
        y = [r["nll"] for r in tail]
        mx, my = sum(x) / len(x), sum(y) / len(y)
        slope = sum((a - mx) * (b - my) for a, b in zip(x, y, strict=True)) / sum((a - mx) ** 2 for a in x)
        residual = max(abs(b - (my + slope * (a - mx))) for a, b in zip(x, y, strict=True))
        at_rate = math.exp(mx + (target - my) / slope)
        per_epoch = (tail[-1]["nll"] - tail[-2]["nll"]) / (tail[-1]["epoch"] - tail[-2]["epoch"])
        linear = tail[-1]["epoch"] + (target - tail[-1]["nll"]) / per_epoch
        said.append(f"From epoch {tail[0]['epoch']:,} on (learning rate {tail[0]['lr']:.0e}) the subset NLL fell by "
                    f"{-slope:.2f} nats per e-fold of epochs (least squares over those {len(tail)} rows, residuals "
                    f"under {residual:.2f}); going on at that rate it would reach {target:.2f} near epoch "
                    f"{at_rate:,.0f}, {at_rate / PAPER_EPOCHS:.0%} of the paper's passes; at the last segment's rate "
                    f"per epoch ({tail[-2]['epoch']:,} to {tail[-1]['epoch']:,}) near epoch {linear:,.0f}, "
                    f"{linear / PAPER_EPOCHS:.0%}: {linear - last['epoch']:,.0f} to {at_rate - last['epoch']:,.0f} "
                    f"more epochs. Both are extrapolations, not measurements.")
    if ev.training is not None and ev.training.seconds:
        said.append(f"Its {ev.training.epochs:,} epochs took {ev.training.seconds / 3600:.1f} hours (eval.json's "
                    f"training.seconds, the epochs' wall-clock seconds summed) and its evaluation "
                    f"{(ev.evaluation_seconds or 0) / 60:.0f} minutes (evaluation_seconds).")
    return said


# ------------------------------------------------------------------------------- other binarizations of the test set
BINARIZATION_KEYS = ("model", "seed", "k", "images")  # what makes a row the same measurement
BINARIZATION_ROW = (*BINARIZATION_KEYS, "nll", "nll_stderr", "seconds", "weights_sha256")


def weights_digest(folder: Path) -> str:
    """The sha256 of a checkpoint's weights: a row scored on other weights says nothing about these."""
    return hashlib.sha256((Path(folder) / WEIGHTS_NAME).read_bytes()).hexdigest()


def read_binarizations(path: Path = BINARIZATIONS_JSON) -> list[dict]:
    """The rows of the binarization record ([] where there is none); a damaged file is a ValueError of one
    sentence."""
    return _read_rows(path, BINARIZATION_ROW, "record")


def spread(rows: list[dict]) -> dict:
    """Across the seeds of one (model, k, images): the range and the standard deviation of the NLL."""
    nll = [r["nll"] for r in rows]
    return {"seeds": [r["seed"] for r in rows], "min": min(nll), "max": max(nll), "range": max(nll) - min(nll),
            "sd": statistics.stdev(nll) if len(nll) > 1 else float("nan")}


def binarization_sentence(ev: Evaluation, digest: str, rows: list[dict]) -> str | None:
    """A binary entry's test NLL (-IWAE, from eval.json) beside the same measurement on other binarizations of the
    test set, from rows scored on these weights (``digest``) at the same k and images; None without such rows."""
    t = ev.test
    if t is None or t.iwae is None:
        return None
    own = sorted((r for r in rows if r["model"] == ev.name and r["weights_sha256"] == digest and r["seed"] != 0
                  and (r["k"], r["images"]) == (t.iwae_k, t.iwae_images)), key=lambda r: r["seed"])
    if not own:
        return None
    s = spread(own)
    draws = "another binarization" if len(own) == 1 else f"{len(own)} other binarizations"
    sd = f", standard deviation {s['sd']:.2f}" if len(own) > 1 else ""
    return (f"{ev.name} on {draws} of the test set (seeds {', '.join(map(str, s['seeds']))}; the zoo's own is seed "
            f"0): test NLL {s['min']:.2f} to {s['max']:.2f}{sd} (each ± {max(r['nll_stderr'] for r in own):.2f} or "
            f"less), against {-t.iwae:.2f} on seed 0 and Table 1's {PAPER_NLL}.")
