"""Datasets: IDX reading, the registry, checksummed downloads, and the transforms each likelihood needs.

Images are kept as uint8 arrays of shape (N, 28, 28). A likelihood declares which kind of data it models
(see ``DATA_KINDS``) and ``to_model_input`` turns a uint8 batch into that kind:

- ``binary``: dynamic binarization, x ~ Bernoulli(pixel / 255) (Salakhutdinov & Murray 2008).
- ``continuous``: uniform dequantization, y = (pixel + u) / 256, u ~ U[0, 1) (Theis et al. 2016), so a density
  on [0, 1]^D gives a lower bound on the probability of the 8-bit image after subtracting D log 256.
- ``discrete``: the 8-bit values themselves, pixel / 255, for likelihoods that put mass on each of 256 bins.
- ``raw``: the same values, pixel / 255, modelled as a *density* with no dequantization (what seed 000 and most
  tutorials do). Nothing bounds such a density: see ``UNBOUNDED_KINDS``.
"""
from __future__ import annotations

import gzip
import hashlib
import os
import secrets
import struct
import urllib.error
import urllib.request
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from tqdm.auto import tqdm

if TYPE_CHECKING:  # the transforms import torch when called: the registry and the files are read without it
    import torch

DATA_DIR_ENV = "VAE_ZOO_DATA"
DATA_KINDS = ("binary", "continuous", "discrete", "raw")
# Data kinds on which a model's log-likelihood has no upper bound, so it has no bits/dim and is never ranked
# with bounded models. The reason, in the one sentence every page and eval.json repeats:
UNBOUNDED_KINDS = frozenset({"raw"})
UNBOUNDED_REASON = ("a density on raw pixels (x / 255 without dequantization) is not a probability of the 8-bit "
                    "image and grows without bound as a learned sigma shrinks on the many pixels that are exactly 0, "
                    "so it has no bits/dim and is not ranked with bounded models")
SAMPLE_DIR = Path(__file__).resolve().parent.parent / "samples"
SPLITS = ("train", "test")


class DataError(RuntimeError):
    """A dataset file is missing, truncated, corrupt or fails its checksum. The message names the file."""


@dataclass(frozen=True)
class DatasetInfo:
    name: str
    classes: tuple[str, ...]
    mirrors: tuple[str, ...]  # base URLs tried in order; files are <base>/<file name>
    sha256: dict[str, str] = field(default_factory=dict)  # file name -> sha256 of the *decompressed* bytes

    @staticmethod
    def files(split: str) -> tuple[str, str]:
        prefix = {"train": "train", "test": "t10k"}[split]
        return f"{prefix}-images-idx3-ubyte.gz", f"{prefix}-labels-idx1-ubyte.gz"


DATASETS: dict[str, DatasetInfo] = {
    "mnist": DatasetInfo(
        name="mnist",
        classes=tuple(str(d) for d in range(10)),
        mirrors=("https://ossci-datasets.s3.amazonaws.com/mnist", "https://storage.googleapis.com/cvdf-datasets/mnist"),
        sha256={
            "t10k-images-idx3-ubyte.gz": "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7",
            "t10k-labels-idx1-ubyte.gz": "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2",
            "train-images-idx3-ubyte.gz": "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db",
            "train-labels-idx1-ubyte.gz": "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5",
        },
    ),
    "fashion-mnist": DatasetInfo(
        name="fashion-mnist",
        classes=("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                 "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"),
        mirrors=("http://fashion-mnist.s3-website.eu-central-1.amazonaws.com",),
        sha256={
            "t10k-images-idx3-ubyte.gz": "5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b",
            "t10k-labels-idx1-ubyte.gz": "0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34",
            "train-images-idx3-ubyte.gz": "c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888",
            "train-labels-idx1-ubyte.gz": "bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9",
        },
    ),
}


def dataset_info(name: str) -> DatasetInfo:
    if name not in DATASETS:
        raise ValueError(f"unknown dataset {name!r}; choose one of: {', '.join(DATASETS)}")
    return DATASETS[name]


def resolve_data_dir(path: str | os.PathLike | None = None) -> Path:
    """The data folder: the argument, else $VAE_ZOO_DATA, else ./data. Datasets live in <folder>/<name>/."""
    return Path(path or os.environ.get(DATA_DIR_ENV) or "data").expanduser()


# ---------------------------------------------------------------------------------------------- IDX files
_IDX_DTYPES = {0x08: np.uint8}


def parse_idx(raw: bytes, source: str = "<bytes>") -> np.ndarray:
    """Parse the decompressed bytes of an IDX file (LeCun et al. 1998 format): magic, dims, big-endian data."""
    if len(raw) < 4:
        raise DataError(f"{source}: too short to be an IDX file ({len(raw)} bytes)")
    zero, dtype_code, ndim = struct.unpack(">HBB", raw[:4])
    if zero != 0 or dtype_code not in _IDX_DTYPES or not 1 <= ndim <= 4:
        raise DataError(f"{source}: wrong magic number {raw[:4].hex()} (expected 0000 08 01..04 for uint8 IDX)")
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise DataError(f"{source}: truncated header")
    shape = struct.unpack(f">{ndim}I", raw[4:header])
    expected = int(np.prod(shape))
    if len(raw) - header != expected:
        raise DataError(f"{source}: truncated or corrupt: header says {expected} values of shape {shape}, "
                        f"file holds {len(raw) - header}")
    return np.frombuffer(raw, dtype=np.uint8, offset=header).reshape(shape)


def read_idx(path: str | os.PathLike, sha256: str | None = None) -> np.ndarray:
    """Read a (gzipped or plain) IDX file, optionally checking the sha256 of its decompressed bytes."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: file not found")
    try:
        with open(path, "rb") as f:
            head = f.read(2)
        opener = gzip.open if head == b"\x1f\x8b" else open
        with opener(path, "rb") as f:
            raw = f.read()
    except (OSError, EOFError, zlib.error) as e:  # BadGzipFile is an OSError; corrupt deflate data a zlib.error
        raise DataError(f"{path}: cannot decompress ({e})") from e
    if sha256 is not None and hashlib.sha256(raw).hexdigest() != sha256:
        raise DataError(f"{path}: checksum mismatch (sha256 of the decompressed data is "
                        f"{hashlib.sha256(raw).hexdigest()}, expected {sha256})")
    return parse_idx(raw, str(path))


def load_split(name: str, split: str = "train", root: str | os.PathLike | None = None,
               download: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """Images (N, 28, 28) uint8 and labels (N,) int64 of one split, read from <root>/<name>/."""
    info = dataset_info(name)
    if split not in SPLITS:
        raise ValueError(f"unknown split {split!r}; choose one of: {', '.join(SPLITS)}")
    folder = resolve_data_dir(root) / name
    image_file, label_file = info.files(split)
    missing = [f for f in (image_file, label_file) if not (folder / f).is_file()]
    if missing and download:
        download_dataset(name, root)
    elif missing:
        raise DataError(f"{folder / missing[0]}: file not found. Point --data-dir (or ${DATA_DIR_ENV}) at a folder "
                        f"holding {name}/, or pass --download to fetch it.")
    images = read_idx(folder / image_file, info.sha256.get(image_file))
    labels = read_idx(folder / label_file, info.sha256.get(label_file)).astype(np.int64)
    if images.ndim != 3 or images.shape[1:] != (28, 28) or len(images) != len(labels):
        raise DataError(f"{folder / image_file}: expected (N, 28, 28) images matching {len(labels)} labels, "
                        f"got {images.shape}")
    return images, labels


# ---------------------------------------------------------------------------------------------- download
def download_dataset(name: str, root: str | os.PathLike | None = None, base_url: str | None = None,
                     progress: bool = True) -> Path:
    """Fetch the four IDX files of a dataset into <root>/<name>/, checksummed, each written atomically.

    ``base_url`` overrides the registry's mirrors (used by tests against a server on loopback).
    """
    info = dataset_info(name)
    folder = resolve_data_dir(root) / name
    folder.mkdir(parents=True, exist_ok=True)
    mirrors = (base_url,) if base_url else info.mirrors
    for split in SPLITS:
        for file_name in info.files(split):
            target = folder / file_name
            if target.is_file():
                try:
                    read_idx(target, info.sha256.get(file_name))
                    continue
                except DataError:
                    pass  # a bad file already there is replaced
            errors = []
            for mirror in mirrors:
                try:
                    _download_verified(f"{mirror.rstrip('/')}/{file_name}", target, info.sha256.get(file_name),
                                       progress)
                    break
                except (DataError, OSError, urllib.error.URLError) as e:
                    errors.append(f"{mirror}: {e}")
            else:
                raise DataError(f"{target}: download failed from every mirror ({'; '.join(errors)})")
    return folder


def _download_verified(url: str, target: Path, sha256: str | None, progress: bool) -> None:
    """Stream ``url`` into a temporary file beside ``target``, verify it, then rename: never a partial file."""
    # not tempfile.mkstemp, whose 0600 would outlive the rename: the dataset's files follow the umask
    tmp = str(target.parent / f".{target.name}.{os.getpid()}.{secrets.token_hex(4)}.part")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    try:
        with os.fdopen(fd, "wb") as out, urllib.request.urlopen(url, timeout=30) as response:
            total = int(response.headers.get("Content-Length") or 0) or None
            with tqdm(total=total, unit="B", unit_scale=True, desc=target.name, disable=not progress) as bar:
                while chunk := response.read(1 << 16):
                    out.write(chunk)
                    bar.update(len(chunk))
        read_idx(tmp, sha256)  # raises DataError naming the temporary file; re-raise naming the target
        os.replace(tmp, target)
    except DataError as e:
        raise DataError(str(e).replace(tmp, f"{target} (from {url})")) from None
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


# ---------------------------------------------------------------------------------------------- sample
def sample_path(name: str) -> Path:
    """The file of the small test-set sample shipped inside the package for dataset ``name``."""
    dataset_info(name)
    return SAMPLE_DIR / f"{name}-test-sample.npz"


def load_sample(name: str) -> tuple[np.ndarray, np.ndarray]:
    """The small test-set sample shipped inside the package: images (N, 28, 28) uint8, labels (N,) int64."""
    with np.load(sample_path(name), allow_pickle=False) as f:
        return f["images"], f["labels"].astype(np.int64)


def write_sample(name: str, root: str | os.PathLike | None = None, n: int = 1000) -> Path:
    """Rebuild the embedded sample from the first ``n`` test images (used once, by scripts/make_samples.py)."""
    images, labels = load_split(name, "test", root)
    SAMPLE_DIR.mkdir(exist_ok=True)
    path = sample_path(name)
    np.savez_compressed(path, images=images[:n], labels=labels[:n].astype(np.uint8))
    return path


# ---------------------------------------------------------------------------------------------- transforms
def to_model_input(images: torch.Tensor, kind: str, generator: torch.Generator | None = None) -> torch.Tensor:
    """uint8 (B, 28, 28) or (B, 1, 28, 28) -> float (B, 1, 28, 28) of the given data kind (module docstring)."""
    import torch

    if images.dtype != torch.uint8:
        raise TypeError(f"expected uint8 images, got {images.dtype}")
    x = images.reshape(images.shape[0], 1, 28, 28).float()  # (B, 1, 28, 28) in 0..255
    if kind == "binary":
        return binarize(x.div_(255.0), generator)
    if kind == "continuous":
        # u is kept in [2^-17, 1 - 2^-16]: in float32 a u within 2^-17 of 1 rounds pixel + u up to pixel + 1 (the
        # next bin; y = 1 for 255) and u = 0 gives y = 0. So y lies in (0, 1) with floor(256 y) == pixel exactly.
        u = torch.rand(x.shape, generator=generator, device=x.device).clamp_(2.0**-17, 1.0 - 2.0**-16)
        return (x + u) / 256.0
    if kind in ("discrete", "raw"):  # the same values; they differ in what the likelihood makes of them
        return x / 255.0
    raise ValueError(f"unknown data kind {kind!r}; choose one of: {', '.join(DATA_KINDS)}")


def binarize(p: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
    """x ~ Bernoulli(p), float 0/1 of p's shape. On the CPU drawn as ``u < p`` with u from ``torch.rand``: the very
    draws and the generator state of ``torch.bernoulli(p, generator)`` (both take one 24-bit uniform per element in
    order and compare it with p; tests/test_training_data_path.py checks it), at about half the cost, since torch's
    per-element Bernoulli kernel is slower than its uniform one (docs/bench_train.md). Other devices and dtypes,
    whose kernels draw differently, keep ``torch.bernoulli``."""
    import torch

    if p.device.type != "cpu" or p.dtype not in (torch.float32, torch.float64):
        return torch.bernoulli(p, generator=generator)
    u = torch.rand(p.shape, generator=generator, dtype=p.dtype)
    return torch.lt(u, p, out=u)


def fixed_test_input(images: np.ndarray | torch.Tensor, kind: str, seed: int = 0) -> torch.Tensor:
    """The test set in model form with a fixed-seed binarization/dequantization, so every evaluation agrees."""
    import torch

    if not isinstance(images, torch.Tensor):
        images = torch.from_numpy(np.array(images))  # a copy: arrays read from IDX files are read-only
    return to_model_input(images, kind, torch.Generator().manual_seed(seed))


def is_bounded(kind: str) -> bool:
    """Whether a likelihood on this data kind has a maximum (see ``UNBOUNDED_KINDS``)."""
    if kind not in DATA_KINDS:
        raise ValueError(f"unknown data kind {kind!r}; choose one of: {', '.join(DATA_KINDS)}")
    return kind not in UNBOUNDED_KINDS


def nats_offset_per_dim(kind: str) -> float:
    """What to add to log p per dimension to compare with 8-bit data: -log 256 for a density on [0,1]."""
    if not is_bounded(kind):
        raise ValueError(f"no bits/dim for {kind!r} data: {UNBOUNDED_REASON}")
    return -float(np.log(256.0)) if kind == "continuous" else 0.0
