"""Where a Trainer epoch's time goes, part by part: CPU and wall seconds of each part of one epoch, against the
bare loop of scripts/bench_train.py on the same data (the floor: ELBO, backward, fused Adam).

The epoch is the Trainer's own, step for step (``Trainer._epoch``: the same calls in the same order, on a Trainer
built as train.py builds it), with a clock read between the parts; it trains the same numbers as ``Trainer.fit``.
Reading the clocks costs about 1 us a part. CPU is process time over all threads: at two threads it also counts
a thread that spins while the other works, so compare parts at one thread, or side by side in one run.

    python -m scripts.bench_train_parts --data-dir ../shared/datasets --threads 1,2 --repeats 3
"""
from __future__ import annotations

import argparse
import sys

import torch

from scripts.bench_train import bare_epoch
from vae_core.base.data import fixed_test_input, load_split
from vae_core.model.vae import VAEConfig
from vae_core.training.parts import BATCH, HIDDEN, LATENT, LR, PartClock, trainer_parts


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data-dir", help="folder holding mnist/ (default $VAE_ZOO_DATA or ./data)")
    p.add_argument("--images", type=int, default=55_000)
    p.add_argument("--val-size", type=int, default=5_000)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--threads", default="1", help="comma-separated torch thread counts, alternating")
    args = p.parse_args(argv)
    threads = [int(t) for t in args.threads.split(",")]
    images, _ = load_split("mnist", "train", args.data_dir)
    n, v = args.images, args.val_size
    x = fixed_test_input(images[:n], "binary", seed=0)  # the bare loop's data, binarized once
    config = VAEConfig(decoder="bernoulli", hidden=[HIDDEN], latent_dim=LATENT)
    torch.set_num_threads(max(threads))
    trainer_parts(images, 2000, 200, 0, PartClock())  # warm-up, untimed
    clocks = {t: PartClock() for t in threads}
    bare = {t: [0.0, 0.0] for t in threads}
    for rep in range(args.repeats):
        for t in (threads if rep % 2 == 0 else threads[::-1]):
            torch.set_num_threads(t)
            clocks[t].lap("(between runs)")
            trainer_parts(images, n, v, rep, clocks[t])
            wall, cpu = bare_epoch(config, x, BATCH, LR, rep)
            bare[t][0] += wall
            bare[t][1] += cpu
            clocks[t].lap("(between runs)")
    r = args.repeats
    for t in threads:
        c = clocks[t]
        parts = [k for k in c.cpu if k != "(between runs)"]
        print(f"\n{t} thread{'s' if t > 1 else ''}: one epoch of {n} images + {v} held out, mean of {r}, "
              f"784-{HIDDEN}-{LATENT} Bernoulli, batch {BATCH}\n")
        print("| part | CPU s | wall s |\n|---|---:|---:|")
        for k in parts:
            print(f"| {k} | {c.cpu[k] / r:.3f} | {c.wall[k] / r:.3f} |")
        print(f"| **Trainer, all parts** | {sum(c.cpu[k] for k in parts) / r:.3f} | "
              f"{sum(c.wall[k] for k in parts) / r:.3f} |")
        print(f"| bare loop (epoch only) | {bare[t][1] / r:.3f} | {bare[t][0] / r:.3f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
