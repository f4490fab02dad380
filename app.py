"""The VAE Decoder Zoo explorer: `streamlit run app.py` opens on the checkpoints in ./checkpoints (or the folder
or Hub repo in $VAE_ZOO_SOURCE, at $VAE_ZOO_REVISION). This is the frame: page config, the navigation over the
pages listed in explorer/pages.py (their scripts are in app_pages/), and the sidebar every page shares.
`streamlit run serve.py` serves the same app and also answers addresses that name no page (see serve.py).
"""
from __future__ import annotations

import streamlit as st

from explorer import context, heap, navigation, presenter, warmup

st.set_page_config(page_title="VAE Decoder Zoo", page_icon=":material/blur_on:", layout="wide")
page = navigation.build()
navigation.follow_old_address(page)
context.sidebar(shown=not presenter.hides_sidebar(page.url_path))
try:
    page.run()
finally:
    context.forget()
    warmup.first_page_ran()
    heap.freeze_new()  # what was imported and scanned so far: out of the collector's full passes
