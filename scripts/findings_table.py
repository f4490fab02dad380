"""Print the README's findings tables (one per dataset) from the checkpoints' eval.json files.

    python scripts/findings_table.py [checkpoints]
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

COLUMNS = ("model", "data", "ELBO", "log p (IWAE)", "bits/dim", "FD sample means", "FD recon means", "FD samples",
           "FD recons", "MSE", "sigma min", "sigma<0.01", "active", "diverged")


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


def main(root: str = "checkpoints") -> None:
    evals = [json.loads(p.read_text()) for p in sorted(Path(root).glob("*/eval.json"))]
    for dataset in ("mnist", "fashion-mnist"):
        rows = [row(ev) for ev in evals if ev["dataset"] == dataset]
        if not rows:
            continue
        print(f"\n**{dataset}**\n")
        print("| " + " | ".join(COLUMNS) + " |")
        print("|" + "---|" * len(COLUMNS))
        for r in rows:
            print("| " + " | ".join(r) + " |")


if __name__ == "__main__":
    main(*sys.argv[1:])
