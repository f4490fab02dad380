"""The navigation app.py shows, built from the page registry (``explorer.pages``): the pages in order, their former
addresses as hidden entries that move the browser on to today's address, and a hidden page for an address that
names no page (``serve.py`` sends every unknown path there, nested ones included).

Streamlit serves the default page only at / (its ``url_path`` becomes ""), and a page's identity is a hash of its
``url_path``: so the first page is registered under ``ROOT_ID``, and its own name is one more address that moves
on to / (``moved``), as a former address does."""
from __future__ import annotations

from urllib.parse import quote

import streamlit as st

from . import links, pages

ROOT_ID = "home"  # the default page's url_path, which only its identity uses: a browser reaches it at /


def build() -> st.Page:
    """Call ``st.navigation`` with every page of the registry (the first is the default, also at /)."""
    entries = [st.Page(p.path, title=p.title, icon=p.icon, url_path=p.url_path if i else ROOT_ID, default=i == 0)
               for i, p in enumerate(pages.PAGES)]
    entries += [st.Page(_moved, title=p.title, icon=p.icon, url_path=old, visibility="hidden")
                for old, p in moved().items()]
    entries.append(st.Page(not_found, title="Page not found", icon=":material/link_off:", url_path=pages.NOT_FOUND,
                           visibility="hidden"))
    return st.navigation(entries)


def moved() -> dict[str, pages.PageSpec]:
    """Addresses that move on to a page: its former ones, and the first page's own name (it is served at /)."""
    return {**pages.old_paths(), pages.PAGES[0].url_path: pages.PAGES[0]}


def follow_old_address(page: st.Page) -> None:
    """A link to a former address (or to the first page by name): switch to the page's address, with the link's
    query parameters (this ends the run). app.py calls it before drawing the sidebar, whose checks of the link
    should run on the page it lands on."""
    target = moved().get(page.url_path)
    if target is not None:
        st.switch_page(target.script, query_params={k: st.query_params.get_all(k) for k in st.query_params})


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
    address or the not-found page (a trailing slash is Streamlit's to strip; a doubled slash is no address)."""
    segments = path.strip("/").split("/")
    return "//" not in path and (segments == [""] or (len(segments) == 1 and segments[0] in {
        *pages.BY_URL, *moved(), pages.NOT_FOUND}))


def single_slashes(path: str) -> str:
    """``path`` with each run of slashes as one: where a doubled slash leads (``//sample`` -> ``/sample``)."""
    return "/" + "/".join(s for s in path.split("/") if s) + ("/" if path.endswith("/") and path.strip("/") else "")


def not_found_address(path: str) -> str:
    """Where an unknown ``path`` is sent: the not-found page, told what was asked for."""
    return f"/{pages.NOT_FOUND}?{pages.MISSING_PARAM}={quote(path[:300], safe='/')}"
