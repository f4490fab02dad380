"""The explorer's pages, one line each: app.py builds the navigation from this list, and the tests, benchmarks and
the screenshot script look pages up here. Adding a page = a file in app_pages/ + one line in ``PAGES``."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
APP = ROOT / "app.py"              # the frame: page config, navigation, the shared sidebar
PAGES_DIR = ROOT / "app_pages"


@dataclass(frozen=True)
class PageSpec:
    url_path: str                  # its address: /<url_path> (the first page is also at /)
    file: str                      # the page script in app_pages/
    title: str                     # in the navigation and the browser tab
    icon: str                      # a Material icon name
    old_paths: tuple[str, ...] = ()  # addresses it had before; links to them land here

    @property
    def script(self) -> str:
        """The page script relative to app.py, as st.page_link, st.switch_page and AppTest.switch_page take it."""
        return f"{PAGES_DIR.name}/{self.file}"

    @property
    def path(self) -> Path:
        return PAGES_DIR / self.file


# old_paths: the pages/ era's file names, and /likelihood_lab, where Streamlit's legacy pages/ handling served the lab
PAGES: tuple[PageSpec, ...] = (
    PageSpec("overview", "overview.py", "Overview", ":material/leaderboard:", ("1_overview",)),
    PageSpec("reconstruct", "reconstruct.py", "Reconstruct", ":material/compare:", ("2_reconstruct",)),
    PageSpec("sample", "sample.py", "Sample", ":material/casino:", ("3_sample",)),
    PageSpec("latent", "latent.py", "Latent space", ":material/scatter_plot:", ("4_latent",)),
    PageSpec("sigma", "sigma.py", "Decoder sigma", ":material/trending_down:", ("5_sigma",)),
    PageSpec("lab", "lab.py", "Likelihood lab", ":material/science:", ("6_likelihood_lab", "likelihood_lab")),
    PageSpec("board", "board.py", "Board", ":material/view_column:"),
    PageSpec("story", "story.py", "Story", ":material/slideshow:"),
)
BY_URL: dict[str, PageSpec] = {p.url_path: p for p in PAGES}
NOT_FOUND = "not-found"            # the hidden page an unknown address lands on (app.py, serve.py)
MISSING_PARAM = "missing"          # its query parameter: the address that was asked for


def page(url_path: str) -> PageSpec:
    """The page at /<url_path>; a KeyError names the known ones."""
    try:
        return BY_URL[url_path]
    except KeyError:
        raise KeyError(f"no page at /{url_path}; the pages are at: {', '.join(BY_URL)}") from None


def old_paths() -> dict[str, PageSpec]:
    """Former addresses -> the page now serving them."""
    return {old: p for p in PAGES for old in p.old_paths}
