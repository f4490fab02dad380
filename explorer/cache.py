"""Cached loaders: the zoo source and scan, models (``st.cache_resource``, keyed by source, name, revision,
device and the weights' modification time) and derived arrays (``st.cache_data``; the model is an
underscore-prefixed argument, identified by its key)."""
from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import streamlit as st

from vae_core.base.data import load_sample
from vae_core.files.names import DEFAULT_ZOO, WEIGHTS_NAME
from vae_core.zoo.checkpoints import (
    CHECKPOINT_FILES,
    Checkpoint,
    ZooError,
    load_model,
    load_snapshot,
    resolve_source,
    scan,
    zoo_folders,
)

if TYPE_CHECKING:  # torch comes with the first model: the zoo's scan and the Overview page do without it
    from explorer.compute import latent
    from vae_core.model.vae import VAE

ModelKey = tuple  # (source root, name, revision, device, weights mtime)
LOCAL_ZOO = DEFAULT_ZOO  # the fallback when a Hub source cannot be reached (tests point it elsewhere)
# Bounds that give a public server's memory a ceiling (docs/soak.md): models are at most 2.6 MiB each, so
# MODELS_KEPT covers the shipped zoo (39 models, 45 snapshots); one derived entry is at most 1.3 MiB (the latent
# plane's 12 x 12 decoded grid; 64 images otherwise), so ARRAYS_KEPT entries of each derived cache hold at most
# about 230 MiB together, and still several rounds of what 8 sessions with 6 models each ask for.
MODELS_KEPT = 48
ARRAYS_KEPT = 64
ARRAYS_TTL = 3600  # seconds; an idle server lets its derived arrays go
POSTERIORS_KEPT = 64  # one entry per (model, image, seed): a 101 x 101 grid and a few numbers (about 45 kB)


@st.cache_resource(ttl=120, max_entries=16, show_spinner="Resolving the zoo source ...")
def resolve(source: str, revision: str | None) -> tuple[str | None, str | None]:
    """(folder, None) when the source resolves; else (the local zoo or None, one sentence on what went wrong)."""
    try:
        return str(resolve_source(source, revision or None)), None
    except ZooError as e:
        message = str(e)[0].upper() + str(e)[1:].rstrip(".") + "."
    local = Path(LOCAL_ZOO)
    if not _same_folder(source, local) and local.is_dir():
        return str(local), f"{message} Showing the local zoo in `{local}` instead."
    return None, message


def _same_folder(source: str, folder: Path) -> bool:
    try:
        return Path(source).expanduser().resolve() == folder.resolve()
    except (OSError, RuntimeError, ValueError):  # NUL bytes, an unknown ~user, a name too long
        return False


def zoo_signature(root: str) -> tuple:
    """Cheap stat()s that change when a checkpoint is added, retrained, evaluated or removed (a ZooError for a
    folder that is not a zoo)."""
    sig = []
    for folder in zoo_folders(root):
        stamps = []
        for name in CHECKPOINT_FILES:
            p = folder / name
            stamps.append(p.stat().st_mtime_ns if p.exists() else 0)
        sig.append((folder.name, *stamps))
    return tuple(sig)


@st.cache_resource(max_entries=8, show_spinner=False)
def scan_zoo(root: str, signature: tuple) -> tuple[list[Checkpoint], list[tuple[str, str]]]:
    return scan(root)


def weights_stamp(ckpt: Checkpoint) -> int:
    p = ckpt.path / WEIGHTS_NAME
    return p.stat().st_mtime_ns if p.exists() else 0


def model_key(root: str, ckpt: Checkpoint, revision: str | None, device: str) -> ModelKey:
    return (root, ckpt.name, revision, device, weights_stamp(ckpt))


@st.cache_resource(max_entries=MODELS_KEPT, show_spinner="Loading the model ...")
def model(root: str, name: str, revision: str | None, device: str, stamp: int, _ckpt: Checkpoint) -> VAE:
    """The checkpoint's model, loaded from the folder the scan found (the key names it; the folder is not hashed)."""
    return load_model(_ckpt.path, device)


@st.cache_resource(max_entries=MODELS_KEPT, show_spinner="Loading a snapshot ...")
def snapshot(root: str, name: str, revision: str | None, device: str, stamp: int, _ckpt: Checkpoint,
             epoch: int) -> VAE:
    return load_snapshot(_ckpt, epoch, device)


def get_model(key: ModelKey, ckpt: Checkpoint) -> VAE:
    return model(*key, ckpt)


@st.cache_resource(max_entries=4, show_spinner=False)
def sample_set(dataset: str) -> tuple[np.ndarray, np.ndarray]:
    """The embedded test sample (read-only arrays shared by every session)."""
    images, labels = load_sample(dataset)
    images.setflags(write=False)
    labels.setflags(write=False)
    return images, labels


GPU_DRIVERS = ("/proc/driver/nvidia/version", "/dev/kfd")  # NVIDIA's driver; AMD's ROCm (torch.cuda runs on both)


def device_options() -> list[str]:
    """cpu, then cuda and mps where torch can use them. Before torch is imported (the warm-up imports it after the
    first page), torch is asked only on a machine that shows a GPU driver or is a Mac, so that the sidebar of a page
    that needs no model does not wait for its import; once it is imported, always (a driver this check does not
    know, e.g. WSL's, then shows)."""
    if "torch" not in sys.modules and not (sys.platform == "darwin" or any(Path(p).exists() for p in GPU_DRIVERS)):
        return ["cpu"]
    import torch

    from vae_core.base.devices import mps_available

    return ["cpu"] + (["cuda"] if torch.cuda.is_available() else []) + (["mps"] if mps_available() else [])


# ------------------------------------------------------------------------------------------------ derived
@st.cache_data(max_entries=ARRAYS_KEPT, ttl=ARRAYS_TTL, show_spinner=False)
def reconstruction(_model: VAE, key: ModelKey, images: np.ndarray, seed: int) -> dict:
    from explorer.compute import latent

    return latent.reconstruct(_model, images, seed=seed)


@st.cache_data(max_entries=ARRAYS_KEPT, ttl=ARRAYS_TTL, show_spinner=False)
def prior_samples(_model: VAE, key: ModelKey, n: int, temperature: float, seed: int) -> dict:
    from explorer.compute import latent

    return latent.prior_samples(_model, n, temperature, seed)


@st.cache_data(max_entries=ARRAYS_KEPT, ttl=ARRAYS_TTL, show_spinner=False)
def decode(_model: VAE, key: ModelKey, z: np.ndarray, seed: int) -> dict:
    from explorer.compute import latent

    return latent.decode(_model, z, seed)


@st.cache_data(max_entries=ARRAYS_KEPT, ttl=ARRAYS_TTL, show_spinner="Encoding the test sample ...")
def encode_means(_model: VAE, key: ModelKey, dataset: str, seed: int) -> np.ndarray:
    from explorer.compute import latent

    return latent.encode_means(_model, sample_set(dataset)[0], seed)


@st.cache_data(max_entries=ARRAYS_KEPT, ttl=ARRAYS_TTL, show_spinner=False)
def plane(_model: VAE, key: ModelKey, dataset: str, seed: int) -> tuple[latent.Projection, np.ndarray]:
    """The plane of the sample's posterior means (exact or PCA) and their coordinates in it (N, 2)."""
    from explorer.compute import latent

    means = encode_means(_model, key, dataset, seed)
    proj = latent.fit_projection(means)
    return proj, latent.project(proj, means)


@st.cache_data(max_entries=ARRAYS_KEPT, ttl=ARRAYS_TTL, show_spinner=False)
def sigma_values(_model: VAE, key: ModelKey, dataset: str, num_images: int) -> np.ndarray | None:
    """Decoder sigma at the posterior mean over every pixel of the first ``num_images`` sample images."""
    from explorer.compute import latent

    sigma = latent.sigma_at_means(_model, sample_set(dataset)[0][:num_images])
    return None if sigma is None else sigma.ravel()


@st.cache_data(max_entries=POSTERIORS_KEPT, ttl=ARRAYS_TTL,
               show_spinner="Integrating p(x|z) p(z) over the latent plane ...")
def posterior(_model: VAE, key: ModelKey, dataset: str, index: int, seed: int) -> dict:
    """The true posterior and the identity's numbers for one embedded test image (explorer.compute.posterior_view)."""
    from explorer.compute import posterior_view

    return posterior_view.posterior_view(_model, sample_set(dataset)[0][index], seed)


@st.cache_data(max_entries=ARRAYS_KEPT, ttl=ARRAYS_TTL, show_spinner="Importance sampling ...")
def image_iwae(_model: VAE, key: ModelKey, dataset: str, index: int, seed: int, k: int) -> tuple[float, float]:
    """IWAE_k of one embedded test image: mean and standard error over independent runs."""
    from explorer.compute import posterior_view

    return posterior_view.iwae_for_image(_model, sample_set(dataset)[0][index], k, seed)
