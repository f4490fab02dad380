"""How much the test NLL of a binary model moves with the draw that binarizes the test set.

The zoo scores binary models on one fixed binarization (``fixed_test_input(test, "binary", seed=0)``), as Burda et
al. 2016's code binarizes its test set once with its own generator; another draw is another test set. This scores a
checkpoint's -IWAE_k on the same images under other binarization seeds and records each, so the shipped number can
be shown with the spread a redraw gives. Rows go to a JSON record one at a time (an interrupted run keeps the rows it
finished; a row already there for the same weights is not redone, one scored on other weights is replaced), and
the markdown table is generated from it.

    python -m scripts.binarizations checkpoints/mnist-bernoulli-burda-third --seeds 1,2,3 --data-dir ../shared/datasets
    python -m scripts.binarizations checkpoints/mnist-bernoulli --seeds 1,2,3 --k 1000 --images 2000
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from vae_core.base.data import DataError, fixed_test_input, load_split
from vae_core.evaluation.metrics import iwae_log_likelihood, mean_and_stderr
from vae_core.files.names import BINARIZATIONS_JSON
from vae_core.zoo.checkpoints import ZooError, load_model
from vae_core.zoo.ledger import BINARIZATION_KEYS, read_binarizations, spread, weights_digest


def markdown(rows: list[dict]) -> str:
    lines = ["| model | k | images | binarization seed | NLL (nats) | ± se | seconds |",
             "|---|---|---|---|---|---|---|"]
    ordered = sorted(rows, key=lambda r: (r["model"], r["k"], r["images"], r["seed"]))
    lines += [f"| {r['model']} | {r['k']:,} | {r['images']:,} | {r['seed']} | {r['nll']:.2f} | {r['nll_stderr']:.2f} "
              f"| {r['seconds']:.0f} |" for r in ordered]
    groups: dict[tuple, list[dict]] = {}
    for r in rows:
        groups.setdefault((r["model"], r["k"], r["images"]), []).append(r)
    lines += ["", "| model | k | images | seeds | NLL range (max - min) | sd across seeds |",
              "|---|---|---|---|---|---|"]
    for (model, k, images), group in sorted(groups.items()):
        s = spread(group)
        lines.append(f"| {model} | {k:,} | {images:,} | {', '.join(map(str, s['seeds']))} | {s['range']:.2f} "
                     f"({s['min']:.2f} to {s['max']:.2f}) | {s['sd']:.2f} |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("checkpoint", help="a checkpoint folder of a binary model")
    parser.add_argument("--seeds", default="1,2,3", help="binarization seeds (the zoo's own is 0)")
    parser.add_argument("--k", type=int, default=5000, help="IWAE samples per image")
    parser.add_argument("--images", type=int, default=10_000, help="the first N test images")
    parser.add_argument("--data-dir", help="folder holding mnist/ IDX files (default $VAE_ZOO_DATA)")
    parser.add_argument("--record", type=Path, default=BINARIZATIONS_JSON)
    args = parser.parse_args(argv)
    try:
        seeds = [int(s) for s in args.seeds.split(",") if s.strip()]
    except ValueError:
        parser.error(f"--seeds must be whole numbers separated by commas, got {args.seeds!r}")
    if not seeds or args.k < 1 or not 1 <= args.images <= 10_000:
        parser.error("--seeds needs at least one seed, --k at least 1, --images from 1 to 10,000")
    if 0 in seeds:
        parser.error("seed 0 is the zoo's own binarization (eval.json scores it); give other seeds")
    try:  # a damaged record is refused before any work
        rows = read_binarizations(args.record)
    except ValueError as e:
        parser.error(str(e))
    try:
        digest = weights_digest(Path(args.checkpoint))  # of the weights loaded: checked again after the load
        model = load_model(args.checkpoint)
    except (OSError, ZooError) as e:
        parser.error(str(e))
    if weights_digest(Path(args.checkpoint)) != digest:
        parser.error(f"{args.checkpoint}'s weights changed while they were loaded (is it still training?); try again "
                     f"once it is finished")
    name = Path(args.checkpoint).resolve().name
    if model.data_kind != "binary":
        parser.error(f"{name} models {model.data_kind} pixels; only a binary model's test set is binarized")
    try:
        test, _ = load_split(model.config.dataset, "test", args.data_dir)
    except DataError as e:
        parser.error(str(e))
    for seed in seeds:
        key = {"model": name, "seed": seed, "k": args.k, "images": args.images}
        same = [r for r in rows if all(r[k] == key[k] for k in BINARIZATION_KEYS)]
        if any(r["weights_sha256"] == digest for r in same):
            print(f"{name}, binarization seed {seed}: already in {args.record}")
            continue
        rows = [r for r in rows if r not in same]  # scored on weights the checkpoint no longer holds
        x = fixed_test_input(test, "binary", seed=seed)[: args.images]  # (N, 1, 28, 28)
        t0 = time.perf_counter()
        nll, se = mean_and_stderr(-iwae_log_likelihood(model, x, k=args.k, seed=0, progress=True))
        rows.append({**key, "nll": nll, "nll_stderr": se, "seconds": time.perf_counter() - t0,
                     "weights_sha256": digest})
        args.record.parent.mkdir(parents=True, exist_ok=True)
        tmp = args.record.with_suffix(".json.tmp")
        tmp.write_text(json.dumps(rows, indent=1) + "\n")
        tmp.replace(args.record)
        args.record.with_suffix(".md").write_text(markdown(rows))
        print(f"{name}, binarization seed {seed}: NLL {nll:.2f} ± {se:.2f} (k={args.k}, {args.images} images)",
              flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
