"""AIS log-likelihood (vae_core.ais): cost at the shipped settings, convergence with the number of intermediate
distributions, AIS against IWAE on the same images, and the BDMC sandwich on data simulated from each model.

Images are the first test images (the sample embedded in the package, in model form with the fixed seed 0).

    python scripts/bench_ais.py budget --model mnist-gaussian-pixel --images 1000 --threads 2
    python scripts/bench_ais.py curve --models mnist-bernoulli mnist-gaussian-pixel mnist-gaussian-fixed \\
        --images 100 --steps 100 300 1000 3000
    python scripts/bench_ais.py bdmc --models mnist-bernoulli mnist-gaussian-pixel mnist-gaussian-fixed --images 50

Each command prints a markdown table and, with --json PATH, appends its rows to PATH as JSON lines.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from vae_core.ais import CHAINS, LEAPFROG_STEPS, NUM_STEPS, ais_log_likelihood, bdmc  # noqa: E402
from vae_core.data import fixed_test_input, load_sample  # noqa: E402
from vae_core.metrics import iwae_log_likelihood, mean_and_stderr  # noqa: E402
from vae_core.zoo import DEFAULT_ZOO, load_model  # noqa: E402

IWAE_K = 1000


def test_images(model, n: int) -> torch.Tensor:
    images, _ = load_sample(model.config.dataset)
    if n > len(images):
        raise SystemExit(f"only {len(images)} embedded test images; asked for {n}")
    return fixed_test_input(images[:n], model.data_kind, seed=0)


def machine() -> str:
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    return (f"{platform.processor() or platform.machine()}, torch {torch.__version__}, "
            f"{torch.get_num_threads()} threads, load average {load:.1f} at the start")


def budget(args) -> list[dict]:
    """Wall time of AIS at the shipped settings on ``--images`` test images of one model."""
    model = load_model(DEFAULT_ZOO / args.model)
    x = test_images(model, args.images)
    start, cpu = time.perf_counter(), time.process_time()
    result = ais_log_likelihood(model, x, seed=0, progress=True)
    seconds, cpu = time.perf_counter() - start, time.process_time() - cpu
    mean, se = result.mean_and_stderr()
    return [{"part": "budget", "model": args.model, "images": args.images, "num_steps": NUM_STEPS,
             "chains": CHAINS, "leapfrog_steps": LEAPFROG_STEPS, "seconds": round(seconds, 1),
             "cpu_seconds": round(cpu, 1),  # with other processes on the machine, CPU time is the fairer cost
             "ais": round(mean, 2), "ais_stderr": round(se, 2), "acceptance": round(result.acceptance, 3),
             "flagged": int(result.flagged.sum()), "machine": machine()}]


def curve(args) -> list[dict]:
    """AIS at each number of intermediate distributions, and IWAE (k = 1000) on the same images."""
    rows = []
    for name in args.models:
        model = load_model(DEFAULT_ZOO / name)
        x = test_images(model, args.images)
        iwae = iwae_log_likelihood(model, x, k=IWAE_K, seed=0)
        iwae_mean, iwae_se = mean_and_stderr(iwae)
        for steps in args.steps:
            start = time.perf_counter()
            result = ais_log_likelihood(model, x, num_steps=steps, seed=0, progress=True)
            seconds = time.perf_counter() - start
            mean, se = result.mean_and_stderr()
            diff, diff_se = mean_and_stderr(result.log_px - iwae)
            rows.append({"part": "curve", "model": name, "images": args.images, "num_steps": steps, "chains": CHAINS,
                         "ais": round(mean, 2), "ais_stderr": round(se, 2), "iwae_k": IWAE_K,
                         "iwae": round(iwae_mean, 2), "iwae_stderr": round(iwae_se, 2),
                         "ais_minus_iwae": round(diff, 2), "ais_minus_iwae_stderr": round(diff_se, 2),
                         "acceptance": round(result.acceptance, 3), "flagged": int(result.flagged.sum()),
                         "seconds": round(seconds, 1), "machine": machine()})
            print(rows[-1], flush=True)
    return rows


def bdmc_rows(args) -> list[dict]:
    """Forward (lower) and reverse (upper) AIS on images simulated from each model, at ``--steps``."""
    rows = []
    for name in args.models:
        model = load_model(DEFAULT_ZOO / name)
        for steps in args.steps:
            start = time.perf_counter()
            result = bdmc(model, args.images, num_steps=steps, seed=0, progress=True)
            lower, lower_se = mean_and_stderr(result.lower)
            upper, upper_se = mean_and_stderr(result.upper)
            gap, gap_se = mean_and_stderr(result.gap)
            rows.append({"part": "bdmc", "model": name, "images": args.images, "num_steps": steps, "chains": CHAINS,
                         "lower": round(lower, 2), "lower_stderr": round(lower_se, 2), "upper": round(upper, 2),
                         "upper_stderr": round(upper_se, 2), "gap": round(gap, 2), "gap_stderr": round(gap_se, 2),
                         "gap_median": round(float(result.gap.median()), 2),
                         "forward_acceptance": round(result.forward.acceptance, 3),
                         "reverse_acceptance": round(result.reverse_acceptance, 3),
                         "seconds": round(time.perf_counter() - start, 1), "machine": machine()})
            print(rows[-1], flush=True)
    return rows


def markdown(rows: list[dict]) -> str:
    keys = [k for k in rows[0] if k not in ("part", "machine")]
    lines = ["| " + " | ".join(keys) + " |", "|" + "---|" * len(keys)]
    lines += ["| " + " | ".join(str(r[k]) for k in keys) + " |" for r in rows]
    return "\n".join(lines) + f"\n\nMachine: {rows[0]['machine']}\n"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's choice)")
    parser.add_argument("--json", type=Path, default=None, help="append the rows to this JSON-lines file")
    sub = parser.add_subparsers(dest="part", required=True)
    b = sub.add_parser("budget")
    b.add_argument("--model", default="mnist-gaussian-pixel")
    b.add_argument("--images", type=int, default=1000)
    c = sub.add_parser("curve")
    c.add_argument("--models", nargs="+", default=["mnist-bernoulli", "mnist-gaussian-pixel", "mnist-gaussian-fixed"])
    c.add_argument("--images", type=int, default=100)
    c.add_argument("--steps", type=int, nargs="+", default=[100, 300, 1000, 3000])
    d = sub.add_parser("bdmc")
    d.add_argument("--models", nargs="+", default=["mnist-bernoulli", "mnist-gaussian-pixel", "mnist-gaussian-fixed"])
    d.add_argument("--images", type=int, default=50)
    d.add_argument("--steps", type=int, nargs="+", default=[NUM_STEPS])
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    rows = {"budget": budget, "curve": curve, "bdmc": bdmc_rows}[args.part](args)
    print(markdown(rows))
    if args.json:
        with open(args.json, "a") as f:
            f.writelines(json.dumps(r) + "\n" for r in rows)


if __name__ == "__main__":
    main()
