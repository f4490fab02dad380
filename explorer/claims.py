"""The zoo's claims as data: each sentence the findings (``CLAIMS_DOC``) or the app states about the shipped zoo as a
whole is built here from the checkpoints' files, so it says where it holds and where it does not, and
tests/test_claims.py checks that the findings still say what the files say. Pure functions of checkpoints and
numbers: no Streamlit (the static site and the scripts call them too). `python -m scripts.instrument_numbers` and
`python -m scripts.findings_table` print them for ``CLAIMS_DOC``."""
from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from explorer import findings_tables, raw_runs, tables
from explorer.compute.drawing import prepare_drawing
from vae_core.evaluation.judge import (
    AIS,
    AIS_CHOICES,
    FAR_BELOW_IWAE,
    QUADRATURE,
    ais_run,
    has_sandwich,
    misses_bdmc_target,
    sandwich_not_finite,
    where_not_finite,
)
from vae_core.files.schema import or_nan
from vae_core.model.config import MLP, NETWORK_NAMES, twin_suffix
from vae_core.zoo.checkpoints import Checkpoint

if TYPE_CHECKING:  # the claims on models import torch where they run one: the Overview's sentences do without it
    from vae_core.model.vae import VAE

# The document whose sentences and tables are rendered from the zoo (the scripts above print them; the test reads it)
CLAIMS_DOC = Path("docs") / "findings.md"
APP_DOC = Path("docs") / "app.md"  # the app's long text: its sentence on one image's gap is rendered here too
CANVAS_SIDE = 280  # px: the Draw canvas (explorer.canvas.SIDE)


# ------------------------------------------------------------------------------------------------ a blank canvas
@dataclass(frozen=True)
class BlankVerdict:
    name: str
    network: str       # its name for a reader (NETWORK_NAMES)
    latent_dim: int
    blank_elbo: float  # nats: the ELBO of a blank canvas (16 draws of z, seed 0), as the Draw verdict computes it
    test_elbo: float   # nats: the test set's mean ELBO from eval.json; nan when it has none

    @property
    def outscores(self) -> bool | None:
        """Does the blank canvas score above the test set's mean? None when there is no test-set ELBO."""
        return None if not math.isfinite(self.test_elbo) else self.blank_elbo > self.test_elbo


def blank_image() -> np.ndarray:
    """The Draw canvas before anything is drawn, as every model sees it: (28, 28) uint8."""
    return prepare_drawing(None, None, CANVAS_SIDE, CANVAS_SIDE).image


def mean_test_elbo(ckpt: Checkpoint) -> float:
    """The test set's mean ELBO from eval.json; nan when it has none."""
    test = ckpt.evaluation.test if ckpt.evaluation is not None else None
    return or_nan(test.elbo if test is not None else None)


def blank_verdict(ckpt: Checkpoint, model: VAE) -> BlankVerdict:
    from explorer.compute import latent

    elbo = float(latent.reconstruct(model, blank_image()[None], seed=0)["elbo"][0])
    return BlankVerdict(ckpt.name, NETWORK_NAMES[ckpt.config.network], ckpt.config.latent_dim, elbo,
                        mean_test_elbo(ckpt))


def _names(names: list[str]) -> str:
    return ", ".join(names[:-1]) + f" and {names[-1]}" if len(names) > 1 else names[0]


def blank_canvas_sentence(verdicts: list[BlankVerdict]) -> str:
    """Where a blank canvas outscores real images (its ELBO above the test set's mean ELBO), by architecture and
    dataset, with the models where it does not named."""
    judged = [v for v in verdicts if v.outscores is not None]
    if not judged:
        return "No model of the zoo has a test-set ELBO to compare a blank canvas with."
    wins = sum(bool(v.outscores) for v in judged)
    parts = []
    keys = sorted({(v.network, dataset_of(v.name)) for v in judged},
                  key=lambda k: (k[0] != NETWORK_NAMES[MLP], k[1] != "mnist", k))
    for network, dataset in keys:
        own = [v for v in judged if v.network == network and dataset_of(v.name) == dataset]
        lose = [v.name for v in own if not v.outscores]
        latents = sorted({v.latent_dim for v in own})
        what = f"{network} models of {dataset}" + (
            f" (latent {latents[0]})" if len(latents) == 1 else "")
        if not lose:
            parts.append(f"all {len(own)} {what}")
        elif len(lose) == len(own):
            parts.append(f"none of the {len(own)} {what}")
        else:
            parts.append(f"{len(own) - len(lose)} of the {len(own)} {what}, not {_names(lose)}")
    sentence = (f"A blank canvas scores a higher ELBO than the test set's mean under {wins} of the {len(judged)} "
                f"models with a test-set ELBO: {'; '.join(parts)}.")
    unjudged = [v.name for v in verdicts if v.outscores is None]
    if unjudged:
        sentence += f" {_names(unjudged)} {'has' if len(unjudged) == 1 else 'have'} no test-set ELBO to compare."
    return sentence


def drawing_sentence(scores: list[tuple[str, float, float]]) -> str:
    """(model, this image's ELBO, the test set's mean ELBO) per model shown -> under which of them this image
    scores above the test set's mean, as measured."""
    judged = [(n, e, t) for n, e, t in scores if math.isfinite(e) and math.isfinite(t)]
    above = [n for n, e, t in judged if e > t]
    below = [n for n, e, t in judged if e <= t]
    if not judged:
        return "No model shown has a test-set mean ELBO to compare this image with."
    if not below:
        return f"This image scores above the test set's mean ELBO under every model shown ({_names(above)})."
    if not above:
        return f"This image scores below the test set's mean ELBO under every model shown ({_names(below)})."
    return (f"This image scores above the test set's mean ELBO under {_names(above)}, and below it under "
            f"{_names(below)}.")


def dataset_of(name: str) -> str:
    """The dataset a checkpoint's name starts with (zoo.toml's naming: "<dataset>-<decoder>...")."""
    from vae_core.base.data import DATASETS

    return max((d for d in DATASETS if name.startswith(f"{d}-")), key=len, default=name.split("-")[0])


# ------------------------------------------------------------------------------------------ likelihood against samples
FDS = {"FD samples": "full samples", "FD sample means": "decoder means"}  # leaderboard column -> what it measures


def bits(row: pd.Series) -> tuple[float, str]:
    """bits/dim of a leaderboard row and what it comes from: the best estimate, else the IWAE bound."""
    if np.isfinite(row["bits/dim"]):
        return float(row["bits/dim"]), row["estimate"]
    return float(row["bits/dim (IWAE bound)"]), "from the IWAE bound: an upper bound on bits/dim"


def fd_text(row: pd.Series) -> str:
    """Both Frechet distances of a leaderboard row, each named ("FD 702 (full samples), 792 (decoder means)")."""
    shown = [f"{row[c]:.0f} ({what})" for c, what in FDS.items() if c in row and np.isfinite(row[c])]
    return "FD " + ", ".join(shown) if shown else "no FD"


def compare_fds(worse_if_higher: pd.Series, other: pd.Series) -> dict[str, tuple[bool, float, float]]:
    """Per kind of FD both rows have: (is the first row's FD the higher, its FD, the other's)."""
    return {what: (bool(worse_if_higher[c] > other[c]), float(worse_if_higher[c]), float(other[c]))
            for c, what in FDS.items()
            if c in worse_if_higher and c in other and np.isfinite(worse_if_higher[c]) and np.isfinite(other[c])}


def _fd_numbers(found: dict[str, tuple[bool, float, float]]) -> str:
    return "; ".join(f"FD of {what} {mine:.0f} against {theirs:.0f}" for what, (_, mine, theirs) in found.items())


def ranked_pair(a: pd.Series, b: pd.Series) -> tuple[pd.Series, pd.Series, str] | None:
    """(the row with the higher likelihood, the other, "x against y bits/dim"), or None when one lacks bits/dim."""
    (bits_a, _), (bits_b, _) = bits(a), bits(b)
    if not (np.isfinite(bits_a) and np.isfinite(bits_b)):
        return None
    high, low = (a, b) if bits_a < bits_b else (b, a)
    return high, low, f"{min(bits_a, bits_b):.2f} against {max(bits_a, bits_b):.2f} bits/dim"


def pair_verdict(a: pd.Series, b: pd.Series) -> str | None:
    """"worse", "better" or "mixed": the samples of the row with the higher likelihood, by every FD both rows have
    (mixed: the full samples and the decoder means disagree); None when they cannot be compared."""
    ranked = ranked_pair(a, b)
    found = compare_fds(ranked[0], ranked[1]) if ranked else {}
    if not found:
        return None
    worse = {w for w, (higher, _, _) in found.items() if higher}
    return "worse" if len(worse) == len(found) else "better" if not worse else "mixed"


def pair_sentence(a: pd.Series, b: pd.Series) -> str:
    """What the two leaderboard rows say about likelihood against samples, as measured (either way round), by
    the FD of full samples and of decoder means; where the two disagree it says so."""
    ranked, verdict = ranked_pair(a, b), pair_verdict(a, b)
    if ranked is None or verdict is None:
        return "One of the two lacks a likelihood or a Frechet distance, so they cannot be ranked."
    high, low, likelihood = ranked
    numbers = _fd_numbers(compare_fds(high, low))
    if verdict == "worse":
        return f"{high['model']} has the higher likelihood ({likelihood}) and the worse samples ({numbers})."
    if verdict == "better":
        return (f"Here {high['model']} has both the higher likelihood ({likelihood}) and the better samples "
                f"({numbers}): on {high['dataset']} this pair does not show the gap.")
    found = compare_fds(high, low)
    worse = [w for w, (higher, _, _) in found.items() if higher]
    better = [w for w, (higher, _, _) in found.items() if not higher]
    return (f"{high['model']} has the higher likelihood ({likelihood}); its {' and '.join(worse)} are worse than "
            f"{low['model']}'s but its {' and '.join(better)} better ({numbers}): on {high['dataset']} the gap "
            f"shows in the {' and '.join(worse)} only.")


def bias_sentence(mlp: pd.Series, conv: pd.Series, network: str = "conv") -> str:
    """What the ``network`` (a NETWORK_NAMES name) changed against the MLP with the same likelihood, by each FD both
    have."""
    found = compare_fds(conv, mlp)
    if not found:
        return "One of the two has no Frechet distance yet, so their samples cannot be compared."
    worse = [w for w, (higher, _, _) in found.items() if higher]
    better = [w for w, (higher, _, _) in found.items() if not higher]
    parts = ([f"worse {' and '.join(worse)}"] if worse else []) + ([f"better {' and '.join(better)}"] if better
                                                                  else [])
    return (f"With the same likelihood, the {network} network gave {' but '.join(parts)} than the MLP "
            f"({_fd_numbers(found)}; lower is better).")




def comparable_group(frame: pd.DataFrame, ckpt_name: str) -> pd.DataFrame:
    """The leaderboard rows ``ckpt_name`` is compared with: the same dataset, data kind, architecture and latent
    size (so a 2-D, a conv or a raw-pixel model never stands in for another question)."""
    row = frame.set_index("model").loc[ckpt_name]
    same = ((frame["dataset"] == row["dataset"]) & (frame["data"] == row["data"])
            & (frame["architecture"] == row["architecture"]) & (frame["latent"] == row["latent"]))
    return frame[same]


def worst_samples_sentence(frame: pd.DataFrame, name: str) -> str:
    """Whether the model ``name`` has the worst samples among its comparable group (``comparable_group``), by the
    FD of full samples and of decoder means, with the numbers and the group named."""
    group = comparable_group(frame, name)
    row = group.set_index("model").loc[name]
    worst, not_worst = [], []
    for column, what in FDS.items():
        others = group[(group["model"] != name) & np.isfinite(group[column])]
        if others.empty or not np.isfinite(row[column]):
            continue
        runner = others.loc[others[column].idxmax()]
        if row[column] > runner[column]:
            worst.append(f"{what} (FD {row[column]:.0f}; next {runner[column]:.0f}, {runner['model']})")
        else:
            rank = int((group[column] > row[column]).sum()) + 1
            not_worst.append(f"{what} (FD {row[column]:.0f}, {rank} of {len(group)} from the worst; worst "
                             f"{runner[column]:.0f}, {runner['model']})")
    if not worst and not not_worst:
        return f"{name} has no Frechet distance to compare."
    group_name = (f"the {len(group)} {row['architecture']} models of "
                  f"{row['dataset']} on {row['data']} with latent size {row['latent']}")
    said = ([f"the worst {' and the worst '.join(worst)}"] if worst else []) + (
        [f"{'but ' if worst else ''}not the worst {' nor the worst '.join(not_worst)}"] if not_worst else [])
    return f"Among {group_name}, {name} has {' '.join(said)}."


# ------------------------------------------------------------------------------------------------ the findings
GAP_PAIR = ("gaussian-pixel", "gaussian-fixed")  # the collapsed per-pixel sigma against the calibrated sigma = 0.1


def findings(frame: pd.DataFrame) -> list[str]:
    """The findings' sentences on likelihood against samples, per dataset of the leaderboard ``frame``
    (explorer.tables.leaderboard): the gap pair (GAP_PAIR, MLP; with a 2-D latent too where the zoo has it) and
    whether the per-pixel model has the worst samples of its comparable group."""
    out = []
    for dataset in sorted(set(frame["dataset"]), key=lambda d: (d != "mnist", d)):
        rows = frame[frame["dataset"] == dataset].set_index("model", drop=False)
        for suffix, label in (("", dataset), ("-2d", f"{dataset}, 2-D latent")):
            names = [f"{dataset}-{s}{suffix}" for s in GAP_PAIR]
            if all(n in rows.index for n in names):
                out.append(f"{label}: " + pair_sentence(rows.loc[names[0]], rows.loc[names[1]]))
                if not suffix:
                    out.append(worst_samples_sentence(frame, names[0]))
    return out


# ------------------------------------------------------------------------------------------ raw pixels, kept alive
RECONSTRUCTION_MEASURES = {"mean squared error": lambda e: e.test.mse if e.test else None,
                           "FD of reconstruction means":
                               lambda e: e.frechet.reconstruction_means if e.frechet else None}
SAMPLE_MEASURES = {"full samples": lambda e: e.frechet.samples if e.frechet else None,
                   "decoder means": lambda e: e.frechet.sample_means if e.frechet else None}


def _measured(kept: Checkpoint, fixed: Checkpoint, measures: dict) -> dict[str, tuple[float, float]]:
    """what -> (kept's value, fixed's value) for each measure both eval.json files have; lower is closer."""
    out = {}
    for what, read in measures.items():
        a, b = (or_nan(read(c.evaluation)) if c.evaluation else math.nan for c in (kept, fixed))
        if math.isfinite(a) and math.isfinite(b):
            out[what] = (a, b)
    return out


def _direction(found: dict[str, tuple[float, float]], lower: str, higher: str) -> str | None:
    """``lower`` when kept is below fixed on every measure, ``higher`` when above on every one, "mixed" else."""
    if not found:
        return None
    below = [a < b for a, b in found.values()]
    return lower if all(below) else higher if not any(below) else "mixed"


def raw_heading(kept: Checkpoint, fixed: Checkpoint) -> str | None:
    """The raw-pixel step's heading as measured: the kept-alive per-pixel run's reconstructions and samples
    against the constant sigma's on the same pixels; None without both measured."""
    rec = _direction(_measured(kept, fixed, RECONSTRUCTION_MEASURES), "closer", "further")
    smp = _direction(_measured(kept, fixed, SAMPLE_MEASURES), "better", "worse")
    if rec is None or smp is None:
        return None
    return f"Raw pixels, per-pixel sigma kept alive: reconstructions {rec}, samples {smp}"


def raw_sentence(kept: Checkpoint, fixed: Checkpoint) -> str:
    """What the kept-alive per-pixel run shows against the constant sigma on the same raw pixels, with numbers:
    its reconstructions (MSE, FD of reconstruction means) and its samples (FD of full samples and decoder means)."""
    rec, smp = _measured(kept, fixed, RECONSTRUCTION_MEASURES), _measured(kept, fixed, SAMPLE_MEASURES)
    if not rec or not smp:
        return f"{kept.name} or {fixed.name} lacks the reconstruction or sample measures to compare."
    return (f"{kept.name} reconstructs {_verdict(rec, 'closer to', 'further from')} the test images than "
            f"{fixed.name} ({_numbers(rec)}) and its samples are {_verdict(smp, 'closer to', 'further from')} the "
            f"test set (FD of {_numbers(smp)}). Lower is closer for every number; the FDs are computed on raw pixels "
            f"against the raw test set.")


_FORMATS = {"mean squared error": ".4f"}


def _numbers(found: dict[str, tuple[float, float]]) -> str:
    return "; ".join(f"{what} {a:{_FORMATS.get(what, '.0f')}} against {b:{_FORMATS.get(what, '.0f')}}"
                     for what, (a, b) in found.items())


def _verdict(found: dict[str, tuple[float, float]], lower: str, higher: str) -> str:
    way = _direction(found, lower, higher)
    if way != "mixed":
        return way
    return " and ".join(f"{lower if a < b else higher} by {what}" for what, (a, b) in found.items())


def reconstruction_sentence(model: Checkpoint, other: Checkpoint) -> str:
    """Whether ``model`` reconstructs the test images closer than ``other``, by mean squared error and the FD of
    reconstruction means (eval.json)."""
    rec = _measured(model, other, RECONSTRUCTION_MEASURES)
    if not rec:
        return f"{model.name} or {other.name} lacks the reconstruction measures to compare."
    return (f"{model.name} reconstructs {_verdict(rec, 'closer to', 'further from')} the test images than "
            f"{other.name} ({_numbers(rec)}; lower is closer).")


# ------------------------------------------------------------------------------------------ the likelihood estimates
def _nats(value: float, stderr: float) -> str:
    return f"{value:,.2f} ± {stderr:.2f}" if abs(value) < 10 else f"{value:,.1f} ± {stderr:.1f}"


def _rows(frame: pd.DataFrame, dataset: str) -> pd.DataFrame:
    return frame[frame["dataset"] == dataset].set_index("model", drop=False)


def exact_gap_sentence(frame: pd.DataFrame, dataset: str) -> str | None:
    """How far IWAE lies below the exact log-likelihood (2-D quadrature) on the same images, per 2-D model of
    ``dataset``; None when it has none."""
    rows = _rows(frame, dataset)
    rows = rows[rows["estimate"] == tables.METHODS[QUADRATURE]].sort_values("best - IWAE")
    if rows.empty:
        return None
    images = sorted({int(n) for n in rows["images"]})
    on = f"{images[0]:,} test images of each" if len(images) == 1 else "the same test images of each"
    gaps = [f"{_nats(r['best - IWAE'], r['± (best - IWAE)'])} nats for {r['model']}" if i == 0 else
            f"{_nats(r['best - IWAE'], r['± (best - IWAE)'])} for {r['model']}" for i, (_, r) in
            enumerate(rows.iterrows())]
    return f"With the exact value on {on} 2-D model of {dataset}, IWAE lies below it by {_names(gaps)}."


def not_best_findings_sentence(frame: pd.DataFrame) -> str | None:
    """The leaderboard's sentence on the AIS estimates not shown as the best (tables.not_best_sentence), or, where
    none is, that every one is: so the findings never keep a model named there after its estimate was redone. None
    for a zoo without AIS estimates."""
    if frame.empty or not (frame["estimate"] == tables.METHODS[AIS]).any():
        return None
    return tables.not_best_sentence(frame) or (
        "Every AIS estimate in the zoo is shown as the best log p(x) of its model: none lies below another lower "
        f"bound on the same images, and on no image do its chains lie more than {FAR_BELOW_IWAE:g} nats below IWAE.")


def ais_gap_rows(frame: pd.DataFrame, dataset: str, shown_only: bool = True) -> pd.DataFrame:
    """The MLP models of ``dataset`` at its usual latent size with an AIS best estimate shown as such (raw pixels
    left out), by best - IWAE on the same images; with ``shown_only`` False, also those whose AIS is not shown
    (tables.not_best_sentence)."""
    rows = _rows(frame, dataset)
    rows = rows[(rows["architecture"] == NETWORK_NAMES[MLP]) & (rows["group"] != tables.RAW_GROUP)]
    rows = rows[rows["latent"] == rows["latent"].mode().iloc[0]] if not rows.empty else rows
    if not shown_only:
        return rows[(rows["estimate"] != tables.METHODS[QUADRATURE])]
    return rows[(rows["estimate"] == tables.METHODS[AIS]) & (rows["not best"] == "")].sort_values("best - IWAE")


def ais_gap_sentence(frame: pd.DataFrame, dataset: str) -> str | None:
    """How far AIS lies above IWAE on the same images, per MLP model of ``dataset`` (ais_gap_rows)."""
    rows = ais_gap_rows(frame, dataset)
    if rows.empty:
        return None
    mlp = _rows(frame, dataset)
    left_out = mlp[(mlp["not best"] != "") & mlp["model"].isin(ais_gap_rows(frame, dataset, shown_only=False)["model"])]
    not_counted = "".join(f" Not counted, its AIS not shown as its best estimate: {r['model']}, where {r['not best']}."
                          for _, r in left_out.iterrows())
    gaps = [f"{_nats(r['best - IWAE'], r['± (best - IWAE)'])} ({tables.short_name(r['model'], dataset)})"
            for _, r in rows.iterrows()]
    below = " (a negative gap: AIS below IWAE)" if (rows["best - IWAE"] < 0).any() else ""
    return (f"On the {len(rows)} MLP models of {dataset} with latent size {int(rows['latent'].iloc[0])}, AIS lies "
            f"above IWAE on the same images by {_names(gaps)} nats{below}.{not_counted}")


def order_sentence(frame: pd.DataFrame, dataset: str) -> str | None:
    """The MLP models of ``dataset`` on 8-bit pixels ranked by their best estimate (bits/dim), and whether the
    IWAE bound ranks them the same way; the pairs it swaps are named with how far apart their estimates are."""
    rows = _rows(frame, dataset)
    rows = rows[(rows["architecture"] == NETWORK_NAMES[MLP]) & (rows["group"] == tables.GROUPS["continuous"])
                & np.isfinite(rows["bits/dim"]) & np.isfinite(rows["bits/dim (IWAE bound)"])]
    if len(rows) < 2:
        return None
    best = rows.sort_values("bits/dim")
    ranked = " < ".join(f"{tables.short_name(m, dataset)} {b:.2f}" for m, b in zip(best["model"], best["bits/dim"],
                                                                                  strict=True))
    names = list(best["model"])
    swapped = [(a, b) for i, a in enumerate(names) for b in names[i + 1:]
               if rows.loc[a, "bits/dim (IWAE bound)"] > rows.loc[b, "bits/dim (IWAE bound)"]]
    said = (f"Ranked by the best estimate, the {len(rows)} MLP models of {dataset} on 8-bit pixels read "
            f"(bits/dim) {ranked}")
    if not swapped:
        return said + "; the IWAE bound ranks them in the same order."
    swaps = []
    for a, b in swapped:
        apart = abs(rows.loc[a, "log-lik"] - rows.loc[b, "log-lik"])
        se = math.hypot(rows.loc[a, "± se"], rows.loc[b, "± se"])
        swaps.append(f"{tables.short_name(a, dataset)} and {tables.short_name(b, dataset)} (their best estimates "
                     f"{apart:.0f} nats apart, {'within' if apart < se else 'beyond'} one standard error of "
                     f"{se:.0f})")
    return said + f"; the IWAE bound ranks them in the same order except {_names(swaps)}, swapped."


# ------------------------------------------------------------------------------------------ bounded sigmas
CALIBRATED = ("gaussian-fixed", "gaussian-shared", "gaussian-optimal")  # sigma about 0.1: fixed, learned, analytic
GAUSSIANS = ("gaussian-pixel", "gaussian-pixel-floor") + CALIBRATED  # the continuous Gaussian decoders
FLOORED, DISCRETE = "gaussian-pixel-floor", "discretized-gaussian"


def usual_rows(frame: pd.DataFrame, dataset: str) -> pd.DataFrame:
    """The MLP models of ``dataset`` on 8-bit pixels at its usual latent size, indexed by decoder."""
    rows = _rows(frame, dataset)
    rows = rows[(rows["architecture"] == NETWORK_NAMES[MLP]) & (rows["group"] == tables.GROUPS["continuous"])]
    rows = rows[rows["latent"] == rows["latent"].mode().iloc[0]] if not rows.empty else rows
    return rows.set_index("decoder", drop=False)


def _span(values: pd.Series) -> str:
    return f"{values.min():.0f}-{values.max():.0f}"


def _place(rows: pd.DataFrame, column: str, decoder: str) -> str:
    """"2nd of 5" from the lowest of ``column`` among ``rows``."""
    rank = int((rows[column] < rows.loc[decoder, column]).sum()) + 1
    return f"{rank}{ {1: 'st', 2: 'nd', 3: 'rd'}.get(rank, 'th') } of {len(rows)}"


def floor_sentence(frame: pd.DataFrame, floored: Checkpoint) -> str | None:
    """The floored per-pixel Gaussian against the other Gaussian decoders of its dataset (MLP, usual latent): where
    its smallest sigma sits against the floor, its log p, and its FDs' places beside the calibrated ones'."""
    rows = usual_rows(frame, floored.dataset)
    gauss = rows[rows["decoder"].isin(GAUSSIANS)]
    if FLOORED not in gauss.index or not set(CALIBRATED) <= set(gauss.index):
        return None
    row, calibrated = gauss.loc[FLOORED], gauss.loc[list(CALIBRATED)]
    floor = floored.config.decoder_settings.get("sigma_min")
    at = ("at the floor" if floor and math.isclose(row["sigma min"], floor, rel_tol=1e-3) else
          f"against the floor {floor:g}")
    fds = [f"FD of {what} {row[c]:.0f}, {_place(gauss, c, FLOORED)} Gaussian decoders "
           f"(calibrated {_span(calibrated[c])})" for c, what in FDS.items()]
    return (f"{row['model']} (sigma >= {floor:g}): smallest sigma on the test set {row['sigma min']:.4f}, {at}; "
            f"log p {_nats(row['log-lik'], row['± se'])} nats; {'; '.join(fds)}; lower FD is better.")


def calibrated_sentence(frame: pd.DataFrame, fixed: Checkpoint) -> str | None:
    """The sigma the shared and the analytic-optimum decoders arrived at, against the fixed one's, with the three
    models' log p."""
    rows = usual_rows(frame, fixed.dataset)
    if not set(CALIBRATED) <= set(rows.index):
        return None
    shared, optimal, fx = (rows.loc[d] for d in ("gaussian-shared", "gaussian-optimal", "gaussian-fixed"))
    return (f"On {fixed.dataset} the learned shared sigma ({shared['model']}) ended at {shared['sigma min']:.3f} "
            f"and the analytic optimum ({optimal['model']}) at {optimal['sigma min']:.3f}, against the fixed "
            f"{fixed.config.decoder_settings['sigma']:g} of {fx['model']}; their log p: "
            f"{_nats(shared['log-lik'], shared['± se'])}, {_nats(optimal['log-lik'], optimal['± se'])} and "
            f"{_nats(fx['log-lik'], fx['± se'])} nats.")


def discrete_sentence(frame: pd.DataFrame, dataset: str) -> str | None:
    """Where the discretized Gaussians rank by bits/dim among all 8-bit models of ``dataset``, and the MLP one's
    samples, reconstructions and smallest sigma beside the calibrated Gaussians'."""
    rows = _rows(frame, dataset)
    eight = rows[(rows["group"] == tables.GROUPS["continuous"]) & np.isfinite(rows["bits/dim"])].sort_values(
        "bits/dim")
    usual = usual_rows(frame, dataset)
    if DISCRETE not in usual.index or not set(CALIBRATED) <= set(usual.index) or eight.empty:
        return None
    lead = eight[eight["decoder"] == DISCRETE]
    ahead = eight.iloc[:len(lead)]["decoder"].eq(DISCRETE).all()
    nxt = eight[eight["decoder"] != DISCRETE].iloc[0]
    row, calibrated = usual.loc[DISCRETE], usual.loc[list(CALIBRATED)]
    first = (f"the {len(lead)} discretized Gaussians rank first" if ahead else
             "the discretized Gaussians do not all rank first")
    listed = ", ".join(f"{r['model']} {r['bits/dim']:.2f}" for _, r in lead.iterrows())
    return (f"By bits/dim (best estimate) among the {len(eight)} 8-bit models of {dataset}, {first} ({listed}; next "
            f"{nxt['model']} {nxt['bits/dim']:.2f}). {row['model']}: FD of decoder means "
            f"{row['FD sample means']:.0f} (calibrated Gaussians {_span(calibrated['FD sample means'])}), MSE "
            f"{row['MSE']:.4f}, smallest sigma {row['sigma min']:.1e} with {row['sigma < 0.01']:.1%} of test "
            f"pixels below 0.01.")


def conv_sentence(frame: pd.DataFrame, checkpoints: list[Checkpoint], dataset: str,
                  network: str = "conv") -> str | None:
    """The entries of ``network`` (VAEConfig.network other than the MLP: plain conv and residual conv each on its
    own) against their MLP twins on ``dataset`` (findings_tables.network_pairs: zoo.toml's names, so each pair is
    one likelihood however many entries share a decoder): for how many the test-set ELBO (eval.json) is higher and
    by how much, the log p differences by one estimator on the same images for both (findings_tables.common_log_p,
    as the findings' table), the FD ratio's range."""
    rows = _rows(frame, dataset)
    rows = rows[rows["group"] != tables.RAW_GROUP]
    by_name = {c.name: c for c in checkpoints}
    entries = [findings_tables.Entry(c.evaluation, c.config.network, c.path) for c in checkpoints
               if c.name in rows.index]
    evaluations = findings_tables.network_pairs(entries).get(network, [])
    pairs = {o.name.removeprefix(f"{dataset}-").removesuffix(twin_suffix(network)): (m.name, o.name)
             for m, o in evaluations}
    if not pairs:
        return None
    elbo = pd.Series({k: mean_test_elbo(by_name[o]) - mean_test_elbo(by_name[m]) for k, (m, o) in pairs.items()})
    folders = {c.name: c.path for c in checkpoints}
    common = {k: findings_tables.common_log_p(by_name[m].evaluation, by_name[o].evaluation, folders)
              for k, (m, o) in pairs.items()}
    logp = pd.Series({k: c.gain for k, c in common.items() if c.gain is not None}, dtype=float)
    ratio = pd.Series({k: rows.loc[o, "FD sample means"] / rows.loc[m, "FD sample means"]
                       for k, (m, o) in pairs.items()})
    name = NETWORK_NAMES[network]
    latent = {side: "/".join(str(v) for v in sorted({int(rows.loc[p[i], "latent"]) for p in pairs.values()}))
              for i, side in enumerate(("mlp", "other"))}
    if logp.empty:
        said = "log p: no pair has one estimator on the same images in its eval.json files"
    else:
        missing = [k for k, c in common.items() if c.gain is None]
        said = (f"log p {name} − MLP, each pair by one estimator on the same test images (the table's), "
                f"{logp.min():,.1f} ({logp.idxmin()}) to {logp.max():,.1f} ({logp.idxmax()})"
                + (f", none for {_names(missing)}" if missing else ""))
    factors = findings_tables.fd_factors(evaluations)
    verdict = "" if factors is None else (
        f"; changing the network at one likelihood moved the FD of decoder means by a median factor of "
        f"{factors[0]:.2f}, changing the likelihood within one network by {factors[2]:.2f}: here the "
        f"{'network' if factors[0] > factors[2] else 'likelihood'} mattered more")
    return (f"On {dataset} (latent {latent['other']} against the MLP's {latent['mlp']}) the {name} network reaches "
            f"a higher ELBO than the MLP for {int((elbo > 0).sum())} of the {len(pairs)} likelihoods ({name} − MLP "
            f"{elbo.min():,.1f} to {elbo.max():,.1f} nats on the same test images); {said}; FD of decoder means "
            f"{name} / MLP {ratio.min():.2f}-{ratio.max():.2f}{verdict}.")


# ------------------------------------------------------------------------------------------ raw pixels, collapsed
def _from_worst(rows: pd.DataFrame, column: str, model: str, noun: str) -> str:
    """"the worst of the 25 <noun>" or "2nd from the worst of the 25 <noun> (worst x, 1626)" by ``column`` (FD:
    higher is worse)."""
    rows = rows[np.isfinite(rows[column])]
    worse = rows[rows[column] > rows.loc[model, column]]
    if worse.empty:
        return f"the worst of the {len(rows)} {noun}"
    top = worse.loc[worse[column].idxmax()]
    rank = len(worse) + 1
    return (f"{rank}{ {2: 'nd', 3: 'rd'}.get(rank, 'th') } from the worst of the {len(rows)} {noun} (worst "
            f"{top['model']}, {top[column]:.0f})")


def collapsed_sentence(frame: pd.DataFrame, raw: Checkpoint, fixed: Checkpoint, partner: Checkpoint) -> str:
    """The collapsed raw-pixel run's numbers: its test-set ELBO, AIS against IWAE on the same images, and its
    samples' FDs ranked among every model of its dataset, beside the constant sigma on the same pixels (``fixed``),
    whose test ELBO is set against its dequantized ``partner``'s."""
    rows = _rows(frame, raw.dataset)
    row, fx = rows.loc[raw.name], rows.loc[fixed.name]
    elbo = mean_test_elbo(raw)
    said = [f"{raw.name}'s test-set ELBO is " + (f"{elbo:,.0f} nats" if math.isfinite(elbo) else
                                                 "not finite (some test images score nan)")]
    if np.isfinite(row["best - IWAE"]):
        said.append(f"AIS lies {_nats(row['best - IWAE'], row['± (best - IWAE)'])} nats above IWAE on the same "
                    f"{int(row['images'])} images")
    fds = [f"FD of {what} {row[c]:.0f}, {_from_worst(rows, c, raw.name, f'{raw.dataset} models')}" for c, what in
           FDS.items() if np.isfinite(row[c])]
    trained = raw_runs.stopped(fixed)
    return (f"{'; '.join(said)}; {'; '.join(fds)}. On the same raw pixels {fixed.name} has FD {fx['FD samples']:.0f} "
            f"(full samples) and {fx['FD sample means']:.0f} (decoder means): {trained.removeprefix(fixed.name + ' ')}"
            .rstrip(".") + f", test-set ELBO {mean_test_elbo(fixed):,.0f} against {mean_test_elbo(partner):,.0f} for "
            f"{partner.name} on dequantized pixels.")


# ------------------------------------------------------------------------------------------ images and sandwiches
def _who(group: list[Checkpoint], everyone: list[Checkpoint]) -> str:
    """A group of entries for a reader: "every entry", up to three names, "the 12 conv entries", or a count by
    network ("28 entries: 24 MLP, 4 conv")."""
    if len(group) == len(everyone):
        return "every entry"
    if len(group) <= 3:
        return _names(sorted(c.name for c in group))
    networks = [NETWORK_NAMES[c.config.network] for c in group]
    kinds = dict.fromkeys(networks)
    if len(kinds) == 1:
        network = networks[0]
        whole = len(group) == sum(NETWORK_NAMES[c.config.network] == network for c in everyone)
        return f"{'the ' if whole else ''}{len(group)} {network} entries"
    return f"{len(group)} entries ({', '.join(f'{networks.count(k)} {k}' for k in kinds)})"


def _first(n: int, of: int | None) -> str:
    return f"all {n:,}" if of is not None and n == of else f"the first {n:,}"


def _grouped(checkpoints: list[Checkpoint], key, everyone: list[Checkpoint]) -> list[tuple[tuple, str]]:
    """(key, who) for each value of ``key`` over ``checkpoints`` (None left out), the largest group first."""
    groups: dict[tuple, list[Checkpoint]] = {}
    for c in checkpoints:
        k = key(c)
        if k is not None:
            groups.setdefault(k, []).append(c)
    return [(k, _who(g, everyone)) for k, g in sorted(groups.items(), key=lambda kv: (-len(kv[1]), kv[0]))]


def images_sentence(checkpoints: list[Checkpoint]) -> str | None:
    """On which test images each number of the findings is measured, read from each eval.json: the ELBO's test
    images, the IWAE's k and first images, the best estimate's method and first images, the Fréchet distances'."""
    evaluated = [c for c in checkpoints if c.evaluation is not None and c.evaluation.test is not None]
    if not evaluated:
        return None
    size = max((c.evaluation.test.num_images or 0) for c in evaluated)

    def test(c):
        return c.evaluation.test

    elbo = [f"{_first(n, size)} test images for {who}" for (n,), who in
            _grouped(evaluated, lambda c: (test(c).num_images,) if test(c).num_images else None, evaluated)]
    iwae = [f"k = {k:,} on {_first(n, size)} for {who}" for (k, n), who in
            _grouped(evaluated, lambda c: (test(c).iwae_k, test(c).iwae_images)
                     if test(c).iwae_k and test(c).iwae_images else None, evaluated)]

    def best(c):
        b = c.evaluation.log_likelihood
        if b is None or b.method is None or b.num_images is None:
            return None
        return (b.method, b.num_images + (b.excluded_images or 0))

    words = {QUADRATURE: "exact quadrature", AIS: "AIS"}
    estimates = [f"by {words.get(m, m)} on {_first(n, size)} for {who}" for (m, n), who in
                 _grouped(evaluated, best, evaluated)]
    fd = [f"{n:,} model outputs and as many test images for {who}" for (n,), who in
          _grouped(evaluated, lambda c: (c.evaluation.frechet.num_images,) if c.evaluation.frechet
                   and c.evaluation.frechet.num_images else None, evaluated)]
    parts = [f"the ELBO on {_names(elbo)}"] if elbo else []
    parts += [f"IWAE (a lower bound, ± one standard error over images) with {_names(iwae)}"] if iwae else []
    parts += [f"the best estimate {_names(estimates)}"] if estimates else []
    parts += [f"Fréchet distances (FD) between {_names(fd)}"] if fd else []
    return f"The test images behind each number, read from each eval.json: {'; '.join(parts)}."


def sandwich_sentence(checkpoints: list[Checkpoint]) -> str | None:
    """How many AIS best estimates carry their sandwich in eval.json (best_likelihood.sandwich), how many meet their
    BDMC target (judge.misses_bdmc_target) and which do not; the rest are said to have none yet."""
    from vae_core.evaluation.best_likelihood import BDMC_TARGET_OTHER, BDMC_TARGETS

    ais = sorted((c for c in checkpoints if c.evaluation and c.evaluation.log_likelihood
                  and c.evaluation.log_likelihood.method == AIS), key=lambda c: c.name)
    if not ais:
        return None
    done = [c for c in ais if has_sandwich(c.evaluation.log_likelihood)]
    missed = [c for c in done if misses_bdmc_target(c.evaluation.log_likelihood)]
    rest = len(ais) - len(done)
    said = (f"BDMC sandwiches of the AIS best estimates, read from eval.json: {len(done)} of the {len(ais)} models "
            f"with an AIS estimate {'has' if len(done) == 1 else 'have'} one"
            + (f" (the other {rest}: no sandwich yet)" if rest and done else " (none has a sandwich yet)" if rest
               else ""))
    if done:
        met = len(done) - len(missed)
        gaps = [f"{c.name} (a bound not finite {where_not_finite(b)})"
                if sandwich_not_finite(b) else
                f"{c.name} ({b.bdmc_gap:.2f} ± {findings_tables.fmt(b.bdmc_gap_stderr, '.2f')} nats against "
                f"{b.bdmc_target:g})" for c in missed for b in [c.evaluation.log_likelihood]]
        if len(done) == 1:
            said += f"; it misses its BDMC target: {gaps[0]}" if missed else "; it meets its BDMC target"
        else:
            said += f"; {'all' if met == len(done) else met} of those {len(done)} meet their BDMC target" + (
                f" and {len(missed)} miss{'es' if len(missed) == 1 else ''} it: {_names(gaps)}" if missed else "")
    return (f"{said}. The BDMC gap is measured on images simulated from each model; its targets: "
            f"{BDMC_TARGETS['binary']:g} nat for binarized pixels, {BDMC_TARGET_OTHER:g} nats for the rest.")


@functools.cache
def decoder_multiply_adds(folder: Path) -> int:
    """Multiply-adds of one call of the decoder in ``folder`` on one z, counted by torch.utils.flop_counter (two
    floating-point operations per multiply-add)."""
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    from vae_core.zoo.checkpoints import load_model

    model = load_model(folder)
    with FlopCounterMode(display=False) as counter, torch.no_grad():
        model.decode(torch.zeros(1, model.config.latent_dim))  # (1, latent) -> one image's distribution
    return counter.get_total_flops() // 2


def decoder_cost_sentence(checkpoints: list[Checkpoint]) -> str | None:
    """What one decoder call costs in each network (``decoder_multiply_adds``), and each network's twins against
    their MLP entry (zoo.toml's names: vae_core.model.config.twin_suffix)."""

    cost = {c.name: decoder_multiply_adds(c.path) for c in checkpoints}
    parts = []
    for network, name in NETWORK_NAMES.items():
        own = [c for c in checkpoints if c.config.network == network]
        if not own:
            continue
        values = sorted(cost[c.name] for c in own)
        said = f"{name} {values[0] / 1e6:.2f}M" + (f"-{values[-1] / 1e6:.2f}M" if values[-1] != values[0] else "")
        ratios = sorted(cost[c.name] / cost[c.name.removesuffix(twin_suffix(network))] for c in own
                        if network != MLP and c.name.removesuffix(twin_suffix(network)) in cost)
        if ratios:
            said += (f" ({ratios[0]:.1f}x" + (f"-{ratios[-1]:.1f}x" if f"{ratios[-1]:.1f}" != f"{ratios[0]:.1f}"
                                              else "") + f" its MLP twin's, {len(ratios)} pairs)")
        parts.append(said)
    if not parts:
        return None
    return (f"Multiply-adds of one decoder call on one z, counted by torch.utils.flop_counter on each shipped "
            f"checkpoint: {'; '.join(parts)}.")


def burda_ais_sentence(checkpoints: list[Checkpoint]) -> str | None:
    """The AIS figures of the Burda entries (those the ledger names), with the images they are on and AIS against
    IWAE on those images: not Table 1's protocol."""
    from vae_core.zoo import ledger

    burda = [c for c in ledger.entries(checkpoints, ledger.read_ledger()) if c.evaluation.log_likelihood
             and c.evaluation.log_likelihood.method == AIS
             and None not in (c.evaluation.log_likelihood.estimate, c.evaluation.log_likelihood.estimate_stderr,
                              c.evaluation.log_likelihood.best_minus_iwae,
                              c.evaluation.log_likelihood.best_minus_iwae_stderr, c.evaluation.log_likelihood.iwae_k)]
    if not burda:
        return None
    parts = []
    for c in sorted(burda, key=lambda c: c.name):
        b = c.evaluation.log_likelihood
        s = b.settings or {}
        way = "above" if b.best_minus_iwae >= 0 else "below"
        run = f" (T = {s['num_steps']:,} x {s['chains']} chains)" if "num_steps" in s and "chains" in s else ""
        parts.append(f"{c.name} {b.estimate:.2f} ± {b.estimate_stderr:.2f}{run} on the first {b.num_images:,} test "
                     f"images, where AIS lies "
                     f"{abs(b.best_minus_iwae):.2f} ± {b.best_minus_iwae_stderr:.2f} nats {way} IWAE k = "
                     f"{b.iwae_k:,}")
    return (f"The likelihood table's AIS figures for the Burda entries are on a few test images only, not Table 1's "
            f"full test set, and are not comparable with it: {'; '.join(parts)}.")


# ------------------------------------------------------------------------------------------ the findings' paragraphs
def paragraph_sentences(frame: pd.DataFrame, checkpoints: list[Checkpoint]) -> list[str]:
    """Every sentence of CLAIMS_DOC's plain-words paragraphs built here, in the order the paragraphs give them, per
    dataset (mnist first), then the header's image counts, the sandwiches' count under the likelihood tables, the
    Burda section's AIS figures and the decoders' cost; those whose models the zoo lacks are left out."""
    by_name = {c.name: c for c in checkpoints}
    out: list[str | None] = []
    datasets = sorted(set(frame["dataset"]), key=lambda d: (d != "mnist", d))
    for d in datasets:
        out += [exact_gap_sentence(frame, d), ais_gap_sentence(frame, d), order_sentence(frame, d)]
    for d in datasets:
        raw, fixed_raw = by_name.get(f"{d}-gaussian-pixel-raw"), by_name.get(f"{d}-gaussian-fixed-raw")
        fixed, pixel = by_name.get(f"{d}-gaussian-fixed"), by_name.get(f"{d}-gaussian-pixel")
        if raw is not None:
            out.append(raw_runs.fall_sentence(raw))
            if fixed_raw is not None and fixed is not None:
                out.append(collapsed_sentence(frame, raw, fixed_raw, fixed))
    for d in datasets:
        pixel, fixed = by_name.get(f"{d}-gaussian-pixel"), by_name.get(f"{d}-gaussian-fixed")
        if pixel is not None:
            out.append(raw_runs.epochs_sentence(pixel))
            if fixed is not None:
                out.append(reconstruction_sentence(pixel, fixed))
    for d in datasets:
        floored, fixed = by_name.get(f"{d}-{FLOORED}"), by_name.get(f"{d}-gaussian-fixed")
        out += [floor_sentence(frame, floored) if floored else None,
                calibrated_sentence(frame, fixed) if fixed else None, discrete_sentence(frame, d)]
    for d in datasets:  # each network against the MLP (residual conv is never counted as plain conv), and whether
        for n in NETWORK_NAMES:  # its per-pixel model still has the worst samples of its own network
            pixel = f"{d}-{GAP_PAIR[0]}{twin_suffix(n)}"
            if n != MLP:
                out += [conv_sentence(frame, checkpoints, d, n),
                        worst_samples_sentence(frame, pixel) if pixel in set(frame["model"]) else None]
    for d in datasets:
        kept = raw_runs.kept_alive(checkpoints, d)
        out.append(raw_runs.epochs_sentence(kept) if kept is not None else None)
    out += [images_sentence(checkpoints), sandwich_sentence(checkpoints), burda_ais_sentence(checkpoints),
            decoder_cost_sentence(checkpoints)]
    return [s for s in out if s]


# ------------------------------------------------------------------------------------------ the Reconstruct instruments
INSTRUMENT_IMAGES = 100  # the first images of the embedded test sample the instruments' numbers are measured on
RISE = 0.05  # nats: a rise of log p(x|z) between two floors counted as one (above float noise)


def instrument_sentence(ckpt: Checkpoint, model: VAE, images: np.ndarray) -> str:
    """What the Reconstruct page's instruments measure on ``images`` (uint8 (N, 28, 28)) for one model: the mean
    log p(x | z = E[z|x]) as trained and at the largest floor, the share of images whose log p rises at some step
    of the floor, and the stroke / background split (explorer.compute.instruments)."""
    from explorer.compute import latent
    from explorer.compute.instruments import FLOORS, STROKE_LEVEL, FloorNotApplicable, nats_split, rescore

    out = latent.reconstruct(model, images, seed=0)
    splits = [nats_split(out["pixel_log_prob"][i], images[i]) for i in range(len(images))]
    stroke = float(np.nanmean([s.stroke_per_pixel for s in splits]))
    background = float(np.nanmean([s.background_per_pixel for s in splits]))
    split = (f"per pixel it earns {background:+.2f} nats on background pixels and {stroke:+.2f} on stroke pixels "
             f"(8-bit value > {STROKE_LEVEL})")
    where = f"On {ckpt.name} and the first {len(images)} embedded {ckpt.dataset} test images"
    try:
        s = rescore(model, images, FLOORS, seed=0)
    except FloorNotApplicable:
        return f"{where}, {split}; it has no sigma to floor."
    rises = float((np.diff(s["log_px"], axis=0) > RISE).any(axis=0).mean())
    return (f"{where}, the mean log p(x | z = E[z|x]) falls from {s['log_px'][0].mean():,.0f} nats as trained to "
            f"{s['log_px'][-1].mean():,.0f} at a floor of {FLOORS[-1]:g}, not monotonically: on {rises:.0%} of the "
            f"images it rises by more than {RISE} nats at some step of the floor. {split[0].upper() + split[1:]}.")


# ------------------------------------------------------------------------------------------ the AIS settings
def ais_settings_sentence(checkpoints: list[Checkpoint]) -> str | None:
    """Which entries ran AIS longer than the default (zoo.toml ``ais``, recorded in eval.json), on how many images,
    where it still fell far below IWAE or had chains frozen, and the images the default conv runs used."""
    from vae_core.evaluation.best_likelihood import default_settings

    default = default_settings(AIS)
    ais_runs = [c for c in checkpoints if c.evaluation and c.evaluation.log_likelihood
                and c.evaluation.log_likelihood.method == AIS]
    longer = [c for c in ais_runs if AIS_CHOICES.keys() & c.evaluation.log_likelihood.settings.keys()
              or any(c.evaluation.log_likelihood.settings.get(k) != v for k, v in default.items())]
    if not ais_runs:
        return None

    def described(c: Checkpoint) -> str:
        b = c.evaluation.log_likelihood
        far = f", {b.images_far_below_iwae} far below IWAE" if b.images_far_below_iwae else ""
        frozen = f", a frozen chain on {b.frozen_chains}" if b.frozen_chains else ""
        return f"{c.name} ({ais_run(b.settings)}, {b.num_images} images{far}{frozen})"

    parts = []
    for network in dict.fromkeys(NETWORK_NAMES[c.config.network] for c in longer):
        own = [c for c in longer if NETWORK_NAMES[c.config.network] == network]
        parts.append(f"{len(own)} {network} entries: {', '.join(described(c) for c in own)}")
    said = (f"AIS runs T = {default['num_steps']:,} transitions x {default['chains']} chains per image by default; "
            f"other settings for {'; '.join(parts)}." if longer else
            f"Every entry runs AIS at the default T = {default['num_steps']:,} x {default['chains']} chains.")
    rest_conv = sorted({c.evaluation.log_likelihood.num_images for c in ais_runs
                        if c not in longer and c.config.network != MLP})
    conv_iwae = sorted({c.evaluation.test.iwae_images for c in checkpoints if c.evaluation and c.evaluation.test
                        and c.config.network != MLP and c.evaluation.test.iwae_images})
    if rest_conv:
        said += (f" The other conv entries run it on their first {' or '.join(map(str, rest_conv))} test images, "
                 f"and every conv entry's IWAE on the first {' or '.join(f'{n:,}' for n in conv_iwae)}.")
    return said


# ------------------------------------------------------------------------------------------ the cost
def cost_sentence(checkpoints: list[Checkpoint], zoo: Path) -> str:
    """The time each group of entries recorded in eval.json (training, evaluation, the best log-likelihood
    estimate), grouped by network, data kind and epochs, and the size of the ``zoo`` folder against its budget."""
    from vae_core.zoo.checkpoints import SHIPPED_BUDGET_MB

    groups: dict[str, list[float]] = {}
    for c in checkpoints:
        ev = c.evaluation
        if ev is None or ev.training is None:
            continue
        b = ev.log_likelihood
        raw = " raw-pixel" if raw_runs.is_raw(c) else ""
        key = f"{NETWORK_NAMES[c.config.network]}{raw} | of {ev.training.epochs:,} epoch" + (
            "s" if ev.training.epochs != 1 else "")
        counts = groups.setdefault(key, [0, 0.0, 0.0, 0.0])
        counts[0] += 1
        counts[1] += ev.training.seconds or 0.0
        counts[2] += ev.evaluation_seconds or 0.0
        counts[3] += (b.seconds_total or b.seconds or 0.0) if b is not None else 0.0
    parts = [f"{int(n)} {key.replace('|', 'entries' if n != 1 else 'entry')}: {t / 60:,.0f}, {e / 60:,.0f} and "
             f"{ll / 60:,.0f}"
             for key, (n, t, e, ll) in sorted(groups.items(), key=lambda kv: -kv[1][0])]
    size = sum(f.stat().st_size for f in zoo.rglob("*") if f.is_file()) / 2**20
    return (f"Minutes of training, evaluation and the best log-likelihood estimate recorded in eval.json (each "
            f"process's wall-clock seconds: sums of training.seconds, evaluation_seconds and "
            f"log_likelihood.seconds_total): "
            f"{'; '.join(parts)}. {zoo.name}/ holds {size:.1f} MB (budget {SHIPPED_BUDGET_MB} MB).")


def classifier_sentence(root: Path | None = None) -> str | None:
    """The FD classifiers' test accuracy and training time, from classifiers/<dataset>/eval.json."""
    import json

    from vae_core.files.names import CLASSIFIER_DIR, EVAL_NAME

    found = []
    for path in sorted((root or CLASSIFIER_DIR).glob(f"*/{EVAL_NAME}"), key=lambda p: (p.parent.name != "mnist",
                                                                                       p.parent.name)):
        data = json.loads(path.read_text())
        if isinstance(data.get("test_accuracy"), (int, float)):
            found.append((path.parent.name, float(data["test_accuracy"]), float(data.get("seconds") or 0.0)))
    if not found:
        return None
    accuracies = _names([f"{name} {acc:.2%}" for name, acc, _ in found])
    return (f"The FD classifiers ({CLASSIFIER_DIR.name}/*/{EVAL_NAME}) reach {accuracies} test accuracy, after "
            f"{sum(s for *_, s in found) / 60:.0f} minutes of training in all (sum of seconds).")


# ------------------------------------------------------------------------------------------ where sigma collapsed
SMALL_SIGMA = 0.01


def collapsed_pixels(model: VAE, images: np.ndarray) -> dict[str, np.ndarray]:
    """For uint8 ``images`` (N, 28, 28): the decoder's sigma and mean at the posterior mean and the pixels the model
    was scored on, each (N, 28, 28); sigma is None for a decoder without one."""
    from explorer.compute import latent
    from vae_core.model.likelihoods import unvalidated

    with unvalidated():  # a collapsed sigma underflows to 0 on some pixels
        sigma = latent.sigma_at_means(model, images)
        mean = latent.decode(model, latent.encode_means(model, images))["mean"]
    x = latent.model_input(model, images).numpy().reshape(mean.shape)
    return {"sigma": sigma, "mean": mean, "x": x}


def collapsed_pixels_sentence(ckpt: Checkpoint, model: VAE, images: np.ndarray) -> str | None:
    """How many pixels of ``images`` have sigma below SMALL_SIGMA at the posterior mean, and how many of those are
    exactly 0 in the image; None for a decoder without sigma."""
    found = collapsed_pixels(model, images)
    if found["sigma"] is None:
        return None
    small = found["sigma"] < SMALL_SIGMA
    zero = found["x"] == 0
    share = (zero & small).sum() / small.sum() if small.any() else math.nan
    of_them = ("all of them 0" if share == 1 else f"{share:.1%} of them 0") if small.any() else "none"
    return (f"{ckpt.name}, on the {len(images):,} embedded {ckpt.dataset} test images: {small.mean():.1%} of the "
            f"pixels have sigma < {SMALL_SIGMA} at the posterior mean, {of_them} in the image.")


# ------------------------------------------------------------------------------------------ the gap, seen
GAP_IMAGE, GAP_K = 1, 1000  # the embedded test image and the IWAE k docs/app.md quotes for the 2-D per-pixel model


def gap_image_sentence(name: str, model: VAE, images: np.ndarray, index: int = GAP_IMAGE, k: int = GAP_K,
                       seed: int = 0) -> str:
    """What the Latent page shows for one embedded test image of a 2-D model (seed 0, as the page opens): how far
    the posterior's peak lies from q's mean, KL(q || p(z|x)), and IWAE_k against the exact log p(x)."""
    from explorer.compute.posterior_view import iwae_for_image, posterior_view

    view = posterior_view(model, images[index], seed)
    if "problem" in view:
        return f"{name}, test image #{index}: no exact posterior ({view['problem']})."
    iwae, se = iwae_for_image(model, images[index], k, seed)
    return (f"On {name}, test image #{index}, the posterior's peak lies {view['mode_in_q_sd']:.0f} encoder standard "
            f"deviations from q's mean: KL(q || p(z|x)) = {view['kl_difference']:.1f} nats, and IWAE with k = "
            f"{k:,} gives {iwae:.1f} ± {se:.1f} against the exact {view['log_px']:.1f}.")


# ------------------------------------------------------------------------------------------ how the zoo was trained
def parameter_count(ckpt: Checkpoint) -> int:
    """The number of weights in the checkpoint's safetensors file, read from its header (no model built)."""
    from safetensors import safe_open

    from vae_core.files.names import WEIGHTS_NAME

    with safe_open(str(ckpt.path / WEIGHTS_NAME), framework="pt") as f:
        return sum(math.prod(f.get_slice(k).get_shape()) for k in f.keys())


def training_sentence(checkpoints: list[Checkpoint]) -> str:
    """The zoo's entries grouped by network, latent size and training settings (config.json, eval.json's
    training), with their parameter counts (``parameter_count``)."""
    parameters = {c.name: parameter_count(c) for c in checkpoints}
    groups: dict[tuple, list[str]] = {}
    for c in checkpoints:
        t = c.evaluation.training if c.evaluation else None
        if t is None:
            continue
        key = (c.config.describe_network(), c.config.latent_dim, t.lr, t.batch_size, t.epochs)
        groups.setdefault(key, []).append(c.name)
    seeds = {c.evaluation.training.seed for c in checkpoints if c.evaluation and c.evaluation.training}
    parts = []
    for (network, latent_dim, lr, batch, epochs), names in sorted(groups.items(), key=lambda kv: -len(kv[1])):
        counts = sorted({f"{parameters[n] / 1000:.0f}k" for n in names if n in parameters},
                        key=lambda k: int(k[:-1]))
        size = f", {' or '.join(counts)} parameters" if counts else ""
        parts.append(f"{len(names)} {network}, latent {latent_dim}{size}: starting learning rate {lr:g}, batch "
                     f"{batch}, {epochs:,} epoch{'s' if epochs != 1 else ''}")
    seed = f"; seed {seeds.pop()} for all" if len(seeds) == 1 else ""
    return f"The zoo's {sum(map(len, groups.values()))} entries (config.json, eval.json): {'; '.join(parts)}{seed}."
