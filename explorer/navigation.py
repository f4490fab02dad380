"""The navigation app.py shows, built from the page registry (``explorer.pages``): the pages in order, their former
addresses as hidden entries that move the browser on to today's address, and a hidden page for an address that
names no page (``serve.py`` sends every unknown path there, nested ones included)."""
from __future__ import annotations

from urllib.parse import quote

import streamlit as st

from . import links, pages


def build() -> st.Page:
    """Call ``st.navigation`` with every page of the registry (the first is the default, also at /)."""
    entries = [st.Page(p.path, title=p.title, icon=p.icon, url_path=p.url_path, default=i == 0)
               for i, p in enumerate(pages.PAGES)]
    entries += [st.Page(_moved, title=p.title, icon=p.icon, url_path=old, visibility="hidden")
                for old, p in pages.old_paths().items()]
    entries.append(st.Page(not_found, title="Page not found", icon=":material/link_off:", url_path=pages.NOT_FOUND,
                           visibility="hidden"))
    return st.navigation(entries)


def follow_old_address(page: st.Page) -> None:
    """A link to a former address: switch to today's, with the link's query parameters (this ends the run).
    app.py calls it before drawing the sidebar, whose checks of the link should run on the page it lands on."""
    moved = pages.old_paths().get(page.url_path)
    if moved is not None:
        st.switch_page(moved.script, query_params={k: st.query_params.get_all(k) for k in st.query_params})


def _moved() -> None:
    """The entry of a former address: ``follow_old_address`` has switched away before it could run."""


def not_found() -> None:
    """The page for an address that names no page: say so plainly, and offer the pages there are."""
    asked = st.query_params.get(pages.MISSING_PARAM, "")
    st.title("Page not found")
    where = f"`/{links.shown([asked.lstrip('/')], 80)}`" if asked else "The address you opened"
    st.info(f"{where} is not a page of this explorer. These are:", icon=":material/link_off:")
    for p in pages.PAGES:
        st.page_link(p.script, label=p.title, icon=p.icon)


def known_address(path: str) -> bool:
    """Whether a browser asking for ``path`` gets a page of the app: / or one segment naming a page, a former
    address or the not-found page (a trailing slash is Streamlit's to strip)."""
    segments = [s for s in path.split("/") if s]
    return not segments or (len(segments) == 1 and segments[0] in {*pages.BY_URL, *pages.old_paths(),
                                                                     pages.NOT_FOUND})


def not_found_address(path: str) -> str:
    """Where an unknown ``path`` is sent: the not-found page, told what was asked for."""
    return f"/{pages.NOT_FOUND}?{pages.MISSING_PARAM}={quote(path[:300], safe='/')}"
