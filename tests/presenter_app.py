"""A frame like app.py around the board and the story only, for their tests until the page registry
(explorer/pages.py) lists them: the shared sidebar builds the context, then the page runs."""
from __future__ import annotations

import sys
from pathlib import Path

import streamlit as st

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # `streamlit run tests/presenter_app.py` puts only tests/ on the path

from explorer import context  # noqa: E402

PAGES = [("app_pages/board.py", "Board", "board"), ("app_pages/story.py", "Story", "story")]



def home() -> None:  # the default page is served at / only, as app.py's first page is: the two keep their paths
    st.title("Presenter pages")


st.set_page_config(page_title="VAE Decoder Zoo", layout="wide")
page = st.navigation([st.Page(home, title="Home", url_path="home", default=True),
                      *[st.Page(ROOT / file, title=title, url_path=url) for file, title, url in PAGES]])
context.sidebar()
try:
    page.run()
finally:
    context.forget()
