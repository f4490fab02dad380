"""A tiny zoo for the app tests: one checkpoint per decoder kind, trained by the real ``train.py`` (its ``main``
with the command-line arguments, in two processes that share the models: most of a run's cost is starting Python
and torch) on the test sample embedded in the package (``--train-on-sample``: no dataset needed, so a fresh clone
runs the app tests) and evaluated on that sample with the real metrics into eval.json. These are models for
exercising the app, not results: they are scored on images they were trained on.

Built once per source version: the folder is keyed by a hash of train.py, vae_core/ and this file, so a rerun of
the tests reuses it (pytest's cache) and any change to the training or evaluation code rebuilds it.
"""
from __future__ import annotations

import fcntl
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
from vae_core.model.likelihoods import LIKELIHOODS
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


def decoder_of(name: str) -> str:
    """The decoder a tiny model is trained with (its ``--decoder`` argument)."""
    args = TINY_MODELS[name]
    return args[args.index("--decoder") + 1]


# the tiny models whose likelihood has no decoder sigma, as the likelihood classes declare it
NO_SIGMA = frozenset(n for n in TINY_MODELS if not LIKELIHOODS[decoder_of(n)].has_sigma())


def source_hash() -> str:
    h = hashlib.sha256()
    # the explorer's helpers do not change what is trained
    display_only = {"images.py", "latent.py", "uploads.py", "posterior_view.py", "instruments.py", "drawing.py"}
    sources = [p for p in (ROOT / "vae_core").rglob("*.py") if p.name not in display_only]  # sub-packages too
    for path in sorted([ROOT / "train.py", Path(__file__), *sources]):
        h.update(path.name.encode() + path.read_bytes())
    return h.hexdigest()[:16]


def _train_and_evaluate(names: list[str], out: Path) -> None:
    """Train and evaluate ``names`` into ``out`` in one new process (this file run as a script, below)."""
    path = os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH")) if p)
    env = {k: v for k, v in os.environ.items() if k != DATA_DIR_ENV}  # no dataset
    env |= {"OMP_NUM_THREADS": "1", "PYTHONPATH": path}
    done = subprocess.run([sys.executable, __file__, str(out), *names], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=600)
    if done.returncode != 0:
        raise RuntimeError(f"the tiny zoo's training failed for {names}:\n{done.stderr[-2000:]}")


def train_and_evaluate(out: Path, names: list[str]) -> None:
    """Each model through train.py's main (exactly its command line), then eval.json, then the optimizer state
    dropped, as the zoo ships its checkpoints (the folder stays one verifiable epoch)."""
    import train

    torch.set_num_threads(1)
    for name in names:
        if train.main([*COMMON, *TINY_MODELS[name], "--out", str(out / name)]) != 0:
            raise SystemExit(f"train.py failed for {name}")
        # the discretized Gaussian's mean sums over 256 bins per pixel: fewer images keep this quick
        write_eval(out / name, num_images=100 if "discretized" in name else 200)
        drop_optimizer(out / name)


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


# One small model per network (VAEConfig.network: mlp, conv, resconv) for two likelihoods, named as zoo.toml names
# twins (vae_core.model.config.twin_suffix): what the MLP-against-each-network comparisons and the sidebar's network
# switch need. train.py's command line sets no res_blocks, so these are trained by vae_core's loop directly.
NETWORK_DECODERS = ("gaussian-pixel", "bernoulli")
NETWORK_SETTINGS = {"mlp": {"architecture": "mlp", "hidden": [64, 32]},
                    "conv": {"architecture": "conv", "conv_channels": [8, 16]},
                    "resconv": {"architecture": "conv", "conv_channels": [8, 16], "res_blocks": 1}}


def network_models() -> dict[str, dict]:
    """name -> VAEConfig settings of the networks zoo (mnist, latent 4)."""
    from vae_core.model.config import twin_suffix

    return {f"mnist-{decoder}{twin_suffix(network)}": {"dataset": "mnist", "decoder": decoder, "latent_dim": 4,
                                                       **settings}
            for network, settings in NETWORK_SETTINGS.items() for decoder in NETWORK_DECODERS}


def build_network_zoo(out: Path) -> Path:
    """``network_models()`` trained for one epoch on the embedded sample (800 images, 200 held out) and evaluated as
    the tiny zoo's models are, into ``out``. About 20 s on one core."""
    from vae_core.base.data import load_sample
    from vae_core.model.vae import VAEConfig
    from vae_core.training.config import TrainConfig
    from vae_core.training.loop import train

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        for name, settings in network_models().items():
            train(VAEConfig(**settings), TrainConfig(epochs=1, val_size=200, progress=False),
                  load_sample("mnist")[0], out / name)
            write_eval(out / name)
            drop_optimizer(out / name)
    finally:
        torch.set_num_threads(threads)
    return out


def build_tiny_zoo(cache: Path) -> Path:
    """The zoo folder for this source version, trained and evaluated if it is not there yet. Test processes that
    ask at once (pytest-xdist's workers) take turns on a lock: one builds, the others then find it complete."""
    root = cache / f"zoo-{source_hash()}"
    if (root / ".complete").is_file():
        return root
    cache.mkdir(parents=True, exist_ok=True)
    with open(cache / "build.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file closes, also if this process dies
        if (root / ".complete").is_file():
            return root
        return _build(cache, root)


def _build(cache: Path, root: Path) -> Path:
    for old in [*cache.glob("zoo-*"), *cache.glob("building-*")]:  # stale versions; a day's grace for runs in flight
        if time.time() - old.stat().st_mtime > 86400:
            shutil.rmtree(old, ignore_errors=True)
    work = cache / f"building-{os.getpid()}"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    names = list(TINY_MODELS)
    with ThreadPoolExecutor(max_workers=2) as pool:  # two processes, one per core, half of the models each
        list(pool.map(lambda share: _train_and_evaluate(share, work), [names[0::2], names[1::2]]))
    (work / ".complete").write_text(source_hash())
    try:
        work.rename(root)
    except OSError:  # another test run finished the same version first
        shutil.rmtree(work, ignore_errors=True)
    return root


if __name__ == "__main__":
    train_and_evaluate(Path(sys.argv[1]), sys.argv[2:])
