"""Add the best log-likelihood estimate (exact quadrature for 2-D latents, AIS otherwise) to evaluated checkpoints:
eval.json gains a "log_likelihood" block, the model card README.md its rows, index.json its keys. Weights are only
read. Resumable: a checkpoint that already has the block at the same method, settings, images and IWAE k is skipped.
AIS settings are the shipped ones (evaluation.ais) unless the checkpoint's zoo.toml entry sets its own (``ais``).

    OMP_NUM_THREADS=1 python -m scripts.evaluate_likelihoods --data-dir ../shared/datasets --only '*-2d'
    OMP_NUM_THREADS=1 python -m scripts.evaluate_likelihoods --data-dir ../shared/datasets   # all, 2-D first
    python -m scripts.evaluate_likelihoods --images 50 --force --only mnist-bernoulli      # a quick redo
    python -m scripts.evaluate_likelihoods --device cuda --only 'mnist-*'   # on a GPU: same draws, float rounding
"""
from __future__ import annotations

import argparse
import fnmatch
import time
from pathlib import Path

from vae_core.base.devices import add_device_option, check_device
from vae_core.evaluation.best_likelihood import QUADRATURE
from vae_core.evaluation.judge import ais_run
from vae_core.evaluation.quadrature import LATENT_DIM
from vae_core.model.vae import load_config
from vae_core.zoo.evaluate import update_best_log_likelihood
from vae_core.zoo.index import write_index
from vae_core.zoo.spec import evaluation_settings


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkpoints", default="checkpoints")
    parser.add_argument("--data-dir", default=None, help="folder with <dataset>/ IDX files ($VAE_ZOO_DATA)")
    parser.add_argument("--only", default="*", help="comma-separated name patterns")
    parser.add_argument("--images", type=int, default=None,
                        help="test images (default: the zoo entry's best_images, else evaluation.best_likelihood "
                             "QUADRATURE_IMAGES or AIS_IMAGES)")
    parser.add_argument("--force", action="store_true", help="redo checkpoints that already have the block")
    parser.add_argument("--zoo", default="zoo.toml", help="zoo spec with per-model AIS settings ('' for none)")
    add_device_option(parser, "compute")
    args = parser.parse_args(argv)
    try:
        check_device(args.device)
    except ValueError as e:
        parser.error(str(e))
    if args.images is not None and args.images < 1:
        parser.error(f"--images must be a positive number of test images, got {args.images}")
    if args.zoo and not Path(args.zoo).is_file():
        parser.error(f"no zoo spec at {args.zoo!r}; pass --zoo PATH, or --zoo '' for the shipped settings everywhere")
    root = Path(args.checkpoints)
    patterns = [p.strip() for p in args.only.split(",") if p.strip()]
    folders = [p.parent for p in sorted(root.glob("*/eval.json"))
               if any(fnmatch.fnmatch(p.parent.name, pat) for pat in patterns)]
    if not folders:
        parser.error(f"no evaluated checkpoint under {root} matches {args.only!r}")
    folders.sort(key=lambda f: load_config(f).latent_dim != LATENT_DIM)  # exact 2-D ones first: they are quick
    try:  # every entry's settings checked before any model runs
        entries = {f.name: evaluation_settings(args.zoo, f.name) if args.zoo else {} for f in folders}
    except ValueError as e:
        parser.error(str(e))
    for i, folder in enumerate(folders, 1):
        start = time.perf_counter()
        print(f"[{i}/{len(folders)}] {folder.name}", flush=True)
        try:  # a damaged eval.json: one sentence naming it; the entries done before it stay written
            # the entry's own number of images (best_images), as train.py --zoo uses, unless --images says
            num_images = args.images or entries[folder.name].get("best_images")
            block = update_best_log_likelihood(folder, args.data_dir, num_images=num_images, force=args.force,
                                               ais=entries[folder.name].get("ais"), device=args.device)
        except ValueError as e:
            parser.error(str(e))
        if block is None:
            print("  already done at these settings; skipped", flush=True)
            continue
        settings = block["settings"]
        label = "exact" if block["method"] == QUADRATURE else f"AIS ({ais_run(settings)})"
        print(f"  {label} {block['estimate']:.2f} ± {block['estimate_stderr']:.2f} on {block['num_images']} images "
              f"({block['excluded_images']} flagged); IWAE k={block['iwae_k']} {block['iwae']:.2f}; "
              f"best - IWAE {block['best_minus_iwae']:.2f} ± {block['best_minus_iwae_stderr']:.2f} "
              f"[{time.perf_counter() - start:.0f} s]", flush=True)
        try:
            write_index(root)  # after each one, so an interrupted run leaves a consistent index
        except ValueError as e:
            parser.error(str(e))

