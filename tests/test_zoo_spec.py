"""vae_core.zoo's writers (evaluate, index, cards) read eval.json through its schema (files.schema.Evaluation): the
index and the model card show what the record holds; a damaged eval.json is refused in one sentence naming the
file, with nothing written; adding a best estimate keeps the file's record of its non-finite numbers."""
from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import torch

from vae_core.evaluation.best_likelihood import not_best, settings_for
from vae_core.files.names import CARD_NAME, DEFAULT_SPEC, DEFAULT_ZOO, EVAL_NAME, INDEX_NAME
from vae_core.files.schema import SCHEMA_VERSION, BestLogLikelihood, Evaluation
from vae_core.model.vae import VAE, VAEConfig
from vae_core.zoo.cards import best_rows, rewrite_cards, stale_cards
from vae_core.zoo.evaluate import update_best_log_likelihood, write_evaluation
from vae_core.zoo.index import index_models, write_index

CONFIG = VAEConfig(decoder="bernoulli", latent_dim=2, hidden=[8])
TEST = {"num_images": 10, "elbo": -120.5, "elbo_stderr": 1.5, "rec": -110.0, "kl": 10.5, "mse": 0.05,
        "active_units": 2, "iwae": -118.25, "iwae_stderr": 1.25, "iwae_k": 20, "iwae_images": 10,
        "bits_per_dim": 0.2176}
BEST = {"method": "quadrature", "estimate": -117.0, "estimate_stderr": 1.0, "num_images": 3, "iwae_k": 20,
        "iwae": -118.0, "iwae_stderr": 1.0, "best_minus_iwae": 1.0, "best_minus_iwae_stderr": 0.1,
        "bits_per_dim": 0.2154, "warning": "a warning the card repeats"}


def result(name: str, **changes) -> dict:
    """An evaluation as vae_core.zoo.evaluate.evaluate_checkpoint hands it to write_evaluation."""
    return {"name": name, "dataset": "mnist", "decoder": "bernoulli", "latent_dim": 2, "data_kind": "binary",
            "description": "a test model", "test": dict(TEST), "sigma": None,
            "frechet": {"samples": 81.5, "reconstructions": 12.25, "sample_means": 90.0,
                        "reconstruction_means": 11.0, "num_images": 10, "reference": "test set, same data kind"},
            "training": {"epochs": 3, "seconds": 90.0, "diverged_at_epoch": None}, **changes}


def evaluated(root: Path, name: str, **changes) -> Path:
    """A checkpoint folder with (untrained) weights, eval.json and its model card, written as the zoo writes them."""
    torch.manual_seed(0)
    folder = root / name
    VAE(CONFIG).save_pretrained(folder)
    write_evaluation(folder, result(name, **changes), CONFIG)
    return folder


def files(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def test_the_index_and_the_card_show_what_eval_json_holds(tmp_path):
    folder = evaluated(tmp_path, "mnist-a", log_likelihood=BEST)
    evaluated(tmp_path, "mnist-b", test={**TEST, "iwae": None})  # no IWAE: the index falls back to the ELBO
    a, b = json.loads(write_index(tmp_path).read_text())["models"]
    assert (a["name"], a["log_likelihood"], a["bits_per_dim"], a["active_units"]) == ("mnist-a", -118.25, 0.2176, 2)
    assert (a["frechet_samples"], a["frechet_reconstruction_means"], a["sigma_min"]) == (81.5, 11.0, None)
    assert (a["best_log_likelihood"], a["best_method"], a["best_minus_iwae"]) == (-117.0, "quadrature", 1.0)
    assert b["log_likelihood"] == -120.5 and b["best_log_likelihood"] is None and b["best_warning"] is None
    card = (folder / "README.md").read_text()
    assert "| ELBO (nats, 10 images) | -120.50 ± 1.50 |" in card
    assert "log p(x) by importance sampling (k=20, 10 images) | -118.25 ± 1.25 |" in card
    assert "for 3 epochs\n(1.5 min on 2 CPU cores)." in card
    assert "| best - IWAE on the same images (the IWAE bias) | 1.00 ± 0.10 |" in card
    assert "| warning on the best estimate | a warning the card repeats |" in card
    assert "| decoder sigma mean / min / frac < 0.01 | n/a / n/a / n/a |" in card
    assert "best estimate" not in (tmp_path / "mnist-b" / "README.md").read_text()


NOT_CONVERGED = "AIS lies more than 5 nats below IWAE k=1000 on 7 of 50 images: at these settings it has not converged"
AIS_BLOCK = {"method": "ais", "estimate": -90.0, "estimate_stderr": 4.0, "num_images": 50, "iwae_k": 1000,
             "iwae": -90.5, "iwae_stderr": 4.0, "best_minus_iwae": 0.5, "best_minus_iwae_stderr": 0.1}
CARD_ROWS = [  # (best-estimate block, words of the one "not shown as the best" row or None, the warning row shown)
    (AIS_BLOCK, None, False),
    ({**AIS_BLOCK, "images_far_below_iwae": 7, "warning": NOT_CONVERGED}, "on 7 of its images: its chains did not "
                                                                          "converge there", False),
    ({**AIS_BLOCK, "best_minus_iwae": -0.5, "images_far_below_iwae": 7, "warning": NOT_CONVERGED},
     "0.50 ± 0.10 nats below IWAE k=1000", False),
    ({**AIS_BLOCK, "best_minus_iwae": -0.5}, "0.50 ± 0.10 nats below IWAE k=1000", False),
    ({**BEST, "warning": "a warning no rule covers"}, None, True),  # exact: the rule has no reason, the warning stays
]


@pytest.mark.parametrize(("block", "reason", "warning_row"), CARD_ROWS)
def test_the_card_gives_one_row_for_why_a_best_estimate_is_not_the_best(block, reason, warning_row):
    """The card says why in the rule's words (best_likelihood.not_best, as the leaderboard and index.json do), in one
    row: chains that did not converge are the evaluation's warning and the rule's reason, never two rows."""
    b = BestLogLikelihood(**block)
    rows = best_rows(Evaluation(log_likelihood=b))
    shown = [r for r in rows.splitlines() if r.startswith(("| not shown as the best", "| warning on the best"))]
    assert len(shown) == (reason is not None or warning_row)
    if reason is not None:
        assert shown == [f"| not shown as the best log p(x) | {not_best(b)} |"] and reason in shown[0]
    if warning_row:
        assert shown == [f"| warning on the best estimate | {b.warning} |"]


@pytest.mark.parametrize(("settings", "said"), [
    ({}, "annealed importance sampling, a stochastic lower bound"),
    ({"num_steps": 1000, "chains": 16, "seed": 0}, "annealed importance sampling (T = 1,000 x 16 chains), a"),
    ({"num_steps": 300, "chains": 4, "start": "encoder"}, "(T = 300 x 4 chains, from q(z|x)), a stochastic"),
    ({"num_steps": 300, "chains": 4, "start": "encoder", "mass": "encoder"},
     "(T = 300 x 4 chains, from q(z|x), steps scaled by q(z|x)), a stochastic"),
])
def test_the_card_says_how_the_ais_estimate_was_run(settings, said):
    assert said in best_rows(Evaluation(log_likelihood=BestLogLikelihood(**AIS_BLOCK, settings=settings)))


@pytest.mark.parametrize(("sandwich", "said"), [
    ({"bdmc_images": 20, "bdmc_gap": 0.44, "bdmc_gap_stderr": 0.2, "bdmc_target": 3.0}, "| 0.44 ± 0.20 |"),
    ({"bdmc_images": 20, "bdmc_target": 3.0}, "| not finite: AIS gave a bound that is not finite on some of its 20 "
     "simulated images |"),
    ({"bdmc_images": 20, "bdmc_nonfinite_images": 3, "bdmc_target": 3.0}, "| not finite: AIS gave a bound that is "
     "not finite on 3 of its 20 simulated images |"),
    ({}, None),  # no sandwich: no row
])
def test_the_card_gives_the_sandwich_or_says_it_is_not_finite(sandwich, said):
    rows = best_rows(Evaluation(log_likelihood=BestLogLikelihood(**AIS_BLOCK, **sandwich)))
    row = [r for r in rows.splitlines() if r.startswith("| BDMC sandwich width")]
    assert (said in row[0]) if said else row == []


def test_rewrite_cards_rewrites_the_stale_cards_only_and_no_other_file(tmp_path):
    fresh = evaluated(tmp_path, "mnist-a")
    stale = evaluated(tmp_path, "mnist-b", log_likelihood={**AIS_BLOCK, "images_far_below_iwae": 7,
                                                            "warning": NOT_CONVERGED})
    (stale / CARD_NAME).write_text((stale / CARD_NAME).read_text() + "| warning on the best estimate | x |\n")
    before = files(fresh), {k: v for k, v in files(stale).items() if k != CARD_NAME}
    assert stale_cards(tmp_path) == ["mnist-b"]
    assert rewrite_cards(tmp_path) == ["mnist-b"] and stale_cards(tmp_path) == [] and rewrite_cards(tmp_path) == []
    assert (files(fresh), {k: v for k, v in files(stale).items() if k != CARD_NAME}) == before
    assert "warning on the best estimate" not in (stale / CARD_NAME).read_text()


shipped = pytest.mark.skipif(not DEFAULT_ZOO.is_dir(), reason="no shipped checkpoints/ in this checkout")


@shipped
def test_the_shipped_model_cards_are_what_their_files_render_now():
    """A card written by an older vae_core.zoo.cards (or before its eval.json or the ledger changed) is stale."""
    stale = stale_cards(DEFAULT_ZOO)
    assert not stale, (f"{len(stale)} shipped model card(s) differ from what their eval.json, config and the ledger "
                       f"render now: {', '.join(stale)}; `python -m scripts.rewrite_cards checkpoints` rewrites them")


@shipped
def test_the_shipped_index_is_what_the_checkpoints_eval_json_render_now():
    shipped_rows = {m["name"]: m for m in json.loads((DEFAULT_ZOO / INDEX_NAME).read_text())["models"]}
    fresh = {m["name"]: m for m in index_models(DEFAULT_ZOO)}
    differ = sorted(n for n in shipped_rows.keys() | fresh.keys() if shipped_rows.get(n) != fresh.get(n))
    assert not differ, (f"index.json differs from the checkpoints' eval.json for {', '.join(differ)}; "
                        f"`python -m scripts.rewrite_cards checkpoints` rewrites it")


def _replace(text: str, old: str, new: str) -> str:
    assert old in text
    return text.replace(old, new)


DAMAGE = {  # case -> (eval.json's text from the intact one (None: no file), words of the one sentence)
    "not JSON": (lambda text: text[:40], "is not valid JSON"),
    "not an object": (lambda text: "[1, 2]", "holds a list where a JSON object is expected"),
    "a string for a number": (lambda text: _replace(text, '"iwae_k": 20', '"iwae_k": "twenty"'),
                              "holds a value of the wrong type at test.iwae_k"),
    "a section that is not an object": (lambda text: _replace(text, '"sigma": null', '"sigma": [0.1]'),
                                        "holds a value of the wrong type at sigma"),
    "a newer schema": (lambda text: _replace(text, f'"schema_version": {SCHEMA_VERSION}',
                                             f'"schema_version": {SCHEMA_VERSION + 1}'),
                       f"was written by a newer version (schema {SCHEMA_VERSION + 1}"),
    "no file": (None, "does not exist"),
}


def damage(folder: Path, case: str) -> None:
    change, _ = DAMAGE[case]
    path = folder / EVAL_NAME
    if change is None:
        path.unlink()
    else:
        path.write_text(change(path.read_text()))


@pytest.mark.parametrize("case", list(DAMAGE))
def test_adding_a_best_estimate_to_a_damaged_eval_json_is_one_sentence_and_writes_nothing(tmp_path, case):
    folder = evaluated(tmp_path, "mnist-a")
    damage(folder, case)
    before = files(folder)
    with pytest.raises(ValueError) as refused:  # refused before the test set is read: no data needed
        update_best_log_likelihood(folder, "/nonexistent/vae-zoo-data", num_images=2, progress=False)
    message = str(refused.value)
    assert message.startswith(str(folder / EVAL_NAME)) and DAMAGE[case][1] in message, message
    assert "\n" not in message and message.count(". ") == 0, message
    assert files(folder) == before


@pytest.mark.parametrize("case", [c for c in DAMAGE if c != "no file"])
def test_a_damaged_eval_json_leaves_the_index_as_it_was(tmp_path, case):
    evaluated(tmp_path, "mnist-a")
    damaged = evaluated(tmp_path, "mnist-b")
    index = write_index(tmp_path)
    before = index.read_bytes()
    damage(damaged, case)
    with pytest.raises(ValueError, match=f"^{damaged / EVAL_NAME}"):
        write_index(tmp_path)
    assert index.read_bytes() == before


def test_a_new_best_estimate_keeps_the_files_record_of_non_finite_numbers(tmp_path, data_dir):
    """Test that the test-set numbers a collapsed model left null stay listed, and the old block's go with it."""
    folder = evaluated(tmp_path, "mnist-a", test={**TEST, "elbo": math.nan},
                       log_likelihood={**BEST, "estimate": math.inf})
    assert json.loads((folder / EVAL_NAME).read_text())["nonfinite"] == ["test.elbo (nan)",
                                                                         "log_likelihood.estimate (inf)"]
    block = update_best_log_likelihood(folder, data_dir, num_images=2, progress=False)
    ev = json.loads((folder / EVAL_NAME).read_text())
    assert ev["nonfinite"] == ["test.elbo (nan)"] and ev["test"]["elbo"] is None
    assert ev["log_likelihood"]["estimate"] == block["estimate"] and math.isfinite(block["estimate"])


def test_an_entrys_evaluation_settings_are_what_the_likelihood_script_uses(tmp_path):
    """Test that scripts/evaluate_likelihoods.py and train.py --zoo read the same images and AIS settings."""
    from vae_core.zoo.spec import ais_settings, evaluation_settings
    spec = tmp_path / "zoo.toml"
    spec.write_text('[[model]]\nname = "m"\ndataset = "mnist"\ndecoder = "bernoulli"\nbest_images = 7\n'
                    'ais = { num_steps = 10 }\n\n[[model]]\nname = "plain"\ndataset = "mnist"\ndecoder = "bernoulli"\n')
    assert evaluation_settings(spec, "m") == {"best_images": 7, "ais": {"num_steps": 10}}
    assert ais_settings(spec, "m") == {"num_steps": 10}
    assert evaluation_settings(spec, "plain") == {} and ais_settings(spec, "plain") is None
    assert evaluation_settings(spec, "not listed") == {}


@shipped
def test_every_shipped_ais_estimate_was_made_at_the_setting_its_zoo_entry_asks_for():
    """zoo.toml is how an estimate is reproduced: an entry whose ``ais`` line says another setting than its eval.json
    was made at (a line changed without the evaluation it asks for) would reproduce another number."""
    from vae_core.zoo.checkpoints import scan
    from vae_core.zoo.spec import read_spec, split_entry

    entries = {e["name"]: split_entry(e)[2].get("ais") for e in read_spec(DEFAULT_SPEC)}
    wrong = {}
    for c in scan(DEFAULT_ZOO)[0]:
        b = c.evaluation.log_likelihood if c.evaluation else None
        if c.name in entries and b is not None and b.method == "ais":
            asked = settings_for(c.config.latent_dim, entries[c.name])
            if b.settings != asked:
                wrong[c.name] = {"zoo.toml": asked, "eval.json": b.settings}
    assert wrong == {}
