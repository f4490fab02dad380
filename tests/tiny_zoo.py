"""A tiny zoo for the app tests: one checkpoint per decoder kind, trained by the real ``train.py`` (a subprocess
per model, a few seconds each) on the test sample embedded in the package (``--train-on-sample``: no dataset
needed, so a fresh clone runs the app tests) and evaluated on that sample with the real metrics into eval.json.
These are models for exercising the app, not results: they are scored on images they were trained on.

Built once per source version: the folder is keyed by a hash of train.py, vae_core/ and this file, so a rerun of
the tests reuses it (pytest's cache) and any change to the training or evaluation code rebuilds it.
"""
from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import torch

from vae_core.base.data import DATA_DIR_ENV
from vae_core.files.names import HISTORY_NAME
from vae_core.training.run_folder import drop_optimizer

ROOT = Path(__file__).resolve().parent.parent
# 800 of the sample's 1000 images to train on, 200 held out for the validation ELBO
COMMON = ["--train-on-sample", "--val-size", "200", "--epochs", "1", "--hidden", "64,32", "--latent-dim", "4",
          "--no-progress"]

# name -> extra train.py arguments (later flags override COMMON)
TINY_MODELS: dict[str, list[str]] = {
    "mnist-bernoulli-2d": ["--dataset", "mnist", "--decoder", "bernoulli", "--latent-dim", "2"],
    "mnist-gaussian-pixel": ["--dataset", "mnist", "--decoder", "gaussian-pixel", "--epochs", "2",
                             "--snapshots", "1,2"],
    "mnist-gaussian-fixed": ["--dataset", "mnist", "--decoder", "gaussian-fixed", "--setting", "sigma=0.1"],
    "mnist-gaussian-shared": ["--dataset", "mnist", "--decoder", "gaussian-shared"],
    "mnist-gaussian-optimal": ["--dataset", "mnist", "--decoder", "gaussian-optimal"],
    "mnist-gaussian-pixel-floor": ["--dataset", "mnist", "--decoder", "gaussian-pixel-floor",
                                   "--setting", "sigma_min=0.01"],
    "mnist-discretized-gaussian": ["--dataset", "mnist", "--decoder", "discretized-gaussian"],
    "mnist-continuous-bernoulli": ["--dataset", "mnist", "--decoder", "continuous-bernoulli"],
    "fashion-mnist-bernoulli": ["--dataset", "fashion-mnist", "--decoder", "bernoulli"],
}


def source_hash() -> str:
    h = hashlib.sha256()
    # the explorer's helpers do not change what is trained
    display_only = {"images.py", "latent.py", "uploads.py", "posterior_view.py", "instruments.py", "drawing.py"}
    sources = [p for p in (ROOT / "vae_core").glob("*.py") if p.name not in display_only]
    for path in sorted([ROOT / "train.py", Path(__file__), *sources]):
        h.update(path.name.encode() + path.read_bytes())
    return h.hexdigest()[:16]


def _train(name: str, out: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != DATA_DIR_ENV} | {"OMP_NUM_THREADS": "1"}  # no dataset
    cmd = [sys.executable, str(ROOT / "train.py"), *COMMON, *TINY_MODELS[name], "--out", str(out / name)]
    done = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    if done.returncode != 0:
        raise RuntimeError(f"train.py failed for {name}:\n{done.stderr[-2000:]}")


def write_eval(folder: Path, num_images: int = 200, iwae_k: int = 8, iwae_images: int = 50) -> dict:
    """eval.json in the zoo's schema, computed with vae_core.evaluation.metrics on the embedded test sample."""
    from vae_core.base.data import fixed_test_input, load_sample
    from vae_core.evaluation.metrics import evaluate
    from vae_core.training.run_folder import read_state
    from vae_core.zoo.checkpoints import load_model, read_history_lines
    from vae_core.zoo.evaluate import frechet, write_evaluation

    model = load_model(folder)
    images, _ = load_sample(model.config.dataset)
    x = fixed_test_input(images[:num_images], model.data_kind, seed=0)
    ev = evaluate(model, x, iwae_k=iwae_k, iwae_images=iwae_images)
    test = {k: getattr(ev, k) for k in ("num_images", "elbo", "elbo_stderr", "rec", "kl", "mse", "active_units",
                                        "iwae", "iwae_stderr", "iwae_k", "bits_per_dim")}
    test["iwae_images"] = iwae_images
    history, _ = read_history_lines(folder / HISTORY_NAME)
    diverged = read_state(folder).diverged or {}
    result = {"name": folder.name, "dataset": model.config.dataset, "decoder": model.config.decoder,
              "latent_dim": model.config.latent_dim, "data_kind": model.data_kind, "test": test, "sigma": ev.sigma,
              "frechet": frechet(model, x),  # None where the dataset has no classifier yet
              "training": {"epochs": len(history), "seconds": sum(r.seconds or 0 for r in history),
                           "diverged_at_epoch": diverged.get("epoch")}}
    write_evaluation(folder, result, model.config)  # through the schema, as the zoo's own evaluation writes it
    return result


def build_tiny_zoo(cache: Path) -> Path:
    """The zoo folder for this source version, trained and evaluated if it is not there yet."""
    root = cache / f"zoo-{source_hash()}"
    if (root / ".complete").is_file():
        return root
    for old in [*cache.glob("zoo-*"), *cache.glob("building-*")]:  # stale versions; a day's grace for runs in flight
        if time.time() - old.stat().st_mtime > 86400:
            shutil.rmtree(old, ignore_errors=True)
    work = cache / f"building-{os.getpid()}"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    with ThreadPoolExecutor(max_workers=2) as pool:
        list(pool.map(lambda name: _train(name, work), TINY_MODELS))
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        for name in TINY_MODELS:
            # the discretized Gaussian's mean sums over 256 bins per pixel: fewer images keep this quick
            write_eval(work / name, num_images=100 if "discretized" in name else 200)
            drop_optimizer(work / name)  # as the zoo ships them; the folder stays one verifiable epoch
    finally:
        torch.set_num_threads(threads)
    (work / ".complete").write_text(source_hash())
    try:
        work.rename(root)
    except OSError:  # another test run finished the same version first
        shutil.rmtree(work, ignore_errors=True)
    return root
