"""Print the findings' tables (explorer.claims.CLAIMS_DOC; built by explorer.findings_tables), one per dataset, from
the checkpoints' eval.json files, then the log-likelihood tables: the best estimate each model has (exact quadrature
for 2-D latents, AIS otherwise; see scripts/evaluate_likelihoods.py), its method and images, how far IWAE on the same
images lies below it, its sandwich (the wider-proposal IWAE and the BDMC gap; – where it has none yet) and, where
it may not be shown as the best, why; then each network against the MLP, log p of both by one estimator on the same
test images.

    python -m scripts.findings_table [checkpoints]
    python -m scripts.findings_table --rewrite [checkpoints]   # replace the findings' tables by title and their
                                                               # sentences by their first words, in place
"""
from __future__ import annotations

import sys
from pathlib import Path

from explorer import findings_tables as ft
from vae_core.base.data import is_bounded


def print_table(title: str, columns: tuple[str, ...], rows: list[list[str]]) -> None:
    print(f"\n**{title}**\n")
    print("| " + " | ".join(columns) + " |")
    print("|" + "---|" * len(columns))
    for r in rows:
        print("| " + " | ".join(r + ["–"] * (len(columns) - len(r))) + " |")


def main(root: str = "checkpoints") -> None:
    entries = ft.read_entries(root)
    evals = [e.evaluation for e in entries]
    bounded = [ev for ev in evals if is_bounded(ev.data_kind)]
    unbounded = [ev for ev in evals if not is_bounded(ev.data_kind)]
    datasets = [d for d in ("mnist", "fashion-mnist") if any(ev.dataset == d for ev in evals)]
    for dataset in datasets:
        print_table(dataset, ft.COLUMNS, [ft.row(ev) for ev in bounded if ev.dataset == dataset])
    for dataset in datasets:
        print_table(f"{dataset}: log-likelihood, best estimate against IWAE", ft.LIKELIHOOD_COLUMNS,
                    [ft.likelihood_row(ev) for ev in bounded if ev.dataset == dataset])
    by_network = ft.network_pairs([e for e in entries if is_bounded(e.evaluation.data_kind)])
    folders = {e.evaluation.name: e.folder for e in entries}
    for dataset in datasets:
        for network, pairs in by_network.items():  # each network against the MLP, residual conv apart from conv
            pairs = [(m, c) for m, c in pairs if m.dataset == dataset]
            if pairs:
                print_table(ft.architecture_title(dataset, network), ft.architecture_columns(network),
                            [ft.architecture_row(m, c, folders) for m, c in pairs])
                print(f"\n{ft.spread_summary(pairs)}")
    if unbounded:  # never ranked with the bounded models (vae_core.base.data.UNBOUNDED_REASON)
        print_table("raw pixels, not ranked", ft.COLUMNS, [ft.row(ev) for ev in unbounded])
        print_table("raw pixels: log-likelihood", ft.LIKELIHOOD_COLUMNS, [ft.likelihood_row(ev) for ev in unbounded])
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
    for sentence in (claims.ais_settings_sentence(checkpoints), claims.not_best_findings_sentence(frame)):
        if sentence:
            print(sentence)
    from vae_core.zoo import ledger

    rows, redrawn = ledger.read_ledger(), ledger.read_binarizations()
    burda = ledger.entries(checkpoints, rows)
    if burda:
        print(ledger.verdict_sentence([c.evaluation for c in burda]))
    for ckpt in burda:
        print(ledger.target_sentence(ckpt.evaluation))
        spread = ledger.binarization_sentence(ckpt.evaluation, ledger.weights_digest(ckpt.path), redrawn)
        if spread:
            print(spread)
        print("\n".join(ledger.progress_sentences(rows, ckpt.evaluation)))
    print(claims.training_sentence(checkpoints))
    classifiers = claims.classifier_sentence()
    if classifiers:
        print(classifiers)


def rewrite(root: str = "checkpoints") -> None:
    """Write the tables main() prints into explorer.claims.CLAIMS_DOC, each under its bold title, and its sentences
    (with the blank canvas's, which loads every model) over their older wordings; name what must be placed by hand."""
    import contextlib
    import io

    from explorer import claims
    from vae_core.zoo.checkpoints import load_model, scan

    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        main(root)
    text, missing = ft.rewrite_tables(claims.CLAIMS_DOC.read_text(), printed.getvalue())
    checkpoints = scan(root)[0]
    blank = claims.blank_canvas_sentence([claims.blank_verdict(c, load_model(c.path)) for c in checkpoints])
    sentences = [line.strip() for line in printed.getvalue().splitlines()
                 if line.strip() and not line.lstrip().startswith(("|", "**", ft.SPREAD))] + [blank]
    text, unplaced = ft.rewrite_sentences(text, sentences)
    claims.CLAIMS_DOC.write_text(text)
    for title in missing:
        print(f"{claims.CLAIMS_DOC} has no table titled {title}: place it by hand.", file=sys.stderr)
    for sentence in unplaced:
        print(f"{claims.CLAIMS_DOC}: no one line to replace by this sentence, place it by hand: {sentence}",
              file=sys.stderr)


if __name__ == "__main__":
    if sys.argv[1:2] == ["--rewrite"]:
        rewrite(*sys.argv[2:])
    else:
        main(*sys.argv[1:])
