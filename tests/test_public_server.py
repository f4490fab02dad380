"""A public server as the Dockerfile runs it (`streamlit run serve.py`, VAE_ZOO_LOCKED=1) on a copy of the tiny zoo
in which every kind of artefact is damaged, driven by Debian's Chromium: no page shows a server path, whatever
it has to report; every address leads to a page (never a blank one or a bare "Bad Request"); a link parameter
that needs another keeps the selection and says so."""
from __future__ import annotations

import shutil
import urllib.error
import urllib.request
from pathlib import Path
from urllib.parse import parse_qs, urlencode, urlparse

import pytest

from explorer import pages
from explorer.access import LOCKED_ENV
from explorer.browser import CHROMIUM, chromium, drawn, streamlit_server, visit, wait_for
from explorer.views import sigma
from vae_core.files.names import STAGING_DIR

pytestmark = pytest.mark.browser
if not Path(CHROMIUM).is_file():
    pytest.skip(f"{CHROMIUM} is missing: install Debian's chromium (apt-get install chromium) to run the browser "
                f"tests", allow_module_level=True)
pytest.importorskip("playwright.sync_api", reason="the playwright Python package is not installed")


def _garbage(relative: str, text: bytes = b"\x80\x04 not what it should be"):
    def damage(zoo: Path) -> None:
        (zoo / relative).write_bytes(text)
    return damage


def _staging(zoo: Path) -> None:
    (zoo / "mnist-discretized-gaussian" / STAGING_DIR).mkdir()
    (zoo / "mnist-discretized-gaussian" / STAGING_DIR / "model.safetensors").write_bytes(b"half a save")


# artefact kind -> (the model it damages, how, what a page shows about it)
DAMAGE = {
    "weights": ("mnist-gaussian-fixed", _garbage("mnist-gaussian-fixed/model.safetensors"),
                "mnist-gaussian-fixed cannot be loaded"),
    "snapshot": ("mnist-gaussian-pixel", _garbage("mnist-gaussian-pixel/snapshots/epoch-0001/model.safetensors"),
                 "epoch 1 cannot be loaded"),
    "eval": ("mnist-gaussian-shared", _garbage("mnist-gaussian-shared/eval.json", b"{"),
             "mnist-gaussian-shared/eval.json"),
    "history": ("mnist-gaussian-optimal", _garbage("mnist-gaussian-optimal/history.jsonl", b"[1]\n{"),
                "mnist-gaussian-optimal/history.jsonl"),
    "index": (None, _garbage("index.json", b"{"), None),  # the app never needs it: nothing to show
    "config": ("mnist-continuous-bernoulli", _garbage("mnist-continuous-bernoulli/config.json", b"{"),
               "mnist-continuous-bernoulli: malformed config.json"),
    "staging": ("mnist-discretized-gaussian", _staging, f"A save that never finished (a {STAGING_DIR} folder)"),
}
LOADABLE = [m for m, _, _ in DAMAGE.values() if m and m != "mnist-continuous-bernoulli"] + ["mnist-bernoulli-2d"]
LINK = "dataset=mnist&open=1&" + "&".join(f"models={m}" for m in LOADABLE)
TEXT = "() => document.body.textContent + ' ' + [...document.querySelectorAll('[title],[aria-label],[alt]')]" \
       ".map(e => [e.title, e.ariaLabel, e.alt].join(' ')).join(' ')"


@pytest.fixture(scope="module")
def damaged(tiny_zoo, tmp_path_factory) -> Path:
    zoo = tmp_path_factory.mktemp("public") / "zoo"
    shutil.copytree(tiny_zoo, zoo)
    for _, damage, _ in DAMAGE.values():
        damage(zoo)
    return zoo


@pytest.fixture(scope="module")
def server(damaged):
    with streamlit_server(damaged, env={LOCKED_ENV: "1"}) as (url, _), chromium() as page:
        yield url, page


def server_paths(zoo: Path) -> list[str]:
    """Folders of this machine a visitor must never read: the zoo's, the code's, the temporary and home ones."""
    return [str(zoo), str(zoo.resolve()), str(pages.ROOT), "/tmp/", str(Path.home()) + "/"]


# How many of the expanders on screen are folded, and how many open ones show nothing below their title yet.
FOLDED = """() => { const all = [...document.querySelectorAll('[data-testid="stExpander"] details')]
    .filter(d => d.getBoundingClientRect().width > 0);
  return {folded: all.filter(d => !d.open).length,
          empty: all.filter(d => d.open && ![...d.children].some(c => c.tagName !== 'SUMMARY'
                                                                      && c.textContent.trim())).length}; }"""


def shown(page, url: str) -> str:
    """All the text a visitor can bring up on ``url``: the page once it has run, with every expander (what the
    sidebar folds away) open and its content drawn."""
    visit(page, url, timeout=120)
    folded = '[data-testid="stExpander"] details:not([open]) > summary:visible'

    def unfolded():
        # on every try: an expander drawn after the last try (a rerun still under way on a busy machine) is opened
        for summary in page.locator(folded).element_handles():
            summary.click()  # handles: each click changes which expanders the selector matches
        drawn(page)
        assert page.evaluate(FOLDED) == {"folded": 0, "empty": 0}, page.evaluate(FOLDED)
        return page.evaluate(TEXT)
    return wait_for(page, unfolded, timeout=30)


@pytest.mark.parametrize("page_", pages.PAGES, ids=[p.url_path for p in pages.PAGES])
def test_no_page_shows_a_server_path_whatever_is_damaged(server, damaged, page_):
    url, page = server
    text = shown(page, f"{url}/{page_.url_path}?{LINK}")
    if page_.url_path == "sigma":  # every tab, and the snapshots of the model whose snapshot is damaged
        for section in list(sigma.SECTIONS)[1:]:
            text += shown(page, f"{url}/sigma?{LINK}&{urlencode({sigma.SECTION_KEY: section})}")
        text += shown(page, f"{url}/sigma?dataset=mnist&models=mnist-gaussian-pixel&open=1&"
                            f"{urlencode({sigma.SECTION_KEY: 'Snapshots'})}")
    assert [p for p in server_paths(damaged) if p in text] == []
    assert "Traceback" not in text and "Page not found" not in text
    expected = {"sigma": ["snapshot", "weights"], "sample": ["weights"], "reconstruct": ["weights"],
                "overview": ["staging"]}.get(page_.url_path, [])
    for kind in ["eval", "history", "config", *expected]:  # the faults are named, from the zoo, not the disk
        assert DAMAGE[kind][2] in text, (kind, text[:3000])


NOT_FOUND = "Page not found"
ADDRESSES = [  # (what a browser asks for, the page it lands on: its title or NOT_FOUND, the path it ends at)
    *[(f"/{p.url_path}", p.title, "/" if i == 0 else f"/{p.url_path}") for i, p in enumerate(pages.PAGES)],
    ("/", pages.PAGES[0].title, "/"),
    ("/overview?seed=4", pages.PAGES[0].title, "/"),
    ("//sample", "Sample", "/sample"),
    ("///latent/", "Latent space", "/latent"),
    ("//", pages.PAGES[0].title, "/"),
    ("/_stcore/x/y", NOT_FOUND, f"/{pages.NOT_FOUND}"),
    ("/_stcore/nothing", NOT_FOUND, f"/{pages.NOT_FOUND}"),
    ("/_stcore/stream", NOT_FOUND, f"/{pages.NOT_FOUND}"),
    ("/app/static/x.html", NOT_FOUND, f"/{pages.NOT_FOUND}"),
    ("/home", NOT_FOUND, f"/{pages.NOT_FOUND}"),
    ("/a//b", NOT_FOUND, f"/{pages.NOT_FOUND}"),
]


@pytest.mark.parametrize("address,landing,path", ADDRESSES, ids=[a for a, _, _ in ADDRESSES])
def test_every_address_leads_to_a_page(server, address, landing, path):
    url, page = server
    def landed():
        assert page.locator(f'h1:has-text("{NOT_FOUND}")' if landing == NOT_FOUND else
                            f'[data-testid="stSidebarNav"] a[aria-current="page"]:has-text("{landing}")').count()
        assert urlparse(page.url).path == path, page.url
    visit(page, url + address, check=landed)
    assert page.locator('[role="dialog"]').count() == 0  # Streamlit's own "Page not found" dialog
    assert "Overview" in page.locator('[data-testid="stSidebarNav"]').inner_text()
    if "seed" in address:
        assert parse_qs(urlparse(page.url).query)["seed"] == ["4"], page.url


@pytest.mark.parametrize("path", ["//sample?seed=3", "/_stcore/x/y", "/a/../b", "/%2e%2e/etc/passwd", "/\\\\x", "//"])
def test_no_address_gets_a_bare_answer(server, path):
    """Over plain HTTP (a browser would tidy some of these): a redirect to a page, never a 400 or a blank index."""
    url, _ = server

    class Keep(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, *args, **kwargs):
            return None

    with pytest.raises(urllib.error.HTTPError) as answer:
        urllib.request.build_opener(Keep).open(url + path, timeout=30)
    target = urlparse(answer.value.headers["Location"])
    assert answer.value.code == 302 and target.path.startswith("/") and not target.path.startswith("//")
    assert target.path in {"/", "/sample", f"/{pages.NOT_FOUND}"}, target


def test_streamlits_own_endpoints_still_answer(server):
    url, _ = server
    with urllib.request.urlopen(f"{url}/_stcore/health", timeout=30) as r:
        assert r.status == 200 and r.read() == b"ok"
    with urllib.request.urlopen(f"{url}/_stcore/host-config", timeout=30) as r:
        assert r.headers["Content-Type"].startswith("application/json")


def selection(page) -> list[str]:
    return [t.get_attribute("aria-label") for t in page.locator('[data-testid="stMultiSelect"] [data-tag]').all()]


def test_open_without_models_says_so_and_keeps_the_selection(server):
    url, page = server
    def selected():
        assert selection(page), "no model selected yet"
        return selection(page)
    before = visit(page, f"{url}/sample?seed=2", check=selected)

    def noted():
        selected()
        return page.locator('[data-testid="stAlertContentInfo"]:has-text("open=x")').inner_text()
    note = visit(page, f"{url}/sample?seed=2&open=x", check=noted)
    assert "applies only with" in note and "models=" in note, note
    after = selection(page)
    assert after == before and len(after) >= 1, (before, after)
    assert "open" not in parse_qs(urlparse(page.url).query)
