"""AIS log-likelihood (evaluation.ais): cost at the shipped settings, convergence with the number of intermediate
distributions, AIS against IWAE on the same images, and the BDMC sandwich on data simulated from each model.

Images are the first test images (the sample embedded in the package, in model form with the fixed seed 0).

    python -m scripts.bench_ais budget --model mnist-gaussian-pixel --images 1000 --threads 2
    python -m scripts.bench_ais curve --models mnist-bernoulli mnist-gaussian-pixel mnist-gaussian-fixed \\
        --images 100 --steps 100 300 1000 3000
    python -m scripts.bench_ais bdmc --models mnist-bernoulli mnist-gaussian-pixel mnist-gaussian-fixed --images 50
    python -m scripts.bench_ais --threads 1 bdmc --models mnist-gaussian-pixel --images 16 --start encoder \
        --masses identity encoder   # HMC's steps scaled by q(z|x) or not, on the same simulated images
    python -m scripts.bench_ais --threads 1 images --model mnist-gaussian-shared-resconv --images 20 --steps 100 \
        --start encoder   # which simulated images a sandwich's gap comes from, and how far q(z|x) is from their z
    python -m scripts.bench_ais --threads 1 paths --model mnist-bernoulli --images 20   # old code vs eager vs compiled
    python -m scripts.bench_ais --threads 1 settings --model fashion-mnist-gaussian-pixel --images 50 \
        --settings 300x4 1000x4 2000x4 1000x8 --data-dir ../shared/datasets   # which setting converges on a model

Each command prints a markdown table and, with --json PATH, appends its rows to PATH as JSON lines.
"""
from __future__ import annotations

import argparse
import importlib.util
import json
import math
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

from vae_core.base import devices
from vae_core.base.data import fixed_test_input, load_sample, load_split
from vae_core.evaluation.ais import (
    CHAINS,
    LEAPFROG_STEPS,
    MASSES,
    NUM_STEPS,
    STARTS,
    ais_log_likelihood,
    bdmc,
    simulate,
)
from vae_core.evaluation.best_likelihood import FAR_BELOW_IWAE
from vae_core.evaluation.metrics import iwae_log_likelihood, mean_and_stderr
from vae_core.files.names import DEFAULT_ZOO
from vae_core.model import likelihoods
from vae_core.zoo.checkpoints import load_model

IWAE_K = 1000
# The last commit whose vae_core/ais.py (now vae_core/evaluation/ais.py) had no fast path: autograd through
# model.decode over all rows at once.
REFERENCE_COMMIT = "611a38e"


def test_images(model, n: int, data_dir: str | None = None) -> torch.Tensor:
    """The first n test images in model form: of the full test split with ``data_dir`` (what eval.json uses),
    else of the embedded sample."""
    if data_dir:
        images, _ = load_split(model.config.dataset, "test", data_dir)
        return fixed_test_input(images, model.data_kind, seed=0)[:n]
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
             "flagged": int(result.flagged.sum()), "compiled": result.compiled, "machine": machine()}]


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
    """Forward (lower) and reverse (upper) AIS on images simulated from each model, at ``--steps``, from ``--start``,
    with each of ``--masses`` (the same simulated images for all: the same seed)."""
    rows = []
    for name in args.models:
        model = load_model(DEFAULT_ZOO / name)
        for steps, mass in ((s, m) for s in args.steps for m in args.masses):
            start = time.perf_counter()
            result = bdmc(model, args.images, num_steps=steps, seed=0, progress=True, start=args.start, mass=mass)
            lower, lower_se = mean_and_stderr(result.lower)
            upper, upper_se = mean_and_stderr(result.upper)
            gap, gap_se = mean_and_stderr(result.gap)
            rows.append({"part": "bdmc", "model": name, "images": args.images, "num_steps": steps, "chains": CHAINS,
                         "start": args.start, "mass": mass, "lower": round(lower, 2),
                         "lower_stderr": round(lower_se, 2), "upper": round(upper, 2),
                         "upper_stderr": round(upper_se, 2), "gap": round(gap, 2), "gap_stderr": round(gap_se, 2),
                         "gap_median": round(float(result.gap.median()), 2),
                         "forward_acceptance": round(result.forward.acceptance, 3),
                         "reverse_acceptance": round(result.reverse_acceptance, 3),
                         "seconds": round(time.perf_counter() - start, 1), "machine": machine()})
            print(rows[-1], flush=True)
    return rows


def z_scores(model, x: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
    """(N,) how far the encoder's q(z|x) puts each true latent z (N, L): the root mean square over latent dimensions
    of (z - mean) / sd. About 1 where q(z|x) covers the posterior that z was drawn from."""
    with torch.no_grad():
        q = model.encode(x).base_dist
        return ((z - q.loc) / q.scale).pow(2).mean(1).sqrt()


def image_rows(args) -> list[dict]:
    """One row per image simulated from ``--model`` (the seed of the zoo's sandwich, so its images): the true
    latent's distance from q(z|x), for x as simulated and for the decoder's noise-free mean at z, and the decoder's
    smallest sigma at z (where it has one); with ``--steps``, also its BDMC bounds and gap. Sorted by gap (else by
    distance), so the images a mean gap comes from lead. ``--float64`` runs all of it in double precision, for a
    model whose smallest sigma is below float32's resolution at a pixel's value (x ~ p(x|z) rounds to the mean)."""
    model = load_model(DEFAULT_ZOO / args.model).to(torch.float64 if args.float64 else torch.float32)
    start = time.perf_counter()
    if args.steps:
        result = bdmc(model, args.images, num_steps=args.steps, seed=0, progress=True, start=args.start)
        x, z = result.x, result.z
    else:
        result = None
        x, z = simulate(model, args.images, seed=0)
    with torch.no_grad():
        decoded = model.decode(z)
        clean = decoded.mean  # (N, *event) x's mean given its z: the simulated image without the noise
        sigma = decoded.base_dist.stddev.flatten(1).min(1).values if model.likelihood.has_sigma() else None  # (N,)
    distance, clean_distance = z_scores(model, x, z), z_scores(model, clean, z)
    rows = []
    for i in range(len(z)):
        rows.append({"part": "images", "model": args.model, "image": i, "|z|": round(float(z[i].norm()), 2),
                     "z-score from x": round(float(distance[i]), 1),
                     "z-score from its mean": round(float(clean_distance[i]), 1)})
        if sigma is not None:
            rows[-1]["smallest sigma at z"] = f"{float(sigma[i]):.2e}"
        if result is not None:
            rows[-1] |= {"lower": round(float(result.lower[i]), 1), "upper": round(float(result.upper[i]), 1),
                         "gap": round(float(result.gap[i]), 2)}
        rows[-1]["machine"] = machine()
    key = "gap" if result is not None else "z-score from x"
    rows.sort(key=lambda r: (math.isfinite(r[key]), -r[key]))  # a bound that is not finite first: the worst
    if result is not None:
        finite = result.gap.double().isfinite()
        gaps, distance = result.gap.double()[finite], distance.double()[finite]
        top = gaps.sort(descending=True).values
        print(f"{args.model}, T = {args.steps} x {CHAINS} from {args.start}{' in float64' * args.float64}: a bound "
              f"not finite on "
              f"{int((~finite).sum())} of {len(finite)} images; on the others mean gap {float(gaps.mean()):.2f}, "
              f"median {float(gaps.median()):.2f}; the two widest hold {float(top[:2].sum() / gaps.sum()):.0%} of it; "
              f"Spearman correlation of gap and z-score {spearman(gaps, distance):.2f} "
              f"({time.perf_counter() - start:.0f} s)")
    return rows


def spearman(a: torch.Tensor, b: torch.Tensor) -> float:
    """Spearman's rank correlation of two (N,) tensors (ties ranked by position)."""
    ra, rb = (v.argsort().argsort().double() for v in (a, b))
    return float(torch.corrcoef(torch.stack([ra, rb]))[0, 1])


def reference_ais(commit: str):
    """vae_core/ais.py as it was at ``commit`` (before the package's sub-packages), imported as a module of the
    package, its relative imports pointed at their modules' present places."""
    root = Path(__file__).resolve().parent.parent
    source = subprocess.run(["git", "show", f"{commit}:vae_core/ais.py"], cwd=root, capture_output=True, text=True,
                            check=True).stdout
    path = Path(tempfile.mkdtemp()) / "ais_reference.py"
    path.write_text(source)
    for old, new in (("devices", devices), ("likelihoods", likelihoods)):  # its `from .devices import ...`
        sys.modules.setdefault(f"vae_core.{old}", new)
    spec = importlib.util.spec_from_file_location("vae_core._ais_reference", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while the class is built
    spec.loader.exec_module(module)
    return module


def paths(args) -> list[dict]:
    """The reference code (``--reference`` commit) and today's eager and compiled paths on the same images and seed,
    one after another in this process: CPU time, wall time, and per-image agreement with the reference."""
    model = load_model(DEFAULT_ZOO / args.model)
    x = test_images(model, args.images)
    reference = reference_ais(args.reference)
    runs = {"reference": lambda: reference.ais_log_likelihood(model, x, num_steps=args.steps, seed=0),
            "eager": lambda: ais_log_likelihood(model, x, num_steps=args.steps, seed=0, compiled=False),
            "compiled": lambda: ais_log_likelihood(model, x, num_steps=args.steps, seed=0, compiled=True)}
    rows, base = [], None
    for path in args.paths:
        start, cpu = time.perf_counter(), time.process_time()
        result = runs[path]()
        seconds, cpu = time.perf_counter() - start, time.process_time() - cpu
        base = base or (path, result)
        diff = (result.log_px - base[1].log_px).abs()
        paired, paired_se = mean_and_stderr(result.log_px - base[1].log_px)
        mean, se = result.mean_and_stderr()
        rows.append({"part": "paths", "model": args.model, "images": args.images, "num_steps": args.steps,
                     "path": path, "seconds": round(seconds, 1), "cpu_seconds": round(cpu, 1),
                     "cpu_ratio_to_first": round(cpu / rows[0]["cpu_seconds"], 3) if rows else 1.0,
                     "ais": round(mean, 3), "ais_stderr": round(se, 2), "acceptance": round(result.acceptance, 4),
                     "bit_identical_to_first": torch.equal(result.log_weights, base[1].log_weights),
                     "images_within_1e-3_nats": int((diff < 1e-3).sum()), "max_abs_diff": float(f"{diff.max():.3g}"),
                     "mean_diff": round(paired, 3), "mean_diff_stderr": round(paired_se, 3)
                     if math.isfinite(paired_se) else None, "machine": machine()})
        print(rows[-1], flush=True)
    return rows


def settings_rows(args) -> list[dict]:
    """AIS at each ``TxC`` (intermediate distributions x chains) on the images eval.json uses, against IWAE
    (k = 1000, seed 0, as in eval.json) on the same images: how many images each leaves far below IWAE."""
    model = load_model(DEFAULT_ZOO / args.model)
    x = test_images(model, args.images, args.data_dir)
    iwae = iwae_log_likelihood(model, x, k=IWAE_K, seed=0).double()
    rows = []
    for setting in args.settings:
        steps, chains = (int(v) for v in setting.split("x"))
        start, cpu = time.perf_counter(), time.process_time()
        result = ais_log_likelihood(model, x, num_steps=steps, chains=chains, seed=0, progress=True)
        seconds, cpu = time.perf_counter() - start, time.process_time() - cpu
        mean, se = result.mean_and_stderr()
        far = result.log_px < iwae - FAR_BELOW_IWAE
        ok = ~far
        diff, diff_se = mean_and_stderr(result.log_px[ok] - iwae[ok])
        rows.append({"part": "settings", "model": args.model, "images": args.images, "num_steps": steps,
                     "chains": chains, "far_below_iwae": int(far.sum()),
                     "far_below_images": far.nonzero().flatten().tolist()[:20], "ais": round(mean, 2),
                     "ais_stderr": round(se, 2), "ais_minus_iwae_where_not_far": round(diff, 2),
                     "ais_minus_iwae_stderr": round(diff_se, 2), "acceptance": round(result.acceptance, 3),
                     "compiled": result.compiled, "seconds": round(seconds, 1), "cpu_seconds": round(cpu, 1),
                     "machine": machine()})
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
    d.add_argument("--start", choices=STARTS, default=STARTS[0], help="where the chains start (evaluation.ais)")
    d.add_argument("--masses", nargs="+", choices=MASSES, default=MASSES[:1], help="HMC's mass matrices to compare")
    i = sub.add_parser("images")
    i.add_argument("--model", default="mnist-gaussian-shared-resconv")
    i.add_argument("--images", type=int, default=20)
    i.add_argument("--steps", type=int, default=0, help="AIS steps for the per-image gaps (0: distances only)")
    i.add_argument("--start", choices=STARTS, default=STARTS[1], help="where the chains start (evaluation.ais)")
    i.add_argument("--float64", action="store_true", help="run the model and the chains in double precision")
    e = sub.add_parser("paths")
    e.add_argument("--model", default="mnist-bernoulli")
    e.add_argument("--images", type=int, default=20)
    e.add_argument("--steps", type=int, default=NUM_STEPS)
    e.add_argument("--paths", nargs="+", choices=["reference", "eager", "compiled"],
                   default=["reference", "eager", "compiled"], help="the first is the one the others are compared with")
    e.add_argument("--reference", default=REFERENCE_COMMIT, help="commit whose vae_core/ais.py is the reference")
    f = sub.add_parser("settings")
    f.add_argument("--model", default="fashion-mnist-gaussian-pixel")
    f.add_argument("--images", type=int, default=50)
    f.add_argument("--settings", nargs="+", default=["300x4", "1000x4", "1000x16"], help="TxC: steps x chains")
    f.add_argument("--data-dir", default=None, help="full test split (eval.json's images); default: embedded sample")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    rows = {"budget": budget, "curve": curve, "bdmc": bdmc_rows, "paths": paths,
            "settings": settings_rows, "images": image_rows}[args.part](args)
    print(markdown(rows))
    if args.json:
        with open(args.json, "a") as f:
            f.writelines(json.dumps(r) + "\n" for r in rows)


if __name__ == "__main__":
    main()
