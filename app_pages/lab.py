"""Likelihood lab: small models whose likelihood is exact, so the arguments behind the zoo can be watched: EM and the
mixture singularity, pPCA against a linear VAE on real pixels, the one-datapoint ELBO, and one pixel's bounded and
unbounded likelihoods. One view module per tab (explorer/lab/); derivations: docs/lab.md."""
from __future__ import annotations

import streamlit as st

from explorer import links
from explorer.lab import TABS

st.title("Likelihood lab")
st.caption("Small models whose likelihood can be computed exactly: the arguments behind the zoo, live. "
           "Everything on this page is exact arithmetic (float64), nothing is sampled.")

# Bound to the URL (?lab_tab=...) so a view can be shared, and tracked, so only the open tab's maths and charts run.
links.choice("lab_tab", list(TABS))
for tab, draw in zip(st.tabs(list(TABS), key="lab_tab", bind="query-params"), TABS.values(), strict=True):
    if tab.open:
        with tab:
            draw()
