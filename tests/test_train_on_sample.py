"""train.py --train-on-sample: a smoke-test model from the test sample embedded in the package, with no dataset
anywhere (the app tests' tiny zoo is built this way). The folder is labelled as trained on the sample, the flag is
refused for the zoo, and a resume keeps to the data its run started on. Runs the real command line in process."""
from __future__ import annotations

import contextlib
import json
from pathlib import Path

import pytest

import train
from vae_core.base.data import load_sample
from vae_core.files.names import STATE_NAME
from vae_core.model.vae import VAEConfig
from vae_core.training.config import TrainConfig
from vae_core.training.loop import train as train_model

NO_DATA = "/nonexistent/vae-zoo-data"
TINY = ["--dataset", "mnist", "--decoder", "bernoulli", "--hidden", "16", "--latent-dim", "2", "--no-progress"]
ON_SAMPLE = [*TINY, "--train-on-sample", "--val-size", "200"]
SAMPLE_SIZE = len(load_sample("mnist")[0])

# name -> (arguments, words the one error line holds); {tmp} is the fixture's folder
CASES: dict[str, tuple[list[str], list[str]]] = {
    "with --zoo": (["--zoo", "zoo.toml", "--train-on-sample"],
                   ["--train-on-sample trains on the embedded test sample", "drop --train-on-sample with --zoo"]),
    "with --data-dir": ([*ON_SAMPLE, "--data-dir", NO_DATA, "--out", "{tmp}/run"],
                        ["--train-on-sample reads the sample inside the package", "--data-dir would be ignored"]),
    "with --download": ([*ON_SAMPLE, "--download", "--out", "{tmp}/run"], ["--download would be ignored"]),
    "the default --val-size": ([*TINY, "--train-on-sample", "--out", "{tmp}/run"],
                               [f"--val-size {TrainConfig.val_size} holds out all {SAMPLE_SIZE} images of the "
                                "embedded mnist sample", f"below {SAMPLE_SIZE}"]),
    "a --val-size of the whole sample": ([*TINY, "--train-on-sample", "--val-size", str(SAMPLE_SIZE), "--out",
                                          "{tmp}/run"], [f"--val-size {SAMPLE_SIZE} holds out all"]),
    "resume a sample run on the training split": (
        [*TINY, "--val-size", "200", "--data-dir", NO_DATA, "--resume", "--epochs", "2", "--out", "{tmp}/on-sample"],
        ["cannot resume {tmp}/on-sample on the mnist training split", "resume it with --train-on-sample"]),
    "resume a training-split run on the sample": (
        [*ON_SAMPLE, "--resume", "--epochs", "2", "--out", "{tmp}/on-split"],
        ["cannot resume {tmp}/on-split on the embedded sample", "trained on the mnist training split",
         "drop --train-on-sample"]),
}


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> tuple[Path, str, str]:
    """A one-epoch run by `train.py --train-on-sample` (its folder, stdout and stderr), beside a run written by
    vae_core.training.loop directly, which carries no sample label: what train.py sees as a training-split run."""
    tmp = tmp_path_factory.mktemp("on-sample")
    out_file, err_file = tmp / "stdout", tmp / "stderr"  # a module fixture cannot take capsys
    with out_file.open("w") as out, err_file.open("w") as err, contextlib.redirect_stdout(out), \
            contextlib.redirect_stderr(err):
        code = train.main([*ON_SAMPLE, "--epochs", "1", "--out", str(tmp / "on-sample")])
    assert code == 0, err_file.read_text()
    train_model(VAEConfig(decoder="bernoulli", hidden=[16], latent_dim=2),
                TrainConfig(epochs=1, val_size=200, progress=False), load_sample("mnist")[0], tmp / "on-split")
    return tmp, out_file.read_text(), err_file.read_text()


def _snapshot(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def test_a_sample_run_trains_without_a_dataset_and_is_labelled(runs):
    tmp, out, err = runs
    folder = tmp / "on-sample"
    summary = json.loads(out.strip().splitlines()[-1])
    assert summary["trained_on"] == "embedded test sample" and summary["epoch"] == 1
    assert "training on the embedded mnist test sample, for smoke tests only" in err
    label = (folder / train.SAMPLE_MARKER).read_text()
    assert f"{SAMPLE_SIZE} test-set images of mnist" in label and "not held-out results" in label
    history = [json.loads(line) for line in (folder / "history.jsonl").read_text().splitlines()]
    assert len(history) == 1 and all((folder / f).is_file() for f in ("config.json", "model.safetensors"))
    assert not (tmp / "on-split" / train.SAMPLE_MARKER).exists()


@pytest.mark.parametrize("case", list(CASES))
def test_bad_use_is_one_sentence_and_nothing_is_written(case, runs, capsys, monkeypatch):
    tmp = runs[0]
    monkeypatch.delenv("VAE_ZOO_DATA", raising=False)
    args, words = CASES[case]
    before = _snapshot(tmp)
    try:
        code = train.main([a.replace("{tmp}", str(tmp)) for a in args])
    except SystemExit as e:  # argparse's errors
        code = e.code
    err = capsys.readouterr().err
    assert code == 2, err
    assert "Traceback" not in err and NO_DATA not in err
    for w in words:
        assert w.replace("{tmp}", str(tmp)) in err, err
    errors = [line for line in err.splitlines() if "error:" in line]
    assert len(errors) == 1 and err.rstrip().endswith(errors[0])
    assert _snapshot(tmp) == before and not (tmp / "run").exists()


def test_a_sample_run_resumes_on_the_sample(runs, tmp_path, capsys):
    folder = tmp_path / "run"
    assert train.main([*ON_SAMPLE, "--epochs", "1", "--out", str(folder)]) == 0
    assert train.main([*ON_SAMPLE, "--epochs", "2", "--resume", "--out", str(folder)]) == 0, capsys.readouterr().err
    assert json.loads((folder / STATE_NAME).read_text())["epoch"] == 2
    assert (folder / train.SAMPLE_MARKER).is_file()
