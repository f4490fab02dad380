"""The Overview's leaderboard (explorer.tables) read from damaged eval.json files: each bad value is one plain note
naming the field, and exactly the columns that come from it turn n/a; every other number stays as the undamaged
file gives it. Each case damages a copy of a shipped checkpoint (its weights linked, never loaded)."""
from __future__ import annotations

import copy
import json
import math
import re
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from explorer import tables
from explorer.tables import leaderboard
from vae_core.files.names import EVAL_NAME, HISTORY_NAME
from vae_core.files.schema import Evaluation
from vae_core.zoo.checkpoints import read_checkpoint

SHIPPED = Path(__file__).resolve().parent.parent / "checkpoints" / "mnist-gaussian-pixel"  # AIS, FD, sigma: all set
NAME = SHIPPED.name
WHERE = f"{NAME}/{EVAL_NAME}"
FROM_EVAL = ["log-lik", "± se", "images", "ELBO", "IWAE", "IWAE (test set)", "best - IWAE", "± (best - IWAE)",
             "bits/dim", "bits/dim (IWAE bound)", "KL", "MSE", "active units", "sigma min", "sigma < 0.01",
             "FD samples", "FD sample means", "FD reconstructions", "epochs", "diverged at"]
FD = ["FD samples", "FD sample means", "FD reconstructions"]


def _copy(tmp_path: Path) -> Path:
    folder = tmp_path / NAME
    folder.mkdir()
    for name in ("config.json", EVAL_NAME, HISTORY_NAME):
        shutil.copy(SHIPPED / name, folder)
    (folder / "model.safetensors").symlink_to(SHIPPED / "model.safetensors")
    return folder


def _set(path: str, value):
    def damage(ev: dict) -> None:
        *parents, last = path.split("/")
        for key in parents:
            ev = ev[key]
        ev[last] = value
    return damage


# (case, damage to the eval.json object, the note, the columns that change: n/a, or the eval.json value a path names)
CASES = [
    ("iwae a string", _set("test/iwae", "high"),
     f"{WHERE}: test.iwae is a string, not a finite number; shown as n/a.", ["IWAE (test set)"]),
    ("iwae NaN", _set("test/iwae", math.nan),
     f"{WHERE}: test.iwae is nan, not a finite number; shown as n/a.", ["IWAE (test set)"]),
    ("kl a boolean", _set("test/kl", True), f"{WHERE}: test.kl is a boolean, not a finite number; shown as n/a.",
     ["KL"]),
    ("active units a fraction", _set("test/active_units", 15.5),
     f"{WHERE}: test.active_units is a number, not an integer; shown as n/a.", ["active units"]),
    ("sigma min a boolean", _set("sigma/min", False),
     f"{WHERE}: sigma.min is a boolean, not a finite number; shown as n/a.", ["sigma min"]),
    ("sigma fraction a string", _set("sigma/frac_below_0.01", "0.6"),
     f"{WHERE}: sigma.frac_below_0.01 is a string, not a finite number; shown as n/a.", ["sigma < 0.01"]),
    ("frechet a list", _set("frechet", [1, 2]), f"{WHERE}: frechet is a list, not an object; shown as n/a.", FD),
    ("epochs a string", _set("training/epochs", "15"),
     f"{WHERE}: training.epochs is a string, not an integer; shown as n/a.", ["epochs"]),
    ("estimate infinite", _set("log_likelihood/estimate", math.inf),
     f"{WHERE}: log_likelihood.estimate is inf, not a finite number; shown as n/a.",
     # no best estimate: the test set's IWAE stands in for it, and the same-image comparison is gone
     {"log-lik": "test/iwae", "± se": "test/iwae_stderr", "images": "test/iwae_images", "ELBO": "test/elbo",
      "IWAE": "test/iwae", "best - IWAE": None, "± (best - IWAE)": None, "bits/dim": None}),
]


def _value(ev: dict, path: str):
    for key in path.split("/"):
        ev = ev[key]
    return ev


@pytest.mark.parametrize("case, damage, note, changed", CASES, ids=[c[0] for c in CASES])
def test_a_bad_value_is_one_note_and_only_its_columns_are_na(tmp_path, case, damage, note, changed):
    good = leaderboard([read_checkpoint(SHIPPED)]).iloc[0]
    folder = _copy(tmp_path)
    ev = json.loads((folder / EVAL_NAME).read_text())
    original = copy.deepcopy(ev)
    damage(ev)
    (folder / EVAL_NAME).write_text(json.dumps(ev))  # Python writes NaN and Infinity, as a careless writer would
    ckpt = read_checkpoint(folder)
    row = leaderboard([ckpt]).iloc[0]
    assert ckpt.notes == [note]
    changed = changed if isinstance(changed, dict) else dict.fromkeys(changed)
    for column in FROM_EVAL:
        if column not in changed:
            expected = good[column]
        else:
            expected = np.nan if changed[column] is None else _value(original, changed[column])
        assert row[column] == expected or (np.isnan(expected) and np.isnan(row[column])), column


@pytest.mark.parametrize("text, note", [
    ("[1, 2]", f"{WHERE} holds a list where a JSON object is expected; its numbers are shown as n/a."),
    ("{broken", f"{WHERE} is not valid JSON (Expecting property name enclosed in double quotes at line 1 column 2); "
                f"its numbers are shown as n/a."),
    ("", f"{WHERE} is empty; its numbers are shown as n/a."),
])
def test_an_unreadable_eval_json_leaves_the_model_listed_as_not_evaluated(tmp_path, text, note):
    folder = _copy(tmp_path)
    (folder / EVAL_NAME).write_text(text)
    ckpt = read_checkpoint(folder)
    row = leaderboard([ckpt]).iloc[0]
    assert ckpt.evaluation is None and ckpt.notes == [note]
    assert row["estimate"] == "not evaluated" and row["epochs"] == len(ckpt.history_lines)
    assert all(np.isnan(row[c]) for c in FROM_EVAL if c != "epochs")


@pytest.mark.parametrize(("stderr", "gives_way"), [(0.5, True), (6.0, False)])
def test_an_ais_estimate_below_its_iwae_by_more_than_its_error_gives_way_to_the_iwae(tmp_path, stderr, gives_way):
    """3 nats below the IWAE on the same images: beyond a 0.5-nat error the IWAE stands in; within a 6-nat one the
    two bounds agree and AIS stays (best_likelihood.not_best)."""
    folder = _copy(tmp_path)
    ev = json.loads((folder / EVAL_NAME).read_text())
    ev["log_likelihood"].update(best_minus_iwae=-3.0, best_minus_iwae_stderr=stderr, images_far_below_iwae=0)
    (folder / EVAL_NAME).write_text(json.dumps(ev))
    row = leaderboard([read_checkpoint(folder)]).iloc[0]
    assert row["best - IWAE"] == -3.0
    if gives_way:
        assert row["estimate"] == f"IWAE k={ev['test']['iwae_k']} (lower bound)"
        assert row["log-lik"] == ev["test"]["iwae"] and np.isnan(row["bits/dim"])
    else:
        assert row["log-lik"] == ev["log_likelihood"]["estimate"] and row["bits/dim"] == ev["log_likelihood"][
            "bits_per_dim"]


def test_the_leaderboard_reads_the_typed_record_it_is_given():
    """The row's numbers are the Evaluation's attributes (no second reading of the file)."""
    ckpt = read_checkpoint(SHIPPED)
    ev = ckpt.evaluation
    assert isinstance(ev, Evaluation)
    row = leaderboard([ckpt]).iloc[0]
    assert (row["log-lik"], row["IWAE (test set)"], row["sigma min"], row["FD samples"], row["epochs"]) == (
        ev.log_likelihood.estimate, ev.test.iwae, ev.sigma.min, ev.frechet.samples, ev.training.epochs)


HTML_CELLS = [  # (column, value, its column_config or None) -> the cell as the HTML table writes it
    ("log-lik", -91.456, None, '<td style="text-align:right">-91.5</td>'),
    ("images", 500.0, None, '<td style="text-align:right">500</td>'),
    ("bits/dim", float("nan"), None, f'<td style="text-align:right">{tables.MISSING}</td>'),
    ("estimate", "AIS <T=1000>", None, "<td>AIS &lt;T=1000&gt;</td>"),
    ("latent", 4, None, '<td style="text-align:right">4</td>'),  # no config: a number in %g
]


@pytest.mark.parametrize(("column", "value", "config", "cell"), HTML_CELLS, ids=[c[0] for c in HTML_CELLS])
def test_an_html_table_writes_each_number_in_its_columns_format_and_escapes_text(column, value, config, cell):
    frame = pd.DataFrame({column: [value]})
    written = tables.html_table(frame, tables.COLUMNS if config is None else config)
    assert written.startswith(f'<table class="{tables.TABLE_CLASS}">') and "\n" not in written
    assert cell in written and "None" not in written


def test_an_html_tables_headings_carry_the_columns_label_and_help():
    frame, config = tables.shown(pd.DataFrame({"model": ["a"], "log-lik": [1.0], "FD sample means": [2.0]}))
    heads = re.findall(r"<th[^>]*>[^<]*</th>", tables.html_table(frame, config))
    assert heads[0] == "<th>model</th>"
    assert heads[1].endswith(">log p(x)</th>") and 'title="nats per image (higher is better)' in heads[1]
    assert heads[2].endswith(">FD means</th>") and "E[x|z]" in heads[2]
