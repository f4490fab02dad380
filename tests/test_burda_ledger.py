"""scripts.burda_ledger: one row per (schedule, epoch) from a real run's snapshots and current weights, scored on the
fixed test subset, kept across calls; bad input refused in one sentence with nothing written."""
from __future__ import annotations

import json
import shutil

import pytest

from vae_core.base.data import fixed_test_input, load_sample, load_split
from vae_core.evaluation.metrics import iwae_log_likelihood
from vae_core.files.names import DEFAULT_ZOO, EVAL_NAME, STATE_NAME
from vae_core.model.vae import VAE, VAEConfig
from vae_core.training.config import TrainConfig
from vae_core.training.loop import train
from vae_core.zoo import binarizations, burda_ledger
from vae_core.zoo.evaluate import write_evaluation
from vae_core.zoo.ledger import card_section, read_ledger

TINY = VAEConfig(decoder="bernoulli", hidden=[16], latent_dim=2)


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """Two epochs of the burda-third schedule on the embedded sample, a snapshot at epoch 1."""
    out = tmp_path_factory.mktemp("ledger") / "run"
    config = TrainConfig(epochs=2, batch_size=100, val_size=200, max_train_images=300, snapshots=[1],
                         lr_schedule="burda-third", adam_eps=1e-4, progress=False)
    train(TINY, config, load_sample("mnist")[0], out)
    return out


def test_rows_for_each_epoch_scored_on_the_fixed_subset_and_kept(run, data_dir, tmp_path, capsys):
    ledger = tmp_path / "ledger.json"
    args = [str(run), "--k", "20", "--images", "30", "--ledger", str(ledger), "--data-dir", str(data_dir)]
    assert burda_ledger.main(args) == 0
    rows = json.loads(ledger.read_text())
    history = [json.loads(line) for line in (run / "history.jsonl").read_text().splitlines()]
    assert [(r["epoch"], r["weights"]) for r in rows] == [(1, "snapshot"), (2, "current")]
    for row in rows:
        upto = history[:row["epoch"]]
        assert row["updates"] == sum(h["steps"] for h in upto) and row["lr"] == upto[-1]["lr"]
        assert row["train_seconds"] == pytest.approx(sum(h["seconds"] for h in upto))
        assert row["lr_schedule"] == "burda-third" and row["schedule"].startswith("burda-third (lr 0.001, batch 100")
    # the protocol that makes rows comparable across sessions: seed-0 binarization, the first N test images
    x = fixed_test_input(load_split("mnist", "test", data_dir)[0], "binary", seed=0)[:30]
    expected = -iwae_log_likelihood(VAE.from_pretrained(run / "snapshots" / "epoch-0001"), x, k=20, seed=0)
    assert rows[0]["nll"] == pytest.approx(float(expected.double().mean()), rel=1e-9)
    assert rows[0]["nll_stderr"] == pytest.approx(float(expected.double().std() / 30**0.5), rel=1e-9)
    assert 0 <= rows[1]["active_units"] <= 2 and rows[1]["active_units_images"] == 10_000
    table = (tmp_path / "ledger.md").read_text()
    assert f"| 2 | {rows[1]['updates']:,} |" in table and "(k = 20, 30 images)" in table
    before = ledger.read_bytes()
    assert burda_ledger.main(args) == 0 and ledger.read_bytes() == before  # nothing re-evaluated without --force
    assert "already in" in capsys.readouterr().out


REFUSALS = {  # name -> (argument builder from the run folder, words of the one sentence)
    "not a run": (lambda run: [str(run.parent / "nowhere")], "holds no training_state.json"),
    "an epoch without weights": (lambda run: [str(run), "--epochs", "1,5"],
                                 "has no weights for epoch(s) 5; it has 1, 2"),
    "epochs not numbers": (lambda run: [str(run), "--epochs", "last"], "--epochs must be comma-separated whole"),
    "k zero": (lambda run: [str(run), "--k", "0"], "--k must be at least 1"),
    "too many images": (lambda run: [str(run), "--images", "10001"], "--images between 1 and 10000"),
    "an unknown model": (lambda run: [str(run), "--model", "mnist-bernouli"], "'mnist-bernouli' is not an entry of"),
}


@pytest.mark.parametrize("case", list(REFUSALS))
def test_bad_input_is_one_sentence_and_writes_nothing(case, run, tmp_path, capsys):
    build, words = REFUSALS[case]
    ledger = tmp_path / "ledger.json"
    with pytest.raises(SystemExit) as exit_:
        burda_ledger.main([*build(run), "--ledger", str(ledger), "--data-dir", "/nonexistent/vae-zoo-data"])
    err = capsys.readouterr().err
    assert exit_.value.code == 2 and words in err and "Traceback" not in err, err
    assert not ledger.exists() and not (tmp_path / "ledger.md").exists()


def test_a_model_of_other_data_is_refused(tmp_path, capsys):
    out = tmp_path / "gaussian"
    config = TrainConfig(epochs=1, batch_size=100, val_size=200, max_train_images=300, progress=False)
    train(VAEConfig(decoder="gaussian-fixed", hidden=[16], latent_dim=2), config, load_sample("mnist")[0], out)
    with pytest.raises(SystemExit):
        burda_ledger.main([str(out), "--ledger", str(tmp_path / "ledger.json")])
    assert "scores Bernoulli models of binarized MNIST only" in capsys.readouterr().err
    assert not (tmp_path / "ledger.json").exists()


@pytest.mark.parametrize("folder_name, file, words", [
    ("run", STATE_NAME, "is damaged"),
    # a checkpoint's card is rewritten after its rows are saved, so its eval.json is read before any scoring
    ("tiny-burda", EVAL_NAME, "name"),
])
def test_a_damaged_file_of_the_run_is_one_sentence_naming_it(folder_name, file, words, run, tmp_path, capsys):
    damaged = tmp_path / folder_name
    shutil.copytree(run, damaged)
    (damaged / file).write_text('{"epoch": "two", "name": 3}')
    ledger = tmp_path / "ledger.json"
    with pytest.raises(SystemExit) as exit_:
        burda_ledger.main([str(damaged), "--ledger", str(ledger), "--data-dir", "/nonexistent/vae-zoo-data"])
    err = capsys.readouterr().err
    assert exit_.value.code == 2 and str(damaged / file) in err and words in err and "Traceback" not in err, err
    assert not ledger.exists() and not (damaged / "README.md").exists()


# ------------------------------------------------------------------------------------------ the model card
def test_rows_name_their_model_and_its_card_shows_them(run, data_dir, tmp_path):
    """A checkpoint folder (it has an eval.json) names its rows after itself, and its model card gains the ledger
    section; eval.json is not touched."""
    folder = tmp_path / "tiny-burda"
    shutil.copytree(run, folder)
    write_evaluation(folder, {"name": folder.name, "dataset": "mnist", "decoder": "bernoulli", "data_kind": "binary"},
                     TINY)
    evaluation = (folder / EVAL_NAME).read_bytes()
    assert "Training ledger" not in (folder / "README.md").read_text()
    ledger = tmp_path / "ledger.json"
    assert burda_ledger.main([str(folder), "--k", "5", "--images", "10", "--ledger", str(ledger),
                              "--data-dir", str(data_dir)]) == 0
    rows = json.loads(ledger.read_text())
    assert {r["model"] for r in rows} == {folder.name}
    card = (folder / "README.md").read_text()
    assert card.endswith(card_section(folder.name, ledger)) and "## Training ledger" in card
    assert f"| 2 | {rows[1]['updates']:,} |" in card and (folder / EVAL_NAME).read_bytes() == evaluation


def test_a_run_folder_names_the_model_it_is_given_and_its_later_rows_follow(run, data_dir, tmp_path):
    """A run folder has no card of its own: its rows name the entry given once, and a trial ledger leaves that
    entry's shipped card alone."""
    ledger, name = tmp_path / "ledger.json", "mnist-bernoulli-burda"
    shipped_card = DEFAULT_ZOO / name / "README.md"
    before = shipped_card.read_bytes() if shipped_card.is_file() else None
    base = [str(run), "--k", "5", "--images", "10", "--ledger", str(ledger), "--data-dir", str(data_dir)]
    assert burda_ledger.main([*base, "--epochs", "1"]) == 0
    assert burda_ledger.main([*base, "--epochs", "2", "--model", name]) == 0
    assert burda_ledger.main([*base, "--epochs", "1", "--force"]) == 0  # re-scored: now names the entry too
    assert sorted((r["epoch"], r["model"]) for r in json.loads(ledger.read_text())) == [(1, name), (2, name)]
    assert card_section(name, ledger).count("\n| ") == 3  # the header and two rows
    assert card_section("mnist-bernoulli", ledger) == ""
    assert (shipped_card.read_bytes() if shipped_card.is_file() else None) == before


DAMAGED_RECORDS = {  # case -> (the command, its arguments before the record's flag, the record's flag, text, words)
    "ledger: not JSON": (burda_ledger.main, [], "--ledger", '[{"schedule": ', "is not a readable JSON ledger"),
    "ledger: not a list": (burda_ledger.main, [], "--ledger", '{"rows": []}', "is not a list of ledger rows"),
    "ledger: a row short": (burda_ledger.main, [], "--ledger", '[{"schedule": "s", "run": "r", "epoch": 1}]',
                            "row 0 lacks updates, train_seconds"),
    "binarizations: not JSON": (binarizations.main, ["--seeds", "1"], "--record", '[{"model": ',
                                "is not a readable JSON record"),
    "binarizations: a row short": (binarizations.main, ["--seeds", "1"], "--record", '[{"model": "run", "seed": 1}]',
                                   "row 0 lacks k, images, nll"),
}


@pytest.mark.parametrize("case", list(DAMAGED_RECORDS))
def test_a_damaged_record_is_one_sentence_and_left_as_it_is(case, run, tmp_path, capsys):
    """The ledger and the binarization record: refused before any work (no data is read), nothing rewritten."""
    command, args, flag, text, words = DAMAGED_RECORDS[case]
    record = tmp_path / "record.json"
    record.write_text(text)
    with pytest.raises(SystemExit) as exit_:
        command([str(run), *args, flag, str(record), "--data-dir", "/nonexistent/vae-zoo-data"])
    err = capsys.readouterr().err
    assert exit_.value.code == 2 and words in err and "Traceback" not in err, err
    assert record.read_text() == text and not record.with_suffix(".md").exists()


def test_shipped_model_cards_show_the_ledger_rows_that_name_them():
    """The cards are regenerated whenever rows are added: a card behind the ledger is a stale card."""
    named = {r["model"] for r in read_ledger() if r.get("model")}
    shipped = [name for name in sorted(named) if (DEFAULT_ZOO / name / EVAL_NAME).is_file()]
    if not shipped:
        pytest.skip("no shipped checkpoint is named in docs/burda_ledger.json")
    for name in shipped:
        assert (DEFAULT_ZOO / name / "README.md").read_text().endswith(card_section(name)), name


# ------------------------------------------------------------------------------- other binarizations of the test set
def test_other_binarizations_are_scored_on_these_weights_and_kept(run, data_dir, tmp_path, capsys):
    """scripts.binarizations: -IWAE on the first N test images under each other draw, a row per seed naming the
    weights it scored; a rerun scores nothing again, and rows of weights the checkpoint no longer holds are redone."""
    from vae_core.files.names import WEIGHTS_NAME
    from vae_core.zoo.ledger import weights_digest

    folder, record = tmp_path / "run", tmp_path / "binarizations.json"
    shutil.copytree(run, folder)
    args = [str(folder), "--seeds", "1,2", "--k", "5", "--images", "20", "--data-dir", str(data_dir),
            "--record", str(record)]
    assert binarizations.main(args) == 0
    rows = json.loads(record.read_text())
    assert [r["seed"] for r in rows] == [1, 2] and {r["weights_sha256"] for r in rows} == {weights_digest(folder)}
    x = fixed_test_input(load_split("mnist", "test", data_dir)[0], "binary", seed=2)[:20]
    expected = -iwae_log_likelihood(VAE.from_pretrained(folder), x, k=5, seed=0)
    assert rows[1]["nll"] == pytest.approx(float(expected.double().mean()), rel=1e-9)
    assert rows[0]["nll"] != rows[1]["nll"]  # another draw is another test set
    before = record.read_bytes()
    assert binarizations.main(args) == 0 and record.read_bytes() == before
    assert capsys.readouterr().out.count("already in") == 2
    shutil.copy(run / "snapshots" / "epoch-0001" / WEIGHTS_NAME, folder / WEIGHTS_NAME)  # other weights, same name
    assert binarizations.main(args) == 0
    again = json.loads(record.read_text())
    assert [r["seed"] for r in again] == [1, 2] and {r["weights_sha256"] for r in again} == {weights_digest(folder)}
    assert again[0]["nll"] != rows[0]["nll"]


BURDA_THIRD = "mnist-bernoulli-burda-third"
SPREAD_ROWS = {  # case -> (how the rows differ from the shipped entry's measurement, the sentence's words or None)
    "three seeds": ({}, "on 3 other binarizations of the test set (seeds 1, 2, 3; the zoo's own is seed 0): test "
                        "NLL 86.50 to 87.00, standard deviation 0.25 (each ± 0.23 or less)"),
    "the zoo's own draw is not another": ({"seed": 0}, None),
    "other weights": ({"weights_sha256": "0" * 64}, None),
    "another k": ({"k": 1000}, None),
    "other images": ({"images": 2000}, None),
    "another model": ({"model": "mnist-bernoulli-burda"}, None),
}


@pytest.mark.parametrize("case", list(SPREAD_ROWS))
def test_the_binarization_spread_is_said_only_of_the_weights_and_protocol_it_measured(case):
    from vae_core.zoo.checkpoints import read_evaluation
    from vae_core.zoo.ledger import PAPER_NLL, binarization_sentence, weights_digest

    ev, _ = read_evaluation(DEFAULT_ZOO / BURDA_THIRD / EVAL_NAME)
    digest = weights_digest(DEFAULT_ZOO / BURDA_THIRD)
    change, words = SPREAD_ROWS[case]
    rows = [{"model": BURDA_THIRD, "seed": seed, "k": ev.test.iwae_k, "images": ev.test.iwae_images, "nll": nll,
             "nll_stderr": 0.23, "seconds": 1.0, "weights_sha256": digest, **change}
            for seed, nll in ((3, 86.5), (1, 87.0), (2, 86.75))]
    said = binarization_sentence(ev, digest, rows)
    if words is None:
        assert said is None
    else:
        assert words in said and f"against {-ev.test.iwae:.2f} on seed 0 and Table 1's {PAPER_NLL}." in said


VERDICTS = {  # case -> (the best entry's test NLL, its standard error, the sentence's start or None)
    "missed": (87.47, 0.23, "Table 1's 86.76 is not reached: the best entry"),
    "just above, within noise": (86.80, 0.23, "Table 1's 86.76 is matched within the noise"),
    "just below, within noise": (86.70, 0.23, "Table 1's 86.76 is matched within the noise"),
    "reached": (86.00, 0.23, "Table 1's 86.76 is reached"),
    "no standard error": (86.00, None, None),
}


@pytest.mark.parametrize("case", list(VERDICTS))
def test_the_verdict_on_table_1_tells_noise_from_a_difference(case):
    """Burda et al.'s 86.76 is an estimate too: within two standard errors neither "reached" nor "not reached"."""
    import dataclasses

    from vae_core.zoo.checkpoints import read_evaluation
    from vae_core.zoo.ledger import verdict_sentence

    shipped, _ = read_evaluation(DEFAULT_ZOO / BURDA_THIRD / EVAL_NAME)
    nll, se, words = VERDICTS[case]
    best = dataclasses.replace(shipped, name="best", test=dataclasses.replace(shipped.test, iwae=-nll, iwae_stderr=se))
    tied = dataclasses.replace(best, name="tied")  # two entries at one NLL: either may be named, neither fails
    partial = dataclasses.replace(shipped, name="partial", test=dataclasses.replace(shipped.test, iwae=-80.0,
                                                                                    iwae_images=1000))
    said = verdict_sentence([shipped, best, tied, partial])
    if words is None:  # an entry without a standard error is not judged: the shipped one is
        assert f"the best entry, {BURDA_THIRD} " in said
    else:
        assert said.startswith(words) and f"reads {nll:.2f} ± {se:.2f} on all 10,000 test images" in said
        assert "partial" not in said  # a subset's NLL is not the test set's


def test_the_zoos_own_binarization_is_not_scored_as_another(run, tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_:
        binarizations.main([str(run), "--seeds", "0,1", "--record", str(tmp_path / "b.json")])
    assert exit_.value.code == 2 and "seed 0 is the zoo's own binarization" in capsys.readouterr().err
    assert not (tmp_path / "b.json").exists()
