"""Training throughput of vae_core's Trainer against a bare PyTorch loop over the same network: the floor on cost.

Both train the default MLP (``VAEConfig()`` widths) with the same batch size, Adam (the Trainer's implementation,
fused) and ELBO (``model.elbo_terms``) for one epoch on the same MNIST images, in this process, alternating which
goes first. The bare loop gets its data pre-binarized / pre-dequantized as one float tensor and does nothing per step
beyond indexing, the ELBO, backward and the optimizer step; the Trainer's epoch is timed whole, as a user pays
for it: per-batch binarization/dequantization, the divergence check, history, validation on ``--val-size``
images and the atomic checkpoint writes.

    python -m scripts.bench_train --data-dir ../shared/datasets --images 10000 --repeats 5 --threads 1
"""
from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch
from torch.distributions import Distribution

from vae_core.base.data import load_split, to_model_input
from vae_core.model.vae import VAE, VAEConfig
from vae_core.training.config import ADAM_IMPLS, NEW_RUN_ADAM, TrainConfig
from vae_core.training.loop import Trainer

FULL_EPOCH = 55_000  # training images per epoch with the default 5000 held out


def bare_epoch(config: VAEConfig, x: torch.Tensor, batch_size: int, lr: float, seed: int, adam: str = NEW_RUN_ADAM
               ) -> tuple[float, float]:
    """One epoch of the plainest loop over a ready float tensor x (N, 1, 28, 28) with Adam implementation ``adam``
    (vae_core.training.config.ADAM_IMPLS; by default the Trainer's); returns (wall, CPU) seconds."""
    torch.manual_seed(seed)
    model = VAE(config).train()
    optimizer = torch.optim.Adam(model.parameters(), lr=lr, **ADAM_IMPLS[adam])
    order = torch.randperm(len(x), generator=torch.Generator().manual_seed(seed))
    validate = Distribution._validate_args
    Distribution.set_default_validate_args(False)  # no argument checks: the floor
    try:
        t0, c0 = time.perf_counter(), time.process_time()
        for i in range(0, len(x), batch_size):
            rec, kl = model.elbo_terms(x[order[i:i + batch_size]])
            loss = (kl - rec).mean()
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
        return time.perf_counter() - t0, time.process_time() - c0
    finally:
        Distribution.set_default_validate_args(validate)


def trainer_epoch(config: VAEConfig, images, n: int, val_size: int, batch_size: int, lr: float, seed: int
                  ) -> tuple[float, float]:
    """One epoch of vae_core's Trainer on the first n images (+ val_size held out), timed whole: (wall, CPU)."""
    torch.manual_seed(seed)
    model = VAE(config)
    cfg = TrainConfig(epochs=1, batch_size=batch_size, lr=lr, seed=seed, val_size=val_size, max_train_images=n,
                      progress=False)
    with tempfile.TemporaryDirectory() as out:
        trainer = Trainer(model, images, out, cfg)
        t0, c0 = time.perf_counter(), time.process_time()
        trainer.fit()
        return time.perf_counter() - t0, time.process_time() - c0


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data-dir", help="folder holding mnist/ (default $VAE_ZOO_DATA or ./data)")
    p.add_argument("--images", type=int, default=20_000, help="training images per timed epoch")
    p.add_argument("--val-size", type=int, default=None,
                   help="the Trainer's validation images (default: as in a real run, 5000 per 55000 trained)")
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--decoders", default="bernoulli,gaussian-pixel")
    p.add_argument("--budget", type=float, default=1.2, help="allowed ratio trainer / bare")
    p.add_argument("--out", help="also write the markdown report here")
    p.add_argument("--append", action="store_true", help="add the report to the end of --out")
    args = p.parse_args(argv)

    torch.set_num_threads(args.threads)
    images, _ = load_split("mnist", "train", args.data_dir)
    batch_size, lr = TrainConfig.batch_size, TrainConfig.lr
    n = args.images
    if args.val_size is None:
        args.val_size = max(1, round(n * 5000 / FULL_EPOCH))
    times: dict[tuple[str, str], list[tuple[float, float]]] = {}  # (decoder, loop) -> [(wall, CPU), ...]
    for decoder in args.decoders.split(","):
        config = VAEConfig(decoder=decoder)
        kind = VAE(config).data_kind
        x = to_model_input(torch.from_numpy(images[:n].copy()), kind, torch.Generator().manual_seed(0))
        trainer_epoch(config, images, min(n, 2000), args.val_size, batch_size, lr, 0)  # warm-up, untimed
        for rep in range(args.repeats):
            order = ("trainer", "bare") if rep % 2 == 0 else ("bare", "trainer")  # alternate which goes first
            for name in order:
                if name == "trainer":
                    wall, cpu = trainer_epoch(config, images, n, args.val_size, batch_size, lr, rep)
                else:
                    wall, cpu = bare_epoch(config, x, batch_size, lr, rep)
                times.setdefault((decoder, name), []).append((wall, cpu))
                print(f"{decoder:16s} {name:8s} rep {rep}: wall {wall:6.2f} s  CPU {cpu:6.2f} s  "
                      f"{n / wall:6.0f} images/s", file=sys.stderr, flush=True)

    lines = [
        "# Training throughput: Trainer vs a bare PyTorch loop",
        "",
        f"Default MLP (hidden {VAEConfig().hidden}, latent {VAEConfig().latent_dim}), batch {batch_size}, Adam "
        f"lr {lr}, one epoch on {n} MNIST training images, `torch.set_num_threads({args.threads})`, "
        f"{args.repeats} alternating repetitions. The Trainer is timed over its whole epoch (per-batch "
        f"binarization / dequantization, finiteness checks, history, validation on {args.val_size} images, "
        f"atomic checkpoint writes); the bare loop gets pre-transformed float tensors and does only the ELBO, "
        f"backward and Adam. Contention from other jobs only ever adds time, so the fastest run is the best "
        f"estimate of the cost and the median shows what a shared machine gives; s / full epoch and images / s "
        f"are from the fastest run, scaled to {FULL_EPOCH} images. CPU is process time over all threads.",
        "",
        f"Machine: {os.cpu_count()} CPUs ({platform.machine()}), load average at the end "
        f"{', '.join(f'{v:.1f}' for v in os.getloadavg())}; torch {torch.__version__}, "
        f"python {platform.python_version()}.",
        "",
        "| decoder | loop | fastest s / epoch | median s / epoch | s / full epoch | images / s | median CPU s "
        "| wall runs (s) |",
        "|---|---|---:|---:|---:|---:|---:|---|",
    ]
    verdicts = []
    for decoder in args.decoders.split(","):
        best, med = {}, {}
        for name in ("trainer", "bare"):
            runs = times[(decoder, name)]
            best[name] = min(w for w, _ in runs)
            med[name] = statistics.median(w for w, _ in runs)
            cpu = statistics.median(c for _, c in runs)
            lines.append(f"| {decoder} | {name} | {best[name]:.2f} | {med[name]:.2f} | "
                         f"{best[name] * FULL_EPOCH / n:.1f} | {n / best[name]:.0f} | {cpu:.2f} | "
                         f"{', '.join(f'{w:.2f}' for w, _ in runs)} |")
        ratio_best, ratio_med = best["trainer"] / best["bare"], med["trainer"] / med["bare"]
        verdicts.append(f"- {decoder}: trainer / bare = **{ratio_best:.2f}** (fastest runs), {ratio_med:.2f} "
                        f"(medians); budget {args.budget}x: {'met' if ratio_best <= args.budget else 'NOT met'}")
    lines += ["", *verdicts, ""]
    report = "\n".join(lines)
    print(report)
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        out = Path(args.out)
        out.write_text((out.read_text() + "\n" if args.append and out.is_file() else "") + report)
    return 0


if __name__ == "__main__":
    sys.exit(main())
