"""The findings' numbers that no shipped file holds any more, each quoted from a committed eval.json or history.jsonl
the text names (an earlier zoo's runs): read back from that commit, so a wrong digit or a commit that does not say
it fails here. Skipped where the clone lacks the history (a shallow clone)."""
from __future__ import annotations

import json
import subprocess
import tarfile
from io import BytesIO

import pytest

from explorer import claims
from explorer.findings_tables import network_pairs, read_entries, spread_summary
from vae_core.files.names import DEFAULT_ZOO

ROOT = DEFAULT_ZOO.parent


def git_show(commit: str, path: str) -> str | None:
    done = subprocess.run(["git", "show", f"{commit}:{path}"], cwd=ROOT, capture_output=True, text=True)
    return done.stdout if done.returncode == 0 else None


def at(commit: str, path: str) -> str:
    text = git_show(commit, path)
    if text is None:
        pytest.skip(f"commit {commit} is not in this clone (git history needed)")
    return text


def value(commit: str, model: str, keys: str, name: str = "eval.json"):
    """A value of a committed checkpoint file: eval.json by dotted keys, or history.jsonl's first line."""
    text = at(commit, f"checkpoints/{model}/{name}")
    data = json.loads(text.splitlines()[0] if name.endswith(".jsonl") else text)
    for key in keys.split("."):
        data = data[key]
    return data


def minus(x: float, spec: str) -> str:
    return format(x, spec).replace("-", "−")


@pytest.fixture(scope="module")
def doc() -> str:
    return " ".join((ROOT / claims.CLAIMS_DOC).read_text().split())


HISTORY = [  # (commit, model, keys, file, how the findings write it)
    ("a21a55a", "mnist-discretized-gaussian", "test.elbo", "eval.json", lambda v: f"ELBO {minus(v, ',.0f')}"),
    ("a21a55a", "mnist-discretized-gaussian", "test.iwae", "eval.json", lambda v: f"log p {minus(v, ',.0f')}"),
    ("a21a55a", "mnist-discretized-gaussian", "test.bits_per_dim", "eval.json", lambda v: f"{v:.2f} bits/dim, MSE"),
    ("a21a55a", "mnist-discretized-gaussian", "test.mse", "eval.json", lambda v: f"MSE {v:.3f}"),
    ("a21a55a", "mnist-discretized-gaussian", "frechet.sample_means", "eval.json",
     lambda v: f"FD of sample means {v:,.0f}"),
    ("a21a55a", "mnist-discretized-gaussian", "sigma.mean", "eval.json", lambda v: f"mean sigma {v:.1f} on the test"),
    ("a21a55a", "mnist-discretized-gaussian", "training.diverged_at_epoch", "eval.json",
     lambda v: f"exploded in epoch {v}"),
    ("a21a55a", "fashion-mnist-discretized-gaussian", "test.elbo", "eval.json", lambda v: f"{minus(v, ',.0f')} / "),
    ("a21a55a", "fashion-mnist-discretized-gaussian", "test.iwae", "eval.json", lambda v: f"/ {minus(v, ',.0f')} /"),
    ("a21a55a", "fashion-mnist-discretized-gaussian", "test.bits_per_dim", "eval.json", lambda v: f"/ {v:.2f} bits"),
    ("a21a55a", "fashion-mnist-discretized-gaussian", "frechet.sample_means", "eval.json",
     lambda v: f"bits/dim, FD {v:.0f}"),
    ("a21a55a", "mnist-discretized-gaussian", "val_elbo", "history.jsonl", lambda v: f"against {minus(v, ',.0f')})"),
    ("aa0e434", "mnist-discretized-gaussian", "val_elbo", "history.jsonl",
     lambda v: f"validation ELBO {minus(v, ',.0f')} after one epoch"),
    ("1cf24b4", "mnist-gaussian-fixed-conv", "frechet.sample_means", "eval.json",
     lambda v: f"FD of sample means {v:.0f} at latent 16 in commit 1cf24b4"),
    ("c1a4dd5", "mnist-gaussian-fixed-conv", "log_likelihood.images_far_below_iwae", "eval.json",
     lambda v: f"missed on {v} of 20 images at T = 300 x 4 (its eval.json at commit c1a4dd5)"),
    ("f20d3e8", "fashion-mnist-gaussian-pixel", "log_likelihood.images_far_below_iwae", "eval.json",
     lambda v: f"on {v} of its 50 images (its eval.json at commit f20d3e8)"),
]


@pytest.mark.parametrize(("commit", "model", "keys", "name", "written"), HISTORY,
                         ids=[f"{c}-{m}-{k}" for c, m, k, *_ in HISTORY])
def test_each_number_from_git_history_is_what_its_commit_holds(doc, commit, model, keys, name, written):
    assert written(value(commit, model, keys, name)) in doc


def test_the_first_mnist_conv_zoos_fd_factors_are_its_own(doc, tmp_path):
    """"FD factor 1.31 for the architecture against 1.85 for the likelihood; conv better by FD only for the
    Bernoulli and discretized decoders": the median factors the findings' table computes, on commit 1cf24b4's
    eval.json and config.json files."""
    at("1cf24b4", "zoo.toml")
    archive = subprocess.run(["git", "archive", "1cf24b4", "checkpoints"], cwd=ROOT, capture_output=True, check=True)
    with tarfile.open(fileobj=BytesIO(archive.stdout)) as tar:
        tar.extractall(tmp_path, members=[m for m in tar.getmembers() if m.name.endswith(".json")], filter="data")
    pairs = [(m, c) for m, c in network_pairs(read_entries(tmp_path / "checkpoints"))["conv"] if m.dataset == "mnist"]
    summary = spread_summary(pairs)
    architecture, likelihood = (summary.split(": ")[1].split(" ")[0], summary.split(": ")[2].split(" ")[0])
    assert f"FD factor {architecture} for the architecture against {likelihood} for the likelihood" in doc
    better = sorted(m.decoder for m, c in pairs if c.frechet.sample_means < m.frechet.sample_means)
    assert better == ["bernoulli", "discretized-gaussian"] and "conv better by FD only for the Bernoulli and " \
                                                               "discretized decoders" in doc
