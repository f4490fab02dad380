"""Print the README's findings tables (one per dataset) from the checkpoints' eval.json files, then the
log-likelihood tables: the best estimate each model has (exact quadrature for 2-D latents, AIS otherwise; see
scripts/evaluate_likelihoods.py), its method and images, and how far IWAE on the same images lies below it.

    python -m scripts.findings_table [checkpoints]
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

from vae_core.data import is_bounded

COLUMNS = ("model", "data", "ELBO", "log p (IWAE)", "bits/dim", "FD sample means", "FD recon means", "FD samples",
           "FD recons", "MSE", "sigma min", "sigma<0.01", "active", "diverged")
LIKELIHOOD_COLUMNS = ("model", "data", "log p (IWAE, 2000 img)", "best log p", "method", "images",
                      "IWAE same images", "best − IWAE", "ELBO same images", "bits/dim (IWAE)", "bits/dim (best)")
METHOD_NAMES = {"quadrature": "exact (quadrature)", "ais": "AIS (lower bound)"}


def fmt(v, spec=".1f") -> str:
    return "–" if v is None else format(v, spec)


def row(ev: dict) -> list[str]:
    t, s, f, tr = ev["test"], ev.get("sigma") or {}, ev.get("frechet") or {}, ev["training"]
    return [ev["name"], ev["data_kind"], fmt(t["elbo"]),
            f"{fmt(t['iwae'])} ± {fmt(t['iwae_stderr'], '.1f')}" if t["iwae"] is not None else "–",
            fmt(t["bits_per_dim"], ".3f"), fmt(f.get("sample_means")), fmt(f.get("reconstruction_means")),
            fmt(f.get("samples")), fmt(f.get("reconstructions")),
            fmt(t["mse"], ".4f"), fmt(s.get("min"), ".1e"), fmt(s.get("frac_below_0.01"), ".2f"),
            f"{t['active_units']}/{ev['latent_dim']}", str(tr["diverged_at_epoch"] or "–")]


def likelihood_row(ev: dict) -> list[str]:
    t, b = ev["test"], ev.get("log_likelihood") or {}
    if not b:
        return [ev["name"], ev["data_kind"], fmt(t["iwae"])] + ["–"] * 6 + [fmt(t["bits_per_dim"], ".3f"), "–"]

    def pm(key: str) -> str:
        return f"{fmt(b.get(key), '.2f')} ± {fmt(b.get(key + '_stderr'), '.2f')}"

    images = f"{b['num_images']}" + (f" ({b['excluded_images']} flagged)" if b.get("excluded_images") else "")
    if b.get("warning"):  # AIS far below IWAE on some images: not converged there (vae_core.best_likelihood)
        images += f", AIS < IWAE - 5 on {b['images_far_below_iwae']}"

    return [ev["name"], ev["data_kind"], fmt(t["iwae"]), pm("estimate"), METHOD_NAMES.get(b["method"], b["method"]),
            images, pm("iwae"), pm("best_minus_iwae"), fmt(b.get("elbo")), fmt(t["bits_per_dim"], ".3f"),
            fmt(b.get("bits_per_dim"), ".3f")]


def print_table(title: str, columns: tuple[str, ...], rows: list[list[str]]) -> None:
    print(f"\n**{title}**\n")
    print("| " + " | ".join(columns) + " |")
    print("|" + "---|" * len(columns))
    for r in rows:
        print("| " + " | ".join(r + ["–"] * (len(columns) - len(r))) + " |")


def main(root: str = "checkpoints") -> None:
    evals = [json.loads(p.read_text()) for p in sorted(Path(root).glob("*/eval.json"))]
    bounded = [ev for ev in evals if is_bounded(ev["data_kind"])]
    unbounded = [ev for ev in evals if not is_bounded(ev["data_kind"])]
    datasets = [d for d in ("mnist", "fashion-mnist") if any(ev["dataset"] == d for ev in evals)]
    for dataset in datasets:
        print_table(dataset, COLUMNS, [row(ev) for ev in bounded if ev["dataset"] == dataset])
    for dataset in datasets:
        print_table(f"{dataset}: log-likelihood, best estimate against IWAE", LIKELIHOOD_COLUMNS,
                    [likelihood_row(ev) for ev in bounded if ev["dataset"] == dataset])
    if unbounded:  # never ranked with the bounded models (vae_core.data.UNBOUNDED_REASON)
        print_table("raw pixels, not ranked", COLUMNS, [row(ev) for ev in unbounded])
        print_table("raw pixels: log-likelihood", LIKELIHOOD_COLUMNS, [likelihood_row(ev) for ev in unbounded])


if __name__ == "__main__":
    main(*sys.argv[1:])
