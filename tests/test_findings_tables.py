"""The findings' likelihood rows and their sentences as the evaluation fills eval.json in (issue 22 item 4, issue 20
item 2): each AIS row shows its sandwich or "–" where it has none yet, the sentence counts the sandwiches and names
the models that miss their BDMC target, and the MLP-against-network rows compare log p by one estimator on the
same test images for both models. Rules on made-up blocks; the image counts and the IWAE recomputed on the shipped
checkpoints (no dataset needed: the embedded sample holds the first test images)."""
from __future__ import annotations

import dataclasses
import re

import pytest

from explorer import claims
from explorer import findings_tables as ft
from vae_core.files.names import DEFAULT_ZOO
from vae_core.files.schema import BestLogLikelihood, Evaluation, Metrics
from vae_core.zoo.checkpoints import scan

CHECKPOINTS = scan(DEFAULT_ZOO)[0] if DEFAULT_ZOO.is_dir() else []
shipped = pytest.mark.skipif(not CHECKPOINTS, reason="no shipped checkpoints/ in this checkout")

AIS = {"method": "ais", "estimate": -90.0, "estimate_stderr": 4.0, "iwae_k": 1000, "iwae": -91.0,
       "best_minus_iwae": 1.0, "best_minus_iwae_stderr": 0.1, "num_images": 50, "excluded_images": 0}
SANDWICH = {"wider_iwae_k": 20_000, "wider_iwae_scale": 1.5, "best_minus_wider_iwae": -0.08,
            "best_minus_wider_iwae_stderr": 0.11, "bdmc_images": 50, "bdmc_gap": 0.32, "bdmc_gap_stderr": 0.12,
            "bdmc_target": 1.0}


# ------------------------------------------------------------------------------------------ the sandwich columns
@pytest.mark.parametrize(("fields", "wider", "bdmc"), [
    (AIS, "–", "–"),                                                             # no sandwich yet
    ({**AIS, **SANDWICH}, "-0.08 ± 0.11", "0.32 ± 0.12 (≤ 1: met)"),
    ({**AIS, **SANDWICH, "bdmc_gap": 1.05, "bdmc_gap_stderr": 0.15}, "-0.08 ± 0.11", "1.05 ± 0.15 (≤ 1: missed)"),
    ({**AIS, **SANDWICH, "bdmc_gap": 2.5, "bdmc_target": 3.0}, "-0.08 ± 0.11", "2.50 ± 0.12 (≤ 3: met)"),
    ({**AIS, **SANDWICH, "bdmc_images": None, "bdmc_gap": None}, "-0.08 ± 0.11", "–"),  # a wider IWAE, no BDMC
    ({**AIS, **SANDWICH, "bdmc_gap": None, "bdmc_gap_stderr": None, "bdmc_target": 3.0}, "-0.08 ± 0.11",
     "not finite on some of its 50 simulated images (≤ 3: missed)"),  # an eval.json from before the count
    ({**AIS, **SANDWICH, "bdmc_gap": None, "bdmc_gap_stderr": None, "bdmc_nonfinite_images": 13, "bdmc_target": 3.0},
     "-0.08 ± 0.11", "not finite on 13 of its 50 simulated images (≤ 3: missed)"),
    ({**AIS, "method": "quadrature"}, "–", "–"),                                 # exact: no sandwich needed
])
def test_each_likelihood_row_shows_its_sandwich_or_a_dash(fields, wider, bdmc):
    ev = Evaluation(name="m", dataset="mnist", data_kind="binary", test=Metrics(iwae=-95.0),
                    log_likelihood=BestLogLikelihood(**fields))
    cells = dict(zip(ft.LIKELIHOOD_COLUMNS, ft.likelihood_row(ev), strict=True))
    assert (cells["best − wider IWAE"], cells["BDMC gap (target)"]) == (wider, bdmc)
    assert ft.bdmc_cell(ev.log_likelihood) == bdmc


# ------------------------------------------------------------------------------------------ the sandwiches' sentence
def zoo_with(blocks: dict[str, dict]) -> list:
    """The shipped checkpoints, those named given these best-likelihood blocks (eval.json as the evaluation would
    leave it), every other AIS block without a sandwich."""
    bare = {k: None for k in SANDWICH}
    out = []
    for c in CHECKPOINTS:
        b = c.evaluation.log_likelihood if c.evaluation else None
        if b is not None and b.method == "ais":
            b = dataclasses.replace(b, **{**bare, **blocks.get(c.name, {})})
            c = dataclasses.replace(c, evaluation=dataclasses.replace(c.evaluation, log_likelihood=b))
        out.append(c)
    return out


MISSED = {**SANDWICH, "bdmc_gap": 1.05, "bdmc_gap_stderr": 0.15}
GAUSS_MISSED = {**SANDWICH, "bdmc_gap": 6.22, "bdmc_gap_stderr": 0.5, "bdmc_target": 3.0}
NOT_FINITE = {**SANDWICH, "bdmc_gap": None, "bdmc_gap_stderr": None, "bdmc_target": 3.0}  # a bound not finite


@shipped
@pytest.mark.parametrize(("blocks", "says", "names"), [
    ({}, "0 of the {n} models with an AIS estimate have one (none has a sandwich yet).", []),
    ({"mnist-bernoulli": SANDWICH}, "1 of the {n} models with an AIS estimate has one (the other {m}: no sandwich "
     "yet); it meets its BDMC target.", []),
    ({"fashion-mnist-bernoulli": MISSED}, "it misses its BDMC target: fashion-mnist-bernoulli (1.05 ± 0.15 nats "
     "against 1).", ["fashion-mnist-bernoulli"]),
    ({"mnist-gaussian-pixel": NOT_FINITE}, "it misses its BDMC target: mnist-gaussian-pixel (a bound not finite on "
     "some of its 50 simulated images).", []),
    ({"mnist-gaussian-pixel": {**NOT_FINITE, "bdmc_nonfinite_images": 13}}, "it misses its BDMC target: "
     "mnist-gaussian-pixel (a bound not finite on 13 of its 50 simulated images).", []),
    ({"mnist-bernoulli": SANDWICH, "fashion-mnist-bernoulli": MISSED, "mnist-gaussian-pixel": GAUSS_MISSED},
     "3 of the {n} models with an AIS estimate have one (the other {m}: no sandwich yet); 1 of those 3 meet their "
     "BDMC target and 2 miss it:", ["fashion-mnist-bernoulli", "mnist-gaussian-pixel"]),
])
def test_the_sentence_counts_the_sandwiches_and_names_the_models_that_miss_their_target(blocks, says, names):
    zoo = zoo_with(blocks)
    n = sum(1 for c in zoo if c.evaluation and c.evaluation.log_likelihood
            and c.evaluation.log_likelihood.method == "ais")
    sentence = claims.sandwich_sentence(zoo)
    assert says.format(n=n, m=n - len(blocks)) in sentence
    assert sentence.endswith("its targets: 1 nat for binarized pixels, 3 nats for the rest.")
    assert sorted(re.findall(r"([a-z0-9-]+) \([\d.]+ ± [\d.]+ nats against", sentence)) == names


@shipped
def test_with_every_sandwich_in_the_sentence_says_none_is_missing():
    zoo = zoo_with({c.name: SANDWICH for c in CHECKPOINTS})
    sentence = claims.sandwich_sentence(zoo)
    assert "no sandwich yet" not in sentence and "miss" not in sentence and "meet their BDMC target." in sentence


# ------------------------------------------------------------------------------------------ one estimator, same images
def ev(name: str, test: dict | None = None, **block) -> Evaluation:
    t = {"iwae": -100.0, "iwae_k": 1000, "iwae_images": 2000, **(test or {})}
    return Evaluation(name=name, dataset="mnist", data_kind="binary", test=Metrics(**t),
                      log_likelihood=BestLogLikelihood(**{**AIS, **block}) if block is not None else None)


COMMON = [  # (MLP, twin, what ft.common_log_p compares)
    (ev("a"), ev("b", estimate=-95.0), ft.CommonLogP("AIS (lower bound) on the first 50", -90.0, -95.0)),
    (ev("a"), ev("b", best_minus_iwae=-0.5, iwae=-93.0), ft.CommonLogP("IWAE k=1,000 on the first 50", -91.0, -93.0)),
    (ev("a", images_far_below_iwae=3), ev("b"), ft.CommonLogP("IWAE k=1,000 on the first 50", -91.0, -91.0)),
    # different images, no weights to recompute on: the test-set IWAEs where they agree, else nothing
    (ev("a"), ev("b", num_images=20), ft.CommonLogP("IWAE k=1,000 on the first 2,000", -100.0, -100.0)),
    (ev("a"), ev("b", {"iwae_images": 500}, num_images=20), ft.CommonLogP(None)),
    (ev("a", excluded_images=2), ev("b", {"iwae_images": 500}), ft.CommonLogP(None)),  # a flagged image left out
    (ev("a", iwae_k=5000), ev("b", num_images=20), ft.CommonLogP("IWAE k=1,000 on the first 2,000", -100.0, -100.0)),
    (ev("a", iwae_k=5000), ev("b", {"iwae_images": 500}, num_images=20), ft.CommonLogP(None)),  # another k too
    (ev("a", num_images=None), ev("b", {"iwae_k": 5000}), ft.CommonLogP(None)),         # a damaged block
    (ev("a", method="quadrature"), ev("b"), ft.CommonLogP("IWAE k=1,000 on the first 50", -91.0, -91.0)),
]


@pytest.mark.parametrize(("mlp", "other", "expected"), COMMON)
def test_the_two_sides_of_a_comparison_are_one_estimator_on_the_same_images(mlp, other, expected):
    assert ft.common_log_p(mlp, other) == expected


@shipped
def test_recomputed_iwae_is_the_stored_one_on_the_same_images():
    """What a comparison recomputes (the embedded sample's first images, seed 0) is what eval.json's best block
    stored for those images: the same images, the same estimator."""
    ckpt = next(c for c in CHECKPOINTS if c.name == "mnist-bernoulli")
    b = ckpt.evaluation.log_likelihood
    recomputed = ft.iwae_on_first(ckpt.path, b.iwae_k, b.num_images)
    assert recomputed == pytest.approx(b.iwae, abs=1e-4)  # float sums differ in the last bits with the thread count


@shipped
def test_every_shipped_comparison_has_one_estimator_on_images_both_sides_cover():
    entries = ft.read_entries(DEFAULT_ZOO)
    folders = {e.evaluation.name: e.folder for e in entries}
    for network, pairs in ft.network_pairs(entries).items():
        for mlp, other in pairs:
            common = ft.common_log_p(mlp, other, folders)
            assert common.gain is not None, (network, mlp.name, other.name)
            n = int(common.measure.rsplit(" ", 1)[-1].replace(",", ""))
            for side, value in ((mlp, common.mlp), (other, common.other)):
                b = side.log_likelihood
                if common.measure.startswith("IWAE") and b.num_images == n:
                    assert value == b.iwae  # the stored block on exactly those images
                elif common.measure.startswith("AIS"):
                    assert (value, b.num_images) == (b.estimate, n)
                else:  # recomputed on the first n of the images the block covers
                    assert b.num_images > n and value == ft.iwae_on_first(folders[side.name], b.iwae_k, n)


# ------------------------------------------------------------------------------------------ the header's image counts
@shipped
@pytest.mark.parametrize("ckpt", CHECKPOINTS, ids=lambda c: c.name)
def test_the_header_names_the_images_of_every_entrys_numbers(ckpt):
    """Each entry's IWAE k and images and its best estimate's images, read from eval.json, are in the header's
    sentence."""
    sentence = claims.images_sentence(CHECKPOINTS)
    t, b = ckpt.evaluation.test, ckpt.evaluation.log_likelihood
    size = t.num_images

    def first(n):
        return f"all {n:,}" if n == size else f"the first {n:,}"

    assert f"the ELBO on {first(t.num_images)} test images" in sentence
    assert f"k = {t.iwae_k:,} on {first(t.iwae_images)} for" in sentence
    if b is not None:
        method = {"ais": "AIS", "quadrature": "exact quadrature"}[b.method]
        assert f"by {method} on {first(b.num_images + b.excluded_images)} for" in sentence


# ------------------------------------------------------------------------------------------ rewriting the tables
DOC = "# F\n\ntext 1.\n\n**t1**\n\n| a |\n|---|\n| 1 |\n\nmiddle\n\n**t2 (x)**\n\n| b |\n|---|\n| 2 |\n| 3 |\n\nend\n"


@pytest.mark.parametrize(("printed", "expected", "missing"), [
    ("**t1**\n\n| a |\n|---|\n| 9 |\n", DOC.replace("| 1 |", "| 9 |"), []),
    ("**t2 (x)**\n\n| b | c |\n|---|---|\n| 4 | 5 |\n", DOC.replace("| b |\n|---|\n| 2 |\n| 3 |",
                                                                    "| b | c |\n|---|---|\n| 4 | 5 |"), []),
    ("**t3**\n\n| z |\n|---|\n", DOC, ["**t3**"]),          # a new table: placed by hand
    ("  a sentence\n", DOC, []),                              # no table printed: nothing touched
])
def test_the_tables_are_rewritten_under_their_titles_and_nothing_else(printed, expected, missing):
    assert ft.rewrite_tables(DOC, printed) == (expected, missing)


def test_a_tables_median_factor_line_moves_with_its_table_not_with_a_look_alike():
    """The line spread_summary prints under a network table is rewritten with that table: two tables' lines
    differ only in their numbers, so matching them as sentences could swap them."""
    doc = DOC.replace("| 1 |\n", f"| 1 |\n\n{ft.SPREAD} 1.0.\n").replace("| 3 |\n", f"| 3 |\n\n{ft.SPREAD} 3.0.\n")
    printed = f"**t2 (x)**\n\n| b |\n|---|\n| 2 |\n| 3 |\n\n{ft.SPREAD} 1.1.\n"
    assert ft.rewrite_tables(doc, printed) == (doc.replace(f"{ft.SPREAD} 3.0.", f"{ft.SPREAD} 1.1."), [])


PROSE = ("Intro.\n  The zoo's 43 entries are these.\n  Among the 2 models of mnist the worst is a.\n"
         "  Among the 4 models of mnist the worst is b.\n")


@pytest.mark.parametrize("sentences, expected, unplaced", [
    (["The zoo's 45 entries are these."],                                   # numbers moved: the line is replaced,
     PROSE.replace("43", "45"), []),                                        # its indent kept
    (["The zoo's 43 entries are these."], PROSE, []),                       # already there: nothing touched
    (["Nothing like it is in the doc."], PROSE, ["Nothing like it is in the doc."]),  # no line: placed by hand
    (["Among the 3 models of mnist the worst is c."], PROSE,                # two lines match as well: by hand
     ["Among the 3 models of mnist the worst is c."]),
    (["Among the 3 models of mnist the worst is bb."],                      # two match, one better: that one
     PROSE.replace("4 models of mnist the worst is b.", "3 models of mnist the worst is bb."), []),
    (["Among the 2 models of mnist the worst is a.",                        # the one line that is not another
      "Among the 5 models of mnist the worst is b."],
     PROSE.replace("4 models", "5 models"), []),                            # current sentence is replaced
])
def test_sentences_replace_the_one_line_with_their_first_words_and_nothing_else(sentences, expected, unplaced):
    assert ft.rewrite_sentences(PROSE, sentences) == (expected, unplaced)


# ------------------------------------------------------------------------------------------ the decoders' cost
@shipped
@pytest.mark.parametrize("ckpt", [c for c in CHECKPOINTS if c.config.network == "mlp"], ids=lambda c: c.name)
def test_an_mlp_decoders_multiply_adds_are_its_weight_matrices(ckpt):
    """One z through a fully connected decoder: one multiply-add per weight of each matrix, read from the
    safetensors header, as an independent count of what the findings' cost sentence says."""
    from safetensors import safe_open

    from vae_core.files.names import WEIGHTS_NAME

    with safe_open(str(ckpt.path / WEIGHTS_NAME), framework="pt") as f:
        shapes = [f.get_slice(k).get_shape() for k in f.keys() if k.startswith("decoder.") and k.endswith(".weight")]
    assert claims.decoder_multiply_adds(ckpt.path) == sum(a * b for a, b in shapes)
