"""Presenter mode and the traps of issue 20, in a real browser: `streamlit run serve.py` on loopback over the shipped
zoo (./checkpoints), Debian's Chromium at 1280x720 through Playwright. In presenter mode every named board set and
every story step fits the screen without scrolling, no visible text is under presenter.TEXT_PX, the board's key
numbers are at least 32 px, the sidebar is hidden and the sigma colour bar's ticks do not overlap. Keys work after a
click; a click on the latent plane moves the red cross with the decoded panel; the drawing toolbar leaves the image
switch clickable. One server for the module; every wait is for a condition (URL, element, script state)."""
from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import parse_qs, urlencode, urlparse

import numpy as np
import pytest
from apptest_pages import open_page

from explorer import board, presenter, story
from explorer.access import LOCKED_ENV
from explorer.browser import CHROMIUM, chromium, streamlit_server, wait_idle
from vae_core.images import ColorScale
from vae_core.zoo import DEFAULT_ZOO, scan

needs_browser = [pytest.mark.browser, pytest.mark.skipif(not Path(CHROMIUM).is_file(), reason=f"{CHROMIUM} is "
                                                         "missing: apt-get install chromium to run browser tests")]
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
          exceptions: document.querySelectorAll('[data-testid="stException"]').length};
}"""


@pytest.fixture(scope="module")
def app():
    if not (SHIPPED / "index.json").is_file():
        pytest.skip(f"the shipped zoo is not at {SHIPPED}")
    pytest.importorskip("playwright.sync_api", reason="the playwright Python package is not installed")
    with streamlit_server(SHIPPED, timeout=120) as (url, _), chromium(presenter.VIEWPORT) as page:
        yield url, page


def visit(page, url: str) -> dict:
    page.goto(url)
    wait_idle(page, 240)
    return page.evaluate(MEASURE)


def assert_presentable(found: dict, what: str, fits: bool = True) -> None:
    assert found["exceptions"] == 0, what
    small = [t for t in found["texts"] if t[1] < presenter.TEXT_PX - 0.01]
    assert small == [], f"{what}: text under {presenter.TEXT_PX} px: {small[:8]}"
    assert found["texts"], what
    assert not found["sidebar"], f"{what}: the sidebar is shown"
    assert not fits or found["docHeight"] <= found["view"] and found["scrollers"] == [], \
        f"{what}: scrolls ({found['docHeight']} px > {found['view']}, {found['scrollers']})"


@pytest.mark.parametrize("dataset,title,members", NAMED_SETS, ids=[f"{d}: {t}" for d, t, _ in NAMED_SETS])
def test_every_named_board_set_fits_a_projector_in_large_type(app, dataset, title, members):
    url, page = app
    query = urlencode([("dataset", dataset), *[("models", m) for m in members], (presenter.KEY, "true")])
    found = visit(page, f"{url}/board?{query}")
    assert_presentable(found, title)
    assert len(found["numbers"]) == 2 * min(len(members), board.MAX_COLUMNS)
    assert min(found["numbers"]) >= 32, found["numbers"]
    ticks = sorted(found["ticks"])
    assert len(ticks) >= 2 or not any("sigma" in m for m in members)
    assert all(a[1] <= b[0] for a, b in zip(ticks, ticks[1:], strict=False)), f"{title}: colour-bar ticks overlap"


@pytest.mark.parametrize("slug", list(story.BY_SLUG))
def test_every_story_step_fits_a_projector_in_large_type(app, slug):
    url, page = app
    found = visit(page, f"{url}/story?{story.STEP_KEY}={slug}&{presenter.KEY}=true")
    assert_presentable(found, slug)


def test_the_gap_view_in_presenter_mode_is_in_large_type(app):
    """Sample's gap view (a row of reconstructions above a row of samples per model) scrolls with many models, but
    its text is a room's."""
    url, page = app
    query = urlencode([("models", "mnist-gaussian-pixel"), ("models", "mnist-gaussian-fixed"), ("view", "Gap view"),
                       (presenter.KEY, "true")])
    found = visit(page, f"{url}/sample?{query}")
    assert_presentable(found, "gap view", fits=False)
    assert page.locator('[data-testid="stMain"] img').count() >= 4


def test_embed_alone_is_presenter_mode_and_the_switch_says_so(app):
    url, page = app
    found = visit(page, f"{url}/story?embed=true&{story.STEP_KEY}=samples")
    assert_presentable(found, "embedded story")
    switch = page.locator(f'.st-key-{presenter.EMBEDDED_KEY} input[type="checkbox"]')
    assert switch.is_checked() and switch.is_disabled()


def test_the_switch_turns_presenter_mode_on_and_off_and_writes_the_url(app):
    url, page = app
    found = visit(page, f"{url}/story?{story.STEP_KEY}=elbo")
    assert found["sidebar"]
    page.locator(f'.st-key-{presenter.KEY} label').click()
    page.wait_for_url(re.compile(rf"{presenter.KEY}=true"))
    wait_idle(page)
    assert not page.evaluate(MEASURE)["sidebar"]
    page.locator(f'.st-key-{presenter.KEY} label').click()
    page.wait_for_url(lambda u: f"{presenter.KEY}=" not in u)
    wait_idle(page)
    assert page.evaluate(MEASURE)["sidebar"]


def test_a_bad_presenter_value_gets_a_note_and_the_page_still_draws(app):
    url, page = app
    visit(page, f"{url}/board?{presenter.KEY}=%3Cb%3E")
    notes = page.locator('[data-testid="stAlertContentInfo"]').all_inner_texts()
    assert any(f"{presenter.KEY}=<b>" in n for n in notes), notes
    assert page.locator(".board-head").count() >= 2


def _at_step(slug: str):
    """A URL test: the story shows ``slug`` (the first step, the default, leaves the URL without ?step=)."""
    return lambda url: parse_qs(urlparse(url).query).get(story.STEP_KEY, [story.STEPS[0].slug])[0] == slug


def test_story_keys_work_after_a_click_on_a_step_name(app):
    """Click a step's name, then press the right arrow: the story moves on (not only the focus ring)."""
    url, page = app
    visit(page, f"{url}/story?{story.STEP_KEY}=elbo")
    page.locator(f'.st-key-{story.STEP_KEY} button', has_text=re.compile("^sigma$")).click()
    page.wait_for_url(_at_step("sigma"))
    wait_idle(page)
    page.keyboard.press("ArrowRight")
    page.wait_for_url(_at_step("samples"), timeout=30_000)
    wait_idle(page)
    page.locator('.st-key-story_previous button').first.click()
    page.wait_for_url(_at_step("sigma"))
    wait_idle(page)
    page.keyboard.press("ArrowLeft")
    page.wait_for_url(_at_step("elbo"), timeout=30_000)


def test_board_keys_work_after_a_click_on_a_button(app):
    url, page = app
    visit(page, f"{url}/board")
    page.locator('.st-key-board_next button').first.click()
    page.wait_for_url(re.compile(rf"{board.IMAGE_KEY}={board.TILES}\b"))
    wait_idle(page)
    page.keyboard.press(board.SHORTCUTS["next"].lower())
    page.wait_for_url(re.compile(rf"{board.IMAGE_KEY}={2 * board.TILES}\b"), timeout=30_000)


CROSS = '[data-testid="stVegaLiteChart"] g.mark-symbol path[stroke="red"], ' \
        '[data-testid="stVegaLiteChart"] g.mark-symbol path[fill="red"]'


def _centre(box: dict) -> np.ndarray:
    return np.array([box["x"] + box["width"] / 2, box["y"] + box["height"] / 2])


def test_a_click_on_the_latent_plane_moves_the_cross_at_once(app):
    """The red cross marks the decoded z: after a click it sits on the clicked point in the same run."""
    url, page = app
    visit(page, f"{url}/latent?models=mnist-gaussian-pixel-2d")
    points = page.locator('[data-testid="stVegaLiteChart"] g.mark-symbol path[aria-label*="index"]')
    assert points.count() > 100
    cross = page.locator(CROSS).first
    start = _centre(cross.bounding_box())
    boxes = [points.nth(i).bounding_box() for i in range(0, points.count(), 37)]
    far = max(boxes, key=lambda b: np.linalg.norm(_centre(b) - start))  # a point well away from the cross
    page.mouse.click(*_centre(far))
    page.wait_for_function("() => /Decoded z\\s*from test image #\\d+/.test(document.body.innerText)")
    wait_idle(page)
    picked = int(re.search(r"from test image #(\d+)", page.locator('[data-testid="stMain"]').inner_text()).group(1))
    point = page.locator(f'[data-testid="stVegaLiteChart"] g.mark-symbol path[aria-label$="index: {picked}"]')
    assert np.linalg.norm(_centre(cross.bounding_box()) - _centre(point.first.bounding_box())) < 4


def _overlap(a: dict, b: dict) -> bool:
    return (a["x"] < b["x"] + b["width"] and b["x"] < a["x"] + a["width"] and a["y"] < b["y"] + b["height"]
            and b["y"] < a["y"] + a["height"])


def test_the_drawing_toolbar_leaves_the_image_switch_clickable(app):
    """Hovering the canvas shows its toolbar above it: clear of the Test sample / Upload / Draw switch, which a hand
    moving up from the canvas must still be able to click."""
    url, page = app
    visit(page, f"{url}/reconstruct?image_source=Draw")
    page.locator(".dc-canvas.upper-canvas").first.hover()  # the drawing layer (Playwright sees into its shadow root)
    toolbar = page.locator(".dc-toolbar-card").first
    page.wait_for_function("(el) => getComputedStyle(el.parentElement).opacity === '1'", arg=toolbar.element_handle())
    bar = toolbar.bounding_box()
    options = page.locator('.st-key-image_source button')
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


APPTEST = ("colour_bar", "locked", "unless_asked")  # tests that need no browser
for _test in [v for k, v in list(globals().items()) if k.startswith("test_") and not any(a in k for a in APPTEST)]:
    for _mark in needs_browser:
        _mark(_test)
