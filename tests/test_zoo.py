"""The zoo loader: local folders, the Hub's offline failure, broken checkpoints, and the shipped checkpoints."""
from __future__ import annotations

import functools
import json
import math
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from vae_core.base.data import fixed_test_input, load_sample
from vae_core.evaluation.metrics import elbo_terms, mse
from vae_core.files.names import DEFAULT_ZOO, EVAL_NAME, HISTORY_NAME
from vae_core.files.schema import Evaluation, HistoryLine, to_dict
from vae_core.model.likelihoods import unvalidated
from vae_core.model.vae import VAE, VAEConfig
from vae_core.zoo.checkpoints import (
    ZooError,
    load_model,
    load_snapshot,
    read_checkpoint,
    read_evaluation,
    resolve_source,
    scan,
)
from vae_core.zoo.spec import read_spec

ROOT = Path(__file__).resolve().parent.parent


def _save(folder: Path, **config) -> Path:
    torch.manual_seed(0)
    VAE(VAEConfig(**{"hidden": [32], "latent_dim": 4, **config})).save_pretrained(folder)
    return folder


@pytest.fixture
def zoo(tmp_path: Path) -> Path:
    _save(tmp_path / "mnist-bernoulli", decoder="bernoulli")
    _save(tmp_path / "mnist-gaussian-pixel", decoder="gaussian-pixel")
    return tmp_path


# ---------------------------------------------------------------------------------------------- sources
def test_local_folder_resolves_to_itself_and_loads(zoo: Path):
    root = resolve_source(str(zoo))
    found, problems = scan(root)
    assert [c.name for c in found] == ["mnist-bernoulli", "mnist-gaussian-pixel"] and problems == []
    model = load_model(found[1].path)
    assert model.config.decoder == "gaussian-pixel" and not model.training


def test_missing_local_folder_is_a_clear_error(tmp_path: Path):
    with pytest.raises(ZooError, match="does not exist"):
        resolve_source(str(tmp_path / "nowhere"))


def test_hub_source_offline_fails_with_one_sentence(monkeypatch):
    monkeypatch.setenv("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    with pytest.raises(ZooError) as info:
        resolve_source("someone/vae-decoder-zoo", revision="v1")
    message = str(info.value)
    assert "someone/vae-decoder-zoo@v1" in message and "Hugging Face Hub" in message
    assert "\n" not in message and message.count(". ") == 0 and message.endswith(".")


def test_publish_offline_fails_with_one_sentence(zoo: Path):
    result = subprocess.run([sys.executable, "-m", "scripts.publish_to_hub", "--repo-id", "someone/vae-decoder-zoo",
                             str(zoo / "mnist-bernoulli")], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert result.returncode != 0
    assert result.stderr.strip().startswith("error: could not publish") and result.stderr.count("\n") == 1


# ---------------------------------------------------------------------------------------------- damage
def _truncate_weights(folder: Path):
    weights = folder / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:1000])


def _remove_config(folder: Path):
    (folder / "config.json").unlink()


def _malform_config(folder: Path):
    (folder / "config.json").write_text('{"decoder": "bernoulli", ')


def _unknown_variant(folder: Path):
    cfg = json.loads((folder / "config.json").read_text())
    (folder / "config.json").write_text(json.dumps({**cfg, "decoder": "laplace-pixel"}))


def _mismatched_shapes(folder: Path):
    cfg = json.loads((folder / "config.json").read_text())
    (folder / "config.json").write_text(json.dumps({**cfg, "latent_dim": 7}))


def _garbage_weights(folder: Path):
    (folder / "model.safetensors").write_bytes(b"\x80\x04not a safetensors file")


DAMAGE = {
    "truncated weights": (_truncate_weights, "cannot read model.safetensors"),
    "missing config": (_remove_config, "no config.json"),
    "malformed config": (_malform_config, "malformed config.json"),
    "unknown variant": (_unknown_variant, "unknown decoder 'laplace-pixel'"),
    "mismatched shapes": (_mismatched_shapes, "weights do not match config.json"),
    "pickle instead of safetensors": (_garbage_weights, "cannot read model.safetensors"),
}


@pytest.mark.parametrize("damage", DAMAGE, ids=list(DAMAGE))
def test_broken_checkpoint_is_named_and_the_rest_still_loads(zoo: Path, damage: str):
    break_it, message = DAMAGE[damage]
    broken = zoo / "mnist-gaussian-pixel"
    break_it(broken)
    found, problems = scan(zoo)
    loaded = {c.name: load_model(c.path) for c in found if c.name != broken.name}
    assert "mnist-bernoulli" in loaded
    errors = [msg for _, msg in problems]
    if broken.name in {c.name for c in found}:  # metadata fine; the weights are what is broken
        with pytest.raises(ZooError) as info:
            load_model(broken)
        errors.append(str(info.value))
    assert len(errors) == 1 and str(broken) in errors[0] and message in errors[0], errors


def test_snapshot_request_for_a_missing_epoch_names_what_exists(zoo: Path):
    ckpt = read_checkpoint(zoo / "mnist-bernoulli")
    with pytest.raises(ZooError, match=r"no snapshot for epoch 3 \(have \[\]\)"):
        load_snapshot(ckpt, 3)


def test_zoo_spec_lists_every_variant_on_both_datasets():
    from vae_core.model.likelihoods import LIKELIHOODS

    names = {e["name"] for e in read_spec(ROOT / "zoo.toml")}
    for dataset in ("mnist", "fashion-mnist"):
        assert {f"{dataset}-{key}" for key in LIKELIHOODS} <= names
    extras = {"mnist-bernoulli-2d", "mnist-gaussian-fixed-2d", "mnist-gaussian-pixel-2d", "mnist-bernoulli-burda"}
    assert extras <= names


def not_started() -> set[str]:
    """zoo.toml entries whose build has not started: `train.py --zoo` builds in spec order, so these can only be a
    tail of the spec (a folder missing before the last started entry is a checkpoint lost, not one to come)."""
    names = [e["name"] for e in read_spec(ROOT / "zoo.toml")]
    started = [i for i, n in enumerate(names) if (DEFAULT_ZOO / n).is_dir()]
    return set(names[max(started) + 1:]) if started else set(names)


def test_every_shipped_folder_was_trained_as_the_spec_says():
    """So `train.py --zoo zoo.toml` over the shipped checkpoints resumes them instead of refusing them."""
    from vae_core.training.run_folder import check_same_model
    from vae_core.zoo.spec import split_entry

    for entry in read_spec(ROOT / "zoo.toml"):
        if entry["name"] not in not_started():
            check_same_model(ROOT / "checkpoints" / entry["name"], split_entry(entry)[0])


def test_zoo_spec_rejects_unknown_keys(tmp_path: Path):
    spec = tmp_path / "zoo.toml"
    spec.write_text('[[model]]\nname = "x"\ndataset = "mnist"\ndecoder = "bernoulli"\nepochz = 3\n')
    with pytest.raises(ValueError, match="epochz"):
        read_spec(spec)


# ---------------------------------------------------------------------------------------------- shipped zoo
SHIPPED = sorted(p.parent.name for p in DEFAULT_ZOO.glob("*/eval.json")) if DEFAULT_ZOO.is_dir() else []


def test_the_shipped_zoo_is_complete_and_within_budget():
    """Every zoo.toml entry is shipped (evaluated, readable), or its build is committed part-way so that
    `train.py --zoo` resumes it (still in training, or trained and awaiting its evaluation), or not started yet."""
    if not SHIPPED:
        pytest.skip("no shipped checkpoints in checkpoints/ yet")
    from vae_core.training.run_folder import read_state
    from vae_core.zoo.checkpoints import SHIPPED_BUDGET_MB, training_in_progress

    expected = {e["name"] for e in read_spec(ROOT / "zoo.toml")} - not_started()
    pending = expected - set(SHIPPED)
    for name in pending:
        state = read_state(DEFAULT_ZOO / name)
        assert state is not None, f"{name}: in zoo.toml, neither shipped nor a committed build to resume"
    assert set(SHIPPED) <= expected
    found, problems = scan(DEFAULT_ZOO)
    in_training = {Path(folder).name for folder, _ in problems if training_in_progress(Path(folder))}
    assert {Path(folder).name for folder, _ in problems} == in_training <= pending
    assert {c.name for c in found} == expected - in_training
    size = sum(f.stat().st_size for f in DEFAULT_ZOO.rglob("*") if f.is_file())
    assert size <= SHIPPED_BUDGET_MB * 2**20, f"checkpoints/ is {size / 2**20:.1f} MB"


@pytest.mark.parametrize("name", SHIPPED or ["<none>"])
def test_shipped_checkpoint_matches_its_eval_json(name: str):
    """Reload the weights and recompute the embedded-sample ELBO and MSE recorded at evaluation time.

    Both are computed with fixed seeds, so the only legitimate difference is float arithmetic order (threads,
    CPU kernels): 1e-3 relative is far below what a retrained or corrupted model would change (tens of nats).
    """
    if name == "<none>":
        pytest.skip("no shipped checkpoints in checkpoints/ yet")
    folder = DEFAULT_ZOO / name
    ev, notes = read_evaluation(folder / EVAL_NAME)
    assert notes == []
    model = load_model(folder)
    images, _ = load_sample(model.config.dataset)
    x = fixed_test_input(images, model.data_kind, seed=0)
    recorded = ev.embedded_sample
    with unvalidated():  # a collapsed sigma underflows to 0 on some pixels: a non-finite ELBO, not an error
        elbo = float(elbo_terms(model, x)["elbo"].mean())
    if recorded.elbo is None:  # non-finite at evaluation: written as null and listed (zoo.evaluate.write_evaluation)
        assert not math.isfinite(elbo) and any(p.startswith("embedded_sample.elbo ") for p in ev.nonfinite)
    else:
        assert math.isclose(elbo, recorded.elbo, rel_tol=1e-3, abs_tol=0.05)
    assert math.isclose(mse(model, x), recorded.mse, rel_tol=1e-3, abs_tol=1e-6)
    test = ev.test
    # The full-test-set numbers are consistent with each other: ELBO <= IWAE (both are lower bounds on log p,
    # IWAE the tighter; allow 3 standard errors because they are estimated on different image sets).
    if test.iwae is not None and test.elbo is not None:
        assert test.iwae >= test.elbo - 3 * (test.elbo_stderr + test.iwae_stderr)
    assert ev.decoder == model.config.decoder and ev.dataset == model.config.dataset
    for epoch, _ in read_checkpoint(folder).snapshots:
        snap = load_snapshot(read_checkpoint(folder), epoch)
        assert all(torch.isfinite(p).all() for p in snap.parameters())


def _holds(record: dict, written: dict) -> bool:
    """Every key the file wrote is in the record with the same value (the record adds the keys it left out)."""
    return all(_holds(record[k], v) if isinstance(v, dict) and k in record else record.get(k) == v
               for k, v in written.items())


@pytest.mark.parametrize("folder", sorted(p.parent for p in DEFAULT_ZOO.glob(f"*/{EVAL_NAME}")), ids=lambda p: p.name)
def test_a_checkpoint_carries_its_files_as_typed_records(folder: Path):
    """Checkpoint.evaluation is the Evaluation and history_lines the HistoryLines the files hold, value for value."""
    ckpt = read_checkpoint(folder)
    assert isinstance(ckpt.evaluation, Evaluation) and all(isinstance(r, HistoryLine) for r in ckpt.history_lines)
    assert _holds(to_dict(ckpt.evaluation), json.loads((folder / EVAL_NAME).read_text()))
    lines = [{"trace": [], **json.loads(t)} for t in (folder / HISTORY_NAME).read_text().splitlines()]
    assert [to_dict(r, drop_none=True) for r in ckpt.history_lines] == lines  # no trace written: an empty one


@pytest.mark.parametrize("dataset", ["mnist", "fashion-mnist"])
def test_shipped_classifier_matches_its_recorded_accuracy(dataset: str):
    """The Frechet-distance classifier reaches the issue's bar (99% / 90%) as recorded, and its accuracy on the
    embedded sample agrees with the recorded test accuracy within 4 binomial standard errors."""
    from vae_core.evaluation.classifier import load_classifier
    from vae_core.files.names import CLASSIFIER_DIR

    recorded = json.loads((CLASSIFIER_DIR / dataset / "eval.json").read_text())["test_accuracy"]
    assert recorded >= {"mnist": 0.99, "fashion-mnist": 0.90}[dataset]
    images, labels = load_sample(dataset)
    x = fixed_test_input(images, "discrete")
    with torch.no_grad():
        accuracy = float((load_classifier(dataset)(x).argmax(1) == torch.from_numpy(labels)).double().mean())
    stderr = math.sqrt(recorded * (1 - recorded) / len(labels))
    assert abs(accuracy - recorded) < 4 * stderr + 1e-3, (accuracy, recorded)


def test_train_zoo_cli_trains_evaluates_and_resumes(tmp_path: Path, data_dir: Path):
    """The zoo command end to end on a tiny spec: checkpoint, eval.json, model card, index; a rerun does nothing."""
    spec = tmp_path / "zoo.toml"
    spec.write_text("""
[defaults]
hidden = [32]
latent_dim = 4
epochs = 1
max_train_images = 500
val_size = 100
iwae_k = 10
iwae_images = 20
best_images = 5
frechet_images = 200

[[model]]
name = "tiny-pixel"
dataset = "mnist"
decoder = "gaussian-pixel"
snapshots = [1]

[[model]]
name = "tiny-bernoulli"
dataset = "mnist"
decoder = "bernoulli"
""")
    out = tmp_path / "zoo"
    cmd = [sys.executable, "train.py", "--zoo", str(spec), "--only", "tiny-*", "--checkpoints", str(out),
           "--data-dir", str(data_dir), "--no-progress"]
    # one thread: two test workers share two cores, and AIS's small batches slow tenfold when threads contend
    run = functools.partial(subprocess.run, cwd=ROOT, capture_output=True, text=True, timeout=300,
                            env={**os.environ, "OMP_NUM_THREADS": "1"})
    first = run(cmd)
    assert first.returncode == 0, first.stderr[-2000:]
    assert first.stdout.count("== training") == 2 and first.stdout.count("== evaluating") == 2
    for name in ("tiny-pixel", "tiny-bernoulli"):
        ev, notes = read_evaluation(out / name / EVAL_NAME)
        assert notes == [] and ev.test.num_images == 10000 and ev.test.iwae_k == 10 and ev.frechet.num_images == 200
        assert (out / name / "README.md").read_text().startswith("---\n")
        assert not (out / name / "optimizer.safetensors").exists()
    assert {m["name"] for m in json.loads((out / "index.json").read_text())["models"]} == {"tiny-pixel",
                                                                                         "tiny-bernoulli"}
    assert read_checkpoint(out / "tiny-pixel").snapshots[0][0] == 1
    again = run(cmd)
    assert again.returncode == 0 and "== training" not in again.stdout and "== evaluating" not in again.stdout
    spec.write_text(spec.read_text().replace('decoder = "bernoulli"', 'decoder = "bernoulli"\nlatent_dim = 2'))
    changed = run(cmd)  # the spec moved on
    assert changed.returncode == 2 and "tiny-bernoulli holds a run of another model (latent_dim: 4 there, 2 " \
        "asked for)" in changed.stderr, changed.stderr[-2000:]


def test_a_run_still_in_training_is_not_listed_until_it_finishes(tmp_path: Path):
    """A real train.py killed inside epoch 2's save (the kill tests' hook) leaves epoch 1 of 2 committed: the zoo
    lists it as a folder it cannot show yet, saying why; resumed to its last epoch, it is listed."""
    import os

    from vae_core.training.run_folder import CRASH_ENV

    run = tmp_path / "zoo" / "run"
    args = [sys.executable, "train.py", "--dataset", "mnist", "--decoder", "bernoulli", "--train-on-sample",
            "--val-size", "200", "--epochs", "2", "--hidden", "16", "--latent-dim", "2", "--no-progress"]
    killed = subprocess.run([*args, "--out", str(run)], cwd=ROOT, env={**os.environ, CRASH_ENV: "2:stage:model"},
                            capture_output=True, text=True, timeout=300)
    assert killed.returncode != 0
    found, problems = scan(tmp_path / "zoo")
    assert found == [] and len(problems) == 1
    assert "a run still in training (epoch 1 of 2 committed)" in problems[0][1]
    resumed = subprocess.run([*args, "--resume", "--out", str(run)], cwd=ROOT, capture_output=True, text=True,
                             timeout=300)
    assert resumed.returncode == 0, resumed.stderr[-500:]
    found, problems = scan(tmp_path / "zoo")
    assert [c.name for c in found] == ["run"] and problems == []


# ------------------------------------------------------------------------- an entry that continues another
CONTINUED_SPEC = """
[defaults]
dataset = "mnist"
decoder = "bernoulli"
hidden = [16]
latent_dim = 2
max_train_images = 200
val_size = 50

[[model]]
name = "short"
epochs = 2
snapshots = [1]

[[model]]
name = "longer"
continues = "short"
epochs = 3
"""


def test_a_continued_entry_is_the_run_it_continues_trained_on(tmp_path: Path, data_dir: Path):
    """`continues` (Burda's row in the paper's passes continues the third): the entry starts as a copy of the other
    entry's finished checkpoint, keeps its epochs, and trains on with Adam started afresh; the same weights as
    `train.py --resume --restart-optimizer` on a copy, bit for bit. Before the other is built it is refused."""
    import shutil

    from vae_core.base.data import load_split
    from vae_core.files.names import OPTIMIZER_NAME, WEIGHTS_NAME
    from vae_core.training.loop import train
    from vae_core.zoo.build import train_zoo
    from vae_core.zoo.spec import split_entry

    spec, zoo = tmp_path / "zoo.toml", tmp_path / "zoo"
    spec.write_text(CONTINUED_SPEC)
    with pytest.raises(ValueError, match="continues 'short', but .* holds no trained run; build short in .* first"):
        train_zoo(spec, only="longer", checkpoints=zoo, data_dir=data_dir, evaluate=False, progress=False)
    train_zoo(spec, only="short", checkpoints=zoo, data_dir=data_dir, evaluate=False, progress=False)
    (zoo / "short" / EVAL_NAME).write_text("{}")  # the other checkpoint's evaluation is not the continued one's
    by_hand = tmp_path / "by-hand"
    shutil.copytree(zoo / "short", by_hand, ignore=shutil.ignore_patterns(EVAL_NAME))
    unfinished = tmp_path / "unfinished.toml"  # the other entry asked for more epochs than its run has
    unfinished.write_text(CONTINUED_SPEC.replace("name = \"short\"\nepochs = 2", "name = \"short\"\nepochs = 3")
                          .replace("continues = \"short\"\nepochs = 3", "continues = \"short\"\nepochs = 4"))
    with pytest.raises(ValueError, match="whose run in .* is at epoch 2 of 3; only a finished run is continued"):
        train_zoo(unfinished, only="longer", checkpoints=zoo, data_dir=data_dir, evaluate=False, progress=False)
    (zoo / "longer").mkdir()
    (zoo / "longer" / "config.json").write_text("{")  # a copy a kill interrupted: made again
    train_zoo(spec, only="longer", checkpoints=zoo, data_dir=data_dir, evaluate=False, progress=False)

    lines = [json.loads(line) for line in (zoo / "longer" / HISTORY_NAME).read_text().splitlines()]
    short = [json.loads(line) for line in (zoo / "short" / HISTORY_NAME).read_text().splitlines()]
    assert [line["epoch"] for line in lines] == [1, 2, 3] and lines[:2] == short
    assert lines[2].get("optimizer_restarted") is True
    assert (zoo / "longer" / "snapshots" / "epoch-0001").is_dir() and not (zoo / "longer" / EVAL_NAME).exists()
    assert not (zoo / "longer" / OPTIMIZER_NAME).exists()  # shipped without it, as every entry
    model_cfg, train_cfg, _ = split_entry(read_spec(spec)[1])
    train_cfg.progress = False
    train(model_cfg, train_cfg, load_split("mnist", "train", data_dir)[0], by_hand, resume=True,
          restart_optimizer=True)
    assert (by_hand / WEIGHTS_NAME).read_bytes() == (zoo / "longer" / WEIGHTS_NAME).read_bytes()
    spec.write_text(CONTINUED_SPEC.replace("continues = \"short\"\nepochs = 3", "continues = \"short\"\nepochs = 4"))
    with pytest.raises(ValueError, match="finished without its optimizer state"):  # Adam restarts once, not again
        train_zoo(spec, only="longer", checkpoints=zoo, data_dir=data_dir, evaluate=False, progress=False)


@pytest.mark.parametrize("change, message", [
    (('continues = "short"', 'continues = "longest"'), "continues 'longest', which is not an entry listed before it"),
    (('epochs = 3', 'epochs = 3\nlatent_dim = 4'), "continues 'short', a different model (latent_dim differs)"),
    (('name = "longer"', 'name = "longer"\ndecoder = "gaussian-pixel"'), "a different model (decoder differs)"),
    (('epochs = 3', 'epochs = 3\nseed = 1'), "continues 'short' with other data or optimizer settings (seed)"),
    (('epochs = 3', 'epochs = 3\nadam_eps = 1e-4'), "other data or optimizer settings (adam_eps)"),
    (('epochs = 3', 'epochs = 3\nlr_schedule = "burda"'), "other data or optimizer settings (lr_schedule)"),
    (('epochs = 3', 'epochs = 2'), "continues 'short' for 2 epochs, no more than its 2"),
])
def test_zoo_spec_refuses_a_continued_entry_it_cannot_build(tmp_path: Path, change: tuple[str, str], message: str):
    spec = tmp_path / "zoo.toml"
    spec.write_text(CONTINUED_SPEC.replace(*change))
    with pytest.raises(ValueError, match=re.escape(message)):
        read_spec(spec)
