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
from vae_core.model.vae import NETWORK_NAMES
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


# ------------------------------------------------------------------------------------ the plain-words paragraphs
def usual(frame, dataset):
    """The MLP models of ``dataset`` on 8-bit pixels at its usual latent size, by decoder (as the findings
    compare them)."""
    return claims.usual_rows(frame, dataset)


def test_the_findings_paragraphs_say_what_the_files_say(findings_doc, frame):
    sentences = claims.paragraph_sentences(frame, CHECKPOINTS)
    assert len(sentences) >= 9 * len(DATASETS)  # gaps, ranking, collapse, sigma, floor, discretized, conv, ...
    missing = [s for s in sentences if words(s) not in findings_doc]
    assert not missing, f"{len(missing)} of {len(sentences)} sentences differ from {claims.CLAIMS_DOC}: {missing[0]}"


def test_the_findings_say_how_far_the_burda_entries_are_from_table_1(findings_doc):
    from vae_core.zoo import ledger

    burda = ledger.entries(CHECKPOINTS, ledger.read_ledger())  # the entries the ledger's rows name
    if not burda:
        pytest.skip("no Burda ledger in this checkout")
    said = [ledger.target_sentence(c.evaluation) for c in burda]
    assert all(s and words(s) in findings_doc for s in said), said
    verdict = ledger.verdict_sentence([c.evaluation for c in burda])  # "Table 1's 86.76 is (not) reached: ..."
    assert verdict and words(verdict) in findings_doc, verdict
    redrawn = ledger.read_binarizations()  # the spread another binarization gives, where it was measured
    spreads = [ledger.binarization_sentence(c.evaluation, ledger.weights_digest(c.path), redrawn) for c in burda]
    assert all(words(s) in findings_doc for s in spreads if s), spreads


@pytest.mark.parametrize("dataset", DATASETS)
def test_the_iwae_bound_is_tightest_for_the_bernoulli_decoder(dataset, frame):
    """"The IWAE bound was loose exactly where decoders are sharp": on the models whose best estimate is shown,
    the Bernoulli decoder's best - IWAE is below every continuous Gaussian's, for 2-D latents and at latent 16."""
    rows = frame[frame["dataset"] == dataset]
    exact = rows[rows["estimate"] == tables.METHODS["quadrature"]].set_index("decoder")
    for group in (exact, claims.ais_gap_rows(frame, dataset).set_index("decoder")):
        gauss = group[group.index.isin(claims.GAUSSIANS)]["best - IWAE"]
        if "bernoulli" in group.index and not gauss.empty:
            assert group.loc["bernoulli", "best - IWAE"] < gauss.min(), group["best - IWAE"]


@pytest.mark.parametrize("dataset", DATASETS)
def test_the_per_pixel_gaussian_has_the_highest_likelihood_and_the_worst_decoder_means(dataset, frame):
    """Two comparisons the findings make in words: the per-pixel Gaussian has the highest log p of the continuous
    Gaussian decoders, and by the FD of decoder means the worst samples of its comparable group."""
    rows = usual(frame, dataset)
    gauss = rows[rows["decoder"].isin(claims.GAUSSIANS)]
    assert gauss["log-lik"].idxmax() == "gaussian-pixel", gauss["log-lik"]
    group = claims.comparable_group(frame, f"{dataset}-gaussian-pixel")
    assert group.loc[group["FD sample means"].idxmax(), "model"] == f"{dataset}-gaussian-pixel"


@pytest.mark.parametrize("dataset", DATASETS)
def test_the_floor_lands_between_and_the_calibrated_sigmas_agree(dataset, frame):
    """"the likelihood lands between the per-pixel and the calibrated Gaussians'", "the three log p lie within
    one standard error of each other", and the learned sigmas are "about 0.1" (within 15%)."""
    rows = usual(frame, dataset)
    calibrated = rows.loc[list(claims.CALIBRATED)]
    assert calibrated["log-lik"].max() < rows.loc[claims.FLOORED, "log-lik"] < rows.loc["gaussian-pixel", "log-lik"]
    spread = calibrated["log-lik"].max() - calibrated["log-lik"].min()
    assert spread < calibrated["± se"].max(), calibrated[["log-lik", "± se"]]
    for decoder in ("gaussian-shared", "gaussian-optimal"):
        assert abs(rows.loc[decoder, "sigma min"] - 0.1) < 0.015, (decoder, rows.loc[decoder, "sigma min"])


@pytest.mark.parametrize("dataset", DATASETS)
def test_the_discretized_gaussian_samples_as_well_as_the_calibrated_ones(dataset, frame):
    """"samples as good as the calibrated Gaussians'" (its FD of decoder means at most theirs) and "its sigma
    collapses on almost no pixel" (under 1% below 0.01)."""
    rows = usual(frame, dataset)
    assert rows.loc[claims.DISCRETE, "FD sample means"] <= rows.loc[list(claims.CALIBRATED), "FD sample means"].max()
    assert rows.loc[claims.DISCRETE, "sigma < 0.01"] < 0.01


def test_the_bernoulli_and_dequantized_per_pixel_runs_never_met_a_non_finite_loss():
    """"The Bernoulli models trained without a non-finite loss"; "the per-pixel Gaussian never produced a
    non-finite loss on dequantized data"."""
    from explorer import raw_runs

    runs = [c for c in CHECKPOINTS if c.decoder in ("bernoulli", "gaussian-pixel") and not raw_runs.is_raw(c)]
    assert runs
    bad = [c.name for c in runs if raw_runs.diverged(c) or raw_runs.skipped_steps(c)]
    assert not bad, bad


@pytest.mark.parametrize("dataset", DATASETS)
def test_changing_the_likelihood_moves_the_fd_more_than_changing_the_architecture(dataset, frame):
    """"changing the likelihood within an architecture moves the FD of sample means by more than changing the
    architecture", stated for Fashion-MNIST (same latent size): the median factors, computed here from the
    leaderboard as scripts.findings_table computes them for its table."""
    rows = frame[(frame["dataset"] == dataset) & (frame["group"] != tables.RAW_GROUP)]
    conv = rows[rows["architecture"] == NETWORK_NAMES["conv"]].set_index("decoder")  # plain conv: the claim's
    mlp = rows[(rows["architecture"] == NETWORK_NAMES["mlp"]) & rows["decoder"].isin(conv.index)]
    mlp = mlp[mlp["latent"] == mlp["latent"].mode().iloc[0]].set_index("decoder")
    if conv.empty or set(conv["latent"]) != set(mlp["latent"]):
        pytest.skip(f"{dataset}'s conv entries use another latent size: the findings make no such claim there")
    fd = "FD sample means"
    decoders = sorted(set(conv.index) & set(mlp.index))

    def factor(a, b):
        return max(a, b) / min(a, b)

    def median(values):
        return sorted(values)[len(values) // 2]

    by_architecture = [factor(mlp.loc[d, fd], conv.loc[d, fd]) for d in decoders]
    by_likelihood = [factor(side.loc[a, fd], side.loc[b, fd]) for side in (mlp, conv)
                     for i, a in enumerate(decoders) for b in decoders[i + 1:]]
    assert median(by_architecture) < median(by_likelihood), (by_architecture, by_likelihood)


@pytest.mark.parametrize("dataset", DATASETS)
def test_under_the_residual_network_every_likelihood_samples_better_and_the_likelihood_still_moves_fd_more(dataset):
    """The findings' verdict on seed 000's claim under a strong network ("in part"): every residual conv entry has a
    lower FD of full samples and of decoder means than its MLP twin, and the median factor between two likelihoods
    within one network exceeds that between the networks at one likelihood (findings_tables.fd_factors)."""
    from explorer import findings_tables

    entries = [e for e in findings_tables.read_entries(DEFAULT_ZOO) if e.evaluation.dataset == dataset]
    pairs = findings_tables.network_pairs(entries).get("resconv", [])
    if not pairs:
        pytest.skip(f"no residual conv entry of {dataset} in the shipped zoo")
    for mlp, res in pairs:
        assert res.frechet.samples < mlp.frechet.samples and res.frechet.sample_means < mlp.frechet.sample_means, (
            res.name, res.frechet, mlp.frechet)
    by_network, _, by_likelihood, _ = findings_tables.fd_factors(pairs)
    assert by_likelihood > by_network


def test_the_findings_say_what_the_instruments_measure_on_the_per_pixel_gaussian(findings_doc):
    """The sigma floor and the stroke / background split on the shipped per-pixel Gaussian (Reconstruct's
    instruments), as scripts.instrument_numbers prints them."""
    from vae_core.base.data import load_sample

    ckpt = next((c for c in CHECKPOINTS if c.name == "mnist-gaussian-pixel"), None)
    if ckpt is None:
        pytest.skip("the zoo has no mnist-gaussian-pixel")
    images = load_sample(ckpt.dataset)[0][:claims.INSTRUMENT_IMAGES]
    assert words(claims.instrument_sentence(ckpt, load_model(ckpt.path), images)) in findings_doc


def test_the_findings_name_the_longer_ais_runs_and_the_rows_ranked_by_iwae(findings_doc, frame):
    assert words(claims.ais_settings_sentence(CHECKPOINTS)) in findings_doc
    assert words(claims.not_best_findings_sentence(frame)) in findings_doc


def test_the_not_best_sentence_names_the_models_that_fall_short_or_says_none_does(frame):
    """A redone estimate cannot leave its model named in the findings: with none flagged the sentence says so."""
    ais = frame.index[frame["estimate"] == tables.METHODS["ais"]]
    clear = frame.assign(**{"not best": ""})
    flagged = clear.copy()
    flagged.loc[ais[0], "not best"] = "a reason"
    assert claims.not_best_findings_sentence(clear).startswith("Every AIS estimate in the zoo is shown as the best")
    said = claims.not_best_findings_sentence(flagged)
    assert said.startswith("AIS estimate not shown as the best") and f"{frame.loc[ais[0], 'model']}: a reason" in said
    assert claims.not_best_findings_sentence(frame.iloc[0:0]) is None


def test_the_findings_cost_is_what_the_files_record(findings_doc):
    assert words(claims.cost_sentence(CHECKPOINTS, DEFAULT_ZOO)) in findings_doc
    said = claims.classifier_sentence()
    assert said is None or words(said) in findings_doc


def test_the_findings_say_what_the_burda_ledger_shows(findings_doc):
    from vae_core.zoo import ledger

    rows = ledger.read_ledger()
    said = [s for c in CHECKPOINTS if c.evaluation is not None for s in ledger.progress_sentences(rows, c.evaluation)]
    if not rows:
        pytest.skip("no Burda ledger in this checkout")
    missing = [s for s in said if words(s) not in findings_doc]
    assert said and not missing, missing[:1]


@pytest.mark.parametrize("dataset", DATASETS)
def test_the_findings_say_where_the_kept_alive_run_collapsed_its_sigma(dataset, findings_doc):
    """Which pixels of the embedded test sample the kept-alive raw run gives sigma < 0.01, as
    scripts.raw_sigma_pixels prints it."""
    from explorer import raw_runs
    from vae_core.base.data import load_sample

    kept = raw_runs.kept_alive(CHECKPOINTS, dataset)
    if kept is None:
        pytest.skip(f"the zoo has no kept-alive raw run of {dataset}")
    said = claims.collapsed_pixels_sentence(kept, load_model(kept.path).eval(), load_sample(dataset)[0])
    assert said and words(said) in findings_doc


def test_the_app_doc_says_what_the_latent_page_shows_for_its_example_image():
    from vae_core.base.data import load_sample

    ckpt = next((c for c in CHECKPOINTS if c.name == "mnist-gaussian-pixel-2d"), None)
    if ckpt is None:
        pytest.skip("the zoo has no mnist-gaussian-pixel-2d")
    said = claims.gap_image_sentence(ckpt.name, load_model(ckpt.path), load_sample(ckpt.dataset)[0])
    assert words(said) in words((ROOT / claims.APP_DOC).read_text())


def test_the_findings_say_how_every_entry_was_trained(findings_doc):
    assert words(claims.training_sentence(CHECKPOINTS)) in findings_doc


def test_the_findings_say_on_which_images_each_number_is_measured_and_how_many_sandwiches_there_are(findings_doc):
    """The header's image counts, the count of AIS estimates with a BDMC sandwich (and those that miss their target),
    and the Burda entries' AIS figures: each rendered from eval.json, so the evaluation in progress cannot leave a
    stale count behind."""
    said = [claims.images_sentence(CHECKPOINTS), claims.sandwich_sentence(CHECKPOINTS),
            claims.burda_ais_sentence(CHECKPOINTS)]
    assert all(said), said
    missing = [s for s in said if words(s) not in findings_doc]
    assert not missing, missing[0]
    assert "AIS on the first 50 otherwise" not in findings_doc  # the hand-typed count it replaces
