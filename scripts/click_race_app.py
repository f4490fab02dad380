"""The smallest Streamlit app with the explorer's move, for scripts/click_race.py (``--app minimal``): three pages
in st.navigation, and on Reconstruct the same image-source control (a segmented control keyed ``image_source``,
bound to the URL, "Test sample" by default; "Upload" shows an uploader). No model, no cache, no sidebar: what it
loses under the move, Streamlit loses, not the explorer.

    streamlit run scripts/click_race_app.py
"""
import streamlit as st

st.navigation([
    st.Page(lambda: st.title("Overview"), title="Overview", url_path="overview", default=True),
    st.Page(lambda: (st.title("Reconstruct"),
                     st.segmented_control("Image", ["Test sample", "Upload", "Draw"], default="Test sample",
                                          key="image_source", bind="query-params") == "Upload" and
                     st.file_uploader("A picture")),
            title="Reconstruct", url_path="reconstruct"),
    st.Page(lambda: st.title("Sample"), title="Sample", url_path="sample"),
]).run()
