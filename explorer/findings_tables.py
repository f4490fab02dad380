"""The findings' tables (explorer.claims.CLAIMS_DOC), one per dataset, from the checkpoints' eval.json files: the
zoo's numbers, the log-likelihood tables (the best estimate each model has against IWAE on the same images) and the
comparison of each network with the MLP at the same likelihood. ``python -m scripts.findings_table`` prints them.

A best estimate is flagged by the one rule the leaderboard, the model cards and index.json use
(vae_core.evaluation.best_likelihood.not_best); where it is flagged, the IWAE stands in for it here too.
"""
from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

from vae_core.base.data import DATA_KINDS
from vae_core.evaluation.judge import AIS, QUADRATURE, not_best
from vae_core.files.names import EVAL_NAME, twin_suffix
from vae_core.files.schema import BestLogLikelihood, Evaluation, Frechet, SigmaStats, TrainingSummary
from vae_core.model.config import NETWORK_NAMES, load_config
from vae_core.zoo.checkpoints import read_evaluation

COLUMNS = ("model", "data", "ELBO", "log p (IWAE)", "bits/dim", "FD sample means", "FD recon means", "FD samples",
           "FD recons", "MSE", "sigma min", "sigma<0.01", "active", "diverged")
LIKELIHOOD_COLUMNS = ("model", "data", "log p (IWAE, 2000 img)", "best log p", "method", "images",
                      "IWAE same images", "best − IWAE", "ELBO same images", "bits/dim (IWAE)", "bits/dim (best)",
                      "not shown as best because")
METHOD_NAMES = {QUADRATURE: "exact (quadrature)", AIS: "AIS (lower bound)"}
MLP = "mlp"  # the network every other one is compared with (VAEConfig.network)


@dataclass
class Entry:
    """One checkpoint's eval.json and the network its config.json names (VAEConfig.network; None: unreadable)."""
    evaluation: Evaluation
    network: str | None


def fmt(v, spec=".1f") -> str:
    return "–" if v is None else format(v, spec)


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
    be shown as the best log p(x) (best_likelihood.not_best), or –."""
    t, b = ev.test, ev.log_likelihood
    if b is None:
        return [ev.name, ev.data_kind, fmt(t.iwae)] + ["–"] * 6 + [fmt(t.bits_per_dim, ".3f"), "–", "–"]

    def pm(key: str) -> str:
        return f"{fmt(getattr(b, key), '.2f')} ± {fmt(getattr(b, key + '_stderr'), '.2f')}"

    images = f"{b.num_images}" + (f" ({b.excluded_images} flagged)" if b.excluded_images else "")
    why_not = not_best(b) if b.estimate is not None else None  # then no bits/dim from it, as on the leaderboard
    return [ev.name, ev.data_kind, fmt(t.iwae), pm("estimate"), METHOD_NAMES.get(b.method, b.method),
            images, pm("iwae"), pm("best_minus_iwae"), fmt(b.elbo), fmt(t.bits_per_dim, ".3f"),
            fmt(None if why_not else b.bits_per_dim, ".3f"), why_not or "–"]


def best_log_p(ev: Evaluation) -> float | None:
    """The best estimate where one stands (best_likelihood.not_best), else the IWAE bound: what the leaderboard
    ranks by."""
    b = ev.log_likelihood or BestLogLikelihood()
    return b.estimate if b.estimate is not None and not_best(b) is None else ev.test.iwae


def network_pairs(entries: list[Entry]) -> dict[str, list[tuple[Evaluation, Evaluation]]]:
    """For each network other than the MLP that has any (NETWORK_NAMES' order), the (MLP, that network) eval.json
    pairs of the same data and likelihood: zoo.toml names an entry after its MLP twin plus the network
    (vae_core.files.names.twin_suffix), so a residual conv entry is compared with the MLP, never counted as plain
    conv. The latent size may differ (MNIST's conv entries use 4, docs/conv_choice.md), and the table says so."""
    mlp = {e.evaluation.name: e.evaluation for e in entries if e.network == MLP}
    pairs: dict[str, list[tuple[Evaluation, Evaluation]]] = {}
    for network in NETWORK_NAMES:
        suffix = twin_suffix(network)
        found = [(mlp[e.evaluation.name.removesuffix(suffix)], e.evaluation) for e in entries
                 if network != MLP and e.network == network and e.evaluation.name.endswith(suffix)
                 and e.evaluation.name.removesuffix(suffix) in mlp]
        if found:
            pairs[network] = found
    return pairs


def architecture_columns(network: str) -> tuple[str, ...]:
    """The columns of the MLP against ``network`` table."""
    n = NETWORK_NAMES[network]
    return ("likelihood", f"latent MLP / {n}", "ELBO MLP", f"ELBO {n}", "log p MLP", f"log p {n}",
            f"{n} − MLP (nats)", "FD sample means MLP", f"FD sample means {n}", "FD samples MLP",
            f"FD samples {n}", f"FD means {n} / MLP")


def architecture_title(dataset: str, network: str) -> str:
    return f"{dataset}: MLP vs {NETWORK_NAMES[network]}, same likelihood (log p: best estimate, else IWAE)"


def architecture_row(mlp: Evaluation, other: Evaluation) -> list[str]:
    lm, lc = best_log_p(mlp), best_log_p(other)
    fm, fc = mlp.frechet or Frechet(), other.frechet or Frechet()
    ratio = (fc.sample_means / fm.sample_means) if fm.sample_means and fc.sample_means else None
    gain = lc - lm if lm is not None and lc is not None else None
    return [mlp.decoder, f"{mlp.latent_dim} / {other.latent_dim}", fmt(mlp.test.elbo), fmt(other.test.elbo),
            fmt(lm), fmt(lc), fmt(gain),
            fmt(fm.sample_means), fmt(fc.sample_means), fmt(fm.samples), fmt(fc.samples), fmt(ratio, ".2f")]


def spread_summary(pairs: list[tuple[Evaluation, Evaluation]]) -> str:
    """The inductive-bias claim in numbers: the median factor by which FD (sample means) changes when only the
    architecture changes, against when only the likelihood changes (every pair of likelihoods, same architecture)."""
    def fd(ev):
        return (ev.frechet or Frechet()).sample_means

    def median(values):
        values = sorted(values)
        return values[len(values) // 2] if values else None

    by_architecture = [max(fd(m), fd(c)) / min(fd(m), fd(c)) for m, c in pairs if fd(m) and fd(c)]
    by_likelihood = [max(fd(a), fd(b)) / min(fd(a), fd(b)) for side in (0, 1) for i, pa in enumerate(pairs)
                     for pb in pairs[i + 1:] if fd(a := pa[side]) and fd(b := pb[side])]
    a, b = median(by_architecture), median(by_likelihood)
    if a is None or b is None:
        return "Not enough evaluated pairs to compare."
    return (f"Median factor between FD (sample means) of the two architectures at the same likelihood: {a:.2f} "
            f"({len(by_architecture)} pairs); between two likelihoods at the same architecture: {b:.2f} "
            f"({len(by_likelihood)} pairs).")


def read_entries(root: str | Path) -> list[Entry]:
    """Every eval.json under ``root`` that can make a row, with its config's network, sorted by folder; notes on
    the others and on damaged values (shown as –) go to stderr."""
    entries = []
    for path in sorted(Path(root).glob(f"*/{EVAL_NAME}")):
        ev, notes = read_evaluation(path)
        for note in notes:
            print(note, file=sys.stderr)
        if ev is not None and ev.test is not None and ev.name and ev.dataset and ev.data_kind in DATA_KINDS:
            entries.append(Entry(ev, _network(path.parent)))
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
