"""The locked mode of a public deployment (no free-text zoo source, no server paths on any page), and the one way
every page turns a path into text a visitor reads (``public_text``).

Switched on by the environment variable or by the Streamlit secret below (``locked = true`` in
.streamlit/secrets.toml). Any value other than an empty one, 0, false, no or off locks: a typo fails closed.
"""
from __future__ import annotations

import os
import re
from collections.abc import Iterable
from pathlib import Path

import streamlit as st

LOCKED_ENV = "VAE_ZOO_LOCKED"
LOCKED_SECRET = "locked"
_OFF = {"", "0", "false", "no", "off"}
# An absolute path of two parts or more as messages write it: not a URL (://), not a/b inside a word, not /page.
_ABSOLUTE_PATH = re.compile(r"(?<![\w.~:/-])(?:/[^\s/`'\"()<>\[\],;:*]+){2,}/?")


def _on(value) -> bool:
    return value is True or (value not in (None, False) and str(value).strip().lower() not in _OFF)


def is_locked() -> bool:
    if _on(os.environ.get(LOCKED_ENV)):
        return True
    try:  # a missing secrets.toml is the normal case, not an error to show
        return st.secrets.load_if_toml_exists() and _on(st.secrets.get(LOCKED_SECRET))
    except Exception:
        return False


def public_text(text: str, zoos: Iterable[str | os.PathLike | None], locked: bool) -> str:
    """``text`` as a visitor may see it. A path inside one of the ``zoos`` folders is named from the zoo
    (``mnist-gaussian-pixel/snapshots/epoch-0003``: the model and the file inside it), in every mode. Locked, no
    server folder is left at all: a zoo folder itself is named by its last part, and any other absolute path is
    cut to its last part (``/srv/app/x.safetensors`` -> ``x.safetensors``)."""
    folders = {str(z) for z in zoos if z} | ({str(Path(z).resolve()) for z in zoos if z} if locked else set())
    for folder in sorted(folders, key=len, reverse=True):  # the longest first: nested folders
        folder = folder.rstrip("/") or "/"
        text = text.replace(f"{folder}/", "")
        if locked:
            text = text.replace(folder, Path(folder).name)
    if locked:
        text = _ABSOLUTE_PATH.sub(lambda m: Path(m.group(0).rstrip("/")).name, text)
    return text
