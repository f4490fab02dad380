"""The VAE Decoder Zoo explorer: `streamlit run app.py` opens on the checkpoints in ./checkpoints (or the folder
or Hub repo in $VAE_ZOO_SOURCE, at $VAE_ZOO_REVISION). This script holds the shared sidebar and the navigation;
each page in pages/ is a thin script over vae_core.
"""
from __future__ import annotations

from pathlib import Path

import streamlit as st

from explorer import context

HERE = Path(__file__).resolve().parent
STARTED = "app_started"  # session_state: this session has had its first run
PAGES = [  # (file, title, icon, url path)
    ("pages/1_overview.py", "Overview", ":material/leaderboard:", "overview"),
    ("pages/2_reconstruct.py", "Reconstruct", ":material/compare:", "reconstruct"),
    ("pages/3_sample.py", "Sample", ":material/casino:", "sample"),
    ("pages/4_latent.py", "Latent space", ":material/scatter_plot:", "latent"),
    ("pages/5_sigma.py", "Decoder sigma", ":material/trending_down:", "sigma"),
    ("pages/6_likelihood_lab.py", "Likelihood lab", ":material/science:", "lab"),
]

st.set_page_config(page_title="VAE Decoder Zoo", page_icon=":material/blur_on:", layout="wide")
page = st.navigation([st.Page(HERE / file, title=title, icon=icon, url_path=url, default=i == 0)
                      for i, (file, title, icon, url) in enumerate(PAGES) if (HERE / file).is_file()])
if STARTED not in st.session_state:
    # A fresh server runs its first request through Streamlit's wrapper for a legacy pages/ folder, where the
    # sidebar's widgets get other ids than in every later run: the first click in the navigation then dropped a
    # link's dataset, models and seed. One rerun before any widget exists runs this file as the entry script.
    st.session_state[STARTED] = True
    st.rerun()
context.sidebar()
try:
    page.run()
finally:
    context.forget()
