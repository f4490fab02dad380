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

from explorer import pages
from explorer.browser import CHROMIUM, chromium, counts, screenshot, streamlit_server, wait_idle
from vae_core.data import load_sample

pytestmark = pytest.mark.browser
if not Path(CHROMIUM).is_file():
    pytest.skip(f"{CHROMIUM} is missing: install Debian's chromium (apt-get install chromium) to run the browser "
                f"tests", allow_module_level=True)
pytest.importorskip("playwright.sync_api", reason="the playwright Python package is not installed")

MNIST = sorted(n for n in TINY_MODELS if n.startswith("mnist-"))
ALL = "&".join(f"models={n}" for n in MNIST)
PAGES = [(p.url_path, "" if i == 0 else p.url_path) for i, p in enumerate(pages.PAGES)] + [
    ("lab-pixel", "lab?lab_tab=One+pixel")]


@pytest.fixture(scope="module")
def shots(tmp_path_factory) -> Path:
    return Path(os.environ.get("VAE_ZOO_SCREENSHOTS") or tmp_path_factory.mktemp("screenshots"))


@pytest.fixture(scope="module")
def app(tiny_zoo):
    with streamlit_server(tiny_zoo) as (url, _), chromium() as page:
        yield url, page


def visit(page, url: str, timeout: float = 90) -> dict[str, int]:
    page.goto(url)
    wait_idle(page, timeout)
    found = counts(page)
    assert found["exceptions"] == 0, page.locator('[data-testid="stException"]').first.inner_text()
    return found


def test_a_deep_link_on_a_fresh_server_runs_through_app_py(app):
    url, page = app
    found = visit(page, f"{url}/reconstruct?models=mnist-gaussian-pixel&models=mnist-bernoulli-2d&idx=3")
    nav = page.locator('[data-testid="stSidebarNav"]').inner_text()
    assert "Overview" in nav and "Latent space" in nav and "app" not in nav.split()  # st.navigation's menu
    assert page.locator("h1").first.inner_text() == "Reconstruct"
    assert "test image #3" in page.locator('[data-testid="stMain"]').inner_text()
    assert found["images"] >= 2 * 4 + 1 + 2  # input, mean, sample, log p per model; one sigma map; two bars


@pytest.mark.parametrize("name,path", PAGES)
def test_every_page_renders_its_pictures_and_charts(app, shots, name, path):
    url, page = app
    found = visit(page, f"{url}/{path}{'&' if '?' in path else '?'}{ALL}")
    expect_images = {"overview": 0, "reconstruct": 4 * len(MNIST), "sample": 2 * len(MNIST), "latent": 5,
                     "sigma": 4}.get(name, 0)
    expect_charts = {"overview": 1, "latent": 1, "sigma": 5, "lab": 2, "lab-pixel": 1}.get(name, 0)
    assert found["images"] >= expect_images, found
    assert found["charts"] >= expect_charts and found["drawn charts"] >= expect_charts, found
    if name == "overview":
        assert found["tables"] >= 1
    if name == "lab-pixel":  # the link opened its tab, and only that tab was drawn
        assert "perfectly reconstructed pixel" in page.locator('[data-testid="stMain"]').inner_text()
        assert "Gaussian mixture" not in page.locator('[data-testid="stMain"]').inner_text()
    screenshot(page, shots / f"{name}.png")


LAB_TAB_TEXT = {"EM and the singularity": "Gaussian mixture", "Linear VAE = pPCA": "probabilistic PCA",
                "One data point": "one data point", "One pixel": "perfectly reconstructed pixel"}


def test_lab_tabs_switch_by_click_and_run_one_at_a_time(app):
    url, page = app
    visit(page, f"{url}/lab")
    main = page.locator('[data-testid="stMain"]')
    for label, text in [*list(LAB_TAB_TEXT.items())[1:], next(iter(LAB_TAB_TEXT.items()))]:  # round and back
        page.get_by_role("tab", name=label).click()
        wait_idle(page, 90)
        shown = main.inner_text()
        assert counts(page)["exceptions"] == 0
        assert text in shown and page.get_by_role("tab", name=label).get_attribute("aria-selected") == "true"
        assert all(other not in shown for other in LAB_TAB_TEXT.values() if other != text), label
        assert counts(page)["drawn charts"] >= 1
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
    upload.set_input_files(str(good))
    wait_idle(page)
    main = page.locator('[data-testid="stMain"]')
    assert "Preprocessing" in main.inner_text() and "upload four.jpg" in main.inner_text()
    found = counts(page)
    assert found["exceptions"] == 0 and found["errors"] == 0 and found["images"] >= 5 + 2 * 4 + 1
    screenshot(page, shots / "upload.png")
    upload.set_input_files(str(bad))
    wait_idle(page)
    found = counts(page)
    assert found["exceptions"] == 0 and found["errors"] == 1
    assert "notes.png" in page.locator('[data-testid="stAlertContentError"]').inner_text()
    upload.set_input_files(str(good))  # and the app keeps working
    wait_idle(page)
    assert counts(page)["errors"] == 0 and "Preprocessing" in main.inner_text()


def test_overview_links_open_a_model_and_widgets_write_the_url(app):
    url, page = app
    visit(page, f"{url}/")
    target = MNIST[0]
    page.locator('[data-testid="stPageLink"] a', has_text="Sample").first.click()
    wait_idle(page)
    assert re.search(rf"/sample\?.*models={target}", page.url), page.url
    assert page.locator("h1").first.inner_text() == "Sample"
    assert counts(page)["images"] == 2
    page.locator('[data-testid="stSidebar"] [data-testid="stNumberInputStepUp"]').last.click()  # the seed
    wait_idle(page)
    assert "seed=1" in page.url
    reloaded = visit(page, page.url)  # a bookmark restores the same view
    assert reloaded["images"] == 2 and "seed=1" in page.url
    value = page.locator('[data-testid="stSidebar"] [data-testid="stNumberInputField"]').last.input_value()
    assert value == "1"


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
            page.locator('[data-testid="stSidebarNav"] a', has_text=entry).first.click()
            wait_idle(page)
            query = parse_qs(urlparse(page.url).query)
            assert query.get("models") == ["mnist-gaussian-fixed"] and query.get("seed") == ["5"], (entry, page.url)
            seed, models = _sidebar_state(page)
            assert seed == "5" and "mnist-gaussian-fixed" in models and "mnist-bernoulli-2d" not in models, entry


def test_a_bad_link_gets_a_note_and_keeps_the_navigation(app):
    """Test that seed=inf leaves a working page with its navigation, not a blank screen."""
    url, page = app
    visit(page, f"{url}/sample?seed=inf&temperature=nan&view=%3Cb%3E")
    notes = page.locator('[data-testid="stAlertContentInfo"]').all_inner_texts()
    assert any("seed=inf" in n for n in notes) and any("temperature=nan" in n for n in notes), notes
    assert "Overview" in page.locator('[data-testid="stSidebarNav"]').inner_text()
    assert page.locator("h1").first.inner_text() == "Sample"


@pytest.mark.parametrize("path", ["no-such-page?models=mnist-gaussian-fixed", "a/b", "sample/x", "lab/", "overview_",
                                  "static/nothing.html", "%2e%2e/etc/passwd", "sample/" + "x/" * 60])
def test_an_unknown_address_leads_to_a_page_that_says_so(app, path):
    """Test that an address naming no page, nested or not, shows a plain message and the navigation."""
    url, page = app
    visit(page, f"{url}/{path}")
    if path == "lab/":  # a known page with a trailing slash is that page
        assert page.locator("h1").first.inner_text() == "Likelihood lab"
        return
    assert urlparse(page.url).path == f"/{pages.NOT_FOUND}", page.url
    assert page.locator("h1").first.inner_text() == "Page not found"
    assert "is not a page of this explorer" in page.locator('[data-testid="stMain"]').inner_text()
    assert "Overview" in page.locator('[data-testid="stSidebarNav"]').inner_text()
    links = page.locator('[data-testid="stMain"] [data-testid="stPageLink"]').all_inner_texts()
    assert len(links) == len(pages.PAGES)


@pytest.mark.parametrize("old,page_", [(old, p) for old, p in pages.old_paths().items()])
def test_a_former_address_moves_on_to_its_page_with_the_query(app, old, page_):
    """Test that a link to an address of the pages/ era opens today's page with the link's parameters."""
    url, page = app
    landing = "/" if page_ == pages.PAGES[0] else f"/{page_.url_path}"  # the default page is at /
    visit(page, f"{url}{landing}")
    heading = page.locator("h1").first.inner_text()
    visit(page, f"{url}/{old}?seed=4&models=mnist-gaussian-fixed")
    query = parse_qs(urlparse(page.url).query)
    assert urlparse(page.url).path == landing and query["seed"] == ["4"], page.url
    assert page.locator("h1").first.inner_text() == heading


def test_clicking_the_latent_chart_keeps_the_app_working(app):
    url, page = app
    visit(page, f"{url}/latent?models=mnist-bernoulli-2d")
    chart = page.locator('[data-testid="stVegaLiteChart"]').first
    box = chart.bounding_box()
    page.mouse.click(box["x"] + box["width"] * 0.45, box["y"] + box["height"] * 0.5)
    wait_idle(page)
    assert counts(page)["exceptions"] == 0 and "Decoded z" in page.locator('[data-testid="stMain"]').inner_text()
