"""The guided story (app_pages/story.py over explorer/story.py), run as Streamlit runs it (AppTest) on the tiny zoo:
every step draws one figure or says plainly what the zoo lacks, each step has its own address, previous / next
move through them (by key in Chromium), and bad links get a plain note."""
from __future__ import annotations

import math
from urllib.parse import parse_qs, urlparse

import pandas as pd
import pytest
from apptest_pages import open_page, static_charts
from streamlit.testing.v1 import AppTest

from explorer import story
from vae_core.evaluation.metrics import NUM_DIMS
from vae_core.zoo.checkpoints import scan

SLUGS = [s.slug for s in story.STEPS]


def open_story(sidebar: dict | None = None, own: dict | None = None) -> AppTest:
    return open_page("story", sidebar, own)


def figures(at: AppTest) -> int:
    """Live figures on the page: charts (drawn on the server), and pictures (a side-by-side pair is one figure)."""
    assert not at.get("vega_lite_chart")  # the Story draws no Vega chart, at a desk either
    return len(static_charts(at)) + (1 if len(at.image) else 0)


# ------------------------------------------------------------------------------------------------ logic
@pytest.mark.parametrize(("slug", "move", "expected"), [("elbo", 1, "sigma"), ("elbo", -1, "elbo"), ("zoo", 1, "zoo"),
                                                        ("bounds", -1, "samples"), ("nope", 1, "sigma")])
def test_previous_and_next_stop_at_the_ends(slug, move, expected):
    assert story.neighbour(slug, move) == expected


def test_a_sigma_floor_caps_the_likelihood_of_an_image():
    """Each of NUM_DIMS pixels scores at most -log(sigma_min sqrt(2 pi)) nats (Mattei & Frellsen 2018, sec. 2.1)."""
    assert story.sigma_ceiling(0.05) == pytest.approx(NUM_DIMS * 2.0767, rel=1e-4)
    assert story.sigma_ceiling(1 / math.sqrt(2 * math.pi)) == pytest.approx(0.0, abs=1e-9)


PAIRS = [  # (bits/dim a, FD a, bits/dim b, FD b, what the sentence must say)
    (3.02, 702.0, 6.66, 447.0, "has the higher likelihood (3.02 against 6.66 bits/dim) and the worse samples"),
    (6.66, 447.0, 3.02, 702.0, "has the higher likelihood (3.02 against 6.66 bits/dim) and the worse samples"),
    (4.55, 288.0, 6.80, 365.0, "does not show the gap"),
    (math.nan, 288.0, 6.80, 365.0, "cannot be ranked"),
]


BOTH_FDS = [  # (FD samples a, FD means a, FD samples b, FD means b): a has the higher likelihood
    (702.0, 792.0, 447.0, 386.0, "worse", "and the worse samples"),
    (289.0, 251.0, 365.0, 167.0, "mixed", "the gap shows in the decoder means only"),  # Fashion-MNIST's pair
    (250.0, 150.0, 365.0, 167.0, "better", "does not show the gap"),
]


@pytest.mark.parametrize(("samples_a", "means_a", "samples_b", "means_b", "verdict", "says"), BOTH_FDS)
def test_the_pair_sentence_names_both_fds_and_says_where_they_disagree(samples_a, means_a, samples_b, means_b,
                                                                      verdict, says):
    def row(name, bits, samples, means):
        return pd.Series({"model": name, "dataset": "fashion-mnist", "bits/dim": bits, "estimate": "AIS",
                          "bits/dim (IWAE bound)": math.nan, "FD samples": samples, "FD sample means": means})
    a, b = row("a", 4.21, samples_a, means_a), row("b", 6.80, samples_b, means_b)
    sentence = story.pair_sentence(b, a)
    assert story.pair_verdict(a, b) == verdict and says in sentence
    assert f"FD of full samples {samples_a:.0f} against {samples_b:.0f}" in sentence
    assert f"FD of decoder means {means_a:.0f} against {means_b:.0f}" in sentence


@pytest.mark.parametrize(("bits_a", "fd_a", "bits_b", "fd_b", "says"), PAIRS)
def test_the_pair_sentence_says_what_the_numbers_say(bits_a, fd_a, bits_b, fd_b, says):
    def row(name, bits, fd):
        return pd.Series({"model": name, "dataset": "mnist", "bits/dim": bits, "estimate": "AIS",
                          "bits/dim (IWAE bound)": math.nan, "FD samples": fd})
    assert says in story.pair_sentence(row("a", bits_a, fd_a), row("b", bits_b, fd_b))


# ------------------------------------------------------------------------------------------------ the page
# what each step shows on the tiny zoo: one figure, or a plain note on what is missing
TINY = {"elbo": "figure", "sigma": "figure and note", "raw": "note", "samples": "figure", "bounds": "figure",
        "conv": "note", "zoo": "figure"}


@pytest.mark.parametrize("slug", SLUGS)
def test_each_step_draws_one_figure_or_names_what_is_missing(zoo, slug):
    at = open_story({"dataset": "mnist"}, {story.STEP_KEY: slug})
    step = story.BY_SLUG[slug]
    assert [s.value for s in at.subheader] == [story.heading(step, scan(zoo)[0], "mnist")]
    assert at.segmented_control(key=story.STEP_KEY).value == slug
    assert figures(at) == (0 if TINY[slug] == "note" else 1)
    missing = [i.value for i in at.info if i.icon == ":material/hide_image:"]
    assert len(missing) == (1 if "note" in TINY[slug] else 0), missing
    assert len(at.caption) >= 1  # the step's caption


def test_the_raw_step_names_what_the_zoo_lacks(zoo):
    at = open_story({"dataset": "mnist"}, {story.STEP_KEY: "raw"})
    (note,) = [i.value for i in at.info if i.icon == ":material/hide_image:"]
    assert "mnist-gaussian-pixel-raw-kept" in note and "mnist-gaussian-fixed-raw" in note and "the first" in note


def test_the_conv_step_names_what_the_zoo_lacks(zoo):
    at = open_story({"dataset": "mnist"}, {story.STEP_KEY: "conv"})
    (note,) = [i.value for i in at.info if i.icon == ":material/hide_image:"]
    assert "No MLP model of mnist has a convolutional twin" in note and "gaussian-pixel" in note


@pytest.mark.parametrize("slug", SLUGS)
def test_a_dataset_with_one_model_gets_plain_notes_not_errors(zoo, slug):
    """fashion-mnist in the tiny zoo is a lone Bernoulli model: no 2-D model, no Gaussian, no conv twin."""
    at = open_story({"dataset": "fashion-mnist"}, {story.STEP_KEY: slug})
    assert not at.error and [s.value for s in at.subheader] == [story.heading(story.BY_SLUG[slug], scan(zoo)[0],
                                                                              "fashion-mnist")]
    assert figures(at) + len([i for i in at.info if i.icon == ":material/hide_image:"]) >= 1


def test_next_and_previous_move_the_step_and_its_address(zoo):
    at = open_story()
    at.button(key="story_next").click().run()
    at.button(key="story_next").click().run()
    third = story.STEPS[2].slug
    assert at.segmented_control(key=story.STEP_KEY).value == third and at.query_params[story.STEP_KEY] in (
        third, [third])
    at.button(key="story_previous").click().run()
    assert at.segmented_control(key=story.STEP_KEY).value == "sigma"


BAD_LINKS = [  # (sidebar params, story params, what the note quotes)
    ({}, {story.STEP_KEY: "nope"}, "`step=nope`"),
    ({}, {story.STEP_KEY: ["elbo", "zoo"]}, "`step=elbo&zoo`"),
    ({}, {story.STEP_KEY: "<script>"}, "`step=<script>`"),
    ({"models": ["mnist-nope"]}, {story.STEP_KEY: "samples"}, "`models=mnist-nope`"),
    ({"dataset": "cifar"}, {}, "`dataset=cifar`"),
]


@pytest.mark.parametrize(("sidebar", "own", "quoted"), BAD_LINKS)
def test_a_bad_link_gets_one_plain_note_and_a_step_still_draws(zoo, sidebar, own, quoted):
    at = open_story(sidebar, own)
    assert quoted in at.link_notes
    assert len(at.subheader) == 1


# ------------------------------------------------------------------------------------------------ Chromium
@pytest.mark.browser
def test_arrow_keys_walk_the_story_in_chromium(tiny_zoo):
    from explorer.browser import chromium, drawn, streamlit_server, visit, wait_for

    checkpoints, _ = scan(tiny_zoo)
    headings = {s.slug: story.heading(s, checkpoints, "mnist") for s in story.STEPS}  # the app opens on mnist
    slugs = [s.slug for s in story.STEPS]
    start = slugs.index("samples")
    walk = [("ArrowRight", slugs[start + 1]), ("ArrowRight", slugs[start + 2]), ("ArrowLeft", slugs[start + 1])]
    with streamlit_server(tiny_zoo, env={"OMP_NUM_THREADS": "1"}) as (url, _), \
            chromium((1280, 720)) as page:
        visit(page, f"{url}/story?step=samples", check=lambda: _on_step(page, "samples", headings))
        for key, slug in walk:
            page.keyboard.press(key)
            wait_for(page, _on_step, page, slug, headings)
        drawn(page)


def _on_step(page, slug: str, headings: dict[str, str]) -> None:
    """The story shows ``slug``: in the URL and as the step's heading (``headings``: what each step measured on this
    zoo), its buttons (and so their keys) live."""
    assert parse_qs(urlparse(page.url).query).get(story.STEP_KEY) == [slug], page.url
    assert headings[slug] in page.locator('[data-testid="stMain"]').inner_text()
    assert page.locator(".st-key-story_next button").first.is_enabled()
