"""The explorer's shared Streamlit pieces: the page registry (``pages``) and the navigation built from it
(``navigation``), the sidebar and the context it hands to every page (``context``), cached loaders (``cache``),
charts (``charts``), pictures (``render``), the query parameters and their checks (``links``), and page content
too long for a page script (``views``, ``lab``). Page scripts live in app_pages/; the maths lives in ``vae_core``."""
