"""Training throughput against the peer: vae_core's Trainer, Pythae's ``TrainingPipeline`` (Chadebec et al. 2022,
pythae 0.1.2) and a plain PyTorch loop, on the same network and data, timed side by side in one process.

The network is Pythae's default MLP for a VAE (``Encoder_VAE_MLP`` / ``Decoder_AE_MLP``: 784-512-16, one hidden
layer of 512, latent 16) and ours in the same widths (``VAEConfig(hidden=[512], latent_dim=16)``), a Bernoulli
decoder (Pythae: ``reconstruction_loss="bce"``), batch 128, Adam with learning rate 1e-3, one epoch on the first
``--images`` MNIST training images with the next ``--val-size`` held out. Each loop is timed whole, from building
it to a trained model, as a user pays for it:

- ``trainer``: ``vae_core.training.loop.Trainer`` as train.py runs it (dynamic binarization per batch, the finiteness
  checks, history, validation on the held-out images, the atomic checkpoint commit) with its Adam (fused);
- ``trainer-default-adam``: the same with torch's default Adam implementation (what the Trainer used before):
  what the optimizer alone is worth;
- ``pythae``: ``TrainingPipeline`` with ``BaseTrainerConfig`` defaults except the epoch count, batch size, learning
  rate and output folder (its evaluation on the held-out images every epoch, its final model save), on the same
  images binarized once (Pythae has no dynamic binarization); ``pythae-fused-adam`` passes
  ``optimizer_params={"fused": True}``, what a Pythae user could switch on too;
- ``plain`` / ``plain-fused-adam``: the bare loop of scripts/bench_train.py (a ready float tensor, ELBO, backward,
  Adam; no validation, no writes) with torch's default Adam and with the fused one.

Every repetition runs each thread count of ``--threads`` and, within it, every loop, rotating the order. Other
jobs on a shared machine only ever add time, so the fastest run of each loop estimates its cost; the ratio of
two loops in the same repetition (paired, run back to back) is the other estimate, given as mean +- standard
error over repetitions; images per CPU second (process time, all threads) is the third, the least disturbed by
other jobs at one thread (at two, a thread waiting for a busy core may spin).

Pythae is a development-only dependency (requirements-bench.txt): run this with the python of the virtual
environment that file describes, from the repository root:

    /work/bench-venv/bin/python -m scripts.bench_pythae --data-dir ../shared/datasets --threads 1,2 --repeats 3 \\
        --out docs/bench_pythae.md
"""
from __future__ import annotations

import argparse
import logging
import math
import os
import platform
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

from scripts.bench_train import bare_epoch
from vae_core.base.data import fixed_test_input, load_split
from vae_core.model.vae import VAE, VAEConfig
from vae_core.training.config import LEGACY_ADAM, NEW_RUN_ADAM, TrainConfig
from vae_core.training.loop import Trainer

HIDDEN, LATENT, BATCH, LR = 512, 16, 128, 1e-3  # Pythae's default MLP; the batch and learning rate
OURS, PEER = "trainer", "pythae"
LOOPS = ("trainer", "trainer-default-adam", "pythae", "pythae-fused-adam", "plain", "plain-fused-adam")


def _pythae():
    """Pythae's modules, or a sentence saying how to install them."""
    try:
        from pythae.models import VAE as PythaeVAE
        from pythae.models import VAEConfig as PythaeVAEConfig
        from pythae.pipelines import TrainingPipeline
        from pythae.trainers import BaseTrainerConfig
    except ImportError as e:
        sys.exit(f"pythae cannot be imported here ({e}); install requirements-bench.txt into its own virtual "
                 f"environment (its header says how) and run this script with that environment's python")
    logging.getLogger("pythae").setLevel(logging.WARNING)
    return PythaeVAE, PythaeVAEConfig, TrainingPipeline, BaseTrainerConfig


def trainer_epoch(images: np.ndarray, n: int, val_size: int, seed: int, adam: str) -> None:
    """One epoch of vae_core's Trainer on images[:n] (+ the next val_size held out), built and fitted."""
    torch.manual_seed(seed)
    cfg = TrainConfig(epochs=1, batch_size=BATCH, lr=LR, seed=seed, val_size=val_size, max_train_images=n)
    with tempfile.TemporaryDirectory() as out:
        model = VAE(VAEConfig(decoder="bernoulli", hidden=[HIDDEN], latent_dim=LATENT))
        Trainer(model, images[: n + val_size], out, cfg, adam=adam).fit()


def pythae_epoch(train_x: torch.Tensor, val_x: torch.Tensor, seed: int, fused: bool) -> None:
    """One epoch of Pythae's TrainingPipeline with its default VAE MLP, built and run."""
    PythaeVAE, PythaeVAEConfig, TrainingPipeline, BaseTrainerConfig = _pythae()
    with tempfile.TemporaryDirectory() as out:
        config = BaseTrainerConfig(output_dir=out, num_epochs=1, learning_rate=LR, per_device_train_batch_size=BATCH,
                                   optimizer_cls="Adam", optimizer_params={"fused": True} if fused else None,
                                   no_cuda=True, seed=seed)
        model = PythaeVAE(PythaeVAEConfig(input_dim=(1, 28, 28), latent_dim=LATENT, reconstruction_loss="bce"))
        TrainingPipeline(model=model, training_config=config)(train_data=train_x, eval_data=val_x)


def timed(run: Callable[[], None]) -> tuple[float, float]:
    t0, c0 = time.perf_counter(), time.process_time()
    run()
    return time.perf_counter() - t0, time.process_time() - c0


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data-dir", help="folder holding mnist/ (default $VAE_ZOO_DATA or ./data)")
    p.add_argument("--images", type=int, default=55_000, help="training images per timed epoch")
    p.add_argument("--val-size", type=int, default=5_000, help="held-out images each loop validates on")
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--threads", default="1,2", help="comma-separated torch thread counts, each run every repeat")
    p.add_argument("--loops", default=",".join(LOOPS), help=f"comma-separated, from: {', '.join(LOOPS)}")
    p.add_argument("--target", type=float, default=1.35, help="wanted ratio trainer / pythae images per second")
    p.add_argument("--out", help="also write the markdown report here")
    args = p.parse_args(argv)
    loops = args.loops.split(",")
    unknown = [name for name in loops if name not in LOOPS]
    if unknown:
        p.error(f"unknown loop {unknown[0]!r}; choose from: {', '.join(LOOPS)}")
    threads = [int(t) for t in args.threads.split(",")]
    _pythae()  # fail before any work when it is missing

    images, _ = load_split("mnist", "train", args.data_dir)  # (60000, 28, 28) uint8
    n, v = args.images, args.val_size
    if n + v > len(images):
        p.error(f"--images + --val-size must be at most {len(images)}, got {n + v}")
    # the bare loops' and Pythae's data: binarized once with a fixed seed
    train_x = fixed_test_input(images[:n], "binary", seed=0)  # (n, 1, 28, 28) float in {0, 1}
    val_x = fixed_test_input(images[n:n + v], "binary", seed=1)  # (v, 1, 28, 28)
    ours = VAEConfig(decoder="bernoulli", hidden=[HIDDEN], latent_dim=LATENT)
    runs = {
        "trainer": lambda rep: trainer_epoch(images, n, v, rep, NEW_RUN_ADAM),
        "trainer-default-adam": lambda rep: trainer_epoch(images, n, v, rep, LEGACY_ADAM),
        "pythae": lambda rep: pythae_epoch(train_x, val_x, rep, fused=False),
        "pythae-fused-adam": lambda rep: pythae_epoch(train_x, val_x, rep, fused=True),
        "plain": lambda rep: bare_epoch(ours, train_x, BATCH, LR, rep, adam=LEGACY_ADAM),
        "plain-fused-adam": lambda rep: bare_epoch(ours, train_x, BATCH, LR, rep, adam=NEW_RUN_ADAM),
    }
    torch.set_num_threads(max(threads))  # warm-up on 2000 images, untimed: first-call costs (imports, allocator)
    trainer_epoch(images, 2000, 200, 0, NEW_RUN_ADAM)
    pythae_epoch(train_x[:2000], val_x[:200], 0, fused=False)
    for adam in (LEGACY_ADAM, NEW_RUN_ADAM):
        bare_epoch(ours, train_x[:2000], BATCH, LR, 0, adam=adam)

    times: dict[tuple[int, str], list[tuple[float, float]]] = {}  # (threads, loop) -> [(wall, CPU), ...]
    for rep in range(args.repeats):
        for t in (threads if rep % 2 == 0 else threads[::-1]):
            torch.set_num_threads(t)
            k = (rep * len(threads) + threads.index(t)) % len(loops)
            for name in loops[k:] + loops[:k]:  # rotate which loop goes first
                wall, cpu = timed(lambda name=name, rep=rep: runs[name](rep))
                times.setdefault((t, name), []).append((wall, cpu))
                print(f"rep {rep} threads {t} {name:22s}: wall {wall:6.2f} s  CPU {cpu:6.2f} s  "
                      f"{n / wall:6.0f} images/s", file=sys.stderr, flush=True)

    report = _report(args, loops, threads, times, n, v)
    print(report)
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(report + "\n")
    return 0


def _report(args, loops: list[str], threads: list[int], times: dict, n: int, v: int) -> str:
    lines = [
        "# Training throughput: Trainer vs Pythae vs a plain loop",
        "",
        f"Generated by `python -m scripts.bench_pythae --images {n} --val-size {v} --repeats {args.repeats} "
        f"--threads {args.threads}` (its docstring says what each loop includes). One epoch on {n} MNIST training "
        f"images, {v} held out; 784-{HIDDEN}-{LATENT} MLP, Bernoulli decoder, batch {BATCH}, Adam lr {LR}. "
        f"images / s = {n} / the wall time of the whole loop (building, the epoch, validation where the loop has "
        f"one, writes). Machine: {os.cpu_count()} CPUs ({platform.machine()}), load average at the end "
        f"{', '.join(f'{x:.1f}' for x in os.getloadavg())}; torch {torch.__version__}, python "
        f"{platform.python_version()}, pythae {_version('pythae')}.",
        "",
    ]
    for t in threads:
        lines += [f"## {t} thread{'s' if t > 1 else ''}", "",
                  "| loop | fastest images / s | median images / s | images / CPU s (fastest) | wall runs (s) "
                  "| CPU runs (s) |",
                  "|---|---:|---:|---:|---|---|"]
        for name in loops:
            walls, cpus = zip(*times[(t, name)], strict=True)
            lines.append(f"| {name} | {n / min(walls):.0f} | {n / statistics.median(walls):.0f} | "
                         f"{n / min(cpus):.0f} | {', '.join(f'{w:.2f}' for w in walls)} | "
                         f"{', '.join(f'{c:.2f}' for c in cpus)} |")
        lines.append("")
        if PEER in loops:
            peer, peer_cpu = zip(*times[(t, PEER)], strict=True)
            for name in loops:
                if name == PEER:
                    continue
                walls, cpus = zip(*times[(t, name)], strict=True)
                paired = [b / a for a, b in zip(walls, peer, strict=True)]  # images/s ratio, same repetition
                se = statistics.stdev(paired) / math.sqrt(len(paired)) if len(paired) > 1 else float("nan")
                ratio = min(peer) / min(walls)
                met = "met" if ratio >= args.target else "NOT met"
                verdict = f"; target {args.target}x: {met}" if name == OURS else ""
                lines.append(f"- {name} / pythae, images / s: **{ratio:.2f}x** (fastest runs), "
                             f"{statistics.mean(paired):.2f} +- {se:.2f}x (paired by repetition, mean +- s.e.), "
                             f"{min(peer_cpu) / min(cpus):.2f}x (images per CPU second, fastest){verdict}")
            lines.append("")
    return "\n".join(lines)


def _version(package: str) -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(package)
    except PackageNotFoundError:
        return "not installed"


if __name__ == "__main__":
    sys.exit(main())
