"""train.py refuses bad input before it reads any data or writes anything: every numeric flag at zero, negative,
non-finite, huge and non-numeric values, bad snapshot epochs, output folders it could not write or should not
touch, and resumes of nothing. Each case runs the real command line in process (``train.main``) with a data
folder that does not exist: had the data been read first, the error would name the data, not the flag."""
from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path

import pytest

import train
from vae_core.base.data import load_sample
from vae_core.files.names import ATOMIC_TMP_MARK, CONFIG_NAME, OPTIMIZER_NAME, SAMPLE_MARKER, STAGING_DIR, STATE_NAME
from vae_core.model.vae import VAEConfig
from vae_core.training.config import TrainConfig
from vae_core.training.loop import train as train_model

NO_DATA = "/nonexistent/vae-zoo-data"
BASE = ["--dataset", "mnist", "--decoder", "gaussian-pixel", "--data-dir", NO_DATA, "--no-progress"]
TINY = ["--hidden", "16", "--latent-dim", "2", "--val-size", "200"]

INT_FLAGS = {  # flag -> words of the acceptable range
    "--epochs": "an integer from 1 to",
    "--batch-size": "an integer from 1 to",
    "--val-size": "an integer from 1 to",
    "--max-train-images": "an integer from 1 to",
    "--latent-dim": "an integer from 1 to",
}
BAD_INTS = ["0", "-1", "nan", "inf", "-inf", "1e400", "99999999999", "1.5", "ten"]
BAD_LRS = ["0", "-1", "nan", "inf", "-inf", "1e400", "1e9", "fast"]
BAD_SEEDS = ["-1", "nan", "inf", "1e400", str(2**32), "1.5", "zero"]
BAD_WIDTHS = ["0", "-1", "32,0", "nan", "inf", "1e400", "99999999", "", "32,,16", "wide"]

# name -> (arguments after BASE, words the error holds); --out is added as <tmp>/run unless the case names it
CASES: dict[str, tuple[list[str], list[str]]] = {
    **{f"{flag}={value}": ([f"{flag}={value}"], [f"argument {flag}: must be {words}", repr(value)])
       for flag, words in INT_FLAGS.items() for value in BAD_INTS},
    **{f"--lr={value}": ([f"--lr={value}"], ["argument --lr: must be a finite number greater than 0 "
                                                               "and at most 100", repr(value)]) for value in BAD_LRS},
    **{f"--seed={value}": ([f"--seed={value}"], ["argument --seed: must be an integer from 0 to 4294967295",
                                                  repr(value)])
       for value in BAD_SEEDS},
    **{f"--hidden={value!r}": ([f"--hidden={value}"], ["argument --hidden", "widths", "from 1 to 16384"])
       for value in BAD_WIDTHS},
    **{f"--snapshots={value}": (["--epochs", "3", f"--snapshots={value}"], words) for value, words in [
        ("0", ["--snapshots must be epochs from 1 to 3", "got 0"]),
        ("-1", ["--snapshots must be epochs from 1 to 3", "got -1"]),
        ("1,4", ["--snapshots must be epochs from 1 to 3", "got 4"]),
        ("1.5", ["argument --snapshots", "comma-separated integers", "'1.5'"]),
        ("two", ["argument --snapshots", "comma-separated integers", "'two'"]),
    ]},
    "--setting sigma=inf": (["--decoder", "gaussian-fixed", "--setting", "sigma=inf"],
                            ["argument --setting", "sigma must be a finite number", "'inf'"]),
    "--setting sigma=nan": (["--decoder", "gaussian-fixed", "--setting", "sigma=nan"],
                            ["argument --setting", "sigma must be a finite number", "'nan'"]),
    "--setting sigma=-1": (["--decoder", "gaussian-fixed", "--setting", "sigma=-1"], ["sigma > 0, got -1"]),
    "--data-kind the decoder cannot model": (["--decoder", "bernoulli", "--data-kind", "raw"],
                                               ["decoder 'bernoulli' cannot model 'raw' data", "one of: binary"]),
    "--data-kind unknown": (["--data-kind", "dequantized"], ["argument --data-kind: invalid choice: 'dequantized'",
                                                             "'continuous'", "'raw'"]),
    "out is a file": (["--out", "{tmp}/a-file"], ["{tmp}/a-file is a file", "must be a folder"]),
    "out inside a file": (["--out", "{tmp}/a-file/run"], ["{tmp}/a-file/run cannot be created",
                                                          "{tmp}/a-file is a file, not a folder"]),
    "out not writable": (["--out", "/sys/vae-zoo-test/run"], ["/sys/vae-zoo-test/run cannot be written",
                                                              "/sys is not writable"]),
    "resume a missing folder": (["--resume"], ["cannot resume: {tmp}/run does not exist", "start a new run"]),
    "resume an empty folder": (["--resume", "--out", "{tmp}/empty"],
                               ["cannot resume: {tmp}/empty holds no finished epoch", STATE_NAME]),
    "resume a damaged state": (["--resume", "--out", "{tmp}/damaged"],
                               ["{tmp}/damaged/" + STATE_NAME + " is damaged", "cannot be continued"]),
    "resume an old-format run": (["--resume", "--out", "{tmp}/legacy"], ["cannot resume {tmp}/legacy",
                                                                         "no commit record", "new folder"]),
    "resume with a damaged config": (["--resume", "--out", "{tmp}/bad-config"],
                                     ["{tmp}/bad-config/config.json cannot be read", "cannot be continued"]),
    "new run over a trained one": (["--out", "{tmp}/trained", *TINY], ["{tmp}/trained already holds a trained "
                                                                       "model (epoch 1)", "with --resume"]),
    "resume with another seed": (["--resume", "--seed", "1", "--out", "{tmp}/trained", *TINY],
                                 ["cannot resume {tmp}/trained with other data settings", "seed: 0 there, 1 asked"]),
    "resume with another val size": (["--resume", "--out", "{tmp}/trained", *TINY[:-1], "300"],
                                     ["val_size: 200 there, 300 asked"]),
    "resume as another model": (["--resume", "--out", "{tmp}/trained", "--hidden", "8", "--latent-dim", "2"],
                                ["holds a run of another model", "hidden: [16] there, [8] asked for"]),
    "zoo spec missing": (["--zoo", "{tmp}/no-such.toml"], ["--zoo {tmp}/no-such.toml: no such file"]),
    "zoo with one model's flags": (["--zoo", "zoo.toml", "--epochs", "3"], ["--epochs", "no effect with --zoo"]),
    "zoo checkpoints is a file": (["--zoo", "{tmp}/zoo.toml", "--checkpoints", "{tmp}/a-file"],
                                  ["--checkpoints {tmp}/a-file is a file"]),
    "zoo entry with zero epochs": (["--zoo", "{tmp}/zoo.toml", "--checkpoints", "{tmp}/zoo"],
                                   ["zoo entry 'bad'", "epochs must be an integer from 1 to", "got 0"]),
}
ZOO_ONE_MODEL = {"zoo spec missing", "zoo with one model's flags", "zoo checkpoints is a file",
                 "zoo entry with zero epochs"}


def _exit_code(argv: list[str]) -> int:
    """train.py's exit status for ``argv``, argparse's errors (a SystemExit) included."""
    try:
        return train.main(argv)
    except SystemExit as e:
        return e.code


@pytest.fixture(scope="module")
def folders(tmp_path_factory) -> Path:
    """The folders the cases point at: a file, an empty folder, damaged and old-format runs, a trained run."""
    tmp = tmp_path_factory.mktemp("flags")
    (tmp / "a-file").write_text("not a folder\n")
    (tmp / "empty").mkdir()
    (tmp / "damaged").mkdir()
    (tmp / "damaged" / STATE_NAME).write_text("{ not json")
    (tmp / "legacy").mkdir()
    (tmp / "legacy" / STATE_NAME).write_text(json.dumps({"epoch": 3, "diverged": None, "train_config": {}}))
    (tmp / "bad-config").mkdir()
    (tmp / "bad-config" / STATE_NAME).write_text(json.dumps({"epoch": 1, "diverged": None, "train_config": {},
                                                              "torch_rng": [], "files": {OPTIMIZER_NAME: "0"}}))
    (tmp / "bad-config" / "config.json").write_text("{ not json")
    train_model(VAEConfig(decoder="gaussian-pixel", hidden=[16], latent_dim=2),
                TrainConfig(epochs=1, val_size=200, progress=False), load_sample("mnist")[0], tmp / "trained")
    (tmp / "zoo.toml").write_text('[defaults]\nepochs = 2\n\n[[model]]\nname = "good"\ndataset = "mnist"\n'
                                  'decoder = "bernoulli"\n\n[[model]]\nname = "bad"\ndataset = "mnist"\n'
                                  'decoder = "bernoulli"\nepochs = 0\n')
    return tmp


def _snapshot(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.mark.parametrize("case", list(CASES))
def test_bad_input_is_one_sentence_and_nothing_is_written(case, folders, capsys):
    args, words = CASES[case]
    args = [a.replace("{tmp}", str(folders)) for a in args]
    argv = args if case in ZOO_ONE_MODEL else [*BASE, *args] + ([] if "--out" in args else
                                                               ["--out", str(folders / "run")])
    if case == "out not writable":
        try:
            os.rmdir(tempfile.mkdtemp(dir="/sys"))
            pytest.skip("/sys is writable on this machine")
        except OSError:
            pass
    before = _snapshot(folders)
    code = _exit_code(argv)
    err = capsys.readouterr().err
    assert code == 2, err
    assert "Traceback" not in err and NO_DATA not in err  # the flag, not the missing data, is what failed
    for w in words:
        assert w.replace("{tmp}", str(folders)) in err, err
    errors = [line for line in err.splitlines() if "error:" in line]
    assert len(errors) == 1 and err.rstrip().endswith(errors[0])  # one sentence (after argparse's usage)
    assert _snapshot(folders) == before  # nothing written, nothing touched
    assert not (folders / "run").exists() and not (folders / "zoo").exists()


@pytest.mark.parametrize(("flag", "value"), [("--seed", "0"), ("--lr", "100"), ("--epochs", "10000"),
                                             ("--max-train-images", "1"), ("--hidden", "16384"),
                                             ("--snapshots", "1,3,3"), ("--data-kind", "raw"),
                                             ("--data-kind", "continuous")])
def test_edge_values_are_accepted(flag, value, capsys, tmp_path):
    """The ends of every range are valid: the run gets as far as reading the (missing) data."""
    argv = [*BASE, "--epochs", "3", flag, value, "--out", str(tmp_path / "run")]
    assert train.main(argv) == 2
    err = capsys.readouterr().err
    assert NO_DATA in err and "file not found" in err
    assert not (tmp_path / "run").exists()


def test_data_kind_reaches_the_model(tmp_path, data_dir, capsys):
    """--data-kind raw trains the per-pixel Gaussian on x / 255 and says so in config.json; without the flag the
    decoder's own kind (dequantized) is kept, recorded as the default (None)."""
    for kind, expected in (("raw", "raw"), (None, None)):
        out = tmp_path / str(kind)
        argv = ["--dataset", "mnist", "--decoder", "gaussian-pixel", *TINY, "--max-train-images", "200",
                "--epochs", "1", "--no-progress", "--data-dir", str(data_dir), "--out", str(out)]
        assert train.main(argv + (["--data-kind", kind] if kind else [])) == 0, capsys.readouterr().err
        assert json.loads((out / "config.json").read_text())["data_kind"] == expected


# --out / --checkpoints -> whether the folder is taken (ACCEPTED: the run gets as far as reading the missing data,
# or for the zoo the spec's bad entry) or the words its one-sentence refusal holds. {tmp}: the module's folders;
# {repo}: the repository root, which the tests run in (so "." and "" point at it).
ACCEPTED = []
REPO = Path(__file__).resolve().parents[1]
OUT_CASES: dict[str, tuple[list[str], list[str]]] = {
    "empty string": (["--out", ""], ["--out is an empty path", "unset shell variable", "new or empty"]),
    ".": (["--out", "."], [f". ({REPO}) is not empty and not a training run's folder", "new or empty folder"]),
    "the repository root": (["--out", "{repo}"], ["{repo} is not empty and not a training run's folder"]),
    "a folder with unrelated files": (["--out", "{tmp}/notes"], ["{tmp}/notes is not empty and not a training "
                                                                 "run's folder", "notes.txt", "new or empty"]),
    "resume a run holding an unrelated file": (["--resume", "--out", "{tmp}/trained-and-notes", *TINY],
                                               ["{tmp}/trained-and-notes is not empty", "notes.txt"]),
    "a file path": (["--out", "{tmp}/a-file"], ["{tmp}/a-file is a file", "must be a folder"]),
    "a run of its own": (["--out", "{tmp}/trained", *TINY], ["{tmp}/trained already holds a trained model"]),
    "resume a run of its own": (["--resume", "--out", "{tmp}/trained", *TINY], ACCEPTED),
    "a fresh path": (["--out", "{tmp}/fresh/run"], ACCEPTED),
    "an empty folder": (["--out", "{tmp}/empty"], ACCEPTED),
    "a first run killed before its first commit": (["--out", "{tmp}/killed"], ACCEPTED),
    "zoo: empty string": (["--zoo", "{tmp}/zoo.toml", "--checkpoints", ""], ["--checkpoints is an empty path"]),
    "zoo: .": (["--zoo", "{tmp}/zoo.toml", "--checkpoints", "."],
               [f"--checkpoints . ({REPO}) is not empty and not a zoo's folder"]),
    "zoo: the repository root": (["--zoo", "{tmp}/zoo.toml", "--checkpoints", "{repo}"],
                                 ["--checkpoints {repo} is not empty and not a zoo's folder"]),
    "zoo: a folder with unrelated files": (["--zoo", "{tmp}/zoo.toml", "--checkpoints", "{tmp}/notes"],
                                           ["{tmp}/notes is not empty and not a zoo's folder", "notes.txt"]),
    "zoo: a checkpoint holding an unrelated file": (["--zoo", "{tmp}/zoo.toml", "--checkpoints", "{tmp}"],
                                                    ["trained-and-notes/notes.txt", "only checkpoint folders"]),
    "zoo: the shipped zoo": (["--zoo", "{tmp}/zoo.toml", "--checkpoints", "{repo}/checkpoints"], ACCEPTED),
    "zoo: a fresh path": (["--zoo", "{tmp}/zoo.toml", "--checkpoints", "{tmp}/fresh-zoo"], ACCEPTED),
}


@pytest.fixture(scope="module")
def out_folders(folders: Path) -> Path:
    """Beside ``folders``: a folder of someone's notes, a trained run with a note added, and the leftovers of a
    first run killed before it committed an epoch (a staging folder, the sample label, a temporary file)."""
    (folders / "notes").mkdir()
    (folders / "notes" / "notes.txt").write_text("mine\n")
    shutil.copytree(folders / "trained", folders / "trained-and-notes")
    (folders / "trained-and-notes" / "notes.txt").write_text("mine\n")
    (folders / "killed" / STAGING_DIR).mkdir(parents=True)
    (folders / "killed" / SAMPLE_MARKER).write_text("label\n")
    (folders / "killed" / f".{CONFIG_NAME}{ATOMIC_TMP_MARK}123").write_text("{")
    return folders


@pytest.mark.parametrize("case", list(OUT_CASES))
def test_output_folder_is_new_empty_or_a_runs_own(case, out_folders, capsys, monkeypatch):
    """A run is never written into a folder of other files (".", an unset variable's "", a repository): refused in
    one sentence naming the folder and what is acceptable, before any data is read or anything written."""
    monkeypatch.chdir(REPO)
    args, words = OUT_CASES[case]
    zoo = "--zoo" in args
    argv = [a.replace("{tmp}", str(out_folders)).replace("{repo}", str(REPO)) for a in args]
    argv = argv if zoo else [*BASE, *argv]
    before, repo_before = _snapshot(out_folders), sorted(os.listdir(REPO))
    code = _exit_code(argv)
    err = capsys.readouterr().err
    assert code == 2, err
    assert "Traceback" not in err
    errors = [line for line in err.splitlines() if "error:" in line]
    assert len(errors) == 1 and err.rstrip().endswith(errors[0]), err  # one sentence (after argparse's usage)
    if words is ACCEPTED:  # the folder passed: what stops the run is the next thing, the data or the spec
        assert ("zoo entry 'bad'" if zoo else NO_DATA) in err, err
    else:
        assert NO_DATA not in err and "zoo entry" not in err, err
        for w in words:
            assert w.replace("{tmp}", str(out_folders)).replace("{repo}", str(REPO)) in err, err
    assert _snapshot(out_folders) == before and sorted(os.listdir(REPO)) == repo_before  # nothing written
    assert not (out_folders / "fresh").exists() and not (out_folders / "fresh-zoo").exists()
