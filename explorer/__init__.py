"""The explorer's shared Streamlit pieces: the sidebar and its context (``context``), cached loaders (``cache``)
and picture helpers (``render``). Pages import these and stay thin; the maths lives in ``vae_core``."""
