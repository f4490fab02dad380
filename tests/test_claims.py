"""The zoo's claims against the shipped checkpoints: every sentence the findings (explorer.claims.CLAIMS_DOC) state
about likelihood against samples and about a blank canvas is the one explorer.claims builds from checkpoints/ now,
the findings' tables are what scripts.findings_table prints, and the claims each page makes on its default models
hold for those models. Retraining a model changes the files; these tests then fail until the findings say what the
files say.
No dataset needed: everything here reads checkpoints/ and the sample embedded in the package."""
from __future__ import annotations

import json
import subprocess
import sys

import pytest

from explorer import board, claims, context, story, tables
from vae_core.files.names import DEFAULT_ZOO
from vae_core.zoo.checkpoints import load_model, scan

ROOT = DEFAULT_ZOO.parent
CHECKPOINTS = scan(DEFAULT_ZOO)[0] if DEFAULT_ZOO.is_dir() else []
DATASETS = sorted({c.dataset for c in CHECKPOINTS})
needs_zoo = pytest.mark.skipif(not CHECKPOINTS, reason="no shipped checkpoints/ in this checkout")
pytestmark = needs_zoo


def words(text: str) -> str:
    """Text with its line breaks and runs of spaces as single spaces (the findings wrap their lines)."""
    return " ".join(text.split())


@pytest.fixture(scope="module")
def findings_doc() -> str:
    return words((ROOT / claims.CLAIMS_DOC).read_text())


@pytest.fixture(scope="module")
def frame():
    return tables.leaderboard(CHECKPOINTS)


@pytest.fixture(scope="module")
def blank_verdicts() -> list[claims.BlankVerdict]:
    """A blank canvas through every shipped checkpoint, as the Draw verdict computes it (seed 0)."""
    return [claims.blank_verdict(c, load_model(c.path)) for c in CHECKPOINTS]


# ------------------------------------------------------------------------------------------------ the findings
def test_the_findings_says_where_a_blank_canvas_outscores_real_images(findings_doc, blank_verdicts):
    assert words(claims.blank_canvas_sentence(blank_verdicts)) in findings_doc


def test_the_findings_findings_on_likelihood_against_samples_are_the_zoos(findings_doc, frame):
    sentences = claims.findings(frame)
    assert len(sentences) >= 2 * len(DATASETS)  # the pair and the worst samples of each dataset
    for sentence in sentences:
        assert words(sentence) in findings_doc, sentence


def test_the_findings_tables_are_what_findings_table_prints(findings_doc):
    done = subprocess.run([sys.executable, "-m", "scripts.findings_table", str(DEFAULT_ZOO)], cwd=ROOT,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    lines = [line for line in done.stdout.splitlines() if line.strip()]
    missing = [line for line in lines if words(line) not in findings_doc]
    assert not missing, f"{len(missing)} of {len(lines)} lines differ from {claims.CLAIMS_DOC}, the first: {missing[0]}"


def test_no_sentence_says_the_blank_canvas_outscores_under_every_likelihood_unless_it_does(findings_doc,
                                                                                           blank_verdicts):
    """The sentence the issue found false for the conv models may only come back when it is true."""
    if not all(v.outscores for v in blank_verdicts if v.outscores is not None):
        assert "outscores real digits under every likelihood" not in findings_doc


# ------------------------------------------------------------------------------------------------ the defaults
def default_selection(dataset: str) -> list:
    names = context.default_models(CHECKPOINTS, dataset)
    return [c for c in CHECKPOINTS if c.name in names]


@pytest.mark.parametrize("dataset", DATASETS)
def test_the_default_models_are_mlp_and_the_boards_first_set(dataset):
    chosen = default_selection(dataset)
    assert {c.config.architecture for c in chosen} == {"mlp"}
    title, members = board.model_sets([c.name for c in CHECKPOINTS if c.dataset == dataset], dataset)[0]
    assert title == next(iter(board.MODEL_SETS)) and members == context.default_models(CHECKPOINTS, dataset)


@pytest.mark.parametrize("dataset", DATASETS)
def test_a_blank_canvas_outscores_real_images_under_every_default_model(dataset, blank_verdicts):
    """What the Draw input shows on its default models: the blank canvas above the test set's mean ELBO."""
    names = {c.name for c in default_selection(dataset)}
    shown = [v for v in blank_verdicts if v.name in names]
    assert shown and all(v.outscores for v in shown), [(v.name, v.blank_elbo, v.test_elbo) for v in shown]


@pytest.mark.parametrize("dataset", DATASETS)
def test_on_the_default_models_the_highest_likelihood_does_not_have_the_best_decoder_means(dataset, frame):
    """The board's point (explorer/board.py): the column with the largest likelihood need not have the best
    samples; on the default set it has not, by the FD of decoder means, among the 8-bit models."""
    names = [c.name for c in default_selection(dataset)]
    rows = frame[frame["model"].isin(names) & (frame["group"] != tables.GROUPS["binary"])]
    best = rows.loc[rows["bits/dim"].idxmin()]
    assert best["FD sample means"] > rows["FD sample means"].min(), rows[["model", "bits/dim", "FD sample means"]]


# ------------------------------------------------------------------------------------------------ the story
@pytest.mark.parametrize("dataset", DATASETS)
@pytest.mark.parametrize("slug", ["samples", "conv"])
def test_the_story_heads_its_comparisons_with_what_was_measured(dataset, slug, frame):
    step = story.BY_SLUG[slug]
    heading = story.heading(step, CHECKPOINTS, dataset)
    assert heading != step.title  # measured on this zoo, not the step's fixed name
    if slug == "samples":
        rows = frame.set_index("model", drop=False)
        pair = [rows.loc[f"{dataset}-{s}"] for s in story.SEED_PAIR]
        verdict = claims.pair_verdict(*pair)
        assert heading.endswith(story.SAMPLES_HEADINGS[verdict]) or verdict == "mixed"


@pytest.mark.parametrize("dataset", DATASETS)
def test_where_the_two_fds_disagree_the_story_says_both(dataset, frame):
    """Fashion-MNIST's per-pixel model: better full samples, worse decoder means than sigma = 0.1 (eval.json)."""
    rows = frame.set_index("model", drop=False)
    a, b = (rows.loc[f"{dataset}-{s}"] for s in story.SEED_PAIR)
    found = claims.compare_fds(a, b)
    sentence = claims.pair_sentence(a, b)
    for what, (_, mine, theirs) in found.items():
        assert f"FD of {what} {mine:.0f} against {theirs:.0f}" in sentence
    if len({higher for higher, _, _ in found.values()}) == 2:
        assert "only" in sentence and "Likelihood up:" in story.heading(story.BY_SLUG["samples"], CHECKPOINTS,
                                                                         dataset)


@pytest.mark.parametrize("dataset", DATASETS)
def test_the_raw_step_shows_a_run_that_lived_and_heads_it_with_its_own_numbers(dataset):
    """Seed 000's figure on raw pixels: the shipped zoo has a per-pixel run that trained all its epochs, beside
    sigma = 0.1 on the same pixels; the heading's words follow eval.json, read here without explorer.claims."""
    kept, fixed = story.kept_pair(CHECKPOINTS, dataset)
    assert kept is not None and fixed is not None, "the zoo has no raw per-pixel run that lived, or no partner"
    assert len(kept.history_lines) == kept.evaluation.training.epochs and not any(
        r.diverged for r in kept.history_lines)
    raw = {c.name: json.loads((c.path / "eval.json").read_text()) for c in (kept, fixed)}
    a, b = raw[kept.name], raw[fixed.name]
    rec = [a["test"]["mse"] < b["test"]["mse"],
           a["frechet"]["reconstruction_means"] < b["frechet"]["reconstruction_means"]]
    smp = [a["frechet"]["samples"] < b["frechet"]["samples"],
           a["frechet"]["sample_means"] < b["frechet"]["sample_means"]]
    words_for = {(True, True): ("closer", "better"), (False, False): ("further", "worse")}
    heading = story.heading(story.BY_SLUG["raw"], CHECKPOINTS, dataset)
    assert f"reconstructions {words_for.get(tuple(rec), ('mixed',))[0]}" in heading
    assert f"samples {words_for.get(tuple(smp), (None, 'mixed'))[1]}" in heading


@pytest.mark.parametrize("dataset", DATASETS)
def test_the_findings_say_what_the_raw_run_that_lived_measured(dataset, findings_doc):
    kept, fixed = story.kept_pair(CHECKPOINTS, dataset)
    assert words(story.recipe_sentence(kept) + " " + claims.raw_sentence(kept, fixed)) in findings_doc


# ------------------------------------------------------------------------------------------- the overview picture
@pytest.mark.parametrize("dataset", DATASETS)
@pytest.mark.parametrize("means", [False, True])
@pytest.mark.parametrize(("width", "height"), [(470, 260), (640, 190)])  # the Overview's panel, the story's
def test_no_two_point_labels_overlap_and_each_names_one_model(frame, dataset, means, width, height):
    from explorer import charts

    points = tables.quality_points(frame[frame["dataset"] == dataset], means=means)
    for group, members in points.groupby("group"):
        panel = width // 2 if group == tables.GROUPS["binary"] else width
        places = charts.label_places(members, panel, height)
        boxes = [charts.label_box(x, y, text, place) for (x, y), text, place
                 in zip(charts.pixels(members, panel, height), members["label"], places, strict=True)]
        touching = [(a, b) for i, a in enumerate(members["label"]) for j, b in enumerate(members["label"])
                    if i < j and charts.overlap(boxes[i], boxes[j]) > 0]
        assert not touching, (group, touching)
        assert members["label"].is_unique  # three "gaussian-pixel" labels were one name for three models
