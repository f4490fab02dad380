"""The locked mode of a public deployment: no free-text zoo source, no server paths on any page.

Switched on by the environment variable or by the Streamlit secret below (``locked = true`` in
.streamlit/secrets.toml). Any value other than an empty one, 0, false, no or off locks: a typo fails closed.
"""
from __future__ import annotations

import os

import streamlit as st

LOCKED_ENV = "VAE_ZOO_LOCKED"
LOCKED_SECRET = "locked"
_OFF = {"", "0", "false", "no", "off"}


def _on(value) -> bool:
    return value is True or (value not in (None, False) and str(value).strip().lower() not in _OFF)


def is_locked() -> bool:
    if _on(os.environ.get(LOCKED_ENV)):
        return True
    try:  # a missing secrets.toml is the normal case, not an error to show
        return st.secrets.load_if_toml_exists() and _on(st.secrets.get(LOCKED_SECRET))
    except Exception:
        return False
