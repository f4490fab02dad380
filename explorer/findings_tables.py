"""The findings' tables (explorer.claims.CLAIMS_DOC), one per dataset, from the checkpoints' eval.json files: the
zoo's numbers, the log-likelihood tables (the best estimate each model has against IWAE on the same images) and the
comparison of each network with the MLP at the same likelihood. ``python -m scripts.findings_table`` prints them.

Each AIS row carries its sandwich where eval.json has one (best_likelihood.sandwich: the wider-proposal IWAE paired
with AIS image by image, and the BDMC gap on simulated data against its target), "–" where it has none yet. The
MLP-against-network rows compare log p by one estimator on the same test images for both models (``common_log_p``).

A best estimate is flagged by the one rule the leaderboard, the model cards and index.json use
(vae_core.evaluation.judge.not_best); where it is flagged, the row gives no bits/dim from it.
"""
from __future__ import annotations

import difflib
import functools
import re
import sys
from dataclasses import dataclass
from pathlib import Path

from explorer import render
from vae_core.base.data import DATA_KINDS
from vae_core.evaluation.judge import (
    AIS,
    QUADRATURE,
    has_sandwich,
    misses_bdmc_target,
    not_best,
    sandwich_not_finite,
    where_not_finite,
)
from vae_core.files.names import EVAL_NAME
from vae_core.files.schema import BestLogLikelihood, Evaluation, Frechet, SigmaStats, TrainingSummary
from vae_core.model.config import NETWORK_NAMES, load_config, twin_pairs
from vae_core.zoo.checkpoints import read_evaluation

COLUMNS = ("model", "data", "ELBO", "log p (IWAE)", "bits/dim", "FD sample means", "FD recon means", "FD samples",
           "FD recons", "MSE", "sigma min", "sigma<0.01", "active", "diverged")
LIKELIHOOD_COLUMNS = ("model", "data", "log p (IWAE, 2000 img)", "best log p", "method", "images",
                      "IWAE same images", "best − IWAE", "best − wider IWAE", "BDMC gap (target)",
                      "ELBO same images", "bits/dim (IWAE)", "bits/dim (best)", "not shown as best because")
METHOD_NAMES = {QUADRATURE: "exact (quadrature)", AIS: "AIS (lower bound)"}


@dataclass
class Entry:
    """One checkpoint's eval.json and the network its config.json names (VAEConfig.network; None: unreadable)."""
    evaluation: Evaluation
    network: str | None
    folder: Path | None = None


def fmt(v, spec=".1f") -> str:
    """A table cell: ``v`` in ``spec``, "–" where eval.json holds none."""
    return render.fmt(v, spec, missing="–")


def row(ev: Evaluation) -> list[str]:
    t, s, f, tr = ev.test, ev.sigma or SigmaStats(), ev.frechet or Frechet(), ev.training or TrainingSummary()
    return [ev.name, ev.data_kind, fmt(t.elbo),
            f"{fmt(t.iwae)} ± {fmt(t.iwae_stderr, '.1f')}" if t.iwae is not None else "–",
            fmt(t.bits_per_dim, ".3f"), fmt(f.sample_means), fmt(f.reconstruction_means),
            fmt(f.samples), fmt(f.reconstructions),
            fmt(t.mse, ".4f"), fmt(s.min, ".1e"), fmt(s.frac_below_0_01, ".2f"),
            f"{t.active_units}/{ev.latent_dim}", str(tr.diverged_at_epoch or "–")]


def likelihood_row(ev: Evaluation) -> list[str]:
    """The best estimate against IWAE and the ELBO on the same images; its last cell says why the estimate may not
    be shown as the best log p(x) (judge.not_best), or –."""
    t, b = ev.test, ev.log_likelihood
    if b is None:
        return [ev.name, ev.data_kind, fmt(t.iwae)] + ["–"] * 8 + [fmt(t.bits_per_dim, ".3f"), "–", "–"]

    def pm(key: str) -> str:
        return f"{fmt(getattr(b, key), '.2f')} ± {fmt(getattr(b, key + '_stderr'), '.2f')}"

    images = f"{b.num_images}" + (f" ({b.excluded_images} flagged)" if b.excluded_images else "")
    why_not = not_best(b) if b.estimate is not None else None  # then no bits/dim from it, as on the leaderboard
    wider = pm("best_minus_wider_iwae") if b.best_minus_wider_iwae is not None else "–"
    return [ev.name, ev.data_kind, fmt(t.iwae), pm("estimate"), METHOD_NAMES.get(b.method, b.method),
            images, pm("iwae"), pm("best_minus_iwae"), wider, bdmc_cell(b), fmt(b.elbo), fmt(t.bits_per_dim, ".3f"),
            fmt(None if why_not else b.bits_per_dim, ".3f"), why_not or "–"]


def bdmc_cell(block: BestLogLikelihood) -> str:
    """"0.32 ± 0.12 (≤ 1: met)", "not finite on 13 of its 50 simulated images (≤ 3: missed)", or – where the
    block has no sandwich (yet, or an exact estimate)."""
    if not has_sandwich(block):
        return "–"
    if sandwich_not_finite(block):
        return f"not finite {where_not_finite(block)} (≤ {block.bdmc_target:g}: missed)"
    verdict = "missed" if misses_bdmc_target(block) else "met"
    return f"{block.bdmc_gap:.2f} ± {fmt(block.bdmc_gap_stderr, '.2f')} (≤ {block.bdmc_target:g}: {verdict})"


def network_pairs(entries: list[Entry]) -> dict[str, list[tuple[Evaluation, Evaluation]]]:
    """For each network other than the MLP that has any (NETWORK_NAMES' order), the (MLP, that network) eval.json
    pairs of the same data and likelihood: zoo.toml names an entry after its MLP twin plus the network
    (vae_core.model.config.twin_suffix), so a residual conv entry is compared with the MLP, never counted as plain
    conv. The latent size may differ (MNIST's conv entries use 4, docs/conv_choice.md), and the table says so."""
    pairs: dict[str, list[tuple[Evaluation, Evaluation]]] = {}
    for network in NETWORK_NAMES:
        found = [(m.evaluation, e.evaluation)
                 for m, e in twin_pairs(entries, network, lambda e: e.evaluation.name, lambda e: e.network)]
        if found:
            pairs[network] = found
    return pairs


@dataclass(frozen=True)
class CommonLogP:
    """log p of an MLP entry and its twin in another network by one estimator on the same test images, so that
    "other − MLP" compares like with like; ``measure`` names both (None: the files hold no such pair)."""
    measure: str | None
    mlp: float | None = None
    other: float | None = None

    @property
    def gain(self) -> float | None:
        return self.other - self.mlp if self.mlp is not None and self.other is not None else None


def _first_images(block: BestLogLikelihood | None) -> int | None:
    """How many of the first test images a best-likelihood block's means cover, every one of them (None: it left
    images out, so its means are over another set, or it has no IWAE)."""
    if block is None or block.num_images is None or block.excluded_images or block.iwae is None:
        return None
    return block.num_images


@functools.cache
def iwae_on_first(folder: Path, k: int, n: int) -> float | None:
    """IWAE_k (seed 0) of the checkpoint in ``folder`` on the first ``n`` test images, as eval.json's best block
    computes it (vae_core.evaluation.best_likelihood), from the embedded sample: its first images are the test
    set's, and fixed_test_input gives them the same binarization or dequantization (tests/test_claims.py checks a
    recomputed block IWAE against the stored one). None where the sample has fewer than ``n`` images."""
    from vae_core.base.data import fixed_test_input, load_sample
    from vae_core.evaluation.metrics import iwae_log_likelihood
    from vae_core.zoo.checkpoints import load_model

    model = load_model(folder)
    images, _ = load_sample(model.config.dataset)
    if n > len(images):
        return None
    x = fixed_test_input(images[:n], model.data_kind, seed=0)  # (n, 1, 28, 28)
    return float(iwae_log_likelihood(model, x, k=k, seed=0).double().mean())


def common_log_p(mlp: Evaluation, other: Evaluation, folders: dict[str, Path] | None = None) -> CommonLogP:
    """log p of both models by the same estimator on the same first test images, the first of these that both
    eval.json files allow: (1) both best estimates, where both blocks cover the same images by the same method and
    neither is flagged (judge.not_best); (2) IWAE at the blocks' k on the images of the smaller block,
    the stored block IWAE where a block covers exactly those, else computed from the weights in ``folders``
    (``iwae_on_first``); (3) both test-set IWAEs, where their k and images agree. Otherwise no common estimate."""
    a, b = mlp.log_likelihood, other.log_likelihood
    na, nb = _first_images(a), _first_images(b)
    if na is not None and nb is not None:
        if (na == nb and a.method == b.method and a.estimate is not None and b.estimate is not None
                and not_best(a) is None and not_best(b) is None):
            return CommonLogP(f"{METHOD_NAMES.get(a.method, a.method)} on the first {na:,}", a.estimate, b.estimate)
        if a.iwae_k is not None and a.iwae_k == b.iwae_k:
            n = min(na, nb)

            def iwae(ev: Evaluation, block: BestLogLikelihood, covered: int) -> float | None:
                if covered == n:
                    return block.iwae
                folder = (folders or {}).get(ev.name)
                return iwae_on_first(folder, block.iwae_k, n) if folder is not None else None

            found = CommonLogP(f"IWAE k={a.iwae_k:,} on the first {n:,}", iwae(mlp, a, na), iwae(other, b, nb))
            if found.gain is not None:
                return found
    ta, tb = mlp.test, other.test
    if (ta is not None and tb is not None and ta.iwae is not None and tb.iwae is not None
            and ta.iwae_k == tb.iwae_k and ta.iwae_images == tb.iwae_images and ta.iwae_images):
        return CommonLogP(f"IWAE k={ta.iwae_k:,} on the first {ta.iwae_images:,}", ta.iwae, tb.iwae)
    return CommonLogP(None)


def architecture_columns(network: str) -> tuple[str, ...]:
    """The columns of the MLP against ``network`` table."""
    n = NETWORK_NAMES[network]
    return ("likelihood", f"latent MLP / {n}", "ELBO MLP", f"ELBO {n}", "log p by (same test images)", "log p MLP",
            f"log p {n}", f"{n} − MLP (nats)", "FD sample means MLP", f"FD sample means {n}", "FD samples MLP",
            f"FD samples {n}", f"FD means {n} / MLP")


def architecture_title(dataset: str, network: str) -> str:
    return (f"{dataset}: MLP vs {NETWORK_NAMES[network]}, same likelihood (ELBO on all test images; log p of both "
            f"by one estimator on the same first test images, named per row)")


def architecture_row(mlp: Evaluation, other: Evaluation, folders: dict[str, Path] | None = None) -> list[str]:
    common = common_log_p(mlp, other, folders)
    fm, fc = mlp.frechet or Frechet(), other.frechet or Frechet()
    ratio = (fc.sample_means / fm.sample_means) if fm.sample_means and fc.sample_means else None
    return [mlp.decoder, f"{mlp.latent_dim} / {other.latent_dim}", fmt(mlp.test.elbo), fmt(other.test.elbo),
            common.measure or "no common estimate", fmt(common.mlp), fmt(common.other), fmt(common.gain),
            fmt(fm.sample_means), fmt(fc.sample_means), fmt(fm.samples), fmt(fc.samples), fmt(ratio, ".2f")]


def fd_factors(pairs: list[tuple[Evaluation, Evaluation]]) -> tuple[float, int, float, int] | None:
    """The inductive-bias claim in numbers: the median factor (larger FD over smaller, sample means) between the two
    networks of each pair at the same likelihood, and between two likelihoods within one network (every two pairs,
    on each side), with how many factors each median is of; None without both."""
    def fd(ev):
        return (ev.frechet or Frechet()).sample_means

    def median(values):
        values = sorted(values)
        return values[len(values) // 2] if values else None

    by_network = [max(fd(m), fd(c)) / min(fd(m), fd(c)) for m, c in pairs if fd(m) and fd(c)]
    by_likelihood = [max(fd(a), fd(b)) / min(fd(a), fd(b)) for side in (0, 1) for i, pa in enumerate(pairs)
                     for pb in pairs[i + 1:] if fd(a := pa[side]) and fd(b := pb[side])]
    a, b = median(by_network), median(by_likelihood)
    return None if a is None or b is None else (a, len(by_network), b, len(by_likelihood))


def spread_summary(pairs: list[tuple[Evaluation, Evaluation]]) -> str:
    """The line under a network table: ``fd_factors`` in words."""
    found = fd_factors(pairs)
    if found is None:
        return "Not enough evaluated pairs to compare."
    a, na, b, nb = found
    return (f"{SPREAD} of the two architectures at the same likelihood: {a:.2f} "
            f"({na} pairs); between two likelihoods at the same architecture: {b:.2f} ({nb} pairs).")


def read_entries(root: str | Path) -> list[Entry]:
    """Every eval.json under ``root`` that can make a row, with its config's network, sorted by folder; notes on
    the others and on damaged values (shown as –) go to stderr."""
    entries = []
    for path in sorted(Path(root).glob(f"*/{EVAL_NAME}")):
        ev, notes = read_evaluation(path)
        for note in notes:
            print(note, file=sys.stderr)
        if ev is not None and ev.test is not None and ev.name and ev.dataset and ev.data_kind in DATA_KINDS:
            entries.append(Entry(ev, _network(path.parent), path.parent))
        elif ev is not None:
            print(f"{path.parent.name}/{EVAL_NAME} is left out: a row needs its test section, name, dataset and a "
                  f"data kind ({', '.join(DATA_KINDS)}).", file=sys.stderr)
    return entries


def _network(folder: Path) -> str | None:
    try:
        return load_config(folder).network
    except (OSError, ValueError, TypeError) as e:
        print(f"{folder.name} is left out of the network comparison: its config cannot be read ({e}).",
              file=sys.stderr)
        return None


SPREAD = "Median factor between FD (sample means)"  # how spread_summary's line under a network table starts
# a bold title, a blank line, a table, and spread_summary's line after a blank line where the table has one
TABLE = re.compile(rf"^(\*\*[^\n]+\*\*)\n\n((?:\|[^\n]*\n)+(?:\n{re.escape(SPREAD)}[^\n]*\n)?)", re.MULTILINE)


def rewrite_tables(doc: str, printed: str) -> tuple[str, list[str]]:
    """``doc`` with each table that ``printed`` (scripts.findings_table's output) gives under the same bold title
    replaced by the printed one, and the titles the doc lacks (to be placed by hand)."""
    missing = []
    for match in TABLE.finditer(printed):
        title, table = match.groups()
        found = re.search(rf"^{re.escape(title)}\n\n((?:\|[^\n]*\n)+(?:\n{re.escape(SPREAD)}[^\n]*\n)?)", doc,
                          re.MULTILINE)
        if found is None:
            missing.append(title)
            continue
        doc = doc[:found.start()] + f"{title}\n\n{table}" + doc[found.end():]
    return doc, missing


SENTENCE_KEY_WORDS = 8  # a sentence's first words, numbers masked: what finds its older wording in the doc


def sentence_key(sentence: str) -> str:
    """The first SENTENCE_KEY_WORDS words of ``sentence`` with every number masked, so that a sentence whose numbers
    changed finds the line it replaces."""
    return " ".join(re.sub(r"[\d][\d.,]*", "#", sentence).split()[:SENTENCE_KEY_WORDS])


def rewrite_sentences(doc: str, sentences: list[str]) -> tuple[str, list[str]]:
    """``doc`` with each line that holds an older wording of one of ``sentences`` (the same sentence_key, and no
    sentence of ``sentences`` itself; of several, the one most like it) replaced by it, its indent kept; and the
    sentences that matched no line or two equally well (to be placed by hand)."""

    lines = doc.split("\n")
    current = {s.strip() for s in sentences}
    unplaced = []
    for sentence in sentences:
        sentence = sentence.strip()
        if sentence in (line.strip() for line in lines):
            continue
        key = sentence_key(sentence)
        found = [i for i, line in enumerate(lines) if line.strip() not in current and sentence_key(line) == key]
        likeness = sorted(((difflib.SequenceMatcher(None, lines[i].strip(), sentence).ratio(), i) for i in found),
                          reverse=True)
        if not likeness or (len(likeness) > 1 and likeness[0][0] == likeness[1][0]):
            unplaced.append(sentence)
            continue
        found = [likeness[0][1]]
        line = lines[found[0]]
        lines[found[0]] = line[:len(line) - len(line.lstrip())] + sentence
    return "\n".join(lines), unplaced
