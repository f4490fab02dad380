"""One source of truth (issue 21, item 5): the Streamlit app and the static site, built from the same zoo, show the
same thing. Each named board set is opened in both, in Debian's Chromium: the same models in the same order, and
every number in an app column's head (log p(x), its error, the images it averages, the FD) is in the site's column
head. Each story step is opened in both: the same title and the same captions, word for word. The app runs as a
deployment does (serve.py on loopback); the site is the export of the same tiny zoo on a loopback http.server."""
from __future__ import annotations

import json
import re
from functools import partial
from pathlib import Path
from urllib.parse import quote, urlencode

import pytest

from explorer.browser import CHROMIUM, chromium, streamlit_server, visit
from explorer.static_site import DATA_DIR, ZOO_JSON, serve_folder

pytestmark = pytest.mark.browser
if not Path(CHROMIUM).is_file():
    pytest.skip(f"{CHROMIUM} is missing: install Debian's chromium (apt-get install chromium) to run the browser "
                f"tests", allow_module_level=True)
pytest.importorskip("playwright.sync_api", reason="the playwright Python package is not installed")

NUMBER = re.compile(r"[\u2212-]?\d[\d,]*(?:\.\d+)?")


def numbers(text: str) -> list[float]:
    """Every number written in ``text`` (thousands separators and the typographic minus as the app writes them)."""
    return [float(n.replace(",", "").replace("\u2212", "-")) for n in NUMBER.findall(text)]


def words(text: str) -> str:
    return " ".join(text.split())


@pytest.fixture(scope="module")
def both(tiny_zoo, tiny_site_export):
    """(app url, site url, the site's zoo.json, the export folder, one page) on the same tiny zoo."""
    out = tiny_site_export
    zoo_json = json.loads((out / DATA_DIR / ZOO_JSON).read_text())
    with streamlit_server(tiny_zoo) as (app, _), serve_folder(out) as site, chromium((1600, 1000)) as page:
        yield app, site, zoo_json, out, page


def app_board(page, app: str, dataset: str, members: list[str]) -> list[tuple[str, str]]:
    """(model name, text of its column head) as the app's Board shows the set."""
    heads = page.locator(".board-head")

    def heads_drawn():
        assert heads.count(), "no column head yet"
        assert all(heads.nth(i).locator(".name").inner_text() for i in range(heads.count()))
    query = urlencode([("dataset", dataset)] + [("models", m) for m in members])
    visit(page, f"{app}/board?{query}", check=heads_drawn)
    return [(heads.nth(i).locator(".name").inner_text(), heads.nth(i).inner_text()) for i in range(heads.count())]


def site_board(page, site: str, dataset: str, title: str) -> list[tuple[str, str]]:
    page.goto(f"{site}/board.html?dataset={dataset}&set={quote(title)}")
    page.wait_for_function("window.__siteReady === true", timeout=30_000)
    assert not page.locator("#notes").is_visible(), page.locator("#notes").inner_text()
    heads = page.locator(".board .head")
    return [(heads.nth(i).get_attribute("data-model"), heads.nth(i).inner_text()) for i in range(heads.count())]


def test_every_named_set_shows_the_same_models_and_numbers_in_the_app_and_the_site(both):
    """Test that each named set opened in the app and in the static site has the same columns, and that every
    number of an app column's head is in the site's (which also shows its log p(x) and FD in large type)."""
    app, site, zoo_json, _, page = both
    sets = [(d, s["title"], s["models"]) for d, found in zoo_json["sets"].items() for s in found]
    assert sets, "the tiny zoo has named sets"
    for dataset, title, members in sets:
        in_app, in_site = app_board(page, app, dataset, members), site_board(page, site, dataset, title)
        assert [n for n, _ in in_app] == [n for n, _ in in_site] == members[:len(in_site)], title
        for (name, app_head), (_, site_head) in zip(in_app, in_site, strict=True):
            missing = [n for n in numbers(app_head) if n not in numbers(site_head)]
            assert not missing, f"{title} / {name}: the app shows {missing} that the site does not: {site_head!r}"
            headline = zoo_json["models"][name]["headline"]
            for key in ("loglik", "fd"):
                if headline[key] is not None:
                    assert round(headline[key]) in [round(n) for n in numbers(app_head)], (name, key, app_head)


def _at_step(main, title: str) -> str:
    """The app's story has drawn the step whose title is ``title`` (its heading has the step's number): its heading,
    returned."""
    heading = main.locator("h3").first.inner_text()
    assert heading.startswith(title.split(".")[0] + "."), (heading, title)
    return heading


def test_every_story_step_has_the_same_title_and_captions_in_the_app_and_the_site(both):
    """Test that each story step shows, word for word, the app's title and captions (its figures' captions too,
    which carry the models' numbers) in the static site, in the same order."""
    app, site, zoo_json, out, page = both
    dataset = zoo_json["default"]["dataset"]
    steps = json.loads((out / DATA_DIR / zoo_json["story_files"][dataset]).read_text())["steps"]
    assert [s["slug"] for s in steps] == [s["slug"] for s in zoo_json["story"]]
    main = page.locator('[data-testid="stMain"]')
    for step in steps:
        app_title = visit(page, f"{app}/story?dataset={dataset}&step={step['slug']}",
                          check=partial(_at_step, main, step["title"]))
        app_captions = [words(t) for t in main.locator('[data-testid="stCaptionContainer"]').all_inner_texts()]
        page.goto(f"{site}/story.html?dataset={dataset}&step={step['slug']}")
        page.wait_for_function("window.__siteReady === true", timeout=30_000)
        assert page.locator("h1").inner_text() == words(app_title) == step["title"]
        site_captions = [words(t) for t in page.locator(".step :is(p.caption, figcaption)").all_inner_texts()]
        assert site_captions == app_captions, step["slug"]
