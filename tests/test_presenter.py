"""Presenter mode and the traps of issue 20, in a real browser: `streamlit run serve.py` on loopback over the shipped
zoo (./checkpoints), Debian's Chromium at 1280x720 through Playwright. In presenter mode every named board set and
every story step fits the screen without scrolling, no visible text is under presenter.TEXT_PX, the board's key
numbers are at least 32 px, the sidebar is hidden and the sigma colour bar's ticks do not overlap. Keys work after a
click; a click on the latent plane moves the red cross with the decoded panel; the drawing toolbar leaves the image
switch clickable. One server for the module; every wait is for the condition a test checks (explorer.browser's
wait_for / visit)."""
from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import parse_qs, urlencode, urlparse

import numpy as np
import pytest
from apptest_pages import open_page
from streamlit.testing.v1 import AppTest

from explorer import board, context, pages, presenter, story
from explorer.access import LOCKED_ENV
from explorer.browser import CHROMIUM, chromium, streamlit_server, visit, wait_for
from explorer.compute.images import ColorScale
from vae_core.files.names import DEFAULT_ZOO
from vae_core.zoo.checkpoints import scan

SHIPPED = DEFAULT_ZOO  # the zoo a presenter shows: the named sets need its models


def _named_sets() -> list[tuple[str, str, list[str]]]:
    """(dataset, title, members) of every named board set the shipped zoo offers."""
    if not (SHIPPED / "index.json").is_file():
        return []
    checkpoints = scan(SHIPPED)[0]
    names, datasets = [c.name for c in checkpoints], sorted({c.dataset for c in checkpoints})
    return [(d, title, members) for d in datasets for title, members in board.model_sets(names, d)]


NAMED_SETS = _named_sets()

# Every visible text node under the page's main block: its computed size; the scroll extents; the sidebar.
MEASURE = """() => {
  const main = document.querySelector('[data-testid="stMain"]');
  const texts = [];
  const walker = document.createTreeWalker(main, NodeFilter.SHOW_TEXT);
  while (walker.nextNode()) {
    const node = walker.currentNode, text = node.textContent.trim(), el = node.parentElement;
    if (!text || el.closest('[role="tooltip"], script, style')) continue;
    const range = document.createRange(); range.selectNodeContents(node);
    const shown = [...range.getClientRects()].some(r => r.width > 1 && r.height > 1);
    const style = getComputedStyle(el);
    if (!shown || style.visibility === 'hidden' || style.display === 'none') continue;
    texts.push([text.slice(0, 50), parseFloat(style.fontSize), el.tagName]);
  }
  const scrollers = [...document.querySelectorAll('*')].filter(e => {
    const s = getComputedStyle(e);
    return ['auto', 'scroll'].includes(s.overflowY) && e.scrollHeight > e.clientHeight + 1
      && !e.closest('[data-testid="stVegaLiteChart"], [data-testid="stDataFrame"]'); })
    .map(e => (e.getAttribute('data-testid') || e.tagName) + ' ' + e.scrollHeight + '>' + e.clientHeight);
  const sidebar = document.querySelector('[data-testid="stSidebar"]');
  return {texts, scrollers, docHeight: document.documentElement.scrollHeight, view: window.innerHeight,
          sidebar: !!sidebar && sidebar.getBoundingClientRect().width > 0
            && getComputedStyle(sidebar).display !== 'none',
          numbers: [...document.querySelectorAll('.board-head .big')]
            .map(e => parseFloat(getComputedStyle(e).fontSize)),
          ticks: [...document.querySelectorAll('.colorbar .tick')].map(e => { const r = e.getBoundingClientRect();
            return [r.left, r.right, r.top, r.bottom]; }),
          vega: document.querySelectorAll('[data-testid="stMain"] [data-testid="stVegaLiteChart"]').length,
          statics: [...document.querySelectorAll('.static-chart > :is(svg, img)')].map(e =>
            [e.getBoundingClientRect().width, parseFloat(e.getAttribute('width'))]),
          exceptions: document.querySelectorAll('[data-testid="stException"]').length};
}"""


@pytest.fixture(scope="module")
def app():
    if not (SHIPPED / "index.json").is_file():
        pytest.skip(f"the shipped zoo is not at {SHIPPED}")
    if not Path(CHROMIUM).is_file():
        pytest.skip(f"{CHROMIUM} is missing: apt-get install chromium to run browser tests")
    pytest.importorskip("playwright.sync_api", reason="the playwright Python package is not installed")
    with streamlit_server(SHIPPED, timeout=120) as (url, _), chromium(presenter.VIEWPORT) as page:
        yield url, page


# The page has drawn all it shows in its own type: its fonts loaded (they set the text's height), every picture of
# the main block loaded, every chart rendered (its axes' text is measured too).
COMPLETE = """() => document.fonts.status === 'loaded'
  && [...document.querySelectorAll('[data-testid="stMain"] img')]
    .every(i => i.complete && i.naturalWidth > 0)
  && [...document.querySelectorAll('[data-testid="stVegaLiteChart"]')]
    .every(c => c.querySelector('svg.marks, canvas'))"""


def measure(page, url: str, ready=None) -> dict:
    """Open ``url``, wait until the page has run, drawn its pictures and charts and ``ready()`` (if given) passes,
    and measure it."""
    def complete():
        assert page.evaluate(COMPLETE), "pictures or charts not drawn yet"
        if ready:
            ready()
        return page.evaluate(MEASURE)
    return visit(page, url, timeout=240, check=complete)


def assert_presentable(found: dict, what: str, fits: bool = True) -> None:
    assert found["exceptions"] == 0, what
    small = [t for t in found["texts"] if t[1] < presenter.TEXT_PX - 0.01]
    assert small == [], f"{what}: text under {presenter.TEXT_PX} px: {small[:8]}"
    assert found["texts"], what
    assert not found["sidebar"], f"{what}: the sidebar is shown"
    assert not fits or found["docHeight"] <= found["view"] and found["scrollers"] == [], \
        f"{what}: scrolls ({found['docHeight']} px > {found['view']}, {found['scrollers']})"


@pytest.mark.browser
@pytest.mark.parametrize("dataset,title,members", NAMED_SETS, ids=[f"{d}: {t}" for d, t, _ in NAMED_SETS])
def test_every_named_board_set_fits_a_projector_in_large_type(app, dataset, title, members):
    url, page = app
    query = urlencode([("dataset", dataset), *[("models", m) for m in members], (presenter.KEY, "true")])
    def heads_drawn():
        assert page.locator(".board-head").count() == min(len(members), board.MAX_COLUMNS)
    found = measure(page, f"{url}/board?{query}", heads_drawn)
    assert_presentable(found, title)
    assert len(found["numbers"]) == 2 * min(len(members), board.MAX_COLUMNS)
    assert min(found["numbers"]) >= 32, found["numbers"]
    ticks = sorted(found["ticks"])
    assert len(ticks) >= 2 or not any("sigma" in m for m in members)
    assert all(a[1] <= b[0] for a, b in zip(ticks, ticks[1:], strict=False)), f"{title}: colour-bar ticks overlap"


CHART_STEPS = {"elbo", "sigma", "bounds", "zoo"}  # the steps whose figure is a chart on the shipped zoo


@pytest.mark.browser
@pytest.mark.parametrize("slug", list(story.BY_SLUG))
def test_every_story_step_fits_a_projector_in_large_type(app, slug):
    """Its charts are SVG pictures drawn on the server (no Vega code to load), at their own size: the font sizes
    measured in them are the sizes the room sees."""
    url, page = app
    found = measure(page, f"{url}/story?{story.STEP_KEY}={slug}&{presenter.KEY}=true", lambda: _story_at(page, slug))
    assert_presentable(found, slug)
    assert found["vega"] == 0 and len(found["statics"]) == (slug in CHART_STEPS), found["statics"]
    assert all(abs(shown - drawn) < 0.5 for shown, drawn in found["statics"]), f"{slug}: a chart scaled"


@pytest.mark.browser
def test_the_gap_view_in_presenter_mode_is_in_large_type(app):
    """Sample's gap view (a row of reconstructions above a row of samples per model) scrolls with many models, but
    its text is a room's."""
    url, page = app
    query = urlencode([("models", "mnist-gaussian-pixel"), ("models", "mnist-gaussian-fixed"), ("view", "Gap view"),
                       (presenter.KEY, "true")])
    def pictures():
        assert page.locator('[data-testid="stMain"] img').count() >= 4
    found = measure(page, f"{url}/sample?{query}", pictures)
    assert_presentable(found, "gap view", fits=False)
    assert page.locator('[data-testid="stMain"] img').count() >= 4


@pytest.mark.browser
def test_embed_alone_is_presenter_mode_and_the_switch_says_so(app):
    url, page = app
    switch = page.locator(f'.st-key-{presenter.EMBEDDED_KEY} input[type="checkbox"]')
    found = measure(page, f"{url}/story?embed=true&{story.STEP_KEY}=samples", lambda: _story_at(page, "samples"))
    assert_presentable(found, "embedded story")
    assert switch.is_checked() and switch.is_disabled()


@pytest.mark.browser
def test_the_switch_turns_presenter_mode_on_and_off_and_writes_the_url(app):
    url, page = app
    found = measure(page, f"{url}/story?{story.STEP_KEY}=elbo", lambda: _story_at(page, "elbo"))
    assert found["sidebar"]

    def sidebar_shown(shown: bool):
        assert page.evaluate(MEASURE)["sidebar"] == shown, f"the sidebar is {'not ' if shown else ''}shown"
    page.locator(f'.st-key-{presenter.KEY} label').click()
    page.wait_for_url(re.compile(rf"{presenter.KEY}=true"))
    wait_for(page, sidebar_shown, False)
    page.locator(f'.st-key-{presenter.KEY} label').click()
    page.wait_for_url(lambda u: f"{presenter.KEY}=" not in u)
    wait_for(page, sidebar_shown, True)


@pytest.mark.browser
def test_a_bad_presenter_value_gets_a_note_and_the_page_still_draws(app):
    url, page = app
    def noted_and_drawn():
        notes = page.locator('[data-testid="stAlertContentInfo"]').all_inner_texts()
        assert any(f"{presenter.KEY}=<b>" in n for n in notes), notes
        assert page.locator(".board-head").count() >= 2
    visit(page, f"{url}/board?{presenter.KEY}=%3Cb%3E", check=noted_and_drawn)


def _at_step(slug: str):
    """A URL test: the story shows ``slug`` (the first step, the default, leaves the URL without ?step=)."""
    return lambda url: parse_qs(urlparse(url).query).get(story.STEP_KEY, [story.STEPS[0].slug])[0] == slug


def _story_at(page, slug: str) -> None:
    """The story has run at step ``slug``: the URL names it, its heading is drawn and its buttons (so their keys)
    are live."""
    assert _at_step(slug)(page.url), page.url
    heading = page.locator('[data-testid="stMain"] h3').first.inner_text()
    assert heading.startswith(story.BY_SLUG[slug].title.split(".")[0] + "."), (slug, heading)
    assert page.locator('[data-testid="stException"]').count() == 0
    assert page.locator(".st-key-story_next button").first.is_enabled()


@pytest.mark.browser
def test_story_keys_work_after_a_click_on_a_step_name(app):
    """Click a step's name, then press the right arrow: the story moves on (not only the focus ring)."""
    url, page = app
    visit(page, f"{url}/story?{story.STEP_KEY}=elbo", check=lambda: _story_at(page, "elbo"))
    page.locator(f'.st-key-{story.STEP_KEY} button', has_text=re.compile("^sigma$")).click()
    page.wait_for_url(_at_step("sigma"))
    wait_for(page, _story_at, page, "sigma")
    after = story.neighbour("sigma", 1)
    page.keyboard.press("ArrowRight")
    page.wait_for_url(_at_step(after), timeout=30_000)
    wait_for(page, _story_at, page, after)
    page.locator('.st-key-story_previous button').first.click()
    page.wait_for_url(_at_step("sigma"))
    wait_for(page, _story_at, page, "sigma")
    page.keyboard.press("ArrowLeft")
    page.wait_for_url(_at_step("elbo"), timeout=30_000)


@pytest.mark.browser
def test_board_keys_work_after_a_click_on_a_button(app):
    url, page = app
    visit(page, f"{url}/board", check=lambda: _board_at(page, 0))
    page.locator('.st-key-board_next button').first.click()
    page.wait_for_url(re.compile(rf"{board.IMAGE_KEY}={board.TILES}\b"))
    wait_for(page, _board_at, page, board.TILES)
    page.keyboard.press(board.SHORTCUTS["next"].lower())
    page.wait_for_url(re.compile(rf"{board.IMAGE_KEY}={2 * board.TILES}\b"), timeout=30_000)


def _board_at(page, first: int) -> None:
    """The board has run from test image ``first``: its number field shows it, it drew, and its buttons (so their
    keys) are live."""
    assert page.locator(f'.st-key-{board.IMAGE_KEY} input').input_value() == str(first)
    assert page.locator('[data-testid="stException"]').count() == 0
    assert page.locator(".board-head").count() and page.locator('[data-testid="stMain"] img').count()
    assert page.locator(".st-key-board_next button").first.is_enabled()


CROSS = '[data-testid="stVegaLiteChart"] g.mark-symbol path[stroke="red"], ' \
        '[data-testid="stVegaLiteChart"] g.mark-symbol path[fill="red"]'


def _centre(box: dict) -> np.ndarray:
    return np.array([box["x"] + box["width"] / 2, box["y"] + box["height"] / 2])


@pytest.mark.browser
def test_a_click_on_the_latent_plane_moves_the_cross_at_once(app):
    """The red cross marks the decoded z: after a click it sits on the clicked point in the same run."""
    url, page = app
    points = page.locator('[data-testid="stVegaLiteChart"] g.mark-symbol path[aria-label*="index"]')
    cross = page.locator(CROSS).first

    def plotted():
        assert points.count() > 100, points.count()
        assert cross.count()
        return _picked(page)
    before = visit(page, f"{url}/latent?models=mnist-gaussian-pixel-2d", check=plotted)
    start = _centre(cross.bounding_box())
    boxes = [points.nth(i).bounding_box() for i in range(0, points.count(), 37)]
    far = max(boxes, key=lambda b: np.linalg.norm(_centre(b) - start))  # a point well away from the cross
    page.mouse.click(*_centre(far))

    def decoded_the_clicked_point():  # the origin names another image (the click's run has been) ...
        picked = _picked(page)
        assert picked != before, f"still test image #{before}"
        return picked
    picked = wait_for(page, decoded_the_clicked_point)
    point = page.locator(f'[data-testid="stVegaLiteChart"] g.mark-symbol path[aria-label$="index: {picked}"]')
    assert np.linalg.norm(_centre(cross.bounding_box()) - _centre(point.first.bounding_box())) < 4  # ... and the cross


def _picked(page) -> int:
    """The test image the decoded panel says its z is from."""
    found = re.search(r"Decoded z\s*from test image #(\d+)", page.locator('[data-testid="stMain"]').inner_text())
    assert found, "the decoded panel names no test image"
    return int(found.group(1))


def _overlap(a: dict, b: dict) -> bool:
    return (a["x"] < b["x"] + b["width"] and b["x"] < a["x"] + a["width"] and a["y"] < b["y"] + b["height"]
            and b["y"] < a["y"] + a["height"])


@pytest.mark.browser
def test_the_drawing_toolbar_leaves_the_image_switch_clickable(app):
    """Hovering the canvas shows its toolbar above it: clear of the Test sample / Upload / Draw switch, which a hand
    moving up from the canvas must still be able to click."""
    url, page = app
    options = page.locator('.st-key-image_source button')

    def canvas_and_switch():
        assert page.locator(".dc-canvas.upper-canvas").first.is_visible()
        assert options.count() == 3
    visit(page, f"{url}/reconstruct?image_source=Draw", check=canvas_and_switch)
    page.locator(".dc-canvas.upper-canvas").first.hover()  # the drawing layer (Playwright sees into its shadow root)
    toolbar = page.locator(".dc-toolbar-card").first
    page.wait_for_function("(el) => getComputedStyle(el.parentElement).opacity === '1'", arg=toolbar.element_handle())
    bar = toolbar.bounding_box()
    assert options.count() == 3
    assert [o.inner_text() for o in options.all() if _overlap(o.bounding_box(), bar)] == []
    upload = page.locator('.st-key-image_source button', has_text="Upload").bounding_box()
    target = (min(upload["x"] + upload["width"] - 4, bar["x"] + 6), upload["y"] + upload["height"] / 2)
    page.mouse.move(*target, steps=8)  # from the canvas up to the switch, as a hand moves
    page.mouse.click(*target)
    page.wait_for_url(re.compile(r"image_source=Upload"), timeout=30_000)


@pytest.mark.parametrize("page", presenter.PAGES)
def test_a_locked_public_server_allows_presenter_mode(zoo, monkeypatch, page):
    """Presenter mode only changes how a page looks, so a locked server (VAE_ZOO_LOCKED) allows it: the switch is on
    and the page's style is sent, with no exception and no note."""
    monkeypatch.setenv(LOCKED_ENV, "1")
    at = open_page(page, {}, {presenter.KEY: "true"})
    assert at.toggle(key=presenter.KEY).value is True
    assert any("stSidebar" in h.value and "display:none" in h.value for h in at.html)
    assert not [i.value for i in at.info if i.value.startswith("The link's")]


@pytest.mark.parametrize("page", presenter.PAGES)
def test_presenter_mode_is_off_unless_asked_for(zoo, page):
    at = open_page(page)
    assert at.toggle(key=presenter.KEY).value is False
    assert not any("stSidebar" in h.value for h in at.html)


@pytest.mark.parametrize("values,count", [((1e-9, 1.0), 3), ((1e-3, 0.5), 3), ((2e-3, 3e-3), 3), ((1e-30, 1e3), 5)])
def test_log_colour_bar_ticks_are_at_most_count_with_both_ends(values, count):
    scale = ColorScale(*values, log=True)
    ticks = scale.ticks(count)
    assert 2 <= len(ticks) <= count and ticks == sorted(ticks)
    assert values[0] * 0.999 <= ticks[0] and ticks[-1] <= values[1] * 1.001



def _sidebar_widgets(at) -> int:
    return sum(len(getattr(at.sidebar, kind)) for kind in ("text_input", "selectbox", "multiselect", "number_input"))


SELECTION = {"dataset": "mnist", "models": ["mnist-gaussian-shared", "mnist-gaussian-fixed"], "seed": "3"}


def _context(at) -> tuple:
    ctx = at.session_state[context.CONTEXT_KEY]
    return ctx.dataset, [c.name for c in ctx.selected], ctx.seed


@pytest.mark.parametrize("page", presenter.PAGES)
def test_presenter_mode_builds_no_sidebar_and_keeps_the_selection(zoo, monkeypatch, page):
    """The sidebar presenter mode hides is not built (its widgets cost a fresh tab about 300 ms), yet the page gets
    the link's selection, and switching presenter mode off brings the sidebar back holding it, as on and off again
    do."""
    monkeypatch.setattr(context, "forget", lambda: None)  # the run's context stays for the test to read
    expected = (SELECTION["dataset"], SELECTION["models"], int(SELECTION["seed"]))
    at = open_page(page, SELECTION, {presenter.KEY: "true"})
    assert _sidebar_widgets(at) == 0 and _context(at) == expected
    for on in (False, True, False):
        at.toggle(key=presenter.KEY).set_value(on).run()
        assert not at.exception and _context(at) == expected
        assert (_sidebar_widgets(at) == 0) is on
    assert at.sidebar.multiselect(key="models").value == SELECTION["models"]
    assert at.sidebar.number_input(key="seed").value == 3


def test_a_page_without_a_presenter_switch_draws_the_sidebar_in_a_presenting_session(zoo):
    at = open_page("board", SELECTION, {presenter.KEY: "true"})
    at.switch_page(pages.page("overview").script)
    at.run()
    assert not at.exception and at.sidebar.multiselect(key="models").value == SELECTION["models"]


BAD_LINKS = {  # a link's bad selection in presenter mode -> what the page is given instead
    "an unknown dataset": ({"dataset": "cifar"}, "mnist"),
    "an unknown model": ({"models": ["nope", "mnist-gaussian-fixed"]}, ["mnist-gaussian-fixed"]),
    "a seed that is no number": ({"seed": "abc"}, 0),
}


@pytest.mark.parametrize(("link", "given"), BAD_LINKS.values(), ids=list(BAD_LINKS))
def test_a_bad_link_in_presenter_mode_gives_the_nearest_selection(zoo, monkeypatch, link, given):
    """The links' checks run before the sidebar, drawn or not: a note, and the page draws (a fresh tab on the Board)."""
    monkeypatch.setattr(context, "forget", lambda: None)
    at = AppTest.from_file(str(pages.APP), default_timeout=120)
    at.switch_page(pages.page("board").script)
    at.query_params.update({**link, presenter.KEY: "true"})
    at.run()
    assert not at.exception and given in _context(at) and _sidebar_widgets(at) == 0
    assert any(i.value.startswith("The link's") for i in at.info)
