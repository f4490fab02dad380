"""Datasets: the real IDX files, the registry, every way a file can be broken, the checksummed download against a
real HTTP server on loopback, the data transforms, and the embedded sample."""
from __future__ import annotations

import dataclasses
import gzip
import http.server
import math
import shutil
import threading
from pathlib import Path

import numpy as np
import pytest
import torch

from vae_core.base import data
from vae_core.base.data import (
    DATA_KINDS,
    DATASETS,
    SAMPLE_DIR,
    DataError,
    dataset_info,
    download_dataset,
    fixed_test_input,
    is_bounded,
    load_sample,
    load_split,
    nats_offset_per_dim,
    read_idx,
    resolve_data_dir,
    to_model_input,
)

# Facts from ../shared/datasets/README.md
README = {
    "mnist": {"train_mean": 0.1307, "train_labels": [5, 0, 4, 1, 9, 2, 1, 3, 1, 4],
              "test_labels": [7, 2, 1, 0, 4, 1, 4, 9, 5, 9]},
    "fashion-mnist": {"train_mean": 0.2860},
}
FILES = [f for split in ("train", "test") for f in data.DatasetInfo.files(split)]


# ------------------------------------------------------------------------------------- the real files
def test_mnist_train_split(mnist_train):
    images, labels = mnist_train
    assert images.shape == (60000, 28, 28) and images.dtype == np.uint8
    assert labels.shape == (60000,) and labels.dtype == np.int64
    assert labels[:10].tolist() == README["mnist"]["train_labels"]
    assert images.mean() / 255 == pytest.approx(README["mnist"]["train_mean"], abs=1e-4)
    assert set(np.unique(labels)) == set(range(10))


def test_mnist_test_split(mnist_test):
    images, labels = mnist_test
    assert images.shape == (10000, 28, 28) and labels.shape == (10000,)
    assert labels[:10].tolist() == README["mnist"]["test_labels"]


def test_fashion_mnist(data_dir):
    images, labels = load_split("fashion-mnist", "train", data_dir)
    assert images.shape == (60000, 28, 28)
    assert images.mean() / 255 == pytest.approx(README["fashion-mnist"]["train_mean"], abs=1e-4)
    assert np.bincount(labels).tolist() == [6000] * 10  # Fashion-MNIST is balanced
    assert len(dataset_info("fashion-mnist").classes) == 10


# ------------------------------------------------------------------------------------- registry
def test_registry():
    assert set(DATASETS) == {"mnist", "fashion-mnist"}
    for name, info in DATASETS.items():
        assert info.name == name and len(info.classes) == 10 and info.mirrors
        assert all(m.startswith(("https://", "http://")) for m in info.mirrors)
        assert set(info.sha256) == set(FILES)
        assert all(len(h) == 64 and int(h, 16) >= 0 for h in info.sha256.values())


def test_registry_checksums_match_the_shared_readme(data_dir):
    readme = (data_dir / "README.md").read_text()
    for name, info in DATASETS.items():
        for file_name, digest in info.sha256.items():
            assert f"`{name}/{file_name}`: {digest}" in readme


@pytest.mark.parametrize("call", [
    lambda: dataset_info("cifar10"),
    lambda: load_split("cifar10", "train", "/nonexistent"),
    lambda: load_sample("cifar10"),
    lambda: download_dataset("cifar10", "/nonexistent"),
])
def test_unknown_dataset_names_the_choices(call):
    with pytest.raises(ValueError) as e:
        call()
    assert "cifar10" in str(e.value) and all(name in str(e.value) for name in DATASETS)


def test_unknown_split_names_the_choices(data_dir):
    with pytest.raises(ValueError, match="'val'.*train, test"):
        load_split("mnist", "val", data_dir)


def test_resolve_data_dir_order(monkeypatch, tmp_path):
    monkeypatch.setenv(data.DATA_DIR_ENV, str(tmp_path / "env"))
    assert resolve_data_dir(tmp_path / "arg") == tmp_path / "arg"
    assert resolve_data_dir() == tmp_path / "env"
    monkeypatch.delenv(data.DATA_DIR_ENV)
    assert resolve_data_dir() == Path("data")


def test_missing_folder_says_which_file_and_how_to_get_it(tmp_path):
    with pytest.raises(DataError) as e:
        load_split("mnist", "train", tmp_path)
    message = str(e.value)
    assert str(tmp_path / "mnist" / "train-images-idx3-ubyte.gz") in message and "--download" in message


# ------------------------------------------------------------------------------------- broken files
def _regzip(raw: bytes) -> bytes:
    return gzip.compress(raw, compresslevel=1, mtime=0)


def _flip_middle(gz: bytes) -> bytes:
    b = bytearray(gz)
    for i in range(len(b) // 2, len(b) // 2 + 16):
        b[i] ^= 0x5A
    return bytes(b)


def _change_a_pixel(raw: bytes) -> bytes:
    b = bytearray(raw)
    b[-1] = (b[-1] + 1) % 256
    return bytes(b)


BREAKAGES = {  # name -> (gz bytes, decompressed bytes) -> new file bytes, and words the message must hold
    "truncated gz": (lambda gz, raw: gz[: len(gz) // 2], "cannot decompress"),
    "corrupt bytes": (lambda gz, raw: _flip_middle(gz), "cannot decompress"),
    "empty file": (lambda gz, raw: b"", "checksum mismatch"),  # the checksum is checked first
    "checksum mismatch": (lambda gz, raw: _regzip(_change_a_pixel(raw)), "checksum mismatch"),
    "wrong magic number": (lambda gz, raw: _regzip(b"\x00\x00\x0c\x03" + raw[4:]), "checksum mismatch"),
    "truncated payload": (lambda gz, raw: _regzip(raw[:-100]), "checksum mismatch"),
}


@pytest.fixture(scope="module")
def test_split_files(data_dir):
    folder = data_dir / "mnist"
    return {f: (folder / f).read_bytes() for f in data.DatasetInfo.files("test")}


@pytest.mark.parametrize("which", [0, 1], ids=["images", "labels"])
@pytest.mark.parametrize("breakage", list(BREAKAGES))
def test_broken_file_raises_a_data_error_naming_it(tmp_path, test_split_files, breakage, which):
    folder = tmp_path / "mnist"
    folder.mkdir()
    for name, gz in test_split_files.items():
        (folder / name).write_bytes(gz)
    target = folder / data.DatasetInfo.files("test")[which]
    gz = target.read_bytes()
    make, words = BREAKAGES[breakage]
    target.write_bytes(make(gz, gzip.decompress(gz)))
    with pytest.raises(DataError) as e:
        load_split("mnist", "test", tmp_path)
    assert str(target) in str(e.value) and words in str(e.value)


@pytest.mark.parametrize(("raw", "words"), [
    (b"\x00\x00", "too short"),
    (b"\x00\x00\x0c\x01" + (3).to_bytes(4, "big") + b"abc", "wrong magic number"),  # int32, not uint8
    (b"\x08\x00\x08\x01" + (3).to_bytes(4, "big") + b"abc", "wrong magic number"),
    (b"\x00\x00\x08\x05" + (3).to_bytes(4, "big") + b"abc", "wrong magic number"),  # 5 dimensions
    (b"\x00\x00\x08\x03" + (2).to_bytes(4, "big"), "truncated header"),
    (b"\x00\x00\x08\x01" + (5).to_bytes(4, "big") + b"abc", "truncated or corrupt"),
    (b"\x00\x00\x08\x01" + (2).to_bytes(4, "big") + b"abc", "truncated or corrupt"),  # trailing bytes
])
@pytest.mark.parametrize("compress", [True, False], ids=["gz", "plain"])
def test_structural_errors_without_a_checksum(tmp_path, raw, words, compress):
    path = tmp_path / "x-idx1-ubyte"
    path.write_bytes(_regzip(raw) if compress else raw)
    with pytest.raises(DataError) as e:
        read_idx(path)
    assert str(path) in str(e.value) and words in str(e.value)


@pytest.mark.parametrize("compress", [True, False], ids=["gz", "plain"])
def test_valid_idx_reads_gzipped_or_plain(tmp_path, compress):
    raw = b"\x00\x00\x08\x02" + (2).to_bytes(4, "big") + (3).to_bytes(4, "big") + bytes(range(6))
    path = tmp_path / "small"
    path.write_bytes(_regzip(raw) if compress else raw)
    np.testing.assert_array_equal(read_idx(path), np.arange(6, dtype=np.uint8).reshape(2, 3))
    import hashlib

    read_idx(path, hashlib.sha256(raw).hexdigest())  # the checksum is of the decompressed bytes


def test_missing_file(tmp_path):
    with pytest.raises(DataError, match="file not found"):
        read_idx(tmp_path / "nope.gz")


# ------------------------------------------------------------------------------------- download
class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


@pytest.fixture
def http_root(tmp_path, data_dir):
    """A real HTTP server on loopback serving a folder that starts as links to the shared MNIST files."""
    root = tmp_path / "served"
    root.mkdir()
    for name in FILES:
        (root / name).symlink_to(data_dir / "mnist" / name)
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0),
                                             lambda *a, **kw: _QuietHandler(*a, directory=str(root), **kw))
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
    thread.start()
    yield root, f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()
    thread.join(5)


def test_download_lands_verified_files(tmp_path, http_root, data_dir):
    _, url = http_root
    dest = tmp_path / "dest"
    (dest / "mnist").mkdir(parents=True)
    (dest / "mnist" / "t10k-labels-idx1-ubyte.gz").write_bytes(b"junk from an earlier, broken download")
    folder = download_dataset("mnist", dest, base_url=url, progress=False)
    assert folder == dest / "mnist"
    assert sorted(p.name for p in folder.iterdir()) == sorted(FILES)  # no temporary files left
    for name in FILES:
        assert (folder / name).read_bytes() == (data_dir / "mnist" / name).read_bytes()
    images, labels = load_split("mnist", "test", dest)
    assert labels[:10].tolist() == README["mnist"]["test_labels"]


def test_load_split_downloads_through_the_registry_mirrors(tmp_path, http_root, monkeypatch):
    _, url = http_root
    # the first mirror refuses connections (a closed port on loopback), the second serves the files
    dead = http.server.HTTPServer(("127.0.0.1", 0), _QuietHandler)
    dead_url = f"http://127.0.0.1:{dead.server_address[1]}"
    dead.server_close()
    info = dataclasses.replace(DATASETS["mnist"], mirrors=(dead_url, url))
    monkeypatch.setitem(DATASETS, "mnist", info)
    images, labels = load_split("mnist", "test", tmp_path, download=True)
    assert len(images) == 10000 and labels[:10].tolist() == README["mnist"]["test_labels"]


SERVED_BREAKAGES = {
    **{k: v[0] for k, v in BREAKAGES.items() if k != "empty file"},
    "not served (404)": None,
}


@pytest.mark.parametrize("breakage", list(SERVED_BREAKAGES))
def test_bad_download_leaves_nothing_behind(tmp_path, http_root, breakage):
    root, url = http_root
    bad = "train-labels-idx1-ubyte.gz"  # the second file fetched: the first must land, this one must not
    served = root / bad
    gz = served.read_bytes()
    served.unlink()
    if SERVED_BREAKAGES[breakage] is not None:
        served.write_bytes(SERVED_BREAKAGES[breakage](gz, gzip.decompress(gz)))
    dest = tmp_path / "dest"
    with pytest.raises(DataError) as e:
        download_dataset("mnist", dest, base_url=url, progress=False)
    assert str(dest / "mnist" / bad) in str(e.value) and "download failed" in str(e.value)
    assert sorted(p.name for p in (dest / "mnist").iterdir()) == ["train-images-idx3-ubyte.gz"]


# ------------------------------------------------------------------------------------- transforms
@pytest.fixture(scope="module")
def sample_images() -> torch.Tensor:
    return torch.from_numpy(load_sample("mnist")[0])  # (1000, 28, 28) uint8


def test_binarization_is_reproducible_for_a_seed(sample_images):
    a = fixed_test_input(sample_images, "binary", seed=0)
    assert torch.equal(a, fixed_test_input(sample_images, "binary", seed=0))
    assert not torch.equal(a, fixed_test_input(sample_images, "binary", seed=1))
    assert a.shape == (1000, 1, 28, 28) and a.dtype == torch.float32
    assert set(a.unique().tolist()) == {0.0, 1.0}
    p = sample_images.double() / 255
    assert float(a.double().mean()) == pytest.approx(float(p.mean()), abs=5 * math.sqrt(float((p * (1 - p)).sum()))
                                                     / p.numel())
    assert (a[sample_images.unsqueeze(1) == 0] == 0).all() and (a[sample_images.unsqueeze(1) == 255] == 1).all()


@pytest.mark.parametrize("seed", [0, 1])
def test_dequantization_stays_inside_each_pixel_bin(mnist_test, seed):
    images = torch.from_numpy(np.array(mnist_test[0]))  # all 10000 test images: 7.8M draws
    y = to_model_input(images, "continuous", torch.Generator().manual_seed(seed))
    pixel = images.unsqueeze(1).float()
    assert ((y > 0) & (y < 1)).all()
    assert torch.equal(torch.floor(y * 256), pixel)
    assert abs(float((y * 256 - pixel).double().mean()) - 0.5) < 1e-3  # u ~ U[0, 1)


def test_discrete_kind_is_the_8_bit_values(sample_images):
    x = to_model_input(sample_images, "discrete")
    assert torch.equal(torch.round(x * 255), sample_images.unsqueeze(1).float())
    assert torch.equal(x, to_model_input(sample_images.unsqueeze(1), "discrete"))  # (B, 1, 28, 28) accepted


def test_raw_kind_is_the_8_bit_values_as_a_density(sample_images):
    """raw and discrete feed the model the same tensor; only raw is unbounded, so only it has no bits/dim."""
    assert torch.equal(to_model_input(sample_images, "raw"), to_model_input(sample_images, "discrete"))
    assert [kind for kind in DATA_KINDS if not is_bounded(kind)] == ["raw"]
    with pytest.raises(ValueError, match="no bits/dim for 'raw' data"):
        nats_offset_per_dim("raw")
    with pytest.raises(ValueError, match="unknown data kind"):
        is_bounded("dequantized")


def test_transform_rejects_bad_input(sample_images):
    with pytest.raises(TypeError, match="uint8"):
        to_model_input(sample_images.float(), "binary")
    with pytest.raises(ValueError) as e:
        to_model_input(sample_images, "dequantized")
    assert all(kind in str(e.value) for kind in DATA_KINDS)


# ------------------------------------------------------------------------------------- embedded sample
def test_embedded_samples_are_small():
    total = sum(p.stat().st_size for p in SAMPLE_DIR.iterdir() if p.is_file())
    assert 0 < total <= 1_000_000


@pytest.mark.parametrize("name", list(DATASETS))
def test_embedded_sample_is_the_first_test_images(data_dir, name):
    images, labels = load_sample(name)
    assert images.dtype == np.uint8 and images.shape[1:] == (28, 28) and len(images) == len(labels) >= 100
    real_images, real_labels = load_split(name, "test", data_dir)
    np.testing.assert_array_equal(images, real_images[: len(images)])
    np.testing.assert_array_equal(labels, real_labels[: len(labels)])


def test_embedded_sample_needs_no_data_folder(monkeypatch, tmp_path):
    monkeypatch.setenv(data.DATA_DIR_ENV, str(tmp_path / "nothing-here"))
    images, labels = load_sample("mnist")
    assert labels[:10].tolist() == README["mnist"]["test_labels"]


def test_shutil_copy_of_a_dataset_folder_is_readable(tmp_path, data_dir):
    """A user pointing --data-dir at a copied folder (the documented layout) gets the same arrays."""
    shutil.copytree(data_dir / "mnist", tmp_path / "mnist", ignore=shutil.ignore_patterns("train-*"))
    images, labels = load_split("mnist", "test", tmp_path)
    assert labels[:10].tolist() == README["mnist"]["test_labels"]
