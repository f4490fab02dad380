"""Print the findings' tables (explorer.claims.CLAIMS_DOC), one per dataset, from the checkpoints' eval.json files,
then the log-likelihood tables: the best estimate each model has (exact quadrature for 2-D latents, AIS otherwise; see
scripts/evaluate_likelihoods.py), its method and images, and how far IWAE on the same images lies below it.

    python -m scripts.findings_table [checkpoints]
"""
from __future__ import annotations

import sys
from pathlib import Path

from vae_core.base.data import DATA_KINDS, is_bounded
from vae_core.evaluation.best_likelihood import AIS, QUADRATURE
from vae_core.files.names import EVAL_NAME
from vae_core.files.schema import BestLogLikelihood, Evaluation, Frechet, SigmaStats, TrainingSummary
from vae_core.zoo.checkpoints import read_evaluation

COLUMNS = ("model", "data", "ELBO", "log p (IWAE)", "bits/dim", "FD sample means", "FD recon means", "FD samples",
           "FD recons", "MSE", "sigma min", "sigma<0.01", "active", "diverged")
LIKELIHOOD_COLUMNS = ("model", "data", "log p (IWAE, 2000 img)", "best log p", "method", "images",
                      "IWAE same images", "best − IWAE", "ELBO same images", "bits/dim (IWAE)", "bits/dim (best)")
METHOD_NAMES = {QUADRATURE: "exact (quadrature)", AIS: "AIS (lower bound)"}
CONV_SUFFIX = "-conv"  # zoo.toml: a conv entry is its MLP partner's name plus this suffix
ARCHITECTURE_COLUMNS = ("likelihood", "latent MLP / conv", "ELBO MLP", "ELBO conv", "log p MLP", "log p conv",
                        "conv − MLP (nats)", "FD sample means MLP", "FD sample means conv", "FD samples MLP",
                        "FD samples conv", "FD means conv / MLP")


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
    t, b = ev.test, ev.log_likelihood
    if b is None:
        return [ev.name, ev.data_kind, fmt(t.iwae)] + ["–"] * 6 + [fmt(t.bits_per_dim, ".3f"), "–"]

    def pm(key: str) -> str:
        return f"{fmt(getattr(b, key), '.2f')} ± {fmt(getattr(b, key + '_stderr'), '.2f')}"

    images = f"{b.num_images}" + (f" ({b.excluded_images} flagged)" if b.excluded_images else "")
    if b.warning:  # AIS far below IWAE on some images: not converged there (vae_core.evaluation.best_likelihood)
        images += f", AIS < IWAE - 5 on {b.images_far_below_iwae}"

    return [ev.name, ev.data_kind, fmt(t.iwae), pm("estimate"), METHOD_NAMES.get(b.method, b.method),
            images, pm("iwae"), pm("best_minus_iwae"), fmt(b.elbo), fmt(t.bits_per_dim, ".3f"),
            fmt(b.bits_per_dim, ".3f")]


def best_log_p(ev: Evaluation) -> float | None:
    """The best estimate where one exists (quadrature or AIS), else the IWAE bound: what the leaderboard ranks by."""
    b = ev.log_likelihood or BestLogLikelihood()
    return b.estimate if b.estimate is not None and not b.warning else ev.test.iwae


def architecture_pairs(evals: list[Evaluation]) -> list[tuple[Evaluation, Evaluation]]:
    """(MLP, conv) eval.json pairs of the same data and likelihood (zoo.toml's naming); the latent size may differ
    (MNIST's conv entries use 4, docs/conv_choice.md), and the table says so."""
    by_name = {ev.name: ev for ev in evals}
    return [(by_name[ev.name.removesuffix(CONV_SUFFIX)], ev) for ev in evals
            if ev.name.endswith(CONV_SUFFIX) and ev.name.removesuffix(CONV_SUFFIX) in by_name]


def architecture_row(mlp: Evaluation, conv: Evaluation) -> list[str]:
    lm, lc = best_log_p(mlp), best_log_p(conv)
    fm, fc = mlp.frechet or Frechet(), conv.frechet or Frechet()
    ratio = (fc.sample_means / fm.sample_means) if fm.sample_means and fc.sample_means else None
    gain = lc - lm if lm is not None and lc is not None else None
    return [mlp.decoder, f"{mlp.latent_dim} / {conv.latent_dim}", fmt(mlp.test.elbo), fmt(conv.test.elbo), fmt(lm),
            fmt(lc), fmt(gain),
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


def read_evaluations(root: str) -> list[Evaluation]:
    """Every eval.json under ``root`` that can make a row, sorted by folder; notes on the others and on damaged
    values (shown as –) go to stderr."""
    evals = []
    for path in sorted(Path(root).glob(f"*/{EVAL_NAME}")):
        ev, notes = read_evaluation(path)
        for note in notes:
            print(note, file=sys.stderr)
        if ev is not None and ev.test is not None and ev.name and ev.dataset and ev.data_kind in DATA_KINDS:
            evals.append(ev)
        elif ev is not None:
            print(f"{path.parent.name}/{EVAL_NAME} is left out: a row needs its test section, name, dataset and a "
                  f"data kind ({', '.join(DATA_KINDS)}).", file=sys.stderr)
    return evals


def print_table(title: str, columns: tuple[str, ...], rows: list[list[str]]) -> None:
    print(f"\n**{title}**\n")
    print("| " + " | ".join(columns) + " |")
    print("|" + "---|" * len(columns))
    for r in rows:
        print("| " + " | ".join(r + ["–"] * (len(columns) - len(r))) + " |")


def main(root: str = "checkpoints") -> None:
    evals = read_evaluations(root)
    bounded = [ev for ev in evals if is_bounded(ev.data_kind)]
    unbounded = [ev for ev in evals if not is_bounded(ev.data_kind)]
    datasets = [d for d in ("mnist", "fashion-mnist") if any(ev.dataset == d for ev in evals)]
    for dataset in datasets:
        print_table(dataset, COLUMNS, [row(ev) for ev in bounded if ev.dataset == dataset])
    for dataset in datasets:
        print_table(f"{dataset}: log-likelihood, best estimate against IWAE", LIKELIHOOD_COLUMNS,
                    [likelihood_row(ev) for ev in bounded if ev.dataset == dataset])
    for dataset in datasets:
        pairs = [(m, c) for m, c in architecture_pairs(bounded) if m.dataset == dataset]
        if pairs:
            print_table(f"{dataset}: MLP vs conv, same likelihood (log p: best estimate, else IWAE)",
                        ARCHITECTURE_COLUMNS, [architecture_row(m, c) for m, c in pairs])
            print(f"\n{spread_summary(pairs)}")
    if unbounded:  # never ranked with the bounded models (vae_core.base.data.UNBOUNDED_REASON)
        print_table("raw pixels, not ranked", COLUMNS, [row(ev) for ev in unbounded])
        print_table("raw pixels: log-likelihood", LIKELIHOOD_COLUMNS, [likelihood_row(ev) for ev in unbounded])
    print_claims(root)


def print_claims(root: str) -> None:
    """The findings' sentences on likelihood against samples (explorer.claims.findings), then those of the
    plain-words paragraphs (explorer.claims.paragraph_sentences), one a line."""
    from explorer import claims, tables
    from vae_core.zoo.checkpoints import scan

    checkpoints = scan(root)[0]
    frame = tables.leaderboard(checkpoints)
    print()
    for sentence in claims.findings(frame):
        print(f"  {sentence}")
    for sentence in claims.paragraph_sentences(frame, checkpoints):
        print(f"  {sentence}")
    print(claims.cost_sentence(checkpoints, Path(root)))
    from vae_core.zoo import ledger

    rows = ledger.read_ledger()
    for ckpt in checkpoints:
        if ckpt.evaluation is not None and any(r.get("model") == ckpt.name for r in rows):
            print(ledger.target_sentence(ckpt.evaluation))
            print("\n".join(ledger.progress_sentences(rows, ckpt.evaluation)))
    print(claims.training_sentence(checkpoints))
    classifiers = claims.classifier_sentence()
    if classifiers:
        print(classifiers)


if __name__ == "__main__":
    main(*sys.argv[1:])
