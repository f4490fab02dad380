"""End to end in a real browser: `streamlit run app.py` on loopback, Debian's Chromium through Playwright. Every
page renders without an exception element, with its pictures and charts; an upload goes through the
Reconstruct page (good and bad files); links and widgets keep the view in the URL; an address that names no page,
or a former one, still leads to a page. The server is what a deployment runs (serve.py). Screenshots go to
$VAE_ZOO_SCREENSHOTS (default: a temporary folder)."""
from __future__ import annotations

import io
import os
import re
from pathlib import Path
from urllib.parse import parse_qs, urlparse

import numpy as np
import pytest
from PIL import Image
from tiny_zoo import TINY_MODELS

from explorer import pages, tables
from explorer.browser import CHROMIUM, chromium, counts, drawn, screenshot, streamlit_server, visit, wait_for
from vae_core.base.data import load_sample

pytestmark = pytest.mark.browser
if not Path(CHROMIUM).is_file():
    pytest.skip(f"{CHROMIUM} is missing: install Debian's chromium (apt-get install chromium) to run the browser "
                f"tests", allow_module_level=True)
pytest.importorskip("playwright.sync_api", reason="the playwright Python package is not installed")

MNIST = sorted(n for n in TINY_MODELS if n.startswith("mnist-"))
ALL = "&".join(f"models={n}" for n in MNIST)
PAGES = [(p.url_path, "" if i == 0 else p.url_path) for i, p in enumerate(pages.PAGES)] + [
    ("lab-pixel", "lab?lab_tab=One+pixel"), ("sigma-snapshots", "sigma?sigma_section=Snapshots")]


@pytest.fixture(scope="module")
def shots(tmp_path_factory) -> Path:
    return Path(os.environ.get("VAE_ZOO_SCREENSHOTS") or tmp_path_factory.mktemp("screenshots"))


@pytest.fixture(scope="module")
def app(tiny_zoo):
    with streamlit_server(tiny_zoo) as (url, _), chromium() as page:
        yield url, page


def main_text(page) -> str:
    return page.locator('[data-testid="stMain"]').inner_text()


def heading(page) -> str:
    return page.locator("h1").first.inner_text()


def test_a_deep_link_on_a_fresh_server_runs_through_app_py(app):
    url, page = app

    def shows_image_3():
        nav = page.locator('[data-testid="stSidebarNav"]').inner_text()
        assert "Overview" in nav and "Latent space" in nav and "app" not in nav.split()  # st.navigation's menu
        assert heading(page) == "Reconstruct" and "test image #3" in main_text(page)
        found = counts(page)
        assert found["images"] >= 2 * 4 + 1 + 2, found  # input, mean, sample, log p per model; a sigma map; 2 bars
    visit(page, f"{url}/reconstruct?models=mnist-gaussian-pixel&models=mnist-bernoulli-2d&idx=3", check=shows_image_3)


@pytest.mark.parametrize("name,path", PAGES)
def test_every_page_renders_its_pictures_and_charts(app, shots, name, path):
    url, page = app
    expect_images = {"overview": 0, "reconstruct": 4 * len(MNIST), "sample": 2 * len(MNIST), "latent": 5,
                     "sigma-snapshots": 4}.get(name, 0)
    expect_charts = {"latent": 1, "sigma": 4, "lab": 2, "lab-pixel": 1}.get(name, 0)
    # drawn on the server (charts.show_static)
    expect_static = {"overview": 1, "story": 1, "reconstruct": 1}.get(name, 0)

    def shows_its_pictures():
        found = drawn(page)
        assert found["images"] >= expect_images, found
        assert found["charts"] >= expect_charts and found["drawn charts"] >= expect_charts, found
        assert found["static charts"] == expect_static, found
        if name == "overview":
            assert found["tables"] >= 1, found
        if name == "lab-pixel":  # the link opened its tab, and only that tab was drawn
            assert "perfectly reconstructed pixel" in main_text(page)
            assert "Gaussian mixture" not in main_text(page)
        if name == "sigma-snapshots":  # the link opened its section, and only that section was drawn
            assert "decoder mean" in main_text(page) and found["charts"] == 0, found
    visit(page, f"{url}/{path}{'&' if '?' in path else '?'}{ALL}", check=shows_its_pictures)
    screenshot(page, shots / f"{name}.png")


LAB_TAB_TEXT = {"EM and the singularity": "Gaussian mixture", "Linear VAE = pPCA": "probabilistic PCA",
                "One data point": "one data point", "One pixel": "perfectly reconstructed pixel"}


def test_lab_tabs_switch_by_click_and_run_one_at_a_time(app):
    url, page = app
    visit(page, f"{url}/lab")
    for label, text in [*list(LAB_TAB_TEXT.items())[1:], next(iter(LAB_TAB_TEXT.items()))]:  # round and back
        page.get_by_role("tab", name=label).click()
        wait_for(page, _shows_only_its_tab, page, label, text)


def _shows_only_its_tab(page, label: str, text: str) -> None:
    shown = page.locator('[data-testid="stMain"]').inner_text()
    assert drawn(page)["drawn charts"] >= 1
    assert text in shown and page.get_by_role("tab", name=label).get_attribute("aria-selected") == "true"
    assert all(other not in shown for other in LAB_TAB_TEXT.values() if other != text), label
    default = label == "EM and the singularity"  # the default tab leaves the URL clean
    assert parse_qs(urlparse(page.url).query).get("lab_tab", []) == ([] if default else [label])


def _digit_on_paper() -> bytes:
    images, labels = load_sample("mnist")
    digit = images[int(np.flatnonzero(labels == 4)[0])]
    buf = io.BytesIO()
    Image.fromarray(255 - digit).resize((320, 260), Image.BILINEAR).convert("RGB").save(buf, format="JPEG")
    return buf.getvalue()


def test_upload_on_the_reconstruct_page(app, shots, tmp_path):
    url, page = app
    visit(page, f"{url}/reconstruct?models=mnist-gaussian-pixel&models=mnist-bernoulli-2d&image_source=Upload")
    good, bad = tmp_path / "four.jpg", tmp_path / "notes.png"
    good.write_bytes(_digit_on_paper())
    bad.write_bytes(b"a text file that claims to be a PNG")
    upload = page.locator('[data-testid="stFileUploader"] input[type="file"]')

    def reconstructs_the_good_file():
        found = drawn(page)
        assert "Preprocessing" in main_text(page) and "upload four.jpg" in main_text(page)
        assert found["errors"] == 0 and found["images"] >= 5 + 2 * 4 + 1, found
    upload.set_input_files(str(good))
    wait_for(page, reconstructs_the_good_file)
    screenshot(page, shots / "upload.png")

    def names_the_bad_file():  # one error box, once the rerun the upload starts has run (it can begin late)
        assert drawn(page)["errors"] == 1
        assert "notes.png" in page.locator('[data-testid="stAlertContentError"]').inner_text()
    upload.set_input_files(str(bad))
    wait_for(page, names_the_bad_file)
    upload.set_input_files(str(good))  # and the app keeps working
    wait_for(page, reconstructs_the_good_file)


def test_overview_links_open_a_model_and_widgets_write_the_url(app):
    url, page = app
    def settled():  # the chart and tables above the links drawn: their late heights would move a row under the click
        found = drawn(page)
        assert page.locator('[data-testid="stPageLink"] a', has_text="Sample").count(), found
        assert found["static charts"] == 1, found
        assert page.locator(f'[data-testid="stMain"] table.{tables.TABLE_CLASS} td').count(), found
    visit(page, f"{url}/", check=settled)
    target = MNIST[0]
    page.locator('[data-testid="stPageLink"] a', has_text="Sample").first.click()

    def opens_sample_of_one_model(seed: str):
        assert re.search(rf"/sample\?.*models={target}", page.url), page.url
        assert parse_qs(urlparse(page.url).query).get("seed", ["0"]) == [seed], page.url
        assert heading(page) == "Sample" and drawn(page)["images"] == 2
        assert page.locator('[data-testid="stSidebar"] [data-testid="stNumberInputField"]').last.input_value() == seed
    wait_for(page, lambda: opens_sample_of_one_model("0"))
    page.locator('[data-testid="stSidebar"] [data-testid="stNumberInputStepUp"]').last.click()  # the seed
    wait_for(page, lambda: opens_sample_of_one_model("1"))
    visit(page, page.url, check=lambda: opens_sample_of_one_model("1"))  # a bookmark restores the same view


def test_an_overview_table_is_drawn_once_its_expander_or_its_tab_is_opened(app):
    """Test that only the open tab's tables come with a fresh Overview (its ranked tables in HTML, no data grid), and
    that a click on "All columns" draws its sortable grid, and one on the other dataset's tab its tables (a closed
    one runs nothing: explorer/views/overview.py)."""
    url, page = app
    ranked = page.locator(f'[data-testid="stMain"] table.{tables.TABLE_CLASS}')
    grids = page.locator('[data-testid="stMain"] [data-testid="stDataFrame"]')
    every = page.locator('[data-testid="stExpander"]', has_text="All columns")

    def mnist_tables():
        assert ranked.count() == 2 and grids.count() == 0 and every.count() == 1  # 8-bit and binarized; folded
        assert ranked.first.locator("th").first.inner_text() == "model"
    visit(page, f"{url}/", check=mnist_tables)
    every.locator("summary").click()

    def all_columns_drawn():
        assert every.locator('[data-testid="stDataFrame"] canvas').count() >= 1 and grids.count() == 1
    wait_for(page, all_columns_drawn)
    page.get_by_role("tab", name="fashion-mnist").click()

    def fashion_tables():  # its one binarized model; mnist's tables gone with their closed tab
        assert page.get_by_role("tab", name="fashion-mnist").get_attribute("aria-selected") == "true"
        assert ranked.count() == 1 and "bernoulli" in ranked.inner_text() and grids.count() == 0
    wait_for(page, fashion_tables)


URL_OF = {p.title: "" if i == 0 else p.url_path for i, p in enumerate(pages.PAGES)}  # the first page is at /


def _sidebar_state(page) -> tuple[str, str]:
    sidebar = page.locator('[data-testid="stSidebar"]')
    return (sidebar.locator('[data-testid="stNumberInputField"]').last.input_value(),
            sidebar.locator('[data-testid="stMultiSelect"]').inner_text())


@pytest.mark.parametrize("start", ["", "sample"])
def test_a_shared_link_survives_the_first_click_on_a_fresh_server(app, tiny_zoo, start):
    """Test that the first session of a new server keeps a link's models and seed through the navigation."""
    _, page = app  # the module's browser; a server of its own, started for this test
    with streamlit_server(tiny_zoo) as (url, _):
        visit(page, f"{url}/{start}?models=mnist-gaussian-fixed&seed=5")
        for entry in ("Decoder sigma", "Reconstruct", "Overview"):
            before = heading(page)
            page.locator('[data-testid="stSidebarNav"] a', has_text=entry).first.click()
            wait_for(page, _keeps_the_link_on_the_new_page, page, entry, before)


def _keeps_the_link_on_the_new_page(page, entry: str, before: str) -> None:
    assert urlparse(page.url).path.strip("/") == URL_OF[entry], (entry, page.url)
    assert heading(page) != before, (entry, before)  # the page it opened has run
    query = parse_qs(urlparse(page.url).query)
    assert query.get("models") == ["mnist-gaussian-fixed"] and query.get("seed") == ["5"], (entry, page.url)
    seed, models = _sidebar_state(page)
    assert seed == "5" and "mnist-gaussian-fixed" in models and "mnist-bernoulli-2d" not in models, entry


def test_a_bad_link_gets_a_note_and_keeps_the_navigation(app):
    """Test that seed=inf leaves a working page with its navigation, not a blank screen."""
    url, page = app

    def notes_the_bad_values():
        notes = page.locator('[data-testid="stAlertContentInfo"]').all_inner_texts()
        assert any("seed=inf" in n for n in notes) and any("temperature=nan" in n for n in notes), notes
        assert "Overview" in page.locator('[data-testid="stSidebarNav"]').inner_text()
        assert heading(page) == "Sample"
    visit(page, f"{url}/sample?seed=inf&temperature=nan&view=%3Cb%3E", check=notes_the_bad_values)


@pytest.mark.parametrize("path", ["no-such-page?models=mnist-gaussian-fixed", "a/b", "sample/x", "lab/", "overview_",
                                  "static/nothing.html", "%2e%2e/etc/passwd", "sample/" + "x/" * 60])
def test_an_unknown_address_leads_to_a_page_that_says_so(app, path):
    """Test that an address naming no page, nested or not, shows a plain message and the navigation."""
    url, page = app

    def says_so():
        if path == "lab/":  # a known page with a trailing slash is that page
            assert heading(page) == "Likelihood lab"
            return
        assert urlparse(page.url).path == f"/{pages.NOT_FOUND}", page.url
        assert heading(page) == "Page not found"
        assert "is not a page of this explorer" in main_text(page)
        assert "Overview" in page.locator('[data-testid="stSidebarNav"]').inner_text()
        links = page.locator('[data-testid="stMain"] [data-testid="stPageLink"]').all_inner_texts()
        assert len(links) == len(pages.PAGES)
    visit(page, f"{url}/{path}", check=says_so)


@pytest.mark.parametrize("old,page_", [(old, p) for old, p in pages.old_paths().items()])
def test_a_former_address_moves_on_to_its_page_with_the_query(app, old, page_):
    """Test that a link to an address of the pages/ era opens today's page with the link's parameters."""
    url, page = app
    landing = "/" if page_ == pages.PAGES[0] else f"/{page_.url_path}"  # the default page is at /
    title = visit(page, f"{url}{landing}", check=lambda: heading(page))

    def lands_on_its_page():
        query = parse_qs(urlparse(page.url).query)
        assert urlparse(page.url).path == landing and query.get("seed") == ["4"], page.url
        assert heading(page) == title
    visit(page, f"{url}/{old}?seed=4&models=mnist-gaussian-fixed", check=lands_on_its_page)


# the centre of a point of the chart's largest layer of points (the test images' posterior means), or null
A_POINT = """() => {
  const layers = [...document.querySelectorAll('[data-testid="stVegaLiteChart"] g.mark-symbol.role-mark')];
  const points = layers.sort((a, b) => b.childElementCount - a.childElementCount)[0];
  if (!points || points.childElementCount < 100) return null;
  const r = points.children[Math.floor(points.childElementCount / 2)].getBoundingClientRect();
  return {x: r.x + r.width / 2, y: r.y + r.height / 2};
}"""


def test_clicking_a_point_of_the_latent_chart_decodes_that_image(app):
    url, page = app

    def a_point():
        point = page.evaluate(A_POINT)
        assert point, "the chart has drawn no points yet"
        return point
    point = visit(page, f"{url}/latent?models=mnist-bernoulli-2d", check=a_point)
    assert re.search(r"Decoded z\*?\*? from test image #0\n", main_text(page) + "\n")  # before: the link's image
    page.mouse.click(point["x"], point["y"])

    def decodes_the_picked_image():  # the origin names the picked image and its class
        assert re.search(r"Decoded z\*?\*? from test image #\d+ \(", main_text(page)), main_text(page)[:2000]
        assert drawn(page)["images"] >= 5
    wait_for(page, decodes_the_picked_image)


LATE_PAGE = """<div data-testid="stApp" data-test-script-state="running"></div><script>
setTimeout(() => document.body.insertAdjacentHTML("beforeend", "<p id='early'>drawn while running</p>"), 100);
setTimeout(() => document.querySelector("[data-testid=stApp]").dataset.testScriptState = "notRunning", 1500);
setTimeout(() => document.body.insertAdjacentHTML("beforeend", "<p id='late'>after the run</p>"), 2500);
</script>"""


def test_wait_for_waits_for_the_condition_while_the_app_is_idle(app):
    """Test the helper every browser test waits with: a check is tried only while the script is not running, is
    retried until it passes (an element that comes late), and a check that never passes fails with its own
    message once the time is out."""
    _, page = app
    page.set_content(LATE_PAGE)
    assert wait_for(page, lambda: page.locator("#early").inner_text(), timeout=30) == "drawn while running"
    assert page.locator("[data-testid=stApp]").get_attribute("data-test-script-state") == "notRunning"
    assert wait_for(page, lambda: page.locator("#late").inner_text(), timeout=30) == "after the run"

    def absent_is_there():
        assert page.locator("#absent").count(), "never there"
    with pytest.raises(AssertionError, match="never there"):
        wait_for(page, absent_is_there, timeout=1)
