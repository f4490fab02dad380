"""The Decoder sigma page's run data (explorer.raw_runs) from history.jsonl read through its schema: bad values are
named by field and line in one note and read as missing, bad trace points are left out of the step trace, and the
sentence on where a run stopped comes from the typed fields."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from apptest_pages import open_page

from explorer.raw_runs import epochs, stopped, trace
from explorer.views import sigma
from vae_core.files.names import DEFAULT_ZOO, HISTORY_NAME
from vae_core.zoo.checkpoints import read_checkpoint

SHIPPED = Path(__file__).resolve().parent.parent / "checkpoints" / "mnist-gaussian-pixel"
NAME = SHIPPED.name
GOOD = {"epoch": 1, "loss": 2.0, "loss_max": 3.0, "steps": 10, "sigma_min": 0.5, "val_elbo": -1.0,
        "trace": [{"step": 0, "loss": 2.5, "sigma_min": 0.6}, {"step": 9, "loss": 2.0, "sigma_min": 0.5}]}


def _checkpoint(tmp_path: Path, *lines: str):
    folder = tmp_path / NAME
    folder.mkdir()
    shutil.copy(SHIPPED / "config.json", folder)
    (folder / "model.safetensors").symlink_to(SHIPPED / "model.safetensors")
    (folder / HISTORY_NAME).write_text("".join(line + "\n" for line in lines))
    return read_checkpoint(folder)


@pytest.mark.parametrize("line, note, steps", [
    ('{"epoch": 2, "trace": [{"step": 0, "loss": 1.0}, "x", {"step": -2, "loss": 3}, {"step": true}], "steps": 10}',
     "not a number, shown as missing: trace[1] on line 2, trace[3].step on line 2.", [0, 9, 10]),
    ('{"epoch": 2, "trace": [{"step": 1, "loss": "high", "sigma_min": NaN}]}',
     "not a number, shown as missing: trace[0].loss on line 2, trace[0].sigma_min on line 2.", [0, 9, 11]),
    ('{"epoch": 2, "trace": {"step": 1}}', "not a number, shown as missing: trace on line 2.", [0, 9]),
])
def test_bad_trace_points_are_named_and_left_out(tmp_path, line, note, steps):
    ckpt = _checkpoint(tmp_path, json.dumps(GOOD), line)
    assert ckpt.notes == [f"{NAME}/{HISTORY_NAME}: {note}"]
    assert trace(ckpt)["step"].tolist() == steps
    assert trace(ckpt)[["loss", "sigma_min"]].iloc[:2].values.tolist() == [[2.5, 0.6], [2.0, 0.5]]


def test_a_diverged_epoch_reads_with_its_non_finite_loss_missing(tmp_path):
    diverged = ('{"epoch": 2, "loss": NaN, "loss_max": Infinity, "diverged": true, "diverged_step": 4, '
                '"diverged_reason": "loss is nan", "weights_from_step": 3}')
    ckpt = _checkpoint(tmp_path, json.dumps(GOOD), diverged)
    assert ckpt.notes == [f"{NAME}/{HISTORY_NAME}: not a number, shown as missing: loss on line 2, loss_max on line 2."]
    frame = epochs(ckpt)
    assert frame["diverged"].tolist() == [False, True] and frame["loss"].isna().tolist() == [False, True]
    assert stopped(ckpt) == (f"{NAME} stopped in epoch 2 at step 4 of it (`loss is nan`); the weights kept are "
                             f"those after 3 updates of that epoch.")


@pytest.mark.parametrize("diverged", ['"yes"', "1", "null"])
def test_a_diverged_flag_that_is_not_true_does_not_stop_the_run(tmp_path, diverged):
    ckpt = _checkpoint(tmp_path, json.dumps(GOOD), f'{{"epoch": 2, "loss_max": 7.5, "diverged": {diverged}}}')
    assert stopped(ckpt) == f"{NAME} trained 2 epochs without a non-finite loss (its largest batch loss was 7.5)."



# ------------------------------------------------------------------------------------------------ the page, shipped zoo
needs_zoo = pytest.mark.skipif(not (DEFAULT_ZOO / "mnist-gaussian-pixel-raw-kept").is_dir(),
                               reason="no shipped checkpoints/ with the raw run that lived in this checkout")


@needs_zoo
def test_the_sigma_page_shows_the_raw_run_that_lived_epoch_by_epoch_beside_sigma_fixed(monkeypatch):
    """Seed 000's figure on the Decoder sigma page: the run that lived is chosen first, and each saved epoch is a row
    of its smallest sigma, validation ELBO, reconstructions and full samples, sigma = 0.1 on the same pixels last."""
    from explorer import cache

    monkeypatch.setenv("VAE_ZOO_SOURCE", str(DEFAULT_ZOO))
    monkeypatch.delenv("VAE_ZOO_REVISION", raising=False)
    monkeypatch.setattr(cache, "LOCAL_ZOO", DEFAULT_ZOO)
    cache.resolve.clear()
    at = open_page("sigma", {"dataset": "mnist", "models": "mnist-gaussian-pixel-raw-kept"},
                   {sigma.SECTION_KEY: "Raw pixels against dequantized"})  # a link to the section
    assert at.selectbox(key="raw_model").value == "mnist-gaussian-pixel-raw-kept"
    kept = read_checkpoint(DEFAULT_ZOO / "mnist-gaussian-pixel-raw-kept")
    rows = [m.value for m in at.markdown if m.value.startswith("**epoch ")
            or m.value.startswith("**mnist-gaussian-fixed-raw, epoch")]
    fixed = [i for i, r in enumerate(rows) if r.startswith("**mnist-gaussian-fixed-raw, epoch 15")]
    assert fixed == [len(rows) - 1], rows  # the section's last row (the Snapshots tab is not built)
    assert rows[:fixed[0]] == [f"**epoch {e}**" for e, _ in kept.snapshots] + ["**epoch 15 (final)**"]
    captions = [c for img in at.image for c in img.captions]
    assert captions.count("reconstruction (decoder mean)") >= len(kept.snapshots) + 1
