"""Shared fixtures. Tests that need the full datasets take ``data_dir`` (or a fixture built on it) and skip without
$VAE_ZOO_DATA; everything else, the app tests' tiny zoo included, runs on the sample embedded in the package."""
from __future__ import annotations

import fcntl
import os
from pathlib import Path

import numpy as np
import pytest

from vae_core.base.data import DATA_DIR_ENV, load_split

SKIP_REASON = f"set {DATA_DIR_ENV}=../shared/datasets to run tests on the full datasets"


def pytest_configure(config):
    """Under pytest-xdist, the cores shared out between the workers: torch in each worker, and the processes it
    starts (train.py, Streamlit servers), use cores / workers threads. Two workers of two threads each on two cores
    spin against each other: a 2-D AIS test took 65 s that way, 15 s with one thread (docs/test_suite.md)."""
    workers = os.environ.get("PYTEST_XDIST_WORKER_COUNT")
    if workers:
        import torch

        threads = max(1, (os.cpu_count() or 1) // int(workers))
        os.environ["OMP_NUM_THREADS"] = str(threads)
        torch.set_num_threads(threads)


@pytest.fixture(scope="session")
def data_dir() -> Path:
    """The folder holding <dataset>/ IDX files, from $VAE_ZOO_DATA; skips the test without it."""
    value = os.environ.get(DATA_DIR_ENV)
    if not value:
        pytest.skip(SKIP_REASON)
    path = Path(value).expanduser().resolve()
    if not (path / "mnist").is_dir():
        pytest.skip(f"{DATA_DIR_ENV}={value} holds no mnist/ folder; {SKIP_REASON}")
    return path


@pytest.fixture(scope="session")
def mnist_train(data_dir: Path) -> tuple[np.ndarray, np.ndarray]:
    """Real MNIST training images (60000, 28, 28) uint8 and labels, read (and checksummed) once per session."""
    return load_split("mnist", "train", data_dir)


@pytest.fixture(scope="session")
def mnist_test(data_dir: Path) -> tuple[np.ndarray, np.ndarray]:
    """Real MNIST test images (10000, 28, 28) uint8 and labels."""
    return load_split("mnist", "test", data_dir)


@pytest.fixture(scope="session")
def tiny_zoo(request) -> Path:
    """A zoo folder with one tiny checkpoint per decoder kind, trained by the real train.py on the embedded sample
    and evaluated into eval.json (see tests/tiny_zoo.py); cached across runs in pytest's cache, keyed by the source
    code. Needs no dataset."""
    from tiny_zoo import build_tiny_zoo

    return build_tiny_zoo(request.config.cache.mkdir("vae-tiny-zoo"))


@pytest.fixture
def zoo(tiny_zoo: Path, monkeypatch) -> Path:
    """The tiny zoo as the app's source (the environment variable and the local default), caches cleared."""
    from explorer import cache

    monkeypatch.setenv("VAE_ZOO_SOURCE", str(tiny_zoo))
    monkeypatch.delenv("VAE_ZOO_REVISION", raising=False)
    monkeypatch.setattr(cache, "LOCAL_ZOO", tiny_zoo)
    cache.resolve.clear()
    return tiny_zoo


@pytest.fixture(scope="session")
def tiny_site_export(tiny_zoo: Path, tmp_path_factory) -> Path:
    """The tiny zoo exported as the static site (explorer.static_site.export_site, figures included) once per
    test run: the site's tests (test_static_*.py) read it and never write into it. pytest-xdist's workers share
    one export in the run's temporary folder (the parent of each worker's own): the first exports it under a
    lock, the others wait for it."""
    from explorer.static_site import export_site

    if not os.environ.get("PYTEST_XDIST_WORKER"):  # one process: its own temporary folder
        out = tmp_path_factory.mktemp("static-site") / "site"
        export_site(out, tiny_zoo)
        return out
    run = tmp_path_factory.getbasetemp().parent
    out, done = run / "static-site" / "site", run / "static-site" / ".complete"
    with open(run / "static-site.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file closes, also if this worker dies
        if not done.is_file():
            export_site(out, tiny_zoo)
            done.touch()
    return out
