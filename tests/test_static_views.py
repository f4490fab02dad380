"""The static site's views in Debian's Chromium, as a visitor and a presenter use them: the Board's keys (N, P, S, M)
work after any click and keep the view in the address; a link naming an unknown set, dataset, model, step or image
opens the nearest valid view with a plain note; at 1280x720 every named set and every story step fits the screen
with no text under 18 px and key numbers of 32 px or more; the Story's arrows move between steps; the Sample view
follows its seed and temperature; the latent plane decodes under the pointer and shows the exact posterior with
the app's numbers. The session's export of the tiny zoo (tiny_site_export), one loopback server and one browser
for the module."""
from __future__ import annotations

import json
import re
from pathlib import Path
from urllib.parse import parse_qs, urlparse

import pytest

from explorer import story
from explorer.browser import CHROMIUM, chromium
from explorer.static_site import DATA_DIR, ZOO_JSON, serve_folder

pytestmark = pytest.mark.browser
if not Path(CHROMIUM).is_file():
    pytest.skip(f"{CHROMIUM} is missing: install Debian's chromium (apt-get install chromium) to run the browser "
                f"tests", allow_module_level=True)
pytest.importorskip("playwright.sync_api", reason="the playwright Python package is not installed")

ROOM = (1280, 720)      # the presenter's screen
MIN_TEXT = 18           # px: no text a room must read smaller (issue 20, item 3)
KEY_NUMBER = 32         # px: log p(x) and FD on the Board
READY = "window.__siteReady === true"

# In the page: every visible text smaller than the room's minimum, the key numbers' sizes, and whether it scrolls.
ROOM_CHECK_JS = """(minText) => {
  const small = [];
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  while (walker.nextNode()) {
    const node = walker.currentNode, text = node.textContent.trim(), host = node.parentElement;
    if (!text || !host || host.closest("option, script, style, noscript")) continue;
    if (host.getClientRects().length === 0) continue;  // not drawn
    const size = parseFloat(getComputedStyle(host).fontSize);
    if (size < minText) small.push(`${text.slice(0, 40)} (${size} px)`);
  }
  const big = [...document.querySelectorAll(".big")].map((e) => parseFloat(getComputedStyle(e).fontSize));
  const root = document.documentElement;
  return {small, big, scroll: [root.scrollWidth - innerWidth, root.scrollHeight - innerHeight]};
}"""


@pytest.fixture(scope="module")
def zoo_json(tiny_site_export) -> dict:
    return json.loads((tiny_site_export / DATA_DIR / ZOO_JSON).read_text())


@pytest.fixture(scope="module")
def site(tiny_site_export):
    """(base url, page at 1280x720, console errors of the page since the last open_view, the export's folder)."""
    errors: list[str] = []
    with serve_folder(tiny_site_export) as url, chromium(ROOM) as page:
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: errors.append(str(e)))
        yield url, page, errors, tiny_site_export


def open_view(site, path: str):
    url, page, errors, _ = site
    errors.clear()
    page.goto(f"{url}/{path}")
    page.wait_for_function(READY, timeout=30_000)
    return page


def query(page) -> dict[str, str]:
    return {k: v[-1] for k, v in parse_qs(urlparse(page.url).query).items()}


def notes(page) -> str:
    return page.locator("#notes").inner_text() if page.locator("#notes").is_visible() else ""


def assert_room_grade(page, what: str) -> None:
    found = page.evaluate(ROOM_CHECK_JS, MIN_TEXT)
    assert not found["small"], f"{what}: text under {MIN_TEXT} px: {found['small'][:5]}"
    assert all(size >= KEY_NUMBER for size in found["big"]), f"{what}: key numbers at {found['big']} px"
    assert found["scroll"][0] <= 0 and found["scroll"][1] <= 0, f"{what}: scrolls by {found['scroll']} px"


def named_sets(zoo_json) -> list[tuple[str, str, list[str]]]:
    return [(d, s["title"], s["models"]) for d, sets in zoo_json["sets"].items() for s in sets]


def slug(zoo_json, dataset: str, title: str) -> str:
    """A set's name in the address: the exported slug (explorer.board.set_slug), else the same rule."""
    found = next(s for s in zoo_json["sets"][dataset] if s["title"] == title)
    return found.get("slug") or "-".join(title.lower().split())


# ------------------------------------------------------------------------------------------------ the Board
def test_the_board_opens_on_the_default_named_set_with_its_numbers(site, zoo_json):
    """Test that /board.html opens on a named set, every column headed by the model's exported log p(x), method
    and both Frechet distances, and the address names the set."""
    page = open_view(site, "board.html")
    dataset = zoo_json["default"]["dataset"]
    first = zoo_json["sets"][dataset][0]
    title = zoo_json["default"].get("set") or first["title"]
    members = next(s["models"] for s in zoo_json["sets"][dataset] if s["title"] == title)
    assert page.locator(".set-title").inner_text() == title
    assert query(page)["set"] == slug(zoo_json, dataset, title) and query(page)["dataset"] == dataset
    heads = page.locator(".board .head")
    assert heads.evaluate_all("hs => hs.map(h => h.dataset.model)") == members[:zoo_json["board"]["max_columns"]]
    for i, name in enumerate(members[:zoo_json["board"]["max_columns"]]):
        h = zoo_json["models"][name]["headline"]
        text = heads.nth(i).inner_text()
        assert h["method"] in text and "FD samples" in text and "FD means" in text
        shown = float(heads.nth(i).locator(".loglik").inner_text().split("±")[0].replace("\u2212", "-")
                      .replace(",", ""))
        assert shown == pytest.approx(h["loglik"], abs=0.5 if abs(h["loglik"]) >= 100 else 0.05)
    assert page.locator("canvas.recon").count() == len(members[:4])
    assert not site[2], site[2]


def test_board_keys_work_after_any_click_and_write_the_address(site, zoo_json):
    """Test that N, P, S and M change the view and the address after a click on a button, a picture and the
    page's background (a button keeps the focus, and keys must still reach the board)."""
    page = open_view(site, "board.html")
    tiles = zoo_json["board"]["tiles"]
    page.locator("button", has_text="next").first.click()  # the "next" button itself: image 0 -> 3
    page.wait_for_function(f"new URLSearchParams(location.search).get('image') === '{tiles}'")
    page.locator("canvas.sample").first.click()
    page.keyboard.press("n")
    page.wait_for_function(f"new URLSearchParams(location.search).get('image') === '{2 * tiles}'")
    page.mouse.click(1270, 700)
    page.keyboard.press("p")
    page.wait_for_function(f"new URLSearchParams(location.search).get('image') === '{tiles}'")
    before = page.locator("canvas.sample").first.evaluate("c => c.toDataURL()")
    page.keyboard.press("s")
    page.wait_for_function("new URLSearchParams(location.search).get('seed') === '1'")
    assert page.locator("canvas.sample").first.evaluate("c => c.toDataURL()") != before  # new z, new pictures
    sets = zoo_json["sets"][query(page)["dataset"]]
    if len(sets) >= 2:
        shown = page.locator(".set-title").inner_text()
        page.keyboard.press("m")
        following = sets[([s["title"] for s in sets].index(shown) + 1) % len(sets)]
        page.wait_for_function("t => new URLSearchParams(location.search).get('set') === t",
                               arg=slug(zoo_json, query(page)["dataset"], following["title"]))
        page.wait_for_function("t => document.querySelector('.set-title').textContent === t", arg=following["title"])
        assert page.locator(".board .head").evaluate_all("hs => hs.map(h => h.dataset.model)") == \
            following["models"][:4]
    reopened = open_view(site, urlparse(page.url).path.lstrip("/") + "?" + urlparse(page.url).query)
    assert query(reopened)["image"] == str(tiles) and query(reopened)["seed"] == "1"  # a link restores the view
    assert not site[2], site[2]


BAD_BOARD_LINKS = [  # (query, words the note must hold, what the board then shows: a field of the address)
    ("set=no+such+set", "set=no such set in the link", "set"),
    ("dataset=cifar", "dataset=cifar in the link", "dataset"),
    ("models=mnist-nothing,mnist-else", "models=mnist-nothing,mnist-else in the link", "set"),
    ("image=abc", "image=abc", "image"),
    ("seed=-4", "seed=-4", "seed"),
    ("set=%3Cb%3Ex%3C%2Fb%3E", "set=<b>x</b> in the link", "set"),
]


@pytest.mark.parametrize("link,words,field", BAD_BOARD_LINKS)
def test_a_bad_board_link_gets_a_note_and_the_nearest_board(site, zoo_json, link, words, field):
    """Test that an unknown set, dataset, model or a bad number in a link leaves a whole board and one sentence."""
    page = open_view(site, f"board.html?{link}")
    assert words in notes(page)
    assert page.locator("#notes b").count() == 0  # the link's text is shown as text, never as markup
    assert page.locator(".board .head").count() >= 2
    shown = query(page)[field]
    if field == "set":
        dataset = query(page)["dataset"]
        assert shown in [slug(zoo_json, dataset, s["title"]) for s in zoo_json["sets"][dataset]]
    elif field == "dataset":
        assert shown in zoo_json["datasets"]
    else:
        assert shown == "0"
    assert not site[2], site[2]


def test_every_named_set_fits_a_room_screen(site, zoo_json):
    """Test that at 1280x720 each named board set shows without scrolling, no text under 18 px and its log p(x)
    and FD numbers at 32 px or more."""
    sets = named_sets(zoo_json)
    assert sets, "the export has no named set"
    for dataset, title, members in sets:
        page = open_view(site, f"board.html?dataset={dataset}&set={slug(zoo_json, dataset, title)}")
        assert page.locator(".set-title").inner_text() == title and not notes(page)
        assert page.locator(".board .big").count() >= 3 * min(len(members), 4)
        assert_room_grade(page, f"board {dataset} / {title}")


def test_binarized_columns_say_they_are_not_comparable(site, zoo_json):
    """Test that a Bernoulli column says its log p(x) is on binarized pixels, and an 8-bit column does not."""
    models = zoo_json["models"]
    binary, eight_bit = next((b, e) for b in models for e in models
                             if models[b]["data_kind"] == "binary" and models[e]["data_kind"] != "binary"
                             and not models[e]["headline"]["raw"] and models[b]["dataset"] == models[e]["dataset"])
    page = open_view(site, f"board.html?dataset={models[binary]['dataset']}&models={binary},{eight_bit}")
    heads = page.locator(".board .head")
    assert "not comparable with 8-bit" in heads.nth(0).inner_text()
    assert "not comparable" not in heads.nth(1).inner_text()


# ------------------------------------------------------------------------------------------------ the Story
def story_steps(site, zoo_json, dataset: str) -> list[dict]:
    return json.loads((site[3] / DATA_DIR / zoo_json["story_files"][dataset]).read_text())["steps"]


def test_every_story_step_fits_a_room_screen_and_arrows_move_between_them(site, zoo_json):
    """Test that the right arrow walks through every step (address and title follow), each step fits 1280x720
    with no text under 18 px (chart text included), and the left arrow goes back, also after a click."""
    dataset = zoo_json["default"]["dataset"]
    steps = story_steps(site, zoo_json, dataset)
    page = open_view(site, f"story.html?dataset={dataset}")
    for i, step in enumerate(steps):
        page.wait_for_function("s => new URLSearchParams(location.search).get('step') === s", arg=step["slug"])
        page.wait_for_function(READY)
        assert page.locator("h1").inner_text() == step["title"]
        assert_room_grade(page, f"story {dataset} / {step['slug']}")
        if i < len(steps) - 1:
            page.keyboard.press("ArrowRight")
    page.keyboard.press("ArrowRight")  # the last step stays
    assert query(page)["step"] == steps[-1]["slug"]
    page.locator(".story-steps a").nth(1).click()  # a click on a step's name, then the arrow keys still work
    page.wait_for_function("s => new URLSearchParams(location.search).get('step') === s", arg=steps[1]["slug"])
    page.keyboard.press("ArrowLeft")
    page.wait_for_function("s => new URLSearchParams(location.search).get('step') === s", arg=steps[0]["slug"])
    assert not site[2], site[2]


# A link that names something this export lacks opens the nearest valid view, with one note naming the parameter:
# (view and query, the address field then shown, its value, or None for any valid value). The nearest name is the
# one equal up to case and spacing, else the longest shared beginning (site/js/ui.js nearest).
NEAREST_LINKS = [
    ("story.html?step=sigmas", "step", "sigma"),
    ("story.html?step=Samples", "step", "samples"),
    ("story.html?step=4", "step", story.STEPS[3].slug),  # the fourth step
    ("story.html?step=zzz", "step", "elbo"),
    ("story.html?dataset=mnst&step=conv", "dataset", "mnist"),
    ("board.html?set=likelihood-against-sample", "set", "likelihood-against-samples"),
    ("board.html?dataset=MNIST", "dataset", "mnist"),
    ("board.html?dataset=mnist&models=mnist-bernoulli-2d,mnist-no-such", "models", "mnist-bernoulli-2d"),
    ("sample.html?dataset=mnist&models=mnist-gaussian-fixed,nobody", "models", "mnist-gaussian-fixed"),
    ("sample.html?dataset=fashion", "dataset", "fashion-mnist"),
    ("latent.html?model=mnist-bernoulli-2", "model", "mnist-bernoulli-2d"),
    ("latent.html?model=mnist-gaussian-pixel", "model", None),
    ("latent.html?image=1000", "image", "0"),
]


@pytest.mark.parametrize("link,field,value", NEAREST_LINKS)
def test_a_link_naming_what_the_export_lacks_opens_the_nearest_view_with_a_note(site, zoo_json, link, field, value):
    """Test that an unknown step, set, dataset or model in a link opens the nearest valid view, drawn whole, with
    one sentence naming the parameter, and no console error."""
    page = open_view(site, link)
    text = notes(page)
    assert text.startswith(f"{field}=") and " in the link " in text, text
    assert text.count("\n") == 0 and text.endswith("."), text  # one sentence
    got = query(page).get(field)
    if value is not None:
        assert got == value, (link, got)
    if field == "model":
        assert zoo_json["models"][got]["latent_dim"] == 2
    assert page.locator("main canvas, main h1").count() >= 1
    assert not site[2], site[2]


@pytest.mark.parametrize("link,words", [("step=nope", "step=nope in the link"), ("dataset=cifar&step=elbo",
                                                                          "dataset=cifar in the link")])
def test_a_bad_story_link_opens_a_step_with_a_note(site, zoo_json, link, words):
    page = open_view(site, f"story.html?{link}")
    assert words in notes(page)
    assert page.locator("h1").inner_text() in [s["title"] for s in zoo_json["story"]]
    assert query(page)["step"] in [s["slug"] for s in zoo_json["story"]]


# ------------------------------------------------------------------------------------------------ the other views
def test_the_sample_view_follows_seed_temperature_and_what_is_shown(site, zoo_json):
    """Test that S draws new samples (seed in the address), temperature 0 decodes z = 0 (every decoder mean the
    same picture), and a link's bad values get a note and defaults."""
    dataset = zoo_json["default"]["dataset"]
    name = zoo_json["sets"][dataset][0]["models"][0]
    page = open_view(site, f"sample.html?dataset={dataset}&models={name}&n=8")
    before = page.locator("canvas.samples").evaluate("c => c.toDataURL()")
    page.locator("#new-samples").click()
    page.keyboard.press("s")  # after a click on the button, the key too
    page.wait_for_function("new URLSearchParams(location.search).get('seed') === '2'")
    assert page.locator("canvas.samples").evaluate("c => c.toDataURL()") != before
    page = open_view(site, f"sample.html?dataset={dataset}&models={name}&n=8&temperature=0&show=means")
    assert page.locator("canvas.samples").count() == 0
    same = page.locator("canvas.means").evaluate("""c => {
      const tile = (x) => c.getContext('2d').getImageData(x, 1, 28, 28).data;
      const a = tile(1), b = tile(30);
      return a.every((v, i) => v === b[i]);
    }""")
    assert same  # z = 0 for every draw at T = 0
    page = open_view(site, f"sample.html?dataset={dataset}&temperature=nan&n=7&show=x&models=nobody")
    text = notes(page)
    assert all(w in text for w in ("temperature=nan", "n=7", "show=x", "nobody")), text
    assert page.locator("canvas.samples").count() >= 1
    assert not site[2], site[2]


def test_the_latent_plane_decodes_under_the_pointer_and_shows_the_exact_posterior(site, zoo_json):
    """Test that moving over the plane decodes the point under the pointer, and the chosen test image's posterior
    comes with the app's sentence (log p(x) exact, ELBO, KL both ways) from the exported numbers."""
    flat = sorted(n for n, m in zoo_json["models"].items() if m["latent_dim"] == 2)
    assert flat, "the tiny zoo has a 2-D model"
    page = open_view(site, f"latent.html?model={flat[0]}")
    plane = page.locator("canvas.plane").bounding_box()
    page.mouse.move(plane["x"] + plane["width"] / 2, plane["y"] + plane["height"] / 2)  # z = (0, 0)
    page.wait_for_function("document.querySelector('.where').textContent.startsWith('z = (0.00, 0.00) under')")
    page.mouse.move(plane["x"] + plane["width"] * 0.75, plane["y"] + plane["height"] / 4)  # z1 > 0, z2 > 0
    page.wait_for_function("/^z = \\(2\\.2\\d, 2\\.2\\d\\) under/.test(document.querySelector('.where').textContent)")
    record = json.loads((site[3] / DATA_DIR / zoo_json["models"][flat[0]]["posteriors"]["file"])
                        .read_text())
    view = record["views"][-1]
    page.locator("#image").fill(str(view["index"]))
    page.locator("#image").dispatch_event("change")
    page.wait_for_function("i => new URLSearchParams(location.search).get('image') === String(i)", arg=view["index"])
    sentence = page.locator(".sentence").inner_text()
    if "problem" in view:
        assert view["problem"] in sentence
    else:
        assert sentence.startswith(view["sentence"])
        assert f"log p(x) = {view['log_px']:.1f} nats (exact, by quadrature)" in sentence
    # a click on a test image the export has no posterior for: the page computes it, and says how and what it is
    exported = [v["index"] for v in record["views"]]
    other = page.evaluate(CLICKABLE_POINT_JS, {"model": flat[0], "skip": exported})
    page.mouse.click(plane["x"] + other["x"] * plane["width"], plane["y"] + other["y"] * plane["height"])
    page.wait_for_function("i => new URLSearchParams(location.search).get('image') !== String(i)", arg=view["index"])
    clicked = int(query(page)["image"])  # the nearest point to the click: this one, or a neighbour within pixels
    assert clicked not in exported
    assert f"test image #{clicked}" in page.locator(".where").inner_text()
    page.wait_for_function("i => document.body.dataset.posterior === String(i)", arg=clicked, timeout=60_000)
    sentence = page.locator(".sentence").inner_text()
    assert f"Test image #{clicked}" in sentence and "computed in this browser" in sentence
    assert re.search(r"log p\(x\) ≈ [\u2212\d]", sentence) and "an estimate" in sentence
    coloured = page.locator("canvas.heat").evaluate("""c => {
      const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
      let n = 0;
      for (let i = 0; i < d.length; i += 4) if (!(d[i] === 255 && d[i + 1] === 255 && d[i + 2] === 255)) n++;
      return n;
    }""")
    assert coloured > 100  # the heat map is drawn, not a blank canvas
    # and typing the number of the last test image of the sample does the same
    last = zoo_json["datasets"][zoo_json["models"][flat[0]]["dataset"]]["count"] - 1
    page.locator("#image").fill(str(last))
    page.locator("#image").dispatch_event("change")
    page.wait_for_function("i => document.body.dataset.posterior === String(i)", arg=last, timeout=60_000)
    assert f"Test image #{last}" in page.locator(".sentence").inner_text() and query(page)["image"] == str(last)
    assert not site[2], site[2]


# In the page: the test image of the model, inside the plane, whose point lies farthest from the points of the images
# in ``skip`` (the tiny zoo's 2-D model packs its sample into a few pixels), with its position as fractions of the
# plane's width and height (the plane spans z in [-4.5, 4.5], z2 up).
CLICKABLE_POINT_JS = """async ({model, skip}) => {
  const codes = await window.__site.loadCodes(window.__site.zoo, model);
  let best = null, far = -1;
  for (let i = 0; i < codes.length / 2; i++) {
    const [a, b] = [codes[2 * i], codes[2 * i + 1]];
    if (Math.abs(a) > 4 || Math.abs(b) > 4) continue;
    const d = Math.min(...skip.map((j) => Math.hypot(codes[2 * j] - a, codes[2 * j + 1] - b)));
    if (d > far) { far = d; best = {index: i, x: (a + 4.5) / 9, y: 1 - (b + 4.5) / 9}; }
  }
  return best;
}"""


@pytest.mark.parametrize("link,words", [("model=mnist-gaussian-pixel", "not a model with a 2-D latent space"),
                                        ("image=1000", "image=1000 in the link")])
def test_a_bad_latent_link_gets_a_note(site, link, words):
    page = open_view(site, f"latent.html?{link}")
    assert words in notes(page)
    assert page.locator("canvas.plane").count() == 1 and page.locator(".sentence").inner_text()


def test_the_landing_page_links_every_view_and_draws_its_picture(site):
    page = open_view(site, "index.html")
    links = page.locator(".views a").evaluate_all("as => as.map(a => a.getAttribute('href'))")
    assert links == ["board.html", "story.html", "sample.html", "latent.html"]
    assert page.locator(".landing-model canvas.samples").count() >= 2
    assert re.search(r"log p [\u2212\d]", page.locator(".landing-model").first.inner_text())
    assert_room_grade(page, "landing")
