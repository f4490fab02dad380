"""The presenter's board (app_pages/board.py over explorer/board.py), run as Streamlit runs it (AppTest) on the tiny
zoo, its links checked, and in Chromium at a projector's 1280x720: it fits without scrolling, embedded too, and its
keyboard shortcuts work."""
from __future__ import annotations

import json
import math
from urllib.parse import parse_qs, urlparse

import pytest
from apptest_pages import open_page
from streamlit.testing.v1 import AppTest
from tiny_zoo import NO_SIGMA, TINY_MODELS

from explorer import board, cache, context
from vae_core.zoo.checkpoints import scan

MNIST = sorted(n for n in TINY_MODELS if n.startswith("mnist-"))
THREE = ["mnist-gaussian-pixel", "mnist-gaussian-fixed", "mnist-bernoulli-2d"]


def open_board(sidebar: dict | None = None, own: dict | None = None) -> AppTest:
    return open_page("board", sidebar, own)


def heads(at: AppTest) -> list[str]:
    return [h.proto.body for h in at.get("html") if "<div class='board-head'>" in h.proto.body]


def pictures(at: AppTest) -> list[str]:
    return [u for img in at.image for u in img.value]


def param(at: AppTest, name: str) -> list[str]:
    """A query parameter of the app's URL, as a list (AppTest keeps a single value as a plain string)."""
    value = at.query_params.get(name, [])
    return [value] if isinstance(value, str) else list(value)


# ------------------------------------------------------------------------------------------------ logic
SETS = [  # (names in the zoo, expected set titles)
    (MNIST, ["likelihood against samples", "a calibrated sigma", "bounding the likelihood"]),
    (["mnist-gaussian-pixel", "mnist-gaussian-pixel-raw", "mnist-gaussian-fixed-raw"], ["raw pixels"]),
    (["mnist-gaussian-pixel", "mnist-gaussian-pixel-conv"], ["MLP against conv"]),
    (["mnist-gaussian-shared", "mnist-gaussian-shared-resconv"], ["MLP against residual conv"]),
    (["mnist-bernoulli"], []),
]


@pytest.mark.parametrize(("names", "titles"), SETS)
def test_a_model_set_is_offered_when_two_of_its_models_exist(names, titles):
    sets = board.model_sets(names, "mnist")
    assert [t for t, _ in sets] == titles
    assert all(len(m) >= 2 and set(m) <= set(names) for _, m in sets)


def test_next_set_cycles_and_starts_from_the_first_for_a_free_selection():
    sets = board.model_sets(MNIST, "mnist")
    first, second = sets[0][1], sets[1][1]
    assert board.next_set(["mnist-bernoulli-2d"], sets)[1] == first
    assert board.next_set(first, sets)[1] == second and board.next_set(sets[-1][1], sets)[1] == first
    assert board.next_set(first, []) is None


@pytest.mark.parametrize(("first", "count", "expected"), [(0, 1000, [0, 1, 2]), (998, 1000, [998, 999, 0]),
                                                           (0, 2, [0, 1])])
def test_tiles_wrap_at_the_end_of_the_sample(first, count, expected):
    assert board.tile_indices(first, count) == expected


B = board.BLOCK


@pytest.mark.parametrize(("indices", "expected"), [
    ([0, 1, 2], {0: [(0, 0), (1, 1), (2, 2)]}),
    ([B - 1, B, B + 1], {0: [(0, B - 1)], 1: [(1, 0), (2, 1)]}),  # across a block boundary
    ([999, 0, 1], {999 // B: [(0, 999 % B)], 0: [(1, 0), (2, 1)]}),  # wrapped at the end of the sample
])
def test_tiles_are_read_from_the_cached_blocks_that_hold_them(indices, expected):
    assert board.blocks(indices) == expected


def test_a_column_head_names_a_bound_as_a_bound_and_an_exact_value_as_exact():
    bound = board.headline_html("m", board.Headline(-91.46, 4.1, "IWAE k=1000 (lower bound)", 2000, 125.1, False))
    exact = board.headline_html("m", board.Headline(-139.5, 0.2, "exact (quadrature)", 1000, math.nan, False))
    raw = board.headline_html("m", board.Headline(4019.3, 179.0, "AIS (stochastic lower bound)", 50, 1352, True))
    assert "−91.5" in bound and "IWAE k=1000 (lower bound), 2000 images" in bound and "FD 125" in bound
    assert "exact (quadrature)" in exact and "FD n/a" in exact
    assert "not comparable" in raw
    binary = board.headline_html("m", board.Headline(-91.46, 0.4, "AIS (stochastic lower bound)", 50, 125.1, False,
                                                     True))
    assert "binarized pixels: not comparable with 8-bit" in binary and "not comparable with 8-bit" not in bound
    assert all(board.FD_SHOWN in h for h in (bound, exact, raw, binary))  # which FD: of full samples
    assert "not evaluated" in board.headline_html("m", board.Headline(*[math.nan] * 2, "not evaluated",
                                                                      math.nan, math.nan, False))


# ------------------------------------------------------------------------------------------------ the page
def test_the_board_shows_a_column_per_model_headed_by_its_likelihood_and_fd(zoo):
    """Test that each model gets a head with the leaderboard's number and method, and four rows of pictures."""
    at = open_board({"models": THREE})
    shown = heads(at)
    assert [n for n in THREE if any(f">{n}<" in h for h in shown)] == THREE
    ev = json.loads((zoo / "mnist-gaussian-fixed" / "eval.json").read_text())
    head = next(h for h in shown if ">mnist-gaussian-fixed<" in h)
    # the tiny zoo has no best estimate: the IWAE stands in, named as the bound it is
    shown_iwae = f"{ev['test']['iwae']:,.0f}".replace("-", "\u2212")  # a true minus sign on the board
    assert f"IWAE k={ev['test']['iwae_k']} (lower bound)" in head and shown_iwae in head
    assert f"FD {ev['frechet']['samples']:,.0f}" in head
    # 3 picture rows per model, a sigma row for those with sigma, the input strip and the sigma colour bar
    with_sigma = [n for n in THREE if n not in NO_SIGMA]
    assert len(at.image) == 3 * len(THREE) + len(with_sigma) + 2


def test_more_than_four_models_show_the_first_four_and_say_so(zoo):
    at = open_board({"models": MNIST[:6]})
    assert len(heads(at)) == board.MAX_COLUMNS
    assert f"the first {board.MAX_COLUMNS} of 6" in "\n".join(c.value for c in at.caption)


def test_next_images_moves_the_test_images_and_the_link(zoo):
    at = open_board({"models": THREE})
    before = pictures(at)
    at.button(key="board_next").click().run()
    assert at.number_input(key=board.IMAGE_KEY).value == board.TILES
    assert param(at, board.IMAGE_KEY) == [str(board.TILES)]
    assert pictures(at) != before


def test_back_from_the_first_image_wraps_to_the_end(zoo):
    at = open_board({"models": THREE})
    at.button(key="board_back").click().run()
    assert at.number_input(key=board.IMAGE_KEY).value == len(cache.sample_set("mnist")[0]) - board.TILES


def test_new_samples_moves_the_seed(zoo):
    at = open_board({"models": THREE, "seed": "5"})
    at.button(key="board_samples").click().run()
    assert at.sidebar.number_input(key="seed").value == 6 and param(at, "seed") == ["6"]


def test_next_model_set_replaces_the_selection_and_names_the_set_in_the_link(zoo):
    at = open_board({"models": THREE})
    sets = board.model_sets(MNIST, "mnist")
    for title, members in [*sets, sets[0]]:  # through every set and round again
        at.button(key="board_set").click().run()
        assert at.sidebar.multiselect(key="models").value == members
        assert len(heads(at)) == min(len(members), board.MAX_COLUMNS)
        assert param(at, board.SET_KEY) == [board.set_slug(title)]
        assert any(f"**{title}**" in c.value for c in at.caption)


@pytest.mark.parametrize("title", list(board.MODEL_SETS))
def test_a_link_to_a_named_set_opens_the_board_on_it(zoo, title):
    offered = dict(board.model_sets(MNIST, "mnist"))
    at = open_board({"dataset": "mnist", board.SET_KEY: board.set_slug(title)})
    if title in offered:
        assert at.sidebar.multiselect(key="models").value == offered[title]
        assert any(f"**{title}**" in c.value for c in at.caption)
    else:  # the tiny zoo has too few of its models: a note, and the default selection
        assert f"`{board.SET_KEY}={board.set_slug(title)}`" in at.link_notes
        assert at.sidebar.multiselect(key="models").value == context.default_models(scan(zoo)[0], "mnist")
    assert heads(at), "the board drew no column"


def test_a_set_the_zoo_only_partly_has_shows_its_models_and_names_the_others(zoo):
    title = "likelihood against samples"  # the tiny zoo has no mnist-bernoulli
    lacking = board.missing_from_set(title, MNIST, "mnist")
    assert lacking == ["mnist-bernoulli"]
    at = open_board({"dataset": "mnist", board.SET_KEY: board.set_slug(title)})
    assert any("mnist-bernoulli" in i.value and title in i.value for i in at.info)
    assert len(heads(at)) == len(board.MODEL_SETS[title]) - len(lacking)


def test_changing_the_models_by_hand_takes_the_set_out_of_the_link(zoo):
    at = open_board({"dataset": "mnist", board.SET_KEY: board.set_slug("a calibrated sigma")})
    assert param(at, board.SET_KEY) == ["a-calibrated-sigma"]
    at.sidebar.multiselect(key="models").set_value(THREE).run()
    assert param(at, board.SET_KEY) == [] and at.sidebar.multiselect(key="models").value == THREE


def test_a_link_opens_the_same_board(zoo):
    """Test that models, seed and image in a link reproduce the board: the same pictures from a fresh session."""
    params = {"models": THREE[:2], "seed": "3"}
    first = open_board(params, {board.IMAGE_KEY: "6"})
    again = open_board(params, {board.IMAGE_KEY: "6"})
    assert first.number_input(key=board.IMAGE_KEY).value == 6 and again.sidebar.number_input(key="seed").value == 3
    assert heads(first) == heads(again)
    assert pictures(first) == pictures(again)  # media ids hash the image bytes


BAD_LINKS = [  # (sidebar params, board params, what the note quotes)
    ({"models": ["mnist-nope"]}, {}, "`models=mnist-nope`"),
    ({"models": ["../../etc/passwd", "mnist-gaussian-fixed"]}, {}, "`models=../../etc/passwd`"),
    ({"models": THREE}, {board.IMAGE_KEY: "100000"}, f"`{board.IMAGE_KEY}=100000`"),
    ({"models": THREE}, {board.IMAGE_KEY: "abc"}, f"`{board.IMAGE_KEY}=abc`"),
    ({"models": THREE}, {board.IMAGE_KEY: ["1", "2"]}, f"`{board.IMAGE_KEY}=1&2`"),
    ({"models": THREE, "seed": "-1"}, {}, "`seed=-1`"),
    ({board.SET_KEY: "no-such-set"}, {}, f"`{board.SET_KEY}=no-such-set`"),
    ({board.SET_KEY: ["raw-pixels", "a-calibrated-sigma"]}, {}, f"`{board.SET_KEY}=raw-pixels&a-calibrated-sigma`"),
    ({"dataset": "fashion-mnist", board.SET_KEY: "a-calibrated-sigma"}, {}, f"`{board.SET_KEY}=a-calibrated-sigma`"),
]


@pytest.mark.parametrize(("sidebar", "own", "quoted"), BAD_LINKS)
def test_a_bad_link_gets_one_plain_note_and_the_board_still_draws(zoo, sidebar, own, quoted):
    at = open_board(sidebar, own)
    assert quoted in at.link_notes
    assert heads(at), "the board drew no column"


# ------------------------------------------------------------------------------------------------ Chromium
@pytest.fixture(scope="module")
def server(tiny_zoo):
    """The app on loopback and one Chromium page at 1280x720, for the module (each test opens its own address)."""
    from explorer.browser import chromium, streamlit_server

    with streamlit_server(tiny_zoo, env={"OMP_NUM_THREADS": "1"}) as (url, _), chromium((1280, 720)) as page:
        yield url, page


ELEMENTS = """[...document.querySelectorAll('[data-testid="stMain"] [data-testid="stElementContainer"]')]"""
BOTTOM = f"() => Math.max(...{ELEMENTS}.map(e => e.getBoundingClientRect().bottom))"
RIGHT = f"() => Math.max(...{ELEMENTS}.map(e => e.getBoundingClientRect().right))"


@pytest.mark.browser
@pytest.mark.parametrize("embed", [False, True])
def test_four_models_fit_1280x720_without_scrolling(server, embed):
    """Test that the whole board, four columns of it, lies inside a 1280x720 window (sidebar open, or embedded)."""
    from explorer.browser import visit

    url, page = server
    models = "&".join(f"models={n}" for n in MNIST[:4])

    def fits():
        assert page.locator('[data-testid="stMain"] img').count() >= 4 * 3
        assert page.evaluate(BOTTOM) <= 720 and page.evaluate(RIGHT) <= 1280
        if embed:  # no page padding below the content either: nothing to scroll at all
            main = page.locator('[data-testid="stMain"]')
            assert main.evaluate("e => e.scrollHeight <= e.clientHeight")
    visit(page, f"{url}/board?{models}" + ("&embed=true" if embed else ""), check=fits)


@pytest.mark.browser
def test_keyboard_shortcuts_move_image_seed_and_model_set(server):
    from explorer.browser import visit, wait_for

    # each key, and what the URL holds once its rerun has run (the earlier keys' changes kept); M moves from a
    # selection that is no named set to the first set after it, named in the URL
    title, members = board.next_set(["mnist-gaussian-pixel", "mnist-gaussian-fixed"], board.model_sets(MNIST, "mnist"))
    presses = [(board.SHORTCUTS["next"], {board.IMAGE_KEY: [str(board.TILES)]}),
               (board.SHORTCUTS["samples"], {"seed": ["1"]}),
               (board.SHORTCUTS["set"], {"models": members, board.SET_KEY: [board.set_slug(title)]})]
    url, page = server
    visit(page, f"{url}/board?models=mnist-gaussian-pixel&models=mnist-gaussian-fixed",
          check=lambda: _keys_live(page, {}))
    expected: dict[str, list[str]] = {}
    for key, change in presses:
        page.keyboard.press(key.lower())
        expected |= change
        wait_for(page, _keys_live, page, expected)


def _keys_live(page, expected: dict[str, list[str]]) -> None:
    """The URL holds ``expected``, the board drew, and its buttons (and so their keys) are live."""
    query = parse_qs(urlparse(page.url).query)
    assert {k: query.get(k) for k in expected} == expected, page.url
    assert page.locator('[data-testid="stException"]').count() == 0
    assert page.locator('[data-testid="stMain"] img').count()
    assert page.locator(".st-key-board_next button").first.is_enabled()
