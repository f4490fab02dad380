"""Training: the real train.py in a subprocess (files, errors, resume, divergence) and, in process, the seeds'
claim in miniature on real MNIST: an unbounded per-pixel sigma collapses while a floored one never does."""
from __future__ import annotations

import hashlib
import json
import math
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from vae_core.base.data import fixed_test_input, load_sample
from vae_core.evaluation.metrics import sigma_stats
from vae_core.files.atomic import atomic_write
from vae_core.files.names import HISTORY_NAME, OPTIMIZER_NAME, STATE_NAME
from vae_core.files.schema import HistoryLine
from vae_core.model.likelihoods import decoder_sigma
from vae_core.model.vae import VAE, VAEConfig
from vae_core.training import loop
from vae_core.training.config import ADAM_IMPLS, LEGACY_ADAM, NEW_RUN_ADAM, TrainConfig
from vae_core.training.loop import Trainer, train
from vae_core.training.run_folder import CheckpointError, drop_optimizer, recover

ROOT = Path(__file__).resolve().parents[1]
# 1000 training images (8 steps of 128) and 300 for validation: about a second per epoch
QUICK = ["--dataset", "mnist", "--decoder", "gaussian-pixel", "--max-train-images", "1000", "--val-size", "300",
         "--snapshots", "1", "--snapshot-dtype", "float16", "--no-progress"]
HISTORY_KEYS = {"epoch", "lr", "loss", "loss_max", "rec", "kl", "steps", "val_elbo", "seconds", "cpu_seconds", "trace"}
SIGMA_KEYS = {"sigma_mean", "sigma_min"}


def _cmd(*args: str) -> list[str]:
    return [sys.executable, str(ROOT / "train.py"), *args]


def _start(*args: str, data_dir: Path) -> subprocess.Popen:
    env = {**os.environ, "VAE_ZOO_DATA": str(data_dir)}
    return subprocess.Popen(_cmd(*args), cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)


def _finish(proc: subprocess.Popen) -> subprocess.CompletedProcess:
    out, err = proc.communicate(timeout=300)
    return subprocess.CompletedProcess(proc.args, proc.returncode, out, err)


def _history(folder: Path) -> list[dict]:
    return [json.loads(line) for line in (folder / HISTORY_NAME).read_text().splitlines()]


def _final_json(done: subprocess.CompletedProcess) -> dict:
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def _leftovers(folder: Path) -> list[Path]:
    return [p for p in folder.rglob("*") if ".tmp" in p.name or p.name.endswith(".part")]


# ------------------------------------------------------------------------------------- one epoch by the CLI
@pytest.fixture(scope="module")
def first_epoch(tmp_path_factory, data_dir):
    out = tmp_path_factory.mktemp("cli") / "run"
    done = _finish(_start(*QUICK, "--epochs", "1", "--out", str(out), data_dir=data_dir))
    return done, out


def test_cli_writes_a_complete_checkpoint(first_epoch, mnist_test):
    done, out = first_epoch
    assert _final_json(done) == {"out": str(out), "epoch": 1, "diverged": None}
    for name in ("config.json", "model.safetensors", HISTORY_NAME, STATE_NAME, OPTIMIZER_NAME,
                 "snapshots/epoch-0001/config.json", "snapshots/epoch-0001/model.safetensors"):
        assert (out / name).is_file(), name
    assert _leftovers(out) == []  # every file was written atomically

    (record,) = _history(out)
    assert set(record) == HISTORY_KEYS | SIGMA_KEYS
    assert record["epoch"] == 1 and record["steps"] == math.ceil(1000 / 128)
    assert all(math.isfinite(v) for k, v in record.items() if k != "trace")
    assert [p["step"] for p in record["trace"]] == [0] and record["loss_max"] >= record["loss"]
    assert record["loss"] == pytest.approx(record["kl"] - record["rec"], rel=1e-6, abs=1e-3)
    assert 0 < record["sigma_min"] <= record["sigma_mean"] and record["seconds"] > 0

    state = json.loads((out / STATE_NAME).read_text())
    assert state["epoch"] == 1 and state["diverged"] is None and state["train_config"]["val_size"] == 300

    config = json.loads((out / "config.json").read_text())
    assert config["decoder"] == "gaussian-pixel" and config["dataset"] == "mnist"
    model = VAE.from_pretrained(out)
    snapshot = load_file(str(out / "snapshots/epoch-0001/model.safetensors"))
    assert all(t.dtype == torch.float16 for t in snapshot.values())
    assert VAE.from_pretrained(out / "snapshots/epoch-0001").config == model.config
    x = fixed_test_input(mnist_test[0][:100], model.data_kind)
    with torch.no_grad():
        assert torch.isfinite(model.elbo(x)).all()


# ------------------------------------------------------------------------------------- bad command lines
ERROR_CASES = {  # name -> (arguments, words the error must hold)
    "unknown dataset": (["--dataset", "cifar10", "--decoder", "bernoulli", "--out", "x"],
                        ["invalid choice: 'cifar10'", "fashion-mnist"]),
    "unknown decoder": (["--dataset", "mnist", "--decoder", "gaussian-perpixel", "--out", "x"],
                        ["invalid choice: 'gaussian-perpixel'", "gaussian-pixel-floor"]),
    "unknown flag": (["--dataset", "mnist", "--decoder", "bernoulli", "--beta", "4", "--out", "x"],
                     ["unrecognized arguments: --beta"]),
    "bad setting": (["--dataset", "mnist", "--decoder", "gaussian-fixed", "--setting", "sigma_min=0.1",
                     "--out", "x"], ["error:", "sigma_min", "valid settings: sigma"]),
    "bad boolean setting": (["--dataset", "mnist", "--decoder", "discretized-gaussian", "--setting",
                             "free_mean=maybe", "--out", "x"], ["error:", "free_mean true or false"]),
    "missing data": (["--dataset", "mnist", "--decoder", "bernoulli", "--data-dir", "/nonexistent/zoo-data",
                      "--out", "x"], ["error:", "/nonexistent/zoo-data/mnist/train-images-idx3-ubyte.gz",
                                      "--download"]),
}


def test_cli_settings_are_numbers_booleans_or_words():
    from train import _setting

    assert _setting("sigma=0.1") == ("sigma", 0.1)
    assert _setting("free_mean=true") == ("free_mean", True) and _setting("free_mean=False") == ("free_mean", False)
    assert _setting("mode=wide") == ("mode", "wide")


@pytest.fixture(scope="module")
def error_runs(tmp_path_factory, data_dir):
    """Every bad command line, started at once (each is mostly Python and torch start-up)."""
    cwd = tmp_path_factory.mktemp("errors")
    procs = {name: _start(*args[:-1], str(cwd / args[-1]), data_dir=data_dir)
             for name, (args, _) in ERROR_CASES.items()}
    return {name: _finish(p) for name, p in procs.items()}, cwd


@pytest.mark.parametrize("case", list(ERROR_CASES))
def test_cli_rejects_bad_input_with_a_clear_message(error_runs, case):
    results, cwd = error_runs
    done = results[case]
    assert done.returncode == 2, done.stdout + done.stderr
    assert "Traceback" not in done.stderr
    for words in ERROR_CASES[case][1]:
        assert words in done.stderr
    assert not (cwd / "x").exists() or not any((cwd / "x").iterdir())


# ------------------------------------------------------------------------------------- resume and divergence
@pytest.fixture(scope="module")
def resumed_and_uninterrupted(first_epoch, tmp_path_factory, data_dir):
    _, run1 = first_epoch
    base = tmp_path_factory.mktemp("resume")
    straight, resumed = base / "straight", base / "resumed"
    shutil.copytree(run1, resumed)
    procs = [_start(*QUICK, "--epochs", "2", "--out", str(straight), data_dir=data_dir),
             _start(*QUICK, "--epochs", "2", "--resume", "--out", str(resumed), data_dir=data_dir)]
    done = [_finish(p) for p in procs]
    return done, straight, resumed


def _without_time(history: list[dict]) -> list[dict]:
    return [{k: v for k, v in r.items() if k not in ("seconds", "cpu_seconds")} for r in history]


def test_resume_continues_exactly_like_an_uninterrupted_run(first_epoch, resumed_and_uninterrupted):
    (straight_done, resumed_done), straight, resumed = resumed_and_uninterrupted
    assert _final_json(straight_done)["epoch"] == 2 and _final_json(resumed_done)["epoch"] == 2
    resumed_history = _history(resumed)
    assert [r["epoch"] for r in resumed_history] == [1, 2]  # epoch 1 kept from the first run, not redone
    assert resumed_history[0] == _history(first_epoch[1])[0]
    # bit-for-bit: same data order, noise, sampling and optimizer state as the run that never stopped
    assert _without_time(resumed_history) == _without_time(_history(straight))
    a, b = load_file(str(straight / "model.safetensors")), load_file(str(resumed / "model.safetensors"))
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    assert _leftovers(resumed) == [] and _leftovers(straight) == []


def test_divergence_stops_cleanly_and_keeps_the_last_finite_weights(resumed_and_uninterrupted, tmp_path,
                                                                    data_dir, mnist_test):
    """Continue the 2-epoch run with a learning rate of 1: the per-pixel Gaussian blows up in epoch 3."""
    _, straight, _ = resumed_and_uninterrupted
    folder = tmp_path / "diverging"
    shutil.copytree(straight, folder)
    epoch2 = load_file(str(folder / "model.safetensors"))
    done = _finish(_start(*QUICK, "--epochs", "5", "--lr", "1.0", "--resume", "--out", str(folder),
                          data_dir=data_dir))
    final = _final_json(done)  # exit status 0: a divergence is an outcome, not a crash
    assert "Traceback" not in done.stderr
    assert final["epoch"] == 3 and final["diverged"]["epoch"] == 3
    step = final["diverged"]["step"]
    assert f"stopped: non-finite loss in epoch 3 at step {step}" in done.stdout + done.stderr

    history = _history(folder)
    assert [r["epoch"] for r in history] == [1, 2, 3]  # stopped: epochs 4 and 5 never ran
    assert history[2]["diverged"] is True and "diverged" not in history[1]
    assert history[2]["steps"] == history[2]["diverged_step"] == step  # the batches trained before it stopped
    kept = final["diverged"]["weights_from_step"]
    assert history[2]["weights_from_step"] == kept <= step
    state = json.loads((folder / STATE_NAME).read_text())
    assert state["epoch"] == 3 and state["diverged"]["epoch"] == 3
    assert state["diverged"]["reason"].startswith(("loss nan", "loss inf", "gradient norm"))

    saved = load_file(str(folder / "model.safetensors"))
    assert all(torch.isfinite(t).all() for t in saved.values())
    # the kept weights: epoch 2's if they are from the epoch's first step, else moved on from them
    assert all(torch.equal(saved[k], epoch2[k]) for k in epoch2) == (kept == 0)
    optimizer = load_file(str(folder / OPTIMIZER_NAME))
    assert all(torch.isfinite(t).all() for t in optimizer.values())
    assert {float(t) for k, t in optimizer.items() if k.endswith(".step")} == {2 * 8 + kept}  # 8 steps an epoch
    model = VAE.from_pretrained(folder)
    x = fixed_test_input(mnist_test[0][:200], model.data_kind)
    with torch.no_grad():
        px = model.decode(model.encode(x).mean)
        assert torch.isfinite(px.mean).all() and torch.isfinite(px.log_prob(x)).all()
        assert torch.isfinite(model.elbo(x)).all()
    assert _leftovers(folder) == []


def test_resuming_a_diverged_run_trains_no_further(resumed_and_uninterrupted, tmp_path, data_dir, capsys):
    """A run that stopped at a non-finite loss stays stopped: a resume reports it and writes nothing, as the run
    that never stopped would have ended there too."""
    import train as train_cli

    _, straight, _ = resumed_and_uninterrupted
    folder = tmp_path / "diverged"
    shutil.copytree(straight, folder)
    args = [*QUICK, "--resume", "--out", str(folder), "--data-dir", str(data_dir)]
    assert train_cli.main([*args, "--epochs", "3", "--lr", "1.0"]) == 0
    files = {p: p.read_bytes() for p in folder.rglob("*") if p.is_file()}
    capsys.readouterr()
    assert train_cli.main([*args, "--epochs", "5"]) == 0
    out = capsys.readouterr().out
    assert "stopped at a non-finite loss in epoch 3; nothing to resume" in out
    assert json.loads(out.strip().splitlines()[-1])["diverged"]["epoch"] == 3
    assert {p: p.read_bytes() for p in folder.rglob("*") if p.is_file()} == files


def test_a_shipped_checkpoint_drops_its_optimizer_and_stays_verifiable(tmp_path):
    images = load_sample("mnist")[0]
    config = VAEConfig(decoder="bernoulli", hidden=[16], latent_dim=2)
    train(config, TrainConfig(epochs=1, val_size=200, progress=False), images, tmp_path)
    drop_optimizer(tmp_path)
    assert not (tmp_path / OPTIMIZER_NAME).exists()
    assert sorted(recover(tmp_path).files) == ["config.json", HISTORY_NAME, "model.safetensors"]  # all verified
    with pytest.raises(ValueError, match="finished without its optimizer state"):
        train(config, TrainConfig(epochs=2, val_size=200, progress=False), images, tmp_path, resume=True)


def test_divergence_in_the_first_epoch_keeps_the_weights_before_the_failing_update(tmp_path):
    """lr = 1 blows the per-pixel Gaussian up within its first epoch; what is saved is finite and is the state
    after exactly the updates the history reports (tests/test_divergence.py checks the step against a replay)."""
    torch.manual_seed(0)
    init = VAE(VAEConfig(decoder="gaussian-pixel")).state_dict()
    model, state = train(VAEConfig(decoder="gaussian-pixel"),
                         TrainConfig(epochs=3, lr=1.0, val_size=200, progress=False),
                         load_sample("mnist")[0], tmp_path)  # the 1000 embedded test images: no data folder needed
    assert state["epoch"] == 1 and state["diverged"]["epoch"] == 1
    (record,) = _history(tmp_path)
    step, kept = state["diverged"]["step"], state["diverged"]["weights_from_step"]
    assert record["diverged"] is True and record["steps"] == step and record["trace"][-1]["step"] == step
    reloaded = VAE.from_pretrained(tmp_path).state_dict()
    assert all(torch.isfinite(t).all() for t in reloaded.values())
    assert all(torch.equal(reloaded[k], init[k]) for k in init) == (kept == 0)
    optimizer = load_file(str(tmp_path / OPTIMIZER_NAME))
    assert {float(t) for k, t in optimizer.items() if k.endswith(".step")} == ({kept} if kept else set())


# ------------------------------------------------------------------------------------- smaller checks
def test_history_has_no_sigma_for_a_bernoulli_decoder(tmp_path):
    train(VAEConfig(decoder="bernoulli", hidden=[64, 32]),
          TrainConfig(epochs=1, val_size=200, progress=False), load_sample("mnist")[0], tmp_path)
    (record,) = _history(tmp_path)
    assert set(record) == HISTORY_KEYS and record["val_elbo"] < 0  # log-probabilities of binary data


def test_resume_refuses_a_folder_trained_as_another_model(tmp_path):
    images = load_sample("mnist")[0]
    first = VAEConfig(decoder="discretized-gaussian", hidden=[16])
    train(first, TrainConfig(epochs=1, val_size=200, progress=False), images, tmp_path)
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir() if p.is_file()}
    other = VAEConfig(decoder="discretized-gaussian", decoder_settings={"free_mean": True}, hidden=[16])
    with pytest.raises(ValueError, match=r"another model \(decoder_settings: \{\} there, \{'free_mean': True\} asked"):
        train(other, TrainConfig(epochs=2, val_size=200, progress=False), images, tmp_path, resume=True)
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir() if p.is_file()} == before  # nothing touched


@pytest.mark.parametrize(("settings", "words"), [
    ({"val_size": 0}, r"val_size must be an integer from 1 to 1000000, got 0"),
    ({"epochs": -1}, r"epochs must be an integer from 1 to 10000, got -1"),
    ({"epochs": 2.5}, r"epochs must be an integer from 1 to 10000, got 2.5"),
    ({"batch_size": True}, r"batch_size must be an integer from 1 to 65536, got True"),
    ({"lr": float("nan")}, r"lr must be a finite number greater than 0 and at most 100, got nan"),
    ({"lr": 0}, r"lr must be a finite number greater than 0"),
    ({"seed": 2**32}, r"seed must be an integer from 0 to 4294967295"),
    ({"max_train_images": 0}, r"max_train_images must be an integer from 1 to"),
    ({"snapshots": [0]}, r"snapshots must be epochs from 1 to 20 \(the number of epochs\), got 0"),
    ({"epochs": 3, "snapshots": [1, 4]}, r"snapshots must be epochs from 1 to 3"),
    ({"snapshot_dtype": "int8"}, r"snapshot_dtype must be one of float32, float16, got 'int8'"),
])
def test_train_config_refuses_values_out_of_range(settings, words):
    with pytest.raises(ValueError, match=words):
        TrainConfig(**settings)


def test_train_needs_more_images_than_the_validation_split(tmp_path):
    with pytest.raises(ValueError, match="need more than val_size=5000 training images, got 5000"):
        train(VAEConfig(hidden=[8]), TrainConfig(val_size=5000), np.zeros((5000, 28, 28), np.uint8), tmp_path)
    assert list(tmp_path.iterdir()) == []


def test_atomic_write_keeps_the_old_file_when_writing_fails(tmp_path):
    target = tmp_path / "history.jsonl"
    target.write_text("old\n")

    def half_then_fail(tmp):
        Path(tmp).write_text("new but incomplete")
        raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        atomic_write(target, half_then_fail)
    assert target.read_text() == "old\n" and sorted(p.name for p in tmp_path.iterdir()) == ["history.jsonl"]
    atomic_write(target, lambda tmp: Path(tmp).write_text("new\n"))
    assert target.read_text() == "new\n" and sorted(p.name for p in tmp_path.iterdir()) == ["history.jsonl"]


# ------------------------------------------------------------------------------------- the seeds' claim
@pytest.mark.slow
def test_unbounded_sigma_collapses_while_the_likelihood_rises(tmp_path, mnist_train, mnist_test):
    """gaussian-pixel, default network, 3 epochs on 6000 real MNIST images: from the first epoch to the last the
    smallest decoder sigma falls and the validation ELBO rises. (Epoch to epoch neither is monotone in so short
    a run: the minimum over pixels is a noisy statistic and the mean ELBO is pulled around by the few
    held-out pixels where a tiny sigma meets a wrong mean.)"""
    model, state = train(VAEConfig(decoder="gaussian-pixel"),
                         TrainConfig(epochs=3, max_train_images=6000, val_size=1000, progress=False),
                         mnist_train[0], tmp_path)
    history = _history(tmp_path)
    assert state["diverged"] is None and len(history) == 3
    assert history[-1]["sigma_min"] < history[0]["sigma_min"]
    assert history[-1]["val_elbo"] > history[0]["val_elbo"]
    assert history[-1]["loss"] < history[0]["loss"]  # the training ELBO rises too


@pytest.mark.slow
def test_floored_sigma_never_goes_under_its_floor(tmp_path, mnist_train, mnist_test):
    sigma_min = 0.05
    model, state = train(VAEConfig(decoder="gaussian-pixel-floor", decoder_settings={"sigma_min": sigma_min}),
                         TrainConfig(epochs=2, max_train_images=4000, val_size=1000, progress=False),
                         mnist_train[0], tmp_path)
    history = _history(tmp_path)
    assert all(r["sigma_min"] >= sigma_min for r in history)
    assert history[-1]["sigma_min"] == pytest.approx(sigma_min, rel=1e-3)  # pressed against the floor
    bound = 784 * (-math.log(sigma_min) - 0.5 * math.log(2 * math.pi))  # the density's ceiling per image
    assert all(r["val_elbo"] < bound for r in history)

    x = fixed_test_input(mnist_test[0][:1000], model.data_kind)  # a sigma map on real test images
    stats = sigma_stats(model, x)
    assert stats["min"] >= sigma_min and stats["frac_below_0.01"] == 0
    with torch.no_grad():
        sigma = decoder_sigma(model.decode(model.encode(x[:64]).mean))
    assert sigma.shape == (64, 1, 28, 28) and float(sigma.min()) >= sigma_min


# ------------------------------------------------------------------------------------- Adam's implementation
ADAM_STATES = {  # what a committed state says -> the implementation its resume must use
    "a state written before the field": (None, LEGACY_ADAM),
    **{f"a state naming {impl!r}": (impl, impl) for impl in ADAM_IMPLS},
}


def _tiny_run(out: Path, epochs: int, adam: str) -> Trainer:
    torch.manual_seed(0)
    cfg = TrainConfig(epochs=epochs, batch_size=50, val_size=200, max_train_images=300, progress=False)
    return Trainer(VAE(VAEConfig(decoder="bernoulli", hidden=[32], latent_dim=4)), load_sample("mnist")[0], out, cfg,
                   adam=adam)


def _rewrite_state(folder: Path, **changes) -> None:
    state = json.loads((folder / STATE_NAME).read_text())
    for key, value in changes.items():
        if value is None:
            del state[key]
        else:
            state[key] = value
    (folder / STATE_NAME).write_text(json.dumps(state))


@pytest.mark.parametrize("saved, used", ADAM_STATES.values(), ids=list(ADAM_STATES))
def test_a_resume_keeps_the_adam_implementation_its_run_was_trained_with(tmp_path, saved, used):
    """Adam's implementations add in another order, so a resume that switched would end elsewhere than the run
    that never stopped; a state from before the field was trained with torch's default."""
    _tiny_run(tmp_path / "straight", 2, used).fit()
    other = next(impl for impl in ADAM_IMPLS if impl != used)
    _tiny_run(tmp_path / "other", 2, other).fit()
    _tiny_run(tmp_path / "resumed", 1, used).fit()
    assert json.loads((tmp_path / "resumed" / STATE_NAME).read_text())["adam"] == used
    _rewrite_state(tmp_path / "resumed", adam=saved)
    resumed = _tiny_run(tmp_path / "resumed", 2, NEW_RUN_ADAM)
    resumed.resume()
    resumed.fit()
    weights = {name: load_file(str(tmp_path / name / "model.safetensors")) for name in ("straight", "other", "resumed")}
    assert all(torch.equal(weights["resumed"][k], weights["straight"][k]) for k in weights["straight"])
    # the case can fail: the other implementation does end elsewhere
    assert not all(torch.equal(weights["other"][k], weights["straight"][k]) for k in weights["straight"])


@pytest.mark.parametrize("saved, message", [
    ("sgd", f"{STATE_NAME} names an unknown Adam implementation 'sgd'"),
    (["fused"], f"{STATE_NAME} is damaged ({STATE_NAME}: adam is a list, not a string)"),
])
def test_a_state_naming_an_unknown_adam_is_refused_before_anything_is_written(tmp_path, saved, message):
    model_config = VAEConfig(decoder="bernoulli", hidden=[32], latent_dim=4)
    run = dict(batch_size=50, val_size=200, max_train_images=300, progress=False)
    train(model_config, TrainConfig(epochs=1, **run), load_sample("mnist")[0], tmp_path)
    assert json.loads((tmp_path / STATE_NAME).read_text())["adam"] == NEW_RUN_ADAM == "fused"  # the fast one
    _rewrite_state(tmp_path, adam=saved)
    files = {p: p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()}
    with pytest.raises(CheckpointError, match=re.escape(message)):
        train(model_config, TrainConfig(epochs=2, **run), load_sample("mnist")[0], tmp_path, resume=True)
    assert {p: p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()} == files


def test_a_new_run_refuses_an_unknown_adam_implementation(tmp_path):
    with pytest.raises(ValueError, match="unknown Adam implementation 'sgd'; choose one of: fused, default"):
        _tiny_run(tmp_path / "run", 1, "sgd")
    assert not (tmp_path / "run").exists()


# ------------------------------------------------------------------------------------- the step trace's bound
TRACE_KEPT = {  # a history line -> whether its step trace is kept (loop.TRACE_EPOCHS = 50)
    "an early epoch": (HistoryLine(epoch=50), True),
    "a later epoch": (HistoryLine(epoch=51), False),
    "a later epoch that diverged": (HistoryLine(epoch=900, diverged=True), True),
    "a later epoch that skipped a step": (HistoryLine(epoch=900, skipped_steps=1), True),
    "a later epoch that skipped none": (HistoryLine(epoch=900, skipped_steps=0), False),
}


@pytest.mark.parametrize("line, kept", TRACE_KEPT.values(), ids=list(TRACE_KEPT))
def test_the_history_keeps_the_step_trace_of_early_and_troubled_epochs(line, kept):
    assert loop.TRACE_EPOCHS == 50 and loop.keeps_trace(line) is kept


def test_a_long_run_writes_no_trace_after_the_first_epochs_and_a_resume_compacts_an_older_history(tmp_path,
                                                                                                  monkeypatch):
    """A trace in every epoch grew a 3,280-epoch history past 8 MB; the next commit of a resumed run drops the
    traces its history no longer keeps, and the state's sha256 is that of the file written."""
    monkeypatch.setattr(loop, "TRACE_EPOCHS", 3)
    _tiny_run(tmp_path, 2, NEW_RUN_ADAM).fit()
    assert [bool(r["trace"]) for r in _history(tmp_path)] == [True, True]
    monkeypatch.setattr(loop, "TRACE_EPOCHS", 1)
    resumed = _tiny_run(tmp_path, 3, NEW_RUN_ADAM)
    resumed.resume()
    resumed.fit()
    assert [bool(r.get("trace")) for r in _history(tmp_path)] == [True, False, False]
    state = json.loads((tmp_path / STATE_NAME).read_text())
    assert state["files"][HISTORY_NAME] == hashlib.sha256((tmp_path / HISTORY_NAME).read_bytes()).hexdigest()
    again = _tiny_run(tmp_path, 4, NEW_RUN_ADAM)
    again.resume()
    assert again.start_epoch == 4


def test_compacting_a_finished_runs_history_keeps_everything_but_the_dropped_traces(tmp_path, monkeypatch):
    """scripts/compact_histories.py: a run written before the bound gets the history its next commit would write;
    every other field of every line stays, the state's sha256 is the new file's, the run still resumes, and a second
    pass changes nothing. A folder that is no run is refused in one sentence."""
    monkeypatch.setattr(loop, "TRACE_EPOCHS", 3)
    _tiny_run(tmp_path, 2, NEW_RUN_ADAM).fit()
    before = _history(tmp_path)
    monkeypatch.setattr(loop, "TRACE_EPOCHS", 1)
    size_before, size_after = loop.compact_history(tmp_path)
    after = _history(tmp_path)
    assert size_after < size_before and [bool(r.get("trace")) for r in after] == [True, False]
    assert [{k: v for k, v in r.items() if k != "trace"} for r in after] == [
        {k: v for k, v in r.items() if k != "trace"} for r in before]
    state = json.loads((tmp_path / STATE_NAME).read_text())
    assert state["files"][HISTORY_NAME] == hashlib.sha256((tmp_path / HISTORY_NAME).read_bytes()).hexdigest()
    assert loop.compact_history(tmp_path) == (size_after, size_after)
    resumed = _tiny_run(tmp_path, 3, NEW_RUN_ADAM)
    resumed.resume()
    assert resumed.start_epoch == 3
    with pytest.raises(CheckpointError, match="not a run folder written by train.py"):
        loop.compact_history(tmp_path / "missing")
