"""Cost of the log-likelihood estimators on the shipped checkpoints, as docs/benchmarks.md's budget table reports it.

    python -m scripts.bench_likelihood --threads 2 quadrature            # exact 2-D quadrature, s per image
    python -m scripts.bench_likelihood --threads 2 --images 100 quadrature --check

Shared file: the quadrature rows are ``quadrature_rows`` (its owner: the quadrature's author); AIS rows belong
in a separate ``ais_rows`` function registered in BENCHES by the AIS author. Keep each to its own function.
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch

from vae_core.base.data import fixed_test_input, load_sample
from vae_core.evaluation.quadrature import exact_log_likelihood
from vae_core.zoo.checkpoints import load_model

CHECKPOINTS = Path(__file__).resolve().parent.parent / "checkpoints"


def quadrature_rows(images: int, check: bool = False) -> list[dict]:
    """Seconds per image of exact_log_likelihood (default settings) on each shipped 2-D checkpoint, on the first
    ``images`` of the embedded test sample; with ``check``, also the largest change against a stricter run
    (coarse spacing 0.25, margin 40 nats, tol 0.01) on the same images."""
    rows = []
    for folder in sorted(CHECKPOINTS.glob("*-2d")):
        model = load_model(folder)
        sample, _ = load_sample(model.config.dataset)
        x = fixed_test_input(sample[:images], model.data_kind, seed=0)  # (N, 1, 28, 28)
        start = time.perf_counter()
        result = exact_log_likelihood(model, x)
        seconds = time.perf_counter() - start
        row = {"bench": "quadrature", "model": folder.name, "images": len(x), "threads": torch.get_num_threads(),
               "seconds_per_image": seconds / len(x), "converged": int(result.converged.sum()),
               "error_max": float(result.error.max()), "evaluations_mean": float(result.evaluations.double().mean()),
               "mode_norm_max": float(result.mode.norm(dim=1).max())}
        if check:
            strict = exact_log_likelihood(model, x, coarse_spacing=0.25, margin=40.0, tol=0.01)
            row["max_change_vs_strict"] = float((result.log_px - strict.log_px).abs().max())
        rows.append(row)
        print(json.dumps(row), flush=True)
    return rows


BENCHES = {"quadrature": quadrature_rows}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("bench", choices=sorted(BENCHES))
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--images", type=int, default=20)
    parser.add_argument("--check", action="store_true", help="compare with a stricter run (quadrature)")
    args = parser.parse_args(argv)
    if args.threads < 1 or args.images < 1:
        parser.error("--threads and --images must be positive")
    torch.set_num_threads(args.threads)
    BENCHES[args.bench](args.images, check=args.check)


if __name__ == "__main__":
    main()
